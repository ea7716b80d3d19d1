/* export_split_check: an exported bundle's halves give the student's
 * detections. For random images of several sizes:
 *   1. hnd's head (sr_head, 8 bits) then the tail built from the bundle's
 *      tail.h5 alone (sr_load_tail; the head's tensors never loaded) must
 *      equal the whole student (sr_detect) bit for bit: tail.h5 is complete
 *      and correct;
 *   2. the bundle's plain-C head (head_c/head.bin, the runtime compiled into
 *      this program) on the transformed image, its uint8 + scale + zero
 *      point put on the link, then the same tail: the detections of the
 *      whole student within a tolerance (the C head's BN-folded arithmetic
 *      may move a few bottleneck elements by one step).
 *   3. with --image-dir (real 8-bit images): also the C runtime's own
 *      transform (hnd_head_prepare from RGB bytes) before the C head, the
 *      whole pipeline a device runs, within the same tolerance.
 * Usage: export_split_check STUDENT.h5 BUNDLE [--min-size N --max-size N] [--images N]
 *                           [--image-dir DIR]
 * Prints the figures; exit 0 when every check holds. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>

#include "ctorch.h"
#include "hnd_error.h"
#include "hnd_head.h"
#include "img.h"
#include "manifest.h"
#include "path.h"
#include "split_rcnn.h"

static int fail(const char *what) {
    fprintf(stderr, "export_split_check: %s: %s\n", what, hnd_error()[0] ? hnd_error() : ct_last_error());
    return 1;
}

/* The student as the bundle's manifest describes it (mf_read: the detector
 * it was exported from, every setting). */
static sr_model *build(const mf_info *info) {
    sr_bottleneck_spec bn = {info->channels, info->kind, 8, 0};
    return sr_new(&info->rc, &bn);
}

/* Host copies of a detection set's boxes and scores. */
typedef struct {
    int64_t k;
    float *boxes, *scores;
    int64_t *labels;
} dets_host;

static int to_host(const rcnn_detections *d, dets_host *h) {
    h->k = ct_size(d->boxes, 0);
    h->boxes = malloc(sizeof(float) * 4 * (size_t)(h->k + 1));
    h->scores = malloc(sizeof(float) * (size_t)(h->k + 1));
    h->labels = malloc(sizeof(int64_t) * (size_t)(h->k + 1));
    if (!h->boxes || !h->scores || !h->labels) return -1;
    return ct_to_buffer(d->boxes, h->boxes, sizeof(float) * 4 * (size_t)h->k) ||
                   ct_to_buffer(d->scores, h->scores, sizeof(float) * (size_t)h->k) ||
                   ct_to_buffer(d->labels, h->labels, sizeof(int64_t) * (size_t)h->k)
               ? -1
               : 0;
}

static void host_clear(dets_host *h) {
    free(h->boxes);
    free(h->scores);
    free(h->labels);
    memset(h, 0, sizeof *h);
}

/* 1 when a and b hold the same values (shape and every element). */
static int ct_equal(const ct_tensor *a, const ct_tensor *b) {
    if (!a || !b || ct_numel(a) != ct_numel(b) || ct_dtype_of(a) != ct_dtype_of(b)) return 0;
    if (ct_numel(a) == 0) return 1;
    ct_tensor *ne = ct_ne(a, b), *any = ne ? ct_max(ne) : NULL;
    double v = 1;
    int ok = any && ct_item_f64(any, &v) == 0 && v == 0;
    ct_destroy(any);
    ct_destroy(ne);
    return ok;
}

/* 1 when a and b are the same detections bit for bit (masks included). */
static int identical(const rcnn_detections *a, const rcnn_detections *b) {
    if (ct_size(a->boxes, 0) != ct_size(b->boxes, 0)) return 0;
    int same = ct_equal(a->boxes, b->boxes) == 1 && ct_equal(a->scores, b->scores) == 1 &&
               ct_equal(a->labels, b->labels) == 1;
    if (same && (a->masks || b->masks)) same = a->masks && b->masks && ct_equal(a->masks, b->masks) == 1;
    return same;
}

