/* resnet.c: see resnet.h. */
#include "resnet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"
#include "init.h"

#define RN_NAME 256

typedef struct {
    ct_tensor *w, *b, *rm, *rv;  /* borrowed from the registry */
} rn_bn;

/* A frozen BN folded into its convolution (inference), owned, unscoped; key:
 * the source tensors' versions and storage, so a load, an optimizer step or
 * a device move rebuilds it on the next use. */
typedef struct {
    ct_tensor *w, *b;
    int64_t version;
    void *data;
} rn_fold;

typedef struct {
    ct_tensor *conv1, *conv2, *conv3;   /* conv3 NULL for BasicBlock */
    rn_bn bn1, bn2, bn3;
    ct_tensor *ds_conv;                 /* NULL: identity shortcut */
    rn_bn ds_bn;
    int64_t stride;
    rn_fold f1, f2, f3, fds;
} rn_block;

struct rn_resnet {
    int depth, bottleneck, frozen_bn, training, has_layer1;
    int64_t width_per_group;   /* 64; 128 for the Wide ResNets */
    double eps;
    ct_tensor *conv1;
    rn_bn bn1;
    rn_fold fstem;
    rn_block *blocks[4];
    int nblocks[4];
    int64_t channels[5];
    mp_params *reg;   /* the registry and the slice of it this network filled (rn_init) */
    ini_range range;
};

/* ---- construction ---- */

typedef struct {
    mp_params *p;
    const char *prefix;
    int frozen_bn;
} rn_reg;

static ct_tensor *rn_add(rn_reg *g, const char *name, int kind, const int64_t *shape, int ndim,
                         int trainable) {
    char full[RN_NAME];
    snprintf(full, sizeof full, "%s%s", g->prefix, name);
    ct_tensor *t = mp_params_add(g->p, full, kind, shape, ndim);
    if (!t) return NULL;
    if (ct_set_requires_grad(t, kind == MP_PARAM && trainable) != 0) {
        hnd_error_set("resnet: %s: %s", full, ct_last_error());
        return NULL;
    }
    return t;
}

static ct_tensor *rn_add_conv(rn_reg *g, const char *name, int64_t cout, int64_t cin, int64_t k,
                              int trainable) {
    int64_t shape[4] = {cout, cin, k, k};
    return rn_add(g, name, MP_PARAM, shape, 4, trainable);
}

/* BN "<name>.weight|bias|running_mean|running_var" (+ ignorable num_batches_tracked). */
static int rn_add_bn(rn_reg *g, const char *name, int64_t c, int trainable, rn_bn *bn) {
    char n[RN_NAME];
    int kind = g->frozen_bn ? MP_BUFFER : MP_PARAM;
    snprintf(n, sizeof n, "%s.weight", name);
    if (!(bn->w = rn_add(g, n, kind, &c, 1, trainable))) return -1;
    snprintf(n, sizeof n, "%s.bias", name);
    if (!(bn->b = rn_add(g, n, kind, &c, 1, trainable))) return -1;
    snprintf(n, sizeof n, "%s.running_mean", name);
    if (!(bn->rm = rn_add(g, n, MP_BUFFER, &c, 1, 0))) return -1;
    snprintf(n, sizeof n, "%s.running_var", name);
    if (!(bn->rv = rn_add(g, n, MP_BUFFER, &c, 1, 0))) return -1;
    /* A neutral start (torchvision's FrozenBatchNorm2d/BatchNorm2d init). */
    ct_fill_(bn->w, 1.0);
    ct_fill_(bn->rv, 1.0);
    char full[RN_NAME];
    snprintf(full, sizeof full, "%s%s.num_batches_tracked", g->prefix, name);
    return mp_params_ignore(g->p, full);
}

