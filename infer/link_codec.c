/* link_codec.c: see link_codec.h. */
#include "link_codec.h"

#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "hnd_error.h"
#include "rans.h"

#define LC_SIDE 5   /* float32 scale + uint8 zero point */
#define LC_ZSTD_LEVEL 19

int lc_measure(const uint8_t *q, size_t n, lc_sizes *out) {
    memset(out, 0, sizeof *out);
    size_t cap = rans_bound(n), zcap = ZSTD_compressBound(n), len = 0;
    size_t big = cap > zcap ? cap : zcap;
    uint8_t *buf = malloc(big), *back = malloc(n ? n : 1);
    char err[256];
    int rc = -1;
    if (!buf || !back) {
        hnd_error_set("link codec: out of memory");
    } else if (rans_encode_u8(q, n, buf, cap, &len, err, sizeof err) != 0 ||
               rans_decode_u8(buf, len, back, n, err, sizeof err) != 0) {
        hnd_error_set("link codec: %s", err);
    } else if (n && memcmp(back, q, n) != 0) {
        hnd_error_set("link codec: the rANS stream does not decode to its input");
    } else {
        out->rans = (int64_t)len + LC_SIDE;
        size_t z = ZSTD_compress(buf, zcap, q, n, LC_ZSTD_LEVEL);
        if (ZSTD_isError(z)) {
            hnd_error_set("link codec: zstd: %s", ZSTD_getErrorName(z));
        } else {
            out->zstd = (int64_t)z + LC_SIDE;
            out->raw = (int64_t)n + LC_SIDE;
            rc = 0;
        }
    }
    free(buf);
    free(back);
    return rc;
}
