/* hnd_head.h: the head of a split R-CNN student (exported by `hnd export
 * --format c`) as a dependency-free C99 runtime: libc, libm and, unless
 * HND_HEAD_NO_THREADS is defined, POSIX threads. Prefix hnd_head_.
 *
 *     hnd_head *h;  char err[256];
 *     if (hnd_head_load("head.bin", &h, err, sizeof err)) { puts(err); ... }
 *     float *x; int H, W;                      // the R-CNN transform
 *     hnd_head_prepare(h, rgb, height, width, &x, &H, &W, err, sizeof err);
 *     int c, oh, ow;  hnd_head_output_shape(h, H, W, &c, &oh, &ow, ...);
 *     hnd_head_output out = {q, NULL, NULL};   // c*oh*ow bytes for 8 bits
 *     hnd_head_run(h, x, H, W, &out, err, sizeof err);   // out.scale, out.zero_point
 *     free(x); hnd_head_free(h);
 *
 * Results are deterministic: the same bytes on every platform with IEEE
 * float32 (x86-64, aarch64) and for every thread count — each output is a
 * fixed-order sum of float32 products, no fused multiply-add (compile with
 * -ffp-contract=off; hnd_head.c also asks GCC/clang for it).
 *
 * ---------------------------------------------------------------------------
 * The weights file (head.bin), version 1, every number little-endian:
 *
 *   offset  size  field
 *        0     8  magic "HNDHEAD\0"
 *        8     4  u32 version (1)
 *       12     4  u32 in_channels (3)
 *       16     4  u32 channels C (the bottleneck's width)
 *       20     4  u32 bits (8: uint8 + scale + zero point, 16: float16, 32: float32)
 *       24    12  f32 mean[3]   (the transform: (x/255 - mean) / std per channel)
 *       36    12  f32 std[3]
 *       48     8  f64 min_size  (shorter side after resizing)
 *       56     8  f64 max_size  (cap on the longer side)
 *       64     4  u32 size_divisible (zero-pad bottom/right to a multiple)
 *       68     4  u32 n_ops (1..HND_HEAD_MAX_OPS)
 *       72     8  u64 payload_floats (number of float32 values after the ops)
 *       80    16  reserved, zero
 *       96  32*n  ops, 8 u32 each: kind (0 conv, 1 relu, 2 maxpool), cin, cout,
 *                 kh, kw, stride, pad, has_bias (relu/maxpool: cin = cout,
 *                 has_bias 0; relu: kh = kw = stride = 1, pad 0)
 *        …   4*P  f32 payload: per conv, in op order, weight [cout][cin][kh][kw]
 *                 then bias [cout] when has_bias
 *        …     4  u32 CRC-32 (IEEE 802.3, as zlib's crc32) of every byte before it
 *
 * The file is exactly 96 + 32 n_ops + 4 payload_floats + 4 bytes long.
 * Execution: the ops in order on a float32 [in_channels][H][W] image;
 * conv out = (in + 2 pad - k) / stride + 1 (floor), zero padding; maxpool
 * pads with -inf; then the quantizer of `bits`:
 *   8: scale = (max - min) / 255 (max == min: |max|, or 1 when 0),
 *      zp = trunc(clamp(-(min / scale), 0, 255)),
 *      q = round_half_even(clamp(zp + x / scale, 0, 255)), all float32;
 *      x ~ scale * (q - zp).
 *  16: IEEE half precision (round to nearest even), as uint16 bits.
 *  32: float32 as computed.
 * ------------------------------------------------------------------------- */
#ifndef HND_HEAD_H
#define HND_HEAD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HND_HEAD_MAGIC "HNDHEAD"          /* 7 characters + NUL = 8 bytes */
#define HND_HEAD_VERSION 1
#define HND_HEAD_HEADER_BYTES 96
#define HND_HEAD_OP_BYTES 32
#define HND_HEAD_MAX_OPS 64
#define HND_HEAD_MAX_CHANNELS 4096       /* per conv, in and out */
#define HND_HEAD_MAX_KERNEL 15
#define HND_HEAD_MAX_STRIDE 8
#define HND_HEAD_MAX_FLOATS ((uint64_t)1 << 28)   /* 1 GiB of weights */
#define HND_HEAD_MAX_SIDE 16384          /* input H, W */

