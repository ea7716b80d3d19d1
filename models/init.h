/* init.h: torchvision 0.14's parameter initialisations, for the modules of
 * models/ to apply to their own tensors. Prefix ini_.
 *
 * Each module records the slice of the registry it filled (ini_range, at
 * construction) and has an init function with its own scheme, as the
 * torchvision module's constructor does (resnet.c: kaiming_normal fan_out
 * for convolutions, BN 1/0; fpn.c: kaiming_uniform a=1, biases 0; rpn.c:
 * N(0, 0.01), biases 0; roi_heads.c: nn.Linear's default; mask_head.c:
 * kaiming_normal fan_out, biases 0). Draws come from the global torch
 * generator in registry order, so rcnn_init with a seed gives the same
 * weights as before this module existed and the same every run. */
#ifndef HND_MODELS_INIT_H
#define HND_MODELS_INIT_H

#include "ctorch.h"
#include "model_params.h"

typedef struct {
    int first, end;   /* registry indices [first, end) */
} ini_range;

/* Call before a module registers its tensors... */
ini_range ini_begin(const mp_params *p);
/* ...and after. */
void ini_end(ini_range *r, const mp_params *p);

/* BN statistics and counters of any module: running_mean 0, running_var 1,
 * num_batches_tracked 0. 1 when name is one of them (t filled), 0 if not,
 * -1 on error. */
int ini_bn_stat(const char *name, ct_tensor *t);
/* BatchNorm / FrozenBatchNorm affine: weight 1, bias 0 (by the name's end). */
int ini_bn_affine(const char *name, ct_tensor *t);
/* N(0, std), from the global generator. */
int ini_normal(ct_tensor *t, double std);
/* kaiming_normal_(mode="fan_out", nonlinearity="relu"): N(0, sqrt(2 / fan_out)),
 * fan_out = size(0) x receptive field (torch's rule, ConvTranspose2d too). */
int ini_kaiming_normal_fan_out(ct_tensor *t);
/* kaiming_uniform_(a=1): U(+-sqrt(3 / fan_in)), fan_in = size(1) x receptive field. */
int ini_kaiming_uniform_a1(ct_tensor *t);
/* nn.Linear's default for a weight [out, in] and its bias: U(+-1/sqrt(in)). */
int ini_linear(ct_tensor *w, ct_tensor *b);
int ini_zero(ct_tensor *t);

#endif
