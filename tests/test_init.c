/* test_init.c: rcnn_init (models/init.h): every tensor of a Mask R-CNN
 * follows the scheme torchvision 0.14's module constructors give it,
 * checked from the values themselves: the sample std of kaiming_normal
 * (fan_out, relu) and N(0, 0.01) weights, the bounds and spread of
 * kaiming_uniform(a=1) and nn.Linear's default, BN affine 1/0 and
 * statistics 0/1, zero conv biases; and one seed gives one set of weights. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rcnn.h"
#include "str_util.h"

static float *values(const ct_tensor *t, int64_t *n) {
    *n = ct_numel(t);
    float *v = malloc(sizeof *v * (size_t)*n);
    assert_non_null(v);
    assert_int_equal(ct_to_buffer(t, v, sizeof *v * (size_t)*n), 0);
    return v;
}

static int64_t fan(const ct_tensor *t, int dim) {
    int64_t sh[8];
    int nd = ct_shape(t, sh, 8), rf = 1;
    for (int i = 2; i < nd; i++) rf *= (int)sh[i];
    return sh[dim] * rf;
}

/* all == c */
static void expect_const(const char *name, const ct_tensor *t, float c) {
    int64_t n;
    float *v = values(t, &n);
    for (int64_t i = 0; i < n; i++)
        if (v[i] != c) fail_msg("%s[%lld] = %g, want %g", name, (long long)i, v[i], c);
    free(v);
}

/* normal with this std: sample mean ~0 and std within 10% (tensors >= 1000 values) */
static void expect_normal(const char *name, const ct_tensor *t, double std) {
    int64_t n;
    float *v = values(t, &n);
    double s = 0, ss = 0;
    for (int64_t i = 0; i < n; i++) s += v[i], ss += (double)v[i] * v[i];
    double m = s / n, sd = sqrt(ss / n - m * m);
    if (n >= 1000 && (fabs(sd / std - 1) > 0.1 || fabs(m) > 4 * std / sqrt((double)n)))
        fail_msg("%s: mean %g std %g, want N(0, %g)", name, m, sd, std);
    free(v);
}

/* uniform in (-b, b): inside, and (n >= 1000) reaching past 0.9 b */
static void expect_uniform(const char *name, const ct_tensor *t, double b) {
    int64_t n;
    float *v = values(t, &n);
    double mx = 0;
    for (int64_t i = 0; i < n; i++) {
        if (fabs(v[i]) > b * (1 + 1e-6)) fail_msg("%s[%lld] = %g outside +-%g", name, (long long)i, v[i], b);
        if (fabs(v[i]) > mx) mx = fabs(v[i]);
    }
    if (n >= 1000 && mx < 0.9 * b) fail_msg("%s: max |v| %g, want close to %g", name, mx, b);
    free(v);
}

static void check_tensor(const char *n, const ct_tensor *t, int64_t *linear_in) {
    int nd = ct_ndim(t);
    if (su_ends_with(n, "running_mean")) expect_const(n, t, 0);
    else if (su_ends_with(n, "running_var")) expect_const(n, t, 1);
    else if (su_starts_with(n, "backbone.body."))
        nd == 4 ? expect_normal(n, t, sqrt(2.0 / fan(t, 0))) : expect_const(n, t, su_ends_with(n, "weight") ? 1 : 0);
    else if (su_starts_with(n, "roi_heads.box_")) {
        if (nd == 2) *linear_in = fan(t, 1);
        expect_uniform(n, t, 1 / sqrt((double)*linear_in));
    } else if (nd == 1) expect_const(n, t, 0);
    else if (su_starts_with(n, "backbone.fpn.")) expect_uniform(n, t, sqrt(3.0 / fan(t, 1)));
    else if (su_starts_with(n, "rpn.")) expect_normal(n, t, 0.01);
    else if (su_starts_with(n, "roi_heads.mask_")) expect_normal(n, t, sqrt(2.0 / fan(t, 0)));
    else fail_msg("%s: no scheme expected", n);
}

static void test_schemes(void **state) {
    (void)state;
    rcnn_config cfg;
    assert_int_equal(rcnn_config_default(&cfg, "mask_rcnn_resnet18_fpn"), 0);
    cfg.box.num_classes = 22;
    rcnn_model *a = rcnn_new(&cfg), *b = rcnn_new(&cfg);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(rcnn_init(a, 7), 0);
    assert_int_equal(rcnn_init(b, 7), 0);
    mp_params *p = rcnn_params(a), *q = rcnn_params(b);
    int64_t linear_in = 1;
    for (int i = 0; i < mp_params_count(p); i++) {
        const char *n = mp_params_name(p, i);
        check_tensor(n, mp_params_tensor(p, i), &linear_in);
        int64_t k;
        float *x = values(mp_params_tensor(p, i), &k), *y = values(mp_params_tensor(q, i), &k);
        if (memcmp(x, y, sizeof *x * (size_t)k) != 0) fail_msg("%s differs between two runs of seed 7", n);
        free(x);
        free(y);
    }
    rcnn_destroy(a);
    rcnn_destroy(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_schemes)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
