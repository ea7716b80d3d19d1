/* cmd_detect.c: `hnd detect` (see the usage in cmd_help.c).
 *
 * Images (JPEG/PNG files, or directories of them) -> rcnn_detect -> COCO
 * results JSON [{image_id, category_id, bbox [x,y,w,h], score,
 * segmentation {size, counts}}], written atomically; optional PNGs with
 * boxes, labels and mask overlays. */
#include "cmd_detect.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "coco_ann.h"
#include "config.h"
#include "hnd_model.h"
#include "ct_detection.h"
#include "ctorch.h"
#include "atomic_file.h"
#include "det_results.h"
#include "hnd_error.h"
#include "img.h"
#include "progress.h"
#include "rcnn.h"

typedef struct {
    char *path;
    int64_t image_id;
} det_input;

typedef struct {
    det_input *v;
    int n, cap;
} det_inputs;

static int push_input(det_inputs *in, const char *path) {
    if (in->n == in->cap) {
        int cap = in->cap ? 2 * in->cap : 64;
        det_input *v = realloc(in->v, sizeof *v * (size_t)cap);
        if (!v) return hnd_error_set("out of memory");
        in->v = v;
        in->cap = cap;
    }
    if (!(in->v[in->n].path = strdup(path))) return hnd_error_set("out of memory");
    in->v[in->n++].image_id = -1;
    return 0;
}

