/* syn.c: see syn.h. */
#define _GNU_SOURCE
#include "syn.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "hnd_error.h"
#include "img.h"
#include "mask_rle.h"
#include "path.h"
#include "progress.h"
#include "smp.h"

enum { SYN_CIRCLE, SYN_SQUARE, SYN_TRIANGLE, SYN_STAR, SYN_HEXAGON, SYN_ELLIPSE, SYN_NCLASS };
static const int k_ids[SYN_NCLASS] = {1, 2, 5, 9, 13, 21};
static const char *k_names[SYN_NCLASS] = {"circle", "square", "triangle", "star", "hexagon", "ellipse"};
/* --class-colors: well separated base colours (red, green, blue, yellow,
 * magenta, cyan-ish), so that a detector trained from scratch in minutes can
 * tell the classes apart by colour as well as by shape. */
static const double k_class_rgb[SYN_NCLASS][3] = {{220, 40, 40},  {40, 190, 40},  {40, 70, 230},
                                                  {235, 220, 40}, {200, 50, 210}, {40, 210, 210}};

void syn_opts_default(syn_opts *o) {
    memset(o, 0, sizeof *o);
    o->width = 320;
    o->height = 240;
    o->quality = 90;
    o->threads = 1;
}

#define MAXV 40
#define MAXOBJ 6

#define SYN_NKP 5 /* keypoints of a star (--keypoints): its tips */
static const char *k_kp_names[SYN_NKP] = {"top", "right_upper", "right_lower", "left_lower", "left_upper"};

typedef struct {
    int cls;
    int nv;
    double xy[2 * MAXV];
    uint64_t area;
    double bbox[4];
    int tip0;           /* keypoints: the vertex of the top tip (tips are every other vertex, clockwise) */
    int kv[SYN_NKP];    /* keypoints: visibility 2 or 0 */
} syn_obj;

typedef struct {
    int n;
    syn_obj obj[MAXOBJ];
} syn_img;

/* a number as the JSON file will hold it ("%.2f"), parsed back */
static double snap2(double v) {
    char b[64];
    snprintf(b, sizeof b, "%.2f", v);
    return strtod(b, NULL);
}

/* kp: a star for the keypoint set, at most 30 degrees off upright. */
static void make_polygon(smp_rng *r, int cls, int W, int H, int kp, syn_obj *o) {
    double mn = W < H ? W : H;
    double rad = mn * (0.06 + 0.22 * smp_rng_uniform(r));
    double ax = rad, ay = rad;
    if (cls == SYN_ELLIPSE) ay = rad * (0.35 + 0.4 * smp_rng_uniform(r));
    double ext = ax > ay ? ax : ay;
    double cx = ext + 1 + smp_rng_uniform(r) * (W - 2 * ext - 2);
    double cy = ext + 1 + smp_rng_uniform(r) * (H - 2 * ext - 2);
    double rot = smp_rng_uniform(r) * 2 * M_PI;
    /* vertex 0 points up (-y on screen) when rot = -pi/2 */
    if (kp) rot = -M_PI / 2 + (rot / M_PI - 1) * (M_PI / 6);
    o->tip0 = 0;
    int nv;
    switch (cls) {
    case SYN_CIRCLE: nv = 32; break;
    case SYN_ELLIPSE: nv = 32; break;
    case SYN_SQUARE: nv = 4; break;
    case SYN_TRIANGLE: nv = 3; break;
    case SYN_STAR: nv = 10; break;
    default: nv = 6; break;
    }
    o->cls = cls;
    o->nv = nv;
    for (int i = 0; i < nv; i++) {
        double t = rot + 2 * M_PI * i / nv;
        double rr = (cls == SYN_STAR && (i & 1)) ? 0.45 : 1.0;
        double x = cx + ax * rr * cos(t), y = cy + ay * rr * sin(t);
        if (cls == SYN_ELLIPSE) {
            double ex = ax * cos(2 * M_PI * i / nv), ey = ay * sin(2 * M_PI * i / nv);
            x = cx + ex * cos(rot) - ey * sin(rot);
            y = cy + ex * sin(rot) + ey * cos(rot);
        }
        if (x < 0) x = 0;
        if (y < 0) y = 0;
        if (x > W) x = W;
        if (y > H) y = H;
        o->xy[2 * i] = snap2(x);
        o->xy[2 * i + 1] = snap2(y);
    }
}

