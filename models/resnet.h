/* resnet.h: torchvision's ResNet-18/34/50/101/152 and Wide ResNet-50-2 /
 * 101-2 body (no avgpool/fc), the `backbone.body` of a ResNet-FPN detector,
 * on ctorch.
 *
 * Architecture exactly as torchvision.models.resnet: stem conv1 7x7/2 (no
 * bias), bn1, ReLU, maxpool 3x3/2 pad 1; layer1..4 of BasicBlock (18/34:
 * [2,2,2,2] / [3,4,6,3]) or Bottleneck (50/101/152: [3,4,6,3] / [3,4,23,3] /
 * [3,8,36,3], expansion 4, the stride on the 3x3 conv2; conv1/conv2 are
 * planes * width_per_group / 64 wide: 64 normally, 128 in the Wide ResNets,
 * whose outputs keep planes * 4 channels), a `downsample` (1x1 conv + BN)
 * on the first block of a layer whose stride or width changes.
 *
 * Parameters are registered in an mp_params registry under
 * "<prefix>conv1.weight", "<prefix>bn1.running_var",
 * "<prefix>layer2.0.downsample.0.weight", ... (torchvision state_dict keys;
 * the detector's prefix is "backbone.body."):
 *  - frozen BN (cfg->frozen_bn, torchvision's FrozenBatchNorm2d, the
 *    default of the pretrained detectors): weight, bias, running_mean,
 *    running_var are all MP_BUFFER, requires_grad off;
 *  - trainable BN (BatchNorm2d): weight/bias MP_PARAM, running stats
 *    MP_BUFFER. `num_batches_tracked` is not registered; a file that has it
 *    (BatchNorm2d state dicts) loads all the same: it is declared ignorable
 *    (mp_params_ignore).
 * Convolution weights are MP_PARAM. requires_grad follows torchvision's
 * freezing rule (cfg->trainable_layers 0..5 = how many of layer4, layer3,
 * layer2, layer1, conv1 train, counted from layer4; with 5, bn1 trains too);
 * everything else has requires_grad off.
 *
 * For head network distillation the student replaces layer1 with its own
 * module: build with build_layer1 = 0 (layer1 is then neither built nor
 * registered) and run rn_stem, the student's layer1, then rn_layer(2..4).
 *
 * Forward functions run inside their own ctorch scope: temporaries are freed,
 * the returned tensor is a new handle owned by the caller (registered in the
 * caller's scope if one is open). NULL + hnd_error() on failure. They record
 * autograd history when grad mode is on and something requires grad; wrap
 * inference in ct_grad_set_enabled(0). */
#ifndef RESNET_H
#define RESNET_H

#include "ctorch.h"
#include "model_params.h"
#include "rcnn_config.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rn_resnet rn_resnet;

/* Builds the body of cfg->depth (18, 34, 50, 101, 152) and
 * cfg->width_per_group (0 or 64; 128 for Wide, Bottleneck depths only) and registers its tensors
 * in p under prefix (e.g. "backbone.body."; "" for none). Tensors start as
 * zeros (running_var too): load weights before use. NULL + hnd_error() on an
 * unsupported depth, trainable_layers outside 0..5 or a duplicate name. */
rn_resnet *rn_new(mp_params *p, const char *prefix, const rcnn_backbone_config *cfg,
                  int build_layer1);
/* torchvision's initialisation of the network's tensors, from the global
 * generator (models/init.h). 0 / -1. */
int rn_init(rn_resnet *r);
void rn_destroy(rn_resnet *r);   /* NULL-safe; the tensors belong to the registry */
/* Frees the folded conv+BN weights the inference path caches (rebuilt on
 * the next inference forward). NULL-safe. */
void rn_release_folds(rn_resnet *r);

/* Output channels of stage i: 0 = stem (64), 1..4 = layer i
 * (64,128,256,512 for 18/34; 256,512,1024,2048 for 50/101). -1 if out of range. */
int64_t rn_channels(const rn_resnet *r, int stage);
/* Training mode: only changes trainable BN (batch statistics and running-stat
 * updates, momentum 0.1, like nn.BatchNorm2d in train()); frozen BN ignores it.
 * Starts in eval mode (0). */
void rn_set_training(rn_resnet *r, int training);

/* stem: conv1 -> bn1 -> relu -> maxpool. x: float [N,3,H,W] -> [N,64,H/4,W/4]. */
ct_tensor *rn_stem(rn_resnet *r, const ct_tensor *x);
/* layer i (1..4) on the previous stage's output. Fails for i = 1 when layer1
 * was not built. */
ct_tensor *rn_layer(rn_resnet *r, int i, const ct_tensor *x);
/* stem + layer1..4; out[0..3] = outputs of layer1..layer4 (C2..C5), new
 * handles. 0, or -1 with out[] all NULL. Needs layer1. */
int rn_forward(rn_resnet *r, const ct_tensor *x, ct_tensor *out[4]);

#ifdef __cplusplus
}
#endif
#endif
