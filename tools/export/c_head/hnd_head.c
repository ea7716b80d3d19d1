/* hnd_head.c: see hnd_head.h. C99 + libm (+ POSIX threads unless
 * HND_HEAD_NO_THREADS). Build with -ffp-contract=off (the pragmas below
 * ask GCC and clang for it too): every output is a sum of float32
 * products in a fixed order, and a fused multiply-add would change it. */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "hnd_head.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if !defined(HND_HEAD_NO_THREADS) && (defined(__unix__) || defined(__APPLE__))
#define HND_HEAD_THREADS 1
#include <pthread.h>
#include <unistd.h>
#endif

/* ------------------------------------------------------------------ */
/* errors                                                              */

static int hh_err(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ------------------------------------------------------------------ */
/* CRC-32 (reflected polynomial 0xEDB88320), a nibble at a time        */

static const uint32_t hh_crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu, 0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};

uint32_t hnd_head_crc32(uint32_t crc, const void *data, size_t n) {
    const unsigned char *p = (const unsigned char *)data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ hh_crc_nibble[crc & 15u];
        crc = (crc >> 4) ^ hh_crc_nibble[crc & 15u];
    }
    return ~crc;
}

/* ------------------------------------------------------------------ */
/* half precision                                                      */

static uint32_t hh_f2u(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

static float hh_u2f(uint32_t u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}

uint16_t hnd_head_float_to_half(float x) {
    uint32_t u = hh_f2u(x);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t ex = (u >> 23) & 0xFFu, man = u & 0x7FFFFFu;
    if (ex == 0xFFu) /* inf, NaN (kept quiet, top mantissa bits) */
        return (uint16_t)(sign | 0x7C00u | (man ? (0x200u | (man >> 13)) : 0u));
    int e = (int)ex - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7C00u);   /* overflow: inf */
    if (e <= 0) {                                      /* subnormal half or zero */
        if (e < -10) return sign;                      /* below half the smallest subnormal */
        uint32_t m = man | 0x800000u;                  /* implicit bit */
        int shift = 14 - e;                            /* 14..24 */
        uint32_t h = m >> shift, rem = m & ((1u << shift) - 1u), halfway = 1u << (shift - 1);
        if (rem > halfway || (rem == halfway && (h & 1u))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;   /* may carry into the exponent: fine */
    return (uint16_t)(sign | h);
}

float hnd_head_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, ex = (h >> 10) & 0x1Fu, man = h & 0x3FFu;
    if (ex == 0x1Fu) return hh_u2f(sign | 0x7F800000u | (man << 13));
    if (ex == 0) {
        float v = (float)man * (1.0f / 16777216.0f);   /* man * 2^-24, exact */
        return sign ? -v : v;
    }
    return hh_u2f(sign | ((ex - 15 + 127) << 23) | (man << 13));
}

/* ------------------------------------------------------------------ */
/* the head                                                            */

/* Kernel tile: MR output channels x NR output positions, NR a multiple of
 * the vector width. The layout changes nothing in the results: each output
 * is the same sum in the same order whatever the tile. */
#if defined(__GNUC__) && (defined(__AVX__) || defined(__ARM_NEON) || defined(__SSE2__))
#define HH_VEC 1
#if defined(__AVX__)
#define HH_VW 8
typedef float hh_v __attribute__((vector_size(32)));
typedef float hh_vu __attribute__((vector_size(32), aligned(4), may_alias));
typedef int32_t hh_vi __attribute__((vector_size(32)));
#else
#define HH_VW 4
typedef float hh_v __attribute__((vector_size(16)));
typedef float hh_vu __attribute__((vector_size(16), aligned(4), may_alias));
typedef int32_t hh_vi __attribute__((vector_size(16)));
#endif
#define HH_NR (2 * HH_VW)
#if HH_VW == 8
#define HH_SPLAT(x) ((hh_v){x, x, x, x, x, x, x, x})
#else
#define HH_SPLAT(x) ((hh_v){x, x, x, x})
#endif
#if defined(__AVX__) || defined(__ARM_NEON)
#define HH_MR 6   /* 12 accumulators + 2 columns + 1 weight of 16 (32) registers */
#else
#define HH_MR 5   /* SSE2: two-operand multiplies need a scratch register */
#endif
#else
#define HH_VEC 0
#define HH_NR 8
#define HH_MR 6
#endif

struct hnd_head {
    int in_channels, channels, bits, n_ops;
    float mean[3], std[3];
    double min_size, max_size;
    int size_divisible;
    hnd_head_op ops[HND_HEAD_MAX_OPS];
    float *wpack[HND_HEAD_MAX_OPS];   /* conv: [ceil(cout/MR)][K][MR], zero rows past cout */
    float *bias[HND_HEAD_MAX_OPS];    /* conv: [cout] (zeros when the file has none) */
    char name[128];
#ifdef HND_HEAD_THREADS
    /* the activations' two buffers, kept between runs: fresh, their pages
     * (2 x 55 MB at 800x1088) were faulted in at every run, a sixth of the
     * head's time. A run that finds the lock taken (another thread running
     * the same head) allocates its own, so hnd_head_run stays reentrant. */
    pthread_mutex_t ws_lock;
    int ws_lock_ok;
    float *ws;
    size_t ws_floats;
#endif
};

static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p) {
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static float rdf32(const unsigned char *p) {
    return hh_u2f(rd32(p));
}

static double rdf64(const unsigned char *p) {
    uint64_t u = rd64(p);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

void hnd_head_free(hnd_head *h) {
    if (!h) return;
    for (int i = 0; i < HND_HEAD_MAX_OPS; i++) {
        free(h->wpack[i]);
        free(h->bias[i]);
    }
#ifdef HND_HEAD_THREADS
    free(h->ws);
    if (h->ws_lock_ok) pthread_mutex_destroy(&h->ws_lock);
#endif
    free(h);
}

static const char *hh_kind_name(int k) {
    return k == HND_HEAD_CONV ? "conv" : k == HND_HEAD_RELU ? "relu" : k == HND_HEAD_MAXPOOL ? "maxpool" : "?";
}

/* One op record: bounds, and its channels against the running count. */
static int hh_check_op(const hnd_head_op *o, int i, int *ch, uint64_t *floats, const char *name, char *err,
                       size_t errlen) {
    const char *kn = hh_kind_name(o->kind);
    if (o->kind == HND_HEAD_CONV) {
        if (o->cin < 1 || o->cin > HND_HEAD_MAX_CHANNELS || o->cout < 1 || o->cout > HND_HEAD_MAX_CHANNELS)
            return hh_err(err, errlen, "%s: op %d (conv): channels %d -> %d out of 1..%d", name, i, o->cin,
                          o->cout, HND_HEAD_MAX_CHANNELS);
        if (o->has_bias != 0 && o->has_bias != 1)
            return hh_err(err, errlen, "%s: op %d (conv): has_bias is %d, expected 0 or 1", name, i, o->has_bias);
    } else if (o->kind == HND_HEAD_RELU || o->kind == HND_HEAD_MAXPOOL) {
        if (o->cin != o->cout || o->cin < 1 || o->cin > HND_HEAD_MAX_CHANNELS)
            return hh_err(err, errlen, "%s: op %d (%s): channels %d -> %d (must be equal, 1..%d)", name, i, kn,
                          o->cin, o->cout, HND_HEAD_MAX_CHANNELS);
        if (o->has_bias != 0) return hh_err(err, errlen, "%s: op %d (%s): has_bias %d", name, i, kn, o->has_bias);
    } else {
        return hh_err(err, errlen, "%s: op %d: unknown kind %d (0 conv, 1 relu, 2 maxpool)", name, i, o->kind);
    }
    if (o->kind == HND_HEAD_RELU) {
        if (o->kh != 1 || o->kw != 1 || o->stride != 1 || o->pad != 0)
            return hh_err(err, errlen, "%s: op %d (relu): kernel %dx%d stride %d pad %d, expected 1x1/1 pad 0", name,
                          i, o->kh, o->kw, o->stride, o->pad);
    } else {
        if (o->kh < 1 || o->kh > HND_HEAD_MAX_KERNEL || o->kw < 1 || o->kw > HND_HEAD_MAX_KERNEL)
            return hh_err(err, errlen, "%s: op %d (%s): kernel %dx%d out of 1..%d", name, i, kn, o->kh, o->kw,
                          HND_HEAD_MAX_KERNEL);
        if (o->stride < 1 || o->stride > HND_HEAD_MAX_STRIDE)
            return hh_err(err, errlen, "%s: op %d (%s): stride %d out of 1..%d", name, i, kn, o->stride,
                          HND_HEAD_MAX_STRIDE);
        int kmin = o->kh < o->kw ? o->kh : o->kw;
        /* maxpool: every window must hold one real element (torch: pad <= k/2) */
        int pmax = o->kind == HND_HEAD_MAXPOOL ? kmin / 2 : kmin - 1;
        if (o->pad < 0 || o->pad > pmax)
            return hh_err(err, errlen, "%s: op %d (%s): pad %d out of 0..%d for kernel %dx%d", name, i, kn, o->pad,
                          pmax, o->kh, o->kw);
    }
    if (o->cin != *ch)
        return hh_err(err, errlen, "%s: op %d (%s): takes %d channels but gets %d", name, i, kn, o->cin, *ch);
    *ch = o->cout;
    if (o->kind == HND_HEAD_CONV)
        *floats += (uint64_t)o->cout * (uint64_t)o->cin * (uint64_t)o->kh * (uint64_t)o->kw +
                   (o->has_bias ? (uint64_t)o->cout : 0u);
    return 0;
}

/* Packs conv op i's weights [cout][K] into [ceil(cout/MR)][K][MR]. */
static int hh_pack(hnd_head *h, int i, const unsigned char *w, const unsigned char *b, const char *name, char *err,
                   size_t errlen) {
    const hnd_head_op *o = &h->ops[i];
    size_t K = (size_t)o->cin * (size_t)o->kh * (size_t)o->kw;
    size_t nb = ((size_t)o->cout + HH_MR - 1) / HH_MR;
    h->wpack[i] = (float *)calloc(nb * K * HH_MR, sizeof(float));
    h->bias[i] = (float *)calloc((size_t)o->cout, sizeof(float));
    if (!h->wpack[i] || !h->bias[i])
        return hh_err(err, errlen, "%s: op %d: out of memory for %d x %zu weights", name, i, o->cout, K);
    for (int co = 0; co < o->cout; co++) {
        float *dst = h->wpack[i] + (size_t)(co / HH_MR) * K * HH_MR + (size_t)(co % HH_MR);
        const unsigned char *src = w + (size_t)co * K * 4;
        for (size_t k = 0; k < K; k++) {
            float v = rdf32(src + 4 * k);
            if (!isfinite(v))
                return hh_err(err, errlen, "%s: op %d (conv): weight [%d][%zu] is not finite", name, i, co, k);
            dst[k * HH_MR] = v;
        }
        if (b) {
            float v = rdf32(b + 4 * (size_t)co);
            if (!isfinite(v)) return hh_err(err, errlen, "%s: op %d (conv): bias [%d] is not finite", name, i, co);
            h->bias[i][co] = v;
        }
    }
    return 0;
}

int hnd_head_load_memory(const void *data, size_t size, const char *name, hnd_head **out, char *err,
                         size_t errlen) {
    const unsigned char *p = (const unsigned char *)data;
    if (out) *out = NULL;
    if (err && errlen) err[0] = '\0';
    if (!name) name = "head";
    if (!out || (!data && size)) return hh_err(err, errlen, "%s: bad arguments", name);
    if (size < HND_HEAD_HEADER_BYTES + 4)
        return hh_err(err, errlen, "%s: %zu bytes, too short for a head file (header %d bytes): truncated?", name,
                      size, HND_HEAD_HEADER_BYTES);
    if (memcmp(p, HND_HEAD_MAGIC, 8) != 0)
        return hh_err(err, errlen, "%s: not a head file (magic is not \"%s\")", name, HND_HEAD_MAGIC);
    uint32_t version = rd32(p + 8);
    if (version != HND_HEAD_VERSION)
        return hh_err(err, errlen, "%s: version %u, this runtime reads version %d", name, (unsigned)version,
                      HND_HEAD_VERSION);
    uint32_t in_ch = rd32(p + 12), ch = rd32(p + 16), bits = rd32(p + 20), sdiv = rd32(p + 64),
             n_ops = rd32(p + 68);
    uint64_t pfloats = rd64(p + 72);
    if (in_ch != 3) return hh_err(err, errlen, "%s: in_channels %u, expected 3 (RGB)", name, (unsigned)in_ch);
    if (ch < 1 || ch > HND_HEAD_MAX_CHANNELS)
        return hh_err(err, errlen, "%s: channels %u out of 1..%d", name, (unsigned)ch, HND_HEAD_MAX_CHANNELS);
    if (bits != 8 && bits != 16 && bits != 32)
        return hh_err(err, errlen, "%s: bits %u, expected 8, 16 or 32", name, (unsigned)bits);
    if (sdiv < 1 || sdiv > 1024)
        return hh_err(err, errlen, "%s: size_divisible %u out of 1..1024", name, (unsigned)sdiv);
    if (n_ops < 1 || n_ops > HND_HEAD_MAX_OPS)
        return hh_err(err, errlen, "%s: n_ops %u out of 1..%d", name, (unsigned)n_ops, HND_HEAD_MAX_OPS);
    for (int i = 80; i < HND_HEAD_HEADER_BYTES; i++)
        if (p[i]) return hh_err(err, errlen, "%s: reserved header byte %d is not zero", name, i);
    float mean[3], stdv[3];
    for (int c = 0; c < 3; c++) {
        mean[c] = rdf32(p + 24 + 4 * c);
        stdv[c] = rdf32(p + 36 + 4 * c);
        if (!isfinite(mean[c])) return hh_err(err, errlen, "%s: mean[%d] is not finite", name, c);
        if (!isfinite(stdv[c]) || !(stdv[c] > 0.0f))
            return hh_err(err, errlen, "%s: std[%d] = %g, expected a positive number", name, c, (double)stdv[c]);
    }
    double min_size = rdf64(p + 48), max_size = rdf64(p + 56);
    if (!(min_size >= 1.0 && min_size <= HND_HEAD_MAX_SIDE) || !(max_size >= 1.0 && max_size <= HND_HEAD_MAX_SIDE))
        return hh_err(err, errlen, "%s: min_size %g / max_size %g out of 1..%d", name, min_size, max_size,
                      HND_HEAD_MAX_SIDE);
    if (pfloats > HND_HEAD_MAX_FLOATS)
        return hh_err(err, errlen, "%s: payload_floats %llu over the limit %llu", name, (unsigned long long)pfloats,
                      (unsigned long long)HND_HEAD_MAX_FLOATS);
    /* exact length: header, ops, payload, CRC (no overflow: all bounded) */
    uint64_t want = (uint64_t)HND_HEAD_HEADER_BYTES + (uint64_t)n_ops * HND_HEAD_OP_BYTES + 4u * pfloats + 4u;
    if ((uint64_t)size != want)
        return hh_err(err, errlen, "%s: %zu bytes but its header (%u ops, %llu floats) says %llu: %s", name, size,
                      (unsigned)n_ops, (unsigned long long)pfloats, (unsigned long long)want,
                      (uint64_t)size < want ? "truncated" : "trailing bytes");
    uint32_t crc = hnd_head_crc32(0, p, size - 4), stored = rd32(p + size - 4);
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION /* fuzzing: let mutations past the CRC */
    if (crc != stored)
        return hh_err(err, errlen, "%s: checksum mismatch (CRC-32 stored %08x, computed %08x): the file is corrupt",
                      name, (unsigned)stored, (unsigned)crc);
#else
    (void)crc;
    (void)stored;
#endif
    hnd_head *h = (hnd_head *)calloc(1, sizeof *h);
    if (!h) return hh_err(err, errlen, "%s: out of memory", name);
#ifdef HND_HEAD_THREADS
    h->ws_lock_ok = pthread_mutex_init(&h->ws_lock, NULL) == 0;   /* else every run allocates */
#endif
    snprintf(h->name, sizeof h->name, "%s", name);
    h->in_channels = (int)in_ch;
    h->channels = (int)ch;
    h->bits = (int)bits;
    h->n_ops = (int)n_ops;
    h->size_divisible = (int)sdiv;
    h->min_size = min_size;
    h->max_size = max_size;
    memcpy(h->mean, mean, sizeof mean);
    memcpy(h->std, stdv, sizeof stdv);
    int cur = (int)in_ch;
    uint64_t floats = 0;
    for (int i = 0; i < h->n_ops; i++) {
        const unsigned char *q = p + HND_HEAD_HEADER_BYTES + (size_t)i * HND_HEAD_OP_BYTES;
        uint32_t f[8];
        for (int j = 0; j < 8; j++) {
            f[j] = rd32(q + 4 * j);
            if (f[j] > 0x7FFFFFFFu) {
                hnd_head_free(h);
                return hh_err(err, errlen, "%s: op %d: field %d is %u (negative or huge)", name, i, j, (unsigned)f[j]);
            }
        }
        hnd_head_op *o = &h->ops[i];
        o->kind = (int)f[0];
        o->cin = (int)f[1];
        o->cout = (int)f[2];
        o->kh = (int)f[3];
        o->kw = (int)f[4];
        o->stride = (int)f[5];
        o->pad = (int)f[6];
        o->has_bias = (int)f[7];
        if (hh_check_op(o, i, &cur, &floats, name, err, errlen) != 0) {
            hnd_head_free(h);
            return -1;
        }
        if (floats > pfloats) {
            hnd_head_free(h);
            return hh_err(err, errlen, "%s: op %d needs more floats than payload_floats %llu", name, i,
                          (unsigned long long)pfloats);
        }
    }
    if (floats != pfloats) {
        hnd_head_free(h);
        return hh_err(err, errlen, "%s: the ops take %llu floats but payload_floats is %llu", name,
                      (unsigned long long)floats, (unsigned long long)pfloats);
    }
    if (cur != (int)ch) {
        hnd_head_free(h);
        return hh_err(err, errlen, "%s: the last op gives %d channels but the header says channels %u", name, cur,
                      (unsigned)ch);
    }
    const unsigned char *w = p + HND_HEAD_HEADER_BYTES + (size_t)n_ops * HND_HEAD_OP_BYTES;
    for (int i = 0; i < h->n_ops; i++) {
        const hnd_head_op *o = &h->ops[i];
        if (o->kind != HND_HEAD_CONV) continue;
        size_t nw = (size_t)o->cout * (size_t)o->cin * (size_t)o->kh * (size_t)o->kw;
        const unsigned char *b = o->has_bias ? w + 4 * nw : NULL;
        if (hh_pack(h, i, w, b, name, err, errlen) != 0) {
            hnd_head_free(h);
            return -1;
        }
        w += 4 * (nw + (o->has_bias ? (size_t)o->cout : 0));
    }
    *out = h;
    return 0;
}

int hnd_head_load(const char *path, hnd_head **out, char *err, size_t errlen) {
    if (out) *out = NULL;
    if (!path || !out) return hh_err(err, errlen, "hnd_head_load: bad arguments");
    FILE *f = fopen(path, "rb");
    if (!f) return hh_err(err, errlen, "%s: cannot open", path);
    /* read in chunks (no fseek/ftell: works on pipes, no size limits of long) */
    size_t cap = 1 << 16, n = 0;
    const size_t limit = (size_t)HND_HEAD_HEADER_BYTES + (size_t)HND_HEAD_MAX_OPS * HND_HEAD_OP_BYTES +
                         (size_t)(4 * HND_HEAD_MAX_FLOATS) + 4;
    unsigned char *buf = (unsigned char *)malloc(cap);
    while (buf) {
        if (n == cap) {
            if (cap > limit) break;
            unsigned char *nb = (unsigned char *)realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    int rerr = ferror(f);
    fclose(f);
    if (!buf) return hh_err(err, errlen, "%s: out of memory reading the file", path);
    if (rerr) {
        free(buf);
        return hh_err(err, errlen, "%s: read error", path);
    }
    if (n > limit) {
        free(buf);
        return hh_err(err, errlen, "%s: larger than any head file can be (%zu bytes)", path, limit);
    }
    int rc = hnd_head_load_memory(buf, n, path, out, err, errlen);
    free(buf);
    return rc;
}

int hnd_head_bits(const hnd_head *h) { return h ? h->bits : 0; }
int hnd_head_channels(const hnd_head *h) { return h ? h->channels : 0; }
int hnd_head_in_channels(const hnd_head *h) { return h ? h->in_channels : 0; }
int hnd_head_num_ops(const hnd_head *h) { return h ? h->n_ops : 0; }

const hnd_head_op *hnd_head_get_op(const hnd_head *h, int i) {
    return h && i >= 0 && i < h->n_ops ? &h->ops[i] : NULL;
}

void hnd_head_transform(const hnd_head *h, float mean[3], float std[3], double *min_size, double *max_size,
                        int *size_divisible) {
    if (!h) return;
    for (int c = 0; c < 3; c++) {
        if (mean) mean[c] = h->mean[c];
        if (std) std[c] = h->std[c];
    }
    if (min_size) *min_size = h->min_size;
    if (max_size) *max_size = h->max_size;
    if (size_divisible) *size_divisible = h->size_divisible;
}

/* Spatial size after each op; 0 / -1 + err. */
static int hh_shapes(const hnd_head *h, int H, int W, int *hs, int *ws, char *err, size_t errlen) {
    if (H < 1 || W < 1 || H > HND_HEAD_MAX_SIDE || W > HND_HEAD_MAX_SIDE)
        return hh_err(err, errlen, "%s: input %dx%d out of 1..%d", h->name, H, W, HND_HEAD_MAX_SIDE);
    for (int i = 0; i < h->n_ops; i++) {
        const hnd_head_op *o = &h->ops[i];
        if (o->kind != HND_HEAD_RELU) {
            int a = H + 2 * o->pad - o->kh, b = W + 2 * o->pad - o->kw;
            if (a < 0 || b < 0)
                return hh_err(err, errlen, "%s: input %dx%d is too small for op %d (%s %dx%d pad %d)", h->name,
                              hs ? hs[0] : H, ws ? ws[0] : W, i, hh_kind_name(o->kind), o->kh, o->kw, o->pad);
            H = a / o->stride + 1;
            W = b / o->stride + 1;
        }
        if (hs) hs[i + 1] = H;
        if (ws) ws[i + 1] = W;
    }
    return 0;
}

int hnd_head_output_shape(const hnd_head *h, int H, int W, int *c, int *oh, int *ow, char *err, size_t errlen) {
    int hs[HND_HEAD_MAX_OPS + 1], ws[HND_HEAD_MAX_OPS + 1];
    if (!h) return hh_err(err, errlen, "hnd_head_output_shape: NULL head");
    hs[0] = H;
    ws[0] = W;
    if (hh_shapes(h, H, W, hs, ws, err, errlen) != 0) return -1;
    if (c) *c = h->channels;
    if (oh) *oh = hs[h->n_ops];
    if (ow) *ow = ws[h->n_ops];
    return 0;
}

/* ------------------------------------------------------------------ */
/* threads                                                             */

static int hh_threads = 0;   /* 0: not set yet (all online processors) */

static int hh_online(void) {
#ifdef HND_HEAD_THREADS
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (int)n;
#else
    return 1;
#endif
}

int hnd_head_set_threads(int n) {
#ifdef HND_HEAD_THREADS
    hh_threads = n < 1 ? hh_online() : n > 256 ? 256 : n;
#else
    (void)n;
    hh_threads = 1;
#endif
    return hh_threads;
}

int hnd_head_get_threads(void) {
    if (hh_threads < 1) hh_threads = hh_online();
    return hh_threads;
}

typedef void (*hh_task_fn)(void *ctx, int part, int nparts);

typedef struct {
    hh_task_fn fn;
    void *ctx;
    int part, nparts;
} hh_task;

#ifdef HND_HEAD_THREADS
static void *hh_thread_main(void *arg) {
    hh_task *t = (hh_task *)arg;
    t->fn(t->ctx, t->part, t->nparts);
    return NULL;
}
#endif

/* fn(ctx, p, n) for p = 0..n-1, n = min(threads, parts), on threads; the
 * caller's thread does part 0. Falls back to running the parts in turn
 * when a thread cannot start (the results are the same). */
static void hh_parallel(hh_task_fn fn, void *ctx, int parts) {
    int n = hnd_head_get_threads();
    if (n > parts) n = parts;
    if (n < 1) n = 1;
#ifdef HND_HEAD_THREADS
    if (n > 1) {
        pthread_t tid[256];
        hh_task task[256];
        int started[256];
        for (int p = 1; p < n; p++) {
            task[p].fn = fn;
            task[p].ctx = ctx;
            task[p].part = p;
            task[p].nparts = n;
            started[p] = pthread_create(&tid[p], NULL, hh_thread_main, &task[p]) == 0;
        }
        fn(ctx, 0, n);
        for (int p = 1; p < n; p++) {
            if (started[p]) pthread_join(tid[p], NULL);
            else fn(ctx, p, n);
        }
        return;
    }
#endif
    for (int p = 0; p < n; p++) fn(ctx, p, n);
}

/* ------------------------------------------------------------------ */
/* convolution: im2col tiles + an MR x NR register kernel               */

typedef struct {
    const hnd_head *h;
    int op;
    const float *in;
    float *out;
    int ih, iw, oh, ow;
    int relu;          /* fused ReLU after the bias */
    size_t K, N, nt;   /* K = cin kh kw, N = oh ow, nt positions per tile (multiple of NR) */
    size_t ntiles;
    int oom;           /* a worker could not get its buffer */
} hh_conv;

/* acc[r][j] = sum over k of w[k][r] * c[k][j], k = 0, 1, ..., K-1 in order.
 * With dst (vector builds, a tile of NR positions): dst[r * N + j] =
 * that sum + bias[r], ReLU'd when relu, for r < rows, instead of acc. */
static void hh_kernel(size_t K, const float *w, const float *c, float acc[HH_MR][HH_NR], const float *bias, int rows,
                      int relu, float *dst, size_t N) {
#if HH_VEC
    hh_v a0[HH_MR], a1[HH_MR];
    for (int r = 0; r < HH_MR; r++) a0[r] = a1[r] = HH_SPLAT(0.0f);
    for (size_t k = 0; k < K; k++) {
        hh_v c0 = *(const hh_vu *)(c), c1 = *(const hh_vu *)(c + HH_VW);
        for (int r = 0; r < HH_MR; r++) {
            const float ws = w[r];
            hh_v wr = HH_SPLAT(ws);
            hh_v p0 = c0 * wr, p1 = c1 * wr;
            a0[r] = a0[r] + p0;
            a1[r] = a1[r] + p1;
        }
        w += HH_MR;
        c += HH_NR;
    }
    if (dst) {
        /* a full tile: bias, the fused ReLU (0 unless > 0, so NaN -> 0 as
         * in the scalar epilogue) and the stores on vectors */
        const hh_v zero = HH_SPLAT(0.0f);
        for (int r = 0; r < rows; r++) {
            const float bs = bias[r];
            hh_v b = HH_SPLAT(bs);
            hh_v v0 = a0[r] + b, v1 = a1[r] + b;
            if (relu) {
                v0 = (hh_v)((hh_vi)v0 & (hh_vi)(v0 > zero));
                v1 = (hh_v)((hh_vi)v1 & (hh_vi)(v1 > zero));
            }
            *(hh_vu *)(dst + (size_t)r * N) = v0;
            *(hh_vu *)(dst + (size_t)r * N + HH_VW) = v1;
        }
        return;
    }
    for (int r = 0; r < HH_MR; r++)
        for (int j = 0; j < HH_VW; j++) {
            acc[r][j] = a0[r][j];
            acc[r][j + HH_VW] = a1[r][j];
        }
#else
    (void)bias, (void)rows, (void)relu, (void)dst, (void)N;
    for (int r = 0; r < HH_MR; r++)
        for (int j = 0; j < HH_NR; j++) acc[r][j] = 0.0f;
    for (size_t k = 0; k < K; k++) {
        for (int r = 0; r < HH_MR; r++) {
            float wr = w[r];
            for (int j = 0; j < HH_NR; j++) {
                float p = c[j] * wr;
                acc[r][j] = acc[r][j] + p;
            }
        }
        w += HH_MR;
        c += HH_NR;
    }
#endif
}

/* Packs positions n0..n0+nt-1 of the conv's im2col matrix as
 * col[nt/NR][K][NR] (zeros past N and in the padding). A block of NR
 * positions on one output row (the usual case) copies NR inputs per
 * (channel, ky, kx); a block that wraps a row goes position by position. */
static void hh_im2col(const hh_conv *cv, size_t n0, float *col) {
    const hnd_head_op *o = &cv->h->ops[cv->op];
    const int kh = o->kh, kw = o->kw, s = o->stride, pad = o->pad, ih = cv->ih, iw = cv->iw;
    const size_t K = cv->K;
    for (size_t jb = 0; jb < cv->nt / HH_NR; jb++) {
        float *blk = col + jb * K * HH_NR;
        size_t nb0 = n0 + jb * HH_NR;
        int oy = (int)(nb0 / (size_t)cv->ow), ox = (int)(nb0 % (size_t)cv->ow);
        if (nb0 + HH_NR <= cv->N && ox + HH_NR <= cv->ow) {
            int y0 = oy * s - pad, x0 = ox * s - pad;
            float *dst = blk;
            for (int ci = 0; ci < o->cin; ci++) {
                const float *plane = cv->in + (size_t)ci * (size_t)ih * (size_t)iw;
                for (int ky = 0; ky < kh; ky++) {
                    int y = y0 + ky;
                    if (y < 0 || y >= ih) {
                        for (int k = 0; k < kw * HH_NR; k++) dst[k] = 0.0f;
                        dst += kw * HH_NR;
                        continue;
                    }
                    const float *row = plane + (size_t)y * (size_t)iw;
                    for (int kx = 0; kx < kw; kx++, dst += HH_NR) {
                        int xa = x0 + kx, xb = xa + (HH_NR - 1) * s;
                        if (xa >= 0 && xb < iw) {
                            const float *src = row + xa;
                            if (s == 1)
                                for (int j = 0; j < HH_NR; j++) dst[j] = src[j];
                            else
                                for (int j = 0; j < HH_NR; j++) dst[j] = src[j * s];
                        } else {
                            for (int j = 0; j < HH_NR; j++) {
                                int x = xa + j * s;
                                dst[j] = (x >= 0 && x < iw) ? row[x] : 0.0f;
                            }
                        }
                    }
                }
            }
            continue;
        }
        for (size_t j = 0; j < HH_NR; j++) {
            float *dst = blk + j;
            size_t n = nb0 + j;
            if (n >= cv->N) {
                for (size_t k = 0; k < K; k++) dst[k * HH_NR] = 0.0f;
                continue;
            }
            int py = (int)(n / (size_t)cv->ow), px = (int)(n % (size_t)cv->ow);
            int y0 = py * s - pad, x0 = px * s - pad;
            size_t k = 0;
            for (int ci = 0; ci < o->cin; ci++) {
                const float *plane = cv->in + (size_t)ci * (size_t)ih * (size_t)iw;
                for (int ky = 0; ky < kh; ky++) {
                    int y = y0 + ky;
                    for (int kx = 0; kx < kw; kx++, k++) {
                        int x = x0 + kx;
                        dst[k * HH_NR] = (y >= 0 && y < ih && x >= 0 && x < iw) ? plane[(size_t)y * (size_t)iw + (size_t)x] : 0.0f;
                    }
                }
            }
        }
    }
}

static void hh_conv_part(void *ctx, int part, int nparts) {
    hh_conv *cv = (hh_conv *)ctx;
    const hnd_head_op *o = &cv->h->ops[cv->op];
    const float *wp = cv->h->wpack[cv->op], *bias = cv->h->bias[cv->op];
    size_t t0 = cv->ntiles * (size_t)part / (size_t)nparts, t1 = cv->ntiles * (size_t)(part + 1) / (size_t)nparts;
    if (t0 >= t1) return;
    float *col = (float *)malloc(cv->K * cv->nt * sizeof(float));
    if (!col) {
        cv->oom = 1;   /* benign race: every writer stores 1 */
        return;
    }
    const size_t K = cv->K, N = cv->N, nb = ((size_t)o->cout + HH_MR - 1) / HH_MR;
    float acc[HH_MR][HH_NR];
    for (size_t t = t0; t < t1; t++) {
        size_t n0 = t * cv->nt;
        hh_im2col(cv, n0, col);
        for (size_t b = 0; b < nb; b++) {
            const float *wb = wp + b * K * HH_MR;
            int rows = o->cout - (int)(b * HH_MR);
            if (rows > HH_MR) rows = HH_MR;
            for (size_t jb = 0; jb < cv->nt / HH_NR; jb++) {
                size_t nbase = n0 + jb * HH_NR;
                if (nbase >= N) break;
                size_t cols = N - nbase < HH_NR ? N - nbase : HH_NR;
                if (HH_VEC && cols == HH_NR) {
                    hh_kernel(K, wb, col + jb * K * HH_NR, acc, bias + b * HH_MR, rows, cv->relu,
                              cv->out + b * HH_MR * N + nbase, N);
                    continue;
                }
                hh_kernel(K, wb, col + jb * K * HH_NR, acc, NULL, 0, 0, NULL, 0);
                for (int r = 0; r < rows; r++) {
                    int co = (int)(b * HH_MR) + r;
                    float bv = bias[co];
                    float *dst = cv->out + (size_t)co * N + nbase;
                    for (size_t j = 0; j < cols; j++) {
                        float v = acc[r][j] + bv;
                        dst[j] = cv->relu && !(v > 0.0f) ? 0.0f : v;
                    }
                }
            }
        }
    }
    free(col);
}

/* ------------------------------------------------------------------ */
/* max pooling, ReLU                                                   */

typedef struct {
    const hnd_head_op *o;
    const float *in;
    float *out;
    int ih, iw, oh, ow;
} hh_pool;

static void hh_pool_part(void *ctx, int part, int nparts) {
    hh_pool *p = (hh_pool *)ctx;
    const hnd_head_op *o = p->o;
    int c0 = o->cin * part / nparts, c1 = o->cin * (part + 1) / nparts;
    for (int c = c0; c < c1; c++) {
        const float *plane = p->in + (size_t)c * (size_t)p->ih * (size_t)p->iw;
        float *dst = p->out + (size_t)c * (size_t)p->oh * (size_t)p->ow;
        /* output columns whose window lies inside the row: no clipping */
        const int s = o->stride, kw = o->kw;
        int in0 = (o->pad + s - 1) / s, in1 = p->iw - kw + o->pad < 0 ? 0 : (p->iw - kw + o->pad) / s + 1;
        if (in0 > p->ow) in0 = p->ow;
        if (in1 > p->ow) in1 = p->ow;
        if (in1 < in0) in1 = in0;
        for (int oy = 0; oy < p->oh; oy++) {
            int ya = oy * o->stride - o->pad, yb = ya + o->kh;
            if (ya < 0) ya = 0;
            if (yb > p->ih) yb = p->ih;
            float *drow = dst + (size_t)oy * (size_t)p->ow;
            /* the interior, a row at a time with the output column innermost
             * (branch-free, vectorizable): each output still sees the same
             * comparisons in the same order (y, then x) as the clipped loop
             * below. Per pixel with branches it took a sixth of the head. */
            for (int ox = in0; ox < in1; ox++) drow[ox] = -INFINITY;
            for (int y = ya; y < yb; y++) {
                const float *r = plane + (size_t)y * (size_t)p->iw;
                for (int x = 0; x < kw; x++) {
                    const float *rx = r + x - o->pad;
                    for (int ox = in0; ox < in1; ox++) {
                        float v = rx[(size_t)ox * (size_t)s], m = drow[ox];
                        drow[ox] = (v > m || v != v) ? v : m;   /* NaN propagates, as in torch */
                    }
                }
            }
            /* the borders: columns 0..in0-1 and in1..ow-1, clipped */
            for (int ox = in0 > 0 ? 0 : in1; ox < p->ow; ox = ox + 1 == in0 ? in1 : ox + 1) {
                int xa = ox * o->stride - o->pad, xb = xa + o->kw;
                if (xa < 0) xa = 0;
                if (xb > p->iw) xb = p->iw;
                float m = -INFINITY;
                for (int y = ya; y < yb; y++)
                    for (int x = xa; x < xb; x++) {
                        float v = plane[(size_t)y * (size_t)p->iw + (size_t)x];
                        if (v > m || v != v) m = v;   /* NaN propagates, as in torch */
                    }
                dst[(size_t)oy * (size_t)p->ow + (size_t)ox] = m;
            }
        }
    }
}

/* ------------------------------------------------------------------ */
/* run                                                                 */

static double hh_now_ms(void) {
#if defined(CLOCK_MONOTONIC)
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) == 0) return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
#endif
    return (double)clock() * 1e3 / CLOCKS_PER_SEC;
}

/* The 8-bit quantizer of hnd_head.h on x[0..n-1]. */
static int hh_quantize8(const hnd_head *h, const float *x, size_t n, hnd_head_output *out, char *err,
                        size_t errlen) {
    float mn = x[0], mx = x[0];
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        if (!isfinite(v)) return hh_err(err, errlen, "%s: the head's output has non-finite values", h->name);
        if (v < mn) mn = v;
        if (v > mx) mx = v;
    }
    volatile float scale;   /* keep float32 (FLT_EVAL_METHOD) */
    if (mn == mx) scale = mx != 0.0f ? fabsf(mx) : 1.0f;
    else scale = (mx - mn) / 255.0f;
    float s = scale;
    float md = mn / s;
    float izp = 0.0f - md;
    float zpf = izp < 0.0f ? 0.0f : izp > 255.0f ? 255.0f : izp;
    int zp = (int)truncf(zpf);
    float zpv = (float)zp;
    for (size_t i = 0; i < n; i++) {
        float t = x[i] / s;
        t = t + zpv;
        t = t < 0.0f ? 0.0f : t > 255.0f ? 255.0f : t;
        /* round half to even: the default rounding mode of nearbyintf */
        float r = floorf(t), d = t - r;
        if (d > 0.5f || (d == 0.5f && fmodf(r, 2.0f) != 0.0f)) r += 1.0f;
        out->q[i] = (uint8_t)r;
    }
    out->scale = s;
    out->zero_point = zp;
    return 0;
}

int hnd_head_run(const hnd_head *h, const float *chw, int H, int W, hnd_head_output *out, char *err, size_t errlen) {
    double t_start = hh_now_ms();
    if (!h || !chw || !out) return hh_err(err, errlen, "hnd_head_run: NULL argument");
    if ((h->bits == 8 && !out->q) || (h->bits == 16 && !out->half) || (h->bits == 32 && !out->f))
        return hh_err(err, errlen, "%s: no output buffer for %d bits", h->name, h->bits);
    int hs[HND_HEAD_MAX_OPS + 1], ws[HND_HEAD_MAX_OPS + 1];
    hs[0] = H;
    ws[0] = W;
    if (hh_shapes(h, H, W, hs, ws, err, errlen) != 0) return -1;
    /* two ping-pong buffers, each as large as the largest activation */
    size_t maxe = 1;
    int ch = h->in_channels;
    for (int i = 0; i < h->n_ops; i++) {
        ch = h->ops[i].cout;
        size_t e = (size_t)ch * (size_t)hs[i + 1] * (size_t)ws[i + 1];
        if (e > maxe) maxe = e;
    }
    float *buf[2] = {NULL, NULL};
    int own = 1;   /* buf[0] (both halves) is this run's, freed at the end */
#ifdef HND_HEAD_THREADS
    hnd_head *hw = (hnd_head *)h;   /* the workspace is the only state a run changes */
    if (hw->ws_lock_ok && pthread_mutex_trylock(&hw->ws_lock) == 0) {
        if (hw->ws_floats < 2 * maxe) {
            free(hw->ws);
            hw->ws = (float *)malloc(2 * maxe * sizeof(float));
            hw->ws_floats = hw->ws ? 2 * maxe : 0;
        }
        if (hw->ws) {
            buf[0] = hw->ws;
            own = 0;
        } else {
            pthread_mutex_unlock(&hw->ws_lock);
        }
    }
#endif
    if (own) buf[0] = (float *)malloc(2 * maxe * sizeof(float));
    if (!buf[0]) return hh_err(err, errlen, "%s: out of memory for %zu activations", h->name, 2 * maxe);
    buf[1] = buf[0] + maxe;
    const float *cur = chw;
    int which = 0, rc = 0;
    for (int i = 0; i < h->n_ops && rc == 0; i++) {
        const hnd_head_op *o = &h->ops[i];
        float *dst = buf[which];
        if (o->kind == HND_HEAD_CONV) {
            hh_conv cv;
            memset(&cv, 0, sizeof cv);
            cv.h = h;
            cv.op = i;
            cv.in = cur;
            cv.out = dst;
            cv.ih = hs[i];
            cv.iw = ws[i];
            cv.oh = hs[i + 1];
            cv.ow = ws[i + 1];
            cv.relu = i + 1 < h->n_ops && h->ops[i + 1].kind == HND_HEAD_RELU;
            cv.K = (size_t)o->cin * (size_t)o->kh * (size_t)o->kw;
            cv.N = (size_t)cv.oh * (size_t)cv.ow;
            /* a tile's packed columns ~ 128 KiB */
            size_t nt = ((size_t)32768 / cv.K) / HH_NR * HH_NR;
            if (nt < HH_NR) nt = HH_NR;
            if (nt > 512) nt = 512;
            cv.nt = nt;
            cv.ntiles = (cv.N + nt - 1) / nt;
            hh_parallel(hh_conv_part, &cv, cv.ntiles > 1024 ? 1024 : (int)cv.ntiles);
#ifdef HH_PROFILE
            fprintf(stderr, "op %d conv K %zu N %zu cout %d: %.1f ms\n", i, cv.K, cv.N, o->cout, hh_now_ms() - t_start);
#endif
            if (cv.oom) rc = hh_err(err, errlen, "%s: op %d (conv): out of memory", h->name, i);
            if (cv.relu) i++;   /* fused */
        } else if (o->kind == HND_HEAD_MAXPOOL) {
            hh_pool p = {o, cur, dst, hs[i], ws[i], hs[i + 1], ws[i + 1]};
            hh_parallel(hh_pool_part, &p, o->cin);
#ifdef HH_PROFILE
            fprintf(stderr, "op %d max pool: %.1f ms\n", i, hh_now_ms() - t_start);
#endif
        } else {
            size_t e = (size_t)o->cin * (size_t)hs[i] * (size_t)ws[i];
            for (size_t k = 0; k < e; k++) dst[k] = cur[k] > 0.0f ? cur[k] : (cur[k] != cur[k] ? cur[k] : 0.0f);
        }
        cur = dst;
        which ^= 1;
    }
    size_t n = (size_t)h->channels * (size_t)hs[h->n_ops] * (size_t)ws[h->n_ops];
    if (rc == 0) {
        if (h->bits == 8) rc = hh_quantize8(h, cur, n, out, err, errlen);
        else if (h->bits == 16)
            for (size_t k = 0; k < n; k++) out->half[k] = hnd_head_float_to_half(cur[k]);
        else memcpy(out->f, cur, n * sizeof(float));
    }
    if (own) free(buf[0]);
#ifdef HND_HEAD_THREADS
    else pthread_mutex_unlock(&hw->ws_lock);
#endif
    out->ms = hh_now_ms() - t_start;
    return rc;
}

/* ------------------------------------------------------------------ */
/* the R-CNN transform                                                 */

/* torchvision's scale, in float32 as torch computes it. */
static double hh_scale(int h, int w, double min_size, double max_size) {
    volatile float lo = (float)(h < w ? h : w), hi = (float)(h < w ? w : h);
    volatile float r_lo = 1.0f / lo, r_hi = 1.0f / hi;
    volatile float s_lo = r_lo * (float)min_size, s_hi = r_hi * (float)max_size;
    return (double)(s_lo < s_hi ? s_lo : s_hi);
}

/* Source indices and weights of one axis (ATen's upsample_bilinear2d,
 * align_corners false, the scale recomputed from the sizes). */
static void hh_axis(int in, int outn, int *i0, int *i1, float *l0, float *l1) {
    volatile float ratio = (float)in / (float)outn;
    for (int d = 0; d < outn; d++) {
        if (in == outn) {
            i0[d] = i1[d] = d;
            l0[d] = 1.0f;
            l1[d] = 0.0f;
            continue;
        }
        volatile float src = ratio * ((float)d + 0.5f);
        float s = src - 0.5f;
        if (s < 0.0f) s = 0.0f;
        int a = (int)s;
        i0[d] = a;
        i1[d] = a + (a < in - 1 ? 1 : 0);
        float l = s - (float)a;
        l = l < 0.0f ? 0.0f : l > 1.0f ? 1.0f : l;
        l1[d] = l;
        l0[d] = 1.0f - l;
    }
}

int hnd_head_prepare(const hnd_head *h, const uint8_t *rgb, int height, int width, float **out, int *H, int *W,
                     char *err, size_t errlen) {
    if (out) *out = NULL;
    if (!h || !rgb || !out || !H || !W) return hh_err(err, errlen, "hnd_head_prepare: NULL argument");
    if (height < 1 || width < 1 || height > 65536 || width > 65536)
        return hh_err(err, errlen, "hnd_head_prepare: image %dx%d out of 1..65536", width, height);
    double s = hh_scale(height, width, h->min_size, h->max_size);
    double fh = floor((double)height * s), fw = floor((double)width * s);
    if (fh < 1 || fw < 1 || fh > HND_HEAD_MAX_SIDE || fw > HND_HEAD_MAX_SIDE)
        return hh_err(err, errlen, "hnd_head_prepare: image %dx%d resized to min/max size %g/%g would be %.0fx%.0f",
                      width, height, h->min_size, h->max_size, fw, fh);
    int oh = (int)fh, ow = (int)fw, d = h->size_divisible;
    int ph = (oh + d - 1) / d * d, pw = (ow + d - 1) / d * d;
    size_t plane = (size_t)ph * (size_t)pw, src_plane = (size_t)height * (size_t)width;
    float *x = (float *)calloc(3 * plane, sizeof(float));
    float *norm = (float *)malloc(src_plane * sizeof(float));
    int *i0 = (int *)malloc(sizeof(int) * (size_t)(oh + ow) * 2);
    float *l = (float *)malloc(sizeof(float) * (size_t)(oh + ow) * 2);
    if (!x || !norm || !i0 || !l) {
        free(x);
        free(norm);
        free(i0);
        free(l);
        return hh_err(err, errlen, "hnd_head_prepare: out of memory for %dx%d", pw, ph);
    }
    int *y0 = i0, *y1 = i0 + oh, *x0 = i0 + 2 * oh, *x1 = x0 + ow;
    float *ly0 = l, *ly1 = l + oh, *lx0 = l + 2 * oh, *lx1 = lx0 + ow;
    hh_axis(height, oh, y0, y1, ly0, ly1);
    hh_axis(width, ow, x0, x1, lx0, lx1);
    for (int c = 0; c < 3; c++) {
        for (size_t k = 0; k < src_plane; k++) {
            float v = (float)rgb[3 * k + (size_t)c] / 255.0f;
            float t = v - h->mean[c];
            norm[k] = t / h->std[c];
        }
        float *dst = x + (size_t)c * plane;
        for (int yy = 0; yy < oh; yy++) {
            const float *ra = norm + (size_t)y0[yy] * (size_t)width, *rb = norm + (size_t)y1[yy] * (size_t)width;
            for (int xx = 0; xx < ow; xx++) {
                float a = ra[x0[xx]] * lx0[xx] + ra[x1[xx]] * lx1[xx];
                float b = rb[x0[xx]] * lx0[xx] + rb[x1[xx]] * lx1[xx];
                dst[(size_t)yy * (size_t)pw + (size_t)xx] = a * ly0[yy] + b * ly1[yy];
            }
        }
    }
    free(norm);
    free(i0);
    free(l);
    *out = x;
    *H = ph;
    *W = pw;
    return 0;
}
