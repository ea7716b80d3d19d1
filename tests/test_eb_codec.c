/* test_eb_codec.c: the entropy bottleneck's integer tables and rANS coder
 * (infer/eb_codec.h): hand-derived quantized frequencies, round trips with
 * escapes at every distance, coded size against the tables' ideal code
 * length, the tables file (round trip, every truncation and damage refused),
 * truncated and corrupt streams refused, round-half-even symbols; the
 * context stream (version 2): a hand-derived case, round trips, the choice
 * of the shorter version. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "eb_codec.h"

static char g_err[256];

/* hand-derived: {1/2, 1/4, 1/4} + tail 0 rounds to 32768, 16384, 16384, 1
 * (the escape at least 1): one too many, taken from the largest */
static void test_quantize(void **state) {
    (void)state;
    uint32_t f[8];
    const double p1[3] = {0.5, 0.25, 0.25};
    assert_int_equal(ebc_quantize_pmf(p1, 3, 0.0, f, g_err, sizeof g_err), 0);
    assert_int_equal(f[0], 32767);
    assert_int_equal(f[1], 16384);
    assert_int_equal(f[2], 16384);
    assert_int_equal(f[3], 1);
    /* tiny probabilities get 1, the deficit goes to the largest:
     * {0.9, 1e-9, 0.0999999, tail 1e-7} -> 58982.4 -> 58982, 1, 6553.59 -> 6554, 1;
     * sum 65538: two taken from the largest */
    const double p2[3] = {0.9, 1e-9, 0.0999999};
    assert_int_equal(ebc_quantize_pmf(p2, 3, 1e-7, f, g_err, sizeof g_err), 0);
    assert_int_equal(f[0], 58980);
    assert_int_equal(f[1], 1);
    assert_int_equal(f[2], 6554);
    assert_int_equal(f[3], 1);
    /* an unnormalised pmf (sum 0.5): 16384 each, the deficit 32767 to the first */
    const double p3[2] = {0.25, 0.25};
    assert_int_equal(ebc_quantize_pmf(p3, 2, 0.0, f, g_err, sizeof g_err), 0);
    assert_int_equal(f[0], 16384 + 32767);
    assert_int_equal(f[1], 16384);
    assert_int_equal(f[2], 1);
    /* errors */
    const double bad[2] = {0.5, NAN};
    assert_int_equal(ebc_quantize_pmf(bad, 2, 0.0, f, g_err, sizeof g_err), -1);
    assert_non_null(strstr(g_err, "probability 1"));
    const double neg[2] = {0.5, -0.1};
    assert_int_equal(ebc_quantize_pmf(neg, 2, 0.0, f, g_err, sizeof g_err), -1);
    assert_int_equal(ebc_quantize_pmf(p1, 0, 0.0, f, g_err, sizeof g_err), -1);
}

/* three channels: a peaked, a flat and a one-symbol distribution */
static void make_tables(ebc_tables *t) {
    enum { MAXL = 9 };
    double pmf[3 * MAXL] = {0};
    const int32_t off[3] = {-4, -1, 0}, len[3] = {9, 3, 1};
    const float med[3] = {0.25f, -1.5f, 7.0f};
    const double tail[3] = {1e-4, 0.01, 0.2};
    for (int i = 0; i < 9; i++) pmf[i] = exp(-fabs(i - 4.0)) / 2.2;
    for (int i = 0; i < 3; i++) pmf[MAXL + i] = 0.33;
    pmf[2 * MAXL] = 0.8;
    if (ebc_tables_build(3, off, len, med, pmf, MAXL, tail, t, g_err, sizeof g_err) != 0) fail_msg("%s", g_err);
}

static uint64_t g_rng = 88172645463325252ull;
static uint32_t rnd(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 16);
}

