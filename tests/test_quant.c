/* test_quant.c: the 8-bit bottleneck quantizer (models/bottleneck_quant.h) on
 * hand-derived edge cases: exact grids, the round-half-to-even step, the
 * truncated (not rounded) zero point, the zero-point clamp of negative-only
 * tensors (which loses range, as the reference does), the constant-tensor
 * guard, half precision, errors and the wire sizes. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bottleneck_quant.h"
#include "ctorch.h"
#include "hnd_error.h"

static ct_tensor *vec(const float *v, int64_t n) { return ct_from_buffer(v, CT_F32, 1, &n); }

/* Quantizes v, checks scale, zero point, q and the dequantized values. */
static void check(const float *v, int n, float scale, int zp, const uint8_t *q, const float *xhat) {
    ct_scope_begin();
    bq_tensor qt;
    if (bq_quantize8(vec(v, n), &qt) != 0) fail_msg("quantize: %s", hnd_error());
    if (qt.scale != scale) fail_msg("scale %.9g, want %.9g", qt.scale, scale);
    assert_int_equal(qt.zero_point, zp);
    uint8_t got[64];
    assert_int_equal(ct_to_buffer(qt.q, got, (size_t)n), 0);
    for (int i = 0; i < n; i++)
        if (got[i] != q[i]) fail_msg("q[%d] = %d, want %d (x = %g)", i, got[i], q[i], v[i]);
    ct_tensor *d = bq_dequantize8(&qt);
    assert_non_null(d);
    float back[64];
    assert_int_equal(ct_to_buffer(d, back, sizeof(float) * (size_t)n), 0);
    for (int i = 0; i < n; i++)
        if (back[i] != xhat[i]) fail_msg("x^[%d] = %.9g, want %.9g", i, back[i], xhat[i]);
    /* the byte interface gives the same */
    size_t nb = 0;
    float s2 = 0;
    int z2 = -1;
    uint8_t *bytes = bq_quantize8_bytes(vec(v, n), &nb, &s2, &z2);
    assert_non_null(bytes);
    assert_int_equal(nb, (size_t)n);
    assert_true(s2 == scale);
    assert_int_equal(z2, zp);
    assert_memory_equal(bytes, q, (size_t)n);
    free(bytes);
    bq_tensor_clear(&qt);
    ct_scope_end();
}

/* 0..255: scale 1, zero point 0, q = x, exact. */
static void test_identity_grid(void **state) {
    (void)state;
    float v[64], xh[64];
    uint8_t q[64];
    for (int i = 0; i < 64; i++) {
        int k = i * 255 / 63;
        v[i] = xh[i] = (float)k;
        q[i] = (uint8_t)k;
    }
    check(v, 64, 1.0f, 0, q, xh);
}

/* scale 1, zp 0: q = round(x) half to even: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, 3.5 -> 4. */
static void test_round_half_even(void **state) {
    (void)state;
    const float v[] = {0.0f, 0.5f, 1.5f, 2.5f, 3.5f, 254.5f, 255.0f};
    const uint8_t q[] = {0, 0, 2, 2, 4, 254, 255};
    const float xh[] = {0, 0, 2, 2, 4, 254, 255};
    check(v, 7, 1.0f, 0, q, xh);
}

/* min -10.5, max 244.5: scale 1; -min/scale = 10.5 -> zp = trunc = 10 (not 11,
 * not round-half-even's 10 by luck: see the next case); q = round(10 + x):
 * -10.5 -> round(-0.5) = -0 -> 0 -> x^ = -10; 244.5 -> 254.5 -> 254 -> 244. */
static void test_zero_point_truncates(void **state) {
    (void)state;
    const float v[] = {-10.5f, 0.0f, 1.25f, 244.5f};
    const uint8_t q[] = {0, 10, 11, 254};
    const float xh[] = {-10.0f, 0.0f, 1.0f, 244.0f};
    check(v, 4, 1.0f, 10, q, xh);
    /* -min/scale = 11.75 -> zp 11 (rounding would give 12) */
    const float w[] = {-11.75f, 243.25f, 0.0f};
    const uint8_t q2[] = {0, 254, 11};   /* 11 - 11.75 = -0.75 -> clamp 0; 254.25 -> 254 */
    const float xh2[] = {-11.0f, 243.0f, 0.0f};
    check(w, 3, 1.0f, 11, q2, xh2);
}

/* scale 0.5: min -1.25, max 126.25 (range 127.5); -min/scale = 2.5 -> zp 2;
 * q = round(2 + 2x): 0.3 -> 2.6 -> 3 -> 0.5; -1.25 -> -0.5 -> 0 -> -1;
 * 126.25 -> 254.5 -> 254 (half to even) -> 126. */
static void test_half_scale(void **state) {
    (void)state;
    const float v[] = {-1.25f, 0.3f, 126.25f};
    const uint8_t q[] = {0, 3, 254};
    const float xh[] = {-1.0f, 0.5f, 126.0f};
    check(v, 3, 0.5f, 2, q, xh);
}

/* Negative only: min -4, max -1, scale = 3/255 (float32); -min/scale = 340 ->
 * clamped to zp 255, so q = round(clamp(255 + x/scale)): -1 -> 170,
 * -2 -> 85, -4 -> -85 -> 0: the values below max - 255*scale = -3 are lost,
 * exactly as in the reference. */
