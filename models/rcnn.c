/* rcnn.c: see rcnn.h. */
#include "rcnn.h"

#include <stdlib.h>
#include <string.h>

#include "ct_detection.h"
#include "hnd_error.h"
#include "mono_clock.h"

struct rcnn_model {
    rcnn_config cfg;
    mp_params *params;
    bb_backbone *backbone;
    rpn_net *rpn;
    rh_heads *roi;
    mh_head *mask;
    kh_head *keypoint;
};

rcnn_model *rcnn_new_ex(const rcnn_config *cfg, int build_layer1) {
    if (!cfg) {
        hnd_error_set("rcnn: NULL config");
        return NULL;
    }
    rcnn_model *m = calloc(1, sizeof *m);
    if (!m || !(m->params = mp_params_new())) {
        free(m);
        hnd_error_set("rcnn: out of memory");
        return NULL;
    }
    m->cfg = *cfg;
    if (!(m->backbone = bb_new(m->params, &cfg->backbone, build_layer1))) goto fail;
    int64_t C = bb_out_channels(m->backbone);
    if (!(m->rpn = rpn_new(m->params, "rpn.", &cfg->rpn, &cfg->anchors, C))) goto fail;
    if (!(m->roi = rh_new(m->params, "roi_heads.", &cfg->box, C))) goto fail;
    if (cfg->mask.enabled &&
        !(m->mask = mh_new(m->params, "roi_heads.", &cfg->mask, cfg->box.num_classes, C, &cfg->box)))
        goto fail;
    if (cfg->keypoint.enabled &&
        !(m->keypoint = kh_new(m->params, "roi_heads.", &cfg->keypoint, C, &cfg->box)))
        goto fail;
    return m;
fail:
    hnd_error_prefix("rcnn %s", cfg->arch);
    rcnn_destroy(m);
    return NULL;
}

rcnn_model *rcnn_new(const rcnn_config *cfg) { return rcnn_new_ex(cfg, 1); }

int rcnn_init(rcnn_model *m, uint64_t seed) {
    ct_manual_seed(seed);
    /* registry order (body, FPN, RPN, box head, mask head): the draws of
     * one seed do not depend on how the modules are called */
    if (bb_init(m->backbone) != 0 || rpn_init(m->rpn) != 0 || rh_init(m->roi) != 0 ||
        (m->mask && mh_init(m->mask) != 0) || (m->keypoint && kh_init(m->keypoint) != 0))
        return hnd_error_prefix("initialising %s", m->cfg.arch);
    return 0;
}

void rcnn_destroy(rcnn_model *m) {
    if (!m) return;
    bb_destroy(m->backbone);
    rpn_destroy(m->rpn);
    rh_destroy(m->roi);
    mh_destroy(m->mask);
    kh_destroy(m->keypoint);
    mp_params_destroy(m->params);
    free(m);
}

int rcnn_load(rcnn_model *m, const char *path, int strict) {
    if (!m || !path) return hnd_error_set("rcnn: NULL argument");
    int n = mp_params_load(m->params, path, strict, NULL, NULL);
    if (n < 0) hnd_error_prefix("rcnn %s", m->cfg.arch);
    return n;
}

int rcnn_to_device(rcnn_model *m, ct_device dev) {
    if (!m) return hnd_error_set("rcnn: NULL model");
    for (int i = 0; i < mp_params_count(m->params); i++)
        if (ct_move_to_device_(mp_params_tensor(m->params, i), dev) != 0)
            return hnd_error_set("rcnn: moving %s to the device: %s", mp_params_name(m->params, i),
                                 ct_last_error());
    return 0;
}

const rcnn_config *rcnn_get_config(const rcnn_model *m) { return m ? &m->cfg : NULL; }
int rcnn_has_masks(const rcnn_model *m) { return m && m->mask; }
mp_params *rcnn_params(rcnn_model *m) { return m ? m->params : NULL; }
bb_backbone *rcnn_backbone(rcnn_model *m) { return m ? m->backbone : NULL; }
rh_heads *rcnn_roi_heads(rcnn_model *m) { return m ? m->roi : NULL; }
mh_head *rcnn_mask_head(rcnn_model *m) { return m ? m->mask : NULL; }
int rcnn_has_keypoints(const rcnn_model *m) { return m && m->keypoint; }
kh_head *rcnn_keypoint_head(rcnn_model *m) { return m ? m->keypoint : NULL; }

