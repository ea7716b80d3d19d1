/* eb_link.c: see eb_link.h. */
#include "eb_link.h"

#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"

int ebl_tables(const ebm_model *eb, ebc_tables *out) {
    ebm_pmf p;
    if (ebm_compute_pmf(eb, EBL_MAX_LENGTH, &p) != 0) return -1;
    char err[256];
    int rc = ebc_tables_build((uint32_t)p.channels, p.offset, p.length, p.medians, p.pmf, (uint32_t)p.max_len, p.tail,
                              out, err, sizeof err);
    ebm_pmf_clear(&p);
    return rc == 0 ? 0 : hnd_error_set("entropy bottleneck tables: %s", err);
}

int ebl_measure(const ebc_tables *t, const ct_tensor *z, double *bytes_sum) {
    int64_t s[4];
    if (!t || !z || ct_ndim(z) != 4 || ct_shape(z, s, 4) != 4 || s[1] != (int64_t)t->channels)
        return hnd_error_set("entropy bottleneck link: a [n,%u,h,w] tensor expected", t ? t->channels : 0);
    const uint32_t hw = (uint32_t)(s[2] * s[3]);
    const size_t count = (size_t)t->channels * hw, cap = ebc_bound(count);
    float *zf = malloc(count * sizeof *zf);
    int32_t *sym = malloc(count * sizeof *sym), *back = malloc(count * sizeof *back);
    uint8_t *buf = malloc(cap);
    int rc = zf && sym && back && buf ? 0 : hnd_error_set("out of memory");
    char err[256];
    for (int64_t i = 0; rc == 0 && i < s[0]; i++) {
        ct_scope_begin();
        ct_tensor *zi = ct_contiguous(ct_to_device(ct_to_dtype(ct_select(z, 0, i), CT_F32), ct_cpu()));
        size_t len = 0;
        if (!zi || ct_to_buffer(zi, zf, count * sizeof *zf) != 0)
            rc = hnd_error_set("entropy bottleneck link: %s", ct_last_error());
        else if (ebc_symbols(t, zf, hw, sym, err, sizeof err) != 0 ||
                 ebc_encode_best(t, sym, (uint32_t)s[2], (uint32_t)s[3], buf, cap, &len, err, sizeof err) != 0 ||
                 ebc_decode(t, buf, len, back, hw, err, sizeof err) != 0)
            rc = hnd_error_set("entropy bottleneck link: image %lld: %s", (long long)i, err);
        else if (memcmp(sym, back, count * sizeof *sym) != 0)
            rc = hnd_error_set("entropy bottleneck link: image %lld: decoded symbols differ", (long long)i);
        else
            *bytes_sum += (double)len;
        ct_scope_end();
    }
    free(zf);
    free(sym);
    free(back);
    free(buf);
    return rc;
}

int ebl_add_bytes(const ebm_model *eb, const ct_tensor *z, double *bytes_sum) {
    ebc_tables t;
    if (ebl_tables(eb, &t) != 0) return -1;
    int rc = ebl_measure(&t, z, bytes_sum);
    ebc_tables_clear(&t);
    return rc;
}
