/* hnd_rate.c: see hnd_rate.h. */
#include "hnd_rate.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dist_dp.h"
#include "hnd_error.h"

/* density_lr: the density's trainable tensors leave params[0..*n) for
 * their own Adam (see hnd_rate.h for why). */
static int open_density(hr_rate *r, const tc_model *m, ct_tensor **params, int *n) {
    ct_tensor *all[HR_MAX_DENSITY];
    int na = ebm_parameters(r->eb, all, HR_MAX_DENSITY);
    if (na < 0 || na > HR_MAX_DENSITY) return hnd_error_set("entropy bottleneck: %d density tensors", na);
    int k = 0;
    r->n_density = 0;
    for (int i = 0; i < *n; i++) {
        int dens = 0;
        for (int j = 0; j < na && !dens; j++) dens = params[i] == all[j];
        if (dens) r->density_params[r->n_density++] = params[i];
        else params[k++] = params[i];
    }
    if (r->n_density == 0) return 0;   /* frozen: nothing to step */
    if (dp_world() > 1)   /* its gradients would need their own all-reduce */
        return hnd_error_set("student_model.entropy_bottleneck.density_lr: not supported with data-parallel "
                             "training yet (leave it null: the density then trains in the main optimizer)");
    *n = k;
    r->density_lr = m->eb_density_lr;
    if (!(r->density = ct_optim_adam(r->density_params, r->n_density, r->density_lr, 0.9, 0.999, 1e-8, 0.0, 0)))
        return hnd_error_set("entropy bottleneck: density optimizer: %s", ct_last_error());
    return 0;
}

int hr_open(hr_rate *r, sr_model *s, const tc_model *m, ct_tensor **params, int *n) {
    memset(r, 0, sizeof *r);
    if (!(r->eb = sr_entropy(s))) return 0;
    ct_tensor *q = ebm_quantiles(r->eb);
    int k = 0;
    for (int i = 0; i < *n; i++)
        if (params[i] != q) params[k++] = params[i];
    if (k == *n) {
        /* frozen (frozen_modules): nothing to learn for the density's range */
        r->eb = NULL;
        return 0;
    }
    *n = k;
    r->beta = m->eb_beta;
    if (!(r->aux = ct_optim_adam(&q, 1, m->eb_aux_lr, 0.9, 0.999, 1e-8, 0.0, 0)))
        return hnd_error_set("entropy bottleneck: aux optimizer: %s", ct_last_error());
    if (m->eb_density_lr > 0) return open_density(r, m, params, n);
    return 0;
}

ct_tensor *hr_add_rate(hr_rate *r, sr_model *s, ct_tensor *loss, int n_images) {
    if (!r->eb || !loss) return loss;
    ct_tensor *bits = stu_take_bits(sr_bottleneck(s));
    if (!bits) {
        hnd_error_set("entropy bottleneck: no rate from the student's forward (not in training mode?)");
        return NULL;
    }
    double b = NAN;
    ct_item_f64(bits, &b);
    r->bits_sum += b;
    r->images += n_images;
    ct_tensor *out = ct_add(loss, ct_mul_scalar(bits, r->beta));
    ct_destroy(bits);   /* the graph lives on in out */
    if (!out) hnd_error_set("entropy bottleneck: rate term: %s", ct_last_error());
    return out;
}

int hr_aux_step(hr_rate *r) {
    if (!r->eb) return 0;
    /* the density's step on the gradients the main loss's backward left;
     * zeroed after, since the main optimizer's zero_grad does not see them
     * (the aux loss below detaches them) */
    if (r->density && (ct_optim_step(r->density) != 0 || ct_optim_zero_grad(r->density, 0) != 0))
        return hnd_error_set("entropy bottleneck: density step: %s", ct_last_error());
    ct_scope_begin();
    int rc = 0;
    ct_tensor *aux = ebm_aux_loss(r->eb);
    if (!aux || ct_optim_zero_grad(r->aux, 0) != 0 || ct_backward(aux) != 0 || ct_optim_step(r->aux) != 0 ||
        ct_item_f64(aux, &r->aux_last) != 0)
        rc = hnd_error_set("entropy bottleneck: aux step: %s", hnd_error()[0] ? hnd_error() : ct_last_error());
    ct_scope_end();
    return rc;
}

void hr_log(hr_rate *r, trun_log *log, int64_t epoch) {
    if (!r->eb || !r->images) return;
    trun_logf(log, "epoch %lld: rate %.1f bits/image (noisy, training; beta %g), aux loss %.4g", (long long)epoch,
              r->bits_sum / (double)r->images, r->beta, r->aux_last);
    char js[256];
    snprintf(js, sizeof js, "{\"type\": \"rate\", \"epoch\": %lld, \"train_bits_per_image\": %.3f, \"aux_loss\": %.6g}",
             (long long)epoch, r->bits_sum / (double)r->images, r->aux_last);
    trun_metric(log, js);
    r->bits_sum = 0;
    r->images = 0;
}

void hr_close(hr_rate *r) {
    if (!r) return;
    ct_optim_destroy(r->aux);
    ct_optim_destroy(r->density);
    memset(r, 0, sizeof *r);
}
