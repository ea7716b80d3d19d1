/* rcnn_loss.h: torchvision 0.14's training losses of Faster / Mask R-CNN
 * (rpn.py, roi_heads.py, _utils.py, generalized_rcnn.py), operation for
 * operation, so that with the same weights, images, targets and sampled
 * indices every loss equals torchvision's (tests/test_rcnn_loss.c).
 *
 *  - Matcher (rl_match): IoU thresholds high/low, BELOW_LOW_THRESHOLD -1,
 *    BETWEEN_THRESHOLDS -2, optional low-quality matches (every prediction
 *    tied for a ground truth's highest IoU gets its best match back).
 *  - BalancedPositiveNegativeSampler (rl_sample_balanced): per image
 *    min(#pos, int(batch*fraction)) positives (label >= 1) and
 *    min(#neg, batch - that) negatives (label 0), by torch.randperm
 *    (ct_randperm: the same generator and algorithm as Python's). Injectable:
 *    an rl_sampler callback may choose instead (tests feed torchvision's
 *    recorded choices; custom samplers; OHEM...). Only the SETS matter, as
 *    in torchvision, where the chosen indices become masks and the losses
 *    run over torch.where(mask) in increasing index order.
 *  - RPN (rl_rpn_loss): anchors matched at fg/bg 0.7/0.3 with low-quality
 *    matches, labels 1 / 0 / -1 (ignored), 256 per image at 50% positive;
 *    objectness BCE-with-logits (mean) over the sampled anchors; smooth-L1
 *    (beta 1/9, sum) of the deltas of the sampled positives against the
 *    (1,1,1,1) box-coder targets, divided by the number of sampled anchors.
 *  - RoI heads (rl_select_training_samples, rl_fastrcnn_loss): the GT boxes
 *    appended to each image's (detached) proposals, matching 0.5/0.5 without
 *    low-quality matches, labels = the matched GT's label (0 background),
 *    512 per image at 25% positive, (10,10,5,5) regression targets; cross
 *    entropy (mean) over all sampled; class-specific smooth-L1 (beta 1/9,
 *    sum) over the positives divided by the number of sampled RoIs.
 *  - Mask (rl_maskrcnn_loss): each positive's GT mask cropped to its
 *    proposal and resized to MxM (28) by RoIAlign with torchvision's default
 *    adaptive sampling (ct_roi_align_adaptive); BCE-with-logits (mean) on
 *    the channel of the GT label.
 *  - Keypoint (rl_keypointrcnn_loss): each positive's GT keypoints to a
 *    cell of its proposal's 56x56 map (keypoints_to_heatmap); cross
 *    entropy (mean) over the visible keypoints inside their proposal.
 *
 * Whole detector: rl_forward_train() mirrors GeneralizedRCNN.forward in
 * training mode: transform with targets (training resize draw), the check
 * for degenerate boxes, backbone, RPN with the training top-n (2000/2000),
 * RoI heads and mask head; the losses keep their autograd graphs
 * (ct_backward on rl_losses_sum()). Images without boxes are negatives
 * only, as in torchvision.
 *
 * Conventions: new handles in the caller's scope; 0 / -1 (or NULL) +
 * hnd_error() naming the stage, image and shapes. Work runs in inner
 * scopes, so no temporaries leak into the caller's. */
#ifndef RCNN_LOSS_H
#define RCNN_LOSS_H

#include <stdint.h>

#include "ctorch.h"
#include "rcnn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RL_BELOW_LOW_THRESHOLD (-1)
#define RL_BETWEEN_THRESHOLDS (-2)

/* Matcher: quality [G,N] (IoU of G ground-truth boxes with N predictions,
 * G, N > 0) -> int64 [N]: the best GT of each prediction (the first on
 * ties, as torch.max), RL_BELOW_LOW_THRESHOLD where its IoU < low,
 * RL_BETWEEN_THRESHOLDS where low <= IoU < high; allow_low_quality != 0
 * then restores the best GT of every prediction whose IoU with some GT
 * equals that GT's highest IoU (ties included, even a highest IoU of 0). */
ct_tensor *rl_match(const ct_tensor *quality, double high, double low, int allow_low_quality);

typedef enum { RL_STAGE_RPN = 0, RL_STAGE_ROI = 1 } rl_stage;

/* The default sampler on one image: labels [N] (any real or integer
 * dtype; >= 1 positive, 0 negative, < 0 ignored) -> int64 indices into
 * labels of the chosen positives and negatives (new handles), in the order
 * drawn: positive[randperm(#pos)[:num_pos]], then the same for the
 * negatives, one ct_randperm each, as torchvision. 0 / -1. */
