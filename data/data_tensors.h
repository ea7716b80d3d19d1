/* data_tensors.h: a loader batch as ctorch tensors (the only part of data/
 * that links libtorch; library hnd_data_tensors). Prefix dt_.
 *
 * Images: one float32 [3, H, W] tensor per sample (values in [0, 1]; the
 * R-CNN transform normalises, resizes and pads). Targets, torchvision's
 * keys: boxes float32 [N, 4] (x1 y1 x2 y2), labels int64 [N] (category
 * ids), masks uint8 [N, H, W] (only when the loader made them, else NULL),
 * area float32 [N], iscrowd int64 [N], image_id int64 [1], keypoints
 * float32 [N, K, 3] (x, y, visibility; only when the dataset has keypoint
 * categories, else NULL). */
#ifndef HND_DATA_TENSORS_H
#define HND_DATA_TENSORS_H

#include "ctorch.h"
#include "ld.h"

typedef struct {
    ct_tensor *boxes, *labels, *masks, *area, *iscrowd, *image_id, *keypoints;
} dt_target;

/* Tensors of sample s. 0 / -1 (ct_last_error() copied into hnd_error()).
 * Owned by the caller: dt_target_clear / ct_destroy. */
int dt_sample_tensors(const ld_sample *s, ct_tensor **image, dt_target *t);
void dt_target_clear(dt_target *t);

/* All samples of a batch: images[b->n], targets[b->n] (caller's arrays). */
int dt_batch_tensors(const ld_batch *b, ct_tensor **images, dt_target *targets);

#endif
