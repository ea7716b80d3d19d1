/* bottleneck_quant.c: see bottleneck_quant.h. */
#include "bottleneck_quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"

static int bq_fail(const char *what) {
    return hnd_error_set("quantize: %s: %s", what, ct_last_error());
}

int bq_bits_valid(int b) { return b == 0 || b == 32 || b == 16 || (b >= 2 && b <= 8); }

int bq_quantize8(const ct_tensor *x, bq_tensor *out) { return bq_quantize(x, 8, out); }

int bq_quantize(const ct_tensor *x, int num_bits, bq_tensor *out) {
    if (!out) return hnd_error_set("quantize: NULL output");
    memset(out, 0, sizeof *out);
    if (!x) return hnd_error_set("quantize: NULL tensor");
    if (num_bits < 2 || num_bits > 8) return hnd_error_set("quantize: num_bits must be 2..8, got %d", num_bits);
    const double qmax = (double)((1 << num_bits) - 1);
    int64_t n = ct_numel(x);
    if (n <= 0) return hnd_error_set("quantize: empty tensor");
    int rc = -1;
    ct_scope_begin();
    const ct_tensor *xf = x;
    if (ct_dtype_of(x) != CT_F32) {
        xf = ct_to_dtype(x, CT_F32);
        if (!xf) {
            bq_fail("to float32");
            goto done;
        }
    }
    ct_tensor *mn = ct_min(xf), *mx = ct_max(xf);
    double vmn, vmx;
    if (!mn || !mx || ct_item_f64(mn, &vmn) || ct_item_f64(mx, &vmx)) {
        bq_fail("min/max");
        goto done;
    }
    if (!isfinite(vmn) || !isfinite(vmx)) {
        hnd_error_set("quantize: tensor has non-finite values (min %g, max %g)", vmn, vmx);
        goto done;
    }
    ct_device dev = ct_device_of(xf);
    ct_tensor *scale;
    if (vmn == vmx) /* guard: a constant tensor (see the header) */
        scale = ct_scalar_tensor(vmx != 0 ? fabs(vmx) : 1.0, CT_F32, dev);
    else
        scale = ct_div_scalar(ct_sub(mx, mn), qmax);
    double sc, mdiv;
    ct_tensor *md = scale ? ct_div(mn, scale) : NULL;
    if (!md || ct_item_f64(scale, &sc) || ct_item_f64(md, &mdiv)) {
        bq_fail("scale");
        goto done;
    }
    /* initial_zero_point = qmin - min / scale, clamped to [0, qmax], int() */
    float izp = 0.0f - (float)mdiv, fq = (float)qmax;
    float zpf = izp < 0.0f ? 0.0f : izp > fq ? fq : izp;
    int zp = (int)truncf(zpf);
    ct_tensor *t = ct_div(xf, scale);
    t = t ? ct_add_scalar(t, (double)zp) : NULL;
    t = t ? ct_clamp(t, 0.0, qmax) : NULL;
    t = t ? ct_round(t) : NULL;
    t = t ? ct_to_dtype(t, CT_U8) : NULL;
    if (!t) {
        bq_fail("q");
        goto done;
    }
    out->q = ct_scope_keep(t);
    out->scale = (float)sc;
    out->zero_point = zp;
    rc = 0;
done:
    ct_scope_end();
    return rc;
}

ct_tensor *bq_dequantize8(const bq_tensor *qt) {
    if (!qt || !qt->q) {
        hnd_error_set("dequantize: NULL tensor");
        return NULL;
    }
    ct_scope_begin();
    ct_tensor *f = ct_to_dtype(qt->q, CT_F32);
    f = f ? ct_sub_scalar(f, (double)qt->zero_point) : NULL;
    f = f ? ct_mul_scalar(f, (double)qt->scale) : NULL;
    if (!f) bq_fail("dequantize");
    ct_scope_keep(f);
    ct_scope_end();
    return f;
}

void bq_tensor_clear(bq_tensor *qt) {
    if (!qt) return;
    ct_destroy(qt->q);
    qt->q = NULL;
}

uint8_t *bq_quantize8_bytes(const ct_tensor *x, size_t *nbytes, float *scale, int *zero_point) {
    bq_tensor qt;
    if (bq_quantize8(x, &qt) != 0) return NULL;
    size_t n = (size_t)ct_numel(qt.q);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        hnd_error_set("quantize: out of memory");
        bq_tensor_clear(&qt);
        return NULL;
    }
    if (ct_to_buffer(qt.q, buf, n) != 0) {
        bq_fail("to buffer");
        free(buf);
        bq_tensor_clear(&qt);
        return NULL;
    }
    if (nbytes) *nbytes = n;
    if (scale) *scale = qt.scale;
    if (zero_point) *zero_point = qt.zero_point;
    bq_tensor_clear(&qt);
    return buf;
}

ct_tensor *bq_round_trip(const ct_tensor *x, int num_bits) {
    if (!x) {
        hnd_error_set("bottleneck transformer: NULL tensor");
        return NULL;
    }
    if (num_bits == 0 || num_bits == 32) {
        ct_tensor *c = ct_clone(x);
        if (!c) bq_fail("copy");
        return c;
    }
    if (num_bits == 16) {
        ct_scope_begin();
        ct_tensor *h = ct_to_dtype(x, CT_F16);
        h = h ? ct_to_dtype(h, CT_F32) : NULL;
        if (!h) bq_fail("half");
        ct_scope_keep(h);
        ct_scope_end();
        return h;
    }
    if (num_bits >= 2 && num_bits <= 8) {
        bq_tensor qt;
        if (bq_quantize(x, num_bits, &qt) != 0) return NULL;
        ct_tensor *y = bq_dequantize8(&qt);
        bq_tensor_clear(&qt);
        return y;
    }
    hnd_error_set("bottleneck transformer: num_bits must be 2..8, 16 or 32, got %d", num_bits);
    return NULL;
}

int64_t bq_wire_bytes(int64_t numel, int num_bits) {
    if (numel < 0) return -1;
    switch (num_bits) {
    case 32: return 4 * numel;
    case 16: return 2 * numel;
    default:
        if (num_bits < 2 || num_bits > 8 || numel > (INT64_MAX - 7) / 8) return -1;
        return (numel * num_bits + 7) / 8 + 4 + 1;
    }
}
