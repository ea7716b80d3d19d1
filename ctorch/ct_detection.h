/* ct_detection.h: detection operators that ATen lacks (torchvision.ops),
 * implemented in ct_detection.cpp. Same conventions as ctorch.h: borrowed
 * arguments, new owned handles, NULL / -1 on failure with the reason in
 * ct_last_error(), every call registered in the current scope.
 *
 * Boxes are float tensors [N,4] in (x1, y1, x2, y2) pixel coordinates.
 * Index results are int64 tensors on the device of the input. */
#ifndef CT_DETECTION_H
#define CT_DETECTION_H

#include "ctorch.h"

#ifdef __cplusplus
extern "C" {
#endif

/* torchvision.ops.roi_align(input, rois, (out_h, out_w), spatial_scale,
 * sampling_ratio, aligned).
 *   input [B,C,H,W] float; rois [K,5] (batch index, x1, y1, x2, y2) in image
 *   coordinates (multiplied by spatial_scale to reach the feature map).
 *   sampling_ratio > 0 (the R-CNNs use 2; torchvision's adaptive <= 0 mode is
 *   ct_roi_align_adaptive in ct_loss_ops.h); aligned 0 (the R-CNNs) or 1 (half-pixel offset).
 * Returns [K,C,out_h,out_w]. Built from ATen ops (a weighted gather,
 * embedding_bag with per-sample weights): runs on every device and has an
 * autograd backward with respect to input. The sampling grid, the clamping at
 * the borders and the zero outside [-1, size] are torchvision's, computed in
 * the same float order, so results agree to rounding of the final sums. */
ct_tensor *ct_roi_align(const ct_tensor *input, const ct_tensor *rois, double spatial_scale,
                        int64_t out_h, int64_t out_w, int sampling_ratio, int aligned);

/* RoIAlign over several feature maps at once (the body of torchvision's
 * MultiScaleRoIAlign after its level mapper): RoI k is pooled from
 * features[levels[k]] with scales[levels[k]]. features: n tensors
 * [B,C,H_l,W_l] with the same B, C, dtype and device; levels: int64 [K]
 * with values in [0, n). Equivalent to one ct_roi_align per level scattered
 * back into RoI order, in one gather. */
ct_tensor *ct_roi_align_multilevel(const ct_tensor *const *features, int n, const ct_tensor *rois,
                                   const ct_tensor *levels, const double *scales, int64_t out_h,
                                   int64_t out_w, int sampling_ratio, int aligned);

/* torchvision.ops.nms: indices (int64) of the kept boxes in decreasing score
 * order; a box is suppressed when its IoU with a kept higher-scoring box is
 * > iou_threshold. Scores are sorted stably (ties keep index order). The
 * greedy pass runs on the CPU (boxes are copied there when needed), with
 * torchvision's arithmetic. */
ct_tensor *ct_nms(const ct_tensor *boxes, const ct_tensor *scores, double iou_threshold);

/* torchvision.ops.batched_nms: NMS independently per category idxs [N]
 * (int64). Like torchvision 0.14 it uses the coordinate-offset trick for
 * small inputs (boxes.numel() <= 4000 on the CPU, <= 20000 elsewhere) and a
 * per-category pass otherwise, so that the float arithmetic, and hence the
 * result, is the same as torchvision's. Sorted by decreasing score. */
ct_tensor *ct_batched_nms(const ct_tensor *boxes, const ct_tensor *scores, const ct_tensor *idxs,
                          double iou_threshold);

/* (x2-x1)*(y2-y1), [N]. */
ct_tensor *ct_box_area(const ct_tensor *boxes);
/* Pairwise IoU [N,M] of boxes1 [N,4] and boxes2 [M,4] (torchvision.ops.box_iou). */
ct_tensor *ct_box_iou(const ct_tensor *boxes1, const ct_tensor *boxes2);
/* torchvision.ops.clip_boxes_to_image: x clamped to [0,width], y to
 * [0,height]; boxes [...,4]. */
ct_tensor *ct_clip_boxes_to_image(const ct_tensor *boxes, int64_t height, int64_t width);
/* torchvision.ops.remove_small_boxes: int64 indices of the boxes whose width
 * and height are both >= min_size. */
ct_tensor *ct_remove_small_boxes(const ct_tensor *boxes, double min_size);

/* Model helper: moves t to dev IN PLACE, as torch's Module.to() does
 * (param.data = param.data.to(dev)): every handle to the tensor, ct_share'd
 * ones included, sees the new device, and a leaf keeps requires_grad. Used to
 * move a registry of parameters (models/) to a GPU. 0 / -1. */
int ct_move_to_device_(ct_tensor *t, ct_device dev);

#ifdef __cplusplus
}
#endif
#endif
