/* rcnn_transform.h: torchvision 0.14's GeneralizedRCNNTransform, for
 * inference and training.
 *
 * For each image (float CHW in [0,1], any size, any device):
 *  1. normalize: (img - mean[:,None,None]) / std[:,None,None] (float32);
 *  2. resize: scale = min(min_size / min(h,w), max_size / max(h,w)) computed
 *     in float32 as torchvision does, then bilinear interpolation
 *     (align_corners=False) with scale_factor = scale and
 *     recompute_scale_factor=True: new size = floor(old * scale) (double),
 *     the kernel mapping with old/new sizes;
 *     targets: boxes scaled per axis by float32 ratios new/old; masks
 *     resized the same way with mode "nearest" (uint8 in, uint8 out);
 *     keypoints scaled like the boxes (rt_resize_keypoints);
 *  3. batch: zeros [N,C,Hp,Wp] with Hp, Wp the largest sizes rounded up to a
 *     multiple of size_divisible, each image copied to the top-left (the
 *     copy runs under no-grad: no gradient flows back to the input images).
 * postprocess: detection boxes mapped back to the original image size with
 * the per-axis ratios original/resized (rt_resize_boxes).
 *
 * In training mode (training != 0) torchvision draws the target size with
 * torch_choice over its min_size tuple, consuming one uniform from the global
 * generator per image even with a single size; rt_transform does the same
 * (one ct_rand([1]) per image) so random streams stay aligned with Python. */
#ifndef RCNN_TRANSFORM_H
#define RCNN_TRANSFORM_H

#include <stdint.h>

#include "ctorch.h"
#include "rcnn_config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* torchvision's ImageList plus the original sizes. */
typedef struct {
    ct_tensor *tensors;          /* [n,C,Hp,Wp] padded batch (owned, unscoped
                                    unless a scope was open at rt_transform) */
    int n;
    int64_t (*sizes)[2];         /* n x (h, w) after resizing (image_sizes) */
    int64_t (*orig_sizes)[2];    /* n x (h, w) of the input images */
} rt_image_list;

/* A training target (torchvision's dict). Any member may be NULL. */
typedef struct {
    ct_tensor *boxes;            /* float [K,4] x1,y1,x2,y2 in pixels */
    ct_tensor *labels;           /* int64 [K], passed through unchanged */
    ct_tensor *masks;            /* uint8 [K,H,W] */
    ct_tensor *keypoints;        /* float [K,NK,3] x, y, visibility (Keypoint R-CNN) */
} rt_target;

/* Output size (h, w) of the resize step for an h x w image (the numbers
 * torchvision computes, without touching pixels). -1 on bad arguments. */
int rt_resized_size(int64_t h, int64_t w, double min_size, double max_size, int64_t out[2]);

/* Runs steps 1-3 on n images. targets_in/targets_out: NULL for inference;
 * else n targets in, n resized targets out (new handles in each non-NULL
 * member; labels is a new handle to the same tensor), freed with
 * rt_target_clear. 0 on success, -1 + hnd_error() (naming the image index
 * and shape) with *out zeroed on failure. Handles in *out are created in the
 * caller's current scope. */
int rt_transform(const rcnn_transform_config *cfg, const ct_tensor *const *images, int n,
                 const rt_target *targets_in, rt_target *targets_out, int training,
                 rt_image_list *out);
/* Frees tensors and arrays (ct_destroy is scope-safe); zeroes *l. NULL-safe. */
void rt_image_list_clear(rt_image_list *l);
void rt_target_clear(rt_target *t);

/* One image's step 1 and step 2 (no target), e.g. for tools that batch
 * themselves: [C,H,W] -> [C,h',w']. */
ct_tensor *rt_normalize(const rcnn_transform_config *cfg, const ct_tensor *image);
ct_tensor *rt_resize_image(const rcnn_transform_config *cfg, const ct_tensor *image);

/* boxes [K,4] (x1,y1,x2,y2) from an image of size from_hw to one of size
 * to_hw: x * (float)to_w/(float)from_w, y * (float)to_h/(float)from_h, as
 * torchvision's resize_boxes. Postprocess: from = sizes[i], to = orig_sizes[i]. */
ct_tensor *rt_resize_boxes(const ct_tensor *boxes, const int64_t from_hw[2], const int64_t to_hw[2]);
/* torchvision's resize_keypoints: keypoints [...,3] with x * ratio_w and
 * y * ratio_h (float32 ratios as above), visibility unchanged. */
ct_tensor *rt_resize_keypoints(const ct_tensor *kp, const int64_t from_hw[2], const int64_t to_hw[2]);

#ifdef __cplusplus
}
#endif
#endif
