/* fuzz_wire.c: libFuzzer entry for the split link's parser (infer/wire.c)
 * and frame reader (infer/net_io.c).
 *
 * Each input is used three ways:
 *  1. its first 32 bytes as a header (wf_header_decode, then the payload
 *     CRC and the type's decoder when the rest has the stated length);
 *  2. the whole input, and the input after a 32-byte header, through every
 *     payload decoder;
 *  3. the whole input as a byte stream through nio_read_frame over a
 *     socketpair, frame after frame until it refuses or the stream ends;
 *     then again with every frame's CRCs recomputed (reseal), so that
 *     mutated frames get past the CRCs to the checks behind them.
 * Oracles besides the sanitizers: a refusal always comes with a message,
 * and an accepted payload encodes back to the very same bytes (the format
 * has one encoding per message, so anything else is a decoder that let
 * something through unchecked). regress_main.c replays
 * tests/fuzz/regress_wire/ in every ctest run. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net_io.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PAYLOAD (1u << 20)

/* The payload of a frame encoder's output must equal p[0..len). The frame
 * is a variable first: as an argument next to n, the order in which the
 * encoder runs and n is read would be unspecified. */
static void same_payload(uint8_t *frame, size_t n, const uint8_t *p, size_t len) {
    if (!frame) abort();   /* the encoder refused what the decoder accepted */
    if (n != WF_HEADER_BYTES + len || memcmp(frame + WF_HEADER_BYTES, p, len) != 0) abort();
    free(frame);
}

/* Every decoder on p[0..len); 'type' (0: all of them) selects. */
static void decode_all(int type, const uint8_t *p, size_t len) {
    char err[256];
    size_t n = 0;
    uint8_t *fr;
    if (type == 0 || type == WF_HELLO || type == WF_HELLO_OK) {
        wf_hello o;
        err[0] = '\0';
        if (wf_decode_hello(p, len, &o, err, sizeof err) == 0) {
            fr = wf_encode_hello(WF_HELLO, 1, &o, &n);
            same_payload(fr, n, p, len);
        } else if (!err[0]) {
            abort();
        }
    }
    if (type == 0 || type == WF_BOTTLENECK) {
        wf_bottleneck o;
        err[0] = '\0';
        if (wf_decode_bottleneck(p, len, &o, err, sizeof err) == 0) {
            if (o.data + o.data_bytes != p + len) abort();
            fr = wf_encode_bottleneck(1, &o, &n, err, sizeof err);
            same_payload(fr, n, p, len);
        } else if (!err[0]) {
            abort();
        }
    }
    if (type == 0 || type == WF_IMAGE) {
        wf_image o;
        err[0] = '\0';
        if (wf_decode_image(p, len, &o, err, sizeof err) == 0) {
            fr = wf_encode_image(1, &o, &n, err, sizeof err);
            same_payload(fr, n, p, len);
        } else if (!err[0]) {
            abort();
        }
    }
    if (type == 0 || type == WF_DETECTIONS) {
        wf_detections o;
        err[0] = '\0';
        if (wf_decode_detections(p, len, &o, err, sizeof err) == 0) {
            fr = wf_encode_detections(1, &o, &n, err, sizeof err);
            same_payload(fr, n, p, len);
        } else if (!err[0] || o.boxes || o.k) {
            abort();   /* a refusal leaves nothing allocated */
        }
        wf_detections_clear(&o);
    }
    if (type == 0 || type == WF_ERROR) {
        wf_error o;
        err[0] = '\0';
        if (wf_decode_error(p, len, &o, err, sizeof err) == 0) {
            fr = wf_encode_error(1, o.code, o.message, &n);
            same_payload(fr, n, p, len);
        } else if (!err[0]) {
            abort();
        }
    }
}

/* The input as a stream from a peer. The whole input is written before the
 * read starts (a socketpair holds far more than -max_len), so the reader's
 * deadlines never fire and the run stays deterministic. */
static void read_stream(const uint8_t *data, size_t size) {
    if (size > 60000) return;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return;
    int buf = 1 << 18;
    (void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    if (size == 0 || nio_write_full(sv[0], data, size, 0, nio_now_ms() + 2000) == 0) {
        shutdown(sv[0], SHUT_WR);
        for (int i = 0; i < 64; i++) {
            wf_header h;
            uint8_t *p = (uint8_t *)&h;   /* must come back NULL on failure */
            int why = -1, code = -1;
            if (nio_read_frame(sv[1], MAX_PAYLOAD, 2000, 2000, &h, &p, &why, &code) != 0) {
                if (p) abort();
                if (why == NIO_BAD_FRAME && (code < WF_E_MALFORMED || code > WF_E_TIMEOUT)) abort();
                if (why == NIO_OK || why == NIO_TIMEOUT) abort();   /* all data was there */
                break;
            }
            if ((h.payload_len == 0) != (p == NULL)) abort();
            decode_all(h.type, p, h.payload_len);
            free(p);
        }
    }
    close(sv[0]);
    close(sv[1]);
}

/* A copy of the input with every CRC made right: walking the stream frame
 * by frame, each header's payload CRC and header CRC are recomputed (the
 * stated length taken as is, cut at the input's end). Mutations would
 * almost never forge a CRC; resealed, they reach the length and field
 * checks behind it, through the same reader a server uses. */
static uint8_t *reseal(const uint8_t *data, size_t size) {
    uint8_t *c = (uint8_t *)malloc(size ? size : 1);
    if (!c) return NULL;
    memcpy(c, data, size);
    size_t off = 0;
    while (size - off >= WF_HEADER_BYTES) {
        uint8_t *h = c + off;
        size_t len = (size_t)h[20] | (size_t)h[21] << 8 | (size_t)h[22] << 16 | (size_t)h[23] << 24;
        size_t avail = size - off - WF_HEADER_BYTES;
        uint32_t pc = wf_crc32(0, h + WF_HEADER_BYTES, len < avail ? len : avail);
        for (int i = 0; i < 4; i++) h[24 + i] = (uint8_t)(pc >> (8 * i));
        uint32_t hc = wf_crc32(0, h, 28);
        for (int i = 0; i < 4; i++) h[28 + i] = (uint8_t)(hc >> (8 * i));
        if (len > avail) break;
        off += WF_HEADER_BYTES + len;
    }
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[256];
    if (size >= WF_HEADER_BYTES) {
        wf_header h;
        int code = -1;
        err[0] = '\0';
        if (wf_header_decode(data, MAX_PAYLOAD, &h, &code, err, sizeof err) == 0) {
            if (code != 0) abort();
            /* re-encoding the decoded header gives the same 32 bytes */
            uint8_t back[WF_HEADER_BYTES];
            wf_header_encode(&h, back);
            if (memcmp(back, data, WF_HEADER_BYTES) != 0) abort();
            if (h.payload_len == size - WF_HEADER_BYTES &&
                wf_payload_check(&h, data + WF_HEADER_BYTES, err, sizeof err) == 0)
                decode_all(h.type, data + WF_HEADER_BYTES, h.payload_len);
        } else if (!err[0] || code == 0) {
            abort();
        }
        /* the payload decoders straight after a header, CRC or not: the
         * mutator reaches their checks without having to forge CRCs */
        decode_all(0, data + WF_HEADER_BYTES, size - WF_HEADER_BYTES);
    }
    decode_all(0, data, size);
    read_stream(data, size);
    uint8_t *sealed = reseal(data, size);
    if (sealed) {
        if (size >= WF_HEADER_BYTES && memcmp(sealed, data, size) != 0) read_stream(sealed, size);
        free(sealed);
    }
    return 0;
}