/* Textured background: a colour gradient, stripes and noise. */
static void background(smp_rng *r, uint8_t *rgb, int W, int H) {
    double base[3], grad[3], amp = 10 + 30 * smp_rng_uniform(r);
    for (int c = 0; c < 3; c++) {
        base[c] = 40 + 170 * smp_rng_uniform(r);
        grad[c] = (smp_rng_uniform(r) - 0.5) * 80;
    }
    double fx = (smp_rng_uniform(r) - 0.5) * 0.3, fy = (smp_rng_uniform(r) - 0.5) * 0.3;
    int kind = (int)smp_rng_below(r, 3);
    uint64_t ns = smp_rng_next(r);
    for (int y = 0; y < H; y++) {
        for (int x = 0; x < W; x++) {
            double t = kind == 0 ? sin(fx * x + fy * y) : kind == 1 ? ((((x >> 3) ^ (y >> 3)) & 1) ? 1.0 : -1.0)
                                                                   : sin(fx * x) * cos(fy * y);
            uint64_t h = ns ^ ((uint64_t)y * 0x9e3779b97f4a7c15ULL + (uint64_t)x * 0xc2b2ae3d27d4eb4fULL);
            h ^= h >> 29;
            h *= 0xbf58476d1ce4e5b9ULL;
            h ^= h >> 32;
            double noise = (double)(h & 31) - 15.5;
            for (int c = 0; c < 3; c++) {
                double v = base[c] + grad[c] * ((double)y / H - 0.5) + amp * t * (c == 1 ? 0.7 : 1.0) + noise;
                rgb[((size_t)y * W + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    }
}

/* Generate image `index` of a split: pixels and objects. */
/* owner: W*H bytes, the object each pixel was last painted with (-1: none).
 * A candidate shape is redrawn (up to 4 tries, else dropped) when it would
 * cover more than 40% of an earlier object or overlap others with more than
 * 30% of its own area, so that every object stays mostly visible. */
static int gen_image(uint64_t seed, int split, int index, int W, int H, int class_colors, int kp, uint8_t *rgb,
                     uint8_t *mask, int8_t *owner, syn_img *out) {
    smp_rng r;
    smp_rng_seed(&r, smp_mix_seed(seed, (uint64_t)split, (uint64_t)index, 0x5e));
    background(&r, rgb, W, H);
    int want = smp_rng_uniform(&r) < 0.04 ? 0 : 1 + (int)smp_rng_below(&r, MAXOBJ);
    out->n = 0;
    memset(owner, 0xff, (size_t)W * H);
    for (int k = 0; k < want; k++) {
        syn_obj *o = &out->obj[out->n];
        int cls = (int)smp_rng_below(&r, SYN_NCLASS), ok = 0;
        if (kp) cls = SYN_STAR;
        for (int attempt = 0; attempt < 4 && !ok; attempt++) {
            make_polygon(&r, cls, W, H, kp, o);
            rle_t rle;
            if (rle_from_poly(&rle, o->xy, (size_t)o->nv, (uint32_t)H, (uint32_t)W) < 0) return -1;
            o->area = rle_area(&rle);
            rle_to_bbox(&rle, o->bbox);
            rle_decode_rowmajor(&rle, mask);
            rle_clear(&rle);
            if (o->area == 0) continue;
            uint64_t over[MAXOBJ] = {0}, total = 0;
            for (int y = (int)o->bbox[1]; y < (int)(o->bbox[1] + o->bbox[3]) && y < H; y++)
                for (int x = (int)o->bbox[0]; x < (int)(o->bbox[0] + o->bbox[2]) && x < W; x++) {
                    size_t p = (size_t)y * W + x;
                    if (mask[p] && owner[p] >= 0) {
                        over[owner[p]]++;
                        total++;
                    }
                }
            ok = 10 * total <= 3 * o->area;
            for (int j = 0; j < out->n && ok; j++) ok = 10 * over[j] <= 4 * out->obj[j].area;
        }
        if (!ok) continue;
        double col[3], shade = 0.25 * smp_rng_uniform(&r);
        for (int c = 0; c < 3; c++) col[c] = 255 * smp_rng_uniform(&r);
        /* the same draws either way, so the layout does not depend on the palette */
        if (class_colors)
            for (int c = 0; c < 3; c++) col[c] = k_class_rgb[cls][c] + (col[c] - 127.5) * (30.0 / 127.5);
        double bx = o->bbox[0], bw = o->bbox[2] > 1 ? o->bbox[2] : 1;
        for (int y = (int)o->bbox[1]; y < (int)(o->bbox[1] + o->bbox[3]) && y < H; y++)
            for (int x = (int)bx; x < (int)(bx + o->bbox[2]) && x < W; x++) {
                if (!mask[(size_t)y * W + x]) continue;
                owner[(size_t)y * W + x] = (int8_t)out->n;
                double f = 1.0 - shade * ((double)x - bx) / bw;
                for (int c = 0; c < 3; c++) rgb[((size_t)y * W + x) * 3 + c] = (uint8_t)(col[c] * f);
            }
        out->n++;
    }
    /* a tip is hidden where a later shape painted its pixel */
    for (int k = 0; kp && k < out->n; k++) {
        syn_obj *o = &out->obj[k];
        for (int t = 0; t < SYN_NKP; t++) {
            int v = (o->tip0 + 2 * t) % o->nv;
            int x = (int)o->xy[2 * v], y = (int)o->xy[2 * v + 1];
            if (x > W - 1) x = W - 1;
            if (y > H - 1) y = H - 1;
            o->kv[t] = owner[(size_t)y * W + x] > k ? 0 : 2;
        }
    }
    return 0;
}

/* --------------------------------------------------------------- output */

typedef struct {
    char *s;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->n;
        int k = vsnprintf(b->s ? b->s + b->n : NULL, room, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)k < room) {
            b->n += (size_t)k;
            return;
        }
        size_t c = b->cap ? b->cap * 2 : 1 << 16;
        while (c < b->n + (size_t)k + 1) c *= 2;
        char *q = realloc(b->s, c);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->s = q;
        b->cap = c;
    }
}

static int64_t image_id(int split, int i) { return split == 0 ? 1 + 3 * (int64_t)i : 500000 + 7 * (int64_t)i; }

typedef struct {
    const syn_opts *o;
    int split, n;
    const char *dir;
    syn_img *imgs;
    int next, done, failed;
    char err[1024];
    pthread_mutex_t mu;
    prg_bar *bar;
} job_t;

static void *image_worker(void *arg) {
    job_t *j = arg;
    int W = j->o->width, H = j->o->height;
    uint8_t *rgb = malloc((size_t)W * H * 3), *mask = malloc((size_t)W * H);
    int8_t *owner = malloc((size_t)W * H);
    if (!rgb || !mask || !owner) {
        pthread_mutex_lock(&j->mu);
        if (!j->failed) snprintf(j->err, sizeof j->err, "out of memory");
        j->failed = 1;
        pthread_mutex_unlock(&j->mu);
    }
    for (;;) {
        pthread_mutex_lock(&j->mu);
        int i = j->failed ? j->n : j->next++;
        pthread_mutex_unlock(&j->mu);
        if (i >= j->n) break;
        char path[4400];
        snprintf(path, sizeof path, "%s/%012lld.jpg", j->dir, (long long)image_id(j->split, i));
        int rc = gen_image(j->o->seed, j->split, i, W, H, j->o->class_colors, j->o->keypoints, rgb, mask, owner,
                           &j->imgs[i]);
        if (rc == 0) rc = img_write_jpeg(path, rgb, W, H, j->o->quality);
        pthread_mutex_lock(&j->mu);
        if (rc < 0 && !j->failed) {
            snprintf(j->err, sizeof j->err, "%s", hnd_error());
            j->failed = 1;
        }
        j->done++;
        prg_update(j->bar, (uint64_t)j->done);
        pthread_mutex_unlock(&j->mu);
    }
    free(rgb);
    free(mask);
    free(owner);
    return NULL;
}

static int write_split(const syn_opts *o, int split, int n, int64_t *ann_id, int64_t *n_anns) {
    const char *sname = split == 0 ? "train" : "val";
    char dir[4200], jpath[4200];
    if (path_join(dir, sizeof dir, o->out_dir, sname) < 0 || path_mkdirs(dir) < 0) return -1;
    job_t j;
    memset(&j, 0, sizeof j);
    j.o = o;
    j.split = split;
    j.n = n;
    j.dir = dir;
    j.imgs = calloc((size_t)n + 1, sizeof *j.imgs);
    if (!j.imgs) return hnd_error_set("out of memory");
    pthread_mutex_init(&j.mu, NULL);
    char label[64];
    snprintf(label, sizeof label, "synth %s", sname);
    j.bar = prg_begin(label, (uint64_t)n, "images", o->progress);
    int nt = o->threads < 1 ? 1 : o->threads > 64 ? 64 : o->threads;
    pthread_t th[64];
    int started = 0;
    for (int t = 0; t < nt; t++)
        if (pthread_create(&th[t], NULL, image_worker, &j) == 0) started++;
        else break;
    if (started == 0) image_worker(&j);
    for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
    prg_end(j.bar);
    pthread_mutex_destroy(&j.mu);
    if (j.failed) {
        free(j.imgs);
        return hnd_error_set("%s", j.err);
    }
    sbuf b = {0};
    sb_printf(&b, "{\"info\": {\"description\": \"hnd synthetic shapes (%s)\", \"version\": \"1.0\", \"year\": 2024, "
                  "\"seed\": %llu},\n \"licenses\": [],\n \"images\": [",
              sname, (unsigned long long)o->seed);
    for (int i = 0; i < n; i++)
        sb_printf(&b, "%s\n  {\"id\": %lld, \"file_name\": \"%012lld.jpg\", \"width\": %d, \"height\": %d}",
                  i ? "," : "", (long long)image_id(split, i), (long long)image_id(split, i), o->width, o->height);
    sb_printf(&b, "\n ],\n \"annotations\": [");
    int64_t na = 0;
    for (int i = 0; i < n; i++) {
        const syn_img *im = &j.imgs[i];
        for (int k = 0; k < im->n; k++) {
            const syn_obj *ob = &im->obj[k];
            sb_printf(&b, "%s\n  {\"id\": %lld, \"image_id\": %lld, \"category_id\": %d, \"iscrowd\": 0, "
                          "\"area\": %llu.0, \"bbox\": [%.1f, %.1f, %.1f, %.1f], \"segmentation\": [[",
                      na ? "," : "", (long long)(*ann_id)++, (long long)image_id(split, i),
                      o->keypoints ? 1 : k_ids[ob->cls], (unsigned long long)ob->area, ob->bbox[0], ob->bbox[1],
                      ob->bbox[2], ob->bbox[3]);
            for (int v = 0; v < 2 * ob->nv; v++) sb_printf(&b, "%s%.2f", v ? ", " : "", ob->xy[v]);
            sb_printf(&b, "]]");
            if (o->keypoints) {
                int nk = 0;
                sb_printf(&b, ", \"keypoints\": [");
                for (int t = 0; t < SYN_NKP; t++) {
                    int v = (ob->tip0 + 2 * t) % ob->nv;
                    if (ob->kv[t])
                        sb_printf(&b, "%s%.2f, %.2f, 2", t ? ", " : "", ob->xy[2 * v], ob->xy[2 * v + 1]);
                    else
                        sb_printf(&b, "%s0, 0, 0", t ? ", " : "");
                    nk += ob->kv[t] != 0;
                }
                sb_printf(&b, "], \"num_keypoints\": %d", nk);
            }
            sb_printf(&b, "}");
            na++;
        }
    }
    sb_printf(&b, "\n ],\n \"categories\": [");
    if (o->keypoints) {
        sb_printf(&b, "\n  {\"id\": 1, \"name\": \"star\", \"supercategory\": \"shape\", \"keypoints\": [");
        for (int t = 0; t < SYN_NKP; t++) sb_printf(&b, "%s\"%s\"", t ? ", " : "", k_kp_names[t]);
        sb_printf(&b, "], \"skeleton\": [[1, 2], [2, 3], [3, 4], [4, 5], [5, 1]]}");
    }
    for (int c = 0; c < SYN_NCLASS && !o->keypoints; c++)
        sb_printf(&b, "%s\n  {\"id\": %d, \"name\": \"%s\", \"supercategory\": \"shape\"}", c ? "," : "", k_ids[c],
                  k_names[c]);
    sb_printf(&b, "\n ]\n}\n");
    free(j.imgs);
    if (b.oom) {
        free(b.s);
        return hnd_error_set("out of memory");
    }
    snprintf(jpath, sizeof jpath, "%s/annotations/instances_%s.json", o->out_dir, sname);
    af_file af;
    FILE *f = af_open(&af, jpath);
    int rc = f ? af_commit(&af, fwrite(b.s, 1, b.n, f) != b.n) : -1;
    free(b.s);
    if (n_anns) *n_anns = na;
    return rc;
}

int syn_generate(const syn_opts *o, int64_t n_anns[2]) {
    if (!o->out_dir || !*o->out_dir) return hnd_error_set("synth: no output directory");
    if (o->n_train < 0 || o->n_val < 0) return hnd_error_set("synth: negative image count");
    if (o->width < 32 || o->height < 32 || o->width > 8192 || o->height > 8192)
        return hnd_error_set("synth: size %dx%d out of range (32..8192)", o->width, o->height);
    if (o->quality < 1 || o->quality > 100) return hnd_error_set("synth: JPEG quality %d out of 1..100", o->quality);
    char ad[4200];
    if (path_join(ad, sizeof ad, o->out_dir, "annotations") < 0 || path_mkdirs(ad) < 0) return -1;
    int64_t ann_id = 1, na[2] = {0, 0};
    if (write_split(o, 0, o->n_train, &ann_id, &na[0]) < 0) return -1;
    if (write_split(o, 1, o->n_val, &ann_id, &na[1]) < 0) return -1;
    if (n_anns) {
        n_anns[0] = na[0];
        n_anns[1] = na[1];
    }
    return 0;
}