static void test_round_trip(void **state) {
    (void)state;
    ebc_tables t;
    make_tables(&t);
    const uint32_t n = 4000;
    int32_t *sym = malloc(3 * n * sizeof *sym), *back = malloc(3 * n * sizeof *back);
    /* mostly in range (drawn from the tables), some escapes at every
     * magnitude up to the limit */
    for (uint32_t c = 0; c < 3; c++)
        for (uint32_t i = 0; i < n; i++) {
            const uint32_t *cdf = t.cdf + c * t.stride;
            uint32_t u = rnd() & 0xffff, v = 0;
            while (cdf[v + 1] <= u) v++;
            int32_t s = t.offset[c] + (int32_t)v;
            if (v == t.length[c]) {   /* the escape: a value outside */
                int sh = (int)(rnd() % 30);
                int32_t mag = (int32_t)(rnd() & ((1u << sh) - 1)) + 1;
                s = (rnd() & 1) ? t.offset[c] + (int32_t)t.length[c] - 1 + mag : t.offset[c] - mag;
                if (s <= -EBC_MAX_SYMBOL) s = -EBC_MAX_SYMBOL + 1;
                if (s >= EBC_MAX_SYMBOL) s = EBC_MAX_SYMBOL - 1;
            }
            sym[c * n + i] = s;
        }
    sym[0] = EBC_MAX_SYMBOL - 1;
    sym[1] = -EBC_MAX_SYMBOL + 1;
    size_t cap = ebc_bound(3 * n), len = 0;
    uint8_t *buf = malloc(cap);
    if (ebc_encode(&t, sym, n, buf, cap, &len, g_err, sizeof g_err) != 0) fail_msg("%s", g_err);
    if (ebc_decode(&t, buf, len, back, n, g_err, sizeof g_err) != 0) fail_msg("%s", g_err);
    assert_memory_equal(sym, back, 3 * n * sizeof *sym);
    /* the coded size is the tables' ideal code length plus the 9-byte header
     * and at most the flushed state (4 bytes) */
    const double ideal = ebc_ideal_bits(&t, sym, n) / 8.0;
    print_message("  %u symbols: %zu bytes, ideal %.1f\n", 3 * n, len, ideal);
    assert_true((double)len >= ideal && (double)len <= ideal * 1.001 + EBC_HEADER_BYTES + 2);

    /* every truncation is an error */
    for (size_t k = 0; k < len; k++) assert_int_equal(ebc_decode(&t, buf, k, back, n, g_err, sizeof g_err), -1);
    /* a byte more, a wrong count, a wrong version */
    buf[len] = 0;
    assert_int_equal(ebc_decode(&t, buf, len + 1, back, n, g_err, sizeof g_err), -1);
    assert_int_equal(ebc_decode(&t, buf, len, back, n - 1, g_err, sizeof g_err), -1);
    assert_non_null(strstr(g_err, "symbols"));
    /* flipped bits: never a crash, mostly an error. rANS is a bijection
     * between streams and (symbols, final state), so a flip that happens to
     * end in the initial state decodes to other symbols: the stream carries
     * no checksum of its own (the link's frames have a CRC-32, wire.h) */
    int errors = 0, flips = 0;
    const char *scope = getenv("HND_TEST_SCOPE");   /* the sanitizer pass: fewer positions */
    const size_t step = scope && strcmp(scope, "short") == 0 ? 53 : 7;
    for (size_t k = 0; k < len; k += step)
        for (int b = 0; b < 8; b++, flips++) {
            buf[k] ^= (uint8_t)(1u << b);
            errors += ebc_decode(&t, buf, len, back, n, g_err, sizeof g_err) != 0;
            buf[k] ^= (uint8_t)(1u << b);
        }
    print_message("  %d of %d flipped bits refused\n", errors, flips);
    assert_true(errors >= flips / 2);
    /* an empty tensor */
    assert_int_equal(ebc_encode(&t, sym, 0, buf, cap, &len, g_err, sizeof g_err), 0);
    assert_int_equal(len, EBC_HEADER_BYTES);
    assert_int_equal(ebc_decode(&t, buf, len, back, 0, g_err, sizeof g_err), 0);
    /* out of range symbols are refused by the encoder */
    sym[5] = EBC_MAX_SYMBOL;
    assert_int_equal(ebc_encode(&t, sym, n, buf, cap, &len, g_err, sizeof g_err), -1);
    free(buf);
    free(sym);
    free(back);
    ebc_tables_clear(&t);
}

