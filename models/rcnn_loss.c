/* rcnn_loss.c: see rcnn_loss.h. */
#include "rcnn_loss.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_detection.h"
#include "ct_loss_ops.h"
#include "hnd_error.h"
#include "splitmix.h"

/* A ct_ call failed: the message names what we were doing. */
static int ct_fail(const char *what) { return hnd_error_set("%s: %s", what, ct_last_error()); }

#define CK(expr, what)            \
    do {                          \
        if (!(expr)) {            \
            ct_fail(what);        \
            goto done;            \
        }                         \
    } while (0)

static const char *desc(const ct_tensor *t, char *buf, size_t n) {
    if (!t || ct_tensor_describe(t, buf, n) < 0) snprintf(buf, n, "NULL");
    return buf;
}

/* ------------------------------------------------------------------ Matcher */

ct_tensor *rl_match(const ct_tensor *q, double high, double low, int allow_low_quality) {
    char d[96];
    if (!q || ct_ndim(q) != 2) {
        hnd_error_set("matcher: quality must be [G,N], got %s", desc(q, d, sizeof d));
        return NULL;
    }
    if (!(low <= high)) {
        hnd_error_set("matcher: low threshold %g > high threshold %g", low, high);
        return NULL;
    }
    if (ct_size(q, 0) == 0) {
        hnd_error_set("matcher: no ground-truth boxes (quality %s)", desc(q, d, sizeof d));
        return NULL;
    }
    if (ct_size(q, 1) == 0) {
        hnd_error_set("matcher: no predictions to match (quality %s)", desc(q, d, sizeof d));
        return NULL;
    }
    ct_tensor *res = NULL;
    ct_scope_begin();
    ct_tensor *vals = NULL, *best = NULL;
    CK(ct_max_dim(q, 0, 0, &vals, &best) == 0, "matcher: max over ground truth");
    ct_tensor *below = ct_lt_scalar(vals, low);
    ct_tensor *between = ct_logical_and(ct_ge_scalar(vals, low), ct_lt_scalar(vals, high));
    ct_tensor *m = ct_masked_fill(best, below, RL_BELOW_LOW_THRESHOLD);
    m = m ? ct_masked_fill(m, between, RL_BETWEEN_THRESHOLDS) : NULL;
    CK(m, "matcher: thresholds");
    if (allow_low_quality) {
        /* the predictions tied for each GT's highest quality get their best GT back */
        ct_tensor *hq = NULL;
        CK(ct_max_dim(q, 1, 1, &hq, NULL) == 0, "matcher: highest quality per ground truth");
        ct_tensor *tied = ct_gt_scalar(ct_sum_dim(ct_eq(q, hq), 0, 0), 0);
        m = tied ? ct_where(tied, best, m) : NULL;
        CK(m, "matcher: low-quality matches");
    }
    res = ct_scope_keep(m);
done:
    ct_scope_end();
    return res;
}

/* ------------------------------------------------------------------ Sampler */

int rl_sample_balanced(const ct_tensor *labels, int batch_size_per_image, double positive_fraction,
                       ct_tensor **pos, ct_tensor **neg) {
    char d[96];
    if (!pos || !neg) return hnd_error_set("sampler: NULL output");
    *pos = *neg = NULL;
    if (!labels || ct_ndim(labels) != 1)
        return hnd_error_set("sampler: labels must be 1-D, got %s", desc(labels, d, sizeof d));
    if (batch_size_per_image < 0 || !(positive_fraction >= 0 && positive_fraction <= 1))
        return hnd_error_set("sampler: batch_size_per_image %d, positive_fraction %g",
                             batch_size_per_image, positive_fraction);
    int rc = -1;
    ct_scope_begin();
    ct_tensor *positive = ct_flatten(ct_nonzero(ct_ge_scalar(labels, 1)), 0, -1);
    ct_tensor *negative = ct_flatten(ct_nonzero(ct_eq_scalar(labels, 0)), 0, -1);
    CK(positive && negative, "sampler: positives and negatives");
    /* int(batch * fraction), as Python's int() of the float product */
    int64_t num_pos = (int64_t)((double)batch_size_per_image * positive_fraction);
    if (ct_numel(positive) < num_pos) num_pos = ct_numel(positive);
    int64_t num_neg = batch_size_per_image - num_pos;
    if (ct_numel(negative) < num_neg) num_neg = ct_numel(negative);
    ct_device dev = ct_device_of(labels);
    ct_tensor *perm1 = ct_randperm(ct_numel(positive), dev);
    ct_tensor *perm2 = perm1 ? ct_randperm(ct_numel(negative), dev) : NULL;
    CK(perm1 && perm2, "sampler: randperm");
    ct_tensor *p = ct_index_select(positive, 0, ct_narrow(perm1, 0, 0, num_pos));
    ct_tensor *n = ct_index_select(negative, 0, ct_narrow(perm2, 0, 0, num_neg));
    CK(p && n, "sampler: selecting");
    *pos = ct_scope_keep(p);
    *neg = ct_scope_keep(n);
    rc = 0;
done:
    ct_scope_end();
    return rc;
}

/* Runs the sampler of one image and turns its choice into torchvision's
 * form: uint8 masks [N] -> sorted indices of the positives and negatives
 * (new handles). Checks injected indices against the labels. */