static int rn_build_layer(rn_resnet *r, rn_reg *g, int li, int64_t *inplanes, int trainable) {
    static const int64_t planes_of[4] = {64, 128, 256, 512};
    int64_t planes = planes_of[li], stride = li == 0 ? 1 : 2;
    int64_t exp = r->bottleneck ? 4 : 1;
    /* torchvision's Bottleneck: width = planes * (width_per_group / 64) */
    int64_t width = planes * r->width_per_group / 64;
    int nb = r->nblocks[li];
    rn_block *blocks = calloc((size_t)nb, sizeof *blocks);
    if (!blocks) return hnd_error_set("resnet: out of memory");
    r->blocks[li] = blocks;
    char n[RN_NAME];
    for (int bi = 0; bi < nb; bi++) {
        rn_block *b = &blocks[bi];
        b->stride = bi == 0 ? stride : 1;
        int64_t in = *inplanes;
#define NAME(s) (snprintf(n, sizeof n, "layer%d.%d.%s", li + 1, bi, s), n)
        if (r->bottleneck) {
            if (!(b->conv1 = rn_add_conv(g, NAME("conv1.weight"), width, in, 1, trainable))) return -1;
            if (rn_add_bn(g, NAME("bn1"), width, trainable, &b->bn1)) return -1;
            if (!(b->conv2 = rn_add_conv(g, NAME("conv2.weight"), width, width, 3, trainable))) return -1;
            if (rn_add_bn(g, NAME("bn2"), width, trainable, &b->bn2)) return -1;
            if (!(b->conv3 = rn_add_conv(g, NAME("conv3.weight"), planes * 4, width, 1, trainable)))
                return -1;
            if (rn_add_bn(g, NAME("bn3"), planes * 4, trainable, &b->bn3)) return -1;
        } else {
            if (!(b->conv1 = rn_add_conv(g, NAME("conv1.weight"), planes, in, 3, trainable))) return -1;
            if (rn_add_bn(g, NAME("bn1"), planes, trainable, &b->bn1)) return -1;
            if (!(b->conv2 = rn_add_conv(g, NAME("conv2.weight"), planes, planes, 3, trainable))) return -1;
            if (rn_add_bn(g, NAME("bn2"), planes, trainable, &b->bn2)) return -1;
        }
        if (bi == 0 && (stride != 1 || in != planes * exp)) {
            if (!(b->ds_conv = rn_add_conv(g, NAME("downsample.0.weight"), planes * exp, in, 1, trainable)))
                return -1;
            if (rn_add_bn(g, NAME("downsample.1"), planes * exp, trainable, &b->ds_bn)) return -1;
        }
#undef NAME
        *inplanes = planes * exp;
    }
    return 0;
}