/* The context stream (version 2), hand-derived: three constant 4x5 planes
 * of 3, 0 and -2. Every symbol's neighbours are equal (context 0; at the
 * origin all are 0), the MED prediction is the neighbour, so the residuals
 * are 0 except at the origins: 3 (zigzag 6) and -2 (zigzag 3). Context 0:
 * 58 zeros, one 3, one 6 -> L0 = 7, frequencies round(58/60 * 2^16) =
 * 63351 (minus the 4 over 2^16) = 63347, 1, 1, round(2^16/60) = 1092, 1, 1,
 * 1092, escape 1; context 1 is empty: L1 = 1, {65535, 1}. */
static void test_ctx_hand(void **state) {
    (void)state;
    ebc_tables t;
    make_tables(&t);
    enum { H = 4, W = 5, N = H * W };
    int32_t sym[3 * N], back[3 * N];
    const int32_t val[3] = {3, 0, -2};
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < N; i++) sym[c * N + i] = val[c];
    uint8_t buf[1024];
    size_t len = 0;
    assert_true(ebc_bound_ctx(3 * N) <= sizeof buf);
    if (ebc_encode_ctx(&t, sym, H, W, buf, sizeof buf, &len, g_err, sizeof g_err) != 0) fail_msg("%s", g_err);
    assert_int_equal(buf[0], EBC_VERSION_CTX);
    assert_memory_equal(buf + 1, "\x3c\0\0\0\x05\0\0\0\x07\x01", 10);   /* 60 symbols, w 5, L0 7, L1 1 */
    const uint16_t want[10] = {63347, 1, 1, 1092, 1, 1, 1092, 1, 65535, 1};
    for (int i = 0; i < 10; i++) assert_int_equal(buf[11 + 2 * i] | buf[12 + 2 * i] << 8, want[i]);
    /* ideal: 58 x -log2(63347/2^16) + 2 x -log2(1092/2^16) = 14.7 bits: the
     * 31-byte header, the 4-byte state and at most 2 bytes */
    print_message("  constant planes: %zu bytes\n", len);
    assert_true(len >= 35 && len <= 37);
    if (ebc_decode(&t, buf, len, back, N, g_err, sizeof g_err) != 0) fail_msg("%s", g_err);
    assert_memory_equal(sym, back, sizeof sym);
    /* the best of both is this stream (version 1 spends >= 1 bit a symbol
     * on the one-symbol channel... and more on the others) */
    uint8_t best[1024];
    size_t bl = 0;
    assert_true(ebc_bound(3 * N) <= sizeof best);
    assert_int_equal(ebc_encode_best(&t, sym, H, W, best, sizeof best, &bl, g_err, sizeof g_err), 0);
    assert_int_equal(bl, len);
    assert_memory_equal(best, buf, len);
    /* the header's checks: one byte changed, the reason in the message */
    static const struct {
        int at;
        uint8_t v;
        const char *why;
    } dmg[] = {{5, 3, "width 3"},                 /* width 3 does not divide 20 */
               {9, 0, "table of 0 symbols"},      /* L0 0 */
               {10, 65, "table of 65 symbols"},   /* L1 beyond 64 */
               {13, 2, "sum"}};                   /* frequency 1 of context 0: 2, one too many */
    uint8_t d[1024];
    for (size_t i = 0; i < sizeof dmg / sizeof dmg[0]; i++) {
        memcpy(d, buf, len);
        d[dmg[i].at] = dmg[i].v;
        assert_int_equal(ebc_decode(&t, d, len, back, N, g_err, sizeof g_err), -1);
        if (!strstr(g_err, dmg[i].why)) fail_msg("byte %d = %u: %s", dmg[i].at, dmg[i].v, g_err);
    }
    memcpy(d, buf, len);
    d[13] = d[14] = 0;   /* frequency 1 of context 0 is 0 */
    assert_int_equal(ebc_decode(&t, d, len, back, N, g_err, sizeof g_err), -1);
    assert_non_null(strstr(g_err, "is 0"));
    for (size_t k = 0; k < len; k++) assert_int_equal(ebc_decode(&t, buf, k, back, N, g_err, sizeof g_err), -1);
    ebc_tables_clear(&t);
}

