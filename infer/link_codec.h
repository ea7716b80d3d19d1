/* link_codec.h: how many bytes the 8-bit bottleneck takes on the link under
 * each lossless coding hnd knows: raw (its bytes + 4 bytes of scale + 1 of
 * zero point), rANS (rans.h, the coder the split runtime can send) and
 * zstd at level 19 (Debian's libzstd, a general-purpose baseline). Used by
 * evaluation and sweeps to report real bytes per image. Torch-free.
 * Prefix lc_. */
#ifndef HND_LINK_CODEC_H
#define HND_LINK_CODEC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int64_t raw;    /* n + 5 */
    int64_t rans;   /* the rANS stream + 5 */
    int64_t zstd;   /* zstd -19 frame + 5 */
} lc_sizes;

/* Sizes of q[0..n) under each coding (the rANS stream is decoded again
 * and compared, so a size is only reported for a stream that round-trips).
 * 0 / -1 + hnd_error(). */
int lc_measure(const uint8_t *q, size_t n, lc_sizes *out);

#ifdef __cplusplus
}
#endif
#endif
