/* fuzz_head.c: libFuzzer entry for the plain-C head runtime's loader
 * (tools/export/c_head/hnd_head.c, the head.bin of `hnd export --format c`).
 *
 * Each input goes through hnd_head_load_memory; an input the loader
 * accepts also gets its output shape and, when the head is small enough
 * to run quickly, one run on a small constant image. A message must come
 * with every refusal. regress_main.c replays tests/fuzz/regress_head/ in
 * every ctest run. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_head.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[256];
    hnd_head *h = NULL;
    if (hnd_head_load_memory(data, size, "fuzz", &h, err, sizeof err) != 0) {
        if (h || err[0] == '\0') abort();   /* a refusal leaves no head and says why */
        return 0;
    }
    int c = 0, oh = 0, ow = 0;
    const int H = 16, W = 16;
    int64_t macs = 0;
    for (int i = 0; i < hnd_head_num_ops(h); i++) {
        const hnd_head_op *o = hnd_head_get_op(h, i);
        macs += (int64_t)o->cin * o->cout * o->kh * o->kw * H * W;
    }
    hnd_head_set_threads(1);
    if (hnd_head_output_shape(h, H, W, &c, &oh, &ow, err, sizeof err) == 0 && macs < (int64_t)1 << 24) {
        size_t n = (size_t)c * (size_t)oh * (size_t)ow;
        float *x = (float *)calloc((size_t)3 * H * W, sizeof(float));
        void *buf = malloc(n * 4 + 1);
        if (x && buf) {
            for (int i = 0; i < 3 * H * W; i++) x[i] = (float)(i % 7) - 3.0f;
            hnd_head_output out;
            memset(&out, 0, sizeof out);
            out.q = (uint8_t *)buf;
            out.half = (uint16_t *)buf;
            out.f = (float *)buf;
            hnd_head_run(h, x, H, W, &out, err, sizeof err);
        }
        free(x);
        free(buf);
    }
    hnd_head_free(h);
    return 0;
}
