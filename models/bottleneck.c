/* bottleneck.c: see bottleneck.h. */
#include "bottleneck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"

#define STU_NAME 256
#define STU_NCONV 4     /* per half */

typedef struct {
    ct_tensor *w, *b, *rm, *rv;   /* borrowed from the registry */
} stu_bn;

/* One Sequential step. */
typedef enum { OP_CONV, OP_BN, OP_RELU } stu_op_kind;

typedef struct {
    stu_op_kind op;
    int64_t cin, cout;   /* conv: in/out channels; bn: channels */
    int pad;             /* conv padding */
    ct_tensor *w;        /* conv weight */
    stu_bn bn;
} stu_op;

#define STU_MAX_OPS 12

struct stu_bottleneck {
    stu_kind kind;
    int64_t channels, out_channels;
    int training, transform_bits;
    int n_enc, n_dec;
    stu_op enc[STU_MAX_OPS], dec[STU_MAX_OPS];
    ebm_model *eb;          /* the entropy bottleneck (borrowed), or NULL */
    ct_tensor *last_bits;   /* the rate of the last training forward (owned, unscoped) */
};

int stu_kind_parse(const char *name) {
    if (!name) return -1;
    if (strcmp(name, "Bottleneck4LargeResNet") == 0) return STU_LARGE;
    if (strcmp(name, "Bottleneck4SmallResNet") == 0) return STU_SMALL;
    return -1;
}

const char *stu_kind_name(stu_kind k) {
    return k == STU_SMALL ? "Bottleneck4SmallResNet" : "Bottleneck4LargeResNet";
}

int stu_kind_for_depth(int depth) {
    if (depth == 18 || depth == 34) return STU_SMALL;
    if (depth == 50 || depth == 101 || depth == 152) return STU_LARGE;
    return -1;
}

/* ---- construction ---- */

static void set_conv(stu_op *o, int64_t cin, int64_t cout, int pad) {
    o->op = OP_CONV;
    o->cin = cin;
    o->cout = cout;
    o->pad = pad;
}
static void set_bn(stu_op *o, int64_t c) {
    o->op = OP_BN;
    o->cin = o->cout = c;
}
static void set_relu(stu_op *o) { o->op = OP_RELU; }

static ct_tensor *stu_add(mp_params *p, const char *prefix, const char *half, int idx,
                          const char *leaf, int kind, const int64_t *shape, int ndim, int grad) {
    char full[STU_NAME];
    snprintf(full, sizeof full, "%s%s.%d.%s", prefix, half, idx, leaf);
    ct_tensor *t = mp_params_add(p, full, kind, shape, ndim);
    if (!t) return NULL;
    if (ct_set_requires_grad(t, grad) != 0) {
        hnd_error_set("bottleneck: %s: %s", full, ct_last_error());
        return NULL;
    }
    return t;
}

static int stu_register(mp_params *p, const char *prefix, const char *half, stu_op *ops, int n) {
    for (int i = 0; i < n; i++) {
        stu_op *o = &ops[i];
        if (o->op == OP_CONV) {
            int64_t shape[4] = {o->cout, o->cin, 2, 2};
            if (!(o->w = stu_add(p, prefix, half, i, "weight", MP_PARAM, shape, 4, 1))) return -1;
        } else if (o->op == OP_BN) {
            int64_t c = o->cout;
            if (!(o->bn.w = stu_add(p, prefix, half, i, "weight", MP_PARAM, &c, 1, 1))) return -1;
            if (!(o->bn.b = stu_add(p, prefix, half, i, "bias", MP_PARAM, &c, 1, 1))) return -1;
            if (!(o->bn.rm = stu_add(p, prefix, half, i, "running_mean", MP_BUFFER, &c, 1, 0))) return -1;
            if (!(o->bn.rv = stu_add(p, prefix, half, i, "running_var", MP_BUFFER, &c, 1, 0))) return -1;
            if (ct_fill_(o->bn.w, 1.0) || ct_fill_(o->bn.rv, 1.0))
                return hnd_error_set("bottleneck: %s", ct_last_error());
            char full[STU_NAME];
            snprintf(full, sizeof full, "%s%s.%d.num_batches_tracked", prefix, half, i);
            if (mp_params_ignore(p, full) != 0) return -1;
        }
    }
    return 0;
}

