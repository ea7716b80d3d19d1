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
#include "dist_dp.h"
#include "atomic_file.h"
#include "det_results.h"
#include "eb_link.h"
#include "hnd_error.h"
#include "link_codec.h"
#include "mono_clock.h"
#include "ld.h"
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
    /* one read of the annotation file: the dataset feeds the loader and
     * becomes the evaluator's ground truth */
    coco_load_opts lo = {0};
    if (!(e->ds = coco_load(split->annotations, &lo)) || !(e->gt = ce_gt_from_coco(e->ds, with_segm))) {
        ev_destroy(e);
        return NULL;
    }
    return e;
}

void ev_destroy(ev_ctx *e) {
    if (!e) return;
    coco_destroy(e->ds);
    ce_gt_destroy(e->gt);
    free(e);
}

int64_t ev_num_images(const ev_ctx *e) { return e ? e->ds->n_images : 0; }

const coco_dataset *ev_dataset(const ev_ctx *e) { return e ? e->ds : NULL; }

void ev_opts_default(ev_opts *o) {
    memset(o, 0, sizeof *o);
    o->batch_size = 1;
    o->workers = 2;
    o->progress = 1;
    o->transform_bits = -1;
}


/* Appends one image's detections to arr. */
static int add_results(cJSON *arr, int64_t image_id, int height, int width, const rcnn_detections *d,
                       double mask_thresh, int64_t *count) {
    dr_host h;
    if (dr_to_host(d, height, width, mask_thresh, &h) != 0) return -1;
    int rc = dr_append_json(arr, image_id, &h);
    if (rc == 0) *count += h.k;
    dr_host_clear(&h);
    return rc;
}

/* Image i's 8-bit bottleneck coded losslessly: its bytes on an 8-bit link,
 * else its own 8-bit quantization. Sizes added to acc. */
static int add_coded_sizes(const sr_link *link, int i, const int64_t zs[4], ev_result *acc) {
    const int64_t numel = zs[1] * zs[2] * zs[3];
    uint8_t *q = NULL;
    int rc = -1;
    ct_scope_begin();
    ct_tensor *zl = ct_narrow(link->z, 0, i, 1);
    if (link->bits <= 8) {   /* a 2..8-bit link: its bytes */
        q = zl ? malloc((size_t)numel) : NULL;
        if (q && ct_to_buffer(zl, q, (size_t)numel) != 0) {
            free(q);
            q = NULL;
        }
    } else {
        ct_tensor *zf = zl ? ct_to_dtype(zl, CT_F32) : NULL;
        float sc;
        int zp;
        q = zf ? bq_quantize8_bytes(zf, NULL, &sc, &zp) : NULL;
    }
    lc_sizes sz;
    if (!q) hnd_error_set("bottleneck: %s", hnd_error()[0] ? hnd_error() : ct_last_error());
    else if (lc_measure(q, (int)zs[1], (int)zs[2], (int)zs[3], &sz) == 0) {
        acc->mean_bytes_rans += (double)sz.rans;
        acc->mean_bytes_zstd += (double)sz.zstd;
        rc = 0;
    }
    free(q);
    ct_scope_end();
    return rc;
}

/* A student's batch as a split run: head (with the transformer's bits),
 * the link measured per image, tail. */
