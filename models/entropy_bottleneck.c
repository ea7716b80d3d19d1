/* entropy_bottleneck.c: see entropy_bottleneck.h. Written from the paper's
 * equations (Balle et al. 2018, appendix 6.1) and the behaviour of
 * CompressAI's EntropyBottleneck (initialisation, sign trick, quantiles). */
#include "entropy_bottleneck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"

static const int64_t k_filters[EBM_NLAYERS + 1] = {1, 3, 3, 3, 1};

struct ebm_model {
    int64_t channels;
    ct_tensor *matrix[EBM_NLAYERS], *bias[EBM_NLAYERS], *factor[EBM_NLAYERS - 1];
    ct_tensor *quantiles;   /* [C,1,3] */
};

static ct_tensor *add(mp_params *p, const char *prefix, const char *leaf, const int64_t *shape, int ndim) {
    char full[256];
    snprintf(full, sizeof full, "%s" EBM_KEY "%s", prefix, leaf);
    ct_tensor *t = mp_params_add(p, full, MP_PARAM, shape, ndim);
    if (t && ct_set_requires_grad(t, 1) != 0) {
        hnd_error_set("entropy bottleneck: %s: %s", full, ct_last_error());
        return NULL;
    }
    return t;
}

ebm_model *ebm_new(mp_params *p, const char *prefix, int64_t channels) {
    if (!p || channels < 1) {
        hnd_error_set("entropy bottleneck: %s", p ? "channels must be >= 1" : "NULL registry");
        return NULL;
    }
    ebm_model *e = calloc(1, sizeof *e);
    if (!e) {
        hnd_error_set("out of memory");
        return NULL;
    }
    e->channels = channels;
    const char *pre = prefix ? prefix : "";
    char leaf[64];
    for (int i = 0; i < EBM_NLAYERS; i++) {
        int64_t ms[3] = {channels, k_filters[i + 1], k_filters[i]}, bs[3] = {channels, k_filters[i + 1], 1};
        snprintf(leaf, sizeof leaf, "_matrix%d", i);
        if (!(e->matrix[i] = add(p, pre, leaf, ms, 3))) goto fail;
        snprintf(leaf, sizeof leaf, "_bias%d", i);
        if (!(e->bias[i] = add(p, pre, leaf, bs, 3))) goto fail;
        if (i < EBM_NLAYERS - 1) {
            snprintf(leaf, sizeof leaf, "_factor%d", i);
            if (!(e->factor[i] = add(p, pre, leaf, bs, 3))) goto fail;
        }
    }
    int64_t qs[3] = {channels, 1, 3};
    if (!(e->quantiles = add(p, pre, "quantiles", qs, 3))) goto fail;
    /* CompressAI's buffers: accepted in a file, not used (the tables are
     * computed from the density, infer/eb_codec.h) */
    static const char *const bufs[] = {"_offset", "_quantized_cdf", "_cdf_length", "target"};
    for (int i = 0; i < 4; i++) {
        char full[256];
        snprintf(full, sizeof full, "%s" EBM_KEY "%s", pre, bufs[i]);
        if (mp_params_ignore(p, full) != 0) goto fail;
    }
    if (ebm_init(e) != 0) goto fail;
    int prev = ct_grad_set_enabled(0);
    for (int i = 0; i < EBM_NLAYERS; i++) ct_zero_(e->bias[i]);
    ct_grad_set_enabled(prev);
    return e;
fail:
    hnd_error_prefix("entropy bottleneck (C=%lld)", (long long)channels);
    free(e);
    return NULL;
}

void ebm_destroy(ebm_model *e) { free(e); }
int64_t ebm_channels(const ebm_model *e) { return e ? e->channels : -1; }

int ebm_init(ebm_model *e) {
    if (!e) return hnd_error_set("entropy bottleneck: NULL");
    const double scale = pow(EBM_INIT_SCALE, 1.0 / EBM_NLAYERS);
    int rc = 0;
    ct_scope_begin();
    int prev = ct_grad_set_enabled(0);
    for (int i = 0; rc == 0 && i < EBM_NLAYERS; i++) {
        /* softplus(H) = 1 / scale / out: the initial g is the identity
         * scaled by 1/init_scale, a logistic of width ~init_scale */
        if (ct_fill_(e->matrix[i], log(expm1(1.0 / scale / (double)k_filters[i + 1]))) != 0) rc = -1;
        ct_tensor *u = ct_rand((int64_t[]){e->channels, k_filters[i + 1], 1}, 3, CT_F32, ct_device_of(e->bias[i]));
        if (rc == 0 && (!u || ct_copy_(e->bias[i], ct_sub_scalar(u, 0.5)) != 0)) rc = -1;
        if (rc == 0 && i < EBM_NLAYERS - 1 && ct_zero_(e->factor[i]) != 0) rc = -1;
    }
    if (rc == 0) {
        const float init[3] = {(float)-EBM_INIT_SCALE, 0.0f, (float)EBM_INIT_SCALE};
        ct_tensor *q = ct_from_buffer(init, CT_F32, 3, (int64_t[]){1, 1, 3});
        ct_tensor *r = q ? ct_expand(q, (int64_t[]){e->channels, 1, 3}, 3) : NULL;
        if (r && ct_device_of(e->quantiles).type != CT_CPU) r = ct_to_device(r, ct_device_of(e->quantiles));
        if (!r || ct_copy_(e->quantiles, r) != 0) rc = -1;
    }
    ct_grad_set_enabled(prev);
    ct_scope_end();
    return rc == 0 ? 0 : hnd_error_set("entropy bottleneck: init: %s", ct_last_error());
}

