/* fuzz_codec.c: libFuzzer entry for the link codec's decoders (infer/
 * link_codec.h, infer/rans.h): the bytes a server receives as a coded
 * bottleneck. The first 3 bytes choose the shape (C 1..8, h and w 1..64),
 * the rest is the stream. A stream the decoder accepts must code again to
 * one that decodes to the same values; every refusal must say why. The
 * same rest goes through rans_decode_u8 alone (count from its header,
 * capped). regress_main.c replays tests/fuzz/regress_codec/ in ctest. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "link_codec.h"
#include "rans.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    const int c = 1 + data[0] % 8, h = 1 + data[1] % 64, w = 1 + data[2] % 64;
    const uint8_t *s = data + 3;
    size_t len = size - 3, n = (size_t)c * h * w;
    uint8_t *q = malloc(n), *back = malloc(n), *re = malloc(lc_bound(n));
    char err[256] = "";
    if (!q || !back || !re) abort();
    if (lc_decode(s, len, q, c, h, w, err, sizeof err) == 0) {
        size_t rlen;
        if (lc_encode(q, c, h, w, s[1], re, lc_bound(n), &rlen, err, sizeof err) != 0 ||
            lc_decode(re, rlen, back, c, h, w, err, sizeof err) != 0 || memcmp(q, back, n) != 0)
            abort();
    } else if (!err[0]) {
        abort();
    }
    int64_t count = rans_stream_count(s, len, err, sizeof err);
    if (count >= 0 && count <= (1 << 20)) {
        uint8_t *v = malloc(count ? (size_t)count : 1);
        if (!v) abort();
        err[0] = 0;
        if (rans_decode_u8(s, len, v, (size_t)count, err, sizeof err) != 0 && !err[0]) abort();
        free(v);
    }
    free(q);
    free(back);
    free(re);
    return 0;
}
