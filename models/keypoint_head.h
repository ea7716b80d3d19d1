/* keypoint_head.h: the keypoint branch of torchvision 0.14's Keypoint R-CNN
 * (keypoint_rcnn.py, roi_heads.py). Prefix kh_.
 *
 *  - keypoint_roi_pool: MultiScaleRoIAlign 14x14, sampling ratio 2, over the
 *    FPN maps "0".."3" (roi_heads.h);
 *  - KeypointRCNNHeads: num_convs (8) x [3x3 conv (512 channels, padding 1)
 *    + ReLU];
 *  - KeypointRCNNPredictor: ConvTranspose2d (kernel 4, stride 2, padding 1)
 *    to num_keypoints channels, then bilinear x2 (align_corners=False, the
 *    scale factor given, not recomputed): logits [R,K,56,56];
 *  - keypointrcnn_inference / heatmaps_to_keypoints: per box, widths and
 *    heights clamped to >= 1, each map resized bicubically to
 *    (ceil(h), ceil(w)), the first maximum of each keypoint's map (argmax
 *    over the flattened map), x = (x_int + 0.5) * w / ceil(w) + x1 (float32),
 *    y likewise, v = 1; the score is the resized map's value there.
 *
 * Parameters: "<prefix>keypoint_head.<2i>.{weight,bias}" (i = 0..num_convs-1,
 * nn.Sequential with the ReLUs between) and
 * "<prefix>keypoint_predictor.kps_score_lowres.{weight,bias}" (prefix
 * "roi_heads."). The loss (keypointrcnn_loss) is in rcnn_loss.h. */
#ifndef KEYPOINT_HEAD_H
#define KEYPOINT_HEAD_H

#include <stdint.h>

#include "ctorch.h"
#include "model_params.h"
#include "rcnn_config.h"
#include "roi_heads.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kh_head kh_head;

kh_head *kh_new(mp_params *p, const char *prefix, const rcnn_keypoint_config *cfg, int64_t in_channels,
                const rcnn_box_config *box_cfg);
/* torchvision's initialisation: kaiming_normal (fan_out, relu), zero biases. */
int kh_init(kh_head *k);
void kh_destroy(kh_head *k);   /* NULL-safe */

/* Keypoint logits [R,K,4S,4S] (S = roi_output_size) of the boxes of
 * num_images images (features "0".."3", n = 4; image_sizes: resized sizes). */
ct_tensor *kh_logits(kh_head *k, const ct_tensor *const *features, int n, const ct_tensor *const *boxes,
                     int num_images, const int64_t (*image_sizes)[2]);

/* heatmaps_to_keypoints: maps [R,K,M,M], rois [R,4] -> *keypoints float
 * [R,K,3] (x, y, 1) and *scores float [R,K] (new handles). 0 / -1. */
int kh_heatmaps_to_keypoints(const ct_tensor *maps, const ct_tensor *rois, ct_tensor **keypoints,
                             ct_tensor **scores);

/* Inference on detections: sets dets->keypoints[i] [K_i,NK,3] and
 * dets->keypoint_scores[i] [K_i,NK] (resized-image coordinates). 0 / -1. */
int kh_forward(kh_head *k, const ct_tensor *const *features, int n, rh_detections *dets,
               const int64_t (*image_sizes)[2]);

#ifdef __cplusplus
}
#endif
#endif
