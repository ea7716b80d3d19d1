/* wire.c: the split link's frames (wire.h). Every multi-byte field is
 * assembled byte by byte, so the code is right on any host byte order and
 * never reads through a misaligned pointer; every length read off the wire
 * is checked against what is actually there, in 64-bit arithmetic, before
 * it is used. */
#include "wire.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err_buf.h"

/* ---- errors ---- */


/* ---- little-endian bytes ---- */

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static void put64(uint8_t *p, uint64_t v) {
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | ((uint64_t)get32(p + 4) << 32); }

/* A float travels as its IEEE bit pattern; copying the 4 bytes of a
 * uint32_t is the one well-defined way to reinterpret them in C. */
static void putf(uint8_t *p, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    put32(p, u);
}
static float getf(const uint8_t *p) {
    uint32_t u = get32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}
/* Two's complement both ways without implementation-defined conversions. */
static uint64_t i64_bits(int64_t v) { return (uint64_t)v; }
static int64_t i64_from(uint64_t u) { return u <= INT64_MAX ? (int64_t)u : -(int64_t)(~u) - 1; }
static int32_t i32_from(uint32_t u) { return u <= INT32_MAX ? (int32_t)u : -(int32_t)(~u) - 1; }

/* ---- CRC-32 ---- */

/* Reflected polynomial 0xEDB88320, as zlib, Ethernet and PNG. The table is
 * built once on first use; pthread_once because the server's connection
 * threads may all ask at the same moment. */
static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
}

