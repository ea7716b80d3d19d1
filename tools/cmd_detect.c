/* cmd_detect.c: `hnd detect` (see the usage in cmd_help.c).
 *
 * Images (JPEG/PNG files, or directories of them) -> the split detector
 * (models/split_rcnn.h, teacher or student weights) -> COCO
 * results JSON [{image_id, category_id, bbox [x,y,w,h], score,
 * segmentation {size, counts}}], written atomically; optional PNGs with
 * boxes, labels and mask overlays. */
#include "cmd_detect.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cmd_common.h"
#include "coco_ann.h"
#include "commands.h"
#include "config.h"
#include "hnd_model.h"
#include "ct_detection.h"
#include "ctorch.h"
#include "atomic_file.h"
#include "det_results.h"
#include "det_visualize.h"
#include "file_check.h"
#include "hnd_error.h"
#include "mono_clock.h"
#include "path.h"
#include "image_ids.h"
#include "img.h"
#include "progress.h"
#include "rcnn.h"

/* The images and their ids: image_ids.h (shared with hnd split-detect). */
typedef ii_input det_input;
typedef ii_inputs det_inputs;

/* ------------------------------------------------------------- visualize */

/* Class names for --visualize: the categories of a COCO file (--ann, or the
 * evaluation split of --config). */
typedef struct {
    int64_t *ids;
    char **names;
    int n;
    int32_t *skel; /* the first keypoint category's skeleton (n_skel pairs), for keypoints */
    int n_skel;
} det_names;

static void names_clear(det_names *nm) {
    for (int i = 0; i < nm->n; i++) free(nm->names[i]);
    free(nm->ids);
    free(nm->names);
    free(nm->skel);
    memset(nm, 0, sizeof *nm);
}

static int names_from(const coco_dataset *ds, det_names *nm) {
    nm->ids = calloc((size_t)ds->n_cats + 1, sizeof *nm->ids);
    nm->names = calloc((size_t)ds->n_cats + 1, sizeof *nm->names);
    if (!nm->ids || !nm->names) return hnd_error_set("out of memory");
    for (int32_t i = 0; i < ds->n_cats; i++) {
        nm->ids[i] = ds->cats[i].id;
        if (!(nm->names[i] = strdup(coco_str(ds, ds->cats[i].name)))) return hnd_error_set("out of memory");
        nm->n = i + 1;
        const coco_category *c = &ds->cats[i];
        if (!nm->skel && c->n_skel > 0) {
            if (!(nm->skel = malloc(2 * (size_t)c->n_skel * sizeof *nm->skel))) return hnd_error_set("out of memory");
            memcpy(nm->skel, ds->skeleton + 2 * (size_t)c->skel_off, 2 * (size_t)c->n_skel * sizeof *nm->skel);
            nm->n_skel = c->n_skel;
        }
    }
    return 0;
}

/* Boxes, mask overlays, keypoints and "name score" labels: DIR/<stem>.png. */
static int visualize(const char *dir, const char *src, const img_u8 *im, const dr_host *h, const det_names *nm) {
    char path[4096], stem[1024];
    snprintf(stem, sizeof stem, "%s", path_base(src));
    char *dot = strrchr(stem, '.');
    if (dot) *dot = 0;
    snprintf(path, sizeof path, "%s/%s.png", dir, stem);
    dv_image v = {im->rgb, im->width, im->height, h->k, h->boxes, h->scores, h->labels, h->masks};
    dv_names names = {nm->ids, (const char *const *)nm->names, nm->n};
    dv_keypoints kp = {(int)h->nkp, h->keypoints, nm->skel, nm->n_skel};
    return dv_write_png_kp(path, &v, &names, &kp);
}

/* ------------------------------------------------------------------ main */

typedef struct {
    const char *weights, *arch, *ann, *out, *vis, *device, *config;
    int num_classes, batch, strict, strict_images, quiet;
    double score_thresh, min_size, max_size;
    det_names names;   /* for --visualize */
} det_opts;

/* One image's results into the JSON array (and the PNG). */
static int emit(cJSON *arr, const det_opts *o, const det_input *in, img_u8 *im,
                const rcnn_detections *d, double mask_thresh) {
    dr_host h;
    if (dr_to_host(d, im->height, im->width, mask_thresh, &h) != 0) return hnd_error_prefix("%s", in->path);
    int rc = dr_append_json(arr, in->image_id, &h);
    if (rc == 0 && o->vis) rc = visualize(o->vis, in->path, im, &h, &o->names);
    dr_host_clear(&h);
    return rc;
}