static int sample_image(const rl_sampler *s, rl_stage stage, int image, const ct_tensor *labels,
                        const ct_tensor *boxes, int batch, double fraction, ct_tensor **pos_sorted,
                        ct_tensor **neg_sorted) {
    static const char *stage_name[2] = {"rpn", "roi_heads"};
    *pos_sorted = *neg_sorted = NULL;
    ct_tensor *p = NULL, *n = NULL;
    int rc;
    if (s && s->fn) {
        hnd_error_clear();
        rc = s->fn(s->ctx, stage, image, labels, boxes, batch, fraction, &p, &n);
        if (rc == 0 && (!p || !n)) rc = hnd_error_set("sampler returned no indices");
    } else {
        /* per-image seeds: the stage mixed in, so that the RPN's and the RoI
         * heads' draws of one image are not the same stream */
        if (s && s->image_seeds) ct_manual_seed(sm64_mix(s->image_seeds[image] ^ sm64_mix(0x5eed0000u + stage)));
        rc = rl_sample_balanced(labels, batch, fraction, &p, &n);
    }
    if (rc != 0) {
        ct_destroy(p);
        ct_destroy(n);
        return hnd_error_prefix("%s sampler, image %d", stage_name[stage], image);
    }
    rc = -1;
    ct_scope_begin();
    const int64_t N = ct_numel(labels);
    const ct_tensor *sets[2] = {p, n};
    ct_tensor *sorted[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++) {
        const ct_tensor *ix = sets[k];
        char d[96];
        if (ct_ndim(ix) != 1 || ct_dtype_of(ix) != CT_I64) {
            hnd_error_set("%s sampler, image %d: %s indices must be 1-D int64, got %s",
                          stage_name[stage], image, k ? "negative" : "positive", desc(ix, d, sizeof d));
            goto done;
        }
        if (ct_numel(ix) > 0) {
            int64_t lo = 0, hi = 0;
            if (ct_item_i64(ct_min(ix), &lo) != 0 || ct_item_i64(ct_max(ix), &hi) != 0) {
                ct_fail("sampler: index range");
                goto done;
            }
            if (lo < 0 || hi >= N) {
                hnd_error_set("%s sampler, image %d: %s index %lld outside [0, %lld)", stage_name[stage],
                              image, k ? "negative" : "positive", (long long)(lo < 0 ? lo : hi),
                              (long long)N);
                goto done;
            }
            ct_tensor *lab = ct_index_select(labels, 0, ix);
            ct_tensor *bad = k ? ct_ne_scalar(lab, 0) : ct_lt_scalar(lab, 1);
            ct_tensor *nb = bad ? ct_flatten(ct_nonzero(bad), 0, -1) : NULL;
            CK(nb, "sampler: checking labels");
            if (ct_numel(nb) > 0) {
                int64_t j = 0, at = 0;
                double v = 0;
                ct_item_i64(ct_select(nb, 0, 0), &j);
                ct_item_i64(ct_select(ix, 0, j), &at);
                ct_item_f64(ct_select(labels, 0, at), &v);
                hnd_error_set("%s sampler, image %d: %s index %lld has label %g", stage_name[stage],
                              image, k ? "negative" : "positive", (long long)at, v);
                goto done;
            }
        }
        ct_tensor *mask = ct_zeros(&N, 1, CT_U8, ct_device_of(labels));
        const ct_tensor *idx[1] = {ix};
        CK(mask && ct_index_put_(mask, idx, 1, ct_scalar_tensor(1, CT_U8, ct_device_of(labels)), 0) == 0,
           "sampler: mask");
        sorted[k] = ct_flatten(ct_nonzero(mask), 0, -1);
        CK(sorted[k], "sampler: sorted indices");
    }
    *pos_sorted = ct_scope_keep(sorted[0]);
    *neg_sorted = ct_scope_keep(sorted[1]);
    rc = 0;
done:
    ct_scope_end();
    ct_destroy(p);
    ct_destroy(n);
    return rc;
}

/* ---------------------------------------------------------------------- RPN */

static int check_boxes(const rt_target *t, int i, int need_labels) {
    char d[96];
    if (!t->boxes || ct_ndim(t->boxes) != 2 || ct_size(t->boxes, 1) != 4)
        return hnd_error_set("target %d: boxes must be [G,4], got %s", i, desc(t->boxes, d, sizeof d));
    if (need_labels) {
        if (!t->labels || ct_ndim(t->labels) != 1 || ct_dtype_of(t->labels) != CT_I64 ||
            ct_size(t->labels, 0) != ct_size(t->boxes, 0))
            return hnd_error_set("target %d: labels must be int64 [%lld], got %s", i,
                                 (long long)ct_size(t->boxes, 0), desc(t->labels, d, sizeof d));
    }
    return 0;
}

/* rl_rpn_loss, and *count (may be NULL): the anchors sampled over the batch
 * (the losses' denominator). */
