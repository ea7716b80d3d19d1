/* bottleneck.h: the student's layer 1 for head network distillation —
 * the reference project's Bottleneck4LargeResNet (ResNet-50/101) and
 * Bottleneck4SmallResNet (ResNet-18/34), an encoder, an optional bottleneck
 * transformer (quantize/dequantize, bottleneck_quant.h), a decoder:
 *
 *   encoder  0 conv2x2(64->64, p1)  1 BN(64)  2 conv2x2(64->256, p1)  3 BN(256)
 *            4 ReLU  5 conv2x2(256->64, p1)  6 BN(64)  7 conv2x2(64->C, p1)
 *   decoder  0 BN(C)  1 ReLU  2 conv2x2(C->64)  3 BN(64)  4 conv2x2(64->128)
 *            5 BN(128)  6 ReLU  7 conv2x2(128->D1)  8 BN(D1)  9 conv2x2(D1->D)
 *            10 BN(D)  11 ReLU
 *   Large: D1 = D = 256 (layer1 of ResNet-50 has 256 channels);
 *   Small: D1 = D = 64  (layer1 of ResNet-18/34 has 64).
 *
 * Convolutions have no bias. Each conv2x2 with padding 1 grows the map by 1,
 * each without padding shrinks it by 1: the stem's 64 x h x w (h = H/4 of the
 * padded image) becomes the bottleneck C x (h+4) x (w+4), and the decoder
 * returns D x h x w, the shape of the teacher's layer1 output.
 *
 * Tensors are registered in an mp_params registry under
 * "<prefix>encoder.N.weight", "<prefix>encoder.N.running_mean", ...
 * (nn.Sequential indices as above; the detector's prefix is
 * "backbone.body.layer1."). BNs are trainable nn.BatchNorm2d (momentum 0.1,
 * eps 1e-5): weight/bias MP_PARAM, running stats MP_BUFFER, and the file key
 * num_batches_tracked is accepted and ignored. Convolution weights and BN
 * affine parameters require grad. Training mode uses batch statistics and
 * updates the running ones; eval mode (the default) uses the running ones.
 *
 * Forwards follow resnet.h's conventions: their own scope, a new handle
 * returned, NULL + hnd_error() on failure, autograd recorded when grad mode
 * is on. Prefix stu_. */
#ifndef HND_BOTTLENECK_H
#define HND_BOTTLENECK_H

#include <stdint.h>

#include "bottleneck_quant.h"
#include "ctorch.h"
#include "entropy_bottleneck.h"
#include "model_params.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { STU_LARGE = 0, STU_SMALL = 1 } stu_kind;

/* "Bottleneck4LargeResNet" / "Bottleneck4SmallResNet" -> kind, else -1. */
int stu_kind_parse(const char *name);
const char *stu_kind_name(stu_kind k);
/* The kind that fits a ResNet depth (18/34 small, 50/101 large), else -1. */
int stu_kind_for_depth(int depth);

typedef struct stu_bottleneck stu_bottleneck;

/* Registers the encoder and decoder in p under prefix (e.g.
 * "backbone.body.layer1."). Tensors start as PyTorch's constructor leaves
 * them: conv weights zero until stu_init, BN weight 1, bias 0, running mean
 * 0, var 1. channels >= 1. NULL + hnd_error() on a bad argument or a
 * duplicate name. */
stu_bottleneck *stu_new(mp_params *p, const char *prefix, stu_kind kind, int64_t channels);
void stu_destroy(stu_bottleneck *s);   /* NULL-safe; the tensors belong to the registry */

/* The reference's initialisation (CustomResNet re-initialises every Conv2d):
 * kaiming_normal_(mode="fan_out", nonlinearity="relu"), std = sqrt(2 / (Cout*2*2)),
 * drawn from the global torch generator (ct_manual_seed); BNs 1 / 0. 0 / -1. */
int stu_init(stu_bottleneck *s);

stu_kind stu_get_kind(const stu_bottleneck *s);
int64_t stu_channels(const stu_bottleneck *s);       /* C */
int64_t stu_out_channels(const stu_bottleneck *s);   /* 256 (large) or 64 (small) */
/* Parameter tensors (convs + BN affine), borrowed, in registration order:
 * what an optimizer of the student's layer1 gets. Returns the count (<= max). */
int stu_parameters(const stu_bottleneck *s, ct_tensor **out, int max);
/* Number of elements of all parameters (buffers excluded). */
int64_t stu_num_parameters(const stu_bottleneck *s);

void stu_set_training(stu_bottleneck *s, int training);
int stu_is_training(const stu_bottleneck *s);

/* Bottleneck transformer applied by stu_forward between encoder and decoder
 * in eval mode only (as the reference: never while training): 0 = none,
 * 8 = 8-bit quantize + dequantize, 16 = half precision and back. 0 / -1. */
int stu_set_transform(stu_bottleneck *s, int num_bits);
int stu_get_transform(const stu_bottleneck *s);

/* An entropy bottleneck (entropy_bottleneck.h, borrowed; NULL detaches)
 * between encoder and decoder: stu_forward adds uniform noise in training
 * mode and keeps the rate it costs (bits, summed over the batch, with its
 * graph) for stu_take_bits; in eval mode it rounds around the medians
 * instead of the num_bits transformer. stu_init initialises it too. */
int stu_set_entropy(stu_bottleneck *s, ebm_model *eb);
ebm_model *stu_entropy(const stu_bottleneck *s);
/* The rate of the last training forward (a 0-dim tensor, owned by the
 * caller, in no scope), or NULL; taking it clears it. */
ct_tensor *stu_take_bits(stu_bottleneck *s);

/* x [N,64,h,w] -> z [N,C,h+4,w+4]. */
ct_tensor *stu_encode(stu_bottleneck *s, const ct_tensor *x);
/* z [N,C,h+4,w+4] -> [N,D,h,w]. */
ct_tensor *stu_decode(stu_bottleneck *s, const ct_tensor *z);
/* encode, transform (eval mode and enabled), decode. */
ct_tensor *stu_forward(stu_bottleneck *s, const ct_tensor *x);

#ifdef __cplusplus
}
#endif
#endif
