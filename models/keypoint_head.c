/* keypoint_head.c: see keypoint_head.h. */
#include "keypoint_head.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"
#include "init.h"

#define KH_MAX_CONVS 16

struct kh_head {
    rcnn_keypoint_config cfg;
    int canonical_scale, canonical_level;
    ct_tensor *conv_w[KH_MAX_CONVS], *conv_b[KH_MAX_CONVS];
    ct_tensor *up_w, *up_b;
};

static ct_tensor *reg(mp_params *p, const char *name, const int64_t *shape, int ndim) {
    ct_tensor *t = mp_params_add(p, name, MP_PARAM, shape, ndim);
    if (t) ct_set_requires_grad(t, 1);
    return t;
}

kh_head *kh_new(mp_params *p, const char *prefix, const rcnn_keypoint_config *cfg, int64_t C,
                const rcnn_box_config *box_cfg) {
    if (!p || !cfg || !box_cfg || C <= 0 || cfg->num_convs < 1 || cfg->num_convs > KH_MAX_CONVS ||
        cfg->conv_channels <= 0 || cfg->roi_output_size <= 0 || cfg->num_keypoints < 1) {
        hnd_error_set("keypoint head: bad arguments (num_convs %d, want 1..%d; num_keypoints %d)",
                      cfg ? cfg->num_convs : 0, KH_MAX_CONVS, cfg ? cfg->num_keypoints : 0);
        return NULL;
    }
    if (!prefix) prefix = "";
    kh_head *k = calloc(1, sizeof *k);
    if (!k) {
        hnd_error_set("keypoint head: out of memory");
        return NULL;
    }
    k->cfg = *cfg;
    k->canonical_scale = box_cfg->canonical_scale;
    k->canonical_level = box_cfg->canonical_level;
    const int64_t D = cfg->conv_channels;
    char name[256];
    int64_t in = C;
    for (int i = 0; i < cfg->num_convs; i++) {
        /* nn.Sequential(conv, ReLU, conv, ReLU, ...): the convs are 0, 2, 4... */
        int64_t sw[4] = {D, in, 3, 3}, sb[1] = {D};
        snprintf(name, sizeof name, "%skeypoint_head.%d.weight", prefix, 2 * i);
        if (!(k->conv_w[i] = reg(p, name, sw, 4))) goto fail;
        snprintf(name, sizeof name, "%skeypoint_head.%d.bias", prefix, 2 * i);
        if (!(k->conv_b[i] = reg(p, name, sb, 1))) goto fail;
        in = D;
    }
    /* ConvTranspose2d weight: [in, out, kh, kw] */
    int64_t su[4] = {D, cfg->num_keypoints, 4, 4}, sb[1] = {cfg->num_keypoints};
    snprintf(name, sizeof name, "%skeypoint_predictor.kps_score_lowres.weight", prefix);
    if (!(k->up_w = reg(p, name, su, 4))) goto fail;
    snprintf(name, sizeof name, "%skeypoint_predictor.kps_score_lowres.bias", prefix);
    if (!(k->up_b = reg(p, name, sb, 1))) goto fail;
    return k;
fail:
    hnd_error_prefix("keypoint head");
    free(k);
    return NULL;
}

int kh_init(kh_head *k) {
    for (int i = 0; i < k->cfg.num_convs; i++)
        if (ini_kaiming_normal_fan_out(k->conv_w[i]) != 0 || ini_zero(k->conv_b[i]) != 0)
            return hnd_error_prefix("keypoint head");
    if (ini_kaiming_normal_fan_out(k->up_w) != 0 || ini_zero(k->up_b) != 0)
        return hnd_error_prefix("keypoint head");
    return 0;
}

void kh_destroy(kh_head *k) { free(k); }