static int rpn_loss(const rcnn_rpn_config *cfg, const rpn_output *rpn, const rt_target *targets, int n,
                    const rl_sampler *sampler, ct_tensor **loss_objectness, ct_tensor **loss_rpn_box_reg,
                    double *count) {
    if (count) *count = 0;
    if (!loss_objectness || !loss_rpn_box_reg) return hnd_error_set("rpn loss: NULL output");
    *loss_objectness = *loss_rpn_box_reg = NULL;
    if (!cfg || !rpn || !targets || n <= 0 || n != rpn->num_images || !rpn->anchors || !rpn->objectness ||
        !rpn->deltas)
        return hnd_error_set("rpn loss: bad arguments (%d targets, %d images)", n, rpn ? rpn->num_images : 0);
    for (int i = 0; i < n; i++)
        if (check_boxes(&targets[i], i, 0)) return hnd_error_prefix("rpn loss");
    int rc = -1;
    ct_scope_begin();
    const ct_tensor *anchors = rpn->anchors;
    const int64_t T = ct_size(anchors, 0);
    bc_coder coder;
    bc_init(&coder, 1.0, 1.0, 1.0, 1.0);
    ct_tensor **parts = calloc((size_t)(4 * n), sizeof(ct_tensor *));
    if (!parts) {
        hnd_error_set("rpn loss: out of memory");
        goto done;
    }
    ct_tensor **pos_g = parts, **neg_g = parts + n, **tgt = parts + 2 * n;
    for (int i = 0; i < n; i++) {
        const ct_tensor *gt = targets[i].boxes;
        ct_tensor *labels, *matched = NULL;
        if (ct_size(gt, 0) == 0) {   /* background image: every anchor negative */
            labels = ct_zeros(&T, 1, CT_F32, ct_device_of(anchors));
            CK(labels, "rpn loss: labels");
        } else {
            ct_tensor *gtf = ct_to_dtype(gt, (ct_dtype)ct_dtype_of(anchors));
            ct_tensor *iou = gtf ? ct_box_iou(gtf, anchors) : NULL;
            CK(iou, "rpn loss: anchor IoU");
            matched = rl_match(iou, cfg->fg_iou_thresh, cfg->bg_iou_thresh, 1);
            if (!matched) {
                hnd_error_prefix("rpn loss, image %d", i);
                goto done;
            }
            /* 1 matched, 0 below low, -1 between thresholds */
            ct_tensor *l = ct_to_dtype(ct_ge_scalar(matched, 0), CT_F32);
            labels = l ? ct_masked_fill(l, ct_eq_scalar(matched, RL_BETWEEN_THRESHOLDS), -1.0) : NULL;
            CK(labels, "rpn loss: labels");
        }
        ct_tensor *p, *q;
        if (sample_image(sampler, RL_STAGE_RPN, i, labels, anchors, cfg->batch_size_per_image,
                         cfg->positive_fraction, &p, &q) != 0)
            goto done;
        /* regression targets of the sampled positives (encode is elementwise:
         * the same values as torchvision's encode of every anchor) */
        if (ct_numel(p) > 0) {
            ct_tensor *mg = ct_index_select(ct_to_dtype(gt, (ct_dtype)ct_dtype_of(anchors)), 0,
                                            ct_index_select(matched, 0, p));
            CK(mg, "rpn loss: matched boxes");
            tgt[i] = bc_encode(&coder, mg, ct_index_select(anchors, 0, p));
            if (!tgt[i]) {
                hnd_error_prefix("rpn loss, image %d", i);
                goto done;
            }
        } else {
            int64_t s04[2] = {0, 4};
            tgt[i] = ct_zeros(s04, 2, (ct_dtype)ct_dtype_of(anchors), ct_device_of(anchors));
        }
        /* int64 + an int64 0-dim offset stays int64 (a double scalar would promote) */
        ct_tensor *off = ct_scalar_tensor((double)(i * T), CT_I64, ct_device_of(p));
        pos_g[i] = off ? ct_add(p, off) : NULL;
        neg_g[i] = off ? ct_add(q, off) : NULL;
        CK(tgt[i] && pos_g[i] && neg_g[i], "rpn loss: sampled indices");
    }
    ct_tensor *pos = ct_cat((const ct_tensor *const *)pos_g, n, 0);
    ct_tensor *neg = ct_cat((const ct_tensor *const *)neg_g, n, 0);
    ct_tensor *targets_pos = ct_cat((const ct_tensor *const *)tgt, n, 0);
    CK(pos && neg && targets_pos, "rpn loss: concatenating images");
    const ct_tensor *pn[2] = {pos, neg};
    ct_tensor *sampled = ct_cat(pn, 2, 0);
    const int64_t ns = ct_numel(sampled), np = ct_numel(pos);
    if (ns == 0) {
        hnd_error_set("rpn loss: no anchor sampled");
        goto done;
    }
    ct_tensor *box = ct_smooth_l1_loss(ct_index_select(rpn->deltas, 0, pos), targets_pos, 1.0 / 9,
                                       CT_REDUCE_SUM);
    box = box ? ct_div_scalar(box, (double)ns) : NULL;
    CK(box, "rpn loss: box regression");
    ct_tensor *obj = ct_index_select(ct_flatten(rpn->objectness, 0, -1), 0, sampled);
    ct_tensor *lab = NULL;
    if (obj) {
        int64_t one = np, zero = ns - np;
        const ct_tensor *lz[2] = {ct_ones(&one, 1, (ct_dtype)ct_dtype_of(obj), ct_device_of(obj)),
                                  ct_zeros(&zero, 1, (ct_dtype)ct_dtype_of(obj), ct_device_of(obj))};
        lab = ct_cat(lz, 2, 0);
    }
    ct_tensor *bce = lab ? ct_bce_with_logits(obj, lab, NULL, NULL, CT_REDUCE_MEAN) : NULL;
    CK(bce, "rpn loss: objectness");
    *loss_objectness = ct_scope_keep(bce);
    *loss_rpn_box_reg = ct_scope_keep(box);
    if (count) *count = (double)ns;
    rc = 0;
done:
    free(parts);
    ct_scope_end();
    return rc;
}

