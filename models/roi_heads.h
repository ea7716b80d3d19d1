/* roi_heads.h: the box branch of torchvision 0.14's RoIHeads, and
 * MultiScaleRoIAlign.
 *
 *  - MultiScaleRoIAlign over the FPN maps "0".."3": scales inferred from the
 *    feature and (resized) image sizes, 2^round(log2(feat/img)), the level
 *    range [k_min, k_max] = -log2 of the first/last scale, the FPN level
 *    mapper floor(k0 + log2(sqrt(area)/s0) + 1e-6) clamped to the range
 *    (k0 = canonical_level 4, s0 = canonical_scale 224), RoIAlign with
 *    aligned=False (ct_roi_align_multilevel).
 *  - TwoMLPHead (fc6, fc7 + ReLU, representation_size 1024) and
 *    FastRCNNPredictor (cls_score, bbox_pred).
 *  - postprocess_detections: softmax, class-wise decode with the (10,10,5,5)
 *    box coder, clip, drop the background class, score > score_thresh
 *    (0.05), remove boxes smaller than 1e-2, batched NMS per class
 *    (nms_thresh 0.5), the best detections_per_img (100) by score.
 *
 * Parameters: "<prefix>box_head.fc6.{weight,bias}", "<prefix>box_head.fc7.*",
 * "<prefix>box_predictor.cls_score.*", "<prefix>box_predictor.bbox_pred.*"
 * (prefix "roi_heads."). The losses (proposal matching/sampling,
 * fastrcnn_loss) are in rcnn_loss.h and consume rh_box_forward.
 * Forwards run in their own scope; results are new handles in the caller's
 * scope; NULL/-1 + hnd_error(). */
#ifndef ROI_HEADS_H
#define ROI_HEADS_H

#include <stdint.h>

#include "box_coder.h"
#include "ctorch.h"
#include "model_params.h"
#include "rcnn_config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* MultiScaleRoIAlign: features[0..n-1] [N,C,H_l,W_l]; boxes[i] [K_i,4]
 * (image coordinates) for the N images whose resized sizes are
 * image_sizes[i] = (h, w). Returns [sum K_i, C, output_size, output_size].
 * levels_out (may be NULL) receives the int64 [sum K_i] level of each box
 * (a new handle). */
ct_tensor *rh_multiscale_roi_align(const ct_tensor *const *features, int n,
                                   const ct_tensor *const *boxes, int num_images,
                                   const int64_t (*image_sizes)[2], int64_t output_size,
                                   int sampling_ratio, int canonical_scale, int canonical_level,
                                   ct_tensor **levels_out);

typedef struct rh_heads rh_heads;

rh_heads *rh_new(mp_params *p, const char *prefix, const rcnn_box_config *cfg, int64_t in_channels);
/* torchvision's initialisation (models/init.h). 0 / -1. */
int rh_init(rh_heads *h);
void rh_destroy(rh_heads *h);   /* NULL-safe */
/* Overrides score_thresh (e.g. hnd detect --score-thresh). */
void rh_set_score_thresh(rh_heads *h, double thresh);

/* Box branch up to the predictor: features "0".."3" (n = 4), proposals per
 * image -> class_logits [R,num_classes], box_regression [R,4*num_classes]
 * (R = sum of proposals). 0 / -1 (outputs NULL). */
int rh_box_forward(rh_heads *h, const ct_tensor *const *features, int n,
                   const ct_tensor *const *proposals, int num_images,
                   const int64_t (*image_sizes)[2], ct_tensor **class_logits,
                   ct_tensor **box_regression);

/* Per-image detections in the coordinates of the resized images. */
typedef struct {
    int num_images;
    ct_tensor **boxes;    /* [K_i,4] */
    ct_tensor **scores;   /* [K_i] */
    ct_tensor **labels;   /* [K_i] int64, 1..num_classes-1 */
    ct_tensor **masks;    /* [K_i,1,M,M] mask probabilities (mask_head.h), or NULL */
    ct_tensor **keypoints;         /* [K_i,NK,3] x, y, 1 (keypoint_head.h), or NULL */
    ct_tensor **keypoint_scores;   /* [K_i,NK] */
} rh_detections;

/* 0, or -1 (out zeroed). */
int rh_detections_alloc(rh_detections *d, int num_images);
void rh_detections_clear(rh_detections *d);   /* frees handles and arrays; zeroes */

int rh_postprocess(rh_heads *h, const ct_tensor *class_logits, const ct_tensor *box_regression,
                   const ct_tensor *const *proposals, int num_images,
                   const int64_t (*image_sizes)[2], rh_detections *out);

/* rh_box_forward + rh_postprocess. */
int rh_forward(rh_heads *h, const ct_tensor *const *features, int n,
               const ct_tensor *const *proposals, int num_images,
               const int64_t (*image_sizes)[2], rh_detections *out);

#ifdef __cplusplus
}
#endif
#endif
