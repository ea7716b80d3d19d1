/* hnd_rate.c: see hnd_rate.h. */
#include "hnd_rate.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hnd_error.h"

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
    memset(r, 0, sizeof *r);
}
