/* eb_wire.c: see eb_wire.h. */
#include "eb_wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ebw_tables_crc(const ebc_tables *t, uint32_t *crc, char *err, size_t errlen) {
    uint8_t *buf = NULL;
    size_t len = 0;
    if (ebc_tables_write(t, &buf, &len, err, errlen) != 0) return -1;
    *crc = wf_crc32(0, buf, len);
    free(buf);
    return 0;
}

int ebw_read_tables(const char *path, ebc_tables *out, uint32_t *crc, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return snprintf(err, errlen, "%s: %s", path, strerror(errno)), -1;
    /* a tables file is small: C channels of at most 65536 frequencies */
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap);
    int rc = buf ? 0 : -1;
    while (rc == 0) {
        if (len == cap) {
            uint8_t *b = cap < ((size_t)1 << 30) ? realloc(buf, cap * 2) : NULL;
            if (!b) {
                rc = -1;
                break;
            }
            buf = b;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    char e[256];
    if (rc != 0) snprintf(err, errlen, "%s: too large or out of memory", path);
    else if (bad) rc = -1, snprintf(err, errlen, "%s: read error", path);
    else if (ebc_tables_read(buf, len, out, e, sizeof e) != 0) rc = -1, snprintf(err, errlen, "%s: %s", path, e);
    else *crc = wf_crc32(0, buf, len);
    free(buf);
    return rc;
}

uint8_t *ebw_frame_stream(uint32_t crc, const wf_bottleneck *f, const uint8_t *stream, size_t len, uint64_t request_id,
                          size_t *n, char *err, size_t errlen) {
    wf_bottleneck b = *f;
    b.dtype = WF_EB_RANS;
    b.scale = 0.0f;
    b.zero_point = 0;
    b.tables_crc = crc;
    b.data = stream;
    b.data_bytes = len;
    return wf_encode_bottleneck(request_id, &b, n, err, errlen);
}

uint8_t *ebw_frame(const ebc_tables *t, uint32_t crc, const wf_bottleneck *f, uint64_t request_id, size_t *n,
                   char *err, size_t errlen) {
    size_t hw = (size_t)f->h * f->w, count = (size_t)f->c * hw;
    if (f->dtype != WF_F32 || f->c != t->channels || f->data_bytes != count * sizeof(float)) {
        snprintf(err, errlen, "entropy-coded bottleneck: a float32 [1,%u,h,w] tensor expected (dtype %u, C %u)",
                 t->channels, (unsigned)f->dtype, (unsigned)f->c);
        return NULL;
    }
    size_t cap = ebc_bound(count), len = 0;
    float *z = malloc(count * sizeof *z);
    int32_t *sym = malloc(count * sizeof *sym);
    uint8_t *out = malloc(cap), *frame = NULL;
    if (!z || !sym || !out) snprintf(err, errlen, "out of memory");
    else {
        memcpy(z, f->data, count * sizeof *z);   /* the wire's bytes may be unaligned */
        if (ebc_symbols(t, z, (uint32_t)hw, sym, err, errlen) == 0 &&
            ebc_encode_best(t, sym, f->h, f->w, out, cap, &len, err, errlen) == 0)
            frame = ebw_frame_stream(crc, f, out, len, request_id, n, err, errlen);
    }
    free(z);
    free(sym);
    free(out);
    return frame;
}
