/* roi_heads.c: see roi_heads.h. */
#include "roi_heads.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_detection.h"
#include "hnd_error.h"
#include "init.h"

struct rh_heads {
    rcnn_box_config cfg;
    bc_coder coder;
    ct_tensor *fc6_w, *fc6_b, *fc7_w, *fc7_b, *cls_w, *cls_b, *box_w, *box_b;
};

/* ------------------------------------------------------- MultiScaleRoIAlign */

/* torchvision's _infer_scale: 2 ** round(log2(feat/img)), the log in float32. */
static double infer_scale(int64_t feat, int64_t img) {
    float approx = (float)((double)feat / (double)img);
    float lg = nearbyintf(log2f(approx));
    return pow(2.0, (double)lg);
}

ct_tensor *rh_multiscale_roi_align(const ct_tensor *const *features, int n,
                                   const ct_tensor *const *boxes, int num_images,
                                   const int64_t (*image_sizes)[2], int64_t output_size,
                                   int sampling_ratio, int canonical_scale, int canonical_level,
                                   ct_tensor **levels_out) {
    if (levels_out) *levels_out = NULL;
    if (!features || !boxes || !image_sizes || n <= 0 || n > RCNN_MAX_LEVELS || num_images <= 0) {
        hnd_error_set("multiscale roi_align: bad arguments");
        return NULL;
    }
    int64_t max_h = 0, max_w = 0;
    for (int i = 0; i < num_images; i++) {
        if (image_sizes[i][0] > max_h) max_h = image_sizes[i][0];
        if (image_sizes[i][1] > max_w) max_w = image_sizes[i][1];
    }
    double scales[RCNN_MAX_LEVELS];
    for (int l = 0; l < n; l++) {
        if (!features[l]) {
            hnd_error_set("multiscale roi_align: feature map %d is NULL", l);
            return NULL;
        }
        scales[l] = infer_scale(ct_size(features[l], 2), max_h);
    }
    /* lvl_min/max = -log2(float32(scale)), truncated by int() */
    const int k_min = (int)(-log2f((float)scales[0])), k_max = (int)(-log2f((float)scales[n - 1]));
    ct_tensor *res = NULL;
    ct_scope_begin();
    ct_tensor *rois_l[64], *boxes_l[64];
    const ct_tensor **rl = (const ct_tensor **)rois_l, **bl = (const ct_tensor **)boxes_l;
    ct_tensor **rv = rois_l, **bv = boxes_l;
    if (num_images > 64) {
        rv = malloc(sizeof(ct_tensor *) * (size_t)num_images);
        bv = malloc(sizeof(ct_tensor *) * (size_t)num_images);
        rl = (const ct_tensor **)rv;
        bl = (const ct_tensor **)bv;
        if (!rv || !bv) {
            hnd_error_set("multiscale roi_align: out of memory");
            goto done;
        }
    }
    for (int i = 0; i < num_images; i++) {
        bv[i] = (ct_tensor *)boxes[i];
        int64_t k = ct_size(boxes[i], 0);
        int64_t s1[2] = {k, 1};
        ct_tensor *ids = ct_full(s1, 2, (double)i, ct_dtype_of(boxes[i]), ct_device_of(boxes[i]));
        const ct_tensor *pair[2] = {ids, boxes[i]};
        rv[i] = ct_cat(pair, 2, 1);
    }
    ct_tensor *rois = ct_cat(rl, num_images, 0);
    ct_tensor *all = ct_cat(bl, num_images, 0);
    if (!rois || !all) {
        hnd_error_set("multiscale roi_align: boxes: %s", ct_last_error());
        goto done;
    }
    ct_tensor *lv;
    if (n == 1) {
        int64_t k = ct_size(all, 0);
        lv = ct_zeros(&k, 1, CT_I64, ct_device_of(all));
    } else {
        /* LevelMapper */
        ct_tensor *s = ct_sqrt(ct_box_area(all));
        ct_tensor *t = ct_add_scalar(ct_add_scalar(ct_log2(ct_div_scalar(s, canonical_scale)),
                                                   canonical_level),
                                     1e-6);
        t = ct_clamp(ct_floor(t), k_min, k_max);
        lv = ct_to_dtype(ct_sub_scalar(t, k_min), CT_I64);
    }
    ct_tensor *y = ct_roi_align_multilevel(features, n, rois, lv, scales, output_size, output_size,
                                           sampling_ratio, 0);
    if (!y) {
        char d[96] = "";
        ct_tensor_describe(features[0], d, sizeof d);
        hnd_error_set("multiscale roi_align: features[0] %s, %lld boxes: %s", d,
                      (long long)ct_size(all, 0), ct_last_error());
        goto done;
    }
    res = ct_scope_keep(y);
    if (levels_out) *levels_out = ct_scope_keep(lv);
done:
    if (rv != rois_l) free(rv);
    if (bv != boxes_l) free(bv);
    ct_scope_end();
    return res;
}