/* ---------------------------------------------------------------- RoI heads */

int rl_rpn_loss(const rcnn_rpn_config *cfg, const rpn_output *rpn, const rt_target *targets, int n,
                const rl_sampler *sampler, ct_tensor **loss_objectness, ct_tensor **loss_rpn_box_reg) {
    return rpn_loss(cfg, rpn, targets, n, sampler, loss_objectness, loss_rpn_box_reg, NULL);
}

void rl_roi_samples_clear(rl_roi_samples *s) {
    if (!s) return;
    for (int i = 0; i < s->num_images; i++) {
        if (s->proposals) ct_destroy(s->proposals[i]);
        if (s->labels) ct_destroy(s->labels[i]);
        if (s->matched_idxs) ct_destroy(s->matched_idxs[i]);
        if (s->regression_targets) ct_destroy(s->regression_targets[i]);
    }
    free(s->proposals);
    free(s->labels);
    free(s->matched_idxs);
    free(s->regression_targets);
    memset(s, 0, sizeof *s);
}

int rl_select_training_samples(const rcnn_box_config *cfg, const ct_tensor *const *proposals,
                               const rt_target *targets, int n, const rl_sampler *sampler,
                               rl_roi_samples *out) {
    if (!out) return hnd_error_set("roi_heads samples: NULL output");
    memset(out, 0, sizeof *out);
    if (!cfg || !proposals || !targets || n <= 0) return hnd_error_set("roi_heads samples: bad arguments");
    for (int i = 0; i < n; i++) {
        if (check_boxes(&targets[i], i, 1)) return hnd_error_prefix("roi_heads samples");
        if (!proposals[i]) return hnd_error_set("roi_heads samples: proposals of image %d are NULL", i);
    }
    out->num_images = n;
    out->proposals = calloc((size_t)n, sizeof(ct_tensor *));
    out->labels = calloc((size_t)n, sizeof(ct_tensor *));
    out->matched_idxs = calloc((size_t)n, sizeof(ct_tensor *));
    out->regression_targets = calloc((size_t)n, sizeof(ct_tensor *));
    if (!out->proposals || !out->labels || !out->matched_idxs || !out->regression_targets) {
        rl_roi_samples_clear(out);
        return hnd_error_set("roi_heads samples: out of memory");
    }
    bc_coder coder;
    bc_init(&coder, cfg->bbox_reg_weights[0], cfg->bbox_reg_weights[1], cfg->bbox_reg_weights[2],
            cfg->bbox_reg_weights[3]);
    int rc = -1;
    ct_scope_begin();
    for (int i = 0; i < n; i++) {
        const ct_dtype dt = (ct_dtype)ct_dtype_of(proposals[i]);
        const ct_device dev = ct_device_of(proposals[i]);
        ct_tensor *gt = ct_to_dtype(targets[i].boxes, dt);
        const ct_tensor *pg[2] = {proposals[i], gt};
        ct_tensor *props = gt ? ct_cat(pg, 2, 0) : NULL;   /* add_gt_proposals */
        CK(props, "roi_heads samples: appending the ground truth");
        const int64_t P = ct_size(props, 0), G = ct_size(gt, 0);
        ct_tensor *matched, *labels;
        if (G == 0) {
            matched = ct_zeros(&P, 1, CT_I64, dev);
            labels = ct_zeros(&P, 1, CT_I64, dev);
            CK(matched && labels, "roi_heads samples: background image");
        } else {
            ct_tensor *iou = ct_box_iou(gt, props);
            CK(iou, "roi_heads samples: IoU");
            ct_tensor *m = rl_match(iou, cfg->fg_iou_thresh, cfg->bg_iou_thresh, 0);
            if (!m) {
                hnd_error_prefix("roi_heads samples, image %d", i);
                goto done;
            }
            matched = ct_masked_fill(m, ct_lt_scalar(m, 0), 0);   /* clamp(min=0), int64 kept */
            labels = matched ? ct_to_dtype(ct_index_select(targets[i].labels, 0, matched), CT_I64) : NULL;
            labels = labels ? ct_masked_fill(labels, ct_eq_scalar(m, RL_BELOW_LOW_THRESHOLD), 0) : NULL;
            labels = labels ? ct_masked_fill(labels, ct_eq_scalar(m, RL_BETWEEN_THRESHOLDS), -1) : NULL;
            CK(labels, "roi_heads samples: labels");
        }
        ct_tensor *p, *q;
        if (sample_image(sampler, RL_STAGE_ROI, i, labels, props, cfg->batch_size_per_image,
                         cfg->positive_fraction, &p, &q) != 0)
            goto done;
        /* torch.where(pos | neg): the union in increasing index order */
        const ct_tensor *pq[2] = {p, q};
        ct_tensor *sampled = NULL, *cat = ct_cat(pq, 2, 0);
        CK(cat && ct_sort(cat, 0, 0, 1, &sampled, NULL) == 0, "roi_heads samples: sampled indices");
        ct_tensor *sp = ct_index_select(props, 0, sampled);
        ct_tensor *sl = ct_index_select(labels, 0, sampled);
        ct_tensor *sm = ct_index_select(matched, 0, sampled);
        ct_tensor *gtb = gt;
        if (G == 0) {
            int64_t s14[2] = {1, 4};
            gtb = ct_zeros(s14, 2, dt, dev);
        }
        ct_tensor *mg = sp && sm && gtb ? ct_index_select(gtb, 0, sm) : NULL;
        CK(mg && sl, "roi_heads samples: selecting");
        ct_tensor *rt = bc_encode(&coder, mg, sp);
        if (!rt) {
            hnd_error_prefix("roi_heads samples, image %d", i);
            goto done;
        }
        out->proposals[i] = sp;
        out->labels[i] = sl;
        out->matched_idxs[i] = sm;
        out->regression_targets[i] = rt;
    }
    for (int i = 0; i < n; i++) {
        ct_scope_keep(out->proposals[i]);
        ct_scope_keep(out->labels[i]);
        ct_scope_keep(out->matched_idxs[i]);
        ct_scope_keep(out->regression_targets[i]);
    }
    rc = 0;
done:
    ct_scope_end();
    if (rc != 0) {
        for (int i = 0; i < n; i++)
            out->proposals[i] = out->labels[i] = out->matched_idxs[i] = out->regression_targets[i] = NULL;
        rl_roi_samples_clear(out);
    }
    return rc;
}