static int student_detect(sr_model *h, const ct_tensor *const *imgs, int n, int bits, ev_result *acc,
                          rcnn_detections *det) {
    sr_link link;
    if (sr_head(h, imgs, n, bits ? bits : 32, &link, NULL) != 0) return -1;
    int rc = 0;
    int64_t zs[4];
    ct_shape(link.z, zs, 4);
    const double numel = (double)(zs[1] * zs[2] * zs[3]);
    const int qb = link.bits <= 8 ? link.bits : 8;   /* sizes at the transformer's 2..8 bits, else 8 */
    acc->q_bits = qb;
    for (int i = 0; i < n; i++) {
        double in = 3.0 * (double)link.sizes[i][0] * (double)link.sizes[i][1];
        acc->mean_numel += numel;
        acc->mean_h += (double)zs[2];
        acc->mean_w += (double)zs[3];
        acc->mean_bytes_f32 += (double)bq_wire_bytes((int64_t)numel, 32);
        acc->mean_bytes_q8 += (double)bq_wire_bytes((int64_t)numel, qb);
        acc->mean_input_numel += in;
        acc->ratio_f32 += 4.0 * numel / (4.0 * in);
        acc->ratio_q8 += (double)bq_wire_bytes((int64_t)numel, qb) / in;
        if (rc == 0) rc = add_coded_sizes(&link, i, zs, acc);
    }
    /* the last image's 8-bit scale and zero point, also when the link is wider */
    if (link.bits <= 8) {
        acc->last_scale = link.scale[n - 1];
        acc->last_zero_point = link.zero_point[n - 1];
    } else {
        ct_scope_begin();
        ct_tensor *zl = ct_narrow(link.z, 0, n - 1, 1);
        ct_tensor *zf = zl ? ct_to_dtype(zl, CT_F32) : NULL;
        float sc;
        int zp;
        uint8_t *q = zf ? bq_quantize8_bytes(zf, NULL, &sc, &zp) : NULL;
        if (q) acc->last_scale = sc, acc->last_zero_point = zp;
        else rc = hnd_error_set("bottleneck: %s", zf ? hnd_error() : ct_last_error());
        free(q);
        ct_scope_end();
    }
    if (rc == 0 && sr_entropy(h)) {
        acc->has_eb = 1;
        rc = ebl_add_bytes(sr_entropy(h), link.z, &acc->mean_bytes_eb);
    }
    if (rc == 0) rc = sr_tail(h, &link, det, NULL);
    sr_link_clear(&link);
    return rc;
}

/* Stable order of detections by image id: the order of a single process
 * (images in dataset order, sorted by id; each image's detections in the
 * order they were found). */
typedef struct {
    double id;
    size_t pos;
    cJSON *item;
} ev_det_ref;

static int cmp_det_ref(const void *a, const void *b) {
    const ev_det_ref *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Data-parallel: every rank's detections (as JSON bytes) gathered; on rank
 * 0, *arr becomes all of them in single-process order (others keep theirs). */
static int gather_results(cJSON **arr) {
    const int W = dp_world();
    char *mine = cJSON_PrintUnformatted(*arr);
    if (!mine) return hnd_error_set("out of memory");
    void *all = NULL;
    size_t *lens = calloc((size_t)W, sizeof *lens);
    int rc = lens && ct_dist_allgather_bytes(dp_group(), mine, strlen(mine), &all, lens) == 0
                 ? 0
                 : hnd_error_set("gathering the detections: %s", lens ? ct_last_error() : "out of memory");
    free(mine);
    if (rc != 0 || !dp_is_main()) {
        free(all);
        free(lens);
        return rc;
    }
    cJSON *merged = cJSON_CreateArray();
    size_t off = 0, n = 0;
    for (int r = 0; r < W && merged; r++) {
        cJSON *part = cJSON_ParseWithLength((const char *)all + off, lens[r]);
        off += lens[r];
        if (!part) {
            rc = hnd_error_set("rank %d's detections: malformed JSON", r);
            break;
        }
        cJSON *it;
        while ((it = cJSON_DetachItemFromArray(part, 0))) cJSON_AddItemToArray(merged, it), n++;
        cJSON_Delete(part);
    }
    free(all);
    free(lens);
    ev_det_ref *refs = rc == 0 && merged ? malloc((n + 1) * sizeof *refs) : NULL;
    if (rc == 0 && !refs) rc = hnd_error_set("out of memory");
    if (rc != 0) {
        cJSON_Delete(merged);
        free(refs);
        return -1;
    }
    size_t k = 0;
    cJSON *it;
    while ((it = cJSON_DetachItemFromArray(merged, 0))) {
        cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "image_id");
        refs[k] = (ev_det_ref){cJSON_IsNumber(id) ? id->valuedouble : 0, k, it};
        k++;
    }
    qsort(refs, k, sizeof *refs, cmp_det_ref);
    for (size_t i = 0; i < k; i++) cJSON_AddItemToArray(merged, refs[i].item);
    free(refs);
    cJSON_Delete(*arr);
    *arr = merged;
    return 0;
}

