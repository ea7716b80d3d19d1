/* rcnn_loss_keypoint.c: Keypoint R-CNN's keypointrcnn_loss (rcnn_loss.h),
 * op for op as torchvision 0.14's roi_heads.py so that the float32 results
 * (the floor of each scaled coordinate above all) are the same. */
#include "rcnn_loss.h"

#include <stdio.h>
#include <stdlib.h>

#include "hnd_error.h"

static const char *kdesc(const ct_tensor *t, char *buf, size_t n) {
    if (!t || ct_tensor_describe(t, buf, n) < 0) snprintf(buf, n, "NULL");
    return buf;
}

int rl_keypoints_to_heatmap(const ct_tensor *keypoints, const ct_tensor *rois, int64_t S, ct_tensor **heatmaps,
                            ct_tensor **valid) {
    if (!heatmaps || !valid) return hnd_error_set("keypoints_to_heatmap: NULL output");
    *heatmaps = *valid = NULL;
    char d1[96], d2[96];
    if (!keypoints || !rois || ct_ndim(keypoints) != 3 || ct_size(keypoints, 2) != 3 || ct_ndim(rois) != 2 ||
        ct_size(rois, 1) != 4 || ct_size(rois, 0) != ct_size(keypoints, 0) || S <= 0)
        return hnd_error_set("keypoints_to_heatmap: keypoints %s, rois %s (want [R,K,3] and [R,4])",
                             kdesc(keypoints, d1, sizeof d1), kdesc(rois, d2, sizeof d2));
    int rc = -1;
    ct_scope_begin();
    ct_tensor *x1 = ct_unsqueeze(ct_select(rois, 1, 0), 1), *y1 = ct_unsqueeze(ct_select(rois, 1, 1), 1);
    ct_tensor *x2 = ct_unsqueeze(ct_select(rois, 1, 2), 1), *y2 = ct_unsqueeze(ct_select(rois, 1, 3), 1);
    /* heatmap_size / t is t.reciprocal() * heatmap_size in Python (the
     * reciprocal an IEEE division, as 1 / t) */
    ct_tensor *w = ct_sub(x2, x1), *hh = ct_sub(y2, y1);
    ct_tensor *sx = w ? ct_mul_scalar(ct_div(ct_ones_like(w), w), (double)S) : NULL;
    ct_tensor *sy = hh ? ct_mul_scalar(ct_div(ct_ones_like(hh), hh), (double)S) : NULL;
    ct_tensor *kx = ct_select(keypoints, 2, 0), *ky = ct_select(keypoints, 2, 1);
    ct_tensor *bx = ct_eq(kx, x2), *by = ct_eq(ky, y2);   /* on the right/bottom edge */
    ct_tensor *x = ct_to_dtype(ct_floor(ct_mul(ct_sub(kx, x1), sx)), CT_I64);
    ct_tensor *y = ct_to_dtype(ct_floor(ct_mul(ct_sub(ky, y1), sy)), CT_I64);
    x = x && bx ? ct_masked_fill(x, bx, (double)(S - 1)) : NULL;
    y = y && by ? ct_masked_fill(y, by, (double)(S - 1)) : NULL;
    ct_tensor *vl = x && y ? ct_logical_and(ct_logical_and(ct_ge_scalar(x, 0), ct_ge_scalar(y, 0)),
                                            ct_logical_and(ct_lt_scalar(x, (double)S), ct_lt_scalar(y, (double)S)))
                           : NULL;
    ct_tensor *v = vl ? ct_to_dtype(ct_logical_and(vl, ct_gt_scalar(ct_select(keypoints, 2, 2), 0)), CT_I64) : NULL;
    /* y * S + x in int64 (a Python int times a long tensor stays long) */
    ct_tensor *h = v ? ct_mul(ct_add(ct_mul(y, ct_full_like(y, (double)S)), x), v) : NULL;
    if (!h) {
        hnd_error_set("keypoints_to_heatmap: keypoints %s, rois %s: %s", kdesc(keypoints, d1, sizeof d1),
                      kdesc(rois, d2, sizeof d2), ct_last_error());
        goto done;
    }
    *heatmaps = ct_scope_keep(h);
    *valid = ct_scope_keep(v);
    rc = 0;
done:
    ct_scope_end();
    return rc;
}