int rl_fastrcnn_loss(const ct_tensor *class_logits, const ct_tensor *box_regression,
                     const rl_roi_samples *s, ct_tensor **loss_classifier, ct_tensor **loss_box_reg) {
    if (!loss_classifier || !loss_box_reg) return hnd_error_set("fastrcnn loss: NULL output");
    *loss_classifier = *loss_box_reg = NULL;
    char d1[96], d2[96];
    if (!class_logits || !box_regression || !s || s->num_images <= 0 || ct_ndim(class_logits) != 2 ||
        ct_ndim(box_regression) != 2 || ct_size(box_regression, 1) != 4 * ct_size(class_logits, 1) ||
        ct_size(box_regression, 0) != ct_size(class_logits, 0))
        return hnd_error_set("fastrcnn loss: class_logits %s, box_regression %s",
                             desc(class_logits, d1, sizeof d1), desc(box_regression, d2, sizeof d2));
    int rc = -1;
    ct_scope_begin();
    ct_tensor *labels = ct_cat((const ct_tensor *const *)s->labels, s->num_images, 0);
    ct_tensor *rt = ct_cat((const ct_tensor *const *)s->regression_targets, s->num_images, 0);
    CK(labels && rt, "fastrcnn loss: concatenating images");
    const int64_t R = ct_size(class_logits, 0), K = ct_size(class_logits, 1);
    if (ct_numel(labels) != R) {
        hnd_error_set("fastrcnn loss: %lld logits rows for %lld sampled RoIs", (long long)R,
                      (long long)ct_numel(labels));
        goto done;
    }
    ct_tensor *ce = ct_cross_entropy(class_logits, labels, NULL, -100, CT_REDUCE_MEAN);
    CK(ce, "fastrcnn loss: cross entropy");
    ct_tensor *pos = ct_flatten(ct_nonzero(ct_gt_scalar(labels, 0)), 0, -1);
    ct_tensor *lp = pos ? ct_index_select(labels, 0, pos) : NULL;
    int64_t s3[3] = {R, K, 4};
    ct_tensor *br = ct_reshape(box_regression, s3, 3);
    const ct_tensor *ix[2] = {pos, lp};
    ct_tensor *sel = lp && br ? ct_index(br, ix, 2) : NULL;
    ct_tensor *box = sel ? ct_smooth_l1_loss(sel, ct_index_select(rt, 0, pos), 1.0 / 9, CT_REDUCE_SUM) : NULL;
    box = box ? ct_div_scalar(box, (double)ct_numel(labels)) : NULL;
    CK(box, "fastrcnn loss: box regression");
    *loss_classifier = ct_scope_keep(ce);
    *loss_box_reg = ct_scope_keep(box);
    rc = 0;
done:
    ct_scope_end();
    return rc;
}

/* --------------------------------------------------------------------- Mask */

