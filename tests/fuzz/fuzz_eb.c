/* fuzz_eb.c: libFuzzer entry for the entropy bottleneck's readers
 * (infer/eb_codec.h): a tables file and a coded stream, as a server or a
 * loaded bundle receives them (either stream version). Input: u16 LE length of the tables file,
 * the tables file, one byte choosing n (symbols per channel, 1..64), the
 * stream. Refusals must say why; a stream the decoder accepts must code
 * again into one that decodes to the same symbols. regress_main.c replays
 * tests/fuzz/regress_eb/ in ctest (eb_fuzz_regress). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eb_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    size_t tl = (size_t)data[0] | (size_t)data[1] << 8;
    if (tl > size - 2) tl = size - 2;
    char err[256] = "";
    ebc_tables t;
    if (ebc_tables_read(data + 2, tl, &t, err, sizeof err) != 0) {
        if (!err[0]) abort();
        return 0;
    }
    if (t.channels > 64 || tl + 3 > size) {
        ebc_tables_clear(&t);
        return 0;
    }
    const uint32_t n = 1 + data[2 + tl] % 64;
    const uint8_t *s = data + 3 + tl;
    const size_t len = size - 3 - tl, count = (size_t)t.channels * n;
    int32_t *sym = malloc(count * sizeof *sym), *back = malloc(count * sizeof *back);
    const size_t cap = ebc_bound_ctx(count) > ebc_bound(count) ? ebc_bound_ctx(count) : ebc_bound(count);
    uint8_t *re = malloc(cap);
    if (!sym || !back || !re) abort();
    err[0] = 0;
    if (ebc_decode(&t, s, len, sym, n, err, sizeof err) == 0) {
        size_t rl;
        /* re-coded in the stream's own version (a context stream: its width) */
        const uint32_t w = s[0] == EBC_VERSION_CTX
                               ? (uint32_t)s[5] | (uint32_t)s[6] << 8 | (uint32_t)s[7] << 16 | (uint32_t)s[8] << 24
                               : 0;
        if ((w ? ebc_encode_ctx(&t, sym, n / w, w, re, cap, &rl, err, sizeof err)
               : ebc_encode(&t, sym, n, re, cap, &rl, err, sizeof err)) != 0 ||
            ebc_decode(&t, re, rl, back, n, err, sizeof err) != 0 || memcmp(sym, back, count * sizeof *sym) != 0)
            abort();
    } else if (!err[0]) {
        abort();
    }
    free(sym);
    free(back);
    free(re);
    ebc_tables_clear(&t);
    return 0;
}
