/* wire.h: the split link's wire format (version 1) — the frames `hnd
 * split-detect` (device) and `hnd serve` (edge) exchange over TCP. One
 * parser, shared by both ends and fuzzed. Torch-free. Prefix wf_.
 *
 * Every number is little-endian. A frame is a 32-byte header and a payload:
 *
 *   offset size  header field
 *        0    4  magic "HNDL"
 *        4    2  u16 version (WF_VERSION)
 *        6    2  u16 type (wf_type)
 *        8    8  u64 request id (chosen by the client, echoed by the server)
 *       16    4  u32 flags (0; reserved)
 *       20    4  u32 payload length in bytes
 *       24    4  u32 CRC-32 of the payload (IEEE 802.3, zlib's crc32)
 *       28    4  u32 CRC-32 of header bytes 0..27
 *
 * The header's own CRC lets a reader refuse a corrupt or hostile length
 * before reading a byte of payload; a reader also refuses a payload longer
 * than its limit (wf_header_decode's max_payload) and, before reading it,
 * a length the type cannot have (HELLO/HELLO_OK exactly 40, BYE and the
 * reserved flags 0, the other types at least their fixed part). Checks run
 * in this order: magic, version (before the CRC, so that a later version
 * may change the rest of the header and still be told apart), header CRC,
 * type, flags, length.
 *
 * A conversation: the client connects and sends HELLO; the server answers
 * HELLO_OK (or ERROR and closes). Then the client sends BOTTLENECK or IMAGE
 * frames, each answered by DETECTIONS or ERROR carrying the same request
 * id, in order; BYE ends it. After an ERROR for a malformed frame the
 * server closes the connection (the stream cannot be resynchronised).
 *
 * Payloads (offsets from the payload's start):
 *
 *   HELLO (client -> server), 40 bytes:
 *      0  32  SHA-256 of the client's manifest.json (all zero: no manifest,
 *             a student file used directly)
 *     32   4  u32 bits the client's head sends (8, 16, 32)
 *     36   4  u32 C, the bottleneck's channels
 *   HELLO_OK (server -> client), 40 bytes: the server's manifest digest,
 *             bits and C (the server refuses a client whose digest, when
 *             both have one, or bits/C differ, with an ERROR)
 *
 *   BOTTLENECK (client -> server):
 *      0   8  i64 image id
 *      8   1  u8 dtype (WF_U8, WF_F16, WF_F32, WF_U8_RANS, WF_EB_RANS)
 *      9   1  u8 zero point (u8 only; else 0)
 *     10   2  u16 reserved (0)
 *     12   4  f32 scale (u8 only); WF_EB_RANS: u32 CRC-32 of the entropy
 *             bottleneck's tables file (eb_codec.h), so that a server
 *             refuses a stream coded with tables other than its own; else 0
 *     16   4  u32 C      20  4  u32 h     24  4  u32 w      (the tensor [1,C,h,w])
 *     28   4  u32 original height         32  4  u32 original width
 *     36   4  u32 resized height          40  4  u32 resized width
 *     44   4  u32 padded height           48  4  u32 padded width   (the transform's batch)
 *     52   …  the tensor's C*h*w elements in C order (1, 2 or 4 bytes each,
 *             f16/f32 little-endian IEEE): exactly the rest of the payload;
 *             WF_U8_RANS: the uint8 tensor coded losslessly (link_codec.h's
 *             stream: MED prediction + rANS), 1 .. 2*C*h*w + 1024 bytes;
 *             WF_EB_RANS: a learned entropy bottleneck's integer symbols
 *             round(y - median) coded with its 16-bit CDF tables (eb_codec.h's
 *             stream, WF_EB_MIN .. WF_EB_MAX(C*h*w) bytes); the tail
 *             receives symbol + median as float32 (a 32-bit link)
 *   Checked: dtype known; u8 (plain or coded): scale finite and > 0; WF_EB_RANS: zero
 *   point 0 (any CRC); else scale 0 and zero point 0; reserved 0; C, h, w and the six image sides in 1..WF_MAX_DIM;
 *   resized <= padded and h <= padded height, w <= padded width.
 *
 *   IMAGE (client -> server; the edge-computing baseline: the whole
 *   original model runs on the server):
 *      0   8  i64 image id
 *      8   4  u32 format (WF_JPEG)
 *     12   …  the encoded image (at least 1 byte; its content is the
 *             server's decoder's business)
 *
 *   DETECTIONS (server -> client):
 *      0   8  i64 image id
 *      8   4  u32 K, number of detections
 *     12   4  u32 flags: bit 0 = masks present
 *     16   4  f32 server milliseconds (dequantize + tail, or the whole model)
 *     20   4  u32 image height    24  4  u32 image width (the masks' size)
 *     28  24K per detection: f32 x1, y1, x2, y2, f32 score, i32 label
 *      …      masks present: per detection u32 length L, then L bytes of its
 *             COCO compressed RLE string (pycocotools' counts, no NUL)
 *   Checked: flags other than bit 0 are 0; server ms finite and >= 0;
 *   image sides in 1..WF_MAX_DIM; boxes and scores finite; labels >= 0;
 *   24K fits in what follows (64-bit arithmetic: K up to 2^32-1); each
 *   L in 1..what remains, its bytes pycocotools' alphabet ('0'..'o');
 *   the detections (and masks) end exactly at the payload's end.
 *
 *   ERROR (either way):
 *      0   4  u32 code (wf_error_code)
 *      4   4  u32 message length L (<= WF_MAX_ERROR_MESSAGE)
 *      8   L  UTF-8 message, no NUL; the payload ends with it
 *   Checked: code != 0 (codes this version does not know are passed on:
 *   the message still says what went wrong).
 *
 *   BYE (client -> server): empty; the server closes the connection.
 */
