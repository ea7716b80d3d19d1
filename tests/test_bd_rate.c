/* test_bd_rate.c: the Bjontegaard delta rate (infer/bd_rate.h) against
 * hand-derived cases (a curve at half / twice the rate everywhere: -50% /
 * +100% whatever the fit; two-point curves, where the fit is a line and the
 * integral can be done by hand) and against numpy's polyfit/polyint on
 * random curves (tests/py/ref_bd_rate.py, at test time). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

#include "bd_rate.h"
#include "test_util.h"

static char g_err[256];

static void test_hand(void **state) {
    (void)state;
    const double qa[5] = {0.30, 0.33, 0.36, 0.40, 0.41}, ra[5] = {4757, 9509, 14261, 19013, 23765};
    double rb[5], pct;
    for (int i = 0; i < 5; i++) rb[i] = ra[i] / 2;
    assert_int_equal(bd_rate(ra, qa, 5, rb, qa, 5, &pct, g_err, sizeof g_err), 0);
    assert_true(fabs(pct + 50.0) < 1e-9);
    assert_int_equal(bd_rate(rb, qa, 5, ra, qa, 5, &pct, g_err, sizeof g_err), 0);
    assert_true(fabs(pct - 100.0) < 1e-9);
    /* two points each: log r is linear in q. A: log r = q*10 (r = e^(10q))
     * on [0.3, 0.5]; B: log r = q*10 - 1 + 2(q - 0.4) on [0.4, 0.6]. Overlap
     * [0.4, 0.5]: mean of B - A = mean of -1 + 2(q - 0.4) = -1 + 0.1 = -0.9 */
    const double q2a[2] = {0.3, 0.5}, r2a[2] = {exp(3.0), exp(5.0)};
    const double q2b[2] = {0.4, 0.6}, r2b[2] = {exp(4.0 - 1.0), exp(6.0 - 1.0 + 0.4)};
    assert_int_equal(bd_rate(r2a, q2a, 2, r2b, q2b, 2, &pct, g_err, sizeof g_err), 0);
    print_message("  two-point case: %.12f%% (want %.12f%%)\n", pct, (exp(-0.9) - 1) * 100);
    assert_true(fabs(pct - (exp(-0.9) - 1) * 100) < 1e-9);
    /* errors: no overlap, one point, a zero rate, all one quality */
    const double q3[2] = {0.7, 0.8};
    assert_int_equal(bd_rate(r2a, q2a, 2, r2b, q3, 2, &pct, g_err, sizeof g_err), -1);
    assert_non_null(strstr(g_err, "overlap"));
    assert_int_equal(bd_rate(r2a, q2a, 1, r2b, q2b, 2, &pct, g_err, sizeof g_err), -1);
    const double rz[2] = {0, 10};
    assert_int_equal(bd_rate(rz, q2a, 2, r2b, q2b, 2, &pct, g_err, sizeof g_err), -1);
    assert_non_null(strstr(g_err, "curve A point 0"));
    const double qs[2] = {0.4, 0.4};
    assert_int_equal(bd_rate(r2a, qs, 2, r2b, q2b, 2, &pct, g_err, sizeof g_err), -1);
}

static double *arr(cJSON *o, const char *k, int *n) {
    cJSON *a = cJSON_GetObjectItem(o, k);
    *n = cJSON_GetArraySize(a);
    double *v = malloc(sizeof *v * (size_t)*n);
    for (int i = 0; i < *n; i++) v[i] = cJSON_GetArrayItem(a, i)->valuedouble;
    return v;
}

static void test_numpy(void **state) {
    (void)state;
    char dir[512], path[700], args[800];
    tu_tmp(dir, sizeof dir, "ref_bd_rate.json");
    snprintf(path, sizeof path, "%s", dir);
    snprintf(args, sizeof args, "ref_bd_rate.py %s", path);
    if (tu_python(args) != 0) fail_msg("ref_bd_rate.py failed");
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 16];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    cJSON *root = cJSON_Parse(buf);
    assert_non_null(root);
    int cases = 0;
    cJSON *c;
    cJSON_ArrayForEach(c, root) {
        int na, nb, n2, n3;
        double *ra = arr(c, "ra", &na), *qa = arr(c, "qa", &n2), *rb = arr(c, "rb", &nb), *qb = arr(c, "qb", &n3);
        double want = cJSON_GetObjectItem(c, "bd")->valuedouble, got = NAN;
        if (bd_rate(ra, qa, na, rb, qb, nb, &got, g_err, sizeof g_err) != 0) fail_msg("case %d: %s", cases, g_err);
        print_message("  %d+%d points: %.9f%% (numpy %.9f%%)\n", na, nb, got, want);
        assert_true(fabs(got - want) <= 1e-6 * (1 + fabs(want)));
        free(ra), free(qa), free(rb), free(qb);
        cases++;
    }
    assert_int_equal(cases, 7);
    cJSON_Delete(root);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_hand), cmocka_unit_test(test_numpy)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
