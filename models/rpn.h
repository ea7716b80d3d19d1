/* rpn.h: torchvision 0.14's RegionProposalNetwork: RPNHead (3x3 conv +
 * ReLU, then 1x1 convs to A objectness logits and 4A box deltas per
 * location, the same weights on every FPN level), anchors (anchors.h),
 * the box coder with weights (1,1,1,1), and proposal filtering:
 *   per level and image the top pre_nms_top_n objectness logits (test 1000,
 *   train 2000), sigmoid, boxes clipped to the (resized, unpadded) image,
 *   boxes smaller than min_size (1e-3) removed, scores below score_thresh
 *   (0.0) removed, NMS (0.7) per level (batched_nms), the first
 *   post_nms_top_n (test 1000, train 2000) kept in decreasing score order.
 *
 * Parameters: "<prefix>head.conv.0.0.{weight,bias}",
 * "<prefix>head.cls_logits.{weight,bias}", "<prefix>head.bbox_pred.{weight,bias}"
 * (prefix "rpn."); files of older torchvision (the COCO checkpoints) name the
 * first conv "<prefix>head.conv.{weight,bias}", accepted as an alias.
 *
 * The losses (anchor matching, sampling, objectness BCE and smooth-L1) are
 * in rcnn_loss.h (rl_rpn_loss), from what rpn_output keeps (anchors, flat
 * logits and deltas with autograd history). Forwards run in their own scope and
 * return new handles in the caller's scope; NULL/-1 + hnd_error(). */
#ifndef RPN_H
#define RPN_H

#include <stdint.h>

#include "anchors.h"
#include "box_coder.h"
#include "ctorch.h"
#include "model_params.h"
#include "rcnn_config.h"
#include "rcnn_transform.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rpn_net rpn_net;

rpn_net *rpn_new(mp_params *p, const char *prefix, const rcnn_rpn_config *cfg,
                 const rcnn_anchor_config *anchors, int64_t in_channels);
/* torchvision's initialisation (models/init.h). 0 / -1. */
int rpn_init(rpn_net *r);
void rpn_destroy(rpn_net *r);   /* NULL-safe; tensors belong to the registry */
void rpn_set_training(rpn_net *r, int training);   /* selects the train/test top-n */

/* The head on n feature maps: logits[l] [N,A,H,W], deltas[l] [N,4A,H,W]
 * (new handles). 0 / -1 (outputs all NULL). */
int rpn_head_forward(rpn_net *r, const ct_tensor *const *features, int n, ct_tensor **logits,
                     ct_tensor **deltas);

typedef struct {
    int num_images;
    ct_tensor **boxes;       /* per image [K_i,4] proposals (detached) */
    ct_tensor **scores;      /* per image [K_i] objectness probabilities */
    /* for the losses (training) and inspection: */
    ct_tensor *anchors;      /* [T,4] anchors of one image (T over all levels) */
    ct_tensor *objectness;   /* [N*T,1] logits, levels concatenated per image */
    ct_tensor *deltas;       /* [N*T,4] */
    int num_levels;
    int64_t anchors_per_level[RCNN_MAX_LEVELS];
} rpn_output;

/* Full RPN on the batch `images` (for the image sizes and padded size) and
 * its n feature maps. Fills *out (handles in the caller's scope). 0 / -1. */
int rpn_forward(rpn_net *r, const rt_image_list *images, const ct_tensor *const *features, int n,
                rpn_output *out);
void rpn_output_clear(rpn_output *o);   /* frees handles and arrays; zeroes */

#ifdef __cplusplus
}
#endif
#endif