#ifndef HND_WIRE_H
#define HND_WIRE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WF_MAGIC "HNDL"
#define WF_VERSION 1
#define WF_HEADER_BYTES 32
#define WF_HELLO_BYTES 40
#define WF_BOTTLENECK_FIXED 52
#define WF_DETECTIONS_FIXED 28
#define WF_DETECTION_BYTES 24
#define WF_MAX_ERROR_MESSAGE 1024
#define WF_MAX_DIM 65536          /* any of C, h, w, image sides */

typedef enum {
    WF_HELLO = 1,
    WF_HELLO_OK = 2,
    WF_BOTTLENECK = 3,
    WF_IMAGE = 4,
    WF_DETECTIONS = 5,
    WF_ERROR = 6,
    WF_BYE = 7,
} wf_type;

typedef enum { WF_U8 = 1, WF_F16 = 2, WF_F32 = 3, WF_U8_RANS = 4, WF_EB_RANS = 5 } wf_dtype;
/* An entropy-coded stream's sizes (eb_codec.h: its 9-byte header; ebc_bound). */
#define WF_EB_MIN 9
#define WF_EB_MAX(numel) (9 + 7 * (uint64_t)(numel) + 8)
enum { WF_JPEG = 1 };

typedef enum {
    WF_E_MALFORMED = 1,      /* bad magic, CRC, length, field */
    WF_E_VERSION = 2,        /* unsupported version */
    WF_E_MISMATCH = 3,       /* manifest digest, bits, C or shape differ from the server's */
    WF_E_TOO_LARGE = 4,      /* payload over the server's limit */
    WF_E_UNSUPPORTED = 5,    /* a request type the server cannot answer (IMAGE without an original model) */
    WF_E_INTERNAL = 6,       /* the model failed */
    WF_E_BUSY = 7,           /* too many connections */
    WF_E_TIMEOUT = 8,        /* a frame took too long to arrive */
} wf_error_code;

typedef struct {
    uint16_t version;
    uint16_t type;
    uint64_t request_id;
    uint32_t flags;
    uint32_t payload_len;
    uint32_t payload_crc;
} wf_header;

/* CRC-32 (IEEE 802.3, zlib's crc32): crc = wf_crc32(0, p, n), chainable
 * (wf_crc32(wf_crc32(0, a, n), b, m) is the CRC of a then b). */
uint32_t wf_crc32(uint32_t crc, const void *data, size_t n);

/* Header to/from its 32 bytes. wf_header_encode computes the header CRC
 * (payload_crc must already be set). wf_header_decode checks magic, header
 * CRC, version (WF_VERSION) and type (a known one) and that payload_len <=
 * max_payload; 0, or -1 with a wf_error_code in *code and a message in err
 * (errlen bytes). */
/* wf_header_decode's *code: WF_E_MALFORMED, WF_E_VERSION or WF_E_TOO_LARGE. */
void wf_header_encode(const wf_header *h, uint8_t out[WF_HEADER_BYTES]);
int wf_header_decode(const uint8_t in[WF_HEADER_BYTES], uint32_t max_payload, wf_header *h, int *code, char *err,
                     size_t errlen);
/* 0 when crc32(payload) equals h->payload_crc, else -1 + err. */
int wf_payload_check(const wf_header *h, const uint8_t *payload, char *err, size_t errlen);