int ebm_parameters(const ebm_model *e, ct_tensor **out, int max) {
    if (!e) return -1;
    int k = 0;
    for (int i = 0; i < EBM_NLAYERS; i++) {
        if (out && k < max) out[k] = e->matrix[i];
        k++;
        if (out && k < max) out[k] = e->bias[i];
        k++;
        if (i < EBM_NLAYERS - 1) {
            if (out && k < max) out[k] = e->factor[i];
            k++;
        }
    }
    return k;
}

ct_tensor *ebm_quantiles(const ebm_model *e) { return e ? e->quantiles : NULL; }

/* softplus(x) = max(x, 0) + log(1 + exp(-|x|)): no overflow for large |x|,
 * and its gradient is sigmoid(x) (except at exactly 0). */
static ct_tensor *softplus(const ct_tensor *x) {
    return ct_add(ct_relu(x), ct_log(ct_add_scalar(ct_exp(ct_neg(ct_abs(x))), 1.0)));
}

/* [C,o,i] x [C,i,N] -> [C,o,N] as a sum of i broadcast products (i <= 3:
 * cheaper than a batched matmul's bookkeeping, and ctorch has none). */
static ct_tensor *bmm_small(const ct_tensor *m, const ct_tensor *x, int64_t in) {
    ct_tensor *acc = NULL;
    for (int64_t k = 0; k < in; k++) {
        ct_tensor *p = ct_mul(ct_narrow(m, 2, k, 1), ct_narrow(x, 1, k, 1));
        acc = acc ? ct_add(acc, p) : p;
    }
    return acc;
}

ct_tensor *ebm_logits_cumulative(const ebm_model *e, const ct_tensor *x, int stop_gradient) {
    if (!e || !x) {
        hnd_error_set("entropy bottleneck: NULL argument");
        return NULL;
    }
    ct_scope_begin();
    const ct_tensor *cur = x;
    ct_tensor *y = NULL;
    for (int i = 0; i < EBM_NLAYERS; i++) {
        const ct_tensor *m = e->matrix[i], *b = e->bias[i];
        if (stop_gradient) {
            m = ct_detach(m);
            b = ct_detach(b);
        }
        y = ct_add(bmm_small(softplus(m), cur, k_filters[i]), b);
        if (y && i < EBM_NLAYERS - 1) {
            const ct_tensor *a = stop_gradient ? ct_detach(e->factor[i]) : e->factor[i];
            y = ct_add(y, ct_mul(ct_tanh(a), ct_tanh(y)));
        }
        if (!y) break;
        cur = y;
    }
    if (!y) {
        char buf[128];
        if (ct_tensor_describe(x, buf, sizeof buf) < 0) snprintf(buf, sizeof buf, "?");
        hnd_error_set("entropy bottleneck (C=%lld): input %s: %s", (long long)e->channels, buf, ct_last_error());
    }
    ct_scope_keep(y);
    ct_scope_end();
    return y;
}

/* [N,C,H,W] -> [C,1,N*H*W] and back */
static ct_tensor *to_cols(const ct_tensor *y) {
    return ct_reshape(ct_permute(y, (int64_t[]){1, 0, 2, 3}, 4), (int64_t[]){ct_size(y, 1), 1, -1}, 3);
}
static ct_tensor *from_cols(const ct_tensor *v, const ct_tensor *like) {
    int64_t s[4];
    ct_shape(like, s, 4);
    return ct_permute(ct_reshape(v, (int64_t[]){s[1], s[0], s[2], s[3]}, 4), (int64_t[]){1, 0, 2, 3}, 4);
}

/* sign(t) as float, no gradient */
static ct_tensor *sign_of(const ct_tensor *t) {
    return ct_sub(ct_to_dtype(ct_gt_scalar(t, 0.0), CT_F32), ct_to_dtype(ct_lt_scalar(t, 0.0), CT_F32));
}