/* bbox (and segm) stats of the detections' results JSON. */
static int score_results(const ev_ctx *e, const char *json, int masks, ev_result *out) {
    for (int t = 0; t < (masks ? 2 : 1); t++) {
        ce_dt *dt = ce_dt_parse(e->gt, json, strlen(json), "detections", t ? CE_SEGM : CE_BBOX, NULL);
        ce_result res;
        if (!dt || ce_eval(e->gt, dt, &res) != 0) {
            ce_dt_destroy(dt);
            return -1;
        }
        memcpy(t ? out->segm : out->bbox, res.stats, sizeof res.stats);
        ce_result_clear(&res);
        ce_dt_destroy(dt);
    }
    return 0;
}

/* Keypoint stats of the detections (Keypoint R-CNN), from their keypoint-only
 * form as torchvision's evaluation writes it. */
static int score_keypoints(const ev_ctx *e, const cJSON *arr, ev_result *out) {
    char *json = dr_keypoint_results_json(arr);
    if (!json) return -1;
    ce_dt *dt = ce_dt_parse(e->gt, json, strlen(json), "keypoint detections", CE_KEYPOINTS, NULL);
    free(json);
    ce_result res;
    if (!dt || ce_eval(e->gt, dt, &res) != 0) {
        ce_dt_destroy(dt);
        return -1;
    }
    memcpy(out->kp, res.stats, sizeof out->kp);
    ce_result_clear(&res);
    ce_dt_destroy(dt);
    return 0;
}

