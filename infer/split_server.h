/* split_server.h: the edge side of the split link — `hnd serve`'s
 * connections, protocol and limits (wire.h frames over net_io.h sockets).
 * The tail of a student (split_rcnn.h: sr_tail) answers BOTTLENECK
 * requests; an optional whole detector (sr_detect) answers IMAGE requests,
 * the edge-computing baseline. Prefix ss_.
 *
 * Per connection (one thread each, at most max_conns; a connection beyond
 * that gets ERROR WF_E_BUSY and is closed):
 *   HELLO -> HELLO_OK, or ERROR WF_E_MISMATCH (manifest digest when both
 *   sides have one, bits, C) and close;
 *   then BOTTLENECK / IMAGE requests, each answered by DETECTIONS with the
 *   same request id or by ERROR (the connection stays: WF_E_MISMATCH for a
 *   tensor that does not fit the model, WF_E_UNSUPPORTED, WF_E_INTERNAL);
 *   BYE or end of stream ends it. A malformed frame (bad header, CRC,
 *   payload, a frame out of order) gets ERROR with the reason and the
 *   connection is closed; so does a frame that does not arrive within the
 *   frame timeout or a first byte that does not within the idle timeout.
 *   A client's error never stops the server.
 *
 * The models run one request at a time (a mutex): libtorch already spreads
 * one request over every core. Model runs happen on the connection threads;
 * ctorch's scopes and errors and hnd_error are per thread.
 *
 * Stopping (ss_request_stop, async-signal-safe, or max_requests answered):
 * no new connection is accepted, every connection's reading side is shut
 * down so that idle readers wake up, requests already read are answered,
 * the threads are joined and ss_run returns. */
#ifndef HND_SPLIT_SERVER_H
#define HND_SPLIT_SERVER_H

#include <stdint.h>
#include <stdio.h>

#include "eb_codec.h"
#include "split_rcnn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest encoded IMAGE payload accepted. */
#define SS_MAX_IMAGE_BYTES (32u << 20)
/* Largest original image (sides and pixels) a request may name: the masks
 * are pasted at that size (K floats per pixel before thresholding). */
#define SS_MAX_ORIG_SIDE 8192
#define SS_MAX_ORIG_PIXELS (16ll << 20)

typedef struct {
    sr_model *tail;          /* a student; its tail's weights loaded (borrowed) */
    uint8_t digest[32];      /* the manifest's SHA-256; all zero: none (a student file) */
    int bits;                /* what the head sends: 8, 16, 32 */
    sr_model *original;      /* a whole detector for IMAGE, or NULL (borrowed) */
    /* A learned entropy bottleneck's tables (borrowed; NULL: none) and the
     * CRC-32 of their file: WF_EB_RANS requests are decoded with them (a
     * stream whose CRC differs is refused, WF_E_MISMATCH) and reach the tail
     * as float32; such a server's bits are 32. */
    const ebc_tables *eb;
    uint32_t eb_crc;
} ss_model;

typedef struct {
    const char *bind;        /* NULL: 127.0.0.1 */
    int port;                /* 0: any free port */
    int max_conns;           /* >= 1 */
    int idle_timeout_s;      /* wait for a frame's first byte; 0: forever */
    int frame_timeout_s;     /* a whole frame once it started; 0: no limit */
    int64_t max_requests;    /* stop after this many answered requests; 0: never */
    int quiet;               /* no line per request */
    FILE *log;               /* request lines (NULL: stdout) */
} ss_options;

typedef struct ss_server ss_server;

/* Checks the model, listens. NULL + hnd_error() (bad model or options, the
 * address in use). */
ss_server *ss_new(const ss_model *model, const ss_options *opts);
/* The port in use, the bind address. */
int ss_port(const ss_server *s);
const char *ss_bind_address(const ss_server *s);
/* The largest BOTTLENECK payload the model accepts. */
uint32_t ss_max_bottleneck_payload(const ss_server *s);
/* Serves until a stop is requested or max_requests are answered; then
 * finishes every connection and returns 0 (-1 + hnd_error() when the
 * listening socket fails). */
int ss_run(ss_server *s);
/* Async-signal-safe: asks ss_run to stop. */
void ss_request_stop(ss_server *s);

typedef struct {
    int64_t connections, refused;   /* accepted; turned away (busy) */
    int64_t requests, errors;       /* requests answered with DETECTIONS; ERROR frames sent */
    int64_t bytes_in, bytes_out;    /* whole frames */
    int64_t n_times;                /* model times kept (the latest SS_TIMES) */
    double ms_median, ms_p95;       /* model time per request */
} ss_stats;
#define SS_TIMES 65536

void ss_get_stats(ss_server *s, ss_stats *out);
/* "hnd serve: 3 connections (0 refused), 60 requests, 1 error, 284 KB in, ..." */
void ss_print_summary(ss_server *s, FILE *f);
void ss_destroy(ss_server *s);   /* NULL-safe; after ss_run returned (or never ran) */

#ifdef __cplusplus
}
#endif
#endif
