/* fuzz_pth.c: libFuzzer entry for the .pth reader and the bare unpickler.
 *
 * Each input goes through pth_load_from_memory (zip or legacy, as sniffed)
 * and through pk_parse as a sequence of pickles, with limits low enough
 * that a hostile size field cannot exhaust memory. The same function is
 * replayed over tests/fuzz/regress/ by regress_main.c in ordinary builds. */
#include <stddef.h>
#include <stdint.h>

#include "pickle.h"
#include "pth_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pth_options opt = {.max_total_bytes = (size_t)64 << 20, .max_pickle_memory = (size_t)64 << 20};
    pth_state st;
    if (pth_load_from_memory(data, size, "fuzz", &opt, &st) == 0) pth_state_clear(&st);

    /* The unpickler alone, over consecutive pickles as in the legacy format. */
    pk_limits lim = {.max_memory = (size_t)64 << 20, .max_stack = 1 << 16, .max_memo = 1 << 16};
    pk_ctx *c = pk_new(&lim);
    size_t pos = 0;
    for (int i = 0; c && i < 8 && pos < size; i++)
        if (!pk_parse(c, data, size, &pos)) break;
    pk_destroy(c);
    return 0;
}