rn_resnet *rn_new(mp_params *p, const char *prefix, const rcnn_backbone_config *cfg,
                  int build_layer1) {
    if (!p || !cfg) {
        hnd_error_set("resnet: NULL argument");
        return NULL;
    }
    static const int layers18[4] = {2, 2, 2, 2}, layers34[4] = {3, 4, 6, 3},
                     layers101[4] = {3, 4, 23, 3}, layers152[4] = {3, 8, 36, 3};
    const int *nb;
    switch (cfg->depth) {
    case 18: nb = layers18; break;
    case 34: case 50: nb = layers34; break;
    case 101: nb = layers101; break;
    case 152: nb = layers152; break;
    default:
        hnd_error_set("resnet: unsupported depth %d (18, 34, 50, 101, 152)", cfg->depth);
        return NULL;
    }
    int64_t wpg = cfg->width_per_group ? cfg->width_per_group : 64;
    if (wpg != 64 && (cfg->depth < 50 || wpg % 64 != 0 || wpg > 1024)) {
        /* torchvision: BasicBlock only supports groups=1 and base_width=64 */
        hnd_error_set("resnet-%d: width_per_group %lld (64, or a multiple of 64 with Bottleneck blocks)",
                      cfg->depth, (long long)wpg);
        return NULL;
    }
    if (cfg->trainable_layers < 0 || cfg->trainable_layers > 5) {
        hnd_error_set("resnet: trainable_layers must be in 0..5, got %d", cfg->trainable_layers);
        return NULL;
    }
    ini_range range = ini_begin(p);
    rn_resnet *r = calloc(1, sizeof *r);
    if (!r) {
        hnd_error_set("resnet: out of memory");
        return NULL;
    }
    r->depth = cfg->depth;
    r->bottleneck = cfg->depth >= 50;
    r->width_per_group = wpg;
    r->frozen_bn = cfg->frozen_bn;
    r->eps = cfg->bn_eps > 0 ? cfg->bn_eps : 1e-5;
    r->has_layer1 = build_layer1 != 0;
    memcpy(r->nblocks, nb, sizeof r->nblocks);
    int64_t exp = r->bottleneck ? 4 : 1;
    r->channels[0] = 64;
    for (int i = 0; i < 4; i++) r->channels[i + 1] = (64 << i) * exp;

    rn_reg g = {p, prefix ? prefix : "", cfg->frozen_bn};
    int tl = cfg->trainable_layers;
    /* torchvision: ["layer4","layer3","layer2","layer1","conv1"][:tl], + "bn1" when tl == 5 */
    if (!(r->conv1 = rn_add_conv(&g, "conv1.weight", 64, 3, 7, tl >= 5))) goto fail;
    if (rn_add_bn(&g, "bn1", 64, tl >= 5, &r->bn1)) goto fail;
    int64_t inplanes = 64;
    for (int li = 0; li < 4; li++) {
        if (li == 0 && !r->has_layer1) {
            inplanes = r->channels[1];
            continue;
        }
        if (rn_build_layer(r, &g, li, &inplanes, tl >= 4 - li)) goto fail;
    }
    r->reg = p;
    r->range = range;
    ini_end(&r->range, p);
    return r;
fail:
    hnd_error_prefix("resnet-%d", cfg->depth);
    rn_destroy(r);
    return NULL;
}

int rn_init(rn_resnet *r) {
    /* torchvision's ResNet: kaiming_normal (fan_out, relu) convolutions,
     * BN weight 1 and bias 0 (zero_init_residual is off for detection) */
    for (int i = r->range.first; i < r->range.end; i++) {
        const char *n = mp_params_name(r->reg, i);
        ct_tensor *t = mp_params_tensor(r->reg, i);
        int st = ini_bn_stat(n, t), rc = 0;
        if (st < 0) return -1;
        if (st) continue;
        rc = ct_ndim(t) == 4 ? ini_kaiming_normal_fan_out(t) : ini_bn_affine(n, t);
        if (rc != 0) return hnd_error_prefix("%s", n);
    }
    return 0;
}

static void rn_fold_clear(rn_fold *f) {
    ct_destroy(f->w);
    ct_destroy(f->b);
    memset(f, 0, sizeof *f);
}

void rn_release_folds(rn_resnet *r) {
    if (!r) return;
    rn_fold_clear(&r->fstem);
    for (int i = 0; i < 4; i++)
        for (int j = 0; r->blocks[i] && j < r->nblocks[i]; j++) {
            rn_block *b = &r->blocks[i][j];
            rn_fold_clear(&b->f1);
            rn_fold_clear(&b->f2);
            rn_fold_clear(&b->f3);
            rn_fold_clear(&b->fds);
        }
}

void rn_destroy(rn_resnet *r) {
    if (!r) return;
    rn_release_folds(r);
    for (int i = 0; i < 4; i++) free(r->blocks[i]);
    free(r);
}


int64_t rn_channels(const rn_resnet *r, int stage) {
    if (!r || stage < 0 || stage > 4) return -1;
    return r->channels[stage];
}

void rn_set_training(rn_resnet *r, int training) {
    if (r) r->training = training != 0;
}

/* HND_BN_FOLD=0 turns the folded path off (the unfolded arithmetic is
 * torchvision's own, bit for bit); read once. */
static int rn_fold_enabled(void) {
    static int on = -1;
    if (on < 0) {
        const char *e = getenv("HND_BN_FOLD");
        on = !(e && strcmp(e, "0") == 0);
    }
    return on;
}