void rcnn_set_score_thresh(rcnn_model *m, double t) {
    if (!m) return;
    m->cfg.box.score_thresh = t;
    rh_set_score_thresh(m->roi, t);
}

void rcnn_set_training(rcnn_model *m, int training) {
    if (!m) return;
    bb_set_training(m->backbone, training);
    rpn_set_training(m->rpn, training);
}

void rcnn_detections_clear(rcnn_detections *d) {
    if (!d) return;
    ct_destroy(d->boxes);
    ct_destroy(d->scores);
    ct_destroy(d->labels);
    ct_destroy(d->masks);
    ct_destroy(d->keypoints);
    ct_destroy(d->keypoint_scores);
    memset(d, 0, sizeof *d);
}

int rcnn_transform_images(rcnn_model *m, const ct_tensor *const *images, int n, rt_image_list *out) {
    if (!m) return hnd_error_set("rcnn: NULL model");
    return rt_transform(&m->cfg.transform, images, n, NULL, NULL, 0, out);
}

int rcnn_backbone_forward(rcnn_model *m, const rt_image_list *l, ct_tensor *features[BB_NUM_FEATURES]) {
    if (!m || !l) return hnd_error_set("rcnn: NULL argument");
    return bb_forward(m->backbone, l->tensors, features);
}

int rcnn_rpn_forward(rcnn_model *m, const rt_image_list *l, ct_tensor *const features[BB_NUM_FEATURES],
                     rpn_output *out) {
    if (!m || !l || !features) return hnd_error_set("rcnn: NULL argument");
    return rpn_forward(m->rpn, l, (const ct_tensor *const *)features, BB_NUM_FEATURES, out);
}

int rcnn_roi_heads_forward(rcnn_model *m, const rt_image_list *l,
                           ct_tensor *const features[BB_NUM_FEATURES], const rpn_output *proposals,
                           rh_detections *out) {
    if (!m || !l || !features || !proposals || !out) return hnd_error_set("rcnn: NULL argument");
    /* box_roi_pool and mask_roi_pool use the maps "0".."3", not "pool" */
    const ct_tensor *const *f = (const ct_tensor *const *)features;
    const int64_t(*sizes)[2] = (const int64_t(*)[2])l->sizes;
    if (rh_forward(m->roi, f, 4, (const ct_tensor *const *)proposals->boxes, l->n, sizes, out) != 0)
        return -1;
    if ((m->mask && mh_forward(m->mask, f, 4, out, sizes) != 0) ||
        (m->keypoint && kh_forward(m->keypoint, f, 4, out, sizes) != 0)) {
        rh_detections_clear(out);
        return -1;
    }
    return 0;
}

int rcnn_postprocess(rcnn_model *m, const rt_image_list *l, const rh_detections *d,
                     rcnn_detections *out) {
    if (!m || !l || !d || !out) return hnd_error_set("rcnn: NULL argument");
    for (int i = 0; i < l->n; i++) memset(&out[i], 0, sizeof out[i]);
    for (int i = 0; i < l->n; i++) {
        out[i].boxes = rt_resize_boxes(d->boxes[i], l->sizes[i], l->orig_sizes[i]);
        out[i].scores = ct_share(d->scores[i]);
        out[i].labels = ct_share(d->labels[i]);
        if (!out[i].boxes || !out[i].scores || !out[i].labels) {
            hnd_error_prefix("rcnn postprocess: image %d", i);
            goto fail;
        }
        if (m->mask && d->masks && d->masks[i]) {
            out[i].masks = mh_paste_masks(d->masks[i], out[i].boxes, l->orig_sizes[i][0],
                                          l->orig_sizes[i][1]);
            if (!out[i].masks) {
                hnd_error_prefix("rcnn postprocess: image %d", i);
                goto fail;
            }
        }
        if (m->keypoint && d->keypoints && d->keypoints[i]) {
            out[i].keypoints = rt_resize_keypoints(d->keypoints[i], l->sizes[i], l->orig_sizes[i]);
            out[i].keypoint_scores = ct_share(d->keypoint_scores[i]);
            if (!out[i].keypoints || !out[i].keypoint_scores) {
                hnd_error_prefix("rcnn postprocess: image %d: keypoints", i);
                goto fail;
            }
        }
    }
    return 0;
fail:
    for (int i = 0; i < l->n; i++) rcnn_detections_clear(&out[i]);
    return -1;
}

