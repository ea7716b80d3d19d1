/* mask_head.c: see mask_head.h. */
#include "mask_head.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"
#include "init.h"

#define MH_MAX_CONVS 8

struct mh_head {
    rcnn_mask_config cfg;
    int canonical_scale, canonical_level;
    int num_convs;
    ct_tensor *conv_w[MH_MAX_CONVS], *conv_b[MH_MAX_CONVS];
    ct_tensor *up_w, *up_b, *logit_w, *logit_b;
};

static ct_tensor *reg(mp_params *p, const char *name, const int64_t *shape, int ndim) {
    ct_tensor *t = mp_params_add(p, name, MP_PARAM, shape, ndim);
    if (t) ct_set_requires_grad(t, 1);
    return t;
}

mh_head *mh_new(mp_params *p, const char *prefix, const rcnn_mask_config *cfg, int num_classes,
                int64_t C, const rcnn_box_config *box_cfg) {
    if (!p || !cfg || !box_cfg || C <= 0 || num_classes < 2 || cfg->num_convs < 1 ||
        cfg->num_convs > MH_MAX_CONVS || cfg->conv_channels <= 0 || cfg->roi_output_size <= 0) {
        hnd_error_set("mask head: bad arguments (num_convs %d, want 1..%d)", cfg ? cfg->num_convs : 0,
                      MH_MAX_CONVS);
        return NULL;
    }
    if (!prefix) prefix = "";
    mh_head *m = calloc(1, sizeof *m);
    if (!m) {
        hnd_error_set("mask head: out of memory");
        return NULL;
    }
    m->cfg = *cfg;
    m->canonical_scale = box_cfg->canonical_scale;
    m->canonical_level = box_cfg->canonical_level;
    m->num_convs = cfg->num_convs;
    const int64_t D = cfg->conv_channels;
    char name[256], old[256];
    const char *sfx[2] = {"weight", "bias"};
    int64_t in = C;
    for (int i = 0; i < cfg->num_convs; i++) {
        int64_t sw[4] = {D, in, 3, 3}, sb[1] = {D};
        snprintf(name, sizeof name, "%smask_head.%d.0.weight", prefix, i);
        if (!(m->conv_w[i] = reg(p, name, sw, 4))) goto fail;
        snprintf(name, sizeof name, "%smask_head.%d.0.bias", prefix, i);
        if (!(m->conv_b[i] = reg(p, name, sb, 1))) goto fail;
        for (int s = 0; s < 2; s++) {   /* MaskRCNNHeads version 1 names */
            snprintf(old, sizeof old, "%smask_head.mask_fcn%d.%s", prefix, i + 1, sfx[s]);
            snprintf(name, sizeof name, "%smask_head.%d.0.%s", prefix, i, sfx[s]);
            if (mp_params_alias(p, old, name) != 0) goto fail;
        }
        in = D;
    }
    int64_t su[4] = {D, D, 2, 2}, sd[1] = {D}, sl[4] = {num_classes, D, 1, 1}, sk[1] = {num_classes};
    snprintf(name, sizeof name, "%smask_predictor.conv5_mask.weight", prefix);
    if (!(m->up_w = reg(p, name, su, 4))) goto fail;
    snprintf(name, sizeof name, "%smask_predictor.conv5_mask.bias", prefix);
    if (!(m->up_b = reg(p, name, sd, 1))) goto fail;
    snprintf(name, sizeof name, "%smask_predictor.mask_fcn_logits.weight", prefix);
    if (!(m->logit_w = reg(p, name, sl, 4))) goto fail;
    snprintf(name, sizeof name, "%smask_predictor.mask_fcn_logits.bias", prefix);
    if (!(m->logit_b = reg(p, name, sk, 1))) goto fail;
    return m;
fail:
    hnd_error_prefix("mask head");
    free(m);
    return NULL;
}

