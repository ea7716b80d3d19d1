/* evaluate.c: see evaluate.h. */
#include "evaluate.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bottleneck_quant.h"
#include "coco_ann.h"
#include "coco_eval.h"
#include "data_tensors.h"
#include "hnd_error.h"
#include "ld.h"
#include "mask_rle.h"
#include "progress.h"

struct ev_ctx {
    tc_split split;
    coco_dataset *ds;
    ce_gt *gt;
    int with_segm;
};

ev_ctx *ev_open(const tc_split *split, int with_segm) {
    if (!split || !split->present) {
        hnd_error_set("evaluation: the split is not configured");
        return NULL;
    }
    ev_ctx *e = calloc(1, sizeof *e);
    if (!e) {
        hnd_error_set("out of memory");
        return NULL;
    }
    e->split = *split;
    e->with_segm = with_segm;
    coco_load_opts lo = {0};
    if (!(e->ds = coco_load(split->annotations, &lo)) || !(e->gt = ce_gt_load(split->annotations, with_segm))) {
        ev_close(e);
        return NULL;
    }
    return e;
}

void ev_close(ev_ctx *e) {
    if (!e) return;
    coco_free(e->ds);
    ce_gt_free(e->gt);
    free(e);
}

int64_t ev_num_images(const ev_ctx *e) { return e ? e->ds->n_images : 0; }

void ev_opts_default(ev_opts *o) {
    memset(o, 0, sizeof *o);
    o->batch_size = 1;
    o->workers = 2;
    o->progress = 1;
    o->transform_bits = -1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double round_to(double v, double q) { return round(v / q) * q; }

/* Appends one image's detections to arr. */
static int add_results(cJSON *arr, int64_t image_id, int height, int width, const rcnn_detections *d,
                       double mask_thresh, int64_t *count) {
    int64_t k = ct_numel(d->scores);
    if (k <= 0) return k < 0 ? hnd_error_set("detections: %s", ct_last_error()) : 0;
    int rc = -1;
    size_t hw = (size_t)width * (size_t)height;
    float *boxes = malloc(sizeof(float) * 4 * (size_t)k);
    float *scores = malloc(sizeof(float) * (size_t)k);
    int64_t *labels = malloc(sizeof(int64_t) * (size_t)k);
    uint8_t *masks = NULL;
    if (!boxes || !scores || !labels) {
        hnd_error_set("out of memory");
        goto done;
    }
    ct_scope_begin();
    int ok = ct_to_buffer(ct_to_dtype(d->boxes, CT_F32), boxes, sizeof(float) * 4 * (size_t)k) == 0 &&
             ct_to_buffer(ct_to_dtype(d->scores, CT_F32), scores, sizeof(float) * (size_t)k) == 0 &&
             ct_to_buffer(ct_to_dtype(d->labels, CT_I64), labels, sizeof(int64_t) * (size_t)k) == 0;
    if (ok && d->masks) {
        masks = malloc(hw * (size_t)k);
        ok = masks && ct_to_buffer(ct_to_dtype(ct_gt_scalar(d->masks, mask_thresh), CT_U8), masks,
                                   hw * (size_t)k) == 0;
    }
    ct_scope_end();
    if (!ok) {
        hnd_error_set("reading detections: %s", ct_last_error());
        goto done;
    }
    for (int64_t i = 0; i < k; i++) {
        cJSON *r = cJSON_CreateObject();
        if (!r) goto oom;
        cJSON_AddItemToArray(arr, r);
        const float *b = boxes + 4 * i;
        double bb[4] = {round_to(b[0], 1e-3), round_to(b[1], 1e-3), round_to((double)b[2] - b[0], 1e-3),
                        round_to((double)b[3] - b[1], 1e-3)};
        cJSON *jb = cJSON_CreateDoubleArray(bb, 4);
        if (!jb || !cJSON_AddNumberToObject(r, "image_id", (double)image_id) ||
            !cJSON_AddNumberToObject(r, "category_id", (double)labels[i]))
            goto oom;
        cJSON_AddItemToObject(r, "bbox", jb);
        if (!cJSON_AddNumberToObject(r, "score", round_to(scores[i], 1e-6))) goto oom;
        if (masks) {
            rle_t rle;
            rle_init(&rle);
            if (rle_encode_rowmajor(&rle, masks + hw * (size_t)i, (uint32_t)height, (uint32_t)width) != 0)
                goto done;
            char *s = rle_to_string(&rle);
            rle_free(&rle);
            if (!s) goto oom;
            cJSON *seg = cJSON_AddObjectToObject(r, "segmentation");
            double size[2] = {height, width};
            cJSON *js = cJSON_CreateDoubleArray(size, 2);
            if (!seg || !js) {
                free(s);
                cJSON_Delete(js);
                goto oom;
            }
            cJSON_AddItemToObject(seg, "size", js);
            cJSON *cs = cJSON_AddStringToObject(seg, "counts", s);
            free(s);
            if (!cs) goto oom;
        }
    }
    *count += k;
    rc = 0;
    goto done;
oom:
    hnd_error_set("out of memory");
done:
    free(boxes);
    free(scores);
    free(labels);
    free(masks);
    return rc;
}

static int write_atomic(const char *path, const char *text) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return hnd_error_set("%s: %s", tmp, strerror(errno));
    size_t n = strlen(text);
    int bad = fwrite(text, 1, n, f) != n || fputc('\n', f) == EOF;
    if (fclose(f) != 0) bad = 1;
    if (bad || rename(tmp, path) != 0) {
        int err = errno;
        remove(tmp);
        return hnd_error_set("%s: %s", path, strerror(err ? err : EIO));
    }
    return 0;
}