static int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Options from the table (cmd_help.c) and the image list. 0, or 2 / 1
 * after a message. */
static int parse_args(int argc, char **argv, det_opts *o, det_inputs *in, const co_command **cmdp) {
    co_args a;
    if (hnd_parse("detect", argc, argv, &a) != 0) return 2;
    const co_command *cmd = *cmdp = a.cmd;
    o->weights = co_str(&a, "--weights", NULL);
    o->arch = co_str(&a, "--arch", NULL);
    o->config = co_str(&a, "--config", NULL);
    o->ann = co_str(&a, "--ann", NULL);
    o->out = co_str(&a, "--out", NULL);
    o->vis = co_str(&a, "--visualize", NULL);
    o->device = co_str(&a, "--device", "cpu");
    o->num_classes = (int)co_int(&a, "--num-classes", 0);   /* 0: 91 (COCO) unless --config says */
    o->batch = (int)co_int(&a, "--batch", 1);
    o->score_thresh = co_real(&a, "--score-thresh", NAN);
    o->min_size = co_real(&a, "--min-size", 0);
    o->max_size = co_real(&a, "--max-size", 0);
    o->strict = !co_has(&a, "--no-strict");
    o->strict_images = co_has(&a, "--strict-images");
    o->quiet = co_has(&a, "--quiet");
    int rc = cc_threads(&a);
    if (rc == 0 && o->config && o->arch) rc = co_usage_error(cmd, "--config and --arch exclude each other");
    if (rc == 0 && !o->out) rc = co_usage_error(cmd, "--out RESULTS.json is required");
    if (rc == 0 && !o->arch && !o->config) rc = co_usage_error(cmd, "--arch ARCH or --config C.json is required");
    for (int i = 0; rc == 0 && i < a.n_pos; i++)
        if (ii_add_path(in, a.pos[i]) != 0) {
            fprintf(stderr, "hnd detect: %s\n", hnd_error());
            rc = 1;
        }
    if (rc == 0 && in->n == 0) {
        fprintf(stderr, "hnd detect: no .jpg/.jpeg/.png images in the given paths\n");
        rc = 1;
    }
    co_args_clear(&a);
    return rc;
}

/* The model of --arch or --config, its weights loaded, on the device. A
 * student weight file (sr_probe_file) builds a student with the file's
 * bottleneck: the config's student_model when it has one, else --arch /
 * the teacher's model with the bottleneck added. */
static sr_model *load_model(const det_opts *o, const tc_config *tcfg, ct_device dev, rcnn_config *cfg) {
    sr_probe pr;
    if (sr_probe_file(o->weights, &pr) != 0) return NULL;
    const tc_model *tm = !tcfg ? NULL : pr.channels > 0 && tcfg->student.present ? &tcfg->student : &tcfg->teacher;
    if (tm ? hm_model_config(tm, cfg) != 0 : rcnn_config_default(cfg, o->arch) != 0) {
        hnd_error_prefix("%s", tcfg ? "--config" : "--arch");
        return NULL;
    }
    if (o->num_classes) cfg->box.num_classes = o->num_classes;
    else if (!tcfg && !cfg->keypoint.enabled) cfg->box.num_classes = 91;   /* keypoint_rcnn: 2 */
    if (!isnan(o->score_thresh)) cfg->box.score_thresh = o->score_thresh;
    if (o->min_size > 0) cfg->transform.min_size = o->min_size;
    if (o->max_size > 0) cfg->transform.max_size = o->max_size;
    sr_bottleneck_spec bn;
    sr_probe_bottleneck(&pr, &bn);
    if (tm && tm->has_layer1) bn.bits = tm->transform_bits;
    sr_model *m = sr_new(cfg, &bn);
    if (!m) return NULL;
    int loaded = o->strict ? sr_load(m, o->weights) : rcnn_load(sr_rcnn(m), o->weights, 0) < 0 ? -1 : 0;
    if (loaded != 0 || sr_to_device(m, dev) != 0) {
        sr_destroy(m);
        return NULL;
    }
    return m;
}