/* |sigmoid(s u) - sigmoid(s l)|, s = -sign(l + u) */
static ct_tensor *interval_mass(const ct_tensor *lower, const ct_tensor *upper) {
    ct_tensor *s = ct_neg(ct_detach(sign_of(ct_add(lower, upper))));
    return ct_abs(ct_sub(ct_sigmoid(ct_mul(s, upper)), ct_sigmoid(ct_mul(s, lower))));
}

ct_tensor *ebm_likelihood(const ebm_model *e, const ct_tensor *y) {
    if (!e || !y || ct_ndim(y) != 4 || ct_size(y, 1) != e->channels) {
        char buf[128] = "NULL";
        if (y) ct_tensor_describe(y, buf, sizeof buf);
        hnd_error_set("entropy bottleneck (C=%lld): input %s, expected [N,%lld,H,W]", e ? (long long)e->channels : 0LL,
                      buf, e ? (long long)e->channels : 0LL);
        return NULL;
    }
    ct_scope_begin();
    ct_tensor *v = to_cols(y);
    ct_tensor *lower = v ? ebm_logits_cumulative(e, ct_sub_scalar(v, 0.5), 0) : NULL;
    ct_tensor *upper = lower ? ebm_logits_cumulative(e, ct_add_scalar(v, 0.5), 0) : NULL;
    ct_tensor *lik = upper ? interval_mass(lower, upper) : NULL;
    /* the lower bound passes the gradient through (CompressAI's LowerBound
     * passes it where it pushes the value up, which is always the case for
     * a rate -log2 p): forward max(p, bound), backward identity */
    if (lik) lik = ct_add(lik, ct_detach(ct_sub(ct_clamp_min(lik, EBM_LIKELIHOOD_BOUND), lik)));
    ct_tensor *out = lik ? from_cols(lik, y) : NULL;
    if (!out && lower && upper) hnd_error_set("entropy bottleneck: likelihood: %s", ct_last_error());
    ct_scope_keep(out);
    ct_scope_end();
    return out;
}

ct_tensor *ebm_add_noise(const ct_tensor *y) {
    if (!y) return NULL;
    ct_scope_begin();
    int64_t s[CT_MAX_DIMS];
    int n = ct_shape(y, s, CT_MAX_DIMS);
    ct_tensor *u = ct_rand(s, n, CT_F32, ct_device_of(y));
    ct_tensor *out = u ? ct_add(y, ct_sub_scalar(u, 0.5)) : NULL;
    if (!out) hnd_error_set("entropy bottleneck: noise: %s", ct_last_error());
    ct_scope_keep(out);
    ct_scope_end();
    return out;
}

ct_tensor *ebm_medians(const ebm_model *e) {
    if (!e) return NULL;
    return ct_contiguous(ct_select(ct_select(ct_detach(e->quantiles), 2, 1), 1, 0));
}

ct_tensor *ebm_dequantize(const ebm_model *e, const ct_tensor *y) {
    if (!e || !y) {
        hnd_error_set("entropy bottleneck: NULL argument");
        return NULL;
    }
    ct_scope_begin();
    ct_tensor *m = ct_view(ebm_medians(e), (int64_t[]){1, e->channels, 1, 1}, 4);
    ct_tensor *out = m ? ct_add(ct_round(ct_sub(y, m)), m) : NULL;
    if (!out) hnd_error_set("entropy bottleneck: rounding: %s", ct_last_error());
    ct_scope_keep(out);
    ct_scope_end();
    return out;
}

ct_tensor *ebm_bits(const ct_tensor *likelihood) {
    if (!likelihood) return NULL;
    return ct_neg(ct_sum(ct_log2(likelihood)));
}

ct_tensor *ebm_aux_loss(const ebm_model *e) {
    if (!e) return NULL;
    ct_scope_begin();
    const double t = log(2.0 / EBM_TAIL_MASS - 1.0);
    const float tg[3] = {(float)-t, 0.0f, (float)t};
    ct_tensor *target = ct_from_buffer(tg, CT_F32, 3, (int64_t[]){1, 1, 3});
    if (target && ct_device_of(e->quantiles).type != CT_CPU) target = ct_to_device(target, ct_device_of(e->quantiles));
    ct_tensor *g = target ? ebm_logits_cumulative(e, e->quantiles, 1) : NULL;
    ct_tensor *loss = g ? ct_sum(ct_abs(ct_sub(g, target))) : NULL;
    if (!loss) hnd_error_set("entropy bottleneck: aux loss: %s", ct_last_error());
    ct_scope_keep(loss);
    ct_scope_end();
    return loss;
}

void ebm_pmf_clear(ebm_pmf *p) {
    if (!p) return;
    free(p->offset);
    free(p->length);
    free(p->medians);
    free(p->pmf);
    free(p->tail);
    memset(p, 0, sizeof *p);
}