/* Each reference detection must have a counterpart of the same label within
 * 1 pixel and 0.01 of score (one just above the 0.05 threshold may fall
 * below it and is excused); returns how many did not. */
static int64_t unmatched(const dets_host *ref, const dets_host *got, double *max_box, double *max_score) {
    int64_t missing = 0;
    for (int64_t i = 0; i < ref->k; i++) {
        double best = INFINITY, best_s = 0;
        for (int64_t j = 0; j < got->k; j++) {
            if (got->labels[j] != ref->labels[i]) continue;
            double d = 0;
            for (int c = 0; c < 4; c++) d = fmax(d, fabs(got->boxes[4 * j + c] - ref->boxes[4 * i + c]));
            if (d < best) {
                best = d;
                best_s = fabs(got->scores[j] - ref->scores[i]);
            }
        }
        if ((best > 1.0 || best_s > 0.01) && ref->scores[i] >= 0.06f) missing++;
        if (isfinite(best)) {
            *max_box = fmax(*max_box, best);
            *max_score = fmax(*max_score, best_s);
        }
    }
    return missing;
}

/* The C head on a transformed image x (float32 [3][H][W]), as an 8-bit
 * link with ref's sizes; *n_diff: its bytes that differ from ref's. */
static int c_head_link(const hnd_head *ch, const float *x, int H, int W, sr_link *out, const sr_link *ref,
                       int64_t *n_diff) {
    int c, oh, ow;
    char err[256];
    memset(out, 0, sizeof *out);
    if (hnd_head_output_shape(ch, H, W, &c, &oh, &ow, err, sizeof err) != 0) return hnd_error_set("%s", err);
    if (H != ref->padded_hw[0] || W != ref->padded_hw[1])
        return hnd_error_set("C transform gives %dx%d, hnd's %lldx%lld", H, W, (long long)ref->padded_hw[0],
                             (long long)ref->padded_hw[1]);
    size_t nout = (size_t)c * oh * ow;
    uint8_t *q = malloc(nout);
    hnd_head_output o = {.q = q};
    if (!q || hnd_head_run(ch, x, H, W, &o, err, sizeof err) != 0) {
        free(q);
        return hnd_error_set("C head: %s", q ? err : "out of memory");
    }
    const int64_t shape[4] = {1, c, oh, ow};
    out->bits = 8;
    out->n = 1;
    out->z = ct_from_buffer(q, CT_U8, 4, shape);
    out->scale = malloc(sizeof *out->scale);
    out->zero_point = malloc(sizeof *out->zero_point);
    out->sizes = malloc(sizeof *out->sizes);
    out->orig_sizes = malloc(sizeof *out->orig_sizes);
    if (!out->z || !out->scale || !out->zero_point || !out->sizes || !out->orig_sizes) {
        free(q);
        return hnd_error_set("out of memory");
    }
    out->scale[0] = o.scale;
    out->zero_point[0] = o.zero_point;
    memcpy(out->padded_hw, ref->padded_hw, sizeof out->padded_hw);
    memcpy(out->sizes, ref->sizes, sizeof *out->sizes);
    memcpy(out->orig_sizes, ref->orig_sizes, sizeof *out->orig_sizes);
    const uint8_t *r = ct_data_ptr(ref->z);
    *n_diff = 0;
    for (size_t i = 0; r && i < nout; i++) *n_diff += q[i] != r[i];
    free(q);
    return 0;
}

typedef struct {
    sr_model *m, *t;
    hnd_head *ch;
    int bad;
    int64_t missing, n_ref, diff, elems;
    double max_box, max_score;
} check_ctx;