ct_tensor *rl_project_masks(const ct_tensor *gt_masks, const ct_tensor *boxes,
                            const ct_tensor *matched_idxs, int64_t M) {
    char d1[96], d2[96], d3[96];
    if (!gt_masks || !boxes || !matched_idxs || ct_ndim(gt_masks) != 3 || ct_ndim(boxes) != 2 ||
        ct_size(boxes, 1) != 4 || ct_ndim(matched_idxs) != 1 ||
        ct_size(matched_idxs, 0) != ct_size(boxes, 0) || M <= 0) {
        hnd_error_set("project masks: gt_masks %s, boxes %s, matched_idxs %s, M %lld",
                      desc(gt_masks, d1, sizeof d1), desc(boxes, d2, sizeof d2),
                      desc(matched_idxs, d3, sizeof d3), (long long)M);
        return NULL;
    }
    ct_tensor *res = NULL;
    ct_scope_begin();
    const ct_dtype dt = (ct_dtype)ct_dtype_of(boxes);
    ct_tensor *mi = ct_unsqueeze(ct_to_dtype(matched_idxs, dt), 1);
    const ct_tensor *parts[2] = {mi, boxes};
    ct_tensor *rois = mi ? ct_cat(parts, 2, 1) : NULL;
    ct_tensor *gm = ct_unsqueeze(ct_to_dtype(gt_masks, dt), 1);
    ct_tensor *y = rois && gm ? ct_roi_align_adaptive(gm, rois, 1.0, M, M, -1, 0) : NULL;
    y = y ? ct_select(y, 1, 0) : NULL;
    CK(y, "project masks: roi_align");
    res = ct_scope_keep(y);
done:
    ct_scope_end();
    return res;
}

ct_tensor *rl_maskrcnn_loss(const ct_tensor *mask_logits, const ct_tensor *const *mask_proposals,
                            const ct_tensor *const *pos_matched_idxs, const rt_target *targets, int n) {
    char d[96];
    if (!mask_logits || ct_ndim(mask_logits) != 4 || !mask_proposals || !pos_matched_idxs || !targets ||
        n <= 0) {
        hnd_error_set("mask loss: bad arguments (mask_logits %s)", desc(mask_logits, d, sizeof d));
        return NULL;
    }
    const int64_t M = ct_size(mask_logits, 3);
    ct_tensor *res = NULL;
    ct_scope_begin();
    ct_tensor **parts = calloc((size_t)(2 * n), sizeof(ct_tensor *));
    if (!parts) {
        hnd_error_set("mask loss: out of memory");
        goto done;
    }
    ct_tensor **labs = parts, **tgts = parts + n;
    for (int i = 0; i < n; i++) {
        if (!targets[i].masks || !targets[i].labels) {
            hnd_error_set("mask loss: target %d has no %s", i, targets[i].masks ? "labels" : "masks");
            goto done;
        }
        labs[i] = ct_index_select(targets[i].labels, 0, pos_matched_idxs[i]);
        if (!labs[i]) {
            ct_fail("mask loss: labels");
            goto done;
        }
        if (ct_numel(pos_matched_idxs[i]) == 0) {
            int64_t s[3] = {0, M, M};
            tgts[i] = ct_zeros(s, 3, (ct_dtype)ct_dtype_of(mask_logits), ct_device_of(mask_logits));
        } else {
            tgts[i] = rl_project_masks(targets[i].masks, mask_proposals[i], pos_matched_idxs[i], M);
            if (!tgts[i]) {
                hnd_error_prefix("mask loss, image %d", i);
                goto done;
            }
        }
    }
    ct_tensor *labels = ct_cat((const ct_tensor *const *)labs, n, 0);
    ct_tensor *mt = ct_cat((const ct_tensor *const *)tgts, n, 0);
    CK(labels && mt, "mask loss: concatenating images");
    ct_tensor *loss;
    if (ct_numel(mt) == 0) {
        loss = ct_mul_scalar(ct_sum(mask_logits), 0.0);
    } else {
        int64_t R = ct_size(labels, 0);
        if (ct_size(mask_logits, 0) != R) {
            hnd_error_set("mask loss: %lld mask logits for %lld positives", (long long)ct_size(mask_logits, 0),
                          (long long)R);
            goto done;
        }
        const ct_tensor *ix[2] = {ct_arange(0, (double)R, 1, CT_I64, ct_device_of(labels)), labels};
        ct_tensor *sel = ix[0] ? ct_index(mask_logits, ix, 2) : NULL;
        loss = sel ? ct_bce_with_logits(sel, mt, NULL, NULL, CT_REDUCE_MEAN) : NULL;
    }
    CK(loss, "mask loss: binary cross entropy");
    res = ct_scope_keep(loss);
done:
    free(parts);
    ct_scope_end();
    return res;
}

/* ----------------------------------------------------------- whole detector */

static const char *k_names[RL_NUM_LOSSES] = {"loss_classifier", "loss_box_reg", "loss_mask", "loss_keypoint",
                                              "loss_objectness", "loss_rpn_box_reg"};

const char *rl_loss_name(int i) { return i >= 0 && i < RL_NUM_LOSSES ? k_names[i] : NULL; }

ct_tensor *rl_losses_sum(const rl_losses *l) {
    if (!l) {
        hnd_error_set("losses: NULL");
        return NULL;
    }
    ct_tensor *sum = NULL;
    int any = 0;
    ct_scope_begin();
    for (int i = 0; i < RL_NUM_LOSSES; i++) {
        if (!l->loss[i]) continue;
        sum = any ? ct_add(sum, l->loss[i]) : ct_clone(l->loss[i]);
        any = 1;
        if (!sum) {
            ct_fail("losses: sum");
            break;
        }
    }
    if (!any) hnd_error_set("losses: none to sum");
    ct_scope_keep(sum);
    ct_scope_end();
    return sum;
}

