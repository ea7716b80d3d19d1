/* test_rans.c: the rANS coder of the 8-bit bottleneck (infer/rans.h).
 * References: the round trip, and Shannon's bound computed here from each
 * test tensor's histogram: a static code built from the data's own
 * histogram can take no fewer than n * H bits and, with 14-bit frequencies,
 * at most a fraction of a percent more (plus its table and 32-bit state).
 * Truncated streams at every length and damaged tables must be refused;
 * damaged bodies never read out of bounds (the suite runs under ASan). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "link_codec.h"
#include "rans.h"
#include "splitmix.h"
#include "test_util.h"

/* Entropy of the histogram of in[0..n) in bits per symbol. */
static double entropy(const uint8_t *in, size_t n) {
    double count[256] = {0}, h = 0;
    for (size_t i = 0; i < n; i++) count[in[i]]++;
    for (int s = 0; s < 256; s++)
        if (count[s] > 0) h -= count[s] / (double)n * log2(count[s] / (double)n);
    return h;
}

static int n_present(const uint8_t *in, size_t n) {
    int seen[256] = {0}, k = 0;
    for (size_t i = 0; i < n; i++) k += !seen[in[i]]++;
    return k;
}

/* Bytes before the coder's state, read as rans.h documents the header: the
 * bitmap's symbols, each frequency a LEB128 number. */
static size_t table_bytes(const uint8_t *s) {
    size_t p = RANS_HEADER_BYTES;
    for (int k = 0; k < 256; k++)
        if (s[6 + k / 8] >> (k % 8) & 1)
            while (s[p++] & 0x80) {
            }
    return p;
}

/* Round trip plus the size bounds; returns the stream length. */
static size_t round_trip(const uint8_t *in, size_t n, double slack) {
    size_t cap = rans_bound(n), len = 0;
    uint8_t *s = malloc(cap), *back = malloc(n ? n : 1);
    char err[256];
    assert_non_null(s);
    assert_non_null(back);
    assert_int_equal(rans_encode_u8(in, n, s, cap, &len, err, sizeof err), 0);
    assert_true(len <= cap);
    assert_int_equal(rans_stream_count(s, len, err, sizeof err), (int64_t)n);
    assert_int_equal(rans_decode_u8(s, len, back, n, err, sizeof err), 0);
    if (n) assert_memory_equal(in, back, n);
    double bits = (double)n * entropy(in, n);
    size_t table = table_bytes(s) + (n ? 4 : 0);
    double body = 8.0 * (double)(len - table);
    /* never below the entropy (the final state may hold up to 32 bits of it) */
    assert_true(body + 32 >= bits - 1e-6);
    assert_true(body <= bits * (1.0 + slack) + 16);
    free(s);
    free(back);
    return len;
}

static void test_distributions(void **state) {
    (void)state;
    const size_t n = 200000;
    uint8_t *v = malloc(n);
    assert_non_null(v);
    uint64_t rng = 11;
    /* bottleneck-like: a Laplacian around 128 clamped to 0..255 */
    for (size_t i = 0; i < n; i++) {
        double u = ((double)(sm64_next(&rng) >> 11) + 0.5) / 9007199254740992.0;
        double lap = u < 0.5 ? 6.0 * log(2 * u) : -6.0 * log(2 * (1 - u));
        double x = 128 + lap;
        v[i] = (uint8_t)(x < 0 ? 0 : x > 255 ? 255 : x);
    }
    size_t len = round_trip(v, n, 0.005);
    printf("laplacian(6): %zu bytes for %zu symbols, entropy %.4f bits/symbol\n", len, n, entropy(v, n));
    assert_true(len < n * 65 / 100);   /* ~5.03 bits per symbol */
    /* uniform bytes: no gain, little loss */
    for (size_t i = 0; i < n; i++) v[i] = (uint8_t)(sm64_next(&rng) >> 56);
    len = round_trip(v, n, 0.005);
    printf("uniform: %zu bytes for %zu symbols, entropy %.4f bits/symbol\n", len, n, entropy(v, n));
    assert_true(len <= n + n / 200 + 600);   /* the table, and the 1/2^14 frequency grid */
    /* one dominant symbol and 255 that occur once: the rounding of many rare
     * symbols up to frequency 1 has to be paid back by the dominant one: at
     * 0.024 bits per symbol the 2^14 grid costs up to double the entropy */
    memset(v, 7, n);
    for (int s = 0; s < 256; s++)
        if (s != 7) v[(size_t)s * 701] = (uint8_t)s;
    round_trip(v, n, 1.0);
    free(v);
}

static void test_edges(void **state) {
    (void)state;
    uint8_t one[1] = {200}, two[5] = {1, 0, 1, 1, 0}, all[256], cst[1000];
    for (int s = 0; s < 256; s++) all[s] = (uint8_t)(255 - s);
    memset(cst, 42, sizeof cst);
    round_trip(one, 1, 0);
    round_trip(two, 5, 0.01);
    round_trip(all, 256, 0);
    /* a constant tensor costs its table and state only */
    size_t len = round_trip(cst, sizeof cst, 0);
    assert_int_equal(len, RANS_HEADER_BYTES + 3 + 4);   /* 2^14 as LEB128: 3 bytes */
    /* the empty tensor is its header */
    uint8_t s[64];
    char err[256];
    assert_int_equal(rans_encode_u8(NULL, 0, s, sizeof s, &len, err, sizeof err), 0);
    assert_int_equal(len, RANS_HEADER_BYTES);
    assert_int_equal(rans_decode_u8(s, len, NULL, 0, err, sizeof err), 0);
    /* a buffer below the bound is refused, not overrun */
    assert_int_equal(rans_encode_u8(cst, sizeof cst, s, sizeof s, &len, err, sizeof err), -1);
    assert_non_null(strstr(err, "needed"));
}

