/* det_visualize.c: see det_visualize.h. */
#include "det_visualize.h"

#include <cairo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "hnd_error.h"
#include "plot_surface.h"

/* A stable colour per label, bright enough on photographs. */
static uint32_t color_of(int64_t label) {
    uint32_t h = (uint32_t)label * 2654435761u;
    return (uint32_t)((64 + (h & 0xBF)) << 16 | (64 + ((h >> 8) & 0xBF)) << 8 | (64 + ((h >> 16) & 0xBF)));
}

void dv_label(const dv_names *names, int64_t label, float score, char *buf, int cap) {
    for (int i = 0; names && i < names->n; i++)
        if (names->ids[i] == label && names->names[i] && *names->names[i]) {
            snprintf(buf, (size_t)cap, "%s %.2f", names->names[i], score);
            return;
        }
    snprintf(buf, (size_t)cap, "%lld %.2f", (long long)label, score);
}

/* RGB rows into cairo's native-endian xRGB words, masks blended at 50%. */
static void fill_pixels(cairo_surface_t *s, const dv_image *im) {
    unsigned char *data = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    size_t plane = (size_t)im->width * im->height;
    for (int y = 0; y < im->height; y++) {
        uint32_t *row = (uint32_t *)(data + (size_t)y * stride);
        for (int x = 0; x < im->width; x++) {
            size_t p = (size_t)y * im->width + x;
            int c[3] = {im->rgb[3 * p], im->rgb[3 * p + 1], im->rgb[3 * p + 2]};
            for (int64_t d = im->k - 1; im->masks && d >= 0; d--)
                if (im->masks[(size_t)d * plane + p]) {
                    uint32_t m = color_of(im->labels[d]);
                    c[0] = (c[0] + (int)(m >> 16)) / 2, c[1] = (c[1] + (int)((m >> 8) & 255)) / 2;
                    c[2] = (c[2] + (int)(m & 255)) / 2;
                }
            row[x] = (uint32_t)c[0] << 16 | (uint32_t)c[1] << 8 | (uint32_t)c[2];
        }
    }
    cairo_surface_mark_dirty(s);
}

/* Boxes, then each label on a filled tag above its box (inside when the
 * box touches the top). */
static void draw_boxes(cairo_t *cr, const dv_image *im, const dv_names *names) {
    double fs = im->height < 200 ? 9 : 13;
    ps_font(cr, fs, 0);
    for (int64_t d = im->k - 1; d >= 0; d--) {
        const float *b = im->boxes + 4 * d;
        uint32_t col = color_of(im->labels[d]);
        ps_rgb(cr, col, 1);
        cairo_set_line_width(cr, 2);
        cairo_rectangle(cr, b[0], b[1], b[2] - b[0], b[3] - b[1]);
        cairo_stroke(cr);
        char txt[160];
        dv_label(names, im->labels[d], im->scores[d], txt, sizeof txt);
        double w = ps_text_width(cr, txt) + 4, h = fs + 4;
        double ty = b[1] >= h ? b[1] - h : b[1];
        cairo_rectangle(cr, b[0], ty, w, h);
        cairo_fill(cr);
        ps_rgb(cr, 0x000000, 1);
        ps_text(cr, b[0] + 2, ty + h / 2, txt, 0, 0.5, 0);
    }
}

/* Skeleton lines, then a dot (radius 3, dark rim) per keypoint shown. */
static void draw_keypoints(cairo_t *cr, const dv_image *im, const dv_keypoints *kv) {
    const int K = kv->nkp;
    for (int64_t d = im->k - 1; d >= 0; d--) {
        const float *kp = kv->keypoints + (size_t)d * 3 * (size_t)K;
        uint32_t col = color_of(im->labels[d]);
        ps_rgb(cr, col, 1);
        cairo_set_line_width(cr, 2);
        for (int e = 0; kv->skeleton && e < kv->n_skel; e++) {
            int a = kv->skeleton[2 * e] - 1, b = kv->skeleton[2 * e + 1] - 1;
            if (a < 0 || b < 0 || a >= K || b >= K || !(kp[3 * a + 2] > 0) || !(kp[3 * b + 2] > 0)) continue;
            cairo_move_to(cr, kp[3 * a], kp[3 * a + 1]);
            cairo_line_to(cr, kp[3 * b], kp[3 * b + 1]);
            cairo_stroke(cr);
        }
        for (int j = 0; j < K; j++) {
            if (!(kp[3 * j + 2] > 0)) continue;
            cairo_new_sub_path(cr);
            cairo_arc(cr, kp[3 * j], kp[3 * j + 1], 3, 0, 6.283185307179586);
            ps_rgb(cr, col, 1);
            cairo_fill_preserve(cr);
            ps_rgb(cr, 0x202020, 1);
            cairo_set_line_width(cr, 1);
            cairo_stroke(cr);
        }
    }
}

static cairo_status_t write_cb(void *closure, const unsigned char *data, unsigned int n) {
    return fwrite(data, 1, n, (FILE *)closure) == n ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

int dv_write_png(const char *path, const dv_image *im, const dv_names *names) {
    return dv_write_png_kp(path, im, names, NULL);
}

int dv_write_png_kp(const char *path, const dv_image *im, const dv_names *names, const dv_keypoints *kp) {
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, im->width, im->height);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        return hnd_error_set("%s: cannot make a %dx%d image", path, im->width, im->height);
    }
    fill_pixels(s, im);
    ps_caches_hold();
    cairo_t *cr = cairo_create(s);
    if (kp && kp->keypoints && kp->nkp > 0) draw_keypoints(cr, im, kp);
    draw_boxes(cr, im, names);
    cairo_destroy(cr);
    af_file a;
    FILE *f = af_open(&a, path);
    int failed = !f || cairo_surface_write_to_png_stream(s, write_cb, f) != CAIRO_STATUS_SUCCESS;
    cairo_surface_destroy(s);
    ps_caches_release();   /* after the surface: it holds a font reference */
    if (!f) return -1;
    if (failed) {
        af_abort(&a);
        return hnd_error_set("%s: cannot write PNG", path);
    }
    return af_commit(&a, 0);
}
