/* eb_codec.c: see eb_codec.h. The coder follows J. Duda's rANS with
 * byte-wise renormalisation (as infer/rans.c, at 16-bit precision and with
 * one table per channel). Self-contained C99 on purpose (no project
 * headers): it is also compiled into plain-C heads and cross-built for the
 * platform-identity test. */
#include "eb_codec.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define M (1u << EBC_PREC)
#define L (1u << 23)
#define NIB_FREQ (M >> 4)   /* a flat 4-bit nibble */

static int fail(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ------------------------------------------------------------ tables */

int ebc_quantize_pmf(const double *pmf, uint32_t n, double tail, uint32_t *freq, char *err, size_t errlen) {
    if (!pmf || !freq) return fail(err, errlen, "eb tables: NULL argument");
    if (n < 1 || n > EBC_MAX_LENGTH) return fail(err, errlen, "eb tables: %u symbols, 1..%d allowed", n, EBC_MAX_LENGTH);
    int64_t total = 0;
    for (uint32_t i = 0; i <= n; i++) {
        const double p = i < n ? pmf[i] : tail;
        if (!(p >= 0.0) || !(p <= 1e6)) return fail(err, errlen, "eb tables: probability %u is %g", i, p);
        /* p * 2^16 is exact; round half away from zero, as C's round() */
        double r = round(p * (double)M);
        freq[i] = r < 1.0 ? 1u : r > (double)M ? M : (uint32_t)r;
        total += freq[i];
    }
    /* to a sum of exactly 2^16: the largest frequencies give or take (their
     * relative change is the smallest), the lowest index first on ties */
    while (total != (int64_t)M) {
        uint32_t big = 0;
        for (uint32_t i = 1; i <= n; i++)
            if (freq[i] > freq[big]) big = i;
        if (total < (int64_t)M) {
            freq[big] += (uint32_t)((int64_t)M - total);
            total = M;
        } else {
            int64_t take = total - (int64_t)M;
            if (take > (int64_t)freq[big] - 1) take = (int64_t)freq[big] - 1;
            if (take <= 0) return fail(err, errlen, "eb tables: %u symbols do not fit %u slots", n + 1, M);
            freq[big] -= (uint32_t)take;
            total -= take;
        }
    }
    return 0;
}

void ebc_tables_clear(ebc_tables *t) {
    if (!t) return;
    free(t->offset);
    free(t->length);
    free(t->medians);
    free(t->cdf);
    memset(t, 0, sizeof *t);
}

static int tables_alloc(ebc_tables *t, uint32_t channels, uint32_t stride) {
    memset(t, 0, sizeof *t);
    t->channels = channels;
    t->stride = stride;
    t->offset = calloc(channels, sizeof *t->offset);
    t->length = calloc(channels, sizeof *t->length);
    t->medians = calloc(channels, sizeof *t->medians);
    t->cdf = calloc((size_t)channels * stride, sizeof *t->cdf);
    if (!t->offset || !t->length || !t->medians || !t->cdf) {
        ebc_tables_clear(t);
        return -1;
    }
    return 0;
}

int ebc_tables_build(uint32_t channels, const int32_t *offset, const int32_t *length, const float *medians,
                     const double *pmf, uint32_t max_len, const double *tail, ebc_tables *out, char *err,
                     size_t errlen) {
    if (!offset || !length || !medians || !pmf || !tail || !out) return fail(err, errlen, "eb tables: NULL argument");
    if (channels < 1 || channels > 65536) return fail(err, errlen, "eb tables: %u channels", channels);
    if (max_len < 1 || max_len > EBC_MAX_LENGTH) return fail(err, errlen, "eb tables: max length %u", max_len);
    if (tables_alloc(out, channels, max_len + 2) != 0) return fail(err, errlen, "eb tables: out of memory");
    uint32_t *freq = malloc((size_t)(max_len + 1) * sizeof *freq);
    if (!freq) {
        ebc_tables_clear(out);
        return fail(err, errlen, "eb tables: out of memory");
    }
    for (uint32_t c = 0; c < channels; c++) {
        if (length[c] < 1 || (uint32_t)length[c] > max_len || offset[c] <= -EBC_MAX_SYMBOL ||
            offset[c] >= EBC_MAX_SYMBOL || !isfinite(medians[c])) {
            free(freq);
            ebc_tables_clear(out);
            return fail(err, errlen, "eb tables: channel %u: length %d, offset %d, median %g", c, length[c], offset[c],
                        (double)medians[c]);
        }
        char sub[160];
        if (ebc_quantize_pmf(pmf + (size_t)c * max_len, (uint32_t)length[c], tail[c], freq, sub, sizeof sub) != 0) {
            free(freq);
            ebc_tables_clear(out);
            return fail(err, errlen, "channel %u: %s", c, sub);
        }
        out->offset[c] = offset[c];
        out->length[c] = (uint32_t)length[c];
        out->medians[c] = medians[c];
        uint32_t *cdf = out->cdf + (size_t)c * out->stride;
        cdf[0] = 0;
        for (uint32_t i = 0; i <= (uint32_t)length[c]; i++) cdf[i + 1] = cdf[i] + freq[i];
    }
    free(freq);
    return 0;
}

int ebc_tables_write(const ebc_tables *t, uint8_t **buf, size_t *len, char *err, size_t errlen) {
    if (!t || !buf || !len || !t->channels) return fail(err, errlen, "eb tables: nothing to write");
    size_t n = 8;
    for (uint32_t c = 0; c < t->channels; c++) n += 12 + 2 * ((size_t)t->length[c] + 1);
    uint8_t *b = malloc(n), *p = b;
    if (!b) return fail(err, errlen, "eb tables: out of memory");
    memcpy(p, "EBT1", 4);
    put32(p + 4, t->channels);
    p += 8;
    for (uint32_t c = 0; c < t->channels; c++) {
        uint32_t mb;
        memcpy(&mb, &t->medians[c], 4);
        put32(p, (uint32_t)t->offset[c]);
        put32(p + 4, t->length[c]);
        put32(p + 8, mb);
        p += 12;
        const uint32_t *cdf = t->cdf + (size_t)c * t->stride;
        for (uint32_t i = 0; i <= t->length[c]; i++) {
            uint32_t f = cdf[i + 1] - cdf[i];
            *p++ = (uint8_t)f;
            *p++ = (uint8_t)(f >> 8);
        }
    }
    *buf = b;
    *len = n;
    return 0;
}

int ebc_tables_read(const uint8_t *buf, size_t len, ebc_tables *out, char *err, size_t errlen) {
    if (!out) return fail(err, errlen, "eb tables: NULL output");
    memset(out, 0, sizeof *out);
    if (!buf || len < 8 || memcmp(buf, "EBT1", 4) != 0)
        return fail(err, errlen, "eb tables: %zu bytes, not an EBT1 tables file", buf ? len : 0);
    const uint32_t C = get32(buf + 4);
    if (C < 1 || C > 65536) return fail(err, errlen, "eb tables: %u channels (1..65536)", C);
    /* first pass: the lengths, so the stride is known and every read is in bounds */
    size_t pos = 8;
    uint32_t maxl = 0;
    for (uint32_t c = 0; c < C; c++) {
        if (len - pos < 12) return fail(err, errlen, "eb tables: truncated at channel %u", c);
        const uint32_t l = get32(buf + pos + 4);
        if (l < 1 || l > EBC_MAX_LENGTH) return fail(err, errlen, "eb tables: channel %u: length %u", c, l);
        if ((len - pos - 12) / 2 < (size_t)l + 1) return fail(err, errlen, "eb tables: truncated in channel %u", c);
        pos += 12 + 2 * ((size_t)l + 1);
        if (l > maxl) maxl = l;
    }
    if (pos != len) return fail(err, errlen, "eb tables: %zu bytes after the last channel", len - pos);
    if (tables_alloc(out, C, maxl + 2) != 0) return fail(err, errlen, "eb tables: out of memory");
    pos = 8;
    for (uint32_t c = 0; c < C; c++) {
        const int32_t off = (int32_t)get32(buf + pos);
        const uint32_t l = get32(buf + pos + 4), mb = get32(buf + pos + 8);
        float med;
        memcpy(&med, &mb, 4);
        if (off <= -EBC_MAX_SYMBOL || off >= EBC_MAX_SYMBOL || !isfinite(med)) {
            ebc_tables_clear(out);
            return fail(err, errlen, "eb tables: channel %u: offset %d, median %g", c, off, (double)med);
        }
        pos += 12;
        uint32_t *cdf = out->cdf + (size_t)c * out->stride;
        cdf[0] = 0;
        for (uint32_t i = 0; i <= l; i++, pos += 2) {
            const uint32_t f = (uint32_t)buf[pos] | (uint32_t)buf[pos + 1] << 8;
            if (f == 0) {
                ebc_tables_clear(out);
                return fail(err, errlen, "eb tables: channel %u: symbol %u has frequency 0", c, i);
            }
            cdf[i + 1] = cdf[i] + f;
        }
        if (cdf[l + 1] != M) {
            uint32_t s = cdf[l + 1];
            ebc_tables_clear(out);
            return fail(err, errlen, "eb tables: channel %u: frequencies sum to %u, not %u", c, s, M);
        }
        out->offset[c] = off;
        out->length[c] = l;
        out->medians[c] = med;
    }
    return 0;
}

/* ------------------------------------------------------------ symbols */

int ebc_symbols(const ebc_tables *t, const float *z, uint32_t n, int32_t *symbols, char *err, size_t errlen) {
    if (!t || (!z && n) || (!symbols && n)) return fail(err, errlen, "eb symbols: NULL argument");
    for (uint32_t c = 0; c < t->channels; c++)
        for (uint32_t i = 0; i < n; i++) {
            const size_t k = (size_t)c * n + i;
            /* float32 subtraction, then round half to even (torch.round) */
            const float d = z[k] - t->medians[c];
            if (!(d > -(float)EBC_MAX_SYMBOL && d < (float)EBC_MAX_SYMBOL))
                return fail(err, errlen, "eb symbols: channel %u value %u is %g: not codable", c, i, (double)z[k]);
            float r = nearbyintf(d);
            if (fabsf(d - truncf(d)) == 0.5f) {   /* ties to even whatever the rounding mode */
                const float lo = floorf(d);
                r = fmodf(lo, 2.0f) == 0.0f ? lo : lo + 1.0f;
            }
            symbols[k] = (int32_t)r;
        }
    return 0;
}

void ebc_dequantize(const ebc_tables *t, const int32_t *symbols, uint32_t n, float *out) {
    for (uint32_t c = 0; t && c < t->channels; c++)
        for (uint32_t i = 0; i < n; i++) out[(size_t)c * n + i] = (float)symbols[(size_t)c * n + i] + t->medians[c];
}

/* ------------------------------------------------------------ coder */

size_t ebc_bound(size_t count) {
    /* an escape costs at most 16 + 4 + 32 bits: 7 bytes, plus the flush */
    return EBC_HEADER_BYTES + 7 * count + 8;
}

/* The escape payload r of value v outside [0, length): 2d (below) or 2d+1
 * (above) with d the distance from the range; r < 2^32 since |v| < 2^31. */
static uint32_t escape_payload(int64_t v, uint32_t length) {
    return v < 0 ? (uint32_t)(2 * (-v - 1)) : (uint32_t)(2 * (v - (int64_t)length) + 1);
}
static int nibbles_of(uint32_t r) {
    int k = 1;
    while (k < 8 && (r >> (4 * k))) k++;
    return k;
}

typedef struct {
    uint8_t *p, *lo;   /* writing backwards from p; lo = the buffer's start */
    uint32_t x;
} enc_state;

static int put_sym(enc_state *s, uint32_t start, uint32_t freq) {
    const uint32_t x_max = ((L >> EBC_PREC) << 8) * freq;
    while (s->x >= x_max) {
        if (s->p == s->lo) return -1;
        *--s->p = (uint8_t)s->x;
        s->x >>= 8;
    }
    s->x = ((s->x / freq) << EBC_PREC) + (s->x % freq) + start;
    return 0;
}

/* An escape with payload r (LIFO: the nibbles high to low, their count,
 * then the escape symbol itself at start / freq). */
static int put_escape(enc_state *s, uint32_t r, uint32_t start, uint32_t freq) {
    const int nk = nibbles_of(r);
    int rc = 0;
    for (int j = nk - 1; rc == 0 && j >= 0; j--) rc = put_sym(s, ((r >> (4 * j)) & 15u) * NIB_FREQ, NIB_FREQ);
    if (rc == 0) rc = put_sym(s, (uint32_t)(nk - 1) * NIB_FREQ, NIB_FREQ);
    if (rc == 0) rc = put_sym(s, start, freq);
    return rc;
}

int ebc_encode(const ebc_tables *t, const int32_t *symbols, uint32_t n, uint8_t *out, size_t cap, size_t *out_len,
               char *err, size_t errlen) {
    if (!t || !out || !out_len || (!symbols && n)) return fail(err, errlen, "eb encode: NULL argument");
    const uint64_t count = (uint64_t)t->channels * n;
    if (count > UINT32_MAX) return fail(err, errlen, "eb encode: %llu symbols", (unsigned long long)count);
    if (cap < ebc_bound((size_t)count))
        return fail(err, errlen, "eb encode: output buffer of %zu bytes, %zu needed", cap, ebc_bound((size_t)count));
    enc_state s = {out + cap, out + EBC_HEADER_BYTES, L};
    for (uint64_t k = count; k-- > 0;) {
        const uint32_t c = (uint32_t)(k / n);
        const int32_t sym = symbols[k];
        if (sym <= -EBC_MAX_SYMBOL || sym >= EBC_MAX_SYMBOL)
            return fail(err, errlen, "eb encode: symbol %d of channel %u beyond +-2^30", sym, c);
        const uint32_t *cdf = t->cdf + (size_t)c * t->stride;
        const uint32_t len = t->length[c];
        const int64_t v = (int64_t)sym - t->offset[c];
        int rc = 0;
        if (v >= 0 && v < (int64_t)len) {
            rc = put_sym(&s, cdf[v], cdf[v + 1] - cdf[v]);
        } else {
            rc = put_escape(&s, escape_payload(v, len), cdf[len], cdf[len + 1] - cdf[len]);
        }
        if (rc != 0) return fail(err, errlen, "eb encode: output buffer too small");
    }
    s.p -= 4;
    put32(s.p, s.x);
    const size_t body = (size_t)(out + cap - s.p);
    memmove(out + EBC_HEADER_BYTES - 4, s.p, body);
    out[0] = EBC_VERSION;
    put32(out + 1, (uint32_t)count);
    *out_len = EBC_HEADER_BYTES - 4 + body;
    return 0;
}

typedef struct {
    const uint8_t *p, *end;
    uint32_t x;
} dec_state;

/* the slot's symbol in cdf[0..nsym] (binary search), then the state update */
static int get_sym(dec_state *s, const uint32_t *cdf, uint32_t nsym, uint32_t *sym) {
    const uint32_t slot = s->x & (M - 1);
    uint32_t lo = 0, hi = nsym;   /* cdf[lo] <= slot < cdf[hi] */
    while (hi - lo > 1) {
        const uint32_t mid = lo + (hi - lo) / 2;
        if (cdf[mid] <= slot) lo = mid;
        else hi = mid;
    }
    *sym = lo;
    s->x = (cdf[lo + 1] - cdf[lo]) * (s->x >> EBC_PREC) + slot - cdf[lo];
    while (s->x < L) {
        if (s->p == s->end) return -1;
        s->x = s->x << 8 | *s->p++;
    }
    return 0;
}

/* the nibbles' cdf: i * 2^12 */
static const uint32_t g_flat[17] = {0,          NIB_FREQ,      2 * NIB_FREQ,  3 * NIB_FREQ,  4 * NIB_FREQ,  5 * NIB_FREQ,
                                    6 * NIB_FREQ,  7 * NIB_FREQ,  8 * NIB_FREQ,  9 * NIB_FREQ,  10 * NIB_FREQ, 11 * NIB_FREQ,
                                    12 * NIB_FREQ, 13 * NIB_FREQ, 14 * NIB_FREQ, 15 * NIB_FREQ, 16 * NIB_FREQ};

/* An escape's payload after its symbol: the nibble count, then the nibbles
 * low first. 0, -1 (the stream ends: truncated) or -2 (more than 8
 * nibbles: corrupt). */
static int get_escape(dec_state *s, uint32_t *r) {
    uint32_t nk, nib;
    *r = 0;
    if (get_sym(s, g_flat, 16, &nk) != 0) return -1;
    if (nk > 7) return -2;
    for (uint32_t j = 0; j <= nk; j++) {
        if (get_sym(s, g_flat, 16, &nib) != 0) return -1;
        *r |= nib << (4 * j);
    }
    return 0;
}
/* The message of symbol k's failure: get_escape's e, or -1 for a
 * truncation anywhere in it. */
static int sym_error(int e, uint64_t k, uint64_t count, char *err, size_t errlen) {
    if (e == -2) return fail(err, errlen, "eb stream: symbol %llu: escape of more than 8 nibbles: corrupt", (unsigned long long)k);
    return fail(err, errlen, "eb stream: truncated at symbol %llu of %llu", (unsigned long long)k + 1,
                (unsigned long long)count);
}
/* symbols[k] = sym, unless it is beyond +-2^30 (a corrupt stream). */
static int store_symbol(int32_t *symbols, uint64_t k, int64_t sym, char *err, size_t errlen) {
    if (sym <= -EBC_MAX_SYMBOL || sym >= EBC_MAX_SYMBOL)
        return fail(err, errlen, "eb stream: symbol %llu decodes to %lld: corrupt", (unsigned long long)k, (long long)sym);
    symbols[k] = (int32_t)sym;
    return 0;
}
/* After the last symbol: the initial state again, every byte consumed. */
static int dec_finish(const dec_state *s, char *err, size_t errlen) {
    if (s->x != L || s->p != s->end)
        return fail(err, errlen, "eb stream: corrupt (%s)",
                    s->p != s->end ? "bytes left after the last symbol" : "final state is not the initial one");
    return 0;
}

static int decode_ctx(const uint8_t *in, size_t len, int32_t *symbols, uint64_t count, uint32_t n, char *err,
                      size_t errlen);

int ebc_decode(const ebc_tables *t, const uint8_t *in, size_t len, int32_t *symbols, uint32_t n, char *err,
               size_t errlen) {
    if (!t || !in || (!symbols && n)) return fail(err, errlen, "eb decode: NULL argument");
    const uint64_t count = (uint64_t)t->channels * n;
    if (len < EBC_HEADER_BYTES) return fail(err, errlen, "eb stream: %zu bytes, shorter than its header", len);
    if (in[0] != EBC_VERSION && in[0] != EBC_VERSION_CTX)
        return fail(err, errlen, "eb stream: version %u, this reader knows %d and %d", in[0], EBC_VERSION,
                    EBC_VERSION_CTX);
    if ((uint64_t)get32(in + 1) != count)
        return fail(err, errlen, "eb stream: holds %u symbols, %llu expected", get32(in + 1), (unsigned long long)count);
    if (in[0] == EBC_VERSION_CTX) return decode_ctx(in, len, symbols, count, n, err, errlen);
    dec_state s = {in + EBC_HEADER_BYTES, in + len, get32(in + 5)};
    if (s.x < L || s.x >= 256u * L) return fail(err, errlen, "eb stream: state %u out of range: corrupt", s.x);
    for (uint64_t k = 0; k < count; k++) {
        const uint32_t c = (uint32_t)(k / n);
        const uint32_t *cdf = t->cdf + (size_t)c * t->stride;
        const uint32_t length = t->length[c];
        uint32_t v;
        if (get_sym(&s, cdf, length + 1, &v) != 0) return sym_error(-1, k, count, err, errlen);
        int64_t val = v;
        if (v == length) {
            uint32_t r;
            const int e = get_escape(&s, &r);
            if (e != 0) return sym_error(e, k, count, err, errlen);
            val = (r & 1) ? (int64_t)length + (r >> 1) : -(int64_t)(r >> 1) - 1;
        }
        if (store_symbol(symbols, k, val + t->offset[c], err, errlen) != 0) return -1;
    }
    return dec_finish(&s, err, errlen);
}

double ebc_ideal_bits(const ebc_tables *t, const int32_t *symbols, uint32_t n) {
    double bits = 0;
    for (uint64_t k = 0; t && k < (uint64_t)t->channels * n; k++) {
        const uint32_t c = (uint32_t)(k / n), len = t->length[c];
        const uint32_t *cdf = t->cdf + (size_t)c * t->stride;
        const int64_t v = (int64_t)symbols[k] - t->offset[c];
        if (v >= 0 && v < (int64_t)len) {
            bits += EBC_PREC - log2((double)(cdf[v + 1] - cdf[v]));
        } else {
            bits += EBC_PREC - log2((double)(cdf[len + 1] - cdf[len])) + 4.0 * (1 + nibbles_of(escape_payload(v, len)));
        }
    }
    return bits;
}

/* ------------------------------------------------- the context coder */

/* The neighbours of (y, x) in its channel's plane [h][w] (left a, upper b,
 * upper-left c; a missing one takes the value of the one there is, all 0
 * at the origin), the MED prediction from them and the context: 0 where
 * the three are equal (a flat area: the residual is nearly always 0), else
 * 1. Encoder and decoder call it on the symbols decoded so far. */
static int64_t ctx_predict(const int32_t *plane, uint32_t w, uint32_t y, uint32_t x, int *ctx) {
    int64_t a, b, c;
    if (y == 0 && x == 0) a = b = c = 0;
    else if (y == 0) a = b = c = plane[x - 1];
    else if (x == 0) a = b = c = plane[(size_t)(y - 1) * w];
    else {
        a = plane[(size_t)y * w + x - 1];
        b = plane[(size_t)(y - 1) * w + x];
        c = plane[(size_t)(y - 1) * w + x - 1];
    }
    *ctx = (a == b && b == c) ? 0 : 1;
    const int64_t mx = a > b ? a : b, mn = a < b ? a : b;
    return c >= mx ? mn : c <= mn ? mx : a + b - c;
}

/* zigzag: 0, -1, 1, -2, 2, ... -> 0, 1, 2, 3, 4, ... (|r| < 2^31: < 2^32) */
static uint32_t zigzag(int64_t r) { return r >= 0 ? (uint32_t)(2 * r) : (uint32_t)(-2 * r - 1); }

size_t ebc_bound_ctx(size_t count) {
    /* header, two tables of at most EBC_CTX_MAXL + 1 u16, then as ebc_bound */
    return EBC_CTX_HEADER_BYTES + 4 * (EBC_CTX_MAXL + 1) + 7 * count + 8 + 4;
}

int ebc_encode_ctx(const ebc_tables *t, const int32_t *symbols, uint32_t h, uint32_t w, uint8_t *out, size_t cap,
                   size_t *out_len, char *err, size_t errlen) {
    if (!t || !out || !out_len || (!symbols && h && w)) return fail(err, errlen, "eb encode: NULL argument");
    const uint64_t n = (uint64_t)h * w, count = (uint64_t)t->channels * n;
    if (w == 0 || h == 0 || count > UINT32_MAX)
        return fail(err, errlen, "eb encode: %u x %u x %u symbols", t->channels, h, w);
    uint32_t *z = malloc((size_t)count * sizeof *z);
    uint8_t *cx = malloc((size_t)count);
    if (!z || !cx) {
        free(z);
        free(cx);
        return fail(err, errlen, "eb encode: out of memory");
    }
    /* pass 1: residuals and contexts; each context's table sized to its
     * largest zigzagged residual (at most EBC_CTX_MAXL; larger ones escape) */
    uint64_t cnt[2][EBC_CTX_MAXL + 1] = {{0}};
    uint32_t len[2] = {1, 1};
    int rc = 0;
    for (uint64_t k = 0; k < count && rc == 0; k++) {
        const int32_t v = symbols[k];
        if (v <= -EBC_MAX_SYMBOL || v >= EBC_MAX_SYMBOL) {
            rc = fail(err, errlen, "eb encode: symbol %d of channel %llu beyond +-2^30", v, (unsigned long long)(k / n));
            break;
        }
        const uint64_t i = k % n;
        int c;
        const int64_t p = ctx_predict(symbols + (k - i), w, (uint32_t)(i / w), (uint32_t)(i % w), &c);
        z[k] = zigzag((int64_t)v - p);
        cx[k] = (uint8_t)c;
        if (z[k] < EBC_CTX_MAXL && z[k] + 1 > len[c]) len[c] = z[k] + 1;
    }
    for (uint64_t k = 0; k < count && rc == 0; k++) cnt[cx[k]][z[k] < len[cx[k]] ? z[k] : len[cx[k]]]++;
    /* the two tables: counts to 16-bit frequencies (each >= 1) */
    uint32_t cdf[2][EBC_CTX_MAXL + 2];
    for (int c = 0; c < 2 && rc == 0; c++) {
        uint64_t total = 0;
        for (uint32_t i = 0; i <= len[c]; i++) total += cnt[c][i];
        double pmf[EBC_CTX_MAXL + 1];
        for (uint32_t i = 0; i <= len[c]; i++) pmf[i] = total ? (double)cnt[c][i] / (double)total : (i == 0);
        uint32_t freq[EBC_CTX_MAXL + 1];
        rc = ebc_quantize_pmf(pmf, len[c], pmf[len[c]], freq, err, errlen);
        cdf[c][0] = 0;
        for (uint32_t i = 0; rc == 0 && i <= len[c]; i++) cdf[c][i + 1] = cdf[c][i] + freq[i];
    }
    const size_t head = EBC_CTX_HEADER_BYTES + 2 * (size_t)(len[0] + 1 + len[1] + 1);
    if (rc == 0 && cap < head + 4 + 8) rc = fail(err, errlen, "eb encode: output buffer too small");
    /* pass 2: rANS, last symbol first (as ebc_encode, escapes likewise) */
    enc_state s = {out + cap, out + head + 4, L};
    for (uint64_t k = count; rc == 0 && k-- > 0;) {
        const uint32_t *cd = cdf[cx[k]], ln = len[cx[k]];
        if (z[k] < ln) {
            rc = put_sym(&s, cd[z[k]], cd[z[k] + 1] - cd[z[k]]);
        } else {
            rc = put_escape(&s, z[k] - ln, cd[ln], cd[ln + 1] - cd[ln]);
        }
        if (rc != 0) rc = fail(err, errlen, "eb encode: output buffer too small");
    }
    free(z);
    free(cx);
    if (rc != 0) return -1;
    s.p -= 4;
    put32(s.p, s.x);
    const size_t body = (size_t)(out + cap - s.p);
    memmove(out + head, s.p, body);
    out[0] = EBC_VERSION_CTX;
    put32(out + 1, (uint32_t)count);
    put32(out + 5, w);
    out[9] = (uint8_t)len[0];
    out[10] = (uint8_t)len[1];
    uint8_t *q = out + EBC_CTX_HEADER_BYTES;
    for (int c = 0; c < 2; c++)
        for (uint32_t i = 0; i <= len[c]; i++, q += 2) {
            const uint32_t f = cdf[c][i + 1] - cdf[c][i];   /* 1 .. 2^16 - 1: two bytes */
            q[0] = (uint8_t)f;
            q[1] = (uint8_t)(f >> 8);
        }
    *out_len = head + body;
    return 0;
}

int ebc_encode_best(const ebc_tables *t, const int32_t *symbols, uint32_t h, uint32_t w, uint8_t *out, size_t cap,
                    size_t *out_len, char *err, size_t errlen) {
    if (!t || (uint64_t)h * w > UINT32_MAX) return fail(err, errlen, "eb encode: %u x %u symbols per channel", h, w);
    if (ebc_encode(t, symbols, h * w, out, cap, out_len, err, errlen) != 0) return -1;
    const size_t cap2 = ebc_bound_ctx((size_t)t->channels * h * w);
    uint8_t *tmp = malloc(cap2);
    size_t len2 = 0;
    char e[8];
    /* the context stream replaces the table one only when it is shorter
     * (ties keep version 1); it cannot fail where ebc_encode did not, but
     * if it did (memory), the version-1 stream stands */
    if (tmp && ebc_encode_ctx(t, symbols, h, w, tmp, cap2, &len2, e, sizeof e) == 0 && len2 < *out_len) {
        memcpy(out, tmp, len2);
        *out_len = len2;
    }
    free(tmp);
    return 0;
}

static int decode_ctx(const uint8_t *in, size_t len, int32_t *symbols, uint64_t count, uint32_t n, char *err,
                      size_t errlen) {
    if (len < EBC_CTX_HEADER_BYTES) return fail(err, errlen, "eb stream: %zu bytes, shorter than its header", len);
    const uint32_t w = get32(in + 5);
    if (w == 0 || n % w != 0) return fail(err, errlen, "eb stream: width %u does not divide %u symbols per channel", w, n);
    uint32_t ln[2] = {in[9], in[10]}, cdf[2][EBC_CTX_MAXL + 2];
    size_t at = EBC_CTX_HEADER_BYTES;
    for (int c = 0; c < 2; c++) {
        if (ln[c] < 1 || ln[c] > EBC_CTX_MAXL)
            return fail(err, errlen, "eb stream: context %d table of %u symbols (1..%d)", c, ln[c], EBC_CTX_MAXL);
        if (len < at + 2 * (size_t)(ln[c] + 1))
            return fail(err, errlen, "eb stream: truncated in its context %d table", c);
        cdf[c][0] = 0;
        for (uint32_t i = 0; i <= ln[c]; i++, at += 2) {
            const uint32_t f = (uint32_t)in[at] | (uint32_t)in[at + 1] << 8;
            if (f == 0) return fail(err, errlen, "eb stream: context %d frequency %u is 0: corrupt", c, i);
            cdf[c][i + 1] = cdf[c][i] + f;
        }
        if (cdf[c][ln[c] + 1] != M)
            return fail(err, errlen, "eb stream: context %d frequencies sum to %u, not %u: corrupt", c, cdf[c][ln[c] + 1], M);
    }
    if (len < at + 4) return fail(err, errlen, "eb stream: %zu bytes, shorter than its header", len);
    dec_state s = {in + at + 4, in + len, get32(in + at)};
    if (s.x < L || s.x >= 256u * L) return fail(err, errlen, "eb stream: state %u out of range: corrupt", s.x);
    for (uint64_t k = 0; k < count; k++) {
        const uint64_t i = k % n;
        int c;
        const int64_t p = ctx_predict(symbols + (k - i), w, (uint32_t)(i / w), (uint32_t)(i % w), &c);
        uint32_t v;
        if (get_sym(&s, cdf[c], ln[c] + 1, &v) != 0) return sym_error(-1, k, count, err, errlen);
        uint64_t zz = v;
        if (v == ln[c]) {
            uint32_t r;
            const int e = get_escape(&s, &r);
            if (e != 0) return sym_error(e, k, count, err, errlen);
            zz = (uint64_t)ln[c] + r;
        }
        const int64_t r = (zz & 1) ? -(int64_t)((zz + 1) / 2) : (int64_t)(zz / 2);
        if (store_symbol(symbols, k, p + r, err, errlen) != 0) return -1;
    }
    return dec_finish(&s, err, errlen);
}