int rl_sample_balanced(const ct_tensor *labels, int batch_size_per_image, double positive_fraction,
                       ct_tensor **pos, ct_tensor **neg);

/* An injected sampler: called once per image and stage (RPN: image 0..n-1,
 * then RoI heads: image 0..n-1) with the image's labels as above and the
 * candidates they label, boxes [N,4] (RPN: the anchors; RoI heads: the
 * proposals followed by the GT boxes); sets *pos and *neg to new 1-D int64
 * index tensors into labels (any order; empty allowed) and returns 0, or -1
 * with a message in hnd_error(). The caller checks every index: in range,
 * positives where label >= 1, negatives where label == 0 (duplicates count
 * once). The boxes let a sampler choose by position (tests map
 * torchvision's choice by box, as proposals with tied scores may come in
 * another order). */
typedef int (*rl_sample_fn)(void *ctx, rl_stage stage, int image, const ct_tensor *labels,
                            const ct_tensor *boxes, int batch_size_per_image, double positive_fraction,
                            ct_tensor **pos, ct_tensor **neg);
typedef struct {
    rl_sample_fn fn;   /* NULL: rl_sample_balanced */
    void *ctx;
    /* With fn NULL: image_seeds[i] (one per image of the batch) reseeds
     * torch's generator before rl_sample_balanced draws for image i, at
     * each stage (seed mixed with the stage), so that an image's samples
     * do not depend on its position in the batch nor on the other images:
     * data-parallel ranks draw for an image what one process with the
     * whole batch draws (train/teacher_train.c seeds from the run seed, the
     * step and the image's dataset index). NULL: one stream for the batch,
     * torchvision's order. */
    const uint64_t *image_seeds;
} rl_sampler;

/* ---- RPN ---- */
/* rpn: the output of rpn_forward on the batch (anchors, flat objectness
 * and deltas with their graphs); targets: n resized targets (boxes
 * [G_i,4], G_i may be 0). sampler may be NULL (default). Two 0-dim losses. */
int rl_rpn_loss(const rcnn_rpn_config *cfg, const rpn_output *rpn, const rt_target *targets, int n,
                const rl_sampler *sampler, ct_tensor **loss_objectness, ct_tensor **loss_rpn_box_reg);

/* ---- RoI heads ---- */
typedef struct {
    int num_images;
    ct_tensor **proposals;            /* [S_i,4] sampled RoIs (proposals + GT boxes) */
    ct_tensor **labels;               /* int64 [S_i], 0 = background */
    ct_tensor **matched_idxs;         /* int64 [S_i], matched GT (0 for background) */
    ct_tensor **regression_targets;   /* [S_i,4] */
} rl_roi_samples;

/* select_training_samples: proposals[i] [P_i,4] (detached), targets as
 * above with labels (int64 [G_i]). */
int rl_select_training_samples(const rcnn_box_config *cfg, const ct_tensor *const *proposals,
                               const rt_target *targets, int n, const rl_sampler *sampler,
                               rl_roi_samples *out);
void rl_roi_samples_clear(rl_roi_samples *s);   /* frees handles and arrays; zeroes */

/* fastrcnn_loss: class_logits [R,K], box_regression [R,4K] of the sampled
 * RoIs of s (R = sum S_i, in image order). */
int rl_fastrcnn_loss(const ct_tensor *class_logits, const ct_tensor *box_regression,
                     const rl_roi_samples *s, ct_tensor **loss_classifier, ct_tensor **loss_box_reg);

/* project_masks_on_boxes: gt_masks [G,H,W] (uint8 or float), boxes [R,4],
 * matched_idxs int64 [R] -> float [R,M,M] (RoIAlign, spatial scale 1,
 * adaptive sampling, aligned = False). */
ct_tensor *rl_project_masks(const ct_tensor *gt_masks, const ct_tensor *boxes,
                            const ct_tensor *matched_idxs, int64_t M);

/* maskrcnn_loss: mask_logits [R,K,M,M] of the positive RoIs, image by
 * image (mask_proposals[i] [R_i,4], pos_matched_idxs[i] int64 [R_i]);
 * targets[i].masks [G_i,H,W] and labels. 0 * sum(logits) when R = 0. */
ct_tensor *rl_maskrcnn_loss(const ct_tensor *mask_logits, const ct_tensor *const *mask_proposals,
                            const ct_tensor *const *pos_matched_idxs, const rt_target *targets, int n);