static void test_damage(void **state) {
    (void)state;
    uint8_t v[3000], back[3000];
    uint64_t rng = 5;
    for (size_t i = 0; i < sizeof v; i++) v[i] = (uint8_t)(100 + (sm64_next(&rng) >> 61));
    size_t cap = rans_bound(sizeof v), len;
    uint8_t *s = malloc(cap), *d = malloc(cap);
    char err[256];
    assert_int_equal(rans_encode_u8(v, sizeof v, s, cap, &len, err, sizeof err), 0);
    /* every truncation is an error */
    for (size_t cut = 0; cut < len; cut++)
        assert_int_equal(rans_decode_u8(s, cut, back, sizeof v, err, sizeof err), -1);
    /* a wrong count is an error */
    assert_int_equal(rans_decode_u8(s, len, back, sizeof v - 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "expected"));
    /* a table that does not sum to 2^14 */
    memcpy(d, s, len);
    d[RANS_HEADER_BYTES] ^= 1;
    assert_int_equal(rans_decode_u8(d, len, back, sizeof v, err, sizeof err), -1);
    assert_non_null(strstr(err, "sum"));
    /* every single flipped bit of the body: refused, or decoded without a
     * fault (rANS has no checksum of its own: the link's frame CRC catches
     * those); count the refusals */
    size_t body0 = RANS_HEADER_BYTES + 2 * (size_t)n_present(v, sizeof v), refused = 0, tried = 0;   /* 2 bytes each here */
    for (size_t i = body0; i < len; i++)
        for (int b = 0; b < 8; b++, tried++) {
            memcpy(d, s, len);
            d[i] ^= (uint8_t)(1u << b);
            refused += rans_decode_u8(d, len, back, sizeof v, err, sizeof err) != 0;
        }
    printf("flipped body bits refused by the coder itself: %zu of %zu\n", refused, tried);
    assert_true(refused * 10 >= tried * 9);
    free(s);
    free(d);
}

/* The MED predictor on a plane worked out by hand (link_codec.h's rule). */
static void test_med(void **state) {
    (void)state;
    const uint8_t q[9] = {10, 12, 11, 13, 20, 15, 14, 16, 30};
    /* (0,0) 0; first row from the left: 10, 12; first column from above: 10,
     * 13; (1,1) a13 b12 c10: c <= min -> 13; (1,2) a20 b11 c12: between ->
     * 19; (2,1) a14 b20 c13: c <= min -> 20; (2,2) a16 b15 c20: c >= max -> 15 */
    const uint8_t want[9] = {10, 2, 255, 3, 7, 252, 1, 252, 15};
    uint8_t r[9];
    lc_med_residuals(q, 1, 3, 3, r);
    assert_memory_equal(r, want, 9);
    /* round trips: a smooth 3-channel tensor codes in far fewer bytes with
     * MED than without; a random one still round-trips */
    enum { C = 3, H = 37, W = 45, N = C * H * W };
    static uint8_t t[N], back[N];
    uint64_t rng = 3;
    for (int k = 0; k < C; k++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                t[(k * H + y) * W + x] = (uint8_t)(100 + 20 * k + (x + 2 * y) / 3 + (int)(sm64_next(&rng) >> 62));
    size_t cap = lc_bound(N), a, b;
    uint8_t *s1 = malloc(cap), *s2 = malloc(cap);
    char err[256];
    assert_int_equal(lc_encode(t, C, H, W, LC_PRED_MED, s1, cap, &a, err, sizeof err), 0);
    assert_int_equal(lc_encode(t, C, H, W, LC_PRED_NONE, s2, cap, &b, err, sizeof err), 0);
    printf("smooth %dx%dx%d: MED %zu bytes, none %zu bytes\n", C, H, W, a, b);
    assert_true(a * 2 < b);
    assert_int_equal(lc_decode(s1, a, back, C, H, W, err, sizeof err), 0);
    assert_memory_equal(back, t, N);
    assert_int_equal(lc_decode(s2, b, back, C, H, W, err, sizeof err), 0);
    assert_memory_equal(back, t, N);
    /* the wrong shape, a truncated or unknown stream: errors */
    assert_int_equal(lc_decode(s1, a, back, C, H, W - 1, err, sizeof err), -1);
    assert_int_equal(lc_decode(s1, a - 1, back, C, H, W, err, sizeof err), -1);
    s1[1] = 9;
    assert_int_equal(lc_decode(s1, a, back, C, H, W, err, sizeof err), -1);
    assert_non_null(strstr(err, "predictor"));
    /* lc_measure's sizes: raw is the bytes + 5, the coded ones round-trip */
    lc_sizes sz;
    assert_int_equal(lc_measure(t, C, H, W, &sz), 0);
    assert_int_equal(sz.raw, N + 5);
    assert_true(sz.rans > 5 && sz.rans < sz.raw / 2 && sz.zstd > 5);
    free(s1);
    free(s2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distributions),
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_damage),
        cmocka_unit_test(test_med),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