int ebm_compute_pmf(const ebm_model *e, int64_t max_length, ebm_pmf *out) {
    if (!e || !out) return hnd_error_set("entropy bottleneck: NULL argument");
    memset(out, 0, sizeof *out);
    const int64_t C = e->channels;
    float *q = malloc((size_t)C * 3 * sizeof *q);
    out->channels = C;
    out->offset = calloc((size_t)C, sizeof *out->offset);
    out->length = calloc((size_t)C, sizeof *out->length);
    out->medians = calloc((size_t)C, sizeof *out->medians);
    out->tail = calloc((size_t)C, sizeof *out->tail);
    int rc = -1;
    ct_scope_begin();
    int prev = ct_grad_set_enabled(0);
    if (!q || !out->offset || !out->length || !out->medians || !out->tail) {
        hnd_error_set("out of memory");
        goto done;
    }
    ct_tensor *qc = ct_to_device(ct_detach(e->quantiles), ct_cpu());
    if (!qc || ct_to_buffer(ct_contiguous(qc), q, (size_t)C * 3 * sizeof *q) != 0) {
        hnd_error_set("entropy bottleneck: quantiles: %s", ct_last_error());
        goto done;
    }
    int64_t maxl = 0;
    for (int64_t c = 0; c < C; c++) {
        /* in float32 as CompressAI computes them */
        const float m = q[c * 3 + 1];
        const float lo = ceilf(m - q[c * 3]), hi = ceilf(q[c * 3 + 2] - m);
        if (!isfinite(lo) || !isfinite(hi) || lo > (float)max_length || hi > (float)max_length) {
            hnd_error_set("entropy bottleneck: channel %lld: quantiles %g %g %g span more than %lld symbols (not "
                          "trained?)",
                          (long long)c, q[c * 3], m, q[c * 3 + 2], (long long)max_length);
            goto done;
        }
        const int32_t minima = lo > 0 ? (int32_t)lo : 0, maxima = hi > 0 ? (int32_t)hi : 0;
        out->medians[c] = m;
        out->offset[c] = -minima;
        out->length[c] = minima + maxima + 1;
        if (out->length[c] > max_length) {
            hnd_error_set("entropy bottleneck: channel %lld: %d symbols, at most %lld", (long long)c, out->length[c],
                          (long long)max_length);
            goto done;
        }
        if (out->length[c] > maxl) maxl = out->length[c];
    }
    out->max_len = maxl;
    out->pmf = calloc((size_t)(C * maxl), sizeof *out->pmf);
    float *samples = malloc((size_t)(C * maxl) * sizeof *samples);
    float *pm = malloc((size_t)(C * maxl) * sizeof *pm);
    int ok = out->pmf && samples && pm;
    if (ok) {
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < maxl; i++)
                samples[c * maxl + i] = (float)i + (out->medians[c] + (float)out->offset[c]);
        ct_tensor *s = ct_from_buffer(samples, CT_F32, 3, (int64_t[]){C, 1, maxl});
        if (s && ct_device_of(e->quantiles).type != CT_CPU) s = ct_to_device(s, ct_device_of(e->quantiles));
        ct_tensor *l = s ? ebm_logits_cumulative(e, ct_sub_scalar(s, 0.5), 1) : NULL;
        ct_tensor *u = l ? ebm_logits_cumulative(e, ct_add_scalar(s, 0.5), 1) : NULL;
        ct_tensor *p = u ? ct_contiguous(ct_to_device(interval_mass(l, u), ct_cpu())) : NULL;
        ct_tensor *lc = l ? ct_contiguous(ct_to_device(ct_sigmoid(l), ct_cpu())) : NULL;
        ct_tensor *uc = u ? ct_contiguous(ct_to_device(ct_sigmoid(ct_neg(u)), ct_cpu())) : NULL;
        ok = p && lc && uc && ct_to_buffer(p, pm, (size_t)(C * maxl) * sizeof *pm) == 0;
        if (ok) {
            const float *lcp = ct_data_ptr(lc), *ucp = ct_data_ptr(uc);
            for (int64_t c = 0; c < C; c++) {
                for (int64_t i = 0; i < out->length[c]; i++) out->pmf[c * maxl + i] = pm[c * maxl + i];
                /* the mass below the first and above the channel's last symbol */
                out->tail[c] = (double)lcp[c * maxl] + (double)ucp[c * maxl + out->length[c] - 1];
            }
        } else {
            hnd_error_set("entropy bottleneck: pmf: %s", ct_last_error());
        }
    } else {
        hnd_error_set("out of memory");
    }
    free(samples);
    free(pm);
    if (ok) rc = 0;
done:
    ct_grad_set_enabled(prev);
    ct_scope_end();
    free(q);
    if (rc != 0) ebm_pmf_clear(out);
    return rc;
}
