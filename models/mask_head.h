/* mask_head.h: the mask branch of torchvision 0.14's Mask R-CNN.
 *
 *  - mask_roi_pool: MultiScaleRoIAlign 14x14, sampling ratio 2, over the FPN
 *    maps "0".."3" (roi_heads.h);
 *  - MaskRCNNHeads: num_convs (4) x [3x3 conv (conv_channels 256, padding =
 *    dilation) + ReLU];
 *  - MaskRCNNPredictor: ConvTranspose2d 2x2 stride 2 + ReLU, then a 1x1
 *    conv to num_classes logits [R,K,28,28];
 *  - inference (maskrcnn_inference): sigmoid, the channel of each
 *    detection's label -> [R,1,28,28];
 *  - paste_masks_in_image: masks padded by 1 pixel, boxes expanded by
 *    (M+2)/M and truncated to int64, each mask resized bilinearly
 *    (align_corners=False) to its box (w = x2-x1+1, h = y2-y1+1, at least 1)
 *    and pasted into a zero image. Values stay probabilities; callers
 *    threshold (> mask_thresh 0.5) as torchvision's users do.
 *
 * Parameters: "<prefix>mask_head.<i>.0.{weight,bias}" (i = 0..num_convs-1),
 * "<prefix>mask_predictor.conv5_mask.*", "<prefix>mask_predictor.mask_fcn_logits.*"
 * (prefix "roi_heads."); older files' "<prefix>mask_head.mask_fcn<i+1>.*"
 * (the torchvision COCO checkpoint) are accepted as aliases. */
#ifndef MASK_HEAD_H
#define MASK_HEAD_H

#include <stdint.h>

#include "ctorch.h"
#include "model_params.h"
#include "rcnn_config.h"
#include "roi_heads.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mh_head mh_head;

mh_head *mh_new(mp_params *p, const char *prefix, const rcnn_mask_config *cfg, int num_classes,
                int64_t in_channels, const rcnn_box_config *box_cfg);
/* torchvision's initialisation (models/init.h). 0 / -1. */
int mh_init(mh_head *m);
void mh_destroy(mh_head *m);   /* NULL-safe */

/* Mask logits [R,num_classes,2M,2M] of the boxes of num_images images
 * (features "0".."3", n = 4; image_sizes: resized sizes). */
ct_tensor *mh_logits(mh_head *m, const ct_tensor *const *features, int n,
                     const ct_tensor *const *boxes, int num_images, const int64_t (*image_sizes)[2]);

/* Inference on detections: sets dets->masks[i] = [K_i,1,2M,2M] probabilities
 * of each detection's label (new handles). 0 / -1. */
int mh_forward(mh_head *m, const ct_tensor *const *features, int n, rh_detections *dets,
               const int64_t (*image_sizes)[2]);

/* paste_masks_in_image: masks [K,1,M,M], boxes [K,4] in the image's pixels
 * -> [K,1,im_h,im_w] (padding 1, as torchvision). */
ct_tensor *mh_paste_masks(const ct_tensor *masks, const ct_tensor *boxes, int64_t im_h, int64_t im_w);

#ifdef __cplusplus
}
#endif
#endif
