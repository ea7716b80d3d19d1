/* entropy_bottleneck.h: a learned factorized-prior density model of the
 * bottleneck, one per channel (Balle et al., "Variational image compression
 * with a scale hyperprior", ICLR 2018, appendix 6.1; the EntropyBottleneck
 * of CompressAI), so that training can minimise distortion + beta x rate and
 * the link can carry entropy-coded integer symbols. Prefix ebm_.
 *
 * The density of channel c is the derivative of a learned monotone CDF
 *   F_c(x) = sigmoid(g_c(x)),  g_c = f_K o ... o f_0   (K = 3, filters 3,3,3)
 *   f_k(x) = softplus(H_k) x + b_k, then for k < K:  + tanh(a_k) * tanh(.)
 * (H_k of shape [C, out, in] with 1 -> 3 -> 3 -> 3 -> 1, softplus keeps
 * every map monotone). A quantized value y has likelihood
 *   p(y) = |sigmoid(s g(y+1/2)) - sigmoid(s g(y-1/2))|,  s = -sign(g(y+1/2)+g(y-1/2))
 * (the sign flip evaluates the difference in the sigmoid's flat tail, where
 * it is accurate), bounded below by 1e-9 with the gradient passed through.
 * Rate = sum of -log2 p over the tensor.
 *
 * Initialisation as CompressAI's (init_scale 10): H_k = log(expm1(1 /
 * 10^(1/4) / out_k)), b_k ~ U(-0.5, 0.5), a_k = 0, quantiles [-10, 0, 10].
 * The quantiles [C,1,3] are trained by their own (auxiliary) loss
 *   sum |g(quantiles) - [-t, 0, t]|,  t = log(2 / tail_mass - 1), tail_mass 1e-9,
 * with the density's parameters detached, so that they converge to the
 * tail_mass/2, median and 1 - tail_mass/2 quantiles of each channel: the
 * median is the rounding offset, the outer two bound the coded support.
 *
 * Training adds uniform noise U(-1/2, 1/2) (a differentiable stand-in for
 * rounding); evaluation rounds around the medians, y^ = round(y - m) + m,
 * and the integer round(y - m) is what the link codes (infer/eb_codec.h).
 *
 * Registry keys, CompressAI's state_dict names under <prefix>
 * "entropy_bottleneck.": _matrix{0..3}, _bias{0..3}, _factor{0..2},
 * quantiles (all MP_PARAM); CompressAI's buffers (_offset, _quantized_cdf,
 * _cdf_length, target) are ignored when a file has them. */
#ifndef HND_ENTROPY_BOTTLENECK_H
#define HND_ENTROPY_BOTTLENECK_H

#include <stdint.h>

#include "ctorch.h"
#include "model_params.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EBM_KEY "entropy_bottleneck."
#define EBM_NLAYERS 4            /* filters (3,3,3): four matrices */
#define EBM_INIT_SCALE 10.0
#define EBM_TAIL_MASS 1e-9
#define EBM_LIKELIHOOD_BOUND 1e-9

typedef struct ebm_model ebm_model;

/* Registers the density of `channels` channels in p under
 * prefix + "entropy_bottleneck.". Values as ebm_init leaves them except the
 * biases (zero until ebm_init). NULL + hnd_error(). */
ebm_model *ebm_new(mp_params *p, const char *prefix, int64_t channels);
void ebm_destroy(ebm_model *e);   /* NULL-safe; the tensors belong to the registry */
/* CompressAI's initialisation; the biases from the global generator. 0 / -1. */
int ebm_init(ebm_model *e);
int64_t ebm_channels(const ebm_model *e);

/* The density's parameters (matrices, biases, factors: the main optimizer's)
 * and the quantiles (the auxiliary optimizer's), borrowed. Count or -1. */
int ebm_parameters(const ebm_model *e, ct_tensor **out, int max);
ct_tensor *ebm_quantiles(const ebm_model *e);

/* g(x) for x [C,1,N] -> [C,1,N]; stop_gradient detaches the parameters. */
ct_tensor *ebm_logits_cumulative(const ebm_model *e, const ct_tensor *x, int stop_gradient);
/* Likelihoods of y [N,C,H,W] (already noisy or rounded), lower-bounded. */
ct_tensor *ebm_likelihood(const ebm_model *e, const ct_tensor *y);
/* y + U(-1/2, 1/2) drawn from the global generator. */
ct_tensor *ebm_add_noise(const ct_tensor *y);
/* round(y - m) + m with the medians m (detached); y [N,C,H,W]. */
ct_tensor *ebm_dequantize(const ebm_model *e, const ct_tensor *y);
/* The medians [C] (detached, float32). */
ct_tensor *ebm_medians(const ebm_model *e);
/* sum(-log2 likelihood): a 0-dim tensor. */
ct_tensor *ebm_bits(const ct_tensor *likelihood);
/* The auxiliary (quantile) loss, 0-dim. */
ct_tensor *ebm_aux_loss(const ebm_model *e);

/* The discrete distribution each channel's symbols are coded with
 * (CompressAI's update()): for channel c, symbols round(y - m_c) in
 * [offset_c, offset_c + length_c) have probabilities pmf[c * max_len + i],
 * i < length_c (evaluated at m_c + offset_c + i +- 1/2); everything outside
 * has tail[c]. offset_c = -max(0, ceil(m_c - q_c0)), length_c = max(0,
 * ceil(q_c2 - m_c)) - offset_c + 1. Arrays malloc'd (ebm_pmf_clear). */
typedef struct {
    int64_t channels, max_len;
    int32_t *offset, *length;
    float *medians;
    double *pmf, *tail;
} ebm_pmf;

/* lengths above max_length are an error (a density that has not converged:
 * the quantiles far apart). 0 / -1 + hnd_error(). */
int ebm_compute_pmf(const ebm_model *e, int64_t max_length, ebm_pmf *out);
void ebm_pmf_clear(ebm_pmf *p);

#ifdef __cplusplus
}
#endif
#endif
