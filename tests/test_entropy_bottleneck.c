/* test_entropy_bottleneck.c: the learned factorized prior
 * (models/entropy_bottleneck.h) against a float64 PyTorch re-implementation
 * written from the paper's equations (tests/py/ref_entropy_bottleneck.py):
 * likelihoods, rate and its gradients (input and every density parameter),
 * the aux loss and its gradient, rounding around the medians, the pmf
 * and tail mass each channel is coded with, CompressAI's initial values. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ctorch.h"
#include "entropy_bottleneck.h"
#include "hnd_error.h"
#include "model_params.h"
#include "test_util.h"
#include "wstore.h"

static char g_dir[512], g_file[700];

static ct_tensor *ref_tensor(ws_reader *r, const char *name) {
    ws_tensor t;
    if (ws_reader_get(r, "ref", name, &t) != 0) fail_msg("reference %s: %s", name, hnd_error());
    ct_tensor *c = ct_from_buffer(t.data, t.dtype, t.ndim, t.shape);
    ws_tensor_clear(&t);
    assert_non_null(c);
    return c;
}

static double item(const ct_tensor *t) {
    double v = NAN;
    assert_non_null(t);
    assert_int_equal(ct_item_f64(t, &v), 0);
    return v;
}

/* max |got - want| / max(1, max |want|) <= tol, shapes equal */
static void check_close(const char *what, const ct_tensor *got, const ct_tensor *want, double tol) {
    if (!got) fail_msg("%s: NULL (%s | %s)", what, hnd_error(), ct_last_error());
    assert_int_equal(ct_numel(got), ct_numel(want));
    ct_scope_begin();
    ct_tensor *g = ct_reshape(ct_to_dtype(got, CT_F64), (int64_t[]){-1}, 1);
    ct_tensor *w = ct_reshape(ct_to_dtype(want, CT_F64), (int64_t[]){-1}, 1);
    double diff = item(ct_max(ct_abs(ct_sub(g, w)))), mag = item(ct_max(ct_abs(w)));
    ct_scope_end();
    double err = diff / (mag > 1 ? mag : 1);
    print_message("  %-14s max abs diff %.3g (|ref| max %.3g)\n", what, diff, mag);
    if (!(err <= tol)) fail_msg("%s: relative error %.3g above %.1g", what, err, tol);
}

static int setup(void **state) {
    (void)state;
    tu_tmp(g_dir, sizeof g_dir, "ref_entropy_bottleneck");
    char args[700];
    snprintf(args, sizeof args, "ref_entropy_bottleneck.py %s >/dev/null", g_dir);
    if (tu_python(args) != 0) {
        fprintf(stderr, "ref_entropy_bottleneck.py failed\n");
        return -1;
    }
    snprintf(g_file, sizeof g_file, "%s/eb.h5", g_dir);
    return 0;
}

static ebm_model *load(mp_params **mp) {
    *mp = mp_params_new();
    ebm_model *e = ebm_new(*mp, "", 3);
    if (!e) fail_msg("ebm_new: %s", hnd_error());
    if (mp_params_load(*mp, g_file, 1, NULL, NULL) < 0) fail_msg("load %s: %s", g_file, hnd_error());
    return e;
}

static void test_rate_and_gradients(void **state) {
    (void)state;
    mp_params *mp;
    ebm_model *e = load(&mp);
    ws_reader *r = ws_reader_open(g_file);
    assert_non_null(r);
    int64_t live = ct_live_tensor_count();
    ct_scope_begin();
    ct_tensor *y = ref_tensor(r, "y");
    assert_int_equal(ct_set_requires_grad(y, 1), 0);
    ct_tensor *lik = ebm_likelihood(e, y);
    check_close("likelihood", lik, ref_tensor(r, "lik"), 1e-5);
    ct_tensor *bits = ebm_bits(lik);
    check_close("bits", bits, ref_tensor(r, "bits"), 1e-5);
    assert_int_equal(ct_backward(bits), 0);
    check_close("d bits/d y", ct_grad(y), ref_tensor(r, "g_y"), 1e-5);
    ct_tensor *ps[16];
    int n = ebm_parameters(e, ps, 16);
    assert_int_equal(n, 11);
    for (int i = 0; i < mp_params_count(mp); i++) {
        const char *name = mp_params_name(mp, i);
        if (strstr(name, "quantiles")) {
            /* the rate does not train the quantiles */
            ct_tensor *g = ct_grad(mp_params_tensor(mp, i));
            assert_true(g == NULL || item(ct_max(ct_abs(g))) == 0.0);
            continue;
        }
        char key[96];
        snprintf(key, sizeof key, "g_%s", name + strlen(EBM_KEY));
        check_close(key, ct_grad(mp_params_tensor(mp, i)), ref_tensor(r, key), 1e-5);
    }
    for (int i = 0; i < n; i++) ct_zero_grad(ps[i], 1);

    /* the aux loss trains only the quantiles */
    ct_tensor *aux = ebm_aux_loss(e);
    check_close("aux loss", aux, ref_tensor(r, "aux"), 1e-5);
    assert_int_equal(ct_backward(aux), 0);
    check_close("d aux/d q", ct_grad(ebm_quantiles(e)), ref_tensor(r, "g_quantiles"), 1e-5);
    for (int i = 0; i < n; i++) {
        ct_tensor *g = ct_grad(ps[i]);
        assert_true(g == NULL || item(ct_max(ct_abs(g))) == 0.0);
    }

    /* inference: rounding around the medians (exact) */
    int prev = ct_grad_set_enabled(0);
    check_close("dequantize", ebm_dequantize(e, y), ref_tensor(r, "deq"), 0.0);
    /* training: noise within 1/2 of the input, not all zero */
    ct_tensor *d = ct_sub(ebm_add_noise(y), y);
    assert_true(item(ct_max(ct_abs(d))) <= 0.5 && item(ct_max(ct_abs(d))) > 0.05);
    ct_grad_set_enabled(prev);
    ct_scope_end();
    assert_int_equal(ct_live_tensor_count(), live);
    ws_reader_close(r);
    ebm_destroy(e);
    mp_params_destroy(mp);
}

