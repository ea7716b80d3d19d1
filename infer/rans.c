/* rans.c: see rans.h. Written from the description of rANS in J. Duda,
 * "Asymmetric numeral systems" (2013), with byte-wise renormalisation. */
#include "rans.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err_buf.h"

#define M (1u << RANS_PROB_BITS)
#define L (1u << 23)   /* lower bound of the state; the state stays below 256 L */


static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

size_t rans_bound(size_t n) {
    /* header, the table (at most 3 bytes per distinct symbol), the state, at
     * most 2 bytes per symbol (f >= 1 grows the state by at most P = 14 bits) */
    return RANS_HEADER_BYTES + 3 * (n < 256 ? n : 256) + 4 + 2 * n + 4;
}

/* The histogram scaled to frequencies summing to M, every present symbol at
 * least 1; deterministic (ties go to the smaller symbol). */
static void scale_freqs(const uint64_t count[256], uint64_t n, uint32_t f[256]) {
    int64_t sum = 0;
    int top = -1;
    for (int s = 0; s < 256; s++) {
        f[s] = 0;
        if (!count[s]) continue;
        f[s] = (uint32_t)(count[s] * M / n);
        if (f[s] == 0) f[s] = 1;
        sum += f[s];
        if (top < 0 || count[s] > count[top]) top = s;
    }
    int64_t diff = (int64_t)M - sum;
    if (diff > 0) f[top] += (uint32_t)diff;
    while (diff < 0) {   /* too many 1s were rounded up: take from the largest */
        int big = -1;
        for (int s = 0; s < 256; s++)
            if (f[s] > 1 && (big < 0 || f[s] > f[big])) big = s;
        uint32_t take = (uint32_t)(-diff < (int64_t)f[big] - 1 ? -diff : (int64_t)f[big] - 1);
        f[big] -= take;
        diff += take;
    }
}

