/* head_graph.c: see head_graph.h. */
#include "head_graph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"

#define STEM "backbone.body."

/* A registry tensor as host float32 (malloc'd), checked against the
 * expected element count. */
static float *host_floats(sr_model *m, const char *name, int64_t numel) {
    ct_tensor *t = mp_params_get(sr_params(m), name);
    if (!t) {
        hnd_error_set("head: the model has no tensor %s", name);
        return NULL;
    }
    if (ct_numel(t) != numel) {
        hnd_error_set("head: %s has %lld elements, expected %lld", name, (long long)ct_numel(t), (long long)numel);
        return NULL;
    }
    float *v = malloc(sizeof *v * (size_t)numel);
    ct_tensor *f = v ? ct_to_dtype(t, CT_F32) : NULL;
    if (!f || ct_to_buffer(f, v, sizeof *v * (size_t)numel) != 0) {
        hnd_error_set("head: %s: %s", name, v ? ct_last_error() : "out of memory");
        ct_destroy(f);
        free(v);
        return NULL;
    }
    ct_destroy(f);
    return v;
}

static int add_conv(sr_model *m, hg_head *h, const char *wkey, int cin, int cout, int k, int stride, int pad) {
    hg_op *o = &h->ops[h->n_ops++];
    memset(o, 0, sizeof *o);
    o->kind = HG_CONV;
    o->cin = cin;
    o->cout = cout;
    o->kh = o->kw = k;
    o->stride = stride;
    o->pad = pad;
    snprintf(o->name, sizeof o->name, "%s", wkey);
    o->weight = host_floats(m, wkey, (int64_t)cout * cin * k * k);
    return o->weight ? 0 : -1;
}

/* Folds the BN whose keys start with prefix into the last conv. */
static int fold_bn(sr_model *m, hg_head *h, const char *prefix, double eps) {
    hg_op *o = &h->ops[h->n_ops - 1];
    const char *leaf[4] = {"weight", "bias", "running_mean", "running_var"};
    float *v[4] = {0};
    int rc = 0;
    for (int i = 0; i < 4 && rc == 0; i++) {
        char key[160];
        snprintf(key, sizeof key, "%s%s", prefix, leaf[i]);
        if (!(v[i] = host_floats(m, key, o->cout))) rc = -1;
    }
    if (rc == 0 && !o->bias && !(o->bias = calloc((size_t)o->cout, sizeof *o->bias)))
        rc = hnd_error_set("head: out of memory");
    int64_t per_out = (int64_t)o->cin * o->kh * o->kw;
    for (int c = 0; rc == 0 && c < o->cout; c++) {
        double s = (double)v[0][c] / sqrt((double)v[3][c] + eps);
        for (int64_t j = 0; j < per_out; j++) o->weight[c * per_out + j] = (float)(o->weight[c * per_out + j] * s);
        o->bias[c] = (float)(s * ((double)o->bias[c] - v[2][c]) + v[1][c]);
    }
    if (rc == 0) {
        size_t n = strlen(o->name);
        snprintf(o->name + n, sizeof o->name - n, "+%s", prefix);
    }
    for (int i = 0; i < 4; i++) free(v[i]);
    return rc;
}

static void add_plain(hg_head *h, hg_op_kind kind, int c, int k, int stride, int pad, const char *name) {
    hg_op *o = &h->ops[h->n_ops++];
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->cin = o->cout = c;
    o->kh = o->kw = k;
    o->stride = stride;
    o->pad = pad;
    snprintf(o->name, sizeof o->name, "%s", name);
}

int hg_from_model(sr_model *m, int bits, hg_head *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!m || !out) return hnd_error_set("head: bad arguments");
    const rcnn_config *rc = sr_config(m);
    if (!sr_is_student(m))
        return hnd_error_set("head: %s is a teacher (no bottleneck): only a student's head can be exported",
                             rc->arch);
    if (bits == 0) bits = sr_bits(m) ? sr_bits(m) : 32;
    if (bits != 8 && bits != 16 && bits != 32) return hnd_error_set("head: bits must be 8, 16 or 32, got %d", bits);
    hg_head *h = out;
    const int C = (int)sr_channels(m);
    const double eps = rc->backbone.bn_eps > 0 ? rc->backbone.bn_eps : 1e-5;
    const char *enc = SR_ENCODER_PREFIX;
    char w[160], bn[160];
    int r = add_conv(m, h, STEM "conv1.weight", 3, 64, 7, 2, 3);
    if (r == 0) r = fold_bn(m, h, STEM "bn1.", eps);
    if (r == 0) {
        add_plain(h, HG_RELU, 64, 0, 0, 0, "relu");
        add_plain(h, HG_MAXPOOL, 64, 3, 2, 1, "maxpool");
    }
    /* encoder: conv(0)+BN(1), conv(2)+BN(3), ReLU(4), conv(5)+BN(6), conv(7) */
    static const struct { int conv, bn, cin, cout, relu_after; } e[4] = {
        {0, 1, 64, 64, 0}, {2, 3, 64, 256, 1}, {5, 6, 256, 64, 0}, {7, -1, 64, 0, 0}};
    for (int i = 0; i < 4 && r == 0; i++) {
        snprintf(w, sizeof w, "%s%d.weight", enc, e[i].conv);
        r = add_conv(m, h, w, e[i].cin, e[i].cout ? e[i].cout : C, 2, 1, 1);
        if (r == 0 && e[i].bn >= 0) {
            snprintf(bn, sizeof bn, "%s%d.", enc, e[i].bn);
            r = fold_bn(m, h, bn, 1e-5);   /* nn.BatchNorm2d's eps (bottleneck.c) */
        }
        if (r == 0 && e[i].relu_after) add_plain(h, HG_RELU, e[i].cout, 0, 0, 0, "encoder.4");
    }
    if (r != 0) {
        hg_clear(h);
        return -1;
    }
    h->in_channels = 3;
    h->channels = C;
    h->bits = bits;
    for (int c = 0; c < 3; c++) {
        h->mean[c] = rc->transform.image_mean[c];
        h->std[c] = rc->transform.image_std[c];
    }
    h->min_size = rc->transform.min_size;
    h->max_size = rc->transform.max_size;
    h->size_divisible = rc->transform.size_divisible;
    snprintf(h->arch, sizeof h->arch, "%s", rc->arch);
    h->num_classes = rc->box.num_classes;
    h->mask = sr_has_masks(m);
    h->kind = stu_get_kind(sr_bottleneck(m));
    return 0;
}

void hg_clear(hg_head *h) {
    if (!h) return;
    for (int i = 0; i < h->n_ops && i < HG_MAX_OPS; i++) {
        free(h->ops[i].weight);
        free(h->ops[i].bias);
    }
    memset(h, 0, sizeof *h);
}

void hg_output_hw(const hg_head *h, int H, int W, int *oh, int *ow) {
    for (int i = 0; h && i < h->n_ops; i++) {
        const hg_op *o = &h->ops[i];
        if (o->kind == HG_RELU) continue;
        H = (H + 2 * o->pad - o->kh) / o->stride + 1;
        W = (W + 2 * o->pad - o->kw) / o->stride + 1;
    }
    if (oh) *oh = H;
    if (ow) *ow = W;
}

int64_t hg_num_params(const hg_head *h) {
    int64_t n = 0;
    for (int i = 0; h && i < h->n_ops; i++) {
        const hg_op *o = &h->ops[i];
        if (o->kind != HG_CONV) continue;
        n += (int64_t)o->cout * o->cin * o->kh * o->kw + (o->bias ? o->cout : 0);
    }
    return n;
}