ct_tensor *kh_logits(kh_head *k, const ct_tensor *const *features, int n, const ct_tensor *const *boxes,
                     int num_images, const int64_t (*image_sizes)[2]) {
    if (!k) {
        hnd_error_set("keypoint head: NULL argument");
        return NULL;
    }
    ct_tensor *res = NULL;
    ct_scope_begin();
    ct_tensor *x = rh_multiscale_roi_align(features, n, boxes, num_images, image_sizes, k->cfg.roi_output_size,
                                           k->cfg.sampling_ratio, k->canonical_scale, k->canonical_level, NULL);
    if (!x) {
        hnd_error_prefix("keypoint head: keypoint_roi_pool");
        goto done;
    }
    const int64_t one[2] = {1, 1}, zero[2] = {0, 0}, two[2] = {2, 2};
    for (int i = 0; i < k->cfg.num_convs && x; i++) {
        x = ct_conv2d(x, k->conv_w[i], k->conv_b[i], one, one, one, 1);
        if (x) ct_relu_(x);
    }
    /* kernel 4, stride 2, padding 4/2 - 1 = 1: 14 -> 28, then x2 -> 56 */
    x = x ? ct_conv_transpose2d(x, k->up_w, k->up_b, two, one, zero, 1, one) : NULL;
    x = x ? ct_interpolate(x, CT_INTERP_BILINEAR, 0, 0, 2.0, 2.0, 0, 0) : NULL;
    if (!x) {
        hnd_error_set("keypoint head: %s", ct_last_error());
        goto done;
    }
    res = ct_scope_keep(x);
done:
    ct_scope_end();
    return res;
}

