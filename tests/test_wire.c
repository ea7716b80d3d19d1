/* test_wire.c: the split link's wire format (infer/wire.c) and its sockets
 * (infer/net_io.c). Expectations are independent of the code under test:
 * the CRC-32 check value of the standard, headers written out byte by byte
 * (their CRCs from Python's zlib.crc32), and for every message type a
 * decoder that must refuse every truncation, every damaged byte and every
 * out-of-range field, with a message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "hnd_error.h"
#include "net_io.h"
#include "wire.h"

#define LIMIT (1u << 24)

/* ---- helpers ---- */

static void put32le(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Recompute both CRCs of a frame after a test edited it on purpose, so that
 * the field under test, not a CRC, is what the decoder must catch. */
static void reseal(uint8_t *f, size_t n) {
    put32le(f + 24, wf_crc32(0, f + WF_HEADER_BYTES, n - WF_HEADER_BYTES));
    put32le(f + 28, wf_crc32(0, f, 28));
}

/* The whole receive path on a buffer: header, exact length, CRC, then the
 * type's decoder. 0 when the frame is accepted. */
static int parse_frame(const uint8_t *f, size_t n, char *err, size_t errlen) {
    wf_header h;
    int code = 0;
    if (n < WF_HEADER_BYTES) {
        snprintf(err, errlen, "short");
        return -1;
    }
    if (wf_header_decode(f, LIMIT, &h, &code, err, errlen) != 0) return -1;
    if (h.payload_len != n - WF_HEADER_BYTES) {
        snprintf(err, errlen, "length");
        return -1;
    }
    const uint8_t *p = f + WF_HEADER_BYTES;
    if (wf_payload_check(&h, p, err, errlen) != 0) return -1;
    size_t len = h.payload_len;
    switch (h.type) {
    case WF_HELLO:
    case WF_HELLO_OK: {
        wf_hello o;
        return wf_decode_hello(p, len, &o, err, errlen);
    }
    case WF_BOTTLENECK: {
        wf_bottleneck o;
        return wf_decode_bottleneck(p, len, &o, err, errlen);
    }
    case WF_IMAGE: {
        wf_image o;
        return wf_decode_image(p, len, &o, err, errlen);
    }
    case WF_DETECTIONS: {
        wf_detections o;
        int r = wf_decode_detections(p, len, &o, err, errlen);
        wf_detections_clear(&o);
        return r;
    }
    case WF_ERROR: {
        wf_error o;
        return wf_decode_error(p, len, &o, err, errlen);
    }
    default: return 0;
    }
}

static wf_hello sample_hello(void) {
    wf_hello h;
    for (int i = 0; i < 32; i++) h.manifest_sha256[i] = (uint8_t)(i * 7 + 1);
    h.bits = 8;
    h.channels = 12;
    return h;
}

static uint8_t tensor[2 * 3 * 4 * 4];

static wf_bottleneck sample_bottleneck(int dtype) {
    wf_bottleneck b;
    memset(&b, 0, sizeof b);
    b.image_id = -123456789012345LL;
    b.dtype = (uint8_t)dtype;
    b.zero_point = dtype == WF_U8 ? 17 : 0;
    b.scale = dtype == WF_U8 ? 0.125f : 0.0f;
    b.c = 2;
    b.h = 3;
    b.w = 4;
    b.orig_h = 480;
    b.orig_w = 640;
    b.resized_h = 600;
    b.resized_w = 800;
    b.padded_h = 608;
    b.padded_w = 800;
    for (size_t i = 0; i < sizeof tensor; i++) tensor[i] = (uint8_t)(i * 13 + 5);
    b.data = tensor;
    b.data_bytes = (size_t)2 * 3 * 4 * wf_dtype_size(dtype);
    return b;
}

static const uint8_t jpeg[] = {0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 0xFF, 0xD9};

static float boxes[3 * 4] = {1.5f, 2.5f, 30.0f, 40.0f, 0, 0, 639, 479, -1.0f, 5.0f, 6.0f, 7.25f};
static float scores[3] = {0.9f, 0.5f, 0.05f};
static int32_t labels[3] = {1, 90, 0};
static char rle0[] = "0o1", rle1[] = "PQ5o", rle2[] = "a";
static char *rles[3] = {rle0, rle1, rle2};

static wf_detections sample_detections(int masks) {
    wf_detections d;
    memset(&d, 0, sizeof d);
    d.image_id = 397133;
    d.k = 3;
    d.has_masks = (uint32_t)masks;
    d.server_ms = 12.5f;
    d.height = 480;
    d.width = 640;
    d.boxes = boxes;
    d.scores = scores;
    d.labels = labels;
    d.rle = masks ? rles : NULL;
    return d;
}

/* One valid frame of each kind, for the generic damage tests. */
enum { NSAMPLES = 11 };
static uint8_t *make_sample(int i, size_t *n) {
    char err[256];
    wf_hello h = sample_hello();
    switch (i) {
    case 0: return wf_encode_hello(WF_HELLO, 1, &h, n);
    case 1: return wf_encode_hello(WF_HELLO_OK, 1, &h, n);
    case 2: {
        wf_bottleneck b = sample_bottleneck(WF_U8);
        return wf_encode_bottleneck(2, &b, n, err, sizeof err);
    }
    case 3: {
        wf_bottleneck b = sample_bottleneck(WF_F16);
        return wf_encode_bottleneck(3, &b, n, err, sizeof err);
    }
    case 4: {
        wf_bottleneck b = sample_bottleneck(WF_F32);
        return wf_encode_bottleneck(4, &b, n, err, sizeof err);
    }
    case 5: {
        wf_image im = {77, WF_JPEG, jpeg, sizeof jpeg};
        return wf_encode_image(5, &im, n, err, sizeof err);
    }
    case 6: {
        wf_detections d = sample_detections(0);
        return wf_encode_detections(6, &d, n, err, sizeof err);
    }
    case 7: {
        wf_detections d = sample_detections(1);
        return wf_encode_detections(7, &d, n, err, sizeof err);
    }
    case 8: {
        wf_detections d = sample_detections(0);
        d.k = 0;
        return wf_encode_detections(8, &d, n, err, sizeof err);
    }
    case 9: return wf_encode_error(9, WF_E_MISMATCH, "manifest differs", n);
    default: return wf_encode_empty(WF_BYE, 10, n);
    }
}

/* ---- CRC and header bytes ---- */

static void test_crc32(void **state) {
    (void)state;
    assert_int_equal(wf_crc32(0, "123456789", 9), 0xCBF43926u);
    assert_int_equal(wf_crc32(0, "", 0), 0);
    /* chaining is the CRC of the concatenation */
    assert_int_equal(wf_crc32(wf_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
    /* "The quick brown fox jumps over the lazy dog": zlib.crc32 = 0x414fa339 */
    const char *fox = "The quick brown fox jumps over the lazy dog";
    assert_int_equal(wf_crc32(0, fox, strlen(fox)), 0x414FA339u);
}

static void test_header_bytes(void **state) {
    (void)state;
    /* ERROR code 4 "hi", request id 0x0102030405060708, written out by hand;
     * the CRCs are zlib.crc32's */
    static const uint8_t want[] = {
        'H', 'N', 'D', 'L', 0x01, 0x00, 0x06, 0x00,                   /* magic, version 1, type 6 */
        0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,               /* request id, little-endian */
        0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00,               /* flags, payload length 10 */
        0x54, 0x51, 0xe3, 0x3e, 0xee, 0x3f, 0xb9, 0x95,               /* payload CRC, header CRC */
        0x04, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 'h', 'i'};    /* code, length, message */
    size_t n = 0;
    uint8_t *f = wf_encode_error(0x0102030405060708ull, WF_E_TOO_LARGE, "hi", &n);
    assert_non_null(f);
    assert_int_equal(n, sizeof want);
    assert_memory_equal(f, want, sizeof want);
    free(f);

    /* BYE: empty payload, its CRC 0; header CRC 0x8e722610 */
    static const uint8_t bye[] = {'H', 'N', 'D', 'L', 1, 0, 7, 0, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0, 0, 0,
                                  0,   0,   0,   0,   0, 0, 0, 0, 0x10, 0x26, 0x72, 0x8e};
    f = wf_encode_empty(WF_BYE, 0x0102030405060708ull, &n);
    assert_non_null(f);
    assert_int_equal(n, sizeof bye);
    assert_memory_equal(f, bye, sizeof bye);
    wf_header h;
    int code = -1;
    char err[256];
    assert_int_equal(wf_header_decode(f, LIMIT, &h, &code, err, sizeof err), 0);
    assert_int_equal(h.type, WF_BYE);
    assert_int_equal(h.request_id, 0x0102030405060708ull);
    assert_int_equal(h.payload_len, 0);
    assert_int_equal(wf_payload_check(&h, NULL, err, sizeof err), 0);
    free(f);

    /* payload fields at their documented offsets: BOTTLENECK u8 */
    wf_bottleneck b = sample_bottleneck(WF_U8);
    f = wf_encode_bottleneck(0xAB, &b, &n, err, sizeof err);
    assert_non_null(f);
    assert_int_equal(n, WF_HEADER_BYTES + WF_BOTTLENECK_FIXED + 24);
    const uint8_t *p = f + WF_HEADER_BYTES;
    uint64_t id = (uint64_t)(int64_t)-123456789012345LL;
    for (int i = 0; i < 8; i++) assert_int_equal(p[i], (uint8_t)(id >> (8 * i)));
    assert_int_equal(p[8], WF_U8);
    assert_int_equal(p[9], 17);
    assert_int_equal(p[10] | p[11], 0);
    static const uint8_t eighth[4] = {0x00, 0x00, 0x00, 0x3e};   /* 0.125f = 0x3e000000 */
    assert_memory_equal(p + 12, eighth, 4);
    static const uint8_t dims[36] = {2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 0xe0, 1, 0, 0, 0x80, 2, 0, 0,
                                     0x58, 2, 0, 0, 0x20, 3, 0, 0, 0x60, 2, 0, 0, 0x20, 3, 0, 0};
    assert_memory_equal(p + 16, dims, 36);
    assert_memory_equal(p + 52, tensor, 24);
    free(f);
}

/* ---- round trips ---- */

static void test_roundtrip_hello(void **state) {
    (void)state;
    char err[256];
    wf_hello h = sample_hello(), o;
    for (int t = WF_HELLO; t <= WF_HELLO_OK; t++) {
        size_t n;
        uint8_t *f = wf_encode_hello((uint16_t)t, 99, &h, &n);
        assert_non_null(f);
        assert_int_equal(n, WF_HEADER_BYTES + WF_HELLO_BYTES);
        wf_header hd;
        int code;
        assert_int_equal(wf_header_decode(f, LIMIT, &hd, &code, err, sizeof err), 0);
        assert_int_equal(hd.type, t);
        assert_int_equal(hd.request_id, 99);
        assert_int_equal(wf_payload_check(&hd, f + 32, err, sizeof err), 0);
        assert_int_equal(wf_decode_hello(f + 32, hd.payload_len, &o, err, sizeof err), 0);
        assert_memory_equal(o.manifest_sha256, h.manifest_sha256, 32);
        assert_int_equal(o.bits, 8);
        assert_int_equal(o.channels, 12);
        free(f);
    }
    size_t n;
    assert_null(wf_encode_hello(WF_BYE, 1, &h, &n));
    h.bits = 12;
    assert_null(wf_encode_hello(WF_HELLO, 1, &h, &n));
}

static void test_roundtrip_bottleneck(void **state) {
    (void)state;
    char err[256];
    for (int dt = WF_U8; dt <= WF_F32; dt++) {
        wf_bottleneck b = sample_bottleneck(dt), o;
        size_t n;
        uint8_t *f = wf_encode_bottleneck(5, &b, &n, err, sizeof err);
        assert_non_null(f);
        assert_int_equal(parse_frame(f, n, err, sizeof err), 0);
        assert_int_equal(wf_decode_bottleneck(f + 32, n - 32, &o, err, sizeof err), 0);
        assert_int_equal(o.image_id, b.image_id);
        assert_int_equal(o.dtype, dt);
        assert_int_equal(o.zero_point, b.zero_point);
        assert_true(o.scale == b.scale);
        assert_int_equal(o.c, 2);
        assert_int_equal(o.h, 3);
        assert_int_equal(o.w, 4);
        assert_int_equal(o.orig_h, 480);
        assert_int_equal(o.orig_w, 640);
        assert_int_equal(o.resized_h, 600);
        assert_int_equal(o.resized_w, 800);
        assert_int_equal(o.padded_h, 608);
        assert_int_equal(o.padded_w, 800);
        assert_int_equal(o.data_bytes, b.data_bytes);
        assert_ptr_equal(o.data, f + 32 + WF_BOTTLENECK_FIXED);   /* not copied */
        assert_memory_equal(o.data, tensor, b.data_bytes);
        free(f);
    }
}

static void test_roundtrip_image(void **state) {
    (void)state;
    char err[256];
    wf_image im = {-5, WF_JPEG, jpeg, sizeof jpeg}, o;
    size_t n;
    uint8_t *f = wf_encode_image(6, &im, &n, err, sizeof err);
    assert_non_null(f);
    assert_int_equal(n, 32 + 12 + sizeof jpeg);
    assert_int_equal(parse_frame(f, n, err, sizeof err), 0);
    assert_int_equal(wf_decode_image(f + 32, n - 32, &o, err, sizeof err), 0);
    assert_int_equal(o.image_id, -5);
    assert_int_equal(o.format, WF_JPEG);
    assert_int_equal(o.data_bytes, sizeof jpeg);
    assert_memory_equal(o.data, jpeg, sizeof jpeg);
    free(f);
    im.format = 2;
    assert_null(wf_encode_image(6, &im, &n, err, sizeof err));
    assert_non_null(strstr(err, "format"));
    im.format = WF_JPEG;
    im.data_bytes = 0;
    assert_null(wf_encode_image(6, &im, &n, err, sizeof err));
}

static void test_roundtrip_detections(void **state) {
    (void)state;
    char err[256];
    for (int masks = 0; masks <= 1; masks++) {
        wf_detections d = sample_detections(masks), o;
        size_t n;
        uint8_t *f = wf_encode_detections(7, &d, &n, err, sizeof err);
        assert_non_null(f);
        size_t want = 32 + 28 + 3 * 24 + (masks ? 3 * 4 + 3 + 4 + 1 : 0);
        assert_int_equal(n, want);
        assert_int_equal(parse_frame(f, n, err, sizeof err), 0);
        assert_int_equal(wf_decode_detections(f + 32, n - 32, &o, err, sizeof err), 0);
        assert_int_equal(o.image_id, 397133);
        assert_int_equal(o.k, 3);
        assert_int_equal(o.has_masks, (uint32_t)masks);
        assert_true(o.server_ms == 12.5f);
        assert_int_equal(o.height, 480);
        assert_int_equal(o.width, 640);
        assert_memory_equal(o.boxes, boxes, sizeof boxes);
        assert_memory_equal(o.scores, scores, sizeof scores);
        assert_memory_equal(o.labels, labels, sizeof labels);
        if (masks) {
            assert_string_equal(o.rle[0], "0o1");
            assert_string_equal(o.rle[1], "PQ5o");
            assert_string_equal(o.rle[2], "a");
        } else {
            assert_null(o.rle);
        }
        wf_detections_clear(&o);
        assert_null(o.boxes);
        wf_detections_clear(&o);   /* twice is harmless */
        free(f);
    }
    /* none */
    wf_detections d = sample_detections(1), o;
    d.k = 0;
    size_t n;
    uint8_t *f = wf_encode_detections(8, &d, &n, err, sizeof err);
    assert_non_null(f);
    assert_int_equal(n, 32 + 28);
    assert_int_equal(wf_decode_detections(f + 32, n - 32, &o, err, sizeof err), 0);
    assert_int_equal(o.k, 0);
    assert_null(o.boxes);
    wf_detections_clear(&o);
    free(f);
}

static void test_roundtrip_error_bye(void **state) {
    (void)state;
    char err[256];
    size_t n;
    wf_error o;
    uint8_t *f = wf_encode_error(3, WF_E_BUSY, "too many connections", &n);
    assert_non_null(f);
    assert_int_equal(parse_frame(f, n, err, sizeof err), 0);
    assert_int_equal(wf_decode_error(f + 32, n - 32, &o, err, sizeof err), 0);
    assert_int_equal(o.code, WF_E_BUSY);
    assert_string_equal(o.message, "too many connections");
    free(f);

    /* NULL message, code 0 becomes INTERNAL */
    f = wf_encode_error(3, 0, NULL, &n);
    assert_non_null(f);
    assert_int_equal(wf_decode_error(f + 32, n - 32, &o, err, sizeof err), 0);
    assert_int_equal(o.code, WF_E_INTERNAL);
    assert_string_equal(o.message, "");
    free(f);

    /* a long message is cut at WF_MAX_ERROR_MESSAGE, never inside a UTF-8
     * character: 1023 'a' then "é" (2 bytes) leaves 1023 bytes */
    char *m = malloc(2000);
    memset(m, 'a', 1023);
    strcpy(m + 1023, "\xc3\xa9tail");
    f = wf_encode_error(3, WF_E_INTERNAL, m, &n);
    assert_non_null(f);
    assert_int_equal(n, 32 + 8 + 1023);
    assert_int_equal(wf_decode_error(f + 32, n - 32, &o, err, sizeof err), 0);
    assert_int_equal(strlen(o.message), 1023);
    free(f);
    memset(m, 'b', 1999);
    m[1999] = '\0';
    f = wf_encode_error(3, WF_E_INTERNAL, m, &n);
    assert_int_equal(n, 32 + 8 + WF_MAX_ERROR_MESSAGE);
    assert_int_equal(wf_decode_error(f + 32, n - 32, &o, err, sizeof err), 0);
    assert_int_equal(strlen(o.message), WF_MAX_ERROR_MESSAGE);
    free(f);
    free(m);

    f = wf_encode_empty(WF_BYE, 4, &n);
    assert_non_null(f);
    assert_int_equal(n, 32);
    assert_int_equal(parse_frame(f, n, err, sizeof err), 0);
    free(f);
    assert_null(wf_encode_empty(WF_HELLO, 4, &n));
}

/* ---- damage ---- */

static void test_truncation_every_offset(void **state) {
    (void)state;
    char err[256];
    for (int s = 0; s < NSAMPLES; s++) {
        size_t n;
        uint8_t *f = make_sample(s, &n);
        assert_non_null(f);
        assert_int_equal(parse_frame(f, n, err, sizeof err), 0);
        for (size_t cut = 0; cut < n; cut++) {
            /* a copy of exactly cut bytes: ASan catches any read past it */
            uint8_t *t = malloc(cut ? cut : 1);
            memcpy(t, f, cut);
            err[0] = '\0';
            if (parse_frame(t, cut, err, sizeof err) == 0) fail_msg("sample %d accepted cut at %zu of %zu", s, cut, n);
            assert_true(err[0] != '\0');
            free(t);
        }
        free(f);
    }
    /* the decoders alone, on payloads that carry their own lengths: any
     * shorter payload is refused */
    for (int s = 0; s < NSAMPLES; s++) {
        size_t n;
        uint8_t *f = make_sample(s, &n);
        size_t len = n - 32;
        int type = f[6];
        for (size_t cut = 0; cut < len; cut++) {
            uint8_t *t = malloc(cut ? cut : 1);
            memcpy(t, f + 32, cut);
            int r = 0;
            err[0] = '\0';
            if (type == WF_HELLO || type == WF_HELLO_OK) {
                wf_hello o;
                r = wf_decode_hello(t, cut, &o, err, sizeof err);
            } else if (type == WF_BOTTLENECK) {
                wf_bottleneck o;
                r = wf_decode_bottleneck(t, cut, &o, err, sizeof err);
            } else if (type == WF_DETECTIONS) {
                wf_detections o;
                r = wf_decode_detections(t, cut, &o, err, sizeof err);
                wf_detections_clear(&o);
            } else if (type == WF_ERROR) {
                wf_error o;
                r = wf_decode_error(t, cut, &o, err, sizeof err);
            } else if (type == WF_IMAGE && cut < 13) {
                wf_image o;
                r = wf_decode_image(t, cut, &o, err, sizeof err);
            } else {
                r = -1;   /* IMAGE's end is the header's length: covered above */
                err[0] = 'x';
            }
            if (r == 0) fail_msg("sample %d decoder accepted a payload cut at %zu of %zu", s, cut, len);
            assert_true(err[0] != '\0');
            free(t);
        }
        free(f);
    }
}

static void test_flipped_byte(void **state) {
    (void)state;
    char err[256];
    for (int s = 0; s < NSAMPLES; s++) {
        size_t n;
        uint8_t *f = make_sample(s, &n);
        for (size_t i = 0; i < n; i++)
            for (int bit = 0; bit < 8; bit++) {
                f[i] ^= (uint8_t)(1u << bit);
                if (parse_frame(f, n, err, sizeof err) == 0) fail_msg("sample %d accepted with byte %zu bit %d flipped", s, i, bit);
                f[i] ^= (uint8_t)(1u << bit);
            }
        /* a payload byte changed: the payload CRC is what catches it */
        if (n > 32) {
            f[n - 1] ^= 0x40;
            wf_header h;
            int code;
            assert_int_equal(wf_header_decode(f, LIMIT, &h, &code, err, sizeof err), 0);
            assert_int_equal(wf_payload_check(&h, f + 32, err, sizeof err), -1);
            assert_non_null(strstr(err, "CRC"));
        }
        free(f);
    }
}

/* A header with the given fields and a correct header CRC. */
static void raw_header(uint8_t *b, const char *magic, uint16_t version, uint16_t type, uint32_t flags, uint32_t len) {
    memcpy(b, magic, 4);
    b[4] = (uint8_t)version;
    b[5] = (uint8_t)(version >> 8);
    b[6] = (uint8_t)type;
    b[7] = (uint8_t)(type >> 8);
    memset(b + 8, 0x33, 8);
    put32le(b + 16, flags);
    put32le(b + 20, len);
    put32le(b + 24, 0);
    put32le(b + 28, wf_crc32(0, b, 28));
}

static void expect_header(const uint8_t *b, uint32_t max, int want_code, const char *word) {
    wf_header h;
    int code = 0;
    char err[256] = "";
    assert_int_equal(wf_header_decode(b, max, &h, &code, err, sizeof err), -1);
    assert_int_equal(code, want_code);
    if (!strstr(err, word)) fail_msg("message '%s' does not name '%s'", err, word);
}

static void test_header_fields(void **state) {
    (void)state;
    uint8_t b[32];
    raw_header(b, "HNDX", 1, WF_BYE, 0, 0);
    expect_header(b, LIMIT, WF_E_MALFORMED, "magic");
    raw_header(b, "HNDL", 2, WF_BYE, 0, 0);
    expect_header(b, LIMIT, WF_E_VERSION, "version");
    raw_header(b, "HNDL", 0, WF_BYE, 0, 0);
    expect_header(b, LIMIT, WF_E_VERSION, "version");
    raw_header(b, "HNDL", 1, 0, 0, 0);
    expect_header(b, LIMIT, WF_E_MALFORMED, "type");
    raw_header(b, "HNDL", 1, 8, 0, 0);
    expect_header(b, LIMIT, WF_E_MALFORMED, "type");
    raw_header(b, "HNDL", 1, 0xFFFF, 0, 0);
    expect_header(b, LIMIT, WF_E_MALFORMED, "type");
    raw_header(b, "HNDL", 1, WF_BYE, 1, 0);
    expect_header(b, LIMIT, WF_E_MALFORMED, "flags");
    /* header CRC */
    raw_header(b, "HNDL", 1, WF_BYE, 0, 0);
    b[29] ^= 1;
    expect_header(b, LIMIT, WF_E_MALFORMED, "CRC");
    /* lengths: 4 GB, just over the limit, and per type */
    raw_header(b, "HNDL", 1, WF_BOTTLENECK, 0, 0xFFFFFFFFu);
    expect_header(b, LIMIT, WF_E_TOO_LARGE, "limit");
    raw_header(b, "HNDL", 1, WF_IMAGE, 0, LIMIT + 1);
    expect_header(b, LIMIT, WF_E_TOO_LARGE, "limit");
    raw_header(b, "HNDL", 1, WF_IMAGE, 0, LIMIT);
    wf_header h;
    int code;
    char err[256];
    assert_int_equal(wf_header_decode(b, LIMIT, &h, &code, err, sizeof err), 0);
    raw_header(b, "HNDL", 1, WF_HELLO, 0, 41);
    expect_header(b, 0xFFFFFFFFu, WF_E_MALFORMED, "HELLO");
    raw_header(b, "HNDL", 1, WF_HELLO_OK, 0, 0xFFFFFFFFu);
    expect_header(b, 0xFFFFFFFFu, WF_E_MALFORMED, "HELLO_OK");
    raw_header(b, "HNDL", 1, WF_BYE, 0, 1);
    expect_header(b, LIMIT, WF_E_MALFORMED, "BYE");
    raw_header(b, "HNDL", 1, WF_ERROR, 0, 8 + WF_MAX_ERROR_MESSAGE + 1);
    expect_header(b, LIMIT, WF_E_MALFORMED, "ERROR");
    raw_header(b, "HNDL", 1, WF_BOTTLENECK, 0, WF_BOTTLENECK_FIXED);
    expect_header(b, LIMIT, WF_E_MALFORMED, "BOTTLENECK");
    raw_header(b, "HNDL", 1, WF_DETECTIONS, 0, WF_DETECTIONS_FIXED - 1);
    expect_header(b, LIMIT, WF_E_MALFORMED, "DETECTIONS");
}

/* Encode a sample, let edit() change its payload, reseal, expect refusal
 * naming word. */
static void expect_refused(int sample, void (*edit)(uint8_t *p, size_t *len), const char *word) {
    char err[256] = "";
    size_t n;
    uint8_t *f = make_sample(sample, &n);
    uint8_t *g = malloc(n + 64);
    memcpy(g, f, n);
    free(f);
    size_t len = n - 32;
    edit(g + 32, &len);
    put32le(g + 20, (uint32_t)len);
    reseal(g, 32 + len);
    /* the payload alone, in an exact-size buffer */
    uint8_t *p = malloc(len ? len : 1);
    memcpy(p, g + 32, len);
    int r = parse_frame(g, 32 + len, err, sizeof err);
    if (r == 0) fail_msg("sample %d: an edit expected to be refused ('%s') was accepted", sample, word);
    if (!strstr(err, word)) fail_msg("sample %d: message '%s' does not name '%s'", sample, err, word);
    free(p);
    free(g);
}

/* bottleneck edits (sample 2: u8, c2 h3 w4; sample 4: f32) */
static void e_dtype0(uint8_t *p, size_t *l) { (void)l; p[8] = 0; }
static void e_dtype6(uint8_t *p, size_t *l) { (void)l; p[8] = 6; }
static void e_reserved(uint8_t *p, size_t *l) { (void)l; p[11] = 1; }
static void e_scale(uint8_t *p, uint32_t bits) { put32le(p + 12, bits); }
static void e_scale_nan(uint8_t *p, size_t *l) { (void)l; e_scale(p, 0x7FC00000u); }
static void e_scale_inf(uint8_t *p, size_t *l) { (void)l; e_scale(p, 0x7F800000u); }
static void e_scale_zero(uint8_t *p, size_t *l) { (void)l; e_scale(p, 0); }
static void e_scale_neg(uint8_t *p, size_t *l) { (void)l; e_scale(p, 0xBF800000u); }
static void e_scale_f32(uint8_t *p, size_t *l) { (void)l; e_scale(p, 0x3F800000u); }
static void e_zp_f32(uint8_t *p, size_t *l) { (void)l; p[9] = 3; }
static void e_c0(uint8_t *p, size_t *l) { (void)l; put32le(p + 16, 0); }
static void e_w_big(uint8_t *p, size_t *l) { (void)l; put32le(p + 24, WF_MAX_DIM + 1); }
static void e_orig0(uint8_t *p, size_t *l) { (void)l; put32le(p + 28, 0); }
static void e_resized_gt_padded(uint8_t *p, size_t *l) { (void)l; put32le(p + 36, 609); }
static void e_h_gt_padded(uint8_t *p, size_t *l) {
    (void)l;
    put32le(p + 36, 2);   /* resized = padded height 2 < the tensor's h 3 */
    put32le(p + 44, 2);
}
static void e_extra_byte(uint8_t *p, size_t *l) { p[(*l)++] = 0; }
static void e_missing_byte(uint8_t *p, size_t *l) { (void)p; (*l)--; }
/* C*h*w wraps to 0 in 32 bits (65536*65536*1 u8) while no data follows */
static void e_count_wrap(uint8_t *p, size_t *l) {
    put32le(p + 16, 65536);
    put32le(p + 20, 65536);
    put32le(p + 24, 1);
    put32le(p + 44, 65536);
    put32le(p + 48, 65536);
    *l = WF_BOTTLENECK_FIXED + 1;
}

static void test_bottleneck_fields(void **state) {
    (void)state;
    expect_refused(2, e_dtype0, "dtype");
    expect_refused(2, e_dtype6, "dtype");
    expect_refused(2, e_reserved, "reserved");
    expect_refused(2, e_scale_nan, "scale");
    expect_refused(2, e_scale_inf, "scale");
    expect_refused(2, e_scale_zero, "scale");
    expect_refused(2, e_scale_neg, "scale");
    expect_refused(4, e_scale_f32, "scale");
    expect_refused(4, e_zp_f32, "zero point");
    expect_refused(2, e_c0, "C");
    expect_refused(2, e_w_big, "w");
    expect_refused(2, e_orig0, "original height");
    expect_refused(2, e_resized_gt_padded, "resized");
    expect_refused(2, e_h_gt_padded, "tensor");
    expect_refused(2, e_extra_byte, "bytes");
    expect_refused(4, e_missing_byte, "bytes");
    expect_refused(2, e_count_wrap, "bytes");

    /* the encoder refuses what the decoder would */
    char err[256];
    size_t n;
    wf_bottleneck b = sample_bottleneck(WF_F16);
    b.data_bytes--;
    assert_null(wf_encode_bottleneck(1, &b, &n, err, sizeof err));
    assert_non_null(strstr(err, "bytes"));
    b = sample_bottleneck(WF_U8);
    b.scale = NAN;
    assert_null(wf_encode_bottleneck(1, &b, &n, err, sizeof err));
    b = sample_bottleneck(WF_U8);
    b.resized_w = 801;
    assert_null(wf_encode_bottleneck(1, &b, &n, err, sizeof err));
}

/* detections edits (sample 6: no masks, k 3; sample 7: masks) */
static void e_k_plus(uint8_t *p, size_t *l) { (void)l; put32le(p + 8, 4); }
static void e_k_minus(uint8_t *p, size_t *l) { (void)l; put32le(p + 8, 2); }
/* 0x0AAAAAAB * 24 = 2^32 + 8: wraps to 8 in 32-bit arithmetic */
static void e_k_wrap(uint8_t *p, size_t *l) {
    put32le(p + 8, 0x0AAAAAABu);
    *l = WF_DETECTIONS_FIXED + 8;
}
static void e_k_max(uint8_t *p, size_t *l) { (void)l; put32le(p + 8, 0xFFFFFFFFu); }
/* with masks, 28K wraps as well: 0x09249249 * 28 = 2^32 + 4 */
static void e_k_wrap_masks(uint8_t *p, size_t *l) {
    put32le(p + 8, 0x09249249u);
    *l = WF_DETECTIONS_FIXED + 4;
}
static void e_flags2(uint8_t *p, size_t *l) { (void)l; put32le(p + 12, 2); }
static void e_ms_nan(uint8_t *p, size_t *l) { (void)l; put32le(p + 16, 0xFFC00000u); }
static void e_ms_neg(uint8_t *p, size_t *l) { (void)l; put32le(p + 16, 0xBF800000u); }
static void e_height0(uint8_t *p, size_t *l) { (void)l; put32le(p + 20, 0); }
static void e_width_big(uint8_t *p, size_t *l) { (void)l; put32le(p + 24, WF_MAX_DIM + 1); }
static void e_box_inf(uint8_t *p, size_t *l) { (void)l; put32le(p + 28 + 24 + 8, 0x7F800000u); }
static void e_score_nan(uint8_t *p, size_t *l) { (void)l; put32le(p + 28 + 48 + 16, 0x7FC00001u); }
static void e_label_neg(uint8_t *p, size_t *l) { (void)l; put32le(p + 28 + 20, 0xFFFFFFFFu); }
static void e_trailing(uint8_t *p, size_t *l) { p[(*l)++] = '0'; }
#define MASKS (28 + 3 * 24)
static void e_rle_len0(uint8_t *p, size_t *l) {
    /* first mask "0o1" becomes length 0 followed by its 3 bytes: refused */
    (void)l;
    put32le(p + MASKS, 0);
}
static void e_rle_len_big(uint8_t *p, size_t *l) { (void)l; put32le(p + MASKS, 0xFFFFFFF0u); }
static void e_rle_len_long(uint8_t *p, size_t *l) { (void)l; put32le(p + MASKS, 4); }
static void e_rle_char(uint8_t *p, size_t *l) { (void)l; p[MASKS + 4 + 1] = 'p'; }
static void e_rle_nul(uint8_t *p, size_t *l) { (void)l; p[MASKS + 4] = 0; }

static void test_detections_fields(void **state) {
    (void)state;
    expect_refused(6, e_k_plus, "detections");
    expect_refused(6, e_k_minus, "after");
    expect_refused(6, e_k_wrap, "detections");
    expect_refused(6, e_k_max, "detections");
    expect_refused(7, e_k_wrap_masks, "detections");
    expect_refused(7, e_k_max, "detections");
    expect_refused(6, e_flags2, "flags");
    expect_refused(6, e_ms_nan, "ms");
    expect_refused(6, e_ms_neg, "ms");
    expect_refused(6, e_height0, "image");
    expect_refused(6, e_width_big, "image");
    expect_refused(6, e_box_inf, "box");
    expect_refused(6, e_score_nan, "score");
    expect_refused(6, e_label_neg, "label");
    expect_refused(6, e_trailing, "after");
    expect_refused(7, e_trailing, "after the last mask");
    expect_refused(7, e_rle_len0, "mask 0");
    expect_refused(7, e_rle_len_big, "mask 0");
    expect_refused(7, e_rle_len_long, "mask");
    expect_refused(7, e_rle_char, "RLE");
    expect_refused(7, e_rle_nul, "RLE");

    char err[256];
    size_t n;
    wf_detections d = sample_detections(1);
    char bad[] = "ab c";
    char *r2[3] = {rle0, bad, rle2};
    d.rle = r2;
    assert_null(wf_encode_detections(1, &d, &n, err, sizeof err));
    assert_non_null(strstr(err, "RLE"));
    d = sample_detections(0);
    float nb[12];
    memcpy(nb, boxes, sizeof nb);
    nb[5] = NAN;
    d.boxes = nb;
    assert_null(wf_encode_detections(1, &d, &n, err, sizeof err));
    d = sample_detections(0);
    d.width = 0;
    assert_null(wf_encode_detections(1, &d, &n, err, sizeof err));
}

/* error / hello edits (sample 9: ERROR "manifest differs"; 0: HELLO) */
static void e_code0(uint8_t *p, size_t *l) { (void)l; put32le(p, 0); }
static void e_msglen_long(uint8_t *p, size_t *l) { (void)l; put32le(p + 4, 17); }
static void e_msglen_short(uint8_t *p, size_t *l) { (void)l; put32le(p + 4, 15); }
static void e_msglen_huge(uint8_t *p, size_t *l) { (void)l; put32le(p + 4, 0xFFFFFFFFu); }
static void e_msg_nul(uint8_t *p, size_t *l) { (void)l; p[8 + 3] = 0; }
static void e_bits(uint8_t *p, size_t *l) { (void)l; put32le(p + 32, 12); }
static void e_channels0(uint8_t *p, size_t *l) { (void)l; put32le(p + 36, 0); }

static void test_error_hello_fields(void **state) {
    (void)state;
    expect_refused(9, e_code0, "code");
    expect_refused(9, e_msglen_long, "length");
    expect_refused(9, e_msglen_short, "length");
    expect_refused(9, e_msglen_huge, "length");
    expect_refused(9, e_msg_nul, "NUL");
    expect_refused(0, e_bits, "bits");
    expect_refused(1, e_channels0, "channels");
    /* an unknown but nonzero code is passed on with its message */
    char err[256];
    size_t n;
    wf_error o;
    uint8_t *f = wf_encode_error(1, 99, "future", &n);
    assert_int_equal(wf_decode_error(f + 32, n - 32, &o, err, sizeof err), 0);
    assert_int_equal(o.code, 99);
    free(f);
}

/* WF_U8_RANS: a coded 8-bit tensor travels as a stream of 1 .. 2*C*h*w +
 * 1024 bytes (the shape says what it decodes to). */
static void test_coded_bottleneck(void **state) {
    (void)state;
    char err[256];
    static uint8_t stream[2 * 2 * 3 * 4 + 1024 + 1];
    memset(stream, 0xA5, sizeof stream);
    wf_bottleneck b = sample_bottleneck(WF_U8), o;
    b.dtype = WF_U8_RANS;
    b.data = stream;
    size_t n;
    for (size_t len = 1; len <= 2 * 24 + 1024; len += 97) {
        b.data_bytes = len;
        uint8_t *f = wf_encode_bottleneck(9, &b, &n, err, sizeof err);
        assert_non_null(f);
        assert_int_equal(n, 32 + WF_BOTTLENECK_FIXED + len);
        assert_int_equal(wf_decode_bottleneck(f + 32, n - 32, &o, err, sizeof err), 0);
        assert_int_equal(o.dtype, WF_U8_RANS);
        assert_int_equal(o.data_bytes, len);
        assert_true(o.scale == 0.125f && o.zero_point == 17);
        assert_memory_equal(o.data, stream, len);
        free(f);
    }
    b.data_bytes = 2 * 24 + 1024 + 1;   /* longer than any coding of 24 values */
    assert_null(wf_encode_bottleneck(9, &b, &n, err, sizeof err));
    b.data_bytes = 0;
    assert_null(wf_encode_bottleneck(9, &b, &n, err, sizeof err));
    b.data_bytes = 10;
    b.scale = 0;   /* a coded uint8 tensor needs its scale like a plain one */
    assert_null(wf_encode_bottleneck(9, &b, &n, err, sizeof err));
    assert_non_null(strstr(err, "scale"));
}

/* WF_EB_RANS: an entropy-coded tensor, WF_EB_MIN .. WF_EB_MAX(C*h*w)
 * bytes, the tables' CRC at offset 12 (hand-placed bytes: CRC 0xC0FFEE11
 * little-endian), zero point 0. */
static void test_eb_bottleneck(void **state) {
    (void)state;
    char err[256];
    static uint8_t stream[9 + 7 * 24 + 8 + 1];
    memset(stream, 0x5A, sizeof stream);
    wf_bottleneck b = sample_bottleneck(WF_F32), o;
    b.dtype = WF_EB_RANS;
    b.tables_crc = 0xC0FFEE11u;
    b.data = stream;
    size_t n;
    for (size_t len = WF_EB_MIN; len <= 9 + 7 * 24 + 8; len += 31) {
        b.data_bytes = len;
        uint8_t *f = wf_encode_bottleneck(9, &b, &n, err, sizeof err);
        assert_non_null(f);
        assert_int_equal(n, 32 + WF_BOTTLENECK_FIXED + len);
        const uint8_t crc_le[4] = {0x11, 0xEE, 0xFF, 0xC0};
        assert_memory_equal(f + 32 + 12, crc_le, 4);
        assert_int_equal(f[32 + 8], 5);
        assert_int_equal(wf_decode_bottleneck(f + 32, n - 32, &o, err, sizeof err), 0);
        assert_int_equal(o.dtype, WF_EB_RANS);
        assert_int_equal(o.tables_crc, 0xC0FFEE11u);
        assert_true(o.scale == 0.0f && o.zero_point == 0);
        assert_int_equal(o.data_bytes, len);
        assert_memory_equal(o.data, stream, len);
        free(f);
    }
    b.data_bytes = 9 + 7 * 24 + 8 + 1;   /* longer than ebc_bound(24) */
    assert_null(wf_encode_bottleneck(9, &b, &n, err, sizeof err));
    b.data_bytes = WF_EB_MIN - 1;        /* shorter than the stream's header */
    assert_null(wf_encode_bottleneck(9, &b, &n, err, sizeof err));
    b.data_bytes = 20;
    b.zero_point = 3;
    assert_null(wf_encode_bottleneck(9, &b, &n, err, sizeof err));
    assert_non_null(strstr(err, "zero point"));
    /* the decoder refuses a cut one */
    b.zero_point = 0;
    uint8_t *f = wf_encode_bottleneck(9, &b, &n, err, sizeof err);
    assert_non_null(f);
    assert_int_equal(wf_decode_bottleneck(f + 32, WF_BOTTLENECK_FIXED + WF_EB_MIN - 1, &o, err, sizeof err), -1);
    assert_non_null(strstr(err, "entropy-coded"));
    free(f);
}

static void test_misc(void **state) {
    (void)state;
    assert_int_equal(wf_dtype_size(WF_U8), 1);
    assert_int_equal(wf_dtype_size(WF_F16), 2);
    assert_int_equal(wf_dtype_size(WF_F32), 4);
    assert_int_equal(wf_dtype_size(0), 0);
    assert_int_equal(wf_dtype_size(WF_U8_RANS), 1);   /* once decoded */
    assert_int_equal(wf_dtype_size(WF_EB_RANS), 4);   /* once decoded: float32 */
    assert_int_equal(wf_dtype_size(6), 0);
    assert_string_equal(wf_type_name(WF_DETECTIONS), "DETECTIONS");
    assert_string_equal(wf_type_name(99), "?");
    uint32_t one = 1;
    assert_int_equal(wf_host_little_endian(), *(uint8_t *)&one == 1);
}

/* The fuzz seeds are written by tests/fuzz/make_wire_seeds.py with Python's
 * struct and zlib: a second implementation of the format. Every frame in
 * every seed-* file (one frame, or several back to back) must be accepted. */
static void test_seed_frames(void **state) {
    (void)state;
    const char *src = getenv("HND_SRC_DIR");
    if (!src) {
        print_message("skipped: HND_SRC_DIR not set\n");
        return;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/regress_wire", src);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int files = 0, frames = 0;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "seed-", 5) != 0) continue;
        char path[4096 + 512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        uint8_t *buf = malloc(1 << 20);
        size_t n = fread(buf, 1, 1 << 20, f);
        fclose(f);
        size_t off = 0;
        while (off < n) {
            char err[256] = "";
            assert_true(n - off >= WF_HEADER_BYTES);
            size_t len = buf[off + 20] | (size_t)buf[off + 21] << 8 | (size_t)buf[off + 22] << 16 |
                         (size_t)buf[off + 23] << 24;
            assert_true(n - off >= WF_HEADER_BYTES + len);
            if (parse_frame(buf + off, WF_HEADER_BYTES + len, err, sizeof err) != 0)
                fail_msg("%s: frame at %zu refused: %s", e->d_name, off, err);
            off += WF_HEADER_BYTES + len;
            frames++;
        }
        free(buf);
        files++;
    }
    closedir(d);
    assert_true(files >= 11);
    assert_true(frames >= 14);
}

/* ---- sockets ---- */

typedef struct {
    int fd;
    const uint8_t *buf;
    size_t n;
    size_t first;      /* bytes sent at once */
    int pause_ms;      /* then this pause */
    int close_after;   /* then close instead of sending the rest */
} writer_arg;

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void *writer(void *v) {
    writer_arg *a = (writer_arg *)v;
    if (a->first) (void)nio_write_full(a->fd, a->buf, a->first, 0, 0);
    sleep_ms(a->pause_ms);
    if (a->close_after) {
        shutdown(a->fd, SHUT_WR);
        return NULL;
    }
    if (a->n > a->first) (void)nio_write_full(a->fd, a->buf + a->first, a->n - a->first, 0, 0);
    return NULL;
}

static void pair(int sv[2]) { assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0); }

static void test_read_frame_valid(void **state) {
    (void)state;
    int sv[2];
    pair(sv);
    size_t n;
    uint8_t *f = make_sample(7, &n);
    /* two frames back to back, then a clean close */
    assert_int_equal(nio_write_full(sv[0], f, n, 0, nio_now_ms() + 2000), 0);
    uint8_t *bye = wf_encode_empty(WF_BYE, 11, &n);
    assert_int_equal(nio_write_full(sv[0], bye, n, 0, 0), 0);
    close(sv[0]);
    wf_header h;
    uint8_t *p = (uint8_t *)1;
    int why = -1, code = -1;
    assert_int_equal(nio_read_frame(sv[1], LIMIT, 1000, 1000, &h, &p, &why, &code), 0);
    assert_int_equal(why, NIO_OK);
    assert_int_equal(h.type, WF_DETECTIONS);
    assert_int_equal(h.request_id, 7);
    assert_non_null(p);
    char err[256];
    wf_detections d;
    assert_int_equal(wf_decode_detections(p, h.payload_len, &d, err, sizeof err), 0);
    assert_string_equal(d.rle[1], "PQ5o");
    wf_detections_clear(&d);
    free(p);
    assert_int_equal(nio_read_frame(sv[1], LIMIT, 1000, 1000, &h, &p, &why, &code), 0);
    assert_int_equal(h.type, WF_BYE);
    assert_null(p);
    /* the end between frames is a clean close */
    assert_int_equal(nio_read_frame(sv[1], LIMIT, 1000, 1000, &h, &p, &why, &code), -1);
    assert_int_equal(why, NIO_CLOSED);
    assert_null(p);
    close(sv[1]);
    free(f);
    free(bye);
}

static void test_read_frame_slow_writer(void **state) {
    (void)state;
    int sv[2];
    pair(sv);
    size_t n;
    uint8_t *f = make_sample(2, &n);
    /* the header's first 10 bytes, then 600 ms of nothing: the 150 ms frame
     * deadline passes although the 5 s idle wait would not */
    writer_arg a = {sv[0], f, n, 10, 600, 0};
    pthread_t t;
    pthread_create(&t, NULL, writer, &a);
    wf_header h;
    uint8_t *p = NULL;
    int why = -1, code = -1;
    int64_t t0 = nio_now_ms();
    assert_int_equal(nio_read_frame(sv[1], LIMIT, 5000, 150, &h, &p, &why, &code), -1);
    int64_t dt = nio_now_ms() - t0;
    assert_int_equal(why, NIO_TIMEOUT);
    assert_int_equal(code, WF_E_TIMEOUT);
    assert_null(p);
    assert_true(dt >= 140 && dt < 590);
    assert_non_null(strstr(hnd_error(), "within 150 ms"));
    pthread_join(t, NULL);
    close(sv[0]);
    close(sv[1]);

    /* the same in the payload: header at once, the tensor late */
    pair(sv);
    writer_arg b = {sv[0], f, n, 40, 600, 0};
    pthread_create(&t, NULL, writer, &b);
    assert_int_equal(nio_read_frame(sv[1], LIMIT, 5000, 150, &h, &p, &why, &code), -1);
    assert_int_equal(why, NIO_TIMEOUT);
    assert_null(p);
    pthread_join(t, NULL);
    close(sv[0]);
    close(sv[1]);

    /* idle: nothing at all */
    pair(sv);
    t0 = nio_now_ms();
    assert_int_equal(nio_read_frame(sv[1], LIMIT, 100, 5000, &h, &p, &why, &code), -1);
    assert_int_equal(why, NIO_TIMEOUT);
    assert_true(nio_now_ms() - t0 >= 90);
    assert_non_null(strstr(hnd_error(), "idle"));
    close(sv[0]);
    close(sv[1]);
    free(f);
}

static void test_read_frame_peer_closes(void **state) {
    (void)state;
    size_t n;
    uint8_t *f = make_sample(4, &n);
    /* mid-header and mid-payload: an error, never a clean end */
    size_t cuts[] = {1, 31, 32, 33, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        int sv[2];
        pair(sv);
        writer_arg a = {sv[0], f, n, cuts[i], 20, 1};
        pthread_t t;
        pthread_create(&t, NULL, writer, &a);
        wf_header h;
        uint8_t *p = NULL;
        int why = -1, code = -1;
        assert_int_equal(nio_read_frame(sv[1], LIMIT, 5000, 5000, &h, &p, &why, &code), -1);
        if (why != NIO_ERROR) fail_msg("cut at %zu: why %d (%s)", cuts[i], why, hnd_error());
        assert_null(p);
        assert_non_null(strstr(hnd_error(), "closed"));
        pthread_join(t, NULL);
        close(sv[0]);
        close(sv[1]);
    }
    free(f);
}

static void test_read_frame_refusals(void **state) {
    (void)state;
    int sv[2];
    wf_header h;
    uint8_t *p = NULL;
    int why = -1, code = -1;
    /* a 4 GB length prefix with a valid header CRC and no payload behind
     * it: refused from the header alone, at once (were the payload read or
     * waited for, this would be a 5 s timeout instead) */
    pair(sv);
    uint8_t b[32];
    raw_header(b, "HNDL", 1, WF_BOTTLENECK, 0, 0xFFFFFFFFu);
    assert_int_equal(nio_write_full(sv[0], b, 32, 0, 0), 0);
    int64_t t0 = nio_now_ms();
    assert_int_equal(nio_read_frame(sv[1], LIMIT, 5000, 5000, &h, &p, &why, &code), -1);
    assert_true(nio_now_ms() - t0 < 1000);
    assert_int_equal(why, NIO_BAD_FRAME);
    assert_int_equal(code, WF_E_TOO_LARGE);
    assert_null(p);
    close(sv[0]);
    close(sv[1]);

    /* version 2 */
    pair(sv);
    raw_header(b, "HNDL", 2, WF_HELLO, 0, 40);
    assert_int_equal(nio_write_full(sv[0], b, 32, 0, 0), 0);
    assert_int_equal(nio_read_frame(sv[1], LIMIT, 5000, 5000, &h, &p, &why, &code), -1);
    assert_int_equal(why, NIO_BAD_FRAME);
    assert_int_equal(code, WF_E_VERSION);
    close(sv[0]);
    close(sv[1]);

    /* a damaged payload */
    pair(sv);
    size_t n;
    uint8_t *f = make_sample(5, &n);
    f[n - 2] ^= 0x10;
    assert_int_equal(nio_write_full(sv[0], f, n, 0, 0), 0);
    assert_int_equal(nio_read_frame(sv[1], LIMIT, 5000, 5000, &h, &p, &why, &code), -1);
    assert_int_equal(why, NIO_BAD_FRAME);
    assert_int_equal(code, WF_E_MALFORMED);
    assert_null(p);
    assert_non_null(strstr(hnd_error(), "CRC"));
    close(sv[0]);
    close(sv[1]);
    free(f);

    /* garbage (an HTTP request) */
    pair(sv);
    const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n......";
    assert_int_equal(nio_write_full(sv[0], http, 32, 0, 0), 0);
    assert_int_equal(nio_read_frame(sv[1], LIMIT, 5000, 5000, &h, &p, &why, &code), -1);
    assert_int_equal(why, NIO_BAD_FRAME);
    assert_non_null(strstr(hnd_error(), "magic"));
    close(sv[0]);
    close(sv[1]);
}

static void test_tcp(void **state) {
    (void)state;
    int port = -1;
    int lfd = nio_listen("127.0.0.1", 0, 4, &port);
    assert_true(lfd >= 0);
    assert_true(port > 0);
    char hp[64];
    snprintf(hp, sizeof hp, "127.0.0.1:%d", port);
    int why = -1;
    /* nobody yet */
    assert_int_equal(nio_accept(lfd, 50, &why), -1);
    assert_int_equal(why, NIO_TIMEOUT);
    int c = nio_connect(hp, 2000);
    assert_true(c >= 0);
    int s = nio_accept(lfd, 2000, &why);
    assert_true(s >= 0);
    char name[64];
    nio_peer_name(s, name, sizeof name);
    assert_non_null(strstr(name, "127.0.0.1:"));
    nio_peer_name(-1, name, sizeof name);
    assert_string_equal(name, "?");

    /* paced: 14600 bytes at 1 Mbit/s take at least 116.8 ms */
    uint8_t *big = calloc(14600, 1);
    int64_t t0 = nio_now_ms();
    assert_int_equal(nio_write_full(c, big, 14600, 1.0, 0), 0);
    int64_t dt = nio_now_ms() - t0;
    if (dt < 110) fail_msg("paced write took %lld ms", (long long)dt);
    uint8_t *got = malloc(14600);
    assert_int_equal(nio_read_full(s, got, 14600, nio_now_ms() + 2000, &why), 0);
    /* a deadline the pace cannot meet: refused without the long sleep */
    t0 = nio_now_ms();
    assert_int_equal(nio_write_full(c, big, 14600, 0.01, nio_now_ms() + 100), -1);
    assert_true(nio_now_ms() - t0 < 1000);
    free(big);
    free(got);

    /* a closed peer: an error, no SIGPIPE (the test would die) */
    close(s);
    uint8_t buf[65536] = {0};
    int r = 0;
    for (int i = 0; i < 64 && r == 0; i++) r = nio_write_full(c, buf, sizeof buf, 0, nio_now_ms() + 2000);
    assert_int_equal(r, -1);
    close(c);

    /* connection refused; malformed addresses */
    close(lfd);
    assert_int_equal(nio_connect(hp, 1000), -1);
    assert_int_equal(nio_connect("127.0.0.1", 1000), -1);
    assert_non_null(strstr(hnd_error(), "PORT"));
    assert_int_equal(nio_connect("127.0.0.1:0", 1000), -1);
    assert_int_equal(nio_connect("127.0.0.1:70000", 1000), -1);
    assert_int_equal(nio_connect("::1:80", 1000), -1);
    assert_int_equal(nio_connect("[::1:80", 1000), -1);
    assert_int_equal(nio_listen("127.0.0.1", 70000, 4, NULL), -1);
    assert_int_equal(nio_listen("no.such.host.invalid", 0, 4, NULL), -1);
}

static void test_tcp_v6(void **state) {
    (void)state;
    int port = -1;
    int lfd = nio_listen("::1", 0, 4, &port);
    if (lfd < 0) {
        /* a container without IPv6 loopback */
        print_message("skipped: no ::1 (%s)\n", hnd_error());
        return;
    }
    char hp[64];
    snprintf(hp, sizeof hp, "[::1]:%d", port);
    int c = nio_connect(hp, 2000);
    assert_true(c >= 0);
    int why;
    int s = nio_accept(lfd, 2000, &why);
    assert_true(s >= 0);
    char name[64];
    nio_peer_name(s, name, sizeof name);
    assert_non_null(strstr(name, "[::1]:"));
    close(s);
    close(c);
    close(lfd);
}

int main(void) {
    /* SIGPIPE keeps its default action on purpose: a send without
     * MSG_NOSIGNAL to a closed peer kills this test (test_tcp) */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_header_bytes),
        cmocka_unit_test(test_roundtrip_hello),
        cmocka_unit_test(test_roundtrip_bottleneck),
        cmocka_unit_test(test_roundtrip_image),
        cmocka_unit_test(test_roundtrip_detections),
        cmocka_unit_test(test_roundtrip_error_bye),
        cmocka_unit_test(test_truncation_every_offset),
        cmocka_unit_test(test_flipped_byte),
        cmocka_unit_test(test_header_fields),
        cmocka_unit_test(test_bottleneck_fields),
        cmocka_unit_test(test_detections_fields),
        cmocka_unit_test(test_error_hello_fields),
        cmocka_unit_test(test_coded_bottleneck),
        cmocka_unit_test(test_misc),
        cmocka_unit_test(test_seed_frames),
        cmocka_unit_test(test_read_frame_valid),
        cmocka_unit_test(test_eb_bottleneck),
        cmocka_unit_test(test_read_frame_slow_writer),
        cmocka_unit_test(test_read_frame_peer_closes),
        cmocka_unit_test(test_read_frame_refusals),
        cmocka_unit_test(test_tcp),
        cmocka_unit_test(test_tcp_v6),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