stu_bottleneck *stu_new(mp_params *p, const char *prefix, stu_kind kind, int64_t channels) {
    if (!p) {
        hnd_error_set("bottleneck: NULL registry");
        return NULL;
    }
    if (kind != STU_LARGE && kind != STU_SMALL) {
        hnd_error_set("bottleneck: unknown kind %d", (int)kind);
        return NULL;
    }
    if (channels < 1 || channels > 4096) {
        hnd_error_set("bottleneck: bottleneck_channel must be in 1..4096, got %lld",
                      (long long)channels);
        return NULL;
    }
    stu_bottleneck *s = calloc(1, sizeof *s);
    if (!s) {
        hnd_error_set("bottleneck: out of memory");
        return NULL;
    }
    s->kind = kind;
    s->channels = channels;
    int64_t d = kind == STU_LARGE ? 256 : 64;
    s->out_channels = d;
    stu_op *e = s->enc;
    set_conv(&e[0], 64, 64, 1);
    set_bn(&e[1], 64);
    set_conv(&e[2], 64, 256, 1);
    set_bn(&e[3], 256);
    set_relu(&e[4]);
    set_conv(&e[5], 256, 64, 1);
    set_bn(&e[6], 64);
    set_conv(&e[7], 64, channels, 1);
    s->n_enc = 8;
    stu_op *c = s->dec;
    set_bn(&c[0], channels);
    set_relu(&c[1]);
    set_conv(&c[2], channels, 64, 0);
    set_bn(&c[3], 64);
    set_conv(&c[4], 64, 128, 0);
    set_bn(&c[5], 128);
    set_relu(&c[6]);
    set_conv(&c[7], 128, d, 0);
    set_bn(&c[8], d);
    set_conv(&c[9], d, d, 0);
    set_bn(&c[10], d);
    set_relu(&c[11]);
    s->n_dec = 12;
    const char *pre = prefix ? prefix : "";
    if (stu_register(p, pre, "encoder", s->enc, s->n_enc) != 0 ||
        stu_register(p, pre, "decoder", s->dec, s->n_dec) != 0) {
        hnd_error_prefix("%s(%lld)", stu_kind_name(kind), (long long)channels);
        free(s);
        return NULL;
    }
    return s;
}

void stu_destroy(stu_bottleneck *s) {
    if (s) ct_destroy(s->last_bits);
    free(s);
}

static int init_ops(stu_op *ops, int n) {
    for (int i = 0; i < n; i++) {
        stu_op *o = &ops[i];
        if (o->op == OP_CONV) {
            /* kaiming_normal_(mode='fan_out', nonlinearity='relu'):
             * std = sqrt(2) / sqrt(cout * kh * kw) */
            double std = sqrt(2.0) / sqrt((double)(o->cout * 4));
            int64_t shape[4] = {o->cout, o->cin, 2, 2};
            ct_scope_begin();
            ct_tensor *r = ct_randn(shape, 4, CT_F32, ct_device_of(o->w));
            r = r ? ct_mul_scalar(r, std) : NULL;
            int rc = r ? ct_copy_(o->w, r) : -1;
            ct_scope_end();
            if (rc != 0) return hnd_error_set("bottleneck: init: %s", ct_last_error());
        } else if (o->op == OP_BN) {
            if (ct_fill_(o->bn.w, 1.0) || ct_zero_(o->bn.b) || ct_zero_(o->bn.rm) ||
                ct_fill_(o->bn.rv, 1.0))
                return hnd_error_set("bottleneck: init: %s", ct_last_error());
        }
    }
    return 0;
}

int stu_init(stu_bottleneck *s) {
    if (!s) return hnd_error_set("bottleneck: NULL");
    if (init_ops(s->enc, s->n_enc) != 0) return -1;
    if (init_ops(s->dec, s->n_dec) != 0) return -1;
    return s->eb ? ebm_init(s->eb) : 0;
}

int stu_set_entropy(stu_bottleneck *s, ebm_model *eb) {
    if (!s) return hnd_error_set("bottleneck: NULL");
    if (eb && ebm_channels(eb) != s->channels)
        return hnd_error_set("bottleneck: entropy model of %lld channels for C=%lld", (long long)ebm_channels(eb),
                             (long long)s->channels);
    s->eb = eb;
    return 0;
}
ebm_model *stu_entropy(const stu_bottleneck *s) { return s ? s->eb : NULL; }

ct_tensor *stu_take_bits(stu_bottleneck *s) {
    if (!s) return NULL;
    ct_tensor *b = s->last_bits;
    s->last_bits = NULL;
    return b;
}

stu_kind stu_get_kind(const stu_bottleneck *s) { return s ? s->kind : STU_LARGE; }
int64_t stu_channels(const stu_bottleneck *s) { return s ? s->channels : -1; }
int64_t stu_out_channels(const stu_bottleneck *s) { return s ? s->out_channels : -1; }

static int collect(const stu_op *ops, int n, ct_tensor **out, int max, int k) {
    for (int i = 0; i < n; i++) {
        const stu_op *o = &ops[i];
        if (o->op == OP_CONV) {
            if (out && k < max) out[k] = o->w;
            k++;
        } else if (o->op == OP_BN) {
            if (out && k < max) out[k] = o->bn.w;
            k++;
            if (out && k < max) out[k] = o->bn.b;
            k++;
        }
    }
    return k;
}