void rl_losses_clear(rl_losses *l) {
    if (!l) return;
    for (int i = 0; i < RL_NUM_LOSSES; i++) ct_destroy(l->loss[i]);
    memset(l, 0, sizeof *l);
}

int rl_losses_from_features(rcnn_model *m, const rt_image_list *l, const rt_target *targets,
                            ct_tensor *const features[BB_NUM_FEATURES], const rl_sampler *sampler,
                            rl_losses *out) {
    if (!out) return hnd_error_set("rcnn losses: NULL output");
    memset(out, 0, sizeof *out);
    if (!m || !l || !targets || !features) return hnd_error_set("rcnn losses: NULL argument");
    const rcnn_config *cfg = rcnn_get_config(m);
    const int n = l->n;
    rl_losses r;
    memset(&r, 0, sizeof r);
    rpn_output po;
    memset(&po, 0, sizeof po);
    rl_roi_samples s;
    memset(&s, 0, sizeof s);
    ct_tensor **mp = NULL;
    double cnt[RL_NUM_LOSSES] = {0};
    int rc = -1;
    ct_scope_begin();
    if (rcnn_rpn_forward(m, l, features, &po) != 0) goto done;
    if (rpn_loss(&cfg->rpn, &po, targets, n, sampler, &r.loss[RL_LOSS_OBJECTNESS], &r.loss[RL_LOSS_RPN_BOX_REG],
                 &cnt[RL_LOSS_OBJECTNESS]) != 0)
        goto done;
    cnt[RL_LOSS_RPN_BOX_REG] = cnt[RL_LOSS_OBJECTNESS];
    if (rl_select_training_samples(&cfg->box, (const ct_tensor *const *)po.boxes, targets, n, sampler, &s) != 0)
        goto done;
    const ct_tensor *const *f = (const ct_tensor *const *)features;   /* "0".."3" */
    const int64_t(*sizes)[2] = (const int64_t(*)[2])l->sizes;
    ct_tensor *cl = NULL, *br = NULL;
    if (rh_box_forward(rcnn_roi_heads(m), f, 4, (const ct_tensor *const *)s.proposals, n, sizes, &cl, &br) != 0)
        goto done;
    if (rl_fastrcnn_loss(cl, br, &s, &r.loss[RL_LOSS_CLASSIFIER], &r.loss[RL_LOSS_BOX_REG]) != 0) goto done;
    cnt[RL_LOSS_CLASSIFIER] = cnt[RL_LOSS_BOX_REG] = (double)ct_size(cl, 0);
    if (rcnn_has_masks(m) || rcnn_has_keypoints(m)) {
        /* only the positives, image by image */
        mp = calloc((size_t)(2 * n), sizeof(ct_tensor *));
        if (!mp) {
            hnd_error_set("out of memory");
            goto done;
        }
        for (int i = 0; i < n; i++) {
            ct_tensor *pos = ct_flatten(ct_nonzero(ct_gt_scalar(s.labels[i], 0)), 0, -1);
            mp[i] = pos ? ct_index_select(s.proposals[i], 0, pos) : NULL;
            mp[n + i] = pos ? ct_index_select(s.matched_idxs[i], 0, pos) : NULL;
            CK(mp[i] && mp[n + i], "mask positives");
        }
    }
    if (rcnn_has_masks(m)) {
        ct_tensor *ml = mh_logits(rcnn_mask_head(m), f, 4, (const ct_tensor *const *)mp, n, sizes);
        if (!ml) goto done;
        r.loss[RL_LOSS_MASK] = rl_maskrcnn_loss(ml, (const ct_tensor *const *)mp,
                                                (const ct_tensor *const *)(mp + n), targets, n);
        if (!r.loss[RL_LOSS_MASK]) goto done;
        /* BCE's mean over the positives' M x M pixels (0 * sum when none) */
        cnt[RL_LOSS_MASK] = (double)ct_size(ml, 0) * (double)ct_size(ml, 2) * (double)ct_size(ml, 3);
    }
    if (rcnn_has_keypoints(m)) {
        ct_tensor *kl = kh_logits(rcnn_keypoint_head(m), f, 4, (const ct_tensor *const *)mp, n, sizes);
        if (!kl) goto done;
        r.loss[RL_LOSS_KEYPOINT] = rl_keypointrcnn_loss_count(kl, (const ct_tensor *const *)mp,
                                                              (const ct_tensor *const *)(mp + n), targets, n,
                                                              &cnt[RL_LOSS_KEYPOINT]);
        if (!r.loss[RL_LOSS_KEYPOINT]) goto done;
    }
    for (int i = 0; i < RL_NUM_LOSSES; i++) {
        out->loss[i] = ct_scope_keep(r.loss[i]);
        out->count[i] = r.loss[i] ? cnt[i] : 0;
    }
    rc = 0;
done:
    free(mp);
    rl_roi_samples_clear(&s);
    rpn_output_clear(&po);
    ct_scope_end();
    if (rc != 0) {
        memset(out, 0, sizeof *out);
        hnd_error_prefix("rcnn losses");
    }
    return rc;
}

