/* test_ctorch.c: the C API over libtorch.
 *
 * Three kinds of checks:
 *  - values derived by hand (small convolutions, pooling, softmax, sorting...);
 *  - values computed by PyTorch in tests/py/ref_ctorch.py, which the group
 *    setup runs once, writing inputs and outputs into $HND_TEST_TMP/ctorch_ref;
 *  - error paths, scopes and handle accounting.
 * Every test runs inside a scope opened by its setup; the teardown closes it
 * and fails the test if any handle is left alive, so the sanitizer build
 * sees no leaked tensors. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctorch.h"
#include "test_util.h"

/* ------------------------------------------------------------------------ */
/* helpers                                                                   */

static char g_ref[1024];   /* directory of the reference files */
static int64_t g_live0;    /* live handles when a test starts */

/* cmocka 1.1 has no assert_double_equal. */
#define assert_near(a, b, tol) assert_near_((a), (b), (tol), __FILE__, __LINE__)
static void assert_near_(double a, double b, double tol, const char *file, int line) {
    if (!(fabs(a - b) <= tol)) {
        print_error("%s:%d: %.9g != %.9g (tol %g)\n", file, line, a, b, tol);
        fail();
    }
}

#define CPU ct_cpu()

static ct_tensor *f32(const float *v, int ndim, const int64_t *shape) {
    ct_tensor *t = ct_from_buffer(v, CT_F32, ndim, shape);
    assert_non_null(t);
    return t;
}

static ct_tensor *i64(const int64_t *v, int ndim, const int64_t *shape) {
    ct_tensor *t = ct_from_buffer(v, CT_I64, ndim, shape);
    assert_non_null(t);
    return t;
}

/* Values of t as doubles (malloc'ed, numel in *n). */
static double *values(const ct_tensor *t, int64_t *n) {
    assert_non_null(t);
    ct_tensor *d = ct_to_dtype(t, CT_F64);
    assert_non_null(d);
    int64_t k = ct_numel(d);
    double *v = malloc(sizeof(double) * (size_t)(k ? k : 1));
    assert_non_null(v);
    assert_int_equal(ct_to_buffer(d, v, sizeof(double) * (size_t)k), 0);
    ct_destroy(d);
    *n = k;
    return v;
}

static void expect_shape(const ct_tensor *t, int ndim, const int64_t *shape) {
    int64_t s[CT_MAX_DIMS];
    assert_non_null(t);
    assert_int_equal(ct_shape(t, s, CT_MAX_DIMS), ndim);
    for (int i = 0; i < ndim; ++i) assert_int_equal(s[i], shape[i]);
}

#define expect_values(t, want, n, tol) expect_values_((t), (want), (n), (tol), __LINE__)
static void expect_values_(const ct_tensor *t, const double *want, int64_t n, double tol, int line) {
    int64_t k;
    double *v = values(t, &k);
    if (k != n) print_error("line %d: %lld elements, want %lld\n", line, (long long)k, (long long)n);
    assert_int_equal(k, n);
    for (int64_t i = 0; i < n; ++i) {
        if (fabs(v[i] - want[i]) > tol) {
            print_error("line %d: element %lld: got %.9g want %.9g\n", line, (long long)i, v[i], want[i]);
            free(v);
            fail();
        }
    }
    free(v);
}

static double item(const ct_tensor *t) {
    double v = NAN;
    assert_non_null(t);
    assert_int_equal(ct_item_f64(t, &v), 0);
    return v;
}

/* Loads NAME.bin / NAME.shape written by ref_ctorch.py. */
static ct_tensor *ref(const char *name) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.shape", g_ref, name);
    FILE *f = fopen(path, "r");
    if (!f) {
        print_error("missing reference %s\n", path);
        fail();
    }
    char dt[32];
    int64_t shape[CT_MAX_DIMS];
    int ndim = 0;
    assert_int_equal(fscanf(f, "%31s", dt), 1);
    long long d;
    while (ndim < CT_MAX_DIMS && fscanf(f, "%lld", &d) == 1) shape[ndim++] = d;
    fclose(f);
    ct_dtype dtype = (ct_dtype)-1;
    for (int i = 0; i < CT_DTYPE_COUNT; ++i)
        if (strcmp(dt, ct_dtype_name((ct_dtype)i)) == 0) dtype = (ct_dtype)i;
    assert_true((int)dtype >= 0);
    size_t n = ct_dtype_size(dtype);
    for (int i = 0; i < ndim; ++i) n *= (size_t)shape[i];
    void *buf = malloc(n ? n : 1);
    assert_non_null(buf);
    snprintf(path, sizeof path, "%s/%s.bin", g_ref, name);
    f = fopen(path, "rb");
    assert_non_null(f);
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    assert_int_equal(got, n);
    ct_tensor *t = ct_from_buffer(buf, dtype, ndim, shape);
    free(buf);
    assert_non_null(t);
    return t;
}

/* |got - want| <= atol + rtol*|want| elementwise, and the same shape. */
#define expect_ref(got, name, rtol, atol) expect_ref_((got), (name), (rtol), (atol), __LINE__)
static void expect_ref_(const ct_tensor *got, const char *name, double rtol, double atol, int line) {
    assert_non_null(got);
    ct_tensor *want = ref(name);
    int64_t sw[CT_MAX_DIMS];
    int nd = ct_shape(want, sw, CT_MAX_DIMS);
    expect_shape(got, nd, sw);
    int64_t n1, n2;
    double *a = values(got, &n1), *b = values(want, &n2);
    assert_int_equal(n1, n2);
    int bad = -1;
    for (int64_t i = 0; i < n1 && bad < 0; ++i)
        if (!(fabs(a[i] - b[i]) <= atol + rtol * fabs(b[i]))) bad = (int)i;
    if (bad >= 0)
        print_error("line %d: %s: element %d got %.9g want %.9g\n", line, name, bad, a[bad], b[bad]);
    free(a);
    free(b);
    ct_destroy(want);
    assert_int_equal(bad, -1);
}

static int setup(void **state) {
    (void)state;
    g_live0 = ct_live_tensor_count();
    ct_clear_error();
    return ct_scope_begin() == 1 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    while (ct_scope_depth() > 0) ct_scope_end();
    int64_t live = ct_live_tensor_count();
    if (live != g_live0) {
        print_error("%lld handle(s) leaked\n", (long long)(live - g_live0));
        return -1;
    }
    return 0;
}

