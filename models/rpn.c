/* rpn.c: see rpn.h. */
#include "rpn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_detection.h"
#include "hnd_error.h"
#include "init.h"

struct rpn_net {
    rcnn_rpn_config cfg;
    an_generator anchors;
    bc_coder coder;
    int training;
    int64_t A;
    ct_tensor *conv_w, *conv_b, *cls_w, *cls_b, *box_w, *box_b;
};

static ct_tensor *reg(mp_params *p, const char *prefix, const char *name, const int64_t *shape,
                      int ndim) {
    char full[256];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    ct_tensor *t = mp_params_add(p, full, MP_PARAM, shape, ndim);
    if (t) ct_set_requires_grad(t, 1);
    return t;
}

rpn_net *rpn_new(mp_params *p, const char *prefix, const rcnn_rpn_config *cfg,
                 const rcnn_anchor_config *acfg, int64_t C) {
    if (!p || !cfg || !acfg || C <= 0) {
        hnd_error_set("rpn: bad arguments");
        return NULL;
    }
    if (!prefix) prefix = "";
    rpn_net *r = calloc(1, sizeof *r);
    if (!r) {
        hnd_error_set("rpn: out of memory");
        return NULL;
    }
    r->cfg = *cfg;
    if (an_init(&r->anchors, acfg) != 0) {
        hnd_error_prefix("rpn");
        free(r);
        return NULL;
    }
    bc_init(&r->coder, 1.0, 1.0, 1.0, 1.0);
    const int64_t A = r->anchors.num_anchors;
    r->A = A;
    int64_t s_conv[4] = {C, C, 3, 3}, s_c[1] = {C}, s_cls[4] = {A, C, 1, 1}, s_a[1] = {A},
            s_box[4] = {4 * A, C, 1, 1}, s_4a[1] = {4 * A};
    r->conv_w = reg(p, prefix, "head.conv.0.0.weight", s_conv, 4);
    r->conv_b = r->conv_w ? reg(p, prefix, "head.conv.0.0.bias", s_c, 1) : NULL;
    r->cls_w = r->conv_b ? reg(p, prefix, "head.cls_logits.weight", s_cls, 4) : NULL;
    r->cls_b = r->cls_w ? reg(p, prefix, "head.cls_logits.bias", s_a, 1) : NULL;
    r->box_w = r->cls_b ? reg(p, prefix, "head.bbox_pred.weight", s_box, 4) : NULL;
    r->box_b = r->box_w ? reg(p, prefix, "head.bbox_pred.bias", s_4a, 1) : NULL;
    if (!r->box_b) {
        hnd_error_prefix("rpn");
        free(r);
        return NULL;
    }
    /* torchvision < 0.13 layout (RPNHead version 1) */
    char o[256], n[256];
    const char *sfx[2] = {"weight", "bias"};
    for (int i = 0; i < 2; i++) {
        snprintf(o, sizeof o, "%shead.conv.%s", prefix, sfx[i]);
        snprintf(n, sizeof n, "%shead.conv.0.0.%s", prefix, sfx[i]);
        if (mp_params_alias(p, o, n) != 0) {
            free(r);
            return NULL;
        }
    }
    return r;
}

int rpn_init(rpn_net *r) {
    /* torchvision's RPNHead: N(0, 0.01) weights, zero biases */
    ct_tensor *w[3] = {r->conv_w, r->cls_w, r->box_w}, *b[3] = {r->conv_b, r->cls_b, r->box_b};
    for (int i = 0; i < 3; i++)
        if (ini_normal(w[i], 0.01) != 0 || ini_zero(b[i]) != 0) return hnd_error_prefix("rpn");
    return 0;
}

void rpn_destroy(rpn_net *r) { free(r); }

void rpn_set_training(rpn_net *r, int training) {
    if (r) r->training = training != 0;
}

static int rpn_fail(const char *what) {
    return hnd_error_set("rpn: %s: %s", what, ct_last_error());
}