/* One route through the C head: its link, the tail, the comparison. */
static int c_route(check_ctx *c, const char *name, const float *x, int H, int W, const sr_link *link,
                   const dets_host *hw) {
    sr_link clink;
    rcnn_detections d;
    int64_t n_diff = 0;
    if (c_head_link(c->ch, x, H, W, &clink, link, &n_diff) != 0 || sr_tail(c->t, &clink, &d, NULL) != 0) {
        sr_link_clear(&clink);
        return -1;
    }
    dets_host hc;
    memset(&hc, 0, sizeof hc);
    if (to_host(&d, &hc) != 0) return hnd_error_set("detections: %s", ct_last_error());
    int64_t miss = unmatched(hw, &hc, &c->max_box, &c->max_score);
    printf("  %s: %lld/%lld bottleneck bytes differ, scale %.9g vs %.9g, zero point %d vs %d, "
           "%lld of %lld detections unmatched\n",
           name, (long long)n_diff, (long long)ct_numel(link->z), clink.scale[0], link->scale[0], clink.zero_point[0],
           link->zero_point[0], (long long)miss, (long long)hw->k);
    c->bad |= miss > 0 || clink.zero_point[0] != link->zero_point[0];
    c->missing += miss;
    c->n_ref += hw->k;
    c->diff += n_diff;
    c->elems += ct_numel(link->z);
    host_clear(&hc);
    rcnn_detections_clear(&d);
    sr_link_clear(&clink);
    return 0;
}

