/* quant_bits_dump.c: every float32 tensor NAME under /weights of IN.h5
 * through models/bottleneck_quant at b = 2..8 bits, written to OUT.h5 as
 *   NAME.bB.q (uint8), NAME.bB.scale (float32 [1]), NAME.bB.zp (int64 [1]),
 *   NAME.bB.xhat (bq_round_trip, float32), NAME.bB.wire (int64 [1]: bq_wire_bytes)
 * for check_quant_bits.py to compare with the reference's quantize_tensor
 * written there in torch. Exit 1 with a message on any failure. */
#include <stdio.h>
#include <stdlib.h>

#include "bottleneck_quant.h"
#include "ctorch.h"
#include "hnd_error.h"
#include "wstore.h"

static int put(ws_writer *w, const char *name, int b, const char *what, const ct_tensor *t) {
    char key[512];
    snprintf(key, sizeof key, "%s.b%d.%s", name, b, what);
    int64_t shape[CT_MAX_DIMS];
    int nd = ct_shape(t, shape, CT_MAX_DIMS);
    size_t nb = (size_t)ct_numel(t) * ct_dtype_size(ct_dtype_of(t));
    void *buf = malloc(nb ? nb : 1);
    int rc = buf && ct_to_buffer(t, buf, nb) == 0 ? ws_writer_put(w, "weights", key, ct_dtype_of(t), nd, shape, buf)
                                                   : hnd_error_set("%s: %s", key, ct_last_error());
    free(buf);
    return rc;
}

static int dump(ws_reader *r, ws_writer *w, const char *name) {
    ws_tensor x = {0};
    if (ws_reader_get(r, "weights", name, &x) != 0) return -1;
    int rc = -1;
    ct_scope_begin();
    ct_tensor *t = ct_from_buffer(x.data, x.dtype, x.ndim, x.shape);
    for (int b = 2; t && b <= 8; b++) {
        bq_tensor q;
        if (bq_quantize(t, b, &q) != 0) goto done;
        const int64_t one = 1;
        float sc = q.scale;
        int64_t zp = q.zero_point, wire = bq_wire_bytes(ct_numel(t), b);
        ct_tensor *xh = bq_round_trip(t, b);
        int ok = xh && put(w, name, b, "q", q.q) == 0 && put(w, name, b, "xhat", xh) == 0 &&
                 put(w, name, b, "scale", ct_from_buffer(&sc, CT_F32, 1, &one)) == 0 &&
                 put(w, name, b, "zp", ct_from_buffer(&zp, CT_I64, 1, &one)) == 0 &&
                 put(w, name, b, "wire", ct_from_buffer(&wire, CT_I64, 1, &one)) == 0;
        bq_tensor_clear(&q);
        if (!ok) goto done;
    }
    rc = t ? 0 : hnd_error_set("%s: %s", name, ct_last_error());
done:
    ct_scope_end();
    ws_tensor_clear(&x);
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: quant_bits_dump IN.h5 OUT.h5\n");
        return 2;
    }
    ws_reader *r = ws_reader_open(argv[1]);
    ws_writer *w = r ? ws_writer_open(argv[2]) : NULL;
    const char *const *names = NULL;
    int n = 0, rc = !w || ws_reader_list(r, "weights", &names, &n) != 0;
    for (int i = 0; !rc && i < n; i++) rc = dump(r, w, names[i]) != 0;
    if (!rc) rc = ws_writer_commit(w) != 0;
    else if (w) ws_writer_abort(w);
    if (r) ws_reader_close(r);
    if (rc) fprintf(stderr, "quant_bits_dump: %s\n", hnd_error());
    return rc;
}