int stu_parameters(const stu_bottleneck *s, ct_tensor **out, int max) {
    if (!s) return -1;
    int k = collect(s->enc, s->n_enc, out, max, 0);
    return collect(s->dec, s->n_dec, out, max, k);
}

int64_t stu_num_parameters(const stu_bottleneck *s) {
    if (!s) return -1;
    ct_tensor *ps[64];
    int n = stu_parameters(s, ps, 64);
    int64_t total = 0;
    for (int i = 0; i < n && i < 64; i++) total += ct_numel(ps[i]);
    return total;
}

void stu_set_training(stu_bottleneck *s, int training) {
    if (s) s->training = training != 0;
}
int stu_is_training(const stu_bottleneck *s) { return s ? s->training : 0; }

int stu_set_transform(stu_bottleneck *s, int num_bits) {
    if (!s) return hnd_error_set("bottleneck: NULL");
    if (!bq_bits_valid(num_bits))
        return hnd_error_set("bottleneck transformer: num_bits must be 2..8, 16 or 32, got %d", num_bits);
    s->transform_bits = num_bits == 32 ? 0 : num_bits;
    return 0;
}
int stu_get_transform(const stu_bottleneck *s) { return s ? s->transform_bits : 0; }

/* ---- forward ---- */

static ct_tensor *run_ops(const stu_bottleneck *s, const stu_op *ops, int n, const char *half,
                          const ct_tensor *x) {
    if (!s || !x) {
        hnd_error_set("bottleneck: %s: NULL argument", half);
        return NULL;
    }
    ct_scope_begin();
    const ct_tensor *cur = x;
    ct_tensor *y = NULL;
    for (int i = 0; i < n; i++) {
        const stu_op *o = &ops[i];
        if (o->op == OP_CONV) {
            const int64_t st[2] = {1, 1}, pd[2] = {o->pad, o->pad}, dl[2] = {1, 1};
            y = ct_conv2d(cur, o->w, NULL, st, pd, dl, 1);
        } else if (o->op == OP_BN) {
            y = ct_batch_norm(cur, o->bn.w, o->bn.b, o->bn.rm, o->bn.rv, s->training, 0.1, 1e-5);
        } else {
            /* nn.ReLU(inplace=True) always follows a freshly computed tensor */
            y = (ct_tensor *)cur;
            if (ct_relu_(y) != 0) y = NULL;
        }
        if (!y) {
            char buf[128];
            if (ct_tensor_describe(cur, buf, sizeof buf) < 0) snprintf(buf, sizeof buf, "?");
            hnd_error_set("%s: %s.%d: input %s: %s", stu_kind_name(s->kind), half, i, buf,
                          ct_last_error());
            break;
        }
        cur = y;
    }
    ct_scope_keep(y);
    ct_scope_end();
    return y;
}

ct_tensor *stu_encode(stu_bottleneck *s, const ct_tensor *x) {
    return run_ops(s, s ? s->enc : NULL, s ? s->n_enc : 0, "encoder", x);
}

ct_tensor *stu_decode(stu_bottleneck *s, const ct_tensor *z) {
    return run_ops(s, s ? s->dec : NULL, s ? s->n_dec : 0, "decoder", z);
}

ct_tensor *stu_forward(stu_bottleneck *s, const ct_tensor *x) {
    if (!s) {
        hnd_error_set("bottleneck: NULL");
        return NULL;
    }
    ct_scope_begin();
    ct_tensor *z = stu_encode(s, x);
    if (z && s->eb) {
        /* training: noise and the rate it costs; evaluation: what the link
         * carries, the integers around the medians (no other transformer) */
        if (s->training) {
            z = ebm_add_noise(z);
            ct_tensor *bits = z ? ebm_bits(ebm_likelihood(s->eb, z)) : NULL;
            if (!bits) z = NULL;
            else {
                /* out of every scope: the caller takes it (stu_take_bits) */
                for (int d = ct_scope_depth(); d > 0; d--) ct_scope_keep(bits);
                ct_destroy(s->last_bits);
                s->last_bits = bits;
            }
        } else {
            z = ebm_dequantize(s->eb, z);
        }
        if (!z) hnd_error_prefix("%s", stu_kind_name(s->kind));
    } else if (z && !s->training && s->transform_bits) {
        z = bq_round_trip(z, s->transform_bits);
        if (!z) hnd_error_prefix("%s", stu_kind_name(s->kind));
    }
    ct_tensor *y = z ? stu_decode(s, z) : NULL;
    ct_scope_keep(y);
    ct_scope_end();
    return y;
}