enum { HND_HEAD_CONV = 0, HND_HEAD_RELU = 1, HND_HEAD_MAXPOOL = 2 };

typedef struct {
    int kind;
    int cin, cout, kh, kw, stride, pad, has_bias;
} hnd_head_op;

typedef struct hnd_head hnd_head;

/* Reads and validates path (every size, count and bound, the file's length
 * and its CRC). 0, or -1 with a message naming the file and the field in
 * err (errlen bytes, always NUL-terminated when errlen > 0); *out is NULL on
 * error. */
int hnd_head_load(const char *path, hnd_head **out, char *err, size_t errlen);
/* The same from memory (data is copied; the name goes into messages). */
int hnd_head_load_memory(const void *data, size_t size, const char *name, hnd_head **out, char *err,
                         size_t errlen);
void hnd_head_free(hnd_head *h);   /* NULL-safe */

/* What the file says. */
int hnd_head_bits(const hnd_head *h);
int hnd_head_channels(const hnd_head *h);
int hnd_head_in_channels(const hnd_head *h);
int hnd_head_num_ops(const hnd_head *h);
const hnd_head_op *hnd_head_get_op(const hnd_head *h, int i);   /* NULL when out of range */
void hnd_head_transform(const hnd_head *h, float mean[3], float std[3], double *min_size, double *max_size,
                        int *size_divisible);

/* Output shape [c][oh][ow] for an input of H x W. 0, or -1 (+ err) when the
 * input is too small or too large (H, W in 1..HND_HEAD_MAX_SIDE). */
int hnd_head_output_shape(const hnd_head *h, int H, int W, int *c, int *oh, int *ow, char *err, size_t errlen);

/* Where hnd_head_run puts the bottleneck; the caller owns the buffers
 * (c * oh * ow elements), only the one of the head's bits is used. */
typedef struct {
    uint8_t *q;          /* bits 8 */
    uint16_t *half;      /* bits 16: IEEE half bits */
    float *f;            /* bits 32 */
    float scale;         /* bits 8: set by hnd_head_run */
    int zero_point;      /* bits 8: 0..255 */
    double ms;           /* set by hnd_head_run: wall time of the call */
} hnd_head_output;

/* The head on one transformed image, chw: float32 [in_channels][H][W]
 * (C order). 0, or -1 + err (bad size, out of memory, non-finite output).
 * The head keeps its activation buffers (2 x the largest activation) for
 * the next run, freed by hnd_head_free; calls on one head from several
 * threads at once are safe (a call that finds them in use allocates its
 * own). */
int hnd_head_run(const hnd_head *h, const float *chw, int H, int W, hnd_head_output *out, char *err,
                 size_t errlen);

/* Worker threads of hnd_head_run (process-wide; 1 without threads).
 * n < 1: the number of online processors. Returns the number in effect. */
int hnd_head_set_threads(int n);
int hnd_head_get_threads(void);

/* The R-CNN transform of an 8-bit RGB image (rgb: h x w x 3, row-major):
 * x / 255, normalise (x - mean) / std, resize (bilinear, align_corners
 * false, scale = min(min_size / min(h, w), max_size / max(h, w)), size
 * floor(side * scale)), zero-pad bottom and right to a multiple of
 * size_divisible. *out: malloc'd float32 [3][*H][*W] (free()). 0 / -1 + err. */
int hnd_head_prepare(const hnd_head *h, const uint8_t *rgb, int height, int width, float **out, int *H, int *W,
                     char *err, size_t errlen);

/* IEEE half bits of x, round to nearest even (what torch's .half() does). */
uint16_t hnd_head_float_to_half(float x);
float hnd_head_half_to_float(uint16_t h);

/* CRC-32 (zlib's): crc = hnd_head_crc32(0, data, n), chainable. */
uint32_t hnd_head_crc32(uint32_t crc, const void *data, size_t n);

#ifdef __cplusplus
}
#endif
#endif