/* A student's features with the bottleneck measured (and transformed per
 * image, as with batch size 1). */
static int student_features(hm_model *h, const rt_image_list *l, int bits, ev_result *acc,
                            ct_tensor *features[BB_NUM_FEATURES]) {
    bb_backbone *bb = rcnn_backbone(h->det);
    int rc = -1;
    ct_scope_begin();
    ct_tensor *s = bb_stem(bb, l->tensors);
    ct_tensor *z = s ? stu_encode(h->stu, s) : NULL;
    if (!z) goto done;
    int64_t zs[4];
    ct_shape(z, zs, 4);
    ct_tensor *parts[64];
    int n = l->n;
    for (int i = 0; i < n; i++) {
        ct_tensor *zi = ct_narrow(z, 0, i, 1);
        if (!zi) {
            hnd_error_set("bottleneck: %s", ct_last_error());
            goto done;
        }
        size_t nb;
        float scale;
        int zp;
        uint8_t *q = bq_quantize8_bytes(zi, &nb, &scale, &zp);
        if (!q) goto done;
        free(q);
        double numel = (double)nb, in = 3.0 * (double)l->sizes[i][0] * (double)l->sizes[i][1];
        acc->mean_numel += numel;
        acc->mean_h += (double)zs[2];
        acc->mean_w += (double)zs[3];
        acc->mean_bytes_f32 += (double)bq_wire_bytes((int64_t)nb, 32);
        acc->mean_bytes_q8 += (double)bq_wire_bytes((int64_t)nb, 8);
        acc->mean_input_numel += in;
        acc->ratio_f32 += 4.0 * numel / (4.0 * in);
        acc->ratio_q8 += (double)bq_wire_bytes((int64_t)nb, 8) / in;
        acc->last_scale = scale;
        acc->last_zero_point = zp;
        if (bits && i < 64) {
            parts[i] = bq_round_trip(zi, bits);
            if (!parts[i]) goto done;
        }
    }
    if (bits) {
        if (n > 64) {
            hnd_error_set("evaluation: batch size above 64 with a bottleneck transformer");
            goto done;
        }
        z = ct_cat((const ct_tensor *const *)parts, n, 0);
        if (!z) {
            hnd_error_set("bottleneck: %s", ct_last_error());
            goto done;
        }
    }
    ct_tensor *c[4];
    c[0] = stu_decode(h->stu, z);
    for (int k = 1; k < 4 && c[k - 1]; k++) c[k] = bb_layer(bb, k + 1, c[k - 1]);
    if (!c[0] || !c[1] || !c[2] || !c[3]) goto done;
    if (bb_fpn(bb, (const ct_tensor *const *)c, features) != 0) goto done;
    for (int i = 0; i < BB_NUM_FEATURES; i++) ct_scope_keep(features[i]);
    rc = 0;
done:
    ct_scope_end();
    return rc;
}

