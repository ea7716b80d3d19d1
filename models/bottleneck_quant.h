/* bottleneck_quant.h: the reference project's bottleneck transformer —
 * b-bit per-tensor quantization, b = 2..8 (myutils tensor_util.quantize_tensor
 * with num_bits = b) and half precision for "16 bits". Prefix bq_.
 *
 * b bits, per tensor, qmax = 2^b - 1, every step in float32 as PyTorch
 * computes it:
 *   scale = (max - min) / qmax
 *   zp    = trunc(clamp(0 - min / scale, 0, qmax))     (an integer 0..qmax)
 *   q     = round(clamp(zp + x / scale, 0, qmax))      (half to even, uint8)
 *   x^    = scale * (q - zp)
 * Guard: when max == min (a constant tensor, where the reference divides by
 * zero and returns NaNs) scale = |max| (1 when max == 0), which with the same
 * formulas reconstructs the constant exactly: c > 0 gives zp 0, q 1;
 * c < 0 gives zp 1, q 0; c == 0 gives zp 0, q 0.
 *
 * A quantized bottleneck is what split computing sends over the link: the
 * values (one byte each in memory and on today's wire, whatever b is) plus
 * scale (float32) and zero point (one byte). The size reported for b bits
 * is the bit-packed one, ceil(n * b / 8) + 5 bytes (bq_wire_bytes). */
#ifndef HND_BOTTLENECK_QUANT_H
#define HND_BOTTLENECK_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "ctorch.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    ct_tensor *q;      /* uint8, the shape of the input, on its device (owned) */
    float scale;
    int zero_point;    /* 0..qmax */
} bq_tensor;

/* 1 when num_bits is a transformer width: 0 / 32 (none), 16 (half), 2..8. */
int bq_bits_valid(int num_bits);

/* x: a float tensor (any shape, any device, at least one element); num_bits
 * 2..8. 0 / -1 + hnd_error(). out->q is a new handle in the caller's scope. */
int bq_quantize(const ct_tensor *x, int num_bits, bq_tensor *out);
int bq_quantize8(const ct_tensor *x, bq_tensor *out);   /* num_bits 8 */
/* float32 scale * (q - zp), on q's device (any b). */
ct_tensor *bq_dequantize8(const bq_tensor *qt);
void bq_tensor_clear(bq_tensor *qt);   /* frees q; NULL-safe */

/* The quantized bytes (C order) of x; *nbytes = numel. malloc'd (free()).
 * NULL + hnd_error() on failure. */
uint8_t *bq_quantize8_bytes(const ct_tensor *x, size_t *nbytes, float *scale, int *zero_point);

/* Round trip used between encoder and decoder: num_bits 2..8 (quantize +
 * dequantize), 16 (to float16 and back to float32) or 32/0 (a copy).
 * NULL + hnd_error() for other values. */
ct_tensor *bq_round_trip(const ct_tensor *x, int num_bits);

/* Bytes a bottleneck of numel elements takes on the link: 32 -> 4*numel,
 * 16 -> 2*numel, b = 2..8 -> ceil(numel*b/8) (bit-packed) + 4 (scale) + 1
 * (zero point). -1 otherwise. */
int64_t bq_wire_bytes(int64_t numel, int num_bits);

#ifdef __cplusplus
}
#endif
#endif
