/* split_client.h: the device's side of the split link (`hnd split-detect`):
 * a session with an `hnd serve` edge server — connect, HELLO (the manifest
 * digest, bits and C; a refusal is an error naming the server's reason) —
 * and requests (a BOTTLENECK or IMAGE frame out, DETECTIONS back) that
 * survive a dropped connection: the session reconnects, says HELLO again
 * and resends the same frame, up to `retries` times with a short backoff.
 * An ERROR reply is never retried. Frames: wire.h; sockets: net_io.h.
 * Torch-free. Prefix sc_.
 *
 * Conventions: 0, or -1 + hnd_error() naming the server ("HOST:PORT: ..."). */
#ifndef HND_SPLIT_CLIENT_H
#define HND_SPLIT_CLIENT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *server;              /* "HOST:PORT" or "[v6]:PORT" */
    wf_hello hello;                  /* what this client sends */
    int connect_timeout_ms;          /* per connection attempt; <= 0: 10000 */
    int reply_timeout_ms;            /* send start to the whole reply; <= 0: 600000 */
    int retries;                     /* reconnect-and-resend attempts after a dropped connection (>= 0) */
    int backoff_ms;                  /* first pause before a retry, doubled each time; <= 0: 200 */
    double rate_mbps;                /* > 0: pace every write (nio_write_full) to emulate a slow link */
    uint32_t max_reply_bytes;        /* largest reply accepted; 0: 256 MiB */
    const volatile sig_atomic_t *stop;   /* nonzero: give up waiting (Ctrl-C); may be NULL */
} sc_options;

typedef struct sc_session sc_session;

/* Connects and says HELLO (no retries: a server that is not there, or that
 * refuses the HELLO, is an error). The options are copied (server too). */
int sc_open(const sc_options *o, sc_session **out);
/* BYE (best effort) and close; NULL-safe. */
void sc_close(sc_session *s);

/* The server's HELLO_OK (digest, bits, C). */
const wf_hello *sc_server_hello(const sc_session *s);
/* Reconnections made so far. */
int sc_reconnects(const sc_session *s);

/* A request id for the next frame (1, 2, ...). */
uint64_t sc_next_request_id(sc_session *s);

/* What one request took. */
typedef struct {
    double net_ms;       /* first byte of the (last) send to the whole reply received */
    int attempts;        /* 1 + retries used */
    size_t bytes_sent;   /* the frame's bytes (of the successful attempt) */
    size_t bytes_received;
} sc_timing;

/* Sends frame (a complete wire.h frame carrying request_id) and reads its
 * DETECTIONS into *out (wf_detections_clear). An ERROR reply: -1 with
 * "server error <code>: <message>"; a reply to another request id, or of
 * another type: -1. A dropped connection (write failure, end of stream,
 * reset, no reply within reply_timeout_ms): reconnect, HELLO, resend. */
int sc_request(sc_session *s, uint64_t request_id, const uint8_t *frame, size_t n, wf_detections *out,
               sc_timing *t);

/* The name of a wf_error_code ("mismatch", "busy", ...; "error N" else). */
const char *sc_error_name(uint32_t code, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
