/* hnd_mixed.h: one batch's loss when the reference runs the whole student
 * (student_model.distill_backbone_only: false) and adds its detection losses
 * (train.criterion.params.org_loss_factor > 0): the reference's
 * GeneralizedCustomLoss,
 *     sum over terms of factor * MSE/L1(teacher module, student module)
 *       + org_loss_factor * sum of the student's detection losses,
 * where the student ran GeneralizedRCNN.forward(images, targets) in training
 * mode (transform with targets, backbone with the bottleneck in float, FPN,
 * RPN at its training top-n and samplers, RoI heads, mask head) and the
 * teacher, in eval mode, the same transformed batch up to the deepest term.
 * Losses from models/rcnn_loss.h (torchvision 0.14's). Prefix hx_. */
#ifndef HND_HX_MIXED_H
#define HND_HX_MIXED_H

#include "config.h"
#include "ctorch.h"
#include "rcnn_loss.h"
#include "split_rcnn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    double total;                  /* the loss */
    double distill;                /* the terms' sum */
    double det[RL_NUM_LOSSES];     /* each detection loss (NAN where absent), before the factor */
} hx_parts;

/* The loss of images (n float [3,H,W] in [0,1] on the models' device) with
 * targets (boxes, labels; masks for Mask R-CNN) in the caller's scope, its
 * graph reaching the student's trainable parameters; the student's RPN and
 * RoI heads are in training mode only during the call (its bottleneck as
 * sr_set_training left it). channels_last: the batch in NHWC for the
 * backbones. sampler NULL: torchvision's. *loss a new handle; parts may be
 * NULL. 0 / -1 + hnd_error(). */
int hx_batch_loss(const tc_config *c, sr_model *teacher, sr_model *student, const ct_tensor *const *images,
                  const rt_target *targets, int n, int channels_last, const rl_sampler *sampler, ct_tensor **loss,
                  hx_parts *parts);

#ifdef __cplusplus
}
#endif
#endif