static void test_pmf(void **state) {
    (void)state;
    mp_params *mp;
    ebm_model *e = load(&mp);
    ws_reader *r = ws_reader_open(g_file);
    ct_scope_begin();
    ebm_pmf pm;
    if (ebm_compute_pmf(e, 1 << 12, &pm) != 0) fail_msg("pmf: %s", hnd_error());
    ct_tensor *off = ref_tensor(r, "offset"), *len = ref_tensor(r, "length"), *pmf = ref_tensor(r, "pmf");
    const int32_t *ro = ct_data_ptr(off), *rl = ct_data_ptr(len);
    assert_int_equal(pm.max_len, ct_size(pmf, 1));
    const double *rp = ct_data_ptr(pmf), *rt = ct_data_ptr(ref_tensor(r, "tail"));
    double worst = 0;
    for (int c = 0; c < 3; c++) {
        assert_int_equal(pm.offset[c], ro[c]);
        assert_int_equal(pm.length[c], rl[c]);
        for (int i = 0; i < pm.max_len; i++) {
            double dd = fabs(pm.pmf[c * pm.max_len + i] - rp[c * pm.max_len + i]);
            if (dd > worst) worst = dd;
        }
        if (!(fabs(pm.tail[c] - rt[c]) <= 1e-6 * (rt[c] > 1e-3 ? 1 : rt[c] * 1e3 + 1e-3)))
            fail_msg("tail of channel %d: %g, want %g", c, pm.tail[c], rt[c]);
    }
    print_message("  pmf max abs diff %.3g\n", worst);
    assert_true(worst <= 1e-6);
    ebm_pmf_clear(&pm);
    /* a support wider than allowed is an error naming the channel */
    assert_int_equal(ebm_compute_pmf(e, 8, &pm), -1);
    assert_non_null(strstr(hnd_error(), "channel 0"));
    ct_scope_end();
    ws_reader_close(r);
    ebm_destroy(e);
    mp_params_destroy(mp);
}

/* CompressAI's initial values, keys and the input check */
static void test_init_and_errors(void **state) {
    (void)state;
    mp_params *mp = mp_params_new();
    ebm_model *e = ebm_new(mp, "backbone.body.layer1.", 4);
    assert_non_null(e);
    ws_reader *r = ws_reader_open(g_file);
    ct_scope_begin();
    assert_int_equal(ebm_init(e), 0);
    assert_non_null(mp_params_get(mp, "backbone.body.layer1.entropy_bottleneck._matrix0"));
    assert_non_null(mp_params_get(mp, "backbone.body.layer1.entropy_bottleneck._factor2"));
    assert_null(mp_params_get(mp, "backbone.body.layer1.entropy_bottleneck._factor3"));
    ct_tensor *m0 = mp_params_get(mp, "backbone.body.layer1.entropy_bottleneck._matrix0");
    ct_tensor *m3 = mp_params_get(mp, "backbone.body.layer1.entropy_bottleneck._matrix3");
    assert_int_equal(ct_size(m0, 1), 3);
    assert_int_equal(ct_size(m0, 2), 1);
    assert_true(fabs(item(ct_min(m0)) - item(ref_tensor(r, "init_matrix0"))) < 1e-6);
    assert_true(fabs(item(ct_max(m3)) - item(ref_tensor(r, "init_matrix3"))) < 1e-6);
    ct_tensor *b = mp_params_get(mp, "backbone.body.layer1.entropy_bottleneck._bias1");
    assert_true(item(ct_max(ct_abs(b))) <= 0.5 && item(ct_max(ct_abs(b))) > 0.0);
    ct_tensor *q = ebm_quantiles(e);
    assert_true(item(ct_min(q)) == -10.0 && item(ct_max(q)) == 10.0);
    /* a fresh density is a logistic-like bump: medians near 0 */
    assert_true(item(ct_max(ct_abs(ebm_medians(e)))) == 0.0);
    /* wrong channel count */
    ct_tensor *y = ct_zeros((int64_t[]){1, 3, 2, 2}, 4, CT_F32, ct_cpu());
    assert_null(ebm_likelihood(e, y));
    assert_non_null(strstr(hnd_error(), "[N,4,H,W]"));
    ct_scope_end();
    assert_null(ebm_new(mp, "x.", 0));
    ws_reader_close(r);
    ebm_destroy(e);
    mp_params_destroy(mp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_and_gradients),
        cmocka_unit_test(test_pmf),
        cmocka_unit_test(test_init_and_errors),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