/* Structured planes (constant rectangles, a ramp, sparse spikes, a few
 * escapes up to +-(2^30 - 1)) round-trip through version 2; ebc_encode_best
 * picks it and it is several times shorter than version 1 there; on
 * independent symbols drawn from the tables version 1 stays. Every
 * truncation is refused; flipped bits never crash. */
static void test_ctx_round_trip(void **state) {
    (void)state;
    ebc_tables t;
    make_tables(&t);
    const uint32_t h = 37, w = 23, n = h * w;
    int32_t *sym = malloc(3 * n * sizeof *sym), *back = malloc(3 * n * sizeof *back);
    for (uint32_t c = 0; c < 3; c++)
        for (uint32_t y = 0; y < h; y++)
            for (uint32_t x = 0; x < w; x++) {
                int32_t v = (y < 12 && x < 9) ? 2 : (y > 20 && x > 10) ? -3 : 0;
                if (c == 1) v = (int32_t)(x / 4) - 2;                /* a ramp */
                if (rnd() % 50 == 0) v += (int32_t)(rnd() % 9) - 4;   /* spikes */
                sym[(size_t)c * n + y * w + x] = v;
            }
    sym[100] = EBC_MAX_SYMBOL - 1;
    sym[101] = -EBC_MAX_SYMBOL + 1;
    sym[2 * n + 7] = 1000;
    const size_t cap = ebc_bound(3 * n), cap2 = ebc_bound_ctx(3 * n);
    uint8_t *b1 = malloc(cap), *b2 = malloc(cap2), *bb = malloc(cap);
    size_t l1 = 0, l2 = 0, lb = 0;
    if (ebc_encode(&t, sym, n, b1, cap, &l1, g_err, sizeof g_err) != 0) fail_msg("%s", g_err);
    if (ebc_encode_ctx(&t, sym, h, w, b2, cap2, &l2, g_err, sizeof g_err) != 0) fail_msg("%s", g_err);
    if (ebc_decode(&t, b2, l2, back, n, g_err, sizeof g_err) != 0) fail_msg("%s", g_err);
    assert_memory_equal(sym, back, 3 * n * sizeof *sym);
    print_message("  structured %u symbols: version 1 %zu bytes, context %zu\n", 3 * n, l1, l2);
    assert_true(l2 * 3 < l1);
    assert_int_equal(ebc_encode_best(&t, sym, h, w, bb, cap, &lb, g_err, sizeof g_err), 0);
    assert_int_equal(lb, l2);
    assert_memory_equal(bb, b2, l2);
    for (size_t k = 0; k < l2; k++) assert_int_equal(ebc_decode(&t, b2, k, back, n, g_err, sizeof g_err), -1);
    for (size_t k = 0; k < l2; k += 3)
        for (int b = 0; b < 8; b++) {
            b2[k] ^= (uint8_t)(1u << b);
            (void)ebc_decode(&t, b2, l2, back, n, g_err, sizeof g_err);   /* ASan/UBSan: no crash */
            b2[k] ^= (uint8_t)(1u << b);
        }
    /* independent symbols from the tables: the factorized prior is right */
    for (uint32_t c = 0; c < 3; c++)
        for (uint32_t i = 0; i < n; i++) {
            const uint32_t *cdf = t.cdf + c * t.stride;
            uint32_t u = rnd() & 0xffff, v = 0;
            while (cdf[v + 1] <= u) v++;
            sym[(size_t)c * n + i] = t.offset[c] + (int32_t)(v < t.length[c] ? v : 0);
        }
    assert_int_equal(ebc_encode(&t, sym, n, b1, cap, &l1, g_err, sizeof g_err), 0);
    assert_int_equal(ebc_encode_best(&t, sym, h, w, bb, cap, &lb, g_err, sizeof g_err), 0);
    assert_int_equal(ebc_encode_ctx(&t, sym, h, w, b2, cap2, &l2, g_err, sizeof g_err), 0);
    print_message("  independent symbols: version 1 %zu bytes, context %zu\n", l1, l2);
    assert_true(l1 < l2);
    assert_int_equal(bb[0], EBC_VERSION);
    assert_int_equal(lb, l1);
    assert_memory_equal(bb, b1, l1);
    /* out of range symbols are refused */
    sym[5] = EBC_MAX_SYMBOL;
    assert_int_equal(ebc_encode_ctx(&t, sym, h, w, b2, cap2, &l2, g_err, sizeof g_err), -1);
    free(b1);
    free(b2);
    free(bb);
    free(sym);
    free(back);
    ebc_tables_clear(&t);
}