uint32_t wf_crc32(uint32_t crc, const void *data, size_t n) {
    pthread_once(&crc_once, crc_init);
    const uint8_t *p = (const uint8_t *)data;
    uint32_t c = crc ^ 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* ---- small helpers ---- */

size_t wf_dtype_size(int dtype) {
    switch (dtype) {
    case WF_U8: return 1;
    case WF_U8_RANS: return 1;
    case WF_F16: return 2;
    case WF_F32: return 4;
    case WF_EB_RANS: return 4;
    default: return 0;
    }
}

int wf_host_little_endian(void) {
    const uint32_t one = 1;
    uint8_t b[4];
    memcpy(b, &one, 4);
    return b[0] == 1;
}

const char *wf_type_name(int type) {
    switch (type) {
    case WF_HELLO: return "HELLO";
    case WF_HELLO_OK: return "HELLO_OK";
    case WF_BOTTLENECK: return "BOTTLENECK";
    case WF_IMAGE: return "IMAGE";
    case WF_DETECTIONS: return "DETECTIONS";
    case WF_ERROR: return "ERROR";
    case WF_BYE: return "BYE";
    default: return "?";
    }
}

/* The payload length each type may have: [min, max] before max_payload. */
static void type_lengths(int type, uint64_t *lo, uint64_t *hi) {
    *lo = 0;
    *hi = UINT32_MAX;
    switch (type) {
    case WF_HELLO:
    case WF_HELLO_OK: *lo = *hi = WF_HELLO_BYTES; break;
    case WF_BOTTLENECK: *lo = WF_BOTTLENECK_FIXED + 1; break;
    case WF_IMAGE: *lo = 13; break;
    case WF_DETECTIONS: *lo = WF_DETECTIONS_FIXED; break;
    case WF_ERROR: *lo = 8; *hi = 8 + WF_MAX_ERROR_MESSAGE; break;
    case WF_BYE: *hi = 0; break;
    default: break;
    }
}

/* ---- header ---- */

void wf_header_encode(const wf_header *h, uint8_t out[WF_HEADER_BYTES]) {
    memcpy(out, WF_MAGIC, 4);
    put16(out + 4, h->version);
    put16(out + 6, h->type);
    put64(out + 8, h->request_id);
    put32(out + 16, h->flags);
    put32(out + 20, h->payload_len);
    put32(out + 24, h->payload_crc);
    put32(out + 28, wf_crc32(0, out, 28));
}

int wf_header_decode(const uint8_t in[WF_HEADER_BYTES], uint32_t max_payload, wf_header *h, int *code, char *err,
                     size_t errlen) {
    int dummy;
    if (!code) code = &dummy;
    *code = WF_E_MALFORMED;
    memset(h, 0, sizeof *h);
    if (memcmp(in, WF_MAGIC, 4) != 0)
        return eb_fail(err, errlen, "frame header: bad magic %02x %02x %02x %02x (expected \"HNDL\")", in[0], in[1], in[2],
                    in[3]);
    uint16_t version = get16(in + 4);
    if (version != WF_VERSION) {
        *code = WF_E_VERSION;
        return eb_fail(err, errlen, "frame header: version %u (this build speaks version %d)", (unsigned)version,
                    WF_VERSION);
    }
    uint32_t crc = get32(in + 28), want = wf_crc32(0, in, 28);
    if (crc != want)
        return eb_fail(err, errlen, "frame header: header CRC-32 %08x, computed %08x (corrupt header)", (unsigned)crc,
                    (unsigned)want);
    h->version = version;
    h->type = get16(in + 6);
    h->request_id = get64(in + 8);
    h->flags = get32(in + 16);
    h->payload_len = get32(in + 20);
    h->payload_crc = get32(in + 24);
    if (h->type < WF_HELLO || h->type > WF_BYE)
        return eb_fail(err, errlen, "frame header: unknown type %u", (unsigned)h->type);
    if (h->flags != 0)
        return eb_fail(err, errlen, "frame header: flags %08x (reserved, must be 0)", (unsigned)h->flags);
    if (h->payload_len > max_payload) {
        *code = WF_E_TOO_LARGE;
        return eb_fail(err, errlen, "frame header: %s payload length %u over the limit %u", wf_type_name(h->type),
                    (unsigned)h->payload_len, (unsigned)max_payload);
    }
    uint64_t lo, hi;
    type_lengths(h->type, &lo, &hi);
    if (h->payload_len < lo || h->payload_len > hi) {
        if (lo == hi)
            return eb_fail(err, errlen, "frame header: %s payload length %u (must be %u)", wf_type_name(h->type),
                        (unsigned)h->payload_len, (unsigned)lo);
        return eb_fail(err, errlen, "frame header: %s payload length %u outside %u..%u", wf_type_name(h->type),
                    (unsigned)h->payload_len, (unsigned)lo, (unsigned)hi);
    }
    *code = 0;
    return 0;
}

int wf_payload_check(const wf_header *h, const uint8_t *payload, char *err, size_t errlen) {
    if (h->payload_len > 0 && !payload) return eb_fail(err, errlen, "payload: missing");
    uint32_t crc = wf_crc32(0, payload, h->payload_len);
    if (crc != h->payload_crc)
        return eb_fail(err, errlen, "payload: %s CRC-32 %08x, header says %08x (corrupt payload)", wf_type_name(h->type),
                    (unsigned)crc, (unsigned)h->payload_crc);
    return 0;
}

/* ---- encoding ---- */

/* A frame with room for plen payload bytes after the header; finish()
 * fills in the header once the payload is written. */
static uint8_t *frame_alloc(uint64_t plen, size_t *n, char *err, size_t errlen) {
    if (plen > UINT32_MAX) {
        eb_fail(err, errlen, "payload of %llu bytes does not fit the u32 length field", (unsigned long long)plen);
        return NULL;
    }
    uint8_t *f = (uint8_t *)malloc((size_t)plen + WF_HEADER_BYTES);
    if (!f) {
        eb_fail(err, errlen, "out of memory for a frame of %llu bytes", (unsigned long long)plen + WF_HEADER_BYTES);
        return NULL;
    }
    *n = (size_t)plen + WF_HEADER_BYTES;
    return f;
}

static uint8_t *finish(uint8_t *f, uint16_t type, uint64_t request_id, size_t n) {
    wf_header h = {WF_VERSION, type, request_id, 0, (uint32_t)(n - WF_HEADER_BYTES), 0};
    h.payload_crc = wf_crc32(0, f + WF_HEADER_BYTES, n - WF_HEADER_BYTES);
    wf_header_encode(&h, f);
    return f;
}

static int side_ok(uint32_t v) { return v >= 1 && v <= WF_MAX_DIM; }

static int check_hello(const wf_hello *p, char *err, size_t errlen) {
    if (p->bits != 8 && p->bits != 16 && p->bits != 32) return eb_fail(err, errlen, "HELLO: bits %u (8, 16 or 32)", (unsigned)p->bits);
    if (!side_ok(p->channels)) return eb_fail(err, errlen, "HELLO: channels %u outside 1..%d", (unsigned)p->channels, WF_MAX_DIM);
    return 0;
}

uint8_t *wf_encode_hello(uint16_t type, uint64_t request_id, const wf_hello *p, size_t *n) {
    if ((type != WF_HELLO && type != WF_HELLO_OK) || check_hello(p, NULL, 0) != 0) return NULL;
    uint8_t *f = frame_alloc(WF_HELLO_BYTES, n, NULL, 0);
    if (!f) return NULL;
    uint8_t *q = f + WF_HEADER_BYTES;
    memcpy(q, p->manifest_sha256, 32);
    put32(q + 32, p->bits);
    put32(q + 36, p->channels);
    return finish(f, type, request_id, *n);
}

/* What both the encoder and the decoder require of a bottleneck's fields
 * (the tensor's byte count is checked by each against its own length). */
static int check_bottleneck(const wf_bottleneck *p, char *err, size_t errlen) {
    if (wf_dtype_size(p->dtype) == 0) return eb_fail(err, errlen, "BOTTLENECK: unknown dtype %u", (unsigned)p->dtype);
    if (p->dtype == WF_U8 || p->dtype == WF_U8_RANS) {
        if (!isfinite(p->scale) || !(p->scale > 0.0f))
            return eb_fail(err, errlen, "BOTTLENECK: u8 scale %g (must be finite and > 0)", (double)p->scale);
    } else if (p->dtype == WF_EB_RANS) {
        /* offset 12 holds the tables' CRC, any value; scale stays 0 */
        if (p->zero_point != 0)
            return eb_fail(err, errlen, "BOTTLENECK: zero point %u for an entropy-coded tensor (must be 0)",
                           (unsigned)p->zero_point);
    } else {
        if (p->scale != 0.0f || signbit(p->scale))
            return eb_fail(err, errlen, "BOTTLENECK: scale %g for a float dtype (must be 0)", (double)p->scale);
        if (p->zero_point != 0)
            return eb_fail(err, errlen, "BOTTLENECK: zero point %u for a float dtype (must be 0)", (unsigned)p->zero_point);
    }
    const struct {
        const char *name;
        uint32_t v;
    } f[] = {{"C", p->c},
             {"h", p->h},
             {"w", p->w},
             {"original height", p->orig_h},
             {"original width", p->orig_w},
             {"resized height", p->resized_h},
             {"resized width", p->resized_w},
             {"padded height", p->padded_h},
             {"padded width", p->padded_w}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (!side_ok(f[i].v))
            return eb_fail(err, errlen, "BOTTLENECK: %s %u outside 1..%d", f[i].name, (unsigned)f[i].v, WF_MAX_DIM);
    if (p->resized_h > p->padded_h || p->resized_w > p->padded_w)
        return eb_fail(err, errlen, "BOTTLENECK: resized %ux%u larger than padded %ux%u", (unsigned)p->resized_h,
                    (unsigned)p->resized_w, (unsigned)p->padded_h, (unsigned)p->padded_w);
    if (p->h > p->padded_h || p->w > p->padded_w)
        return eb_fail(err, errlen, "BOTTLENECK: tensor %ux%u larger than the padded image %ux%u", (unsigned)p->h,
                    (unsigned)p->w, (unsigned)p->padded_h, (unsigned)p->padded_w);
    return 0;
}

/* C*h*w*element size; each factor <= 2^16 and the element <= 4, so at most
 * 2^50: no overflow in 64 bits. */
static uint64_t bottleneck_bytes(const wf_bottleneck *p) {
    return (uint64_t)p->c * p->h * p->w * wf_dtype_size(p->dtype);
}

/* The tensor's bytes fit its shape: exactly C*h*w elements, or for a coded
 * tensor a stream of 1 .. 2*C*h*w + 1024 bytes (link_codec's worst case is
 * below that). */
static int data_fits(const wf_bottleneck *p, uint64_t have) {
    uint64_t bytes = bottleneck_bytes(p);
    if (p->dtype == WF_U8_RANS) return have >= 1 && have <= 2 * bytes + 1024;
    if (p->dtype == WF_EB_RANS) return have >= WF_EB_MIN && have <= WF_EB_MAX((uint64_t)p->c * p->h * p->w);
    return have == bytes;
}

uint8_t *wf_encode_bottleneck(uint64_t request_id, const wf_bottleneck *p, size_t *n, char *err, size_t errlen) {
    if (check_bottleneck(p, err, errlen) != 0) return NULL;
    int coded = p->dtype == WF_U8_RANS || p->dtype == WF_EB_RANS;
    uint64_t bytes = coded ? p->data_bytes : bottleneck_bytes(p);
    if (!data_fits(p, p->data_bytes) || !p->data) {
        eb_fail(err, errlen, "BOTTLENECK: %zu data bytes for [1,%u,%u,%u] of %zu-byte elements (%llu expected)",
             p->data ? p->data_bytes : 0, (unsigned)p->c, (unsigned)p->h, (unsigned)p->w, wf_dtype_size(p->dtype),
             (unsigned long long)bytes);
        return NULL;
    }
    uint8_t *f = frame_alloc(WF_BOTTLENECK_FIXED + bytes, n, err, errlen);
    if (!f) return NULL;
    uint8_t *q = f + WF_HEADER_BYTES;
    put64(q, i64_bits(p->image_id));
    q[8] = p->dtype;
    q[9] = p->zero_point;
    put16(q + 10, 0);
    if (p->dtype == WF_EB_RANS) put32(q + 12, p->tables_crc);
    else putf(q + 12, p->scale);
    put32(q + 16, p->c);
    put32(q + 20, p->h);
    put32(q + 24, p->w);
    put32(q + 28, p->orig_h);
    put32(q + 32, p->orig_w);
    put32(q + 36, p->resized_h);
    put32(q + 40, p->resized_w);
    put32(q + 44, p->padded_h);
    put32(q + 48, p->padded_w);
    memcpy(q + WF_BOTTLENECK_FIXED, p->data, (size_t)bytes);
    return finish(f, WF_BOTTLENECK, request_id, *n);
}

uint8_t *wf_encode_image(uint64_t request_id, const wf_image *p, size_t *n, char *err, size_t errlen) {
    if (p->format != WF_JPEG) {
        eb_fail(err, errlen, "IMAGE: format %u (only WF_JPEG = %d)", (unsigned)p->format, WF_JPEG);
        return NULL;
    }
    if (p->data_bytes == 0 || !p->data) {
        eb_fail(err, errlen, "IMAGE: empty image");
        return NULL;
    }
    uint8_t *f = frame_alloc((uint64_t)12 + p->data_bytes, n, err, errlen);
    if (!f) return NULL;
    uint8_t *q = f + WF_HEADER_BYTES;
    put64(q, i64_bits(p->image_id));
    put32(q + 8, p->format);
    memcpy(q + 12, p->data, p->data_bytes);
    return finish(f, WF_IMAGE, request_id, *n);
}

/* pycocotools' compressed counts use the 64 characters 48..111. */
static int rle_char_ok(uint8_t c) { return c >= 48 && c <= 111; }

static int check_detection(const wf_detections *p, uint32_t i, char *err, size_t errlen) {
    const float *b = p->boxes + (size_t)i * 4;
    for (int j = 0; j < 4; j++)
        if (!isfinite(b[j])) return eb_fail(err, errlen, "DETECTIONS: detection %u: box coordinate %d not finite", (unsigned)i, j);
    if (!isfinite(p->scores[i])) return eb_fail(err, errlen, "DETECTIONS: detection %u: score not finite", (unsigned)i);
    if (p->labels[i] < 0) return eb_fail(err, errlen, "DETECTIONS: detection %u: label %d < 0", (unsigned)i, (int)p->labels[i]);
    return 0;
}

uint8_t *wf_encode_detections(uint64_t request_id, const wf_detections *p, size_t *n, char *err, size_t errlen) {
    if (p->has_masks > 1) {
        eb_fail(err, errlen, "DETECTIONS: has_masks %u (0 or 1)", (unsigned)p->has_masks);
        return NULL;
    }
    if (!isfinite(p->server_ms) || p->server_ms < 0.0f) {
        eb_fail(err, errlen, "DETECTIONS: server ms %g (finite, >= 0)", (double)p->server_ms);
        return NULL;
    }
    if (!side_ok(p->height) || !side_ok(p->width)) {
        eb_fail(err, errlen, "DETECTIONS: image %ux%u outside 1..%d", (unsigned)p->height, (unsigned)p->width, WF_MAX_DIM);
        return NULL;
    }
    if (p->k > 0 && (!p->boxes || !p->scores || !p->labels || (p->has_masks && !p->rle))) {
        eb_fail(err, errlen, "DETECTIONS: %u detections without their arrays", (unsigned)p->k);
        return NULL;
    }
    uint64_t plen = WF_DETECTIONS_FIXED + (uint64_t)p->k * WF_DETECTION_BYTES;
    for (uint32_t i = 0; i < p->k; i++) {
        if (check_detection(p, i, err, errlen) != 0) return NULL;
        if (!p->has_masks) continue;
        if (!p->rle[i]) {
            eb_fail(err, errlen, "DETECTIONS: detection %u: no mask", (unsigned)i);
            return NULL;
        }
        size_t L = strlen(p->rle[i]);
        if (L == 0 || L > UINT32_MAX) {
            eb_fail(err, errlen, "DETECTIONS: detection %u: mask string of %zu bytes", (unsigned)i, L);
            return NULL;
        }
        for (size_t j = 0; j < L; j++)
            if (!rle_char_ok((uint8_t)p->rle[i][j])) {
                eb_fail(err, errlen, "DETECTIONS: detection %u: mask string byte %zu (0x%02x) not COCO RLE", (unsigned)i, j,
                     (unsigned)(uint8_t)p->rle[i][j]);
                return NULL;
            }
        plen += 4 + (uint64_t)L;
        if (plen > UINT32_MAX) break;   /* frame_alloc says so */
    }
    uint8_t *f = frame_alloc(plen, n, err, errlen);
    if (!f) return NULL;
    uint8_t *q = f + WF_HEADER_BYTES;
    put64(q, i64_bits(p->image_id));
    put32(q + 8, p->k);
    put32(q + 12, p->has_masks ? 1u : 0u);
    putf(q + 16, p->server_ms);
    put32(q + 20, p->height);
    put32(q + 24, p->width);
    uint8_t *d = q + WF_DETECTIONS_FIXED;
    for (uint32_t i = 0; i < p->k; i++, d += WF_DETECTION_BYTES) {
        for (int j = 0; j < 4; j++) putf(d + 4 * j, p->boxes[(size_t)i * 4 + j]);
        putf(d + 16, p->scores[i]);
        put32(d + 20, (uint32_t)p->labels[i]);
    }
    if (p->has_masks)
        for (uint32_t i = 0; i < p->k; i++) {
            size_t L = strlen(p->rle[i]);
            put32(d, (uint32_t)L);
            memcpy(d + 4, p->rle[i], L);
            d += 4 + L;
        }
    return finish(f, WF_DETECTIONS, request_id, *n);
}

/* Length of the longest prefix of s, at most max bytes, that does not cut
 * a UTF-8 sequence (continuation bytes are 10xxxxxx). */
static size_t utf8_cut(const char *s, size_t len, size_t max) {
    if (len <= max) return len;
    size_t n = max;
    while (n > 0 && ((uint8_t)s[n] & 0xC0) == 0x80) n--;
    return n;
}

uint8_t *wf_encode_error(uint64_t request_id, uint32_t code, const char *message, size_t *n) {
    if (!message) message = "";
    size_t L = utf8_cut(message, strlen(message), WF_MAX_ERROR_MESSAGE);
    uint8_t *f = frame_alloc(8 + (uint64_t)L, n, NULL, 0);
    if (!f) return NULL;
    uint8_t *q = f + WF_HEADER_BYTES;
    put32(q, code ? code : WF_E_INTERNAL);
    put32(q + 4, (uint32_t)L);
    memcpy(q + 8, message, L);
    return finish(f, WF_ERROR, request_id, *n);
}

uint8_t *wf_encode_empty(uint16_t type, uint64_t request_id, size_t *n) {
    if (type != WF_BYE) return NULL;
    uint8_t *f = frame_alloc(0, n, NULL, 0);
    return f ? finish(f, type, request_id, *n) : NULL;
}

/* ---- decoding ---- */

int wf_decode_hello(const uint8_t *payload, size_t len, wf_hello *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (len != WF_HELLO_BYTES) return eb_fail(err, errlen, "HELLO: payload of %zu bytes (must be %d)", len, WF_HELLO_BYTES);
    memcpy(out->manifest_sha256, payload, 32);
    out->bits = get32(payload + 32);
    out->channels = get32(payload + 36);
    return check_hello(out, err, errlen);
}

int wf_decode_bottleneck(const uint8_t *payload, size_t len, wf_bottleneck *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (len < WF_BOTTLENECK_FIXED)
        return eb_fail(err, errlen, "BOTTLENECK: payload of %zu bytes, shorter than its %d-byte fixed part", len,
                    WF_BOTTLENECK_FIXED);
    out->image_id = i64_from(get64(payload));
    out->dtype = payload[8];
    out->zero_point = payload[9];
    uint16_t reserved = get16(payload + 10);
    if (out->dtype == WF_EB_RANS) out->tables_crc = get32(payload + 12);
    else out->scale = getf(payload + 12);
    out->c = get32(payload + 16);
    out->h = get32(payload + 20);
    out->w = get32(payload + 24);
    out->orig_h = get32(payload + 28);
    out->orig_w = get32(payload + 32);
    out->resized_h = get32(payload + 36);
    out->resized_w = get32(payload + 40);
    out->padded_h = get32(payload + 44);
    out->padded_w = get32(payload + 48);
    if (reserved != 0) return eb_fail(err, errlen, "BOTTLENECK: reserved field %u (must be 0)", (unsigned)reserved);
    if (check_bottleneck(out, err, errlen) != 0) return -1;
    uint64_t bytes = bottleneck_bytes(out), rest = len - WF_BOTTLENECK_FIXED;
    if (out->dtype == WF_U8_RANS && !data_fits(out, rest))
        return eb_fail(err, errlen, "BOTTLENECK: a coded [1,%u,%u,%u] tensor of %llu bytes (1..%llu)", (unsigned)out->c,
                    (unsigned)out->h, (unsigned)out->w, (unsigned long long)rest, (unsigned long long)(2 * bytes + 1024));
    if (out->dtype == WF_EB_RANS && !data_fits(out, rest))
        return eb_fail(err, errlen, "BOTTLENECK: an entropy-coded [1,%u,%u,%u] tensor of %llu bytes (%d..%llu)",
                       (unsigned)out->c, (unsigned)out->h, (unsigned)out->w, (unsigned long long)rest, WF_EB_MIN,
                       (unsigned long long)WF_EB_MAX((uint64_t)out->c * out->h * out->w));
    if (out->dtype == WF_U8_RANS || out->dtype == WF_EB_RANS) bytes = rest;
    if (bytes != rest)
        return eb_fail(err, errlen, "BOTTLENECK: [1,%u,%u,%u] of %zu-byte elements is %llu bytes, the payload holds %llu",
                    (unsigned)out->c, (unsigned)out->h, (unsigned)out->w, wf_dtype_size(out->dtype),
                    (unsigned long long)bytes, (unsigned long long)rest);
    out->data = payload + WF_BOTTLENECK_FIXED;
    out->data_bytes = (size_t)bytes;
    return 0;
}

int wf_decode_image(const uint8_t *payload, size_t len, wf_image *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (len < 13) return eb_fail(err, errlen, "IMAGE: payload of %zu bytes (at least 13: id, format, image)", len);
    out->image_id = i64_from(get64(payload));
    out->format = get32(payload + 8);
    if (out->format != WF_JPEG) return eb_fail(err, errlen, "IMAGE: format %u (only WF_JPEG = %d)", (unsigned)out->format, WF_JPEG);
    out->data = payload + 12;
    out->data_bytes = len - 12;
    return 0;
}

void wf_detections_clear(wf_detections *d) {
    if (!d) return;
    if (d->rle)
        for (uint32_t i = 0; i < d->k; i++) free(d->rle[i]);
    free(d->rle);
    free(d->boxes);
    free(d->scores);
    free(d->labels);
    memset(d, 0, sizeof *d);
}

int wf_decode_detections(const uint8_t *payload, size_t len, wf_detections *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (len < WF_DETECTIONS_FIXED)
        return eb_fail(err, errlen, "DETECTIONS: payload of %zu bytes, shorter than its %d-byte fixed part", len,
                    WF_DETECTIONS_FIXED);
    int64_t image_id = i64_from(get64(payload));
    uint32_t k = get32(payload + 8), flags = get32(payload + 12);
    float ms = getf(payload + 16);
    uint32_t height = get32(payload + 20), width = get32(payload + 24);
    if (flags > 1) return eb_fail(err, errlen, "DETECTIONS: flags %08x (only bit 0, masks, is defined)", (unsigned)flags);
    if (!isfinite(ms) || ms < 0.0f) return eb_fail(err, errlen, "DETECTIONS: server ms %g (finite, >= 0)", (double)ms);
    if (!side_ok(height) || !side_ok(width))
        return eb_fail(err, errlen, "DETECTIONS: image %ux%u outside 1..%d", (unsigned)height, (unsigned)width, WF_MAX_DIM);
    /* K comes off the wire: 24K in 64 bits (no wrap), and each detection
     * with a mask needs 4 more bytes at least, so a K the payload cannot
     * hold is refused before anything is allocated for it. */
    uint64_t rest = len - WF_DETECTIONS_FIXED;
    uint64_t need = (uint64_t)k * (WF_DETECTION_BYTES + (flags ? 4u : 0u));
    if (need > rest)
        return eb_fail(err, errlen, "DETECTIONS: %u detections%s need at least %llu bytes, the payload holds %llu",
                    (unsigned)k, flags ? " with masks" : "", (unsigned long long)need, (unsigned long long)rest);
    if (!flags && need != rest)
        return eb_fail(err, errlen, "DETECTIONS: %llu bytes after %u detections (the payload must end there)",
                    (unsigned long long)(rest - need), (unsigned)k);
    out->image_id = image_id;
    out->server_ms = ms;
    out->height = height;
    out->width = width;
    out->has_masks = flags;
    if (k > 0) {
        out->boxes = (float *)malloc((size_t)k * 4 * sizeof(float));
        out->scores = (float *)malloc((size_t)k * sizeof(float));
        out->labels = (int32_t *)malloc((size_t)k * sizeof(int32_t));
        if (flags) out->rle = (char **)calloc(k, sizeof(char *));
        /* k is set only once the arrays exist, so clear() frees exactly what
         * is there (rle entries not yet filled are NULL). */
        out->k = k;
        if (!out->boxes || !out->scores || !out->labels || (flags && !out->rle)) {
            wf_detections_clear(out);
            return eb_fail(err, errlen, "DETECTIONS: out of memory for %u detections", (unsigned)k);
        }
    }
    const uint8_t *d = payload + WF_DETECTIONS_FIXED;
    for (uint32_t i = 0; i < k; i++, d += WF_DETECTION_BYTES) {
        for (int j = 0; j < 4; j++) out->boxes[(size_t)i * 4 + j] = getf(d + 4 * j);
        out->scores[i] = getf(d + 16);
        out->labels[i] = i32_from(get32(d + 20));
        if (check_detection(out, i, err, errlen) != 0) {
            wf_detections_clear(out);
            return -1;
        }
    }
    if (flags) {
        const uint8_t *end = payload + len;
        for (uint32_t i = 0; i < k; i++) {
            /* 4 bytes per remaining mask were reserved by the K check above,
             * so this length is always there; check anyway, it is cheap. */
            if ((size_t)(end - d) < 4) {
                wf_detections_clear(out);
                return eb_fail(err, errlen, "DETECTIONS: mask %u: length cut off", (unsigned)i);
            }
            uint32_t L = get32(d);
            d += 4;
            size_t left = (size_t)(end - d);
            /* the masks after this one need their 4-byte lengths too */
            size_t later = (size_t)(k - 1 - i) * 4;
            if (L == 0 || (uint64_t)L + later > left) {
                wf_detections_clear(out);
                return eb_fail(err, errlen, "DETECTIONS: mask %u: length %u (1..%zu bytes remain for it)", (unsigned)i,
                            (unsigned)L, left >= later ? left - later : 0);
            }
            for (uint32_t j = 0; j < L; j++)
                if (!rle_char_ok(d[j])) {
                    uint8_t c = d[j];
                    wf_detections_clear(out);
                    return eb_fail(err, errlen, "DETECTIONS: mask %u: byte %u (0x%02x) not COCO RLE", (unsigned)i,
                                (unsigned)j, (unsigned)c);
                }
            out->rle[i] = (char *)malloc((size_t)L + 1);
            if (!out->rle[i]) {
                wf_detections_clear(out);
                return eb_fail(err, errlen, "DETECTIONS: out of memory for mask %u", (unsigned)i);
            }
            memcpy(out->rle[i], d, L);
            out->rle[i][L] = '\0';
            d += L;
        }
        if (d != end) {
            size_t extra = (size_t)(end - d);
            wf_detections_clear(out);
            return eb_fail(err, errlen, "DETECTIONS: %zu bytes after the last mask (the payload must end there)", extra);
        }
    }
    return 0;
}

int wf_decode_error(const uint8_t *payload, size_t len, wf_error *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (len < 8) return eb_fail(err, errlen, "ERROR: payload of %zu bytes (at least 8: code, length)", len);
    uint32_t code = get32(payload), L = get32(payload + 4);
    if (code == 0) return eb_fail(err, errlen, "ERROR: code 0");
    if (L > WF_MAX_ERROR_MESSAGE) return eb_fail(err, errlen, "ERROR: message length %u over %d", (unsigned)L, WF_MAX_ERROR_MESSAGE);
    if ((uint64_t)L != (uint64_t)len - 8)
        return eb_fail(err, errlen, "ERROR: message length %u, the payload holds %zu", (unsigned)L, len - 8);
    if (memchr(payload + 8, 0, L)) return eb_fail(err, errlen, "ERROR: message contains a NUL byte");
    out->code = code;
    memcpy(out->message, payload + 8, L);
    out->message[L] = '\0';
    return 0;
}
