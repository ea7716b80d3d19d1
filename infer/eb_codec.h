/* eb_codec.h: real bytes for the learned entropy bottleneck — integer CDF
 * tables (16-bit precision) made from each channel's discrete density, and
 * a rANS coder of the integer symbols round(y - median) with them.
 * Plain C99, integer arithmetic only after the one rounding of each
 * probability (p * 2^16 is exact in IEEE double), no libtorch, no other
 * module: the same file builds into hnd, the fuzzers and, unchanged, into
 * plain-C heads, and every platform writes the same tables and streams.
 * Prefix ebc_.
 *
 * Tables. Channel c codes values v = symbol - offset_c in [0, length_c)
 * with frequencies f_c[v], and one more symbol, the escape (index
 * length_c), for everything outside; frequencies sum to 2^16, each >= 1
 * (ebc_quantize_pmf: round(p * 2^16) clamped to >= 1, then the excess or
 * deficit taken from / given to the largest frequencies, ties to the lowest
 * index). An escaped symbol is followed by its distance outside the range,
 * d = -v - 1 (below) or v - length_c (above), as r = 2 d (below) or 2 d + 1
 * (above), coded with flat frequencies: the count k - 1 (0..7) of its 4-bit
 * nibbles, then the k nibbles, low first, each at frequency 2^12.
 *
 * Tables file (little-endian):
 *    0  4  "EBT1"
 *    4  4  u32 C (1..65536)
 *    per channel: i32 offset (|offset| < 2^30), u32 length (1..65535),
 *                 f32 median (finite, bit pattern), u16 freq[length + 1]
 *    nothing after the last channel.
 *
 * Stream (one tensor [C, n] in C order):
 *    0  1  u8 version (1)
 *    1  4  u32 C * n (checked against the shape the decoder expects)
 *    5  4  u32 the coder's final state
 *    9  …  renormalisation bytes in decoding order
 * 32-bit state in [2^23, 2^31), byte-wise renormalisation as rans.h. The
 * decoder checks every read against the end, that decoding ends in the
 * initial state with every byte consumed, and the escape's nibble count:
 * corrupt or truncated input is an error, never a crash.
 *
 * Context stream (version 2, ebc_encode_ctx): the factorized prior codes
 * each symbol alone, but neighbouring symbols of a channel are alike (flat
 * areas of a sparse latent are runs of one value). Each symbol s of a
 * channel's plane [h][w] is predicted by the median edge detector of
 * LOCO-I / JPEG-LS from its left a, upper b and upper-left c neighbours
 * (p = min(a,b) if c >= max(a,b), max(a,b) if c <= min(a,b), else
 * a + b - c; a missing neighbour takes the value of the one there is, all
 * 0 at the origin); the residual s - p, zigzagged (0, -1, 1, -2 -> 0, 1,
 * 2, 3), is coded with one of two tables stored in the stream: context 0
 * where a = b = c, context 1 elsewhere. A residual beyond a table's
 * regular symbols is escaped as in version 1 (its distance from the
 * table's end in nibbles). The tables are the residuals' counts as 16-bit
 * frequencies (ebc_quantize_pmf of count / total). The learned tables are
 * not used (only their channel count; the medians still give z^).
 *    0  1  u8 version (2)
 *    1  4  u32 C * n
 *    5  4  u32 w (n = h * w; w must divide n)
 *    9  1  u8 L0, 10 1 u8 L1: the two tables' regular symbols (1..64)
 *   11  …  u16 freq[L0 + 1], then u16 freq[L1 + 1] (each >= 1, each table
 *          summing to 2^16; the last entry is the escape)
 *    …  4  u32 the coder's final state, then the renormalisation bytes.
 * ebc_encode_best writes whichever of the two versions is shorter, and
 * ebc_decode reads both. */
#ifndef HND_EB_CODEC_H
#define HND_EB_CODEC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EBC_PREC 16
#define EBC_VERSION 1
#define EBC_VERSION_CTX 2
#define EBC_HEADER_BYTES 9
#define EBC_CTX_HEADER_BYTES 11
#define EBC_CTX_MAXL 64
#define EBC_MAX_LENGTH 65535
#define EBC_MAX_SYMBOL (1 << 30)   /* |symbol| bound: larger values are an error */