static double now_ms(void) { return 1e3 * mono_now_s(); }

/* Shared body of rcnn_detect / rcnn_detect_from_features. */
static int detect_tail(rcnn_model *m, const rt_image_list *l, ct_tensor *const features[BB_NUM_FEATURES],
                       rcnn_detections *out, double *times, ct_device dev) {
    rpn_output props;
    rh_detections dets;
    double t0 = now_ms();
    if (rcnn_rpn_forward(m, l, features, &props) != 0) return -1;
    if (times) {
        ct_device_synchronize(dev);
        times[RCNN_T_RPN] = now_ms() - t0;
        t0 = now_ms();
    }
    int rc = rcnn_roi_heads_forward(m, l, features, &props, &dets);
    rpn_output_clear(&props);
    if (rc != 0) return -1;
    if (times) {
        ct_device_synchronize(dev);
        times[RCNN_T_ROI_HEADS] = now_ms() - t0;
        t0 = now_ms();
    }
    rc = rcnn_postprocess(m, l, &dets, out);
    rh_detections_clear(&dets);
    if (times) {
        ct_device_synchronize(dev);
        times[RCNN_T_POSTPROCESS] = now_ms() - t0;
    }
    return rc;
}

int rcnn_detect_from_features(rcnn_model *m, const rt_image_list *l,
                              ct_tensor *const features[BB_NUM_FEATURES], rcnn_detections *out) {
    if (!m || !l || !features || !out) return hnd_error_set("rcnn: NULL argument");
    int prev = ct_grad_set_enabled(0);
    int rc = detect_tail(m, l, features, out, NULL, ct_device_of(l->tensors));
    ct_grad_set_enabled(prev);
    return rc;
}

int rcnn_detect(rcnn_model *m, const ct_tensor *const *images, int n, rcnn_detections *out,
                double times_ms[RCNN_T_COUNT]) {
    if (!m || !images || n <= 0 || !out) return hnd_error_set("rcnn detect: bad arguments");
    for (int i = 0; i < n; i++) memset(&out[i], 0, sizeof out[i]);
    int prev = ct_grad_set_enabled(0);
    ct_device dev = ct_device_of(images[0]);
    int rc = -1;
    rt_image_list l;
    memset(&l, 0, sizeof l);
    ct_tensor *features[BB_NUM_FEATURES] = {0};
    double t0 = now_ms();
    ct_scope_begin();
    if (rcnn_transform_images(m, images, n, &l) != 0) goto done;
    if (times_ms) {
        ct_device_synchronize(dev);
        times_ms[RCNN_T_TRANSFORM] = now_ms() - t0;
        t0 = now_ms();
    }
    if (rcnn_backbone_forward(m, &l, features) != 0) goto done;
    if (times_ms) {
        ct_device_synchronize(dev);
        times_ms[RCNN_T_BACKBONE] = now_ms() - t0;
    }
    if (detect_tail(m, &l, features, out, times_ms, dev) != 0) goto done;
    for (int i = 0; i < n; i++) {
        ct_scope_keep(out[i].boxes);
        ct_scope_keep(out[i].scores);
        ct_scope_keep(out[i].labels);
        ct_scope_keep(out[i].masks);
        ct_scope_keep(out[i].keypoints);
        ct_scope_keep(out[i].keypoint_scores);
    }
    rc = 0;
done:
    if (rc != 0) hnd_error_prefix("rcnn %s", m->cfg.arch);
    rt_image_list_clear(&l);
    ct_scope_end();
    if (rc != 0)
        for (int i = 0; i < n; i++) memset(&out[i], 0, sizeof out[i]);
    ct_grad_set_enabled(prev);
    return rc;
}