int rpn_head_forward(rpn_net *r, const ct_tensor *const *features, int n, ct_tensor **logits,
                     ct_tensor **deltas) {
    if (!r || !features || !logits || !deltas || n <= 0) return hnd_error_set("rpn head: bad arguments");
    for (int l = 0; l < n; l++) logits[l] = deltas[l] = NULL;
    const int64_t one[2] = {1, 1}, zero[2] = {0, 0};
    int rc = 0;
    ct_scope_begin();
    for (int l = 0; l < n && rc == 0; l++) {
        ct_tensor *t = ct_conv2d(features[l], r->conv_w, r->conv_b, one, one, one, 1);
        if (!t || ct_relu_(t) != 0) {
            char d[96] = "";
            if (features[l]) ct_tensor_describe(features[l], d, sizeof d);
            rc = hnd_error_set("rpn head: level %d, features %s: %s", l, d, ct_last_error());
            break;
        }
        logits[l] = ct_conv2d(t, r->cls_w, r->cls_b, one, zero, one, 1);
        deltas[l] = ct_conv2d(t, r->box_w, r->box_b, one, zero, one, 1);
        if (!logits[l] || !deltas[l]) rc = rpn_fail("head 1x1 convolutions");
    }
    for (int l = 0; l < n; l++) {
        if (rc == 0) {
            ct_scope_keep(logits[l]);
            ct_scope_keep(deltas[l]);
        } else {
            logits[l] = deltas[l] = NULL;
        }
    }
    ct_scope_end();
    return rc;
}

void rpn_output_clear(rpn_output *o) {
    if (!o) return;
    for (int i = 0; i < o->num_images; i++) {
        if (o->boxes) ct_destroy(o->boxes[i]);
        if (o->scores) ct_destroy(o->scores[i]);
    }
    free(o->boxes);
    free(o->scores);
    ct_destroy(o->anchors);
    ct_destroy(o->objectness);
    ct_destroy(o->deltas);
    memset(o, 0, sizeof *o);
}

/* [N, A*C, H, W] -> [N, H*W*A, C] (permute_and_flatten) */
static ct_tensor *flat_level(const ct_tensor *x, int64_t N, int64_t A, int64_t C) {
    int64_t H = ct_size(x, 2), W = ct_size(x, 3);
    int64_t s5[5] = {N, A, C, H, W}, perm[5] = {0, 3, 4, 1, 2}, s3[3] = {N, -1, C};
    return ct_reshape(ct_permute(ct_view(x, s5, 5), perm, 5), s3, 3);
}

