/* link_codec.c: see link_codec.h. */
#include "link_codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "err_buf.h"
#include "hnd_error.h"
#include "rans.h"

#define LC_SIDE 5   /* float32 scale + uint8 zero point */
#define LC_ZSTD_LEVEL 19
#define LC_HEADER 2


/* The MED guess for (y, x) of one plane (row stride w). */
static inline int med(const uint8_t *p, int w, int y, int x) {
    if (y == 0) return x ? p[x - 1] : 0;
    if (x == 0) return p[(size_t)(y - 1) * w];
    int a = p[(size_t)y * w + x - 1], b = p[(size_t)(y - 1) * w + x], c = p[(size_t)(y - 1) * w + x - 1];
    int mx = a > b ? a : b, mn = a < b ? a : b;
    return c >= mx ? mn : c <= mn ? mx : a + b - c;
}

void lc_med_residuals(const uint8_t *q, int c, int h, int w, uint8_t *r) {
    size_t plane = (size_t)h * w;
    for (int k = 0; k < c; k++) {
        const uint8_t *p = q + plane * k;
        uint8_t *o = r + plane * k;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) o[(size_t)y * w + x] = (uint8_t)(p[(size_t)y * w + x] - med(p, w, y, x));
    }
}

size_t lc_bound(size_t n) { return LC_HEADER + rans_bound(n); }

static int shape_ok(int c, int h, int w, char *err, size_t errlen) {
    if (c < 0 || h < 0 || w < 0 || (int64_t)c * h * w > UINT32_MAX)
        return eb_fail(err, errlen, "link codec: bad shape %dx%dx%d", c, h, w);
    return 0;
}

int lc_encode(const uint8_t *q, int c, int h, int w, int pred, uint8_t *out, size_t cap, size_t *out_len, char *err,
              size_t errlen) {
    if (shape_ok(c, h, w, err, errlen) != 0) return -1;
    if (pred != LC_PRED_NONE && pred != LC_PRED_MED) return eb_fail(err, errlen, "link codec: unknown predictor %d", pred);
    size_t n = (size_t)c * h * w;
    if (!out || cap < lc_bound(n)) return eb_fail(err, errlen, "link codec: output buffer too small");
    uint8_t *r = NULL;
    if (pred == LC_PRED_MED) {
        if (!(r = malloc(n ? n : 1))) return eb_fail(err, errlen, "link codec: out of memory");
        lc_med_residuals(q, c, h, w, r);
    }
    out[0] = LC_VERSION;
    out[1] = (uint8_t)pred;
    int rc = rans_encode_u8(r ? r : q, n, out + LC_HEADER, cap - LC_HEADER, out_len, err, errlen);
    free(r);
    if (rc == 0) *out_len += LC_HEADER;
    return rc;
}

int lc_decode(const uint8_t *in, size_t len, uint8_t *q, int c, int h, int w, char *err, size_t errlen) {
    if (shape_ok(c, h, w, err, errlen) != 0) return -1;
    if (!in || len < LC_HEADER) return eb_fail(err, errlen, "link codec: a stream of %zu bytes is too short", len);
    if (in[0] != LC_VERSION) return eb_fail(err, errlen, "link codec: version %u, this reader knows %d", in[0], LC_VERSION);
    if (in[1] != LC_PRED_NONE && in[1] != LC_PRED_MED) return eb_fail(err, errlen, "link codec: unknown predictor %u", in[1]);
    size_t n = (size_t)c * h * w;
    if (rans_decode_u8(in + LC_HEADER, len - LC_HEADER, q, n, err, errlen) != 0) return -1;
    if (in[1] == LC_PRED_MED) {   /* raster order: every guess uses values already restored */
        size_t plane = (size_t)h * w;
        for (int k = 0; k < c; k++) {
            uint8_t *p = q + plane * k;
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) p[(size_t)y * w + x] = (uint8_t)(p[(size_t)y * w + x] + med(p, w, y, x));
        }
    }
    return 0;
}

int lc_measure(const uint8_t *q, int c, int h, int w, lc_sizes *out) {
    memset(out, 0, sizeof *out);
    size_t n = (size_t)c * h * w, cap = lc_bound(n), zcap = ZSTD_compressBound(n), len = 0;
    uint8_t *buf = malloc(cap > zcap ? cap : zcap), *back = malloc(n ? n : 1);
    char err[256];
    int rc = -1;
    if (!buf || !back) {
        hnd_error_set("link codec: out of memory");
    } else if (lc_encode(q, c, h, w, LC_PRED_MED, buf, cap, &len, err, sizeof err) != 0 ||
               lc_decode(buf, len, back, c, h, w, err, sizeof err) != 0) {
        hnd_error_set("%s", err);
    } else if (n && memcmp(back, q, n) != 0) {
        hnd_error_set("link codec: the stream does not decode to its input");
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
