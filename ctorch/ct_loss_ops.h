/* ct_loss_ops.h: operators the detection training losses need that
 * ct_detection.h lacks (implemented in ct_loss_ops.cpp). Same conventions as
 * ctorch.h: borrowed arguments, new owned handles registered in the current
 * scope, NULL / -1 on failure with the reason in ct_last_error(). */
#ifndef CT_LOSS_OPS_H
#define CT_LOSS_OPS_H

#include "ctorch.h"

#ifdef __cplusplus
extern "C" {
#endif

/* torchvision.ops.roi_align(input, rois, (out_h, out_w), spatial_scale,
 * sampling_ratio, aligned) for EVERY sampling_ratio, in particular
 * torchvision's default -1 (adaptive), which Mask R-CNN's loss uses to crop
 * the ground-truth masks (project_masks_on_boxes):
 *   sampling_ratio <= 0: each RoI takes ceil(roi_h / out_h) x
 *     ceil(roi_w / out_w) samples per bin (roi_h, roi_w in feature-map
 *     units, at least 1 when aligned = 0), so the count varies per RoI;
 *   sampling_ratio > 0: that many per axis (the result equals ct_roi_align's
 *     to rounding).
 * input [B,C,H,W] float, rois [K,5] (batch index, x1, y1, x2, y2). Returns
 * [K,C,out_h,out_w].
 *
 * Computed separably: bilinear RoIAlign is (Ay @ F @ Ax^T) / count with one
 * sparse [out, extent] weight matrix per axis and RoI (torchvision's sample
 * positions, clamping and zero outside [-1, size] per axis), each batch
 * image's map cropped to the rows/columns its RoIs touch. Memory is
 * O(K*(out_h*H + out_w*W) + K*C*out_h*W'), whatever the sample counts
 * (800-pixel masks cost no more than small ones). Values agree with
 * torchvision to float rounding of the sums (~1e-7 relative); built from
 * ATen ops, so it runs on every device and has a backward with respect to
 * input (not to rois). The per-image loop reads the batch indices on the host. */
ct_tensor *ct_roi_align_adaptive(const ct_tensor *input, const ct_tensor *rois, double spatial_scale,
                                 int64_t out_h, int64_t out_w, int sampling_ratio, int aligned);

/* torch.randperm(n, device=dev): a random permutation of 0..n-1 (int64
 * [n]) from the global generator (ct_manual_seed). The same generator and
 * algorithm as Python's, so the same seed and the same earlier draws give
 * the same permutation (on the CPU). */
ct_tensor *ct_randperm(int64_t n, ct_device dev);

#ifdef __cplusplus
}
#endif
#endif