/* ---- Keypoint R-CNN (rcnn_loss_keypoint.c) ---- */
/* keypoints_to_heatmap: keypoints [R,K,3] (x, y, visibility) of the GT
 * matched to rois [R,4] -> *heatmaps int64 [R,K] (y * S + x of the cell,
 * x = floor((kx - x1) * (S / (x2 - x1))), S - 1 on the right/bottom edge;
 * 0 where not valid) and *valid int64 [R,K] (inside the S x S map and
 * visibility > 0). New handles; 0 / -1. */
int rl_keypoints_to_heatmap(const ct_tensor *keypoints, const ct_tensor *rois, int64_t S, ct_tensor **heatmaps,
                            ct_tensor **valid);
/* keypointrcnn_loss: kp_logits [R,K,S,S] of the positive RoIs, image by
 * image (proposals[i] [R_i,4], pos_matched_idxs[i] int64 [R_i]);
 * targets[i].keypoints [G_i,K,3]. Cross entropy (mean) over the valid
 * keypoints' flattened S*S maps; 0 * sum(logits) when none is valid. */
ct_tensor *rl_keypointrcnn_loss(const ct_tensor *kp_logits, const ct_tensor *const *proposals,
                                const ct_tensor *const *pos_matched_idxs, const rt_target *targets, int n);
/* The same, and *count (may be NULL) = the number of valid keypoints averaged. */
ct_tensor *rl_keypointrcnn_loss_count(const ct_tensor *kp_logits, const ct_tensor *const *proposals,
                                      const ct_tensor *const *pos_matched_idxs, const rt_target *targets, int n,
                                      double *count);

/* ---- the whole detector ---- */
enum { RL_LOSS_CLASSIFIER, RL_LOSS_BOX_REG, RL_LOSS_MASK, RL_LOSS_KEYPOINT, RL_LOSS_OBJECTNESS,
       RL_LOSS_RPN_BOX_REG, RL_NUM_LOSSES };
/* The losses, indexed as above (torchvision's dict order); mask NULL but
 * for Mask R-CNN, keypoint NULL but for Keypoint R-CNN. */
typedef struct {
    ct_tensor *loss[RL_NUM_LOSSES];
    /* The number of terms each batch-mean loss averaged (0 where absent):
     * objectness and rpn_box_reg the sampled anchors of the batch,
     * classifier and box_reg the sampled RoIs, mask the mask pixels of the
     * positives (positives x M x M), keypoint the valid keypoints. Data
     * parallel training divides each rank's loss by the sum of these over
     * the ranks instead (dp_global_losses), as one process with the whole
     * batch does. */
    double count[RL_NUM_LOSSES];
} rl_losses;

/* "loss_classifier", "loss_box_reg", "loss_mask", "loss_keypoint",
 * "loss_objectness", "loss_rpn_box_reg"; NULL out of range. */
const char *rl_loss_name(int i);
/* Sum of the present losses in the order above (what torchvision's
 * reference script backpropagates); NULL + hnd_error() if none. */
ct_tensor *rl_losses_sum(const rl_losses *l);
void rl_losses_clear(rl_losses *l);   /* frees handles; zeroes */

/* The losses from features computed elsewhere: l from rt_transform in
 * training mode, targets = its resized targets, features from the
 * backbone (students' too). The RPN runs with its current mode: call
 * rcnn_set_training(m, 1) first for torchvision's training top-n. */
int rl_losses_from_features(rcnn_model *m, const rt_image_list *l, const rt_target *targets,
                            ct_tensor *const features[BB_NUM_FEATURES], const rl_sampler *sampler,
                            rl_losses *out);

/* GeneralizedRCNN.forward(images, targets) in training mode. images: n
 * float [3,H,W] in [0,1] on the model's device; targets[i]: boxes float
 * [G_i,4] (x1,y1,x2,y2 in the image's pixels), labels int64 [G_i], masks
 * uint8 [G_i,H,W] (required for Mask R-CNN), keypoints float [G_i,K,3]
 * (required for Keypoint R-CNN). Puts the model in training
 * mode (rcnn_set_training(m, 1): the RPN's training top-n, trainable BN in
 * batch statistics) and leaves it there: call rcnn_set_training(m, 0)
 * before inference. Consumes the generator like torchvision: one uniform
 * per image (the transform's size draw), then the samplers' randperms.
 * sampler NULL: the default. 0 / -1 (out zeroed). */
int rl_forward_train(rcnn_model *m, const ct_tensor *const *images, const rt_target *targets, int n,
                     const rl_sampler *sampler, rl_losses *out);

#ifdef __cplusplus
}
#endif
#endif