/* GeneralizedRCNN's check of the resized boxes: x2 > x1 and y2 > y1. */
static int check_degenerate(const rt_target *t, int n) {
    for (int i = 0; i < n; i++) {
        if (ct_size(t[i].boxes, 0) == 0) continue;
        int rc = 0;
        ct_scope_begin();
        ct_tensor *b = ct_to_dtype(t[i].boxes, CT_F64);
        ct_tensor *lo = b ? ct_narrow(b, 1, 0, 2) : NULL, *hi = b ? ct_narrow(b, 1, 2, 2) : NULL;
        ct_tensor *bad = lo && hi ? ct_flatten(ct_nonzero(ct_gt_scalar(ct_sum_dim(ct_le(hi, lo), 1, 0), 0)), 0, -1)
                                  : NULL;
        if (!bad) {
            rc = ct_fail("checking boxes");
        } else if (ct_numel(bad) > 0) {
            int64_t k = 0;
            double v[4] = {0, 0, 0, 0};
            ct_item_i64(ct_select(bad, 0, 0), &k);
            ct_to_buffer(ct_contiguous(ct_select(b, 0, k)), v, sizeof v);
            rc = hnd_error_set("target %d: box %lld [%g, %g, %g, %g] has no positive width and height "
                               "(after resizing)",
                               i, (long long)k, v[0], v[1], v[2], v[3]);
        }
        ct_scope_end();
        if (rc) return rc;
    }
    return 0;
}

int rl_forward_train(rcnn_model *m, const ct_tensor *const *images, const rt_target *targets, int n,
                     const rl_sampler *sampler, rl_losses *out) {
    if (!out) return hnd_error_set("rcnn train forward: NULL output");
    memset(out, 0, sizeof *out);
    if (!m || !images || !targets || n <= 0) return hnd_error_set("rcnn train forward: bad arguments");
    const rcnn_config *cfg = rcnn_get_config(m);
    const int masks = rcnn_has_masks(m);
    char d[96];
    for (int i = 0; i < n; i++) {
        if (check_boxes(&targets[i], i, 1)) return hnd_error_prefix("rcnn train forward");
        int dt = ct_dtype_of(targets[i].boxes);
        if (dt != CT_F32 && dt != CT_F64 && dt != CT_F16)
            return hnd_error_set("rcnn train forward: target %d: boxes must be floating point, got %s", i,
                                 desc(targets[i].boxes, d, sizeof d));
        if (masks && (!targets[i].masks || ct_ndim(targets[i].masks) != 3 ||
                      ct_size(targets[i].masks, 0) != ct_size(targets[i].boxes, 0)))
            return hnd_error_set("rcnn train forward: target %d: Mask R-CNN needs masks [%lld,H,W], got %s", i,
                                 (long long)ct_size(targets[i].boxes, 0), desc(targets[i].masks, d, sizeof d));
        if (masks && images[i] && ct_ndim(images[i]) == 3 &&
            (ct_size(targets[i].masks, 1) != ct_size(images[i], 1) ||
             ct_size(targets[i].masks, 2) != ct_size(images[i], 2))) {
            char d2[96];
            return hnd_error_set("rcnn train forward: target %d: masks %s do not match image %s", i,
                                 desc(targets[i].masks, d, sizeof d), desc(images[i], d2, sizeof d2));
        }
        if (rcnn_has_keypoints(m) &&
            (!targets[i].keypoints || ct_ndim(targets[i].keypoints) != 3 ||
             ct_size(targets[i].keypoints, 0) != ct_size(targets[i].boxes, 0) ||
             ct_size(targets[i].keypoints, 1) != cfg->keypoint.num_keypoints || ct_size(targets[i].keypoints, 2) != 3))
            return hnd_error_set("rcnn train forward: target %d: Keypoint R-CNN needs keypoints [%lld,%d,3], got %s", i,
                                 (long long)ct_size(targets[i].boxes, 0), cfg->keypoint.num_keypoints,
                                 desc(targets[i].keypoints, d, sizeof d));
    }
    rcnn_set_training(m, 1);
    rt_target *tr = calloc((size_t)n, sizeof *tr);
    if (!tr) return hnd_error_set("rcnn train forward: out of memory");
    rt_image_list l;
    memset(&l, 0, sizeof l);
    ct_tensor *features[BB_NUM_FEATURES] = {0};
    int rc = -1;
    ct_scope_begin();
    if (rt_transform(&cfg->transform, images, n, targets, tr, 1, &l) != 0) goto done;
    if (check_degenerate(tr, n) != 0) goto done;
    if (rcnn_backbone_forward(m, &l, features) != 0) goto done;
    if (rl_losses_from_features(m, &l, tr, features, sampler, out) != 0) goto done;
    for (int i = 0; i < RL_NUM_LOSSES; i++) ct_scope_keep(out->loss[i]);
    rc = 0;
done:
    if (rc != 0) hnd_error_prefix("rcnn %s train forward", cfg->arch);
    for (int i = 0; i < n; i++) rt_target_clear(&tr[i]);
    free(tr);
    rt_image_list_clear(&l);
    ct_scope_end();
    if (rc != 0) memset(out, 0, sizeof *out);
    return rc;
}