int rans_encode_u8(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_len, char *err, size_t errlen) {
    if ((!in && n) || !out || !out_len) return eb_fail(err, errlen, "rans: NULL argument");
    if (n > UINT32_MAX) return eb_fail(err, errlen, "rans: %zu symbols, at most %u", n, UINT32_MAX);
    if (cap < rans_bound(n)) return eb_fail(err, errlen, "rans: output buffer of %zu bytes, %zu needed", cap, rans_bound(n));
    uint64_t count[256] = {0};
    for (size_t i = 0; i < n; i++) count[in[i]]++;
    uint32_t f[256], c[256], cum = 0;
    if (n) scale_freqs(count, n, f);
    else memset(f, 0, sizeof f);
    /* header and table */
    uint8_t *h = out;
    h[0] = RANS_VERSION;
    h[1] = RANS_PROB_BITS;
    put_u32(h + 2, (uint32_t)n);
    memset(h + 6, 0, 32);
    size_t pos = RANS_HEADER_BYTES;
    for (int s = 0; s < 256; s++) {
        c[s] = cum;
        cum += f[s];
        if (!f[s]) continue;
        h[6 + s / 8] |= (uint8_t)(1u << (s % 8));
        for (uint32_t v = f[s];; v >>= 7) {   /* LEB128: 7 bits a byte, low first */
            h[pos++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
            if (v < 0x80) break;
        }
    }
    if (n == 0) {
        *out_len = pos;
        return 0;
    }
    /* the body, coded backwards from the buffer's end */
    uint8_t *end = out + cap, *p = end;
    uint32_t x = L;
    for (size_t i = n; i-- > 0;) {
        const uint32_t fs = f[in[i]];
        const uint32_t x_max = ((L >> RANS_PROB_BITS) << 8) * fs;
        while (x >= x_max) {
            *--p = (uint8_t)x;
            x >>= 8;
        }
        x = ((x / fs) << RANS_PROB_BITS) + (x % fs) + c[in[i]];
    }
    p -= 4;
    put_u32(p, x);
    size_t body = (size_t)(end - p);
    memmove(out + pos, p, body);
    *out_len = pos + body;
    return 0;
}

/* Header and table: n, frequencies, cumulative frequencies; the position
 * after the table in *pos. */
static int read_table(const uint8_t *in, size_t len, uint32_t *n, uint32_t f[256], uint32_t c[256], size_t *pos,
                      char *err, size_t errlen) {
    if (!in || len < RANS_HEADER_BYTES) return eb_fail(err, errlen, "rans stream: %zu bytes, shorter than its header", len);
    if (in[0] != RANS_VERSION) return eb_fail(err, errlen, "rans stream: version %u, this reader knows %d", in[0], RANS_VERSION);
    if (in[1] != RANS_PROB_BITS)
        return eb_fail(err, errlen, "rans stream: precision %u bits, expected %d", in[1], RANS_PROB_BITS);
    *n = get_u32(in + 2);
    size_t p = RANS_HEADER_BYTES;
    uint32_t cum = 0;
    int present = 0;
    for (int s = 0; s < 256; s++) {
        c[s] = cum;
        f[s] = 0;
        if (!(in[6 + s / 8] >> (s % 8) & 1)) continue;
        f[s] = 0;
        for (int shift = 0;; shift += 7) {   /* LEB128, at most 3 bytes for 2^14 */
            if (p >= len) return eb_fail(err, errlen, "rans stream: truncated in its frequency table");
            if (shift > 14) return eb_fail(err, errlen, "rans stream: symbol %d: frequency longer than 3 bytes", s);
            f[s] |= (uint32_t)(in[p] & 0x7f) << shift;
            if (!(in[p++] & 0x80)) break;
        }
        if (f[s] == 0 || f[s] > M) return eb_fail(err, errlen, "rans stream: symbol %d has frequency %u", s, f[s]);
        cum += f[s];
        present++;
    }
    if (*n == 0 ? present != 0 : cum != M)
        return eb_fail(err, errlen, "rans stream: frequencies sum to %u, expected %u", cum, *n ? M : 0);
    *pos = p;
    return 0;
}

int64_t rans_stream_count(const uint8_t *in, size_t len, char *err, size_t errlen) {
    uint32_t n, f[256], c[256];
    size_t pos;
    return read_table(in, len, &n, f, c, &pos, err, errlen) == 0 ? (int64_t)n : -1;
}

int rans_decode_u8(const uint8_t *in, size_t len, uint8_t *out, size_t n, char *err, size_t errlen) {
    uint32_t count, f[256], c[256];
    size_t pos;
    if (read_table(in, len, &count, f, c, &pos, err, errlen) != 0) return -1;
    if (count != n) return eb_fail(err, errlen, "rans stream: holds %u symbols, %zu expected", count, n);
    if (n == 0) return pos == len ? 0 : eb_fail(err, errlen, "rans stream: %zu bytes after an empty table", len - pos);
    if (!out) return eb_fail(err, errlen, "rans: NULL output");
    if (len - pos < 4) return eb_fail(err, errlen, "rans stream: truncated before its state");
    uint8_t *slot_sym = malloc(M);
    if (!slot_sym) return eb_fail(err, errlen, "rans: out of memory");
    for (int s = 0; s < 256; s++)
        if (f[s]) memset(slot_sym + c[s], s, f[s]);
    const uint8_t *p = in + pos + 4, *end = in + len;
    uint32_t x = get_u32(in + pos);
    int rc = 0;
    if (x < L || x >= 256u * L) rc = eb_fail(err, errlen, "rans stream: state %u out of range: corrupt", x);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const uint32_t slot = x & (M - 1);
        const uint8_t s = slot_sym[slot];
        out[i] = s;
        x = f[s] * (x >> RANS_PROB_BITS) + slot - c[s];
        while (x < L) {
            if (p == end) {
                rc = eb_fail(err, errlen, "rans stream: truncated at symbol %zu of %zu", i + 1, n);
                break;
            }
            x = x << 8 | *p++;
        }
    }
    if (rc == 0 && (x != L || p != end))
        rc = eb_fail(err, errlen, "rans stream: corrupt (%s)", p != end ? "bytes left after the last symbol"
                                                                     : "final state is not the initial one");
    free(slot_sym);
    return rc;
}
