/* rans.h: lossless coding of the 8-bit bottleneck with a static-table rANS
 * (range asymmetric numeral system) coder of our own: a byte tensor in, a
 * self-contained stream out, whose frequency table travels in the stream.
 * Integer arithmetic only, so every platform writes and reads the same
 * bytes. Torch-free. Prefix rans_.
 *
 * Stream (version 1, little-endian):
 *    0  1  u8 version (1)
 *    1  1  u8 precision bits P (14): frequencies sum to 2^P
 *    2  4  u32 n, number of symbols coded
 *    6 32  bitmap of the symbols present (bit s of byte s/8)
 *   38  …  the frequency of each present symbol, in symbol order, as LEB128
 *          (7 bits a byte, low first; 1 byte below 128): each 1..2^P,
 *          summing to 2^P
 *    …  4  u32 the coder's final state
 *    …     the renormalisation bytes, in decoding order
 * An empty tensor (n = 0) is the 38-byte header with an empty bitmap.
 *
 * The coder: 32-bit state x in [L, 256 L), L = 2^23, byte-wise
 * renormalisation; a symbol s with frequency f and cumulative frequency c
 * encodes as x' = (x / f) * 2^P + (x mod f) + c. The frequencies come from
 * the tensor's histogram scaled to 2^P (every present symbol at least 1),
 * so the coded size is within a fraction of a percent of n times the
 * histogram's entropy, plus the table. The decoder checks every read against
 * the stream's end, that the table sums to 2^P, and that decoding ends in
 * the encoder's initial state with the stream consumed: a corrupt or
 * truncated stream is an error, never a crash or an out-of-bounds read. */
#ifndef HND_RANS_H
#define HND_RANS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RANS_VERSION 1
#define RANS_PROB_BITS 14
#define RANS_HEADER_BYTES 38

/* The largest stream n symbols can take (the output buffer's size). */
size_t rans_bound(size_t n);

/* Codes in[0..n) into out (cap bytes, at least rans_bound(n)); *out_len is
 * the stream's length. 0, or -1 with a message in err (errlen bytes). */
int rans_encode_u8(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_len, char *err, size_t errlen);

/* The number of symbols a stream holds (from its header), or -1 + err. */
int64_t rans_stream_count(const uint8_t *in, size_t len, char *err, size_t errlen);

/* Decodes the stream in[0..len) into out, which holds exactly n symbols
 * (n must equal the stream's count). 0, or -1 + err. */
int rans_decode_u8(const uint8_t *in, size_t len, uint8_t *out, size_t n, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