/* HND_BN_FOLD_NHWC=0: folded weights and the stem's input stay NCHW. */
static int rn_nhwc_enabled(void) {
    static int on = -1;
    if (on < 0) {
        const char *e = getenv("HND_BN_FOLD_NHWC");
        on = !(e && strcmp(e, "0") == 0);
    }
    return on;
}

/* Inference with frozen BN: every conv+BN pair runs as one convolution with
 * folded weights, NHWC on the CPU (oneDNN's channels-last kernels, no
 * per-call weight re-layout of the NCHW path). */
static int rn_fast(const rn_resnet *r, const ct_tensor *x) {
    return r->frozen_bn && !r->training && rn_fold_enabled() && !ct_grad_is_enabled() &&
           ct_device_of(x).type == CT_CPU;
}

/* ---- forward ---- */

static ct_tensor *rn_conv(const ct_tensor *x, const ct_tensor *w, int64_t stride, int64_t pad) {
    const int64_t s[2] = {stride, stride}, p[2] = {pad, pad}, d[2] = {1, 1};
    return ct_conv2d(x, w, NULL, s, p, d, 1);
}

static ct_tensor *rn_norm(const rn_resnet *r, const ct_tensor *x, const rn_bn *bn) {
    if (!x) return NULL;
    if (r->frozen_bn) return ct_frozen_batch_norm(x, bn->w, bn->b, bn->rm, bn->rv, r->eps);
    return ct_batch_norm(x, bn->w, bn->b, bn->rm, bn->rv, r->training, 0.1, r->eps);
}

/* The folded weights of conv w + BN bn, rebuilt when a source changed. */
static rn_fold *rn_fold_get(const rn_resnet *r, rn_fold *f, const ct_tensor *w, const rn_bn *bn) {
    const ct_tensor *src[5] = {w, bn->w, bn->b, bn->rm, bn->rv};
    int64_t ver = 0;
    for (int i = 0; i < 5; i++) {
        int64_t v = ct_version(src[i]);
        if (v < 0) return NULL;
        ver += v;
    }
    void *data = ct_data_ptr(w);
    if (f->w && f->version == ver && f->data == data) return f;
    rn_fold_clear(f);
    ct_tensor *fw, *fb;
    if (ct_fold_frozen_bn(w, bn->w, bn->b, bn->rm, bn->rv, r->eps, ct_device_of(w).type == CT_CPU && rn_nhwc_enabled(), &fw, &fb) != 0)
        return NULL;
    /* the cache outlives every forward's scope */
    for (int d = ct_scope_depth(); d > 0; d--) {
        ct_scope_keep(fw);
        ct_scope_keep(fb);
    }
    f->w = fw;
    f->b = fb;
    f->version = ver;
    f->data = data;
    return f;
}

/* conv + frozen BN (+ ReLU): folded when rn_fast, else the two ops. */
static ct_tensor *rn_conv_bn(const rn_resnet *r, rn_fold *f, const ct_tensor *x, const ct_tensor *w,
                             const rn_bn *bn, int64_t stride, int64_t pad, int relu) {
    if (!x) return NULL;
    ct_tensor *y;
    if (rn_fast(r, x)) {
        const rn_fold *g = rn_fold_get(r, f, w, bn);
        const int64_t s[2] = {stride, stride}, p[2] = {pad, pad}, d[2] = {1, 1};
        y = g ? ct_conv2d(x, g->w, g->b, s, p, d, 1) : NULL;
    } else {
        y = rn_norm(r, rn_conv(x, w, stride, pad), bn);
    }
    if (y && relu && ct_relu_(y) != 0) return NULL;
    return y;
}

static ct_tensor *rn_relu(ct_tensor *x) {
    if (!x || ct_relu_(x) != 0) return NULL;
    return x;
}

static char *rn_shape(const ct_tensor *x, char *buf, size_t n) {
    if (ct_tensor_describe(x, buf, n) < 0) snprintf(buf, n, "?");
    return buf;
}