ct_tensor *rl_keypointrcnn_loss(const ct_tensor *kp_logits, const ct_tensor *const *proposals,
                                const ct_tensor *const *pos_matched_idxs, const rt_target *targets, int n) {
    return rl_keypointrcnn_loss_count(kp_logits, proposals, pos_matched_idxs, targets, n, NULL);
}

ct_tensor *rl_keypointrcnn_loss_count(const ct_tensor *kp_logits, const ct_tensor *const *proposals,
                                      const ct_tensor *const *pos_matched_idxs, const rt_target *targets, int n,
                                      double *count) {
    if (count) *count = 0;
    char d[96];
    if (!kp_logits || ct_ndim(kp_logits) != 4 || ct_size(kp_logits, 2) != ct_size(kp_logits, 3) || !proposals ||
        !pos_matched_idxs || !targets || n <= 0) {
        hnd_error_set("keypoint loss: bad arguments (keypoint_logits %s, want [R,K,S,S])",
                      kdesc(kp_logits, d, sizeof d));
        return NULL;
    }
    const int64_t R = ct_size(kp_logits, 0), K = ct_size(kp_logits, 1), S = ct_size(kp_logits, 2);
    ct_tensor *res = NULL;
    ct_scope_begin();
    ct_tensor **parts = calloc((size_t)(2 * n), sizeof(ct_tensor *));
    if (!parts) {
        hnd_error_set("keypoint loss: out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        const ct_tensor *gt = targets[i].keypoints;
        if (!gt || ct_ndim(gt) != 3 || ct_size(gt, 1) != K || ct_size(gt, 2) != 3) {
            hnd_error_set("keypoint loss: target %d: keypoints %s, want [G,%lld,3]", i, kdesc(gt, d, sizeof d),
                          (long long)K);
            goto done;
        }
        ct_tensor *kp = ct_index_select(gt, 0, pos_matched_idxs[i]);
        ct_tensor *h = NULL, *v = NULL;
        if (!kp) {
            hnd_error_set("keypoint loss: target %d: %s", i, ct_last_error());
            goto done;
        }
        if (rl_keypoints_to_heatmap(kp, proposals[i], S, &h, &v) != 0) {
            hnd_error_prefix("keypoint loss, image %d", i);
            goto done;
        }
        parts[i] = ct_flatten(h, 0, -1);
        parts[n + i] = ct_flatten(v, 0, -1);
    }
    ct_tensor *targets_all = ct_cat((const ct_tensor *const *)parts, n, 0);
    ct_tensor *valid_all = ct_cat((const ct_tensor *const *)(parts + n), n, 0);
    ct_tensor *vi = valid_all ? ct_flatten(ct_nonzero(valid_all), 0, -1) : NULL;
    if (!vi) {
        hnd_error_set("keypoint loss: %s", ct_last_error());
        goto done;
    }
    if (ct_numel(targets_all) != R * K) {
        hnd_error_set("keypoint loss: %lld keypoint logits for %lld positives x %lld keypoints",
                      (long long)R, (long long)(ct_numel(targets_all) / (K ? K : 1)), (long long)K);
        goto done;
    }
    ct_tensor *loss;
    if (ct_numel(targets_all) == 0 || ct_numel(vi) == 0) {
        loss = ct_mul_scalar(ct_sum(kp_logits), 0.0);   /* keypoint_logits.sum() * 0 */
    } else {
        int64_t flat[2] = {R * K, S * S};
        ct_tensor *lg = ct_index_select(ct_reshape(kp_logits, flat, 2), 0, vi);
        ct_tensor *tg = ct_index_select(targets_all, 0, vi);
        loss = lg && tg ? ct_cross_entropy(lg, tg, NULL, -100, CT_REDUCE_MEAN) : NULL;
        if (count) *count = (double)ct_numel(vi);
    }
    if (!loss) {
        hnd_error_set("keypoint loss: cross entropy: %s", ct_last_error());
        goto done;
    }
    res = ct_scope_keep(loss);
done:
    free(parts);
    ct_scope_end();
    return res;
}