int kh_heatmaps_to_keypoints(const ct_tensor *maps, const ct_tensor *rois, ct_tensor **keypoints,
                             ct_tensor **scores) {
    if (!keypoints || !scores) return hnd_error_set("heatmaps_to_keypoints: NULL output");
    *keypoints = *scores = NULL;
    if (!maps || !rois || ct_ndim(maps) != 4 || ct_ndim(rois) != 2 || ct_size(rois, 1) != 4 ||
        ct_size(maps, 0) != ct_size(rois, 0)) {
        char dm[96] = "", dr[96] = "";
        if (maps) ct_tensor_describe(maps, dm, sizeof dm);
        if (rois) ct_tensor_describe(rois, dr, sizeof dr);
        return hnd_error_set("heatmaps_to_keypoints: maps %s vs rois %s (want [R,K,M,M] and [R,4])", dm, dr);
    }
    const int64_t R = ct_size(maps, 0), K = ct_size(maps, 1);
    float *box = malloc(sizeof(float) * (size_t)(4 * R + 1));
    float *xy = malloc(sizeof(float) * (size_t)(3 * R * K + 1));
    int64_t *pos = malloc(sizeof(int64_t) * (size_t)(K + 1));
    int rc = -1;
    ct_scope_begin();
    ct_tensor *sc_all = NULL;
    if (!box || !xy || !pos) {
        hnd_error_set("heatmaps_to_keypoints: out of memory");
        goto done;
    }
    ct_tensor *rf = ct_contiguous(ct_to_dtype(rois, CT_F32));
    if (!rf || ct_to_buffer(rf, box, sizeof(float) * (size_t)(4 * R)) != 0) {
        hnd_error_set("heatmaps_to_keypoints: rois: %s", ct_last_error());
        goto done;
    }
    ct_tensor **sc = calloc((size_t)(R + 1), sizeof *sc);
    if (!sc) {
        hnd_error_set("heatmaps_to_keypoints: out of memory");
        goto done;
    }
    int ok = 1;
    for (int64_t i = 0; i < R && ok; i++) {
        /* float32 as torchvision: widths/heights clamped to 1, ceil'ed sizes */
        float w = box[4 * i + 2] - box[4 * i + 0], h = box[4 * i + 3] - box[4 * i + 1];
        if (w < 1.0f) w = 1.0f;
        if (h < 1.0f) h = 1.0f;
        const int64_t rw = (int64_t)ceilf(w), rh = (int64_t)ceilf(h);
        const float wc = w / (float)rw, hc = h / (float)rh;
        ct_tensor *m = ct_unsqueeze(ct_select(maps, 0, i), 1);   /* [K,1,M,M] */
        ct_tensor *up = m ? ct_interpolate(m, CT_INTERP_BICUBIC, rh, rw, 0, 0, 0, 0) : NULL;
        int64_t flat[2] = {K, rh * rw};
        ct_tensor *f = up ? ct_reshape(up, flat, 2) : NULL;
        ct_tensor *p = f ? ct_argmax(f, 1, 0) : NULL;
        ct_tensor *s = p ? ct_gather(f, 1, ct_unsqueeze(p, 1)) : NULL;
        ct_tensor *ph = s ? ct_contiguous(ct_to_device(p, ct_cpu())) : NULL;
        if (!ph || ct_to_buffer(ph, pos, sizeof(int64_t) * (size_t)K) != 0) {
            hnd_error_set("heatmaps_to_keypoints: box %lld (%gx%g): %s", (long long)i, (double)w, (double)h,
                          ct_last_error());
            ok = 0;
            break;
        }
        sc[i] = ct_flatten(s, 0, -1);
        for (int64_t j = 0; j < K; j++) {
            const int64_t xi = pos[j] % rw, yi = (pos[j] - xi) / rw;
            /* (x_int.float() + 0.5) * width_correction, then + offset: float32 steps */
            const float xs = ((float)xi + 0.5f) * wc, ys = ((float)yi + 0.5f) * hc;
            float *o = xy + 3 * (i * K + j);
            o[0] = xs + box[4 * i + 0];
            o[1] = ys + box[4 * i + 1];
            o[2] = 1.0f;
        }
    }
    if (ok) {
        int64_t sk[3] = {R, K, 3}, ss[2] = {R, K};
        ct_tensor *kp = ct_from_buffer(xy, CT_F32, 3, sk);
        if (kp && ct_device_of(maps).type != CT_CPU) kp = ct_to_device(kp, ct_device_of(maps));
        sc_all = R > 0 ? ct_cat((const ct_tensor *const *)sc, (int)R, 0)
                       : ct_zeros(ss, 2, CT_F32, ct_device_of(maps));
        if (sc_all && R > 0) sc_all = ct_reshape(ct_to_dtype(sc_all, CT_F32), ss, 2);
        if (!kp || !sc_all) {
            hnd_error_set("heatmaps_to_keypoints: %s", ct_last_error());
        } else {
            *keypoints = ct_scope_keep(kp);
            *scores = ct_scope_keep(sc_all);
            rc = 0;
        }
    }
    free(sc);
done:
    ct_scope_end();
    free(box);
    free(xy);
    free(pos);
    return rc;
}

int kh_forward(kh_head *k, const ct_tensor *const *features, int n, rh_detections *dets,
               const int64_t (*image_sizes)[2]) {
    if (!k || !dets) return hnd_error_set("keypoint head: NULL argument");
    int rc = -1;
    const int N = dets->num_images;
    ct_scope_begin();
    ct_tensor *logits = kh_logits(k, features, n, (const ct_tensor *const *)dets->boxes, N, image_sizes);
    if (!logits) goto done;
    int64_t off = 0;
    for (int i = 0; i < N; i++) {
        int64_t r = ct_size(dets->boxes[i], 0);
        ct_tensor *kp = NULL, *sc = NULL;
        if (kh_heatmaps_to_keypoints(ct_narrow(logits, 0, off, r), dets->boxes[i], &kp, &sc) != 0) {
            hnd_error_prefix("keypoint head: image %d", i);
            goto done;
        }
        off += r;
        ct_destroy(dets->keypoints[i]);
        ct_destroy(dets->keypoint_scores[i]);
        dets->keypoints[i] = ct_scope_keep(kp);
        dets->keypoint_scores[i] = ct_scope_keep(sc);
    }
    rc = 0;
done:
    ct_scope_end();
    return rc;
}