int mh_init(mh_head *m) {
    /* MaskRCNNHeads and MaskRCNNPredictor: kaiming_normal (fan_out, relu),
     * zero biases */
    for (int i = 0; i < m->num_convs; i++)
        if (ini_kaiming_normal_fan_out(m->conv_w[i]) != 0 || ini_zero(m->conv_b[i]) != 0) return -1;
    if (ini_kaiming_normal_fan_out(m->up_w) != 0 || ini_zero(m->up_b) != 0 ||
        ini_kaiming_normal_fan_out(m->logit_w) != 0 || ini_zero(m->logit_b) != 0)
        return hnd_error_prefix("mask head");
    return 0;
}

void mh_destroy(mh_head *m) { free(m); }

ct_tensor *mh_logits(mh_head *m, const ct_tensor *const *features, int n,
                     const ct_tensor *const *boxes, int num_images, const int64_t (*image_sizes)[2]) {
    if (!m) {
        hnd_error_set("mask head: NULL argument");
        return NULL;
    }
    ct_tensor *res = NULL;
    ct_scope_begin();
    ct_tensor *x = rh_multiscale_roi_align(features, n, boxes, num_images, image_sizes,
                                           m->cfg.roi_output_size, m->cfg.sampling_ratio,
                                           m->canonical_scale, m->canonical_level, NULL);
    if (!x) {
        hnd_error_prefix("mask head: mask_roi_pool");
        goto done;
    }
    const int64_t dl = m->cfg.dilation > 0 ? m->cfg.dilation : 1;
    const int64_t one[2] = {1, 1}, zero[2] = {0, 0}, two[2] = {2, 2}, pad[2] = {dl, dl},
                  dil[2] = {dl, dl};
    for (int i = 0; i < m->num_convs && x; i++) {
        x = ct_conv2d(x, m->conv_w[i], m->conv_b[i], one, pad, dil, 1);
        if (x) ct_relu_(x);
    }
    x = ct_conv_transpose2d(x, m->up_w, m->up_b, two, zero, zero, 1, one);
    if (x) ct_relu_(x);
    x = ct_conv2d(x, m->logit_w, m->logit_b, one, zero, one, 1);
    if (!x) {
        hnd_error_set("mask head: %s", ct_last_error());
        goto done;
    }
    res = ct_scope_keep(x);
done:
    ct_scope_end();
    return res;
}

int mh_forward(mh_head *m, const ct_tensor *const *features, int n, rh_detections *dets,
               const int64_t (*image_sizes)[2]) {
    if (!m || !dets) return hnd_error_set("mask head: NULL argument");
    int rc = -1;
    const int N = dets->num_images;
    ct_scope_begin();
    ct_tensor *logits = mh_logits(m, features, n, (const ct_tensor *const *)dets->boxes, N, image_sizes);
    if (!logits) goto done;
    ct_tensor *prob = ct_sigmoid(logits);
    ct_tensor *labels = ct_cat((const ct_tensor *const *)dets->labels, N, 0);
    int64_t R = ct_size(prob, 0);
    ct_tensor *idx[2] = {ct_arange(0, (double)R, 1, CT_I64, ct_device_of(prob)), labels};
    ct_tensor *sel = ct_unsqueeze(ct_index(prob, (const ct_tensor *const *)idx, 2), 1);
    if (!sel) {
        hnd_error_set("mask head: selecting the label channels: %s", ct_last_error());
        goto done;
    }
    int64_t off = 0;
    for (int i = 0; i < N; i++) {
        int64_t k = ct_size(dets->boxes[i], 0);
        ct_destroy(dets->masks[i]);
        dets->masks[i] = ct_scope_keep(ct_narrow(sel, 0, off, k));
        off += k;
    }
    rc = 0;
done:
    ct_scope_end();
    return rc;
}