/* One image decoded to a tensor on the device; NULL with hnd_error() set. */
static ct_tensor *image_tensor(const char *path, img_u8 *im, ct_device dev) {
    if (img_decode_file(path, im) != 0) return NULL;
    int64_t shape[3] = {3, im->height, im->width};
    float *chw = malloc(sizeof(float) * 3 * (size_t)im->width * im->height);
    if (!chw) {
        hnd_error_set("%s: out of memory", path);
        return NULL;
    }
    img_to_chw_f32(im, chw);
    ct_tensor *t = ct_from_buffer(chw, CT_F32, 3, shape);
    free(chw);
    if (t && dev.type != CT_CPU) t = ct_to_device(t, dev);
    if (!t) hnd_error_set("%s: %s", path, ct_last_error());
    return t;
}

typedef struct {
    cJSON *arr;
    double *per_image, stage[RCNN_T_COUNT], decode_ms;
    int done, skipped;
} det_run;

/* Decodes up to o->batch images from *next on (skipping unreadable ones
 * unless --strict-images), detects, appends the results. 0 or -1. */
static int run_batch(const det_opts *o, const det_inputs *in, int *next, sr_model *m, ct_device dev,
                     double mask_thresh, det_run *r, img_u8 *ims, rcnn_detections *dets, ct_tensor **tens,
                     int *idx) {
    int nb = 0, rc = 0;
    double t0 = (1e3 * mono_now_s());
    while (nb < o->batch && *next < in->n) {
        int i = (*next)++;
        tens[nb] = image_tensor(in->v[i].path, &ims[nb], dev);
        if (tens[nb]) {
            idx[nb++] = i;
            continue;
        }
        img_clear(&ims[nb]);
        if (o->strict_images) return -1;
        fprintf(stderr, "hnd detect: skipping %s\n", hnd_error());
        r->skipped++;
    }
    double t1 = (1e3 * mono_now_s());
    r->decode_ms += t1 - t0;
    double t[RCNN_T_COUNT] = {0};   /* per stage: the original detector's run reports them */
    const ct_tensor *const *tv = (const ct_tensor *const *)tens;
    if (nb > 0 && (sr_is_student(m) ? sr_detect(m, tv, nb, dets) : rcnn_detect(sr_rcnn(m), tv, nb, dets, t)) != 0) {
        hnd_error_prefix("%s", in->v[idx[0]].path);
        rc = -1;
    }
    if (nb > 0 && rc == 0) {
        double dt = (1e3 * mono_now_s()) - t1;
        for (int k = 0; k < RCNN_T_COUNT; k++) r->stage[k] += t[k];
        for (int j = 0; j < nb; j++) r->per_image[r->done + j] = dt / nb;
        r->done += nb;
        for (int j = 0; j < nb && rc == 0; j++)
            rc = emit(r->arr, o, &in->v[idx[j]], &ims[j], &dets[j], mask_thresh);
        for (int j = 0; j < nb; j++) rcnn_detections_clear(&dets[j]);
    }
    for (int j = 0; j < nb; j++) img_clear(&ims[j]);
    return rc;
}

static void print_summary(const det_opts *o, det_run *r, double t_load) {
    int n = r->done;
    if (o->quiet) return;
    fprintf(stderr, "hnd detect: %d images, %d detections -> %s", n, cJSON_GetArraySize(r->arr), o->out);
    if (r->skipped) fprintf(stderr, " (%d unreadable images skipped)", r->skipped);
    fputc('\n', stderr);
    if (n == 0) return;
    qsort(r->per_image, (size_t)n, sizeof *r->per_image, cmp_dbl);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += r->per_image[i];
    double med = n % 2 ? r->per_image[n / 2] : 0.5 * (r->per_image[n / 2 - 1] + r->per_image[n / 2]);
    const double *st = r->stage;
    fprintf(stderr,
            "per image: median %.1f ms, mean %.1f ms (transform %.1f, backbone %.1f, rpn %.1f, "
            "roi_heads %.1f, postprocess %.1f); decoding %.1f ms; model load %.0f ms; %d threads, %s\n",
            med, sum / n, st[0] / n, st[1] / n, st[2] / n, st[3] / n, st[4] / n, r->decode_ms / n, t_load,
            ct_get_num_threads(), o->device);
}

/* Every image, in batches, into r->arr. 0 or -1. */
static int run_all(const det_opts *o, const det_inputs *in, sr_model *m, ct_device dev, double mask_thresh,
                   det_run *r) {
    img_u8 *ims = calloc((size_t)o->batch, sizeof *ims);
    rcnn_detections *dets = calloc((size_t)o->batch, sizeof *dets);
    ct_tensor **tens = calloc((size_t)o->batch, sizeof *tens);
    int *idx = calloc((size_t)o->batch, sizeof *idx);
    int rc = ims && dets && tens && idx ? 0 : hnd_error_set("out of memory");
    prg_bar *bar = rc == 0 && !o->quiet ? prg_begin("detecting", (uint64_t)in->n, "images", 1) : NULL;
    for (int next = 0; rc == 0 && next < in->n;) {
        ct_scope_begin();
        rc = run_batch(o, in, &next, m, dev, mask_thresh, r, ims, dets, tens, idx);
        ct_scope_end();
        prg_update(bar, (uint64_t)next);
    }
    prg_end(bar);
    free(ims);
    free(dets);
    free(tens);
    free(idx);
    return rc;
}