static int group_setup(void **state) {
    (void)state;
    char args[1200];
    tu_tmp(g_ref, sizeof g_ref, "ctorch_ref");
    snprintf(args, sizeof args, "ref_ctorch.py '%s'", g_ref);
    int rc = tu_python(args);
    if (rc != 0) {
        fprintf(stderr, "ref_ctorch.py failed (%d)\n", rc);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* basics                                                                    */

static void test_build_info(void **state) {
    (void)state;
    const char *s = ct_build_info();
    assert_non_null(s);
    assert_non_null(strstr(s, "libtorch"));
    assert_non_null(strstr(s, "thread"));
    int n = ct_set_num_threads(2);
    assert_int_equal(n, 2);
    assert_int_equal(ct_get_num_threads(), 2);
    assert_true(ct_set_num_threads(0) >= 1);
    assert_true(ct_cuda_available() == 0 || ct_cuda_device_count() > 0);
    assert_int_equal(ct_device_synchronize(CPU), 0);
}

static void test_creation_queries(void **state) {
    (void)state;
    int64_t sh[3] = {2, 3, 4};
    ct_tensor *z = ct_zeros(sh, 3, CT_F32, CPU);
    expect_shape(z, 3, sh);
    assert_int_equal(ct_ndim(z), 3);
    assert_int_equal(ct_numel(z), 24);
    assert_int_equal(ct_size(z, -1), 4);
    assert_int_equal(ct_dtype_of(z), CT_F32);
    ct_device d = ct_device_of(z);
    assert_int_equal(d.type, CT_CPU);
    assert_int_equal(ct_requires_grad(z), 0);
    assert_int_equal(ct_is_contiguous(z), 1);
    assert_near(item(ct_sum(z)), 0.0, 0);
    assert_near(item(ct_sum(ct_ones(sh, 3, CT_F64, CPU))), 24.0, 0);
    assert_near(item(ct_sum(ct_full(sh, 3, 1.5, CT_F32, CPU))), 36.0, 0);
    assert_int_equal(ct_numel(ct_empty(sh, 2, CT_I64, CPU)), 6);

    ct_tensor *a = ct_arange(0, 5, 1, CT_I64, CPU);
    double want[5] = {0, 1, 2, 3, 4};
    expect_values(a, want, 5, 0);
    int64_t iv;
    assert_int_equal(ct_item_i64(ct_select(a, 0, -1), &iv), 0);
    assert_int_equal(iv, 4);
    ct_tensor *af = ct_arange(0, 1, 0.25, CT_F32, CPU);
    double wf[4] = {0, 0.25, 0.5, 0.75};
    expect_values(af, wf, 4, 0);

    char buf[64];
    int64_t big[4] = {1, 3, 800, 1067};
    ct_tensor *e = ct_empty(big, 4, CT_F32, CPU);
    assert_true(ct_tensor_describe(e, buf, sizeof buf) > 0);
    assert_string_equal(buf, "float32[1,3,800,1067] cpu");
    /* truncation is safe */
    assert_true(ct_tensor_describe(e, buf, 8) > 8);
    assert_int_equal(strlen(buf), 7);

    ct_manual_seed(7);
    ct_tensor *r1 = ct_randn(sh, 3, CT_F32, CPU);
    ct_manual_seed(7);
    ct_tensor *r2 = ct_randn(sh, 3, CT_F32, CPU);
    assert_near(item(ct_sum(ct_ne(r1, r2))), 0.0, 0);
    ct_tensor *u = ct_rand(sh, 3, CT_F32, CPU);
    assert_true(item(ct_min(u)) >= 0.0 && item(ct_max(u)) < 1.0);
    ct_tensor *ri = ct_randint(3, 6, sh, 3, CT_I64, CPU);
    assert_true(item(ct_min(ri)) >= 3 && item(ct_max(ri)) <= 5);

    /* buffer round trip of every dtype */
    for (int dt = 0; dt < CT_DTYPE_COUNT; ++dt) {
        unsigned char in[6 * 8], out[6 * 8];
        for (size_t i = 0; i < sizeof in; ++i) in[i] = (unsigned char)(i % 2);  /* valid bools */
        int64_t s2[2] = {2, 3};
        ct_tensor *t = ct_from_buffer(in, (ct_dtype)dt, 2, s2);
        assert_non_null(t);
        assert_int_equal(ct_dtype_of(t), dt);
        size_t nb = 6 * ct_dtype_size((ct_dtype)dt);
        assert_int_equal(ct_to_buffer(t, out, nb), 0);
        assert_memory_equal(in, out, nb);
    }
    /* a non-contiguous view is copied in logical order */
    float m[6] = {1, 2, 3, 4, 5, 6};
    int64_t s23[2] = {2, 3};
    ct_tensor *tr = ct_transpose(f32(m, 2, s23), 0, 1);
    assert_int_equal(ct_is_contiguous(tr), 0);
    float o[6];
    assert_int_equal(ct_to_buffer(tr, o, sizeof o), 0);
    float ow[6] = {1, 4, 2, 5, 3, 6};
    assert_memory_equal(o, ow, sizeof o);
    float *dp = ct_data_ptr(ct_contiguous(tr));
    assert_non_null(dp);
    assert_true(dp[1] == 4.0f);
}

static void test_views_indexing(void **state) {
    (void)state;
    ct_tensor *a = ct_arange(0, 24, 1, CT_F32, CPU);
    int64_t s[3] = {2, 3, 4};
    ct_tensor *r = ct_reshape(a, s, 3);
    expect_shape(r, 3, s);
    int64_t sv[2] = {6, -1};
    int64_t s64[2] = {6, 4};
    expect_shape(ct_view(r, sv, 2), 2, s64);
    int64_t perm[3] = {2, 0, 1}, sp[3] = {4, 2, 3};
    ct_tensor *p = ct_permute(r, perm, 3);
    expect_shape(p, 3, sp);
    assert_null(ct_view(p, sv, 2));    /* not viewable: an error, not a crash */
    assert_true(strlen(ct_last_error()) > 0);
    expect_shape(ct_reshape(p, sv, 2), 2, s64);

    /* narrow / slice / select */
    ct_tensor *n = ct_narrow(r, 2, 1, 2); /* [:, :, 1:3] */
    int64_t sn[3] = {2, 3, 2};
    expect_shape(n, 3, sn);
    assert_near(item(ct_sum(n)), (1 + 2 + 5 + 6 + 9 + 10) + (13 + 14 + 17 + 18 + 21 + 22), 0);
    ct_tensor *sl = ct_slice(a, 0, 1, INT64_MAX, 5); /* 1, 6, 11, 16, 21 */
    double wsl[5] = {1, 6, 11, 16, 21};
    expect_values(sl, wsl, 5, 0);
    ct_tensor *se = ct_select(r, 1, 2); /* r[:, 2, :] */
    double wse[8] = {8, 9, 10, 11, 20, 21, 22, 23};
    expect_values(se, wse, 8, 0);

    /* index_select, advanced indexing, bool mask */
    int64_t idx[3] = {2, 0, 2}, s3 = 3;
    ct_tensor *ix = i64(idx, 1, &s3);
    ct_tensor *is = ct_index_select(ct_view(r, sv, 2), 0, ix);
    double wis[12] = {8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11};
    expect_values(is, wis, 12, 0);
    float bx[8] = {0, 0, 1, 1, 5, 5, 6, 7};
    int64_t s24[2] = {2, 4};
    ct_tensor *boxes = f32(bx, 2, s24);
    ct_tensor *x1 = ct_select(boxes, 1, 0);
    ct_tensor *keep = ct_gt_scalar(x1, 2.0); /* [false, true] */
    assert_int_equal(ct_dtype_of(keep), CT_BOOL);
    const ct_tensor *ind1[1] = {keep};
    ct_tensor *kept = ct_index(boxes, ind1, 1);
    int64_t s14[2] = {1, 4};
    expect_shape(kept, 2, s14);
    double wk[4] = {5, 5, 6, 7};
    expect_values(kept, wk, 4, 0);
    /* scores[arange(2), labels] */
    int64_t lab[2] = {3, 1}, s2 = 2;
    const ct_tensor *ind2[2] = {ct_arange(0, 2, 1, CT_I64, CPU), i64(lab, 1, &s2)};
    double wi2[2] = {1, 5};
    expect_values(ct_index(boxes, ind2, 2), wi2, 2, 0);
    /* NULL entry = ":" */
    const ct_tensor *ind3[2] = {NULL, i64(lab, 1, &s2)};
    double wi3[4] = {1, 0, 7, 5};
    expect_values(ct_index(boxes, ind3, 2), wi3, 4, 0);

    ct_tensor *ms = ct_masked_select(boxes, ct_ge_scalar(boxes, 5));
    double wms[4] = {5, 5, 6, 7};
    expect_values(ms, wms, 4, 0);
    ct_tensor *mf = ct_masked_fill(boxes, ct_eq_scalar(boxes, 0), -1);
    double wmf[8] = {-1, -1, 1, 1, 5, 5, 6, 7};
    expect_values(mf, wmf, 8, 0);
    ct_tensor *cl = ct_clone(boxes);
    assert_int_equal(ct_masked_fill_(cl, ct_lt_scalar(cl, 5.5), 0), 0);
    double wmf2[8] = {0, 0, 0, 0, 0, 0, 6, 7};
    expect_values(cl, wmf2, 8, 0);

    /* index_put_: accumulate and assign */
    ct_tensor *acc = ct_zeros(&s3, 1, CT_F32, CPU);
    float ones3[3] = {1, 2, 3};
    const ct_tensor *ind4[1] = {ix};
    assert_int_equal(ct_index_put_(acc, ind4, 1, f32(ones3, 1, &s3), 1), 0);
    double wacc[3] = {2, 0, 4};
    expect_values(acc, wacc, 3, 0);
    assert_int_equal(ct_index_put_(acc, ind4, 1, ct_full(&s3, 1, 9, CT_F32, CPU), 0), 0);
    double wacc2[3] = {9, 0, 9};
    expect_values(acc, wacc2, 3, 0);

    /* where, unsqueeze/squeeze/flatten/expand/repeat/flip */
    ct_tensor *w = ct_where(ct_gt_scalar(acc, 1), acc, ct_scalar_tensor(-2, CT_F32, CPU));
    double ww[3] = {9, -2, 9};
    expect_values(w, ww, 3, 0);
    ct_tensor *u = ct_unsqueeze(acc, 0);
    int64_t s13[2] = {1, 3};
    expect_shape(u, 2, s13);
    expect_shape(ct_squeeze(u), 1, &s3);
    expect_shape(ct_squeeze_dim(u, 0), 1, &s3);
    int64_t s6x4 = 24;
    expect_shape(ct_flatten(r, 0, -1), 1, &s6x4);
    int64_t sex[2] = {4, 3}, sexp[2] = {4, -1};
    ct_tensor *ex = ct_expand(u, sexp, 2);
    expect_shape(ex, 2, sex);
    assert_near(item(ct_sum(ex)), 4 * 18.0, 0);
    int64_t rep[2] = {2, 2}, srep[2] = {2, 6};
    expect_shape(ct_repeat(u, rep, 2), 2, srep);
    int64_t fd = 0;
    double wfl[3] = {3, 2, 1};
    expect_values(ct_flip(f32(ones3, 1, &s3), &fd, 1), wfl, 3, 0);

    /* copy_ into a parameter that requires grad (loading weights) */
    ct_tensor *param = ct_zeros(&s3, 1, CT_F32, CPU);
    assert_int_equal(ct_set_requires_grad(param, 1), 0);
    assert_int_equal(ct_copy_(param, f32(ones3, 1, &s3)), 0);
    double w123[3] = {1, 2, 3};
    expect_values(param, w123, 3, 0);
    assert_int_equal(ct_requires_grad(param), 1);
    assert_int_equal(ct_requires_grad(ct_detach(param)), 0);
    assert_int_equal(ct_fill_(param, 0.5), 0);
    assert_near(item(ct_sum(param)), 1.5, 0);
    assert_int_equal(ct_zero_(param), 0);
    assert_near(item(ct_sum(param)), 0, 0);

    /* dtype conversion and a view sharing storage */
    ct_tensor *ii = ct_to_dtype(f32(ones3, 1, &s3), CT_I32);
    assert_int_equal(ct_dtype_of(ii), CT_I32);
    ct_tensor *base = ct_zeros(s24, 2, CT_F32, CPU);
    ct_tensor *row = ct_select(base, 0, 1);
    assert_int_equal(ct_fill_(row, 3), 0);
    assert_near(item(ct_sum(base)), 12, 0);
    ct_tensor *cpu2 = ct_to_device(base, CPU);
    assert_non_null(cpu2);
}

static void test_cat_stack(void **state) {
    (void)state;
    int64_t s23[2] = {2, 3}, s13[2] = {1, 3};
    ct_tensor *a = ct_ones(s23, 2, CT_F32, CPU);
    ct_tensor *b = ct_full(s13, 1 + 1, 2, CT_F32, CPU);
    const ct_tensor *ab[2] = {a, b};
    ct_tensor *c = ct_cat(ab, 2, 0);
    int64_t s33[2] = {3, 3};
    expect_shape(c, 2, s33);
    double wc[9] = {1, 1, 1, 1, 1, 1, 2, 2, 2};
    expect_values(c, wc, 9, 0);
    ct_tensor *a2 = ct_mul_scalar(a, 3);
    const ct_tensor *aa[2] = {a, a2};
    int64_t s223[3] = {2, 2, 3}, s232[3] = {2, 3, 2};
    ct_tensor *st0 = ct_stack(aa, 2, 0);
    expect_shape(st0, 3, s223);
    ct_tensor *st2 = ct_stack(aa, 2, 2);
    expect_shape(st2, 3, s232);
    double w2[12] = {1, 3, 1, 3, 1, 3, 1, 3, 1, 3, 1, 3};
    expect_values(st2, w2, 12, 0);
    /* mismatched shapes: error names the inputs */
    assert_null(ct_stack(ab, 2, 0));
    assert_non_null(strstr(ct_last_error(), "stack"));
    assert_non_null(strstr(ct_last_error(), "[2,3] [1,3]"));
    const ct_tensor *an[2] = {a, NULL};
    assert_null(ct_cat(an, 2, 0));
    assert_non_null(strstr(ct_last_error(), "tensors[1] is NULL"));
}

static void test_arithmetic(void **state) {
    (void)state;
    float av[4] = {1, -2, 3.5f, 4}, bv[2] = {2, 4};
    int64_t s22[2] = {2, 2}, s2 = 2;
    ct_tensor *a = f32(av, 2, s22), *b = f32(bv, 1, &s2);
    double wadd[4] = {3, 2, 5.5, 8}, wsub[4] = {-1, -6, 1.5, 0}, wmul[4] = {2, -8, 7, 16},
           wdiv[4] = {0.5, -0.5, 1.75, 1};
    expect_values(ct_add(a, b), wadd, 4, 0);
    expect_values(ct_sub(a, b), wsub, 4, 0);
    expect_values(ct_mul(a, b), wmul, 4, 0);
    expect_values(ct_div(a, b), wdiv, 4, 0);
    double was[4] = {2, -1, 4.5, 5}, wms[4] = {-2, 4, -7, -8}, wds[4] = {0.25, -0.5, 0.875, 1};
    expect_values(ct_add_scalar(a, 1), was, 4, 0);
    expect_values(ct_sub_scalar(ct_add_scalar(a, 3), 2), was, 4, 0);
    expect_values(ct_mul_scalar(a, -2), wms, 4, 0);
    expect_values(ct_div_scalar(a, 4), wds, 4, 0);
    double wneg[4] = {-1, 2, -3.5, -4}, wabs[4] = {1, 2, 3.5, 4};
    expect_values(ct_neg(a), wneg, 4, 0);
    expect_values(ct_abs(a), wabs, 4, 0);
    double wexp[4] = {exp(1), exp(-2), exp(3.5), exp(4)};
    expect_values(ct_exp(a), wexp, 4, 1e-4);
    double wlog[2] = {log(2), log(4)}, wl2[2] = {1, 2};
    expect_values(ct_log(b), wlog, 2, 1e-6);
    expect_values(ct_log2(b), wl2, 2, 1e-6);
    double wsq[2] = {sqrt(2), 2}, wrs[2] = {1 / sqrt(2), 0.5};
    expect_values(ct_sqrt(b), wsq, 2, 1e-6);
    expect_values(ct_rsqrt(b), wrs, 2, 1e-6);
    double wpow[4] = {1, 4, 12.25, 16};
    expect_values(ct_pow_scalar(a, 2), wpow, 4, 1e-5);
    float rv[5] = {-1.5f, -0.5f, 0.5f, 1.5f, 2.5f};
    int64_t s5 = 5;
    ct_tensor *r = f32(rv, 1, &s5);
    double wfl[5] = {-2, -1, 0, 1, 2}, wce[5] = {-1, -0, 1, 2, 3}, wro[5] = {-2, -0, 0, 2, 2},
           wtr[5] = {-1, 0, 0, 1, 2};
    expect_values(ct_floor(r), wfl, 5, 0);
    expect_values(ct_ceil(r), wce, 5, 0);
    expect_values(ct_round(r), wro, 5, 0); /* half to even */
    expect_values(ct_trunc(r), wtr, 5, 0);
    double wcl[5] = {-1, -0.5, 0.5, 1, 1}, wcmin[5] = {0, 0, 0.5, 1.5, 2.5},
           wcmax[5] = {-1.5, -0.5, 0.5, 1, 1};
    expect_values(ct_clamp(r, -1, 1), wcl, 5, 0);
    expect_values(ct_clamp(r, 0, NAN), wcmin, 5, 0);
    expect_values(ct_clamp(r, NAN, 1), wcmax, 5, 0);
    expect_values(ct_clamp_min(r, 0), wcmin, 5, 0);
    expect_values(ct_clamp_max(r, 1), wcmax, 5, 0);
    assert_null(ct_clamp(r, NAN, NAN));
    double wsig[2] = {1 / (1 + exp(-2.0)), 1 / (1 + exp(-4.0))};
    expect_values(ct_sigmoid(b), wsig, 2, 1e-6);
    double wth[2] = {tanh(2.0), tanh(4.0)};
    expect_values(ct_tanh(b), wth, 2, 1e-6);
    double wmn[4] = {1, -2, 2, 4}, wmx[4] = {2, 4, 3.5, 4};
    expect_values(ct_minimum(a, b), wmn, 4, 0);
    expect_values(ct_maximum(a, b), wmx, 4, 0);

    /* comparisons */
    double wgt[4] = {0, 0, 1, 0}, wlt[4] = {1, 1, 0, 0}, wge[4] = {0, 0, 1, 1}, wle[4] = {1, 1, 0, 1},
           weq[4] = {0, 0, 0, 1}, wne[4] = {1, 1, 1, 0};
    ct_tensor *g = ct_gt(a, b);
    assert_int_equal(ct_dtype_of(g), CT_BOOL);
    expect_values(g, wgt, 4, 0);
    expect_values(ct_lt(a, b), wlt, 4, 0);
    expect_values(ct_ge(a, b), wge, 4, 0);
    expect_values(ct_le(a, b), wle, 4, 0);
    expect_values(ct_eq(a, b), weq, 4, 0);
    expect_values(ct_ne(a, b), wne, 4, 0);
    double wgs[4] = {0, 0, 1, 1}, wls[4] = {1, 1, 0, 0}, wes[4] = {0, 0, 0, 1};
    expect_values(ct_gt_scalar(a, 3), wgs, 4, 0);
    expect_values(ct_ge_scalar(a, 3.5), wgs, 4, 0);
    expect_values(ct_lt_scalar(a, 3), wls, 4, 0);
    expect_values(ct_le_scalar(a, 1), wls, 4, 0);
    expect_values(ct_eq_scalar(a, 4), wes, 4, 0);
    double wns[4] = {1, 1, 1, 0};
    expect_values(ct_ne_scalar(a, 4), wns, 4, 0);
    double wand[4] = {0, 0, 0, 0}, wor[4] = {1, 1, 1, 1}, wnot[4] = {1, 1, 0, 0};
    expect_values(ct_logical_and(ct_lt(a, b), ct_ge(a, b)), wand, 4, 0);
    expect_values(ct_logical_or(ct_lt(a, b), ct_ge(a, b)), wor, 4, 0);
    expect_values(ct_logical_not(ct_ge(a, b)), wnot, 4, 0);

    /* in place */
    ct_tensor *c = ct_clone(a);
    assert_int_equal(ct_add_(c, b, 0.5), 0);
    double wip[4] = {2, 0, 4.5, 6};
    expect_values(c, wip, 4, 0);
    assert_int_equal(ct_mul_scalar_(c, 2), 0);
    double wip2[4] = {4, 0, 9, 12};
    expect_values(c, wip2, 4, 0);
}

static void test_reductions(void **state) {
    (void)state;
    float v[6] = {3, 1, 4, 1, 5, 9};
    int64_t s23[2] = {2, 3};
    ct_tensor *t = f32(v, 2, s23);
    assert_near(item(ct_sum(t)), 23, 0);
    assert_near(item(ct_mean(t)), 23.0 / 6, 1e-6);
    assert_near(item(ct_max(t)), 9, 0);
    assert_near(item(ct_min(t)), 1, 0);
    double ws0[3] = {4, 6, 13}, ws1[2] = {8, 15}, wm1[2] = {8.0 / 3, 5};
    expect_values(ct_sum_dim(t, 0, 0), ws0, 3, 0);
    ct_tensor *sk = ct_sum_dim(t, 1, 1);
    int64_t s21[2] = {2, 1};
    expect_shape(sk, 2, s21);
    expect_values(sk, ws1, 2, 0);
    expect_values(ct_mean_dim(t, -1, 0), wm1, 2, 1e-6);
    int64_t dims[2] = {0, 1};
    assert_near(item(ct_sum_dims(t, dims, 2, 0)), 23, 0);
    ct_tensor *md = ct_mean_dims(t, dims, 2, 1);
    int64_t s11[2] = {1, 1};
    expect_shape(md, 2, s11);
    ct_tensor *mv = NULL, *mi = NULL;
    assert_int_equal(ct_max_dim(t, 1, 0, &mv, &mi), 0);
    double wmv[2] = {4, 9}, wmi[2] = {2, 2};
    expect_values(mv, wmv, 2, 0);
    expect_values(mi, wmi, 2, 0);
    assert_int_equal(ct_dtype_of(mi), CT_I64);
    ct_tensor *nv = NULL;
    assert_int_equal(ct_min_dim(t, 0, 0, &nv, NULL), 0);  /* indices not wanted */
    double wnv[3] = {1, 1, 4};
    expect_values(nv, wnv, 3, 0);
    double wam[3] = {0, 1, 1};
    expect_values(ct_argmax(t, 0, 0), wam, 3, 0);
    assert_near(item(ct_argmax_all(t)), 5, 0);
    assert_near(item(ct_any(ct_gt_scalar(t, 8))), 1, 0);
    assert_near(item(ct_all(ct_gt_scalar(t, 1))), 0, 0);
    double wcs[6] = {3, 4, 8, 1, 6, 15};
    expect_values(ct_cumsum(t, 1), wcs, 6, 0);
}

/* ------------------------------------------------------------------------ */
/* nn, hand-derived                                                          */

static void test_conv2d_hand(void **state) {
    (void)state;
    float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    float w[4] = {1, 2, 3, 4};
    float b[1] = {1};
    int64_t sx[4] = {1, 1, 3, 3}, sw[4] = {1, 1, 2, 2}, sb = 1;
    int64_t one[2] = {1, 1}, zero[2] = {0, 0};
    ct_tensor *y = ct_conv2d(f32(x, 4, sx), f32(w, 4, sw), f32(b, 1, &sb), one, zero, one, 1);
    int64_t sy[4] = {1, 1, 2, 2};
    expect_shape(y, 4, sy);
    /* 1*1+2*2+3*4+4*5 = 37, 47, 67, 77; plus the bias */
    double wy[4] = {38, 48, 68, 78};
    expect_values(y, wy, 4, 1e-5);
    /* 3x3 box filter with padding 1: neighbourhood sums */
    int64_t s33[4] = {1, 1, 3, 3};
    ct_tensor *box = ct_ones(s33, 4, CT_F32, CPU);
    ct_tensor *y2 = ct_conv2d(f32(x, 4, sx), box, NULL, one, one, one, 1);
    double wy2[9] = {12, 21, 16, 27, 45, 33, 24, 39, 28};
    expect_values(y2, wy2, 9, 1e-5);
    /* linear: [1,2] x [[1,0],[1,1],[0,2]]^T + [0,1,2] */
    float lx[2] = {1, 2}, lw[6] = {1, 0, 1, 1, 0, 2}, lb[3] = {0, 1, 2};
    int64_t s12[2] = {1, 2}, s32[2] = {3, 2}, s3 = 3;
    double wl[3] = {1, 4, 6};
    expect_values(ct_linear(f32(lx, 2, s12), f32(lw, 2, s32), f32(lb, 1, &s3)), wl, 3, 1e-6);
    double wl0[3] = {1, 3, 4};
    expect_values(ct_linear(f32(lx, 2, s12), f32(lw, 2, s32), NULL), wl0, 3, 1e-6);
}

/* NHWC layouts: same values, same results, the parameter handle kept. */
static void test_channels_last_hand(void **state) {
    (void)state;
    float x[18] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    float w[8] = {1, 2, 3, 4, 1, 1, 1, 1};
    int64_t sx[4] = {1, 2, 3, 3}, sw[4] = {1, 2, 2, 2}, one[2] = {1, 1}, zero[2] = {0, 0};
    ct_tensor *xn = f32(x, 4, sx);
    assert_int_equal(ct_is_channels_last(xn), 0);
    ct_tensor *xc = ct_channels_last(xn);
    assert_int_equal(ct_is_channels_last(xc), 1);
    double wx[18];
    for (int i = 0; i < 18; i++) wx[i] = x[i];
    expect_values(xc, wx, 18, 0);   /* logical (NCHW) order unchanged */
    ct_tensor *wt = f32(w, 4, sw);
    ct_set_requires_grad(wt, 1);
    assert_int_equal(ct_to_channels_last_(wt), 0);
    assert_int_equal(ct_is_channels_last(wt), 1);
    assert_int_equal(ct_requires_grad(wt), 1);
    ct_tensor *y = ct_conv2d(xc, wt, NULL, one, zero, one, 1);
    /* channel 0: 37 47 67 77 (as in test_conv2d_hand); channel 1 adds 4 */
    double wy[4] = {41, 51, 71, 81};
    expect_values(y, wy, 4, 1e-5);
    assert_int_equal(ct_backward(ct_sum(y)), 0);
    /* d sum / d w = the 2x2 window sums of x: 12 16 24 28 | 4 4 4 4 */
    double wg[8] = {12, 16, 24, 28, 4, 4, 4, 4};
    expect_values(ct_grad(wt), wg, 8, 1e-5);
    int64_t s3[3] = {2, 3, 3};
    assert_null(ct_channels_last(ct_zeros(s3, 3, CT_F32, CPU)));
    assert_string_equal(ct_last_error(), "channels_last: input [2,3,3]: needs a 4-d tensor");
    assert_int_equal(ct_to_channels_last_(ct_zeros(s3, 3, CT_F32, CPU)), -1);
}

static void test_frozen_bn_hand(void **state) {
    (void)state;
    float x[4] = {1, 2, 3, 4}, w[2] = {2, 1}, b[2] = {0, 1}, rm[2] = {1, 2}, rv[2] = {4, 0.25f};
    int64_t sx[4] = {1, 2, 1, 2}, s2 = 2;
    /* scale = w/sqrt(rv) = [1, 2]; shift = b - rm*scale = [-1, -3] */
    ct_tensor *y = ct_frozen_batch_norm(f32(x, 4, sx), f32(w, 1, &s2), f32(b, 1, &s2),
                                        f32(rm, 1, &s2), f32(rv, 1, &s2), 0.0);
    double wy[4] = {0, 1, 3, 5};
    expect_values(y, wy, 4, 1e-6);
    assert_null(ct_frozen_batch_norm(f32(x, 4, sx), f32(w, 1, &s2), NULL, f32(rm, 1, &s2),
                                     f32(rv, 1, &s2), 0.0));
    assert_string_equal(ct_last_error(), "frozen_batch_norm: argument 3 (bias) is NULL");
}

static void test_pool_relu_hand(void **state) {
    (void)state;
    int64_t s44[4] = {1, 1, 4, 4}, s55[4] = {1, 1, 5, 5};
    ct_tensor *a = ct_reshape(ct_arange(0, 16, 1, CT_F32, CPU), s44, 4);
    int64_t k2[2] = {2, 2}, zero[2] = {0, 0}, one[2] = {1, 1};
    double w1[4] = {5, 7, 13, 15};
    expect_values(ct_max_pool2d(a, k2, k2, zero, one, 0), w1, 4, 0);
    ct_tensor *b = ct_reshape(ct_arange(0, 25, 1, CT_F32, CPU), s55, 4);
    ct_tensor *p = ct_max_pool2d(b, k2, k2, zero, one, 1);
    int64_t s33[4] = {1, 1, 3, 3};
    expect_shape(p, 4, s33);
    double w2[9] = {6, 8, 9, 16, 18, 19, 21, 23, 24};
    expect_values(p, w2, 9, 0);
    expect_shape(ct_max_pool2d(b, k2, k2, zero, one, 0), 4, (int64_t[]){1, 1, 2, 2});

    float rv[4] = {-1, 0, 2, -3};
    int64_t s4 = 4;
    ct_tensor *r = f32(rv, 1, &s4);
    double wr[4] = {0, 0, 2, 0};
    expect_values(ct_relu(r), wr, 4, 0);
    assert_int_equal(ct_relu_(r), 0);
    expect_values(r, wr, 4, 0);
}

static void test_softmax_losses_hand(void **state) {
    (void)state;
    float v[2] = {0, (float)log(2.0)};
    int64_t s12[2] = {1, 2};
    ct_tensor *x = f32(v, 2, s12);
    double w[2] = {1.0 / 3, 2.0 / 3};
    expect_values(ct_softmax(x, 1), w, 2, 1e-6);
    double wl[2] = {log(1.0 / 3), log(2.0 / 3)};
    expect_values(ct_log_softmax(x, -1), wl, 2, 1e-6);

    float a[3] = {1, 2, 3}, b[3] = {0, 0, 1};
    int64_t s3 = 3;
    ct_tensor *ta = f32(a, 1, &s3), *tb = f32(b, 1, &s3);
    assert_near(item(ct_mse_loss(ta, tb, CT_REDUCE_SUM)), 9, 1e-6);
    assert_near(item(ct_mse_loss(ta, tb, CT_REDUCE_MEAN)), 3, 1e-6);
    double wn[3] = {1, 4, 4};
    expect_values(ct_mse_loss(ta, tb, CT_REDUCE_NONE), wn, 3, 1e-6);
    assert_near(item(ct_l1_loss(ta, tb, CT_REDUCE_SUM)), 5, 1e-6);
    /* smooth L1, beta 1: |d| < 1 -> 0.5 d^2, else |d| - 0.5 */
    float c[3] = {0.5f, 2, 3};
    double ws[3] = {0.125, 1.5, 2.5};
    expect_values(ct_smooth_l1_loss(f32(c, 1, &s3), ct_zeros(&s3, 1, CT_F32, CPU), 1.0,
                                    CT_REDUCE_NONE),
                  ws, 3, 1e-6);
    /* bce with logits: z = 0 -> ln 2 whatever the target */
    ct_tensor *z = ct_zeros(&s3, 1, CT_F32, CPU);
    assert_near(item(ct_bce_with_logits(z, tb, NULL, NULL, CT_REDUCE_MEAN)), log(2.0),
                        1e-6);
    /* cross entropy of uniform logits over 4 classes = ln 4 */
    int64_t s24[2] = {2, 4}, t2[2] = {1, 3}, s2 = 2;
    ct_tensor *lg = ct_zeros(s24, 2, CT_F32, CPU);
    assert_near(item(ct_cross_entropy(lg, i64(t2, 1, &s2), NULL, -100, CT_REDUCE_SUM)),
                        2 * log(4.0), 1e-6);
}

static void test_bilinear_hand(void **state) {
    (void)state;
    /* [[0,1],[2,3]] = 2*row + col: bilinear reproduces it exactly at the
     * source coordinates p = clamp((dst + 0.5) / 2 - 0.5, 0, 1) =
     * {0, 0.25, 0.75, 1}, so out[i][j] = 2 p_i + p_j. */
    float v[4] = {0, 1, 2, 3};
    int64_t s[4] = {1, 1, 2, 2};
    ct_tensor *x = f32(v, 4, s);
    double p[4] = {0, 0.25, 0.75, 1}, want[16];
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) want[i * 4 + j] = 2 * p[i] + p[j];
    ct_tensor *y = ct_interpolate(x, CT_INTERP_BILINEAR, 4, 4, 0, 0, 0, 0);
    int64_t s44[4] = {1, 1, 4, 4};
    expect_shape(y, 4, s44);
    expect_values(y, want, 16, 1e-6);
    /* the same through scale factors 2 (the kernel then uses 1/scale = 0.5) */
    expect_values(ct_interpolate(x, CT_INTERP_BILINEAR, 0, 0, 2, 2, 0, 0), want, 16, 1e-6);
    expect_values(ct_interpolate(x, CT_INTERP_BILINEAR, 0, 0, 2, 2, 0, 1), want, 16, 1e-6);
    /* nearest x2 */
    double wn[16] = {0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3};
    expect_values(ct_interpolate(x, CT_INTERP_NEAREST, 4, 4, 0, 0, 0, 0), wn, 16, 0);
    /* bad arguments */
    assert_null(ct_interpolate(x, CT_INTERP_NEAREST, 4, 4, 0, 0, 1, 0));
    assert_null(ct_interpolate(x, CT_INTERP_BILINEAR, 0, 0, 0, 0, 0, 0));
    assert_null(ct_interpolate(x, CT_INTERP_BILINEAR, 4, 4, 0, 0, 0, 1));
}

static void test_sort_select_hand(void **state) {
    (void)state;
    float v[6] = {3, 1, 2, 1, 3, 1};
    int64_t s6 = 6;
    ct_tensor *t = f32(v, 1, &s6);
    ct_tensor *sv = NULL, *si = NULL;
    assert_int_equal(ct_sort(t, 0, 0, 1, &sv, &si), 0);
    double wv[6] = {1, 1, 1, 2, 3, 3}, wi[6] = {1, 3, 5, 2, 0, 4};
    expect_values(sv, wv, 6, 0);
    expect_values(si, wi, 6, 0);
    ct_destroy(sv);
    ct_destroy(si);
    assert_int_equal(ct_sort(t, -1, 1, 1, &sv, &si), 0);
    double wvd[6] = {3, 3, 2, 1, 1, 1}, wid[6] = {0, 4, 2, 1, 3, 5};
    expect_values(sv, wvd, 6, 0);
    expect_values(si, wid, 6, 0);
    ct_tensor *ai = NULL;
    assert_int_equal(ct_argsort(t, 0, 1, 1, &ai), 0);
    expect_values(ai, wid, 6, 0);

    float k[5] = {1, 5, 3, 5, 2};
    int64_t s5 = 5;
    ct_tensor *kt = f32(k, 1, &s5);
    ct_tensor *tv = NULL, *ti = NULL;
    assert_int_equal(ct_topk(kt, 2, 0, 1, 1, &tv, &ti), 0);
    double wtv[2] = {5, 5};
    expect_values(tv, wtv, 2, 0);
    int64_t n;
    double *iv = values(ti, &n);
    assert_true((iv[0] == 1 && iv[1] == 3) || (iv[0] == 3 && iv[1] == 1));
    free(iv);
    ct_tensor *tv3 = NULL, *ti3 = NULL;
    assert_int_equal(ct_topk(kt, 3, 0, 0, 1, &tv3, &ti3), 0);
    double wtv3[3] = {1, 2, 3}, wti3[3] = {0, 4, 2};
    expect_values(tv3, wtv3, 3, 0);
    expect_values(ti3, wti3, 3, 0);
    assert_int_equal(ct_topk(kt, 9, 0, 1, 1, &tv3, &ti3), -1);
    assert_non_null(strstr(ct_last_error(), "topk"));

    float nz[6] = {0, 1, 2, 0, 0, 3};
    int64_t s32[2] = {3, 2};
    ct_tensor *nzi = ct_nonzero(f32(nz, 2, s32));
    expect_shape(nzi, 2, s32);
    assert_int_equal(ct_dtype_of(nzi), CT_I64);
    double wnz[6] = {0, 1, 1, 0, 2, 1};
    expect_values(nzi, wnz, 6, 0);

    float g[4] = {1, 2, 3, 4};
    int64_t gi[4] = {0, 0, 1, 0}, s22[2] = {2, 2};
    double wg[4] = {1, 1, 4, 3};
    expect_values(ct_gather(f32(g, 2, s22), 1, i64(gi, 2, s22)), wg, 4, 0);
}

/* ------------------------------------------------------------------------ */
/* against PyTorch                                                           */

static void test_ref_conv(void **state) {
    (void)state;
    int64_t st[2] = {2, 1}, pad[2] = {1, 2}, dil[2] = {2, 1};
    ct_tensor *y = ct_conv2d(ref("conv_x"), ref("conv_w"), ref("conv_b"), st, pad, dil, 2);
    expect_ref(y, "conv_y", 1e-4, 1e-4);
    int64_t st2[2] = {2, 2}, pad2[2] = {1, 0}, op[2] = {1, 0}, dil2[2] = {1, 2};
    ct_tensor *yt =
        ct_conv_transpose2d(ref("convt_x"), ref("convt_w"), ref("convt_b"), st2, pad2, op, 2, dil2);
    expect_ref(yt, "convt_y", 1e-4, 1e-4);
}

static void test_ref_batch_norm(void **state) {
    (void)state;
    ct_tensor *x = ref("bn_x"), *w = ref("bn_w"), *b = ref("bn_b");
    ct_tensor *rm = ref("bn_rm0"), *rv = ref("bn_rv0");
    ct_tensor *y = ct_batch_norm(x, w, b, rm, rv, 1, 0.1, 1e-5);
    expect_ref(y, "bn_y", 1e-4, 1e-5);
    expect_ref(rm, "bn_rm1", 1e-5, 1e-6);
    expect_ref(rv, "bn_rv1", 1e-5, 1e-6);
    ct_tensor *ye = ct_batch_norm(x, w, b, ref("bn_rm0"), ref("bn_rv0"), 0, 0.1, 1e-5);
    expect_ref(ye, "bn_eval_y", 1e-5, 1e-5);
    assert_null(ct_batch_norm(x, w, b, NULL, NULL, 0, 0.1, 1e-5));
    ct_tensor *yf = ct_frozen_batch_norm(x, w, b, ref("bn_rm0"), ref("fbn_rv"), 1e-5);
    expect_ref(yf, "fbn_y", 1e-6, 1e-6);
}

static void test_ref_interpolate(void **state) {
    (void)state;
    ct_tensor *x = ref("interp_x");
    const double tol = 1e-5;
    expect_ref(ct_interpolate(x, CT_INTERP_BILINEAR, 8, 3, 0, 0, 0, 0), "interp_bl_size", tol, tol);
    expect_ref(ct_interpolate(x, CT_INTERP_BILINEAR, 9, 13, 0, 0, 1, 0), "interp_bl_size_ac", tol,
               tol);
    expect_ref(ct_interpolate(x, CT_INTERP_BILINEAR, 0, 0, 1.7, 0.55, 0, 0), "interp_bl_scale", tol,
               tol);
    expect_ref(ct_interpolate(x, CT_INTERP_BILINEAR, 0, 0, 1.7, 0.55, 0, 1), "interp_bl_scale_rc",
               tol, tol);
    expect_ref(ct_interpolate(x, CT_INTERP_NEAREST, 11, 4, 0, 0, 0, 0), "interp_nn_size", 0, 0);
    expect_ref(ct_interpolate(x, CT_INTERP_NEAREST, 0, 0, 2.3, 0.6, 0, 0), "interp_nn_scale", 0, 0);
    expect_ref(ct_interpolate(x, CT_INTERP_NEAREST, 0, 0, 2.3, 0.6, 0, 1), "interp_nn_scale_rc", 0,
               0);
}

static void test_ref_pool_softmax_losses(void **state) {
    (void)state;
    int64_t k[2] = {3, 2}, s[2] = {2, 2}, p[2] = {1, 0}, d[2] = {1, 1};
    expect_ref(ct_max_pool2d(ref("pool_x"), k, s, p, d, 1), "pool_y", 0, 0);
    expect_ref(ct_log_softmax(ref("lsm_x"), 1), "lsm_y", 1e-5, 1e-6);

    ct_tensor *lg = ref("ce_logits"), *tg = ref("ce_target");
    expect_ref(ct_cross_entropy(lg, tg, NULL, -100, CT_REDUCE_MEAN), "ce_mean", 1e-5, 1e-6);
    expect_ref(ct_cross_entropy(lg, tg, NULL, -100, CT_REDUCE_SUM), "ce_sum", 1e-5, 1e-6);
    expect_ref(ct_cross_entropy(lg, tg, NULL, -100, CT_REDUCE_NONE), "ce_none", 1e-5, 1e-6);
    expect_ref(ct_cross_entropy(lg, tg, ref("ce_w"), -100, CT_REDUCE_MEAN), "ce_w_mean", 1e-5,
               1e-6);

    ct_tensor *a = ref("sl1_a"), *t = ref("sl1_t");
    expect_ref(ct_smooth_l1_loss(a, t, 1.0 / 9, CT_REDUCE_SUM), "sl1_sum", 1e-5, 1e-6);
    expect_ref(ct_smooth_l1_loss(a, t, 1.0 / 9, CT_REDUCE_MEAN), "sl1_mean", 1e-5, 1e-6);
    expect_ref(ct_smooth_l1_loss(a, t, 0.5, CT_REDUCE_NONE), "sl1_none", 1e-5, 1e-6);

    ct_tensor *z = ref("bce_z"), *y = ref("bce_y");
    expect_ref(ct_bce_with_logits(z, y, NULL, NULL, CT_REDUCE_MEAN), "bce_mean", 1e-5, 1e-6);
    expect_ref(ct_bce_with_logits(z, y, NULL, ref("bce_pw"), CT_REDUCE_SUM), "bce_sum_pw", 1e-5,
               1e-6);
}

static void test_ref_autograd(void **state) {
    (void)state;
    ct_tensor *x = ref("ag_x"), *w = ref("ag_w"), *b = ref("ag_b"), *t = ref("ag_t");
    assert_int_equal(ct_set_requires_grad(x, 1), 0);
    assert_int_equal(ct_set_requires_grad(w, 1), 0);
    assert_int_equal(ct_set_requires_grad(b, 1), 0);
    assert_int_equal(ct_has_grad(w), 0);
    ct_clear_error();
    assert_null(ct_grad(w));               /* no grad yet: NULL ... */
    assert_string_equal(ct_last_error(), ""); /* ... and no error */
    int64_t one[2] = {1, 1};
    ct_tensor *loss = ct_mse_loss(ct_relu(ct_conv2d(x, w, b, one, one, one, 1)), t, CT_REDUCE_SUM);
    assert_int_equal(ct_requires_grad(loss), 1);
    expect_ref(loss, "ag_loss", 1e-5, 1e-5);
    assert_int_equal(ct_backward(loss), 0);
    assert_int_equal(ct_has_grad(w), 1);
    expect_ref(ct_grad(x), "ag_gx", 1e-4, 1e-5);
    expect_ref(ct_grad(w), "ag_gw", 1e-4, 1e-5);
    expect_ref(ct_grad(b), "ag_gb", 1e-4, 1e-5);
    /* grads accumulate; zero_grad zeroes or drops them */
    ct_tensor *loss2 =
        ct_mse_loss(ct_relu(ct_conv2d(x, w, b, one, one, one, 1)), t, CT_REDUCE_SUM);
    assert_int_equal(ct_backward(loss2), 0);
    ct_tensor *g2 = ct_grad(b);
    ct_tensor *half = ct_mul_scalar(g2, 0.5);
    expect_ref(half, "ag_gb", 1e-4, 1e-5);
    assert_int_equal(ct_zero_grad(b, 0), 0);
    assert_near(item(ct_sum(ct_abs(ct_grad(b)))), 0, 0);
    assert_int_equal(ct_zero_grad(b, 1), 0);
    assert_int_equal(ct_has_grad(b), 0);
    /* a non-scalar loss is an error */
    assert_int_equal(ct_backward(w), -1);
    assert_non_null(strstr(ct_last_error(), "backward"));

    /* grad mode */
    assert_int_equal(ct_grad_is_enabled(), 1);
    int prev = ct_grad_set_enabled(0);
    assert_int_equal(prev, 1);
    assert_int_equal(ct_grad_is_enabled(), 0);
    ct_tensor *ng = ct_mul_scalar(w, 2);
    assert_int_equal(ct_requires_grad(ng), 0);
    assert_int_equal(ct_grad_set_enabled(prev), 0);
    assert_int_equal(ct_requires_grad(ct_mul_scalar(w, 2)), 1);
}

/* ---- optimizers ---- */

/* loss = sum(a1 (p1 - c1)^2) + 0.5 sum((p2 - c2)^4), as in ref_ctorch.py */
static ct_tensor *quad(ct_tensor *p1, ct_tensor *p2, ct_tensor *c1, ct_tensor *c2, ct_tensor *a1) {
    ct_tensor *d1 = ct_sub(p1, c1);
    ct_tensor *t1 = ct_sum(ct_mul(ct_mul(a1, d1), d1));
    ct_tensor *d2 = ct_sub(p2, c2);
    ct_tensor *q = ct_mul(d2, d2);
    ct_tensor *t2 = ct_mul_scalar(ct_sum(ct_mul(q, q)), 0.5);
    return ct_add(t1, t2);
}

typedef ct_optim *(*make_fn)(ct_tensor **ps);

static ct_optim *mk_sgd(ct_tensor **ps) { return ct_optim_sgd(ps, 2, 0.05, 0.9, 0, 1e-4, 0); }
static ct_optim *mk_sgdn(ct_tensor **ps) { return ct_optim_sgd(ps, 2, 0.05, 0.9, 0, 1e-3, 1); }
static ct_optim *mk_adam(ct_tensor **ps) {
    return ct_optim_adam(ps, 2, 1e-3, 0.9, 0.999, 1e-8, 0, 0);
}
static ct_optim *mk_adamw(ct_tensor **ps) {
    return ct_optim_adam(ps, 2, 1e-2, 0.8, 0.99, 1e-6, 0.1, 1);
}

static void opt_steps(ct_optim *o, ct_tensor **ps, int n) {
    ct_tensor *c1 = ref("opt_c1"), *c2 = ref("opt_c2"), *a1 = ref("opt_a1");
    for (int i = 0; i < n; ++i) {
        assert_int_equal(ct_scope_begin(), 3);
        assert_int_equal(ct_optim_zero_grad(o, i % 2), 0);
        assert_int_equal(ct_backward(quad(ps[0], ps[1], c1, c2, a1)), 0);
        assert_int_equal(ct_optim_step(o), 0);
        assert_true(ct_scope_end() > 0);
    }
    ct_destroy(c1);
    ct_destroy(c2);
    ct_destroy(a1);
}

static void run_optim(const char *name, make_fn mk, int nstate_per_param) {
    char n1[64], n2[64];
    snprintf(n1, sizeof n1, "%s_p1", name);
    snprintf(n2, sizeof n2, "%s_p2", name);
    assert_int_equal(ct_scope_begin(), 2);

    /* uninterrupted: 3 steps */
    ct_tensor *ps[2] = {ref("opt_p1"), ref("opt_p2")};
    ct_set_requires_grad(ps[0], 1);
    ct_set_requires_grad(ps[1], 1);
    ct_optim *o = mk(ps);
    assert_non_null(o);
    assert_int_equal(ct_optim_param_count(o), 2);
    assert_int_equal(ct_optim_state_count(o), 0);
    opt_steps(o, ps, 3);
    expect_ref(ps[0], n1, 1e-6, 1e-7);
    expect_ref(ps[1], n2, 1e-6, 1e-7);
    assert_int_equal(ct_optim_state_count(o), 2 * nstate_per_param);
    ct_optim_destroy(o);

    /* interrupted: 2 steps, save (copies), new params + optimizer, restore, 1 step */
    ct_tensor *qs[2] = {ref("opt_p1"), ref("opt_p2")};
    ct_set_requires_grad(qs[0], 1);
    ct_set_requires_grad(qs[1], 1);
    o = mk(qs);
    opt_steps(o, qs, 2);
    int ns = ct_optim_state_count(o);
    assert_int_equal(ns, 2 * nstate_per_param);
    char names[16][64];
    ct_tensor *saved[16];
    assert_true(ns <= 16);
    for (int i = 0; i < ns; ++i) {
        const char *nm = ct_optim_state_name(o, i);
        assert_non_null(nm);
        assert_true(strncmp(nm, "param.", 6) == 0);
        snprintf(names[i], sizeof names[i], "%s", nm);
        ct_tensor *alias = ct_optim_state_get(o, i);
        saved[i] = ct_clone(alias);
        ct_destroy(alias);
    }
    assert_null(ct_optim_state_name(o, ns));
    ct_tensor *rs[2] = {ct_detach(ct_clone(qs[0])), ct_detach(ct_clone(qs[1]))};
    ct_optim_destroy(o);
    ct_set_requires_grad(rs[0], 1);
    ct_set_requires_grad(rs[1], 1);
    ct_optim *o2 = mk(rs);
    for (int i = 0; i < ns; ++i) assert_int_equal(ct_optim_state_set(o2, names[i], saved[i]), 0);
    assert_int_equal(ct_optim_state_count(o2), ns);
    opt_steps(o2, rs, 1);
    /* identical to the uninterrupted run (same ops, same order) */
    expect_ref(rs[0], n1, 1e-6, 1e-7);
    expect_ref(rs[1], n2, 1e-6, 1e-7);
    ct_tensor *ps2[2] = {ref("opt_p1"), ref("opt_p2")};
    ct_set_requires_grad(ps2[0], 1);
    ct_set_requires_grad(ps2[1], 1);
    ct_optim *o3 = mk(ps2);
    opt_steps(o3, ps2, 3);
    assert_near(item(ct_sum(ct_abs(ct_sub(ps2[0], rs[0])))), 0, 0);
    assert_near(item(ct_sum(ct_abs(ct_sub(ps2[1], rs[1])))), 0, 0);

    /* errors */
    assert_int_equal(ct_optim_state_set(o2, "param.9.exp_avg", saved[0]), -1);
    assert_int_equal(ct_optim_state_set(o2, "bogus", saved[0]), -1);
    assert_int_equal(ct_optim_state_set(o2, names[0], NULL), -1);
    ct_optim_destroy(o2);
    ct_optim_destroy(o3);
    assert_true(ct_scope_end() > 0);
}

static void test_ref_sgd(void **state) {
    (void)state;
    run_optim("sgd", mk_sgd, 1);
    run_optim("sgdn", mk_sgdn, 1);
}

static void test_ref_adam(void **state) {
    (void)state;
    run_optim("adam", mk_adam, 3);
    run_optim("adamw", mk_adamw, 4);
}

static void test_optim_misc(void **state) {
    (void)state;
    int64_t s2 = 2;
    ct_tensor *p = ct_ones(&s2, 1, CT_F32, CPU);
    ct_set_requires_grad(p, 1);
    ct_optim *o = ct_optim_sgd(&p, 1, 0.1, 0, 0, 0, 0);
    assert_non_null(o);
    assert_near(ct_optim_get_lr(o), 0.1, 0);
    assert_int_equal(ct_optim_set_lr(o, 0.5), 0);
    assert_near(ct_optim_get_lr(o), 0.5, 0);
    /* no grad yet: the step skips the parameter */
    assert_int_equal(ct_optim_step(o), 0);
    assert_near(item(ct_sum(p)), 2, 0);
    assert_int_equal(ct_backward(ct_sum(ct_mul(p, p))), 0); /* grad = 2p = 2 */
    assert_int_equal(ct_optim_step(o), 0);                   /* p = 1 - 0.5*2 = 0 */
    assert_near(item(ct_sum(ct_abs(p))), 0, 1e-7);
    assert_int_equal(ct_optim_state_count(o), 0);             /* plain SGD has no state */
    assert_int_equal(ct_optim_zero_grad(o, 0), 0);
    assert_int_equal(ct_has_grad(p), 1);
    assert_int_equal(ct_optim_zero_grad(o, 1), 0);
    assert_int_equal(ct_has_grad(p), 0);
    ct_optim_destroy(o);
    ct_optim_destroy(NULL);
    /* bad arguments */
    assert_null(ct_optim_sgd(&p, 1, -1, 0, 0, 0, 0));
    ct_tensor *nul = NULL;
    assert_null(ct_optim_adam(&nul, 1, 1e-3, 0.9, 0.999, 1e-8, 0, 0));
    assert_non_null(strstr(ct_last_error(), "params[0] is NULL"));
    assert_int_equal(ct_optim_step(NULL), -1);
}

/* ------------------------------------------------------------------------ */
/* errors and scopes                                                         */

static void test_errors(void **state) {
    (void)state;
    int64_t sx[4] = {1, 3, 8, 8}, sw[4] = {4, 2, 3, 3};
    ct_tensor *x = ct_zeros(sx, 4, CT_F32, CPU), *w = ct_zeros(sw, 4, CT_F32, CPU);
    int64_t one[2] = {1, 1};
    assert_null(ct_conv2d(x, w, NULL, one, one, one, 1));
    const char *e = ct_last_error();
    assert_true(strncmp(e, "conv2d: ", 8) == 0);
    assert_non_null(strstr(e, "input [1,3,8,8]"));
    assert_non_null(strstr(e, "weight [4,2,3,3]"));
    assert_null(strchr(e, '\n'));                    /* one line, no backtrace */
    assert_null(strstr(e, "Exception raised from"));
    assert_true(strlen(e) < 600);

    /* each NULL check after a success: no earlier failure is quoted */
    assert_non_null(ct_share(x));
    assert_null(ct_add(x, NULL));
    assert_string_equal(ct_last_error(), "add: argument 2 (b) is NULL");
    assert_non_null(ct_share(x));
    assert_null(ct_relu(NULL));
    assert_string_equal(ct_last_error(), "relu: argument 1 (input) is NULL");
    ct_clear_error(); /* clearing ends the link as a success does */
    assert_null(ct_conv2d(NULL, w, NULL, one, one, one, 1));
    assert_string_equal(ct_last_error(), "conv2d: argument 1 (input) is NULL");
    assert_int_equal(ct_ndim(NULL), -1);
    assert_int_equal(ct_numel(NULL), -1);
    assert_int_equal(ct_backward(NULL), -1);
    assert_int_equal(ct_copy_(NULL, x), -1);
    assert_non_null(ct_share(x));
    assert_null(ct_gather(x, 0, NULL));
    assert_string_equal(ct_last_error(), "gather: argument 3 (index) is NULL");
    ct_destroy(NULL);

    /* broadcasting failure names both shapes */
    int64_t s3 = 3, s4 = 4;
    assert_null(ct_add(ct_zeros(&s3, 1, CT_F32, CPU), ct_zeros(&s4, 1, CT_F32, CPU)));
    assert_non_null(strstr(ct_last_error(), "add: a [3] vs b [4]"));

    /* to_buffer checks the size */
    float buf[3];
    ct_tensor *t3 = ct_zeros(&s3, 1, CT_F32, CPU);
    assert_int_equal(ct_to_buffer(t3, buf, sizeof buf - 1), -1);
    assert_non_null(strstr(ct_last_error(), "to_buffer"));
    assert_non_null(strstr(ct_last_error(), "12 bytes"));
    assert_int_equal(ct_to_buffer(t3, buf, sizeof buf), 0);
    /* an error message survives successful calls, until cleared */
    assert_true(strlen(ct_last_error()) > 0);
    ct_clear_error();
    assert_string_equal(ct_last_error(), "");
    /* bad dims, bad dtype, bad shape */
    assert_null(ct_select(t3, 5, 0));
    assert_non_null(strstr(ct_last_error(), "select: input [3]"));
    assert_null(ct_zeros(&s3, 1, (ct_dtype)99, CPU));
    assert_non_null(strstr(ct_last_error(), "invalid dtype"));
    int64_t neg = -2;
    assert_null(ct_zeros(&neg, 1, CT_F32, CPU));
    assert_null(ct_from_buffer(NULL, CT_F32, 1, &s3));
    double d;
    assert_int_equal(ct_item_f64(t3, &d), -1); /* not one element */
    int64_t sh[2];
    assert_int_equal(ct_shape(x, sh, 2), 4); /* truncated, full ndim returned */
    assert_int_equal(sh[1], 3);
    assert_int_equal((int)ct_dtype_of(NULL), -1);
    assert_int_equal(ct_device_of(NULL).type, -1);
    char db[8];
    assert_int_equal(ct_tensor_describe(NULL, db, sizeof db), -1);
}

/* Nested calls: the outer call's "argument N is NULL" keeps the message of
 * the inner failure that produced the NULL, however deep the nesting. */
static void test_error_chain(void **state) {
    (void)state;
    int64_t s6 = 6, bad[2] = {4, 4};
    ct_tensor *x = ct_ones(&s6, 1, CT_F32, CPU);
    assert_null(ct_flatten(ct_nonzero(ct_reshape(x, bad, 2)), 0, -1));
    const char *e = ct_last_error();
    const char *want = "flatten: argument 1 (input) is NULL (after: nonzero: argument 1 "
                       "(input) is NULL (after: reshape: input [6]";
    assert_true(strncmp(e, want, strlen(want)) == 0);
    assert_non_null(strstr(e, "[4, 4]"));           /* libtorch's reason survives */
    assert_int_equal(e[strlen(e) - 1], ')');

    /* arrays and optimizers take part too */
    assert_null(ct_reshape(x, bad, 2));
    const ct_tensor *two[2] = {x, ct_reshape(x, bad, 2)};
    assert_null(ct_cat(two, 2, 0));
    assert_non_null(strstr(ct_last_error(), "tensors[1] is NULL (after: reshape: input [6]"));
    assert_null(ct_optim_sgd(&x, 1, -1, 0, 0, 0, 0));
    assert_int_equal(ct_optim_step(NULL), -1);
    assert_non_null(strstr(ct_last_error(), "optimizer is NULL (after: optim_sgd"));

    /* a success in between: a later NULL is the caller's own, no "after" */
    assert_null(ct_reshape(x, bad, 2));
    ct_tensor *y = ct_relu(x);
    assert_non_null(y);
    assert_null(ct_flatten(NULL, 0, -1));
    assert_string_equal(ct_last_error(), "flatten: argument 1 (input) is NULL");
    /* ... and the message of a failure still outlives successes */
    assert_null(ct_reshape(x, bad, 2));
    assert_non_null(ct_relu(y));
    assert_non_null(strstr(ct_last_error(), "reshape: input [6]"));
}

static void test_scopes(void **state) {
    (void)state;
    /* the setup opened scope 1 */
    int64_t base = ct_live_tensor_count();
    int64_t s2 = 2;
    assert_int_equal(ct_scope_depth(), 1);
    assert_int_equal(ct_scope_begin(), 2);
    ct_tensor *a = ct_ones(&s2, 1, CT_F32, CPU);
    ct_tensor *b = ct_add(a, a);
    ct_tensor *c = ct_mul(b, a);
    ct_tensor *d = ct_zeros(&s2, 1, CT_F32, CPU);
    assert_int_equal(ct_live_tensor_count(), base + 4);
    ct_destroy(d); /* freeing a scoped handle unregisters it */
    assert_int_equal(ct_live_tensor_count(), base + 3);
    assert_ptr_equal(ct_scope_keep(c), c);
    assert_null(ct_scope_keep(NULL));

    /* nested scope: keep moves one level out */
    assert_int_equal(ct_scope_begin(), 3);
    ct_tensor *e = ct_add_scalar(c, 1);
    ct_tensor *f = ct_scope_keep(ct_add_scalar(e, 1));
    assert_non_null(f);
    assert_int_equal(ct_live_tensor_count(), base + 5);
    assert_int_equal(ct_scope_end(), 1); /* e */
    assert_int_equal(ct_live_tensor_count(), base + 4);
    double wf[2] = {4, 4};
    expect_values(f, wf, 2, 0);

    assert_int_equal(ct_scope_end(), 3); /* a, b, f */
    assert_int_equal(ct_live_tensor_count(), base + 1);
    double wc[2] = {2, 2};
    expect_values(c, wc, 2, 0); /* c is now in scope 1 */
    assert_int_equal(ct_scope_depth(), 1);

    /* keep from the outermost scope makes a handle unscoped */
    ct_tensor *u = ct_scope_keep(ct_share(c));
    assert_int_equal(ct_scope_end(), 1); /* c */
    assert_int_equal(ct_scope_depth(), 0);
    assert_int_equal(ct_scope_end(), -1);
    assert_non_null(strstr(ct_last_error(), "no scope"));
    assert_int_equal(ct_live_tensor_count(), base + 1); /* u */
    expect_values(u, wc, 2, 0); /* shared storage outlives the freed handle */
    ct_destroy(u);
    assert_int_equal(ct_live_tensor_count(), base);
    assert_int_equal(ct_scope_begin(), 1); /* for the teardown */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_build_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_creation_queries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_indexing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cat_stack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arithmetic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reductions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conv2d_hand, setup, teardown),
        cmocka_unit_test_setup_teardown(test_frozen_bn_hand, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_relu_hand, setup, teardown),
        cmocka_unit_test_setup_teardown(test_softmax_losses_hand, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bilinear_hand, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sort_select_hand, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ref_conv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ref_batch_norm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ref_interpolate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ref_pool_softmax_losses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ref_autograd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channels_last_hand, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ref_sgd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ref_adam, setup, teardown),
        cmocka_unit_test_setup_teardown(test_optim_misc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scopes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
