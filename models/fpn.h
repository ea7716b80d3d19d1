/* fpn.h: torchvision.ops.FeaturePyramidNetwork with LastLevelMaxPool, the
 * `backbone.fpn` of a ResNet-FPN detector, on ctorch.
 *
 * For inputs x[0..n-1] (highest resolution first): inner_i = 1x1 conv
 * (bias) of x[i]; from the coarsest level down, last = inner_i +
 * nearest-upsample(last, to the exact size of inner_i); out[i] = 3x3 conv
 * pad 1 (bias) of last. With the extra block, out[n] ("pool") =
 * max_pool2d(out[n-1], kernel 1, stride 2, pad 0), i.e. size ceil(H/2).
 *
 * Registered names (torchvision >= 0.13, Conv2dNormActivation):
 *   "<prefix>inner_blocks.<i>.0.weight|bias", "<prefix>layer_blocks.<i>.0.weight|bias"
 * all MP_PARAM with requires_grad on (torchvision never freezes the FPN).
 * Files in the older layout ("<prefix>inner_blocks.<i>.weight", as in the
 * original torchvision COCO checkpoints) load too: those names are declared
 * as aliases (mp_params_alias), as torchvision's _load_from_state_dict does. */
#ifndef FPN_H
#define FPN_H

#include "ctorch.h"
#include "model_params.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FPN_MAX_LEVELS 8

typedef struct fpn_net fpn_net;

/* n_in (1..FPN_MAX_LEVELS-1) input levels with in_channels[i] > 0 channels
 * each, out_channels outputs,
 * extra_max_pool != 0: append the "pool" level. prefix e.g. "backbone.fpn.". */
fpn_net *fpn_new(mp_params *p, const char *prefix, const int64_t *in_channels, int n_in,
                 int64_t out_channels, int extra_max_pool);
/* torchvision's initialisation (models/init.h). 0 / -1. */
int fpn_init(fpn_net *f);
void fpn_destroy(fpn_net *f);   /* NULL-safe */

/* Number of outputs: n_in (+1 with the max-pool level). */
int fpn_num_outputs(const fpn_net *f);
int64_t fpn_out_channels(const fpn_net *f);

/* x[0..n_in-1] -> out[0..fpn_num_outputs-1] (new handles). 0, or -1 with
 * every out[] NULL and hnd_error() naming the level and shapes. */
int fpn_forward(fpn_net *f, const ct_tensor *const *x, ct_tensor **out);

#ifdef __cplusplus
}
#endif
#endif