ct_tensor *mh_paste_masks(const ct_tensor *masks, const ct_tensor *boxes, int64_t im_h, int64_t im_w) {
    if (!masks || !boxes || im_h <= 0 || im_w <= 0) {
        hnd_error_set("paste masks: bad arguments");
        return NULL;
    }
    const int64_t K = ct_size(masks, 0), M = ct_size(masks, -1);
    if (ct_ndim(masks) != 4 || ct_size(masks, 1) != 1 || ct_size(boxes, 0) != K) {
        char dm[96] = "", db[96] = "";
        ct_tensor_describe(masks, dm, sizeof dm);
        ct_tensor_describe(boxes, db, sizeof db);
        hnd_error_set("paste masks: masks %s vs boxes %s (want [K,1,M,M] and [K,4])", dm, db);
        return NULL;
    }
    ct_tensor *res = NULL;
    int64_t *bi = NULL;
    ct_scope_begin();
    int64_t so[4] = {K, 1, im_h, im_w}, sp[4] = {K, 1, M + 2, M + 2};
    ct_tensor *out = ct_zeros(so, 4, ct_dtype_of(masks), ct_device_of(masks));
    if (!out) goto fail;
    if (K == 0) {
        res = ct_scope_keep(out);
        goto done;
    }
    /* expand_masks (padding 1) and expand_boxes */
    ct_tensor *padded = ct_zeros(sp, 4, ct_dtype_of(masks), ct_device_of(masks));
    if (!padded || ct_copy_(ct_narrow(ct_narrow(padded, 2, 1, M), 3, 1, M), masks) != 0) goto fail;
    const double scale = (double)(M + 2) / (double)M;
    ct_tensor *x0 = ct_select(boxes, 1, 0), *y0 = ct_select(boxes, 1, 1);
    ct_tensor *x1 = ct_select(boxes, 1, 2), *y1 = ct_select(boxes, 1, 3);
    ct_tensor *w_half = ct_mul_scalar(ct_mul_scalar(ct_sub(x1, x0), 0.5), scale);
    ct_tensor *h_half = ct_mul_scalar(ct_mul_scalar(ct_sub(y1, y0), 0.5), scale);
    ct_tensor *xc = ct_mul_scalar(ct_add(x1, x0), 0.5), *yc = ct_mul_scalar(ct_add(y1, y0), 0.5);
    const ct_tensor *e[4] = {ct_sub(xc, w_half), ct_sub(yc, h_half), ct_add(xc, w_half),
                             ct_add(yc, h_half)};
    ct_tensor *eb = ct_to_dtype(ct_stack(e, 4, 1), CT_I64);
    bi = malloc(sizeof(int64_t) * 4 * (size_t)K);
    if (!eb || !bi || ct_to_buffer(eb, bi, sizeof(int64_t) * 4 * (size_t)K) != 0) goto fail;
    for (int64_t k = 0; k < K; k++) {
        const int64_t *b = bi + 4 * k;
        int64_t w = b[2] - b[0] + 1, h = b[3] - b[1] + 1;
        if (w < 1) w = 1;
        if (h < 1) h = 1;
        int64_t xa = b[0] > 0 ? b[0] : 0, xb = b[2] + 1 < im_w ? b[2] + 1 : im_w;
        int64_t ya = b[1] > 0 ? b[1] : 0, yb = b[3] + 1 < im_h ? b[3] + 1 : im_h;
        if (xb <= xa || yb <= ya) continue;
        ct_scope_begin();
        ct_tensor *m = ct_interpolate(ct_narrow(padded, 0, k, 1), CT_INTERP_BILINEAR, h, w, 0, 0, 0, 0);
        ct_tensor *src = ct_narrow(ct_narrow(m, 2, ya - b[1], yb - ya), 3, xa - b[0], xb - xa);
        ct_tensor *dst = ct_narrow(ct_narrow(ct_narrow(out, 0, k, 1), 2, ya, yb - ya), 3, xa, xb - xa);
        int ok = src && dst && ct_copy_(dst, src) == 0;
        ct_scope_end();
        if (!ok) goto fail;
    }
    res = ct_scope_keep(out);
    goto done;
fail:
    hnd_error_set("paste masks: %lld masks into %lldx%lld: %s", (long long)K, (long long)im_h,
                  (long long)im_w, ct_last_error());
done:
    free(bi);
    ct_scope_end();
    return res;
}