static void test_tables_file(void **state) {
    (void)state;
    ebc_tables t, r;
    make_tables(&t);
    uint8_t *b, *b2;
    size_t n, n2;
    assert_int_equal(ebc_tables_write(&t, &b, &n, g_err, sizeof g_err), 0);
    assert_int_equal(n, 8 + 3 * 12 + 2 * (10 + 4 + 2));
    assert_memory_equal(b, "EBT1\3\0\0\0", 8);
    /* channel 0: offset -4 (LE two's complement), length 9, median 0.25f */
    assert_memory_equal(b + 8, "\xfc\xff\xff\xff\x09\0\0\0\0\0\x80\x3e", 12);
    if (ebc_tables_read(b, n, &r, g_err, sizeof g_err) != 0) fail_msg("%s", g_err);
    assert_int_equal(ebc_tables_write(&r, &b2, &n2, g_err, sizeof g_err), 0);
    assert_int_equal(n, n2);
    assert_memory_equal(b, b2, n);
    assert_int_equal(r.stride, 11);
    assert_memory_equal(r.cdf, t.cdf, 3 * 11 * sizeof *t.cdf);
    free(b2);
    ebc_tables_clear(&r);
    for (size_t k = 0; k < n; k++) assert_int_equal(ebc_tables_read(b, k, &r, g_err, sizeof g_err), -1);
    /* a zero frequency, a wrong sum, a huge length, a NaN median */
    uint8_t *d = malloc(n + 1);
    memcpy(d, b, n);
    d[20] = d[21] = 0;
    assert_int_equal(ebc_tables_read(d, n, &r, g_err, sizeof g_err), -1);
    assert_non_null(strstr(g_err, "frequency 0"));
    memcpy(d, b, n);
    d[20] ^= 1;
    assert_int_equal(ebc_tables_read(d, n, &r, g_err, sizeof g_err), -1);
    assert_non_null(strstr(g_err, "sum"));
    memcpy(d, b, n);
    d[14] = 0x7f;
    assert_int_equal(ebc_tables_read(d, n, &r, g_err, sizeof g_err), -1);
    memcpy(d, b, n);
    d[16] = d[17] = 0xff, d[18] = 0xff, d[19] = 0x7f;
    assert_int_equal(ebc_tables_read(d, n, &r, g_err, sizeof g_err), -1);
    assert_non_null(strstr(g_err, "median"));
    free(d);
    free(b);
    ebc_tables_clear(&t);
}

/* symbols round half to even around the median, as torch.round */
static void test_symbols(void **state) {
    (void)state;
    ebc_tables t;
    make_tables(&t);
    /* channel 0 median 0.25, channel 1 -1.5, channel 2 7 */
    const float z[3 * 4] = {0.75f, 2.75f, -0.25f, -1.25f, -1.0f, 1.0f, -2.0f, 0.0f, 7.5f, 8.5f, 6.4f, 1e6f};
    const int32_t want[3 * 4] = {0, 2, 0, -2, 0, 2, 0, 2, 0, 2, -1, 999993};
    int32_t s[12];
    assert_int_equal(ebc_symbols(&t, z, 4, s, g_err, sizeof g_err), 0);
    assert_memory_equal(s, want, sizeof want);
    float back[12];
    ebc_dequantize(&t, s, 4, back);
    assert_true(back[0] == 0.25f && back[3] == -1.75f && back[11] == 1e6f);
    const float bad[3] = {NAN, 0, 0};
    assert_int_equal(ebc_symbols(&t, bad, 1, s, g_err, sizeof g_err), -1);
    const float big[3] = {0, 0, 3e9f};
    assert_int_equal(ebc_symbols(&t, big, 1, s, g_err, sizeof g_err), -1);
    assert_non_null(strstr(g_err, "channel 2"));
    ebc_tables_clear(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantize),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_ctx_hand),
        cmocka_unit_test(test_ctx_round_trip),
        cmocka_unit_test(test_tables_file),
        cmocka_unit_test(test_symbols),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