/* ---- payloads ---- */

typedef struct {
    uint8_t manifest_sha256[32];
    uint32_t bits, channels;
} wf_hello;

typedef struct {
    int64_t image_id;
    uint8_t dtype;            /* wf_dtype */
    uint8_t zero_point;
    float scale;
    uint32_t tables_crc;      /* WF_EB_RANS: CRC-32 of the tables file (offset 12; scale is 0) */
    uint32_t c, h, w;
    uint32_t orig_h, orig_w, resized_h, resized_w, padded_h, padded_w;
    const uint8_t *data;      /* decode: points into the payload (not copied);
                                 f16/f32 little-endian (the host's order on
                                 x86-64/aarch64: see wf_host_little_endian) */
    size_t data_bytes;        /* c*h*w*element size (encode: must be equal) */
} wf_bottleneck;

typedef struct {
    int64_t image_id;
    uint32_t format;          /* WF_JPEG */
    const uint8_t *data;      /* decode: into the payload */
    size_t data_bytes;
} wf_image;

typedef struct {
    int64_t image_id;
    uint32_t k;
    uint32_t has_masks;
    float server_ms;
    uint32_t height, width;
    float *boxes;             /* [k,4] x1 y1 x2 y2 */
    float *scores;            /* [k] */
    int32_t *labels;          /* [k] */
    char **rle;               /* has_masks: k NUL-terminated COCO RLE strings
                                 (NULL when !has_masks) */
} wf_detections;

typedef struct {
    uint32_t code;
    char message[WF_MAX_ERROR_MESSAGE + 1];
} wf_error;

/* Encoders return a malloc'd complete frame (header + payload + both CRCs)
 * and its length in *n; NULL on out of memory or an argument out of range
 * (err). They check what the decoders check, so that a peer never receives
 * a frame it must refuse. wf_encode_hello: type WF_HELLO or WF_HELLO_OK
 * (NULL otherwise); wf_encode_error: a NULL message is empty, a longer one
 * than WF_MAX_ERROR_MESSAGE is cut (at a UTF-8 character boundary), a zero
 * code becomes WF_E_INTERNAL; wf_encode_empty: any type whose payload may be
 * empty (WF_BYE). */
uint8_t *wf_encode_hello(uint16_t type, uint64_t request_id, const wf_hello *p, size_t *n);
uint8_t *wf_encode_bottleneck(uint64_t request_id, const wf_bottleneck *p, size_t *n, char *err, size_t errlen);
uint8_t *wf_encode_image(uint64_t request_id, const wf_image *p, size_t *n, char *err, size_t errlen);
uint8_t *wf_encode_detections(uint64_t request_id, const wf_detections *p, size_t *n, char *err, size_t errlen);
uint8_t *wf_encode_error(uint64_t request_id, uint32_t code, const char *message, size_t *n);
uint8_t *wf_encode_empty(uint16_t type, uint64_t request_id, size_t *n);

/* Decoders of a checked payload (wf_header_decode + wf_payload_check done):
 * every length, count and field is validated against len; 0, or -1 + err.
 * They never read outside payload[0..len). */
int wf_decode_hello(const uint8_t *payload, size_t len, wf_hello *out, char *err, size_t errlen);
int wf_decode_bottleneck(const uint8_t *payload, size_t len, wf_bottleneck *out, char *err, size_t errlen);
int wf_decode_image(const uint8_t *payload, size_t len, wf_image *out, char *err, size_t errlen);
/* out's arrays are malloc'd (NULL when k == 0): wf_detections_clear, also
 * after a failure (safe on a zeroed or already cleared struct). Never call
 * it on a caller-built struct whose arrays the caller owns. */
int wf_decode_detections(const uint8_t *payload, size_t len, wf_detections *out, char *err, size_t errlen);
void wf_detections_clear(wf_detections *d);
int wf_decode_error(const uint8_t *payload, size_t len, wf_error *out, char *err, size_t errlen);

/* Element size of a dtype (1, 2, 4; WF_U8_RANS: 1 and WF_EB_RANS: 4, once
 * decoded), 0 for an unknown one. */
size_t wf_dtype_size(int dtype);

/* 1 on a little-endian host, where a bottleneck's f16/f32 bytes are the
 * host's floats as they are; the split link refuses to run otherwise. */
int wf_host_little_endian(void);

/* "HELLO", "BOTTLENECK", ... ("?" for an unknown type), for logs. */
const char *wf_type_name(int type);

#ifdef __cplusplus
}
#endif
#endif
