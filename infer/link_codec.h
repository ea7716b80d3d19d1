/* link_codec.h: lossless coding of the 8-bit bottleneck [C,h,w] for the
 * link, and how many bytes each coding takes. Torch-free. Prefix lc_.
 *
 * The coded stream (version 1): u8 version, u8 predictor, then a rans.h
 * stream of the C*h*w residuals r = (q - p) mod 256 in C order, where p is
 * the predictor's guess from already coded neighbours of the same channel:
 *   LC_PRED_NONE  p = 0 (the bytes themselves)
 *   LC_PRED_MED   the median edge detector of LOCO-I / JPEG-LS: with a the
 *                 left, b the upper and c the upper-left neighbour,
 *                 p = min(a,b) if c >= max(a,b), max(a,b) if c <= min(a,b),
 *                 else a + b - c; the first row predicts from the left, the
 *                 first column from above, the first value is 0.
 * Neighbouring bottleneck values are alike, so the residuals concentrate
 * near 0 and code in about half the bytes (the demo's C = 3 student: 4757
 * raw bytes, ~2200 with MED + rANS, ~3430 with zstd -19).
 *
 * Sizes on the link include the 5 bytes of scale and zero point. */
#ifndef HND_LINK_CODEC_H
#define HND_LINK_CODEC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LC_VERSION 1
enum { LC_PRED_NONE = 0, LC_PRED_MED = 1 };

/* The largest coded stream of n = C*h*w values (an output buffer's size). */
size_t lc_bound(size_t n);
/* Codes q [c][h][w] with predictor pred into out (cap >= lc_bound).
 * 0, or -1 + message in err. */
int lc_encode(const uint8_t *q, int c, int h, int w, int pred, uint8_t *out, size_t cap, size_t *out_len, char *err,
              size_t errlen);
/* Decodes a stream into q [c][h][w] (the shape must be the coded one).
 * 0, or -1 + err for anything corrupt or truncated. */
int lc_decode(const uint8_t *in, size_t len, uint8_t *q, int c, int h, int w, char *err, size_t errlen);
/* The MED residuals of q (what LC_PRED_MED codes), for tests. */
void lc_med_residuals(const uint8_t *q, int c, int h, int w, uint8_t *r);

typedef struct {
    int64_t raw;    /* C*h*w + 5 */
    int64_t rans;   /* MED + rANS stream + 5 (decoded again and compared) */
    int64_t zstd;   /* zstd -19 of the raw bytes + 5: a general-purpose baseline */
} lc_sizes;

/* Sizes of q [c][h][w] under each coding. 0 / -1 + hnd_error(). */
int lc_measure(const uint8_t *q, int c, int h, int w, lc_sizes *out);

#ifdef __cplusplus
}
#endif
#endif
