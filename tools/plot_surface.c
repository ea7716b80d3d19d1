/* plot_surface.c: see plot_surface.h. */
#include "plot_surface.h"

#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <fontconfig/fontconfig.h>
#include <math.h>
#include <string.h>

#include "hnd_error.h"

/* Surfaces alive in this process: cairo's and fontconfig's caches are
 * released when it drops to 0 (see release_caches). */
static int g_live;

static cairo_status_t write_cb(void *closure, const unsigned char *data, unsigned int len) {
    ps_surface *s = closure;
    if (fwrite(data, 1, len, s->f) != len) {
        s->write_failed = 1;
        return CAIRO_STATUS_WRITE_ERROR;
    }
    return CAIRO_STATUS_SUCCESS;
}

/* cairo keeps its font map and fontconfig its configuration for the life of
 * the process; LeakSanitizer (the HND_SANITIZE build) reports both as leaks.
 * Nothing else in hnd uses cairo or fontconfig, so once the last figure is
 * done they can go; the next figure loads them again. */
static void release_caches(void) {
    if (g_live > 0) return;
    cairo_debug_reset_static_data();
    FcFini();
}

void ps_caches_hold(void) { g_live++; }

void ps_caches_release(void) {
    g_live--;
    release_caches();
}

int ps_open(ps_surface *s, const char *path, pf_format f, int w, int h) {
    memset(s, 0, sizeof *s);
    s->format = f;
    if (!(s->f = af_open(&s->file, path))) return -1;
    /* PNG: drawn in memory, streamed out at ps_close; SVG/PDF stream as they go */
    if (f == PF_SVG) s->surface = cairo_svg_surface_create_for_stream(write_cb, s, w, h);
    else if (f == PF_PDF) s->surface = cairo_pdf_surface_create_for_stream(write_cb, s, w, h);
    else s->surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    g_live++;
    s->cr = cairo_create(s->surface);
    if (cairo_status(s->cr) != CAIRO_STATUS_SUCCESS) {
        hnd_error_set("%s: cairo: %s", path, cairo_status_to_string(cairo_status(s->cr)));
        ps_close(s, 1);
        return -1;
    }
    ps_rgb(s->cr, 0xFFFFFF, 1);
    cairo_paint(s->cr);
    return 0;
}

int ps_close(ps_surface *s, int failed) {
    if (!s->surface) return -1;
    cairo_status_t st = cairo_status(s->cr);
    cairo_destroy(s->cr);
    if (!failed && st == CAIRO_STATUS_SUCCESS && s->format == PF_PNG)
        st = cairo_surface_write_to_png_stream(s->surface, write_cb, s);
    cairo_surface_finish(s->surface);   /* SVG/PDF: the rest of the file */
    if (st == CAIRO_STATUS_SUCCESS) st = cairo_surface_status(s->surface);
    cairo_surface_destroy(s->surface);
    s->surface = NULL;
    s->cr = NULL;
    g_live--;
    release_caches();
    if (failed) {
        af_abort(&s->file);
        return -1;
    }
    if (st != CAIRO_STATUS_SUCCESS && !s->write_failed) {
        af_abort(&s->file);
        return hnd_error_set("%s: cairo: %s", s->file.path, cairo_status_to_string(st));
    }
    return af_commit(&s->file, s->write_failed);
}

void ps_rgb(cairo_t *cr, uint32_t rgb, double alpha) {
    cairo_set_source_rgba(cr, ((rgb >> 16) & 255) / 255.0, ((rgb >> 8) & 255) / 255.0, (rgb & 255) / 255.0,
                          alpha);
}

void ps_font(cairo_t *cr, double size, int bold) {
    cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

double ps_text_width(cairo_t *cr, const char *s) {
    cairo_text_extents_t te;
    cairo_text_extents(cr, s ? s : "", &te);
    return te.x_advance;
}

void ps_text(cairo_t *cr, double x, double y, const char *s, double ax, double ay, double angle_deg) {
    if (!s || !*s) return;
    /* the box: advance width by the font's ascent + descent, so that labels
     * of one row share a baseline whatever their letters */
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    double w = ps_text_width(cr, s), hgt = fe.ascent + fe.descent;
    cairo_save(cr);
    cairo_translate(cr, x, y);
    cairo_rotate(cr, -angle_deg * M_PI / 180.0);
    cairo_move_to(cr, -ax * w, -ay * hgt + fe.ascent);
    cairo_show_text(cr, s);
    cairo_restore(cr);
}
