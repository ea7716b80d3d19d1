/* hnd_rate.h: the rate side of training a student with a learned entropy
 * bottleneck (models/entropy_bottleneck.h, config student_model.
 * entropy_bottleneck): loss = distillation terms + beta x bits, and the
 * quantiles' own optimizer, as CompressAI trains an EntropyBottleneck.
 * A student without one passes through untouched. Prefix hr_.
 *
 * Rate: the bits -sum log2 p of the noisy bottleneck of the whole batch
 * (the MSE(sum) terms also sum over the batch, so per image the loss is
 * D_i + beta R_i with R_i in bits per image).
 * Auxiliary: Adam (lr aux_lr, betas 0.9/0.999) on the quantiles alone,
 * one step per iteration on sum |g(q) - (-t, 0, t)|; the main optimizer
 * never sees them. Its state is saved in checkpoints next to the main
 * optimizer's (/train/aux_optim.*, ckpt.h) and restored on resume; the
 * noise of each step comes from a generator hnd_train seeds by the step,
 * so a resumed run ends bit-identical to an uninterrupted one. The rate
 * counts with the mixed losses too (org_loss_factor > 0).
 *
 * Density (density_lr > 0): the density's matrices, biases and factors
 * (ebm_parameters) leave the main optimizer for their own Adam at
 * density_lr, stepped after each backward of the main loss (the rate term is
 * their only gradient). CompressAI keeps them in the main optimizer, which is
 * fine for its millions of steps; from init_scale 10 the density is ~10
 * wide and the demo's 500 steps at the main lr (1e-3, then 1e-4) cannot
 * sharpen it, so the prior charges several times the latent's entropy.
 * The main scheduler does NOT scale density_lr: the latent keeps moving
 * after the milestone, and a decayed lr would freeze a density that still
 * has to follow it (as the quantiles' aux_lr, it stays constant). Its state
 * is saved as /train/density_optim.* and restored on resume. Not with
 * data-parallel training (an error). Absent: the density stays in the main
 * optimizer, as CompressAI. */
#ifndef HND_HR_RATE_H
#define HND_HR_RATE_H

#include <stdint.h>

#include "config.h"
#include "ctorch.h"
#include "split_rcnn.h"
#include "train_run.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HR_MAX_DENSITY 16

typedef struct {
    ebm_model *eb;      /* NULL: no entropy bottleneck, every call a no-op */
    ct_optim *aux;
    ct_optim *density;  /* NULL: the density is in the main optimizer */
    ct_tensor *density_params[HR_MAX_DENSITY];   /* borrowed */
    int n_density;
    double density_lr;
    double beta;
    double bits_sum, aux_last;   /* since the last hr_log: rate of the batches, last aux loss */
    int64_t images;
} hr_rate;

/* For student s of config model m: removes the quantiles (and with
 * density_lr the density's tensors) from the trainable tensors
 * params[0..*n) (compacted in place, *n updated) and builds their
 * optimizers. 0 / -1 + hnd_error(). */
int hr_open(hr_rate *r, sr_model *s, const tc_model *m, ct_tensor **params, int *n);
/* loss + beta x the bits of the student's last training forward (taken from
 * it); loss itself without an entropy bottleneck. NULL + hnd_error(). */
ct_tensor *hr_add_rate(hr_rate *r, sr_model *s, ct_tensor *loss, int n_images);
/* After the main loss's backward: the density's step (density_lr) and one
 * step of the quantiles' optimizer. 0 / -1. */
int hr_aux_step(hr_rate *r);
/* "rate: B bits/image (noisy, training), aux loss A" into the log, and resets. */
void hr_log(hr_rate *r, trun_log *log, int64_t epoch);
void hr_close(hr_rate *r);

#ifdef __cplusplus
}
#endif
#endif