typedef struct {
    uint32_t channels;
    int32_t *offset;    /* [C] */
    uint32_t *length;   /* [C] regular symbols; the escape is index length */
    float *medians;     /* [C] */
    uint32_t *cdf;      /* [C * stride]: cdf[c*stride + i], i = 0..length_c+1, 0 .. 2^16 */
    uint32_t stride;    /* max length + 2 */
} ebc_tables;

/* Frequencies of n regular symbols with probabilities pmf[0..n) and an
 * escape of probability tail, into freq[0..n] (n + 1 entries, sum 2^16,
 * each >= 1). n in 1..65535, probabilities finite and >= 0, not all 0.
 * 0, or -1 + message in err (errlen bytes). */
int ebc_quantize_pmf(const double *pmf, uint32_t n, double tail, uint32_t *freq, char *err, size_t errlen);

/* Tables of C channels from their pmfs (pmf[c * max_len + i], i < length[c])
 * and tail masses. 0 / -1 + err. */
int ebc_tables_build(uint32_t channels, const int32_t *offset, const int32_t *length, const float *medians,
                     const double *pmf, uint32_t max_len, const double *tail, ebc_tables *out, char *err,
                     size_t errlen);
void ebc_tables_clear(ebc_tables *t);   /* NULL-safe */

/* The tables file: *buf malloc'd (free()), its size in *len. 0 / -1. */
int ebc_tables_write(const ebc_tables *t, uint8_t **buf, size_t *len, char *err, size_t errlen);
/* Strict reader of a tables file. 0 / -1 + err. */
int ebc_tables_read(const uint8_t *buf, size_t len, ebc_tables *out, char *err, size_t errlen);

/* symbols[c*n + i] = round-half-even(z[c*n + i] - median_c) in float32.
 * -1 + err for a non-finite value or one beyond +-2^30. */
int ebc_symbols(const ebc_tables *t, const float *z, uint32_t n, int32_t *symbols, char *err, size_t errlen);
/* z^ = symbol + median_c (float32): what the tail receives. */
void ebc_dequantize(const ebc_tables *t, const int32_t *symbols, uint32_t n, float *out);

/* The largest stream of count symbols (an output buffer's size). */
size_t ebc_bound(size_t count);
/* Codes symbols [C, n] (C = t->channels) into out (cap >= ebc_bound(C*n)).
 * 0 / -1 + err. */
int ebc_encode(const ebc_tables *t, const int32_t *symbols, uint32_t n, uint8_t *out, size_t cap, size_t *out_len,
               char *err, size_t errlen);
/* The context stream (version 2, above) of symbols [C, h, w] into out
 * (cap >= ebc_bound_ctx(C*h*w)). 0 / -1 + err. */
size_t ebc_bound_ctx(size_t count);
int ebc_encode_ctx(const ebc_tables *t, const int32_t *symbols, uint32_t h, uint32_t w, uint8_t *out, size_t cap,
                   size_t *out_len, char *err, size_t errlen);
/* The shorter of ebc_encode's and ebc_encode_ctx's streams (ties: version
 * 1) into out (cap >= ebc_bound(C*h*w): never longer than version 1).
 * What hnd sends and measures. 0 / -1 + err. */
int ebc_encode_best(const ebc_tables *t, const int32_t *symbols, uint32_t h, uint32_t w, uint8_t *out, size_t cap,
                    size_t *out_len, char *err, size_t errlen);
/* Decodes a stream (either version) of [C, n] symbols. 0 / -1 + err for
 * anything corrupt. */
int ebc_decode(const ebc_tables *t, const uint8_t *in, size_t len, int32_t *symbols, uint32_t n, char *err,
               size_t errlen);
/* -sum log2(f/2^16) of coding symbols [C,n] (escapes with their nibbles):
 * what an ideal coder with these tables would spend, in bits. */
double ebc_ideal_bits(const ebc_tables *t, const int32_t *symbols, uint32_t n);

#ifdef __cplusplus
}
#endif
#endif