/* ------------------------------------------------------------------- heads */

static ct_tensor *reg(mp_params *p, const char *prefix, const char *name, int64_t a, int64_t b) {
    char full[256];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    int64_t shape[2] = {a, b};
    ct_tensor *t = mp_params_add(p, full, MP_PARAM, shape, b > 0 ? 2 : 1);
    if (t) ct_set_requires_grad(t, 1);
    return t;
}

rh_heads *rh_new(mp_params *p, const char *prefix, const rcnn_box_config *cfg, int64_t C) {
    if (!p || !cfg || C <= 0 || cfg->num_classes < 2 || cfg->roi_output_size <= 0 ||
        cfg->representation_size <= 0) {
        hnd_error_set("roi_heads: bad arguments (num_classes %d, roi_output_size %d)",
                      cfg ? cfg->num_classes : 0, cfg ? cfg->roi_output_size : 0);
        return NULL;
    }
    if (!prefix) prefix = "";
    rh_heads *h = calloc(1, sizeof *h);
    if (!h) {
        hnd_error_set("roi_heads: out of memory");
        return NULL;
    }
    h->cfg = *cfg;
    bc_init(&h->coder, cfg->bbox_reg_weights[0], cfg->bbox_reg_weights[1], cfg->bbox_reg_weights[2],
            cfg->bbox_reg_weights[3]);
    const int64_t R = cfg->representation_size, K = cfg->num_classes;
    const int64_t in = C * cfg->roi_output_size * cfg->roi_output_size;
    if (!(h->fc6_w = reg(p, prefix, "box_head.fc6.weight", R, in)) ||
        !(h->fc6_b = reg(p, prefix, "box_head.fc6.bias", R, 0)) ||
        !(h->fc7_w = reg(p, prefix, "box_head.fc7.weight", R, R)) ||
        !(h->fc7_b = reg(p, prefix, "box_head.fc7.bias", R, 0)) ||
        !(h->cls_w = reg(p, prefix, "box_predictor.cls_score.weight", K, R)) ||
        !(h->cls_b = reg(p, prefix, "box_predictor.cls_score.bias", K, 0)) ||
        !(h->box_w = reg(p, prefix, "box_predictor.bbox_pred.weight", 4 * K, R)) ||
        !(h->box_b = reg(p, prefix, "box_predictor.bbox_pred.bias", 4 * K, 0))) {
        hnd_error_prefix("roi_heads");
        free(h);
        return NULL;
    }
    return h;
}

int rh_init(rh_heads *h) {
    /* TwoMLPHead and FastRCNNPredictor keep nn.Linear's default */
    if (ini_linear(h->fc6_w, h->fc6_b) != 0 || ini_linear(h->fc7_w, h->fc7_b) != 0 ||
        ini_linear(h->cls_w, h->cls_b) != 0 || ini_linear(h->box_w, h->box_b) != 0)
        return hnd_error_prefix("roi_heads");
    return 0;
}