static ct_tensor *rn_block_forward(const rn_resnet *r, rn_block *b, const ct_tensor *x) {
    ct_tensor *out;
    if (r->bottleneck) {
        out = rn_conv_bn(r, &b->f1, x, b->conv1, &b->bn1, 1, 0, 1);
        out = rn_conv_bn(r, &b->f2, out, b->conv2, &b->bn2, b->stride, 1, 1);
        out = rn_conv_bn(r, &b->f3, out, b->conv3, &b->bn3, 1, 0, 0);
    } else {
        out = rn_conv_bn(r, &b->f1, x, b->conv1, &b->bn1, b->stride, 1, 1);
        out = rn_conv_bn(r, &b->f2, out, b->conv2, &b->bn2, 1, 1, 0);
    }
    if (!out) return NULL;
    const ct_tensor *id = x;
    if (b->ds_conv) {
        ct_tensor *d = rn_conv_bn(r, &b->fds, x, b->ds_conv, &b->ds_bn, b->stride, 0, 0);
        if (!d) return NULL;
        id = d;
    }
    if (ct_add_(out, id, 1.0) != 0) return NULL;
    return rn_relu(out);
}

ct_tensor *rn_stem(rn_resnet *r, const ct_tensor *x) {
    if (!r || !x) {
        hnd_error_set("resnet: stem: NULL argument");
        return NULL;
    }
    ct_scope_begin();
    /* NHWC input: the stem's oneDNN convolution then skips its reorders */
    const ct_tensor *xin = rn_fast(r, x) && rn_nhwc_enabled() && ct_ndim(x) == 4 ? ct_channels_last(x) : x;
    ct_tensor *y = rn_conv_bn(r, &r->fstem, xin, r->conv1, &r->bn1, 2, 3, 1);
    const int64_t k[2] = {3, 3}, s[2] = {2, 2}, p[2] = {1, 1}, d[2] = {1, 1};
    y = y ? ct_max_pool2d(y, k, s, p, d, 0) : NULL;
    if (!y) {
        char buf[128];
        hnd_error_set("resnet-%d: stem: input %s: %s", r->depth, rn_shape(x, buf, sizeof buf),
                      ct_last_error());
    }
    ct_scope_keep(y);
    ct_scope_end();
    return y;
}

ct_tensor *rn_layer(rn_resnet *r, int i, const ct_tensor *x) {
    if (!r || !x) {
        hnd_error_set("resnet: layer%d: NULL argument", i);
        return NULL;
    }
    if (i < 1 || i > 4) {
        hnd_error_set("resnet: no layer%d (1..4)", i);
        return NULL;
    }
    if (!r->blocks[i - 1]) {
        hnd_error_set("resnet-%d: layer%d was not built (the student provides its own)", r->depth, i);
        return NULL;
    }
    ct_scope_begin();
    const ct_tensor *cur = x;
    ct_tensor *y = NULL;
    for (int bi = 0; bi < r->nblocks[i - 1]; bi++) {
        y = rn_block_forward(r, &r->blocks[i - 1][bi], cur);
        if (!y) {
            char buf[128];
            hnd_error_set("resnet-%d: layer%d.%d: input %s: %s", r->depth, i, bi,
                          rn_shape(cur, buf, sizeof buf), ct_last_error());
            break;
        }
        cur = y;
    }
    ct_scope_keep(y);
    ct_scope_end();
    return y;
}

int rn_forward(rn_resnet *r, const ct_tensor *x, ct_tensor *out[4]) {
    for (int i = 0; i < 4; i++) out[i] = NULL;
    ct_scope_begin();
    ct_tensor *cur = rn_stem(r, x);
    for (int i = 0; i < 4 && cur; i++) cur = out[i] = rn_layer(r, i + 1, cur);
    int ok = cur != NULL;
    if (ok)
        for (int i = 0; i < 4; i++) ct_scope_keep(out[i]);
    ct_scope_end();
    if (!ok)
        for (int i = 0; i < 4; i++) out[i] = NULL;
    return ok ? 0 : -1;
}