int rpn_forward(rpn_net *r, const rt_image_list *images, const ct_tensor *const *features, int n,
                rpn_output *out) {
    if (!r || !images || !features || !out || n <= 0 || n > RCNN_MAX_LEVELS)
        return hnd_error_set("rpn: bad arguments");
    memset(out, 0, sizeof *out);
    const int N = images->n;
    const int64_t A = r->A;
    int rc = -1;
    out->boxes = calloc((size_t)N, sizeof(ct_tensor *));
    out->scores = calloc((size_t)N, sizeof(ct_tensor *));
    if (!out->boxes || !out->scores) {
        free(out->boxes);
        free(out->scores);
        memset(out, 0, sizeof *out);
        return hnd_error_set("rpn: out of memory");
    }
    out->num_images = N;
    out->num_levels = n;
    ct_scope_begin();
    ct_tensor *logits[RCNN_MAX_LEVELS], *deltas[RCNN_MAX_LEVELS];
    if (rpn_head_forward(r, features, n, logits, deltas) != 0) goto done;
    ct_tensor *ob[RCNN_MAX_LEVELS], *de[RCNN_MAX_LEVELS];
    int64_t grid[RCNN_MAX_LEVELS][2];
    for (int l = 0; l < n; l++) {
        grid[l][0] = ct_size(logits[l], 2);
        grid[l][1] = ct_size(logits[l], 3);
        ob[l] = flat_level(logits[l], N, A, 1);
        de[l] = flat_level(deltas[l], N, A, 4);
        if (!ob[l] || !de[l]) {
            rpn_fail("flattening the head outputs");
            goto done;
        }
    }
    int64_t s2[2] = {-1, 4};
    ct_tensor *obj = ct_flatten(ct_cat((const ct_tensor *const *)ob, n, 1), 0, -2); /* [N*T,1] */
    ct_tensor *del = ct_reshape(ct_cat((const ct_tensor *const *)de, n, 1), s2, 2);  /* [N*T,4] */
    if (!obj || !del) {
        rpn_fail("concatenating levels");
        goto done;
    }
    int64_t img_hw[2] = {ct_size(images->tensors, 2), ct_size(images->tensors, 3)};
    ct_tensor *anchors = an_grid_anchors(&r->anchors, img_hw, (const int64_t(*)[2])grid, n,
                                         ct_device_of(features[0]), out->anchors_per_level);
    if (!anchors) {
        hnd_error_prefix("rpn");
        goto done;
    }
    const int64_t T = ct_size(anchors, 0);
    int64_t rep[2] = {N, 1};
    ct_tensor *props = bc_decode(&r->coder, ct_detach(del), ct_repeat(anchors, rep, 2));
    if (!props) {
        hnd_error_prefix("rpn");
        goto done;
    }
    int64_t sNT4[3] = {N, T, 4}, sNT[2] = {N, T};
    props = ct_view(props, sNT4, 3);
    ct_tensor *objd = ct_reshape(ct_detach(obj), sNT, 2);
    /* top-n per level */
    const int64_t pre = r->training ? r->cfg.pre_nms_top_n_train : r->cfg.pre_nms_top_n_test;
    const int64_t post = r->training ? r->cfg.post_nms_top_n_train : r->cfg.post_nms_top_n_test;
    ct_tensor *top[RCNN_MAX_LEVELS], *lv[RCNN_MAX_LEVELS];
    int64_t off = 0;
    for (int l = 0; l < n; l++) {
        int64_t nl = out->anchors_per_level[l], k = nl < pre ? nl : pre;
        ct_tensor *idx = NULL;
        if (ct_topk(ct_narrow(objd, 1, off, nl), k, 1, 1, 1, NULL, &idx) != 0) {
            rpn_fail("top-n");
            goto done;
        }
        /* int64 + a Python-int-like offset stays int64 (a double scalar would promote) */
        top[l] = ct_add(idx, ct_scalar_tensor((double)off, CT_I64, ct_device_of(idx)));
        lv[l] = ct_full(&k, 1, (double)l, CT_I64, ct_device_of(objd));
        off += nl;
    }
    ct_tensor *top_idx = ct_cat((const ct_tensor *const *)top, n, 1);   /* [N,K] */
    ct_tensor *levels = ct_cat((const ct_tensor *const *)lv, n, 0);     /* [K] */
    ct_tensor *prob = ct_sigmoid(ct_gather(objd, 1, top_idx));          /* [N,K] */
    if (!top_idx || !levels || !prob) {
        rpn_fail("gathering the top-n");
        goto done;
    }
    for (int i = 0; i < N; i++) {
        ct_tensor *ti = ct_select(top_idx, 0, i);
        ct_tensor *boxes = ct_index_select(ct_select(props, 0, i), 0, ti);
        ct_tensor *scores = ct_select(prob, 0, i), *lvl = levels;
        boxes = ct_clip_boxes_to_image(boxes, images->sizes[i][0], images->sizes[i][1]);
        ct_tensor *keep = ct_remove_small_boxes(boxes, r->cfg.min_size);
        boxes = ct_index_select(boxes, 0, keep);
        scores = ct_index_select(scores, 0, keep);
        lvl = ct_index_select(lvl, 0, keep);
        keep = ct_flatten(ct_nonzero(ct_ge_scalar(scores, r->cfg.score_thresh)), 0, -1);
        boxes = ct_index_select(boxes, 0, keep);
        scores = ct_index_select(scores, 0, keep);
        lvl = ct_index_select(lvl, 0, keep);
        keep = ct_batched_nms(boxes, scores, lvl, r->cfg.nms_thresh);
        if (!keep) {
            rpn_fail("filtering proposals");
            goto done;
        }
        int64_t nk = ct_numel(keep);
        keep = ct_narrow(keep, 0, 0, nk < post ? nk : post);
        out->boxes[i] = ct_index_select(boxes, 0, keep);
        out->scores[i] = ct_index_select(scores, 0, keep);
        if (!out->boxes[i] || !out->scores[i]) {
            rpn_fail("filtering proposals");
            goto done;
        }
    }
    out->anchors = anchors;
    out->objectness = obj;
    out->deltas = del;
    rc = 0;
done:
    if (rc == 0) {
        for (int i = 0; i < N; i++) {
            ct_scope_keep(out->boxes[i]);
            ct_scope_keep(out->scores[i]);
        }
        ct_scope_keep(out->anchors);
        ct_scope_keep(out->objectness);
        ct_scope_keep(out->deltas);
    }
    ct_scope_end();
    if (rc != 0) {
        /* handles were freed with the scope */
        for (int i = 0; i < N; i++) out->boxes[i] = out->scores[i] = NULL;
        out->anchors = out->objectness = out->deltas = NULL;
        rpn_output_clear(out);
    }
    return rc;
}
