/* tf.h: training targets and transforms on plain buffers. Torch-free,
 * prefix tf_.
 *
 * Targets follow torchvision's references/detection ConvertCocoPolysToMask:
 * crowd annotations dropped (unless keep_crowd), boxes xywh -> xyxy in
 * float32 and clamped to the image, boxes with x2 <= x1 or y2 <= y1 removed
 * together with their label, mask, area and iscrowd; labels are the COCO
 * category ids (sparse 1..90 for COCO); masks are the union of the object's
 * polygons (pycocotools rasterisation), one uint8 plane of h*w per object,
 * row-major. */
#ifndef HND_TF_H
#define HND_TF_H

#include <stddef.h>
#include <stdint.h>

#include "coco_ann.h"

typedef struct {
    int64_t image_id;
    int height, width; /* of the image the target refers to */
    int n;             /* objects */
    float *boxes;      /* n*4, x1 y1 x2 y2 */
    int64_t *labels;   /* n, category ids */
    uint8_t *masks;    /* n*height*width (0/1), NULL when not asked for */
    float *area;       /* n, the annotation's "area" */
    int64_t *iscrowd;  /* n */
    int64_t *ann_ids;  /* n, the annotation ids (for tracing) */
    /* Keypoints, when the dataset has keypoint categories (coco_kp_layout):
     * torchvision's target["keypoints"], float32 [n, num_kp, 3] (x, y,
     * visibility as in the file; an object without "keypoints" all 0).
     * kp_flip: the dataset's flip map (num_kp). Both NULL, num_kp 0, when
     * the dataset has no keypoints. */
    int num_kp;
    float *keypoints;
    int32_t *kp_flip;
} tf_target;

typedef struct {
    int with_masks; /* rasterise masks */
    int keep_crowd; /* keep iscrowd=1 annotations (torchvision drops them) */
} tf_target_opts;

/* Build the target of image img (index into ds->images). 0 / -1. */
int tf_target_build(const coco_dataset *ds, int64_t img, const tf_target_opts *o, tf_target *t);
void tf_target_clear(tf_target *t);

/* Horizontal flips (torchvision's RandomHorizontalFlip of references/detection):
 * image, boxes (x1' = W - x2, x2' = W - x1) and masks. */
void tf_hflip_hwc_u8(uint8_t *rgb, int height, int width, int channels);
void tf_hflip_chw_f32(float *x, int channels, int height, int width);
void tf_hflip_boxes(float *xyxy, int n, int width);
void tf_hflip_masks(uint8_t *masks, int n, int height, int width);
/* torchvision's references/detection _flip_coco_person_keypoints with the
 * map flip (K): kp[i][k] = old kp[i][flip[k]], x -> width - x, then every
 * keypoint of visibility 0 set to (0, 0, 0). */
void tf_hflip_keypoints(float *kp, int n, int K, const int32_t *flip, int width);
/* torchvision's resize_keypoints: x *= new_w / old_w, y *= new_h / old_h
 * (ratios in float32), visibility untouched; npts points of 3 floats. */
void tf_resize_keypoints(float *kp, size_t npts, int old_h, int old_w, int new_h, int new_w);
/* Everything of a target (boxes, masks, keypoints). */
void tf_hflip_target(tf_target *t);

/* (x - mean[c]) / std[c] in place on float CHW, float32 ops in torch's order. */
void tf_normalize_chw(float *x, int height, int width, const float mean[3], const float std[3]);

/* Bilinear resize of float CHW, align_corners=False, as
 * torch.nn.functional.interpolate(mode="bilinear") computes it on the CPU
 * given the output size (source index = (dst + 0.5) * in/out - 0.5, clamped
 * at 0). dst holds channels*oh*ow floats. */
int tf_resize_bilinear_chw(const float *src, int channels, int ih, int iw, float *dst, int oh, int ow);

/* The size GeneralizedRCNNTransform resizes an ih x iw image to (min_size
 * 800, max_size 1333 in torchvision): scale = min(min_size / short side,
 * max_size / long side) in float32 as torch computes it (reciprocal, then
 * multiply), out = floor(in * scale) in double (recompute_scale_factor). */
void tf_rcnn_size(int ih, int iw, int min_size, int max_size, int *oh, int *ow);

#endif