int ev_run(ev_ctx *e, hm_model *h, const ev_opts *o, ev_result *out) {
    if (!e || !h || !o || !out) return hnd_error_set("evaluation: NULL argument");
    memset(out, 0, sizeof *out);
    double t0 = now_s();
    int bits = o->transform_bits < 0 && h->stu ? stu_get_transform(h->stu) : o->transform_bits < 0 ? 0 : o->transform_bits;
    int masks = rcnn_has_masks(h->det);
    if (masks && !e->with_segm) return hnd_error_set("evaluation: segm needs the GT opened with masks");
    ld_opts lo;
    ld_opts_default(&lo);
    lo.ds = e->ds;
    lo.image_dir = e->split.images;
    lo.workers = o->workers > 0 ? o->workers : 1;
    lo.queue = 2 * lo.workers;
    lo.batch_size = o->batch_size > 0 ? o->batch_size : 1;
    lo.train = 0;
    lo.drop_empty = e->split.remove_non_annotated;
    lo.skip_bad = 0;
    lo.seed = 0;
    ld_loader *ld = ld_open(&lo);
    if (!ld) return -1;
    cJSON *arr = cJSON_CreateArray();
    int rc = -1;
    int was_training = h->stu ? stu_is_training(h->stu) : 0;
    hm_set_training(h, 0);
    int prev = ct_grad_set_enabled(0);
    prg_bar *bar = prg_begin("evaluating", (uint64_t)ld_num_samples(ld), "images", o->progress);
    if (!arr || ld_epoch_begin(ld, 0) != 0) goto done;
    ld_batch *b;
    int r;
    double mask_thresh = h->rc.mask.mask_thresh > 0 ? h->rc.mask.mask_thresh : 0.5;
    while ((r = ld_next(ld, &b)) == 1) {
        int n = b->n, ok = 1;
        if (n == 0) {
            ld_batch_free(b);
            continue;
        }
        ct_scope_begin();
        ct_tensor *imgs[256];
        dt_target tg[256];
        if (n > 256 || dt_batch_tensors(b, imgs, tg) != 0) ok = 0;
        for (int i = 0; ok && i < n; i++) {
            dt_target_free(&tg[i]);
            if (h->dev.type != CT_CPU && !(imgs[i] = ct_to_device(imgs[i], h->dev))) ok = 0;
        }
        rcnn_detections det[256];
        memset(det, 0, sizeof(det[0]) * (size_t)(n < 256 ? n : 256));
        if (ok) {
            if (h->stu) {
                rt_image_list l;
                memset(&l, 0, sizeof l);
                ct_tensor *f[BB_NUM_FEATURES] = {0};
                ok = rcnn_transform_images(h->det, (const ct_tensor *const *)imgs, n, &l) == 0 &&
                     student_features(h, &l, bits, out, f) == 0 &&
                     rcnn_detect_from_features(h->det, &l, f, det) == 0;
                rt_image_list_free(&l);
            } else {
                ok = rcnn_detect(h->det, (const ct_tensor *const *)imgs, n, det, NULL) == 0;
            }
        }
        for (int i = 0; ok && i < n; i++) {
            const ld_sample *s = &b->samples[i];
            ok = add_results(arr, e->ds->images[s->image].id, s->height, s->width, &det[i], mask_thresh,
                             &out->detections) == 0;
        }
        for (int i = 0; i < n && i < 256; i++) rcnn_detections_clear(&det[i]);
        ct_scope_end();
        out->images += n;
        ld_batch_free(b);
        prg_update(bar, (uint64_t)out->images);
        if (!ok) {
            hnd_error_prefix("evaluation");
            goto done;
        }
    }
    if (r < 0) goto done;
    char *json = cJSON_PrintUnformatted(arr);
    if (!json) {
        hnd_error_set("out of memory");
        goto done;
    }
    if (o->results_path && write_atomic(o->results_path, json) != 0) {
        free(json);
        goto done;
    }
    for (int t = 0; t < (masks ? 2 : 1); t++) {
        ce_dt *dt = ce_dt_parse(e->gt, json, strlen(json), "detections", t ? CE_SEGM : CE_BBOX, NULL);
        ce_result res;
        if (!dt || ce_eval(e->gt, dt, &res) != 0) {
            ce_dt_free(dt);
            free(json);
            goto done;
        }
        memcpy(t ? out->segm : out->bbox, res.stats, sizeof res.stats);
        ce_result_free(&res);
        ce_dt_free(dt);
    }
    free(json);
    out->has_segm = masks;
    if (h->stu && out->images > 0) {
        double k = (double)out->images;
        out->has_bottleneck = 1;
        out->channels = stu_channels(h->stu);
        out->mean_h /= k;
        out->mean_w /= k;
        out->mean_numel /= k;
        out->mean_bytes_f32 /= k;
        out->mean_bytes_q8 /= k;
        out->mean_input_numel /= k;
        out->ratio_f32 /= k;
        out->ratio_q8 /= k;
    }
    out->seconds = now_s() - t0;
    rc = 0;
done:
    prg_end(bar);
    ct_grad_set_enabled(prev);
    hm_set_training(h, was_training);
    cJSON_Delete(arr);
    ld_close(ld);
    return rc;
}