/* A file, or the JPEG/PNG files of a directory in name order. */
static int add_path(det_inputs *in, const char *path) {
    char **names;
    int n, rc = 0;
    if (img_list_files(path, &names, &n) != 0) return -1;
    for (int i = 0; i < n && rc == 0; i++) rc = push_input(in, names[i]);
    img_list_free(names, n);
    return rc;
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* image_id from --ann (file_name's base name) or the numeric file stem. */
static int assign_ids(det_inputs *in, const coco_dataset *ds) {
    for (int i = 0; i < in->n; i++) {
        const char *b = base_name(in->v[i].path);
        if (ds) {
            for (int64_t k = 0; k < ds->n_images; k++)
                if (strcmp(base_name(coco_str(ds, ds->images[k].file_name)), b) == 0) {
                    in->v[i].image_id = ds->images[k].id;
                    break;
                }
            if (in->v[i].image_id < 0)
                return hnd_error_set("%s: no image with file_name '%s' in %s", in->v[i].path, b, ds->path);
        } else {
            char *end;
            errno = 0;
            long long id = strtoll(b, &end, 10);
            if (end == b || *end != '.' || errno || id < 0)
                return hnd_error_set("%s: cannot derive an image_id from a non-numeric file name "
                                     "(pass --ann instances.json)",
                                     in->v[i].path);
            in->v[i].image_id = id;
        }
    }
    return 0;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}


/* ------------------------------------------------------------- visualize */

/* 3x5 glyphs for digits and '.', bit 2 = left column, rows top to bottom. */
static const uint8_t k_glyphs[11][5] = {
    {7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1},
    {7, 4, 7, 1, 7}, {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1}, {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7},
    {0, 0, 0, 0, 2},
};

static void color_of(int64_t label, uint8_t c[3]) {
    uint32_t h = (uint32_t)label * 2654435761u;
    c[0] = (uint8_t)(64 + (h & 0xBF));
    c[1] = (uint8_t)(64 + ((h >> 8) & 0xBF));
    c[2] = (uint8_t)(64 + ((h >> 16) & 0xBF));
}

static void put_px(img_u8 *im, int x, int y, const uint8_t c[3]) {
    if (x < 0 || y < 0 || x >= im->width || y >= im->height) return;
    memcpy(im->rgb + 3 * ((size_t)y * im->width + x), c, 3);
}

static void draw_text(img_u8 *im, int x, int y, const char *s, const uint8_t c[3]) {
    const int sc = 2;
    for (; *s; s++, x += 4 * sc) {
        int g = *s == '.' ? 10 : (*s >= '0' && *s <= '9' ? *s - '0' : -1);
        if (g < 0) continue;
        for (int r = 0; r < 5; r++)
            for (int col = 0; col < 3; col++)
                if (k_glyphs[g][r] & (4 >> col))
                    for (int dy = 0; dy < sc; dy++)
                        for (int dx = 0; dx < sc; dx++) put_px(im, x + col * sc + dx, y + r * sc + dy, c);
    }
}

static int write_png(const char *path, const img_u8 *im) {
    FILE *f = fopen(path, "wb");
    if (!f) return hnd_error_set("%s: %s", path, strerror(errno));
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = p ? png_create_info_struct(p) : NULL;
    if (!p || !info || setjmp(png_jmpbuf(p))) {
        png_destroy_write_struct(&p, &info);
        fclose(f);
        remove(path);
        return hnd_error_set("%s: cannot write PNG", path);
    }
    png_init_io(p, f);
    png_set_IHDR(p, info, (png_uint_32)im->width, (png_uint_32)im->height, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(p, info);
    for (int y = 0; y < im->height; y++) png_write_row(p, im->rgb + (size_t)y * 3 * im->width);
    png_write_end(p, NULL);
    png_destroy_write_struct(&p, &info);
    if (fclose(f) != 0) return hnd_error_set("%s: %s", path, strerror(errno));
    return 0;
}

/* Boxes (2 px), mask overlays (50%), "label score" above each box. */
static int visualize(const char *dir, const char *src, img_u8 *im, int64_t k, const float *boxes,
                     const float *scores, const int64_t *labels, const uint8_t *masks) {
    for (int64_t d = k - 1; d >= 0; d--) {
        uint8_t c[3];
        color_of(labels[d], c);
        if (masks) {
            const uint8_t *m = masks + (size_t)d * im->width * im->height;
            for (size_t p = 0; p < (size_t)im->width * im->height; p++)
                if (m[p])
                    for (int ch = 0; ch < 3; ch++) im->rgb[3 * p + ch] = (uint8_t)((im->rgb[3 * p + ch] + c[ch]) / 2);
        }
        int x0 = (int)boxes[4 * d], y0 = (int)boxes[4 * d + 1];
        int x1 = (int)boxes[4 * d + 2], y1 = (int)boxes[4 * d + 3];
        for (int t = 0; t < 2; t++) {
            for (int x = x0; x <= x1; x++) {
                put_px(im, x, y0 + t, c);
                put_px(im, x, y1 - t, c);
            }
            for (int y = y0; y <= y1; y++) {
                put_px(im, x0 + t, y, c);
                put_px(im, x1 - t, y, c);
            }
        }
        char txt[32];
        snprintf(txt, sizeof txt, "%lld %.2f", (long long)labels[d], scores[d]);
        draw_text(im, x0 + 3, y0 > 14 ? y0 - 12 : y0 + 4, txt, c);
    }
    char path[4096], stem[1024];
    snprintf(stem, sizeof stem, "%s", base_name(src));
    char *dot = strrchr(stem, '.');
    if (dot) *dot = 0;
    snprintf(path, sizeof path, "%s/%s.png", dir, stem);
    return write_png(path, im);
}

/* ------------------------------------------------------------------ main */

typedef struct {
    const char *weights, *arch, *ann, *out, *vis, *device, *config;
    int num_classes, batch, strict, quiet, threads;
    double score_thresh, min_size, max_size;
} det_opts;

static int parse_device(const char *s, ct_device *d) {
    if (!strcmp(s, "cpu")) {
        *d = ct_cpu();
        return 0;
    }
    if (!strncmp(s, "cuda", 4)) {
        int idx = 0;
        if (s[4] == ':') idx = atoi(s + 5);
        else if (s[4]) return -1;
        *d = ct_cuda(idx);
        return 0;
    }
    return -1;
}

/* One image's results into the JSON array (and the PNG). */
static int emit(cJSON *arr, const det_opts *o, const det_input *in, img_u8 *im,
                const rcnn_detections *d, double mask_thresh) {
    dr_host h;
    if (dr_to_host(d, im->height, im->width, mask_thresh, &h) != 0) return hnd_error_prefix("%s", in->path);
    int rc = dr_append_json(arr, in->image_id, &h);
    if (rc == 0 && o->vis) rc = visualize(o->vis, in->path, im, h.k, h.boxes, h.scores, h.labels, h.masks);
    dr_host_free(&h);
    return rc;
}

static int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int usage_error(const char *msg, const char *arg) {
    fprintf(stderr, "hnd detect: %s%s%s (see 'hnd detect --help')\n", msg, arg ? " " : "", arg ? arg : "");
    return 2;
}

int cmd_detect(int argc, char **argv) {
    det_opts o = {0};
    o.num_classes = 0;   /* 91 (COCO) unless --num-classes or --config says */
    o.batch = 1;
    o.strict = 1;
    o.score_thresh = NAN;
    o.device = "cpu";
    o.threads = -1;
    det_inputs in = {0};
    int rc = 1;
    tc_config tcfg;   /* --config */
    memset(&tcfg, 0, sizeof tcfg);
    int have_cfg = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDS_VALUE \
    if (!v) return usage_error("missing value after", a); \
    i++
        if (!strcmp(a, "--weights")) { NEEDS_VALUE; o.weights = v; }
        else if (!strcmp(a, "--arch")) { NEEDS_VALUE; o.arch = v; }
        else if (!strcmp(a, "--config")) { NEEDS_VALUE; o.config = v; }
        else if (!strcmp(a, "--ann")) { NEEDS_VALUE; o.ann = v; }
        else if (!strcmp(a, "--out")) { NEEDS_VALUE; o.out = v; }
        else if (!strcmp(a, "--visualize")) { NEEDS_VALUE; o.vis = v; }
        else if (!strcmp(a, "--device")) { NEEDS_VALUE; o.device = v; }
        else if (!strcmp(a, "--num-classes")) { NEEDS_VALUE; o.num_classes = atoi(v); }
        else if (!strcmp(a, "--batch")) { NEEDS_VALUE; o.batch = atoi(v); }
        else if (!strcmp(a, "--threads")) { NEEDS_VALUE; o.threads = atoi(v); }
        else if (!strcmp(a, "--score-thresh")) { NEEDS_VALUE; o.score_thresh = atof(v); }
        else if (!strcmp(a, "--min-size")) { NEEDS_VALUE; o.min_size = atof(v); }
        else if (!strcmp(a, "--max-size")) { NEEDS_VALUE; o.max_size = atof(v); }
        else if (!strcmp(a, "--no-strict")) o.strict = 0;
        else if (!strcmp(a, "--quiet")) o.quiet = 1;
        else if (a[0] == '-' && a[1]) return usage_error("unknown option", a);
        else if (add_path(&in, a) != 0) {
            fprintf(stderr, "hnd detect: %s\n", hnd_error());
            goto out_inputs;
        }
#undef NEEDS_VALUE
    }
    /* --config: the model (a teacher config's `model`, else its
     * `teacher_model`) as hnd train-teacher / hnd train build it, shrunk FPN,
     * anchors and sizes included; its ckpt is the default --weights */
    if (o.config) {
        if (o.arch) {
            rc = usage_error("--config and --arch exclude each other", NULL);
            goto out_inputs;
        }
        if (tc_load(o.config, NULL, 0, &tcfg) != 0) {
            fprintf(stderr, "hnd detect: %s\n", hnd_error());
            goto out_inputs;
        }
        have_cfg = 1;
        if (!o.weights && *tcfg.teacher.ckpt) o.weights = tcfg.teacher.ckpt;
    }
    if (!o.weights || (!o.arch && !have_cfg) || !o.out) {
        rc = usage_error("--weights (or a --config with a ckpt), --arch or --config, and --out are required", NULL);
        goto out_inputs;
    }
    if (in.n == 0) {
        rc = usage_error("no images given", NULL);
        goto out_inputs;
    }
    if ((o.num_classes != 0 && o.num_classes < 2) || o.batch < 1 || o.min_size < 0 || o.max_size < 0) {
        rc = usage_error("--num-classes must be >= 2, --batch >= 1, sizes > 0", NULL);
        goto out_inputs;
    }
    ct_device dev;
    if (parse_device(o.device, &dev) != 0) {
        rc = usage_error("--device expects cpu, cuda or cuda:N, got", o.device);
        goto out_inputs;
    }
    if (dev.type == CT_CUDA && !ct_cuda_available()) {
        fprintf(stderr, "hnd detect: --device %s: CUDA is not available in this libtorch build\n", o.device);
        goto out_inputs;
    }
    if (o.threads >= 0) ct_set_num_threads(o.threads);
    if (o.vis && mkdir(o.vis, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "hnd detect: %s: %s\n", o.vis, strerror(errno));
        goto out_inputs;
    }
    coco_dataset *ds = NULL;
    if (o.ann && !(ds = coco_load(o.ann, NULL))) {
        fprintf(stderr, "hnd detect: %s\n", hnd_error());
        goto out_inputs;
    }
    int ids = assign_ids(&in, ds);
    coco_free(ds);
    if (ids != 0) {
        fprintf(stderr, "hnd detect: %s\n", hnd_error());
        goto out_inputs;
    }

    rcnn_config cfg;
    if (have_cfg ? hm_model_config(&tcfg.teacher, &cfg) != 0 : rcnn_config_default(&cfg, o.arch) != 0) {
        fprintf(stderr, "hnd detect: %s%s\n", have_cfg ? "--config: " : "", hnd_error());
        goto out_inputs;
    }
    if (o.num_classes) cfg.box.num_classes = o.num_classes;
    else if (!have_cfg) cfg.box.num_classes = 91;
    if (!isnan(o.score_thresh)) cfg.box.score_thresh = o.score_thresh;
    if (o.min_size > 0) cfg.transform.min_size = o.min_size;
    if (o.max_size > 0) cfg.transform.max_size = o.max_size;
    double t_load = now_ms();
    rcnn_model *m = rcnn_new(&cfg);
    if (!m || rcnn_load(m, o.weights, o.strict) < 0 || rcnn_to_device(m, dev) != 0) {
        fprintf(stderr, "hnd detect: %s\n", hnd_error());
        rcnn_free(m);
        goto out_inputs;
    }
    t_load = now_ms() - t_load;

    cJSON *arr = cJSON_CreateArray();
    double *per_image = malloc(sizeof(double) * (size_t)in.n);
    img_u8 *ims = calloc((size_t)o.batch, sizeof *ims);
    rcnn_detections *dets = calloc((size_t)o.batch, sizeof *dets);
    ct_tensor **tens = calloc((size_t)o.batch, sizeof *tens);
    double stage[RCNN_T_COUNT] = {0}, decode_ms = 0;
    int ok = arr && per_image && ims && dets && tens;
    if (!ok) fprintf(stderr, "hnd detect: out of memory\n");
    prg_bar *bar = ok && !o.quiet ? prg_begin("detecting", (uint64_t)in.n, "images", 1) : NULL;
    for (int s = 0; ok && s < in.n; s += o.batch) {
        int nb = in.n - s < o.batch ? in.n - s : o.batch;
        ct_scope_begin();
        double t0 = now_ms();
        for (int j = 0; j < nb && ok; j++) {
            const char *p = in.v[s + j].path;
            if (img_decode_file(p, &ims[j]) != 0) {
                fprintf(stderr, "hnd detect: %s\n", hnd_error());
                ok = 0;
                break;
            }
            int64_t shape[3] = {3, ims[j].height, ims[j].width};
            float *chw = malloc(sizeof(float) * 3 * (size_t)ims[j].width * ims[j].height);
            if (!chw) {
                fprintf(stderr, "hnd detect: out of memory\n");
                ok = 0;
                break;
            }
            img_to_chw_f32(&ims[j], chw);
            tens[j] = ct_from_buffer(chw, CT_F32, 3, shape);
            free(chw);
            if (tens[j] && dev.type != CT_CPU) tens[j] = ct_to_device(tens[j], dev);
            if (!tens[j]) {
                fprintf(stderr, "hnd detect: %s: %s\n", p, ct_last_error());
                ok = 0;
            }
        }
        double t1 = now_ms();
        decode_ms += t1 - t0;
        double t[RCNN_T_COUNT];
        if (ok && rcnn_detect(m, (const ct_tensor *const *)tens, nb, dets, t) != 0) {
            fprintf(stderr, "hnd detect: %s: %s\n", in.v[s].path, hnd_error());
            ok = 0;
        }
        if (ok) {
            double dt = now_ms() - t1;
            for (int k = 0; k < RCNN_T_COUNT; k++) stage[k] += t[k];
            for (int j = 0; j < nb; j++) per_image[s + j] = dt / nb;
            for (int j = 0; j < nb && ok; j++)
                if (emit(arr, &o, &in.v[s + j], &ims[j], &dets[j], cfg.mask.mask_thresh) != 0) {
                    fprintf(stderr, "hnd detect: %s\n", hnd_error());
                    ok = 0;
                }
            for (int j = 0; j < nb; j++) rcnn_detections_clear(&dets[j]);
        }
        for (int j = 0; j < nb; j++) img_free(&ims[j]);
        ct_scope_end();
        prg_update(bar, (uint64_t)(s + nb));
    }
    prg_end(bar);
    if (ok) {
        char *text = cJSON_PrintUnformatted(arr);
        if (!text || af_write_text(o.out, text) != 0) {
            fprintf(stderr, "hnd detect: %s\n", text ? hnd_error() : "out of memory");
            ok = 0;
        }
        free(text);
    }
    if (ok) {
        int n = in.n;
        qsort(per_image, (size_t)n, sizeof *per_image, cmp_dbl);
        double sum = 0;
        for (int i = 0; i < n; i++) sum += per_image[i];
        double med = n % 2 ? per_image[n / 2] : 0.5 * (per_image[n / 2 - 1] + per_image[n / 2]);
        if (!o.quiet) {
            fprintf(stderr, "hnd detect: %d images, %d detections -> %s\n", n, cJSON_GetArraySize(arr), o.out);
            fprintf(stderr,
                    "per image: median %.1f ms, mean %.1f ms (transform %.1f, backbone %.1f, rpn %.1f, "
                    "roi_heads %.1f, postprocess %.1f); decoding %.1f ms; model load %.0f ms; %d threads, %s\n",
                    med, sum / n, stage[0] / n, stage[1] / n, stage[2] / n, stage[3] / n, stage[4] / n,
                    decode_ms / n, t_load, ct_get_num_threads(), o.device);
        }
        rc = 0;
    }
    cJSON_Delete(arr);
    free(per_image);
    free(ims);
    free(dets);
    free(tens);
    rcnn_free(m);
out_inputs:
    for (int i = 0; i < in.n; i++) free(in.v[i].path);
    free(in.v);
    if (have_cfg) tc_free(&tcfg);
    return rc;
}
