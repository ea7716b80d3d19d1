/* backbone.h: torchvision's BackboneWithFPN for a ResNet — the body
 * (backbone.body.*, resnet.h) returning layer1..4, then the FPN
 * (backbone.fpn.*, fpn.h) with LastLevelMaxPool: five feature maps named
 * "0", "1", "2", "3", "pool" (strides 4, 8, 16, 32, 64), fpn_out_channels
 * (256) channels each. FPN in_channels: [256,512,1024,2048] for R50/101,
 * [64,128,256,512] for R18/34.
 *
 * Stage-wise access for head network distillation: a student builds the
 * backbone with build_layer1 = 0 and computes
 *     s  = bb_stem(b, images);
 *     c1 = <student layer1>(s);
 *     c2 = bb_layer(b, 2, c1); c3 = bb_layer(b, 3, c2); c4 = bb_layer(b, 4, c3);
 *     bb_fpn(b, (const ct_tensor *[4]){c1, c2, c3, c4}, features);
 * The teacher uses the same calls with bb_layer(b, 1, s).
 *
 * Forwards follow resnet.h's conventions (own scope, new handles returned,
 * NULL/-1 + hnd_error()). */
#ifndef BACKBONE_H
#define BACKBONE_H

#include "ctorch.h"
#include "fpn.h"
#include "model_params.h"
#include "rcnn_config.h"
#include "resnet.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BB_NUM_FEATURES 5

typedef struct bb_backbone bb_backbone;

/* Registers "backbone.body.*" and "backbone.fpn.*" in p. */
bb_backbone *bb_new(mp_params *p, const rcnn_backbone_config *cfg, int build_layer1);
/* The same with a prefix of choice instead of "backbone." (e.g. "" or "teacher.backbone."). */
bb_backbone *bb_new_prefixed(mp_params *p, const char *prefix, const rcnn_backbone_config *cfg,
                             int build_layer1);
/* torchvision's initialisation of body and FPN (models/init.h). 0 / -1. */
int bb_init(bb_backbone *b);
void bb_destroy(bb_backbone *b);   /* NULL-safe */

/* images: the padded batch [N,3,H,W] of rt_transform. features[0..4] =
 * "0","1","2","3","pool" (new handles). 0, or -1 with all NULL. Needs layer1. */
int bb_forward(bb_backbone *b, const ct_tensor *images, ct_tensor *features[BB_NUM_FEATURES]);

ct_tensor *bb_stem(bb_backbone *b, const ct_tensor *images);
ct_tensor *bb_layer(bb_backbone *b, int i, const ct_tensor *x);   /* i = 1..4 */
/* c[0..3]: layer1..layer4 outputs -> features[0..4]. */
int bb_fpn(bb_backbone *b, const ct_tensor *const c[4], ct_tensor *features[BB_NUM_FEATURES]);

/* "0","1","2","3","pool"; NULL out of range. */
const char *bb_feature_name(int i);
int64_t bb_out_channels(const bb_backbone *b);      /* 256 */
int64_t bb_stage_channels(const bb_backbone *b, int stage);   /* rn_channels */
rn_resnet *bb_body(bb_backbone *b);
/* Train/eval mode of trainable BN (rn_set_training). */
void bb_set_training(bb_backbone *b, int training);

#ifdef __cplusplus
}
#endif
#endif