static void test_negative_only(void **state) {
    (void)state;
    const float v[] = {-4.0f, -2.0f, -1.0f, -3.5f};
    float scale = 3.0f / 255.0f;
    /* q computed in float32 as the formula says */
    uint8_t q[4];
    float xh[4];
    for (int i = 0; i < 4; i++) {
        float t = 255.0f + v[i] / scale;
        t = t < 0 ? 0 : t > 255 ? 255 : t;
        q[i] = (uint8_t)nearbyintf(t);
        xh[i] = scale * (float)((int)q[i] - 255);
    }
    assert_int_equal(q[0], 0);
    assert_int_equal(q[3], 0);
    assert_int_equal(q[1], 85);
    assert_int_equal(q[2], 170);
    check(v, 4, scale, 255, q, xh);
    assert_true(fabsf(xh[0] - (-3.0f)) < 1e-5f);   /* -4 comes back as -3 */
}

/* Positive only: -min/scale < 0 -> zp 0. min 2, max 257: scale 1,
 * q = round(x) clamped: 257 -> 255 (range lost at the top). */
static void test_positive_only(void **state) {
    (void)state;
    const float v[] = {2.0f, 100.0f, 257.0f};
    const uint8_t q[] = {2, 100, 255};
    const float xh[] = {2.0f, 100.0f, 255.0f};
    check(v, 3, 1.0f, 0, q, xh);
}

/* Constant tensors (max == min; the reference would divide by zero): scale
 * |c| (1 for 0) reconstructs c exactly. */
static void test_constant(void **state) {
    (void)state;
    const float a[] = {3.7f, 3.7f, 3.7f};
    const uint8_t qa[] = {1, 1, 1};
    check(a, 3, 3.7f, 0, qa, a);
    const float b[] = {-2.25f, -2.25f};
    const uint8_t qb[] = {0, 0};
    check(b, 2, 2.25f, 1, qb, b);
    const float c[] = {0.0f, 0.0f, 0.0f, 0.0f};
    const uint8_t qc[] = {0, 0, 0, 0};
    check(c, 4, 1.0f, 0, qc, c);
    const float d[] = {5.0f};
    const uint8_t qd[] = {1};
    check(d, 1, 5.0f, 0, qd, d);
}

static void test_half_and_errors(void **state) {
    (void)state;
    ct_scope_begin();
    const float v[] = {1.0f / 3.0f, 65504.0f, 1e-8f};
    ct_tensor *h = bq_round_trip(vec(v, 3), 16);
    assert_non_null(h);
    float back[3];
    assert_int_equal(ct_to_buffer(h, back, sizeof back), 0);
    assert_true(back[0] == 0.333251953125f);   /* nearest half of 1/3 */
    assert_true(back[1] == 65504.0f);
    assert_true(back[2] == 0.0f);              /* below half's subnormals */
    assert_null(bq_round_trip(vec(v, 3), 9));
    assert_non_null(strstr(hnd_error(), "num_bits"));
    assert_null(bq_round_trip(vec(v, 3), 1));
    bq_tensor q1;
    assert_int_equal(bq_quantize(vec(v, 3), 1, &q1), -1);
    /* a constant at 2 bits: the guard's scale |c|, zp 0, q 1 (qmax 3) */
    const float c[] = {2.5f, 2.5f};
    bq_tensor qc;
    assert_int_equal(bq_quantize(vec(c, 2), 2, &qc), 0);
    uint8_t qcb[2];
    assert_int_equal(ct_to_buffer(qc.q, qcb, 2), 0);
    assert_true(qc.scale == 2.5f && qc.zero_point == 0 && qcb[0] == 1 && qcb[1] == 1);
    bq_tensor_clear(&qc);
    /* 2 bits of {-1, 0, 0.5, 2}: scale 1, zp trunc(1) = 1, q = round(1 + x) = {0, 1, 2 (1.5 to even), 3} */
    const float t2[] = {-1.0f, 0.0f, 0.5f, 2.0f};
    assert_int_equal(bq_quantize(vec(t2, 4), 2, &qc), 0);
    uint8_t q2[4];
    assert_int_equal(ct_to_buffer(qc.q, q2, 4), 0);
    assert_true(qc.scale == 1.0f && qc.zero_point == 1);
    assert_true(q2[0] == 0 && q2[1] == 1 && q2[2] == 2 && q2[3] == 3);
    bq_tensor_clear(&qc);
    const float bad[] = {1.0f, NAN};
    bq_tensor qt;
    assert_int_equal(bq_quantize8(vec(bad, 2), &qt), -1);
    assert_non_null(strstr(hnd_error(), "non-finite"));
    assert_null(qt.q);
    int64_t zero = 0;
    assert_int_equal(bq_quantize8(ct_zeros(&zero, 1, CT_F32, ct_cpu()), &qt), -1);
    /* 32 is a copy; 8 round trip of a grid is exact */
    const float g[] = {0, 1, 2, 255};
    ct_tensor *r = bq_round_trip(vec(g, 4), 8);
    float rb[4];
    assert_int_equal(ct_to_buffer(r, rb, sizeof rb), 0);
    assert_memory_equal(rb, g, sizeof g);
    ct_scope_end();
    assert_int_equal(bq_wire_bytes(100, 32), 400);
    assert_int_equal(bq_wire_bytes(100, 16), 200);
    assert_int_equal(bq_wire_bytes(100, 8), 105);
    /* 2..7 bits: bit-packed, ceil(n * b / 8) + 5 */
    assert_int_equal(bq_wire_bytes(100, 4), 55);
    assert_int_equal(bq_wire_bytes(100, 3), 43);
    assert_int_equal(bq_wire_bytes(101, 2), 31);
    assert_int_equal(bq_wire_bytes(100, 9), -1);
    assert_int_equal(bq_wire_bytes(100, 1), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_grid),
        cmocka_unit_test(test_round_half_even),
        cmocka_unit_test(test_zero_point_truncates),
        cmocka_unit_test(test_half_scale),
        cmocka_unit_test(test_negative_only),
        cmocka_unit_test(test_positive_only),
        cmocka_unit_test(test_constant),
        cmocka_unit_test(test_half_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