void rh_destroy(rh_heads *h) { free(h); }
void rh_set_score_thresh(rh_heads *h, double t) {
    if (h) h->cfg.score_thresh = t;
}

int rh_box_forward(rh_heads *h, const ct_tensor *const *features, int n,
                   const ct_tensor *const *proposals, int num_images,
                   const int64_t (*image_sizes)[2], ct_tensor **class_logits,
                   ct_tensor **box_regression) {
    if (!h || !class_logits || !box_regression) return hnd_error_set("roi_heads: NULL argument");
    *class_logits = *box_regression = NULL;
    int rc = -1;
    ct_scope_begin();
    ct_tensor *x = rh_multiscale_roi_align(features, n, proposals, num_images, image_sizes,
                                           h->cfg.roi_output_size, h->cfg.sampling_ratio,
                                           h->cfg.canonical_scale, h->cfg.canonical_level, NULL);
    if (!x) {
        hnd_error_prefix("roi_heads: box_roi_pool");
        goto done;
    }
    x = ct_flatten(x, 1, -1);
    x = ct_linear(x, h->fc6_w, h->fc6_b);
    if (x) ct_relu_(x);
    x = ct_linear(x, h->fc7_w, h->fc7_b);
    if (x) ct_relu_(x);
    ct_tensor *cl = ct_linear(x, h->cls_w, h->cls_b), *br = ct_linear(x, h->box_w, h->box_b);
    if (!cl || !br) {
        hnd_error_set("roi_heads: box head: %s", ct_last_error());
        goto done;
    }
    *class_logits = ct_scope_keep(cl);
    *box_regression = ct_scope_keep(br);
    rc = 0;
done:
    ct_scope_end();
    return rc;
}

int rh_detections_alloc(rh_detections *d, int n) {
    memset(d, 0, sizeof *d);
    d->boxes = calloc((size_t)n, sizeof(ct_tensor *));
    d->scores = calloc((size_t)n, sizeof(ct_tensor *));
    d->labels = calloc((size_t)n, sizeof(ct_tensor *));
    d->masks = calloc((size_t)n, sizeof(ct_tensor *));
    d->keypoints = calloc((size_t)n, sizeof(ct_tensor *));
    d->keypoint_scores = calloc((size_t)n, sizeof(ct_tensor *));
    if (!d->boxes || !d->scores || !d->labels || !d->masks || !d->keypoints || !d->keypoint_scores) {
        free(d->boxes);
        free(d->scores);
        free(d->labels);
        free(d->masks);
        free(d->keypoints);
        free(d->keypoint_scores);
        memset(d, 0, sizeof *d);
        return hnd_error_set("roi_heads: out of memory");
    }
    d->num_images = n;
    return 0;
}

void rh_detections_clear(rh_detections *d) {
    if (!d) return;
    for (int i = 0; i < d->num_images; i++) {
        ct_destroy(d->boxes[i]);
        ct_destroy(d->scores[i]);
        ct_destroy(d->labels[i]);
        ct_destroy(d->masks[i]);
        if (d->keypoints) ct_destroy(d->keypoints[i]);
        if (d->keypoint_scores) ct_destroy(d->keypoint_scores[i]);
    }
    free(d->boxes);
    free(d->scores);
    free(d->labels);
    free(d->masks);
    free(d->keypoints);
    free(d->keypoint_scores);
    memset(d, 0, sizeof *d);
}