/* Every check on one image (rgb: its 8-bit pixels, or NULL). */
static int check_image(check_ctx *c, const char *name, const ct_tensor *img, const img_u8 *rgb) {
    const ct_tensor *imgs[1] = {img};
    rcnn_detections whole, split;
    sr_link link;
    rt_image_list l;
    int rc = -1;
    if (sr_detect(c->m, imgs, 1, &whole) != 0) return -1;
    if (sr_head(c->m, imgs, 1, 8, &link, NULL) != 0 || sr_tail(c->t, &link, &split, NULL) != 0) return -1;
    int same = identical(&whole, &split);
    c->bad |= !same;
    printf("%s %lldx%lld: whole %lld detections; hnd head + tail.h5 %s\n", name, (long long)ct_size(img, 1),
           (long long)ct_size(img, 2), (long long)ct_size(whole.boxes, 0), same ? "identical" : "DIFFERENT");
    dets_host hw;
    memset(&hw, 0, sizeof hw);
    if (to_host(&whole, &hw) == 0 && rcnn_transform_images(sr_rcnn(c->m), imgs, 1, &l) == 0) {
        int H = (int)ct_size(l.tensors, 2), W = (int)ct_size(l.tensors, 3);
        float *x = malloc(sizeof *x * 3 * (size_t)H * W);
        if (x && ct_to_buffer(l.tensors, x, sizeof *x * 3 * (size_t)H * W) == 0 &&
            c_route(c, "C head on hnd's transform", x, H, W, &link, &hw) == 0)
            rc = 0;
        free(x);
        rt_image_list_clear(&l);
    }
    if (rc == 0 && rgb) {
        float *x = NULL;
        int H, W;
        char err[256];
        rc = hnd_head_prepare(c->ch, rgb->rgb, rgb->height, rgb->width, &x, &H, &W, err, sizeof err) != 0
                 ? hnd_error_set("C transform: %s", err)
                 : c_route(c, "C transform + C head", x, H, W, &link, &hw);
        free(x);
    }
    host_clear(&hw);
    rcnn_detections_clear(&whole);
    rcnn_detections_clear(&split);
    sr_link_clear(&link);
    return rc;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The images of dir (.png, .jpg, .jpeg), sorted; up to max. */
static int list_images(const char *dir, char ***out, int max) {
    DIR *d = opendir(dir);
    if (!d) return hnd_error_set("%s: cannot open", dir);
    char **v = calloc((size_t)max, sizeof *v);
    int n = 0, all = 0;
    char *names[4096];
    struct dirent *e;
    while (v && (e = readdir(d)) && all < 4096) {
        const char *dot = strrchr(e->d_name, '.');
        if (dot && (!strcmp(dot, ".png") || !strcmp(dot, ".jpg") || !strcmp(dot, ".jpeg")))
            names[all++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)all, sizeof *names, by_name);
    for (int i = 0; i < all; i++) {
        if (v && n < max) {
            size_t len = strlen(dir) + strlen(names[i]) + 2;
            if ((v[n] = malloc(len))) snprintf(v[n++], len, "%s/%s", dir, names[i]);
        }
        free(names[i]);
    }
    *out = v;
    return v ? n : hnd_error_set("out of memory");
}

static ct_tensor *image_tensor(const img_u8 *im) {
    float *chw = malloc(sizeof(float) * 3 * (size_t)im->width * im->height);
    if (!chw) return NULL;
    img_to_chw_f32(im, chw);
    const int64_t shape[3] = {3, im->height, im->width};
    ct_tensor *t = ct_from_buffer(chw, CT_F32, 3, shape);
    free(chw);
    return t;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: export_split_check STUDENT.h5 BUNDLE [--min-size N --max-size N] [--images N] "
                        "[--image-dir DIR]\n");
        return 2;
    }
    double min_size = 0, max_size = 0;
    int n_images = 4;
    const char *image_dir = NULL;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--min-size") == 0) min_size = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--max-size") == 0) max_size = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--images") == 0) n_images = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--image-dir") == 0) image_dir = argv[i + 1];
    }
    char tail_path[4096], head_path[4096], err[256];
    mf_info info;
    if (mf_read(argv[2], &info) != 0 || mf_file_path(&info, "tail", tail_path, sizeof tail_path) != 0 ||
        mf_file_path(&info, "head-c-weights", head_path, sizeof head_path) != 0)
        return fail(argv[2]);
    if (min_size > 0 && min_size != info.rc.transform.min_size) {
        fprintf(stderr, "export_split_check: the bundle's min_size is %g, not %g\n", info.rc.transform.min_size, min_size);
        return 1;
    }
    if (max_size > 0 && max_size != info.rc.transform.max_size) {
        fprintf(stderr, "export_split_check: the bundle's max_size is %g, not %g\n", info.rc.transform.max_size, max_size);
        return 1;
    }
    check_ctx c;
    memset(&c, 0, sizeof c);
    c.m = build(&info);
    c.t = build(&info);
    if (!c.m || !c.t || sr_load(c.m, argv[1]) != 0) return fail(argv[1]);
    if (sr_load_tail(c.t, tail_path) != 0) return fail(tail_path);
    if (hnd_head_load(head_path, &c.ch, err, sizeof err) != 0) {
        fprintf(stderr, "export_split_check: %s\n", err);
        return 1;
    }
    ct_manual_seed(7);
    ct_grad_set_enabled(0);
    char **files = NULL;
    int n_files = image_dir ? list_images(image_dir, &files, n_images) : 0;
    if (n_files < 0) return fail(image_dir);
    for (int k = 0; k < (image_dir ? n_files : n_images); k++) {
        ct_scope_begin();
        img_u8 im;
        memset(&im, 0, sizeof im);
        char name[64];
        ct_tensor *img = NULL;
        if (image_dir) {
            if (img_decode_file(files[k], &im) != 0) return fail(files[k]);
            img = image_tensor(&im);
            snprintf(name, sizeof name, "%.60s", path_base(files[k]));
        } else {
            const int64_t shape[3] = {3, 96 + 37 * k, 128 + 23 * (k % 3)};
            img = ct_rand(shape, 3, CT_F32, ct_cpu());
            snprintf(name, sizeof name, "random image %d", k);
        }
        if (!img || check_image(&c, name, img, image_dir ? &im : NULL) != 0) return fail(name);
        img_clear(&im);
        ct_scope_end();
    }
    printf("C head + tail.h5: %lld/%lld detections unmatched, max box diff %.3g px, max score diff %.3g; "
           "bottleneck bytes differing %.4f%%\n",
           (long long)c.missing, (long long)c.n_ref, c.max_box, c.max_score,
           100.0 * (double)c.diff / (double)(c.elems ? c.elems : 1));
    for (int i = 0; i < n_files; i++) free(files[i]);
    free(files);
    hnd_head_free(c.ch);
    sr_destroy(c.m);
    sr_destroy(c.t);
    printf("%s\n", c.bad ? "FAILED" : "ok");
    return c.bad ? 1 : 0;
}
