/* anchors.h: torchvision's AnchorGenerator for an FPN detector (one anchor
 * size per level, the same aspect ratios on every level).
 *
 * Cell anchors of a level: for each ratio r (= height/width) in order,
 * h_ratio = sqrt(r), w_ratio = 1/h_ratio, w = w_ratio*size, h = h_ratio*size
 * and the box (-w, -h, w, h)/2 rounded half to even, all in float32 exactly
 * as torchvision computes them. Grid anchors: for each position (y, x) of the
 * level's feature map (row-major) and each cell anchor,
 * (x*sx, y*sy, x*sx, y*sy) + cell, with integer strides
 * sy = image_h // grid_h, sx = image_w // grid_w of the padded batch. */
#ifndef ANCHORS_H
#define ANCHORS_H

#include <stdint.h>

#include "ctorch.h"
#include "rcnn_config.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int num_levels;
    int num_anchors;                              /* per location (= ratios) */
    float cell[RCNN_MAX_LEVELS][RCNN_MAX_RATIOS][4];
} an_generator;

/* 0, or -1 + hnd_error() on a config without levels or ratios. */
int an_init(an_generator *g, const rcnn_anchor_config *cfg);

/* The anchors of one image of the padded batch, levels concatenated:
 * float32 [sum_l H_l*W_l*A, 4] on dev (the same for every image of a batch).
 * grid_hw[l] = (H_l, W_l) of feature level l; n must equal g->num_levels.
 * per_level (may be NULL) receives H_l*W_l*A. NULL + hnd_error() on error. */
ct_tensor *an_grid_anchors(const an_generator *g, const int64_t image_hw[2],
                           const int64_t (*grid_hw)[2], int n, ct_device dev, int64_t *per_level);

#ifdef __cplusplus
}
#endif
#endif