int rh_postprocess(rh_heads *h, const ct_tensor *class_logits, const ct_tensor *box_regression,
                   const ct_tensor *const *proposals, int num_images,
                   const int64_t (*image_sizes)[2], rh_detections *out) {
    if (!h || !class_logits || !box_regression || !proposals || !out || num_images <= 0)
        return hnd_error_set("roi_heads postprocess: bad arguments");
    if (rh_detections_alloc(out, num_images) != 0) return -1;
    int rc = -1;
    ct_scope_begin();
    const int64_t K = ct_size(class_logits, 1);
    ct_tensor *props = ct_cat(proposals, num_images, 0);
    ct_tensor *pred = bc_decode(&h->coder, box_regression, props);   /* [R,K,4] */
    ct_tensor *scores_all = ct_softmax(class_logits, -1);            /* [R,K] */
    if (!pred || !scores_all) {
        hnd_error_set("roi_heads postprocess: %s", pred ? ct_last_error() : hnd_error());
        goto done;
    }
    ct_tensor *labels_row = ct_arange(0, (double)K, 1, CT_I64, ct_device_of(class_logits));
    int64_t off = 0;
    for (int i = 0; i < num_images; i++) {
        int64_t r = ct_size(proposals[i], 0);
        ct_tensor *boxes = ct_narrow(pred, 0, off, r), *scores = ct_narrow(scores_all, 0, off, r);
        off += r;
        boxes = ct_clip_boxes_to_image(boxes, image_sizes[i][0], image_sizes[i][1]);
        int64_t sRK[2] = {r, K}, s4[2] = {-1, 4}, s1 = -1;
        ct_tensor *labels = ct_expand(ct_view(labels_row, (int64_t[2]){1, K}, 2), sRK, 2);
        boxes = ct_reshape(ct_narrow(boxes, 1, 1, K - 1), s4, 2);
        scores = ct_reshape(ct_narrow(scores, 1, 1, K - 1), &s1, 1);
        labels = ct_reshape(ct_narrow(labels, 1, 1, K - 1), &s1, 1);
        ct_tensor *keep = ct_flatten(ct_nonzero(ct_gt_scalar(scores, h->cfg.score_thresh)), 0, -1);
        boxes = ct_index_select(boxes, 0, keep);
        scores = ct_index_select(scores, 0, keep);
        labels = ct_index_select(labels, 0, keep);
        keep = ct_remove_small_boxes(boxes, 1e-2);
        boxes = ct_index_select(boxes, 0, keep);
        scores = ct_index_select(scores, 0, keep);
        labels = ct_index_select(labels, 0, keep);
        keep = ct_batched_nms(boxes, scores, labels, h->cfg.nms_thresh);
        if (!keep) {
            hnd_error_set("roi_heads postprocess: image %d: %s", i, ct_last_error());
            goto done;
        }
        int64_t nk = ct_numel(keep), top = h->cfg.detections_per_img;
        keep = ct_narrow(keep, 0, 0, nk < top ? nk : top);
        out->boxes[i] = ct_index_select(boxes, 0, keep);
        out->scores[i] = ct_index_select(scores, 0, keep);
        out->labels[i] = ct_index_select(labels, 0, keep);
        if (!out->boxes[i] || !out->scores[i] || !out->labels[i]) {
            hnd_error_set("roi_heads postprocess: image %d: %s", i, ct_last_error());
            goto done;
        }
    }
    rc = 0;
done:
    if (rc == 0)
        for (int i = 0; i < num_images; i++) {
            ct_scope_keep(out->boxes[i]);
            ct_scope_keep(out->scores[i]);
            ct_scope_keep(out->labels[i]);
        }
    ct_scope_end();
    if (rc != 0) {
        for (int i = 0; i < num_images; i++) out->boxes[i] = out->scores[i] = out->labels[i] = NULL;
        rh_detections_clear(out);
    }
    return rc;
}

int rh_forward(rh_heads *h, const ct_tensor *const *features, int n,
               const ct_tensor *const *proposals, int num_images,
               const int64_t (*image_sizes)[2], rh_detections *out) {
    ct_tensor *cl, *br;
    if (rh_box_forward(h, features, n, proposals, num_images, image_sizes, &cl, &br) != 0) {
        memset(out, 0, sizeof *out);
        return -1;
    }
    int rc = rh_postprocess(h, cl, br, proposals, num_images, image_sizes, out);
    ct_destroy(cl);
    ct_destroy(br);
    return rc;
}