int ev_run(ev_ctx *e, sr_model *h, const ev_opts *o, ev_result *out) {
    if (!e || !h || !o || !out) return hnd_error_set("evaluation: NULL argument");
    memset(out, 0, sizeof *out);
    double t0 = mono_now_s();
    int bits = o->transform_bits < 0 ? sr_bits(h) : o->transform_bits;
    int masks = sr_has_masks(h);
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
    if (o->shard && dp_init() != 0) return -1;
    const int shard = o->shard && dp_world() > 1;
    if (shard) {
        /* each rank its slice of every batch of batch_size * world images */
        lo.rank = dp_rank();
        lo.world = dp_world();
    }
    lo.jpeg_quality = e->split.jpeg_quality;
    ld_loader *ld = ld_open(&lo);
    if (!ld) return -1;
    cJSON *arr = cJSON_CreateArray();
    int rc = -1;
    int was_training = sr_is_training(h);
    sr_set_training(h, 0);
    int prev = ct_grad_set_enabled(0);
    prg_bar *bar = prg_begin("evaluating", (uint64_t)ld_num_samples(ld), "images", o->progress);
    if (!arr || ld_epoch_begin(ld, 0) != 0) goto done;
    ld_batch *b;
    int r;
    double mask_thresh = sr_config(h)->mask.mask_thresh > 0 ? sr_config(h)->mask.mask_thresh : 0.5;
    const ct_device dev = sr_device(h);
    while ((r = ld_next(ld, &b)) == 1) {
        int n = b->n, ok = 1;
        if (n == 0) {
            ld_batch_destroy(b);
            continue;
        }
        ct_scope_begin();
        ct_tensor *imgs[256];
        dt_target tg[256];
        if (n > 256 || dt_batch_tensors(b, imgs, tg) != 0) ok = 0;
        for (int i = 0; ok && i < n; i++) {
            dt_target_clear(&tg[i]);
            if (dev.type != CT_CPU && !(imgs[i] = ct_to_device(imgs[i], dev))) ok = 0;
        }
        rcnn_detections det[256];
        memset(det, 0, sizeof(det[0]) * (size_t)(n < 256 ? n : 256));
        if (ok)
            ok = (sr_is_student(h) ? student_detect(h, (const ct_tensor *const *)imgs, n, bits, out, det)
                                   : sr_detect(h, (const ct_tensor *const *)imgs, n, det)) == 0;
        for (int i = 0; ok && i < n; i++) {
            const ld_sample *s = &b->samples[i];
            out->mean_jpeg_bytes += (double)s->jpeg_bytes;
            ok = add_results(arr, e->ds->images[s->image].id, s->height, s->width, &det[i], mask_thresh,
                             &out->detections) == 0;
        }
        for (int i = 0; i < n && i < 256; i++) rcnn_detections_clear(&det[i]);
        ct_scope_end();
        out->images += n;
        ld_batch_destroy(b);
        prg_update(bar, (uint64_t)out->images);
        if (!ok) {
            hnd_error_prefix("evaluation");
            goto done;
        }
    }
    /* data-parallel: a rank that failed makes the others fail too; the
     * detections and the per-image sums gathered */
    if (shard && dp_all_ok(r >= 0) != 1) goto done;
    if (r < 0) goto done;
    if (shard) {
        double acc[14] = {(double)out->images, (double)out->detections, out->mean_jpeg_bytes, out->mean_h, out->mean_w,
                          out->mean_numel, out->mean_bytes_f32, out->mean_bytes_q8, out->mean_bytes_rans,
                          out->mean_bytes_zstd, out->mean_input_numel, out->ratio_f32, out->ratio_q8,
                          out->mean_bytes_eb};
        if (dp_sum(acc, 14) != 0 || gather_results(&arr) != 0) goto done;
        out->images = (int64_t)acc[0];
        out->detections = (int64_t)acc[1];
        out->mean_jpeg_bytes = acc[2], out->mean_h = acc[3], out->mean_w = acc[4], out->mean_numel = acc[5];
        out->mean_bytes_f32 = acc[6], out->mean_bytes_q8 = acc[7], out->mean_bytes_rans = acc[8];
        out->mean_bytes_zstd = acc[9], out->mean_input_numel = acc[10], out->ratio_f32 = acc[11];
        out->ratio_q8 = acc[12], out->mean_bytes_eb = acc[13];
    }
    int scored = 0;
    if (!shard || dp_is_main()) {
        /* a failure here still reaches the others through the stats below */
        char *json = cJSON_PrintUnformatted(arr);
        if (!json) scored = hnd_error_set("out of memory");
        else if (o->results_path && af_write_text(o->results_path, json) != 0) scored = -1;
        else scored = score_results(e, json, masks, out);
        if (scored == 0 && sr_has_keypoints(h)) scored = score_keypoints(e, arr, out);
        free(json);
    }
    if (shard) {
        /* rank 0's stats (the others contribute zeros) and its verdict */
        double st[35] = {0};
        if (dp_is_main()) {
            memcpy(st, out->bbox, sizeof out->bbox);
            memcpy(st + 12, out->segm, sizeof out->segm);
            memcpy(st + 24, out->kp, sizeof out->kp);
            st[34] = scored != 0;
        }
        if (dp_sum(st, 35) != 0) goto done;
        if (st[34] != 0 && scored == 0) {
            hnd_error_set("evaluation failed on rank 0");
            goto done;
        }
        memcpy(out->bbox, st, sizeof out->bbox);
        memcpy(out->segm, st + 12, sizeof out->segm);
        memcpy(out->kp, st + 24, sizeof out->kp);
    }
    if (scored != 0) goto done;
    out->has_segm = masks;
    out->has_kp = sr_has_keypoints(h);
    if (out->images > 0) out->mean_jpeg_bytes /= (double)out->images;
    if (sr_is_student(h) && out->images > 0) {
        double k = (double)out->images;
        out->has_bottleneck = 1;
        out->channels = sr_channels(h);
        out->mean_h /= k;
        out->mean_w /= k;
        out->mean_numel /= k;
        out->mean_bytes_f32 /= k;
        out->mean_bytes_q8 /= k;
        out->mean_bytes_rans /= k;
        out->mean_bytes_zstd /= k;
        out->mean_bytes_eb /= k;
        out->mean_input_numel /= k;
        out->ratio_f32 /= k;
        out->ratio_q8 /= k;
    }
    out->seconds = mono_now_s() - t0;
    rc = 0;
done:
    prg_end(bar);
    ct_grad_set_enabled(prev);
    sr_set_training(h, was_training);
    cJSON_Delete(arr);
    ld_destroy(ld);
    return rc;
}