int cmd_detect(int argc, char **argv) {
    det_opts o = {0};
    det_inputs in = {0};
    const co_command *cmd = NULL;
    tc_config tcfg;   /* --config */
    memset(&tcfg, 0, sizeof tcfg);
    int have_cfg = 0, rc = parse_args(argc, argv, &o, &in, &cmd);
    ct_device dev;
    if (rc == 0) rc = cc_device(cmd, o.device, &dev);
    /* --config: the model (a teacher config's `model`, else its
     * `teacher_model`) as hnd train-teacher / hnd train build it, shrunk FPN,
     * anchors and sizes included; its ckpt is the default --weights */
    if (rc == 0 && o.config) {
        if (tc_load(o.config, NULL, 0, &tcfg) != 0) {
            fprintf(stderr, "hnd detect: %s\n", hnd_error());
            rc = 1;
        } else {
            have_cfg = 1;
            if (!o.weights && *tcfg.teacher.ckpt) o.weights = tcfg.teacher.ckpt;
        }
    }
    if (rc == 0 && !o.weights)
        rc = co_usage_error(cmd, "--weights W.h5 is required (or a --config whose model has a ckpt)");
    if (rc == 0 && o.vis && path_mkdirs(o.vis) != 0) {
        fprintf(stderr, "hnd detect: --visualize: %s\n", hnd_error());
        rc = 1;
    }
    coco_dataset *ds = NULL;
    if (rc == 0 && o.ann && (fchk_regular(o.ann, FCHK_JSON_MAX) != 0 || !(ds = coco_load(o.ann, NULL)))) {
        fprintf(stderr, "hnd detect: --ann: %s\n", hnd_error());
        rc = 1;
    }
    if (rc == 0 && ii_assign_ids(&in, ds) != 0) {
        fprintf(stderr, "hnd detect: %s\n", hnd_error());
        rc = 1;
    }
    if (rc == 0 && o.vis && !ds && have_cfg) {   /* names from the config's evaluation split */
        const tc_split *sp = tcfg.dataset.val.present ? &tcfg.dataset.val : &tcfg.dataset.test;
        if (sp->present && !(ds = coco_load(sp->annotations, NULL))) {
            fprintf(stderr, "hnd detect: --visualize: class names from %s: %s\n", sp->annotations, hnd_error());
            rc = 1;
        }
    }
    if (rc == 0 && o.vis && ds && names_from(ds, &o.names) != 0) {
        fprintf(stderr, "hnd detect: %s\n", hnd_error());
        rc = 1;
    }
    coco_destroy(ds);
    rcnn_config cfg;
    double t_load = (1e3 * mono_now_s());
    sr_model *m = rc == 0 ? load_model(&o, have_cfg ? &tcfg : NULL, dev, &cfg) : NULL;
    t_load = (1e3 * mono_now_s()) - t_load;
    if (rc == 0 && !m) {
        fprintf(stderr, "hnd detect: %s\n", hnd_error());
        rc = 1;
    }
    det_run r = {0};
    if (rc == 0) {
        r.arr = cJSON_CreateArray();
        r.per_image = malloc(sizeof(double) * (size_t)in.n);
        if (!r.arr || !r.per_image || run_all(&o, &in, m, dev, cfg.mask.mask_thresh, &r) != 0) rc = 1;
        char *text = rc == 0 ? cJSON_PrintUnformatted(r.arr) : NULL;
        if (rc == 0 && (!text || af_write_text(o.out, text) != 0)) rc = 1;
        free(text);
        if (rc != 0) fprintf(stderr, "hnd detect: %s\n", hnd_error()[0] ? hnd_error() : "out of memory");
        else print_summary(&o, &r, t_load);
    }
    cJSON_Delete(r.arr);
    free(r.per_image);
    sr_destroy(m);
    ii_inputs_clear(&in);
    if (have_cfg) tc_clear(&tcfg);
    names_clear(&o.names);
    return rc;
}
