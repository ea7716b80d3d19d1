/* init.c: see init.h. */
#include "init.h"

#include <math.h>
#include <string.h>

#include "hnd_error.h"
#include "str_util.h"

ini_range ini_begin(const mp_params *p) {
    ini_range r = {mp_params_count(p), mp_params_count(p)};
    return r;
}

void ini_end(ini_range *r, const mp_params *p) { r->end = mp_params_count(p); }

static int filled(int rc, const char *what) {
    return rc == 0 ? 0 : hnd_error_set("init %s: %s", what, ct_last_error());
}

int ini_zero(ct_tensor *t) { return filled(ct_fill_(t, 0.0), "zeros"); }

int ini_bn_stat(const char *name, ct_tensor *t) {
    if (su_ends_with(name, "running_mean") || su_ends_with(name, "num_batches_tracked"))
        return filled(ct_fill_(t, 0.0), name) == 0 ? 1 : -1;
    if (su_ends_with(name, "running_var")) return filled(ct_fill_(t, 1.0), name) == 0 ? 1 : -1;
    return 0;
}

int ini_bn_affine(const char *name, ct_tensor *t) {
    return filled(ct_fill_(t, su_ends_with(name, ".weight") ? 1.0 : 0.0), name);
}

/* t = N(0, scale) or U(-scale, scale), drawn on the CPU and copied in. */
static int fill_random(ct_tensor *t, double scale, int uniform) {
    int64_t shape[CT_MAX_DIMS];
    int nd = ct_shape(t, shape, CT_MAX_DIMS);
    if (nd < 0) return filled(-1, "shape");
    ct_scope_begin();
    ct_tensor *r = uniform ? ct_rand(shape, nd, CT_F32, ct_cpu()) : ct_randn(shape, nd, CT_F32, ct_cpu());
    int rc = -1;
    if (r && uniform) r = ct_add_scalar(ct_mul_scalar(r, 2.0 * scale), -scale);
    else if (r) r = ct_mul_scalar(r, scale);
    if (r && ct_copy_(t, r) == 0) rc = 0;
    ct_scope_end();
    return filled(rc, uniform ? "uniform" : "normal");
}

int ini_normal(ct_tensor *t, double std) { return fill_random(t, std, 0); }

/* size(dim) x the product of the sizes after dim 1 (the receptive field). */
static int64_t fan(const ct_tensor *t, int dim) {
    int64_t sh[CT_MAX_DIMS];
    int nd = ct_shape(t, sh, CT_MAX_DIMS);
    if (nd < 2) return 1;
    int64_t rf = 1;
    for (int i = 2; i < nd; i++) rf *= sh[i];
    return sh[dim] * rf > 0 ? sh[dim] * rf : 1;
}

int ini_kaiming_normal_fan_out(ct_tensor *t) { return fill_random(t, sqrt(2.0 / (double)fan(t, 0)), 0); }

int ini_kaiming_uniform_a1(ct_tensor *t) { return fill_random(t, sqrt(3.0 / (double)fan(t, 1)), 1); }

int ini_linear(ct_tensor *w, ct_tensor *b) {
    double bound = 1.0 / sqrt((double)fan(w, 1));
    if (fill_random(w, bound, 1) != 0) return -1;
    return b ? fill_random(b, bound, 1) : 0;
}
