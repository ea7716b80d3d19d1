/* fpn.c: see fpn.h. */
#include "fpn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"
#include "init.h"

typedef struct {
    ct_tensor *inner_w, *inner_b, *layer_w, *layer_b;   /* borrowed; NULL: level skipped */
} fpn_level;

struct fpn_net {
    int n_in, extra_max_pool;
    int64_t out_channels;
    fpn_level lv[FPN_MAX_LEVELS];
    mp_params *reg;   /* for fpn_init */
    ini_range range;
};

static ct_tensor *fpn_add(mp_params *p, const char *prefix, const char *block, int i,
                          const char *what, const int64_t *shape, int ndim) {
    char name[256], old[256];
    snprintf(name, sizeof name, "%s%s.%d.0.%s", prefix, block, i, what);
    snprintf(old, sizeof old, "%s%s.%d.%s", prefix, block, i, what);
    ct_tensor *t = mp_params_add(p, name, MP_PARAM, shape, ndim);
    if (!t) return NULL;
    if (ct_set_requires_grad(t, 1) != 0) {
        hnd_error_set("fpn: %s: %s", name, ct_last_error());
        return NULL;
    }
    if (mp_params_alias(p, old, name) != 0) return NULL;
    return t;
}

fpn_net *fpn_new(mp_params *p, const char *prefix, const int64_t *in_channels, int n_in,
                 int64_t out_channels, int extra_max_pool) {
    if (!p || !in_channels) {
        hnd_error_set("fpn: NULL argument");
        return NULL;
    }
    if (n_in < 1 || n_in > FPN_MAX_LEVELS - 1 || out_channels < 1) {
        hnd_error_set("fpn: %d input levels (1..%d), %lld output channels", n_in, FPN_MAX_LEVELS - 1,
                      (long long)out_channels);
        return NULL;
    }
    ini_range range = ini_begin(p);
    fpn_net *f = calloc(1, sizeof *f);
    if (!f) {
        hnd_error_set("fpn: out of memory");
        return NULL;
    }
    f->n_in = n_in;
    f->extra_max_pool = extra_max_pool != 0;
    f->out_channels = out_channels;
    if (!prefix) prefix = "";
    for (int i = 0; i < n_in; i++) {
        if (in_channels[i] <= 0) {   /* torchvision: "in_channels=0 is currently not supported" */
            hnd_error_set("fpn: level %d: %lld input channels", i, (long long)in_channels[i]);
            goto fail;
        }
        int64_t wi[4] = {out_channels, in_channels[i], 1, 1}, wl[4] = {out_channels, out_channels, 3, 3};
        fpn_level *l = &f->lv[i];
        if (!(l->inner_w = fpn_add(p, prefix, "inner_blocks", i, "weight", wi, 4))) goto fail;
        if (!(l->inner_b = fpn_add(p, prefix, "inner_blocks", i, "bias", &out_channels, 1))) goto fail;
        if (!(l->layer_w = fpn_add(p, prefix, "layer_blocks", i, "weight", wl, 4))) goto fail;
        if (!(l->layer_b = fpn_add(p, prefix, "layer_blocks", i, "bias", &out_channels, 1))) goto fail;
    }
    f->reg = p;
    f->range = range;
    ini_end(&f->range, p);
    return f;
fail:
    fpn_destroy(f);
    return NULL;
}

int fpn_init(fpn_net *f) {
    /* torchvision's FeaturePyramidNetwork: kaiming_uniform_(a=1), bias 0 */
    for (int i = f->range.first; i < f->range.end; i++) {
        ct_tensor *t = mp_params_tensor(f->reg, i);
        int rc = ct_ndim(t) == 4 ? ini_kaiming_uniform_a1(t) : ini_zero(t);
        if (rc != 0) return hnd_error_prefix("%s", mp_params_name(f->reg, i));
    }
    return 0;
}

void fpn_destroy(fpn_net *f) { free(f); }

int fpn_num_outputs(const fpn_net *f) { return f ? f->n_in + f->extra_max_pool : -1; }
int64_t fpn_out_channels(const fpn_net *f) { return f ? f->out_channels : -1; }

static ct_tensor *fpn_conv(const ct_tensor *x, const ct_tensor *w, const ct_tensor *b, int64_t pad) {
    const int64_t s[2] = {1, 1}, p[2] = {pad, pad}, d[2] = {1, 1};
    return ct_conv2d(x, w, b, s, p, d, 1);
}

int fpn_forward(fpn_net *f, const ct_tensor *const *x, ct_tensor **out) {
    if (!f || !x || !out) return hnd_error_set("fpn: NULL argument");
    int nout = fpn_num_outputs(f);
    for (int i = 0; i < nout; i++) out[i] = NULL;
    for (int i = 0; i < f->n_in; i++)
        if (!x[i]) return hnd_error_set("fpn: input level %d is NULL", i);
    ct_scope_begin();
    char buf[128] = "";
    int top = f->n_in - 1, lvl = top;
    const char *stage = "inner block";
    ct_tensor *last = fpn_conv(x[top], f->lv[top].inner_w, f->lv[top].inner_b, 0);
    if (last) {
        stage = "layer block";
        out[top] = fpn_conv(last, f->lv[top].layer_w, f->lv[top].layer_b, 1);
    }
    int ok = last && out[top];
    for (int i = top - 1; ok && i >= 0; i--) {
        lvl = i;
        stage = "inner block";
        ct_tensor *lat = fpn_conv(x[lvl], f->lv[lvl].inner_w, f->lv[lvl].inner_b, 0);
        ok = lat != NULL;
        if (ok) {
            stage = "top-down upsampling";
            ct_tensor *up = ct_interpolate(last, CT_INTERP_NEAREST, ct_size(lat, 2), ct_size(lat, 3), 0, 0, 0, 0);
            ok = up && ct_add_(lat, up, 1.0) == 0;
        }
        if (ok) {
            last = lat;
            stage = "layer block";
            out[lvl] = fpn_conv(last, f->lv[lvl].layer_w, f->lv[lvl].layer_b, 1);
            ok = out[lvl] != NULL;
        }
        if (!ok) break;
    }
    if (ok && f->extra_max_pool) {
        lvl = f->n_in;
        stage = "LastLevelMaxPool";
        const int64_t k[2] = {1, 1}, s[2] = {2, 2}, p[2] = {0, 0}, d[2] = {1, 1};
        out[f->n_in] = ct_max_pool2d(out[f->n_in - 1], k, s, p, d, 0);
        ok = out[f->n_in] != NULL;
    }
    if (!ok) {
        const ct_tensor *in = lvl < f->n_in ? x[lvl] : out[f->n_in - 1];
        if (ct_tensor_describe(in, buf, sizeof buf) < 0) snprintf(buf, sizeof buf, "?");
        hnd_error_set("fpn: level %d %s: input %s: %s", lvl, stage, buf, ct_last_error());
    } else {
        for (int i = 0; i < nout; i++) ct_scope_keep(out[i]);
    }
    ct_scope_end();
    if (!ok)
        for (int i = 0; i < nout; i++) out[i] = NULL;
    return ok ? 0 : -1;
}
