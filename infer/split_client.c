/* split_client.c: see split_client.h. */
#include "split_client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hnd_error.h"
#include "net_io.h"

struct sc_session {
    sc_options o;
    char server[512];
    int fd;
    wf_hello server_hello;
    uint64_t next_id;
    int reconnects;
};

/* How a step failed: the connection (worth a reconnect), or for good. */
enum { SC_OK = 0, SC_DROPPED = 1, SC_FATAL = 2, SC_BUSY = 3 };

const char *sc_error_name(uint32_t code, char *buf, size_t n) {
    static const char *const names[] = {NULL,       "malformed frame", "unsupported version", "mismatch",
                                        "too large", "unsupported",     "internal error",      "busy",
                                        "timeout"};
    if (code >= 1 && code <= 8) return names[code];
    snprintf(buf, n, "error %u", (unsigned)code);
    return buf;
}

static int stopped(const sc_session *s) { return s->o.stop && *s->o.stop; }

/* Sleeps ms in short slices; 1 when stopped meanwhile. */
static int pause_ms(const sc_session *s, int ms) {
    while (ms > 0) {
        if (stopped(s)) return 1;
        int d = ms < 50 ? ms : 50;
        struct timespec ts = {0, (long)d * 1000000L};
        nanosleep(&ts, NULL);
        ms -= d;
    }
    return stopped(s);
}

/* Waits until fd is readable or deadline (nio_now_ms clock), checking the
 * stop flag every 100 ms. SC_OK, SC_DROPPED (timeout) or SC_FATAL (stop). */
static int wait_readable(const sc_session *s, int64_t deadline) {
    for (;;) {
        if (stopped(s)) {
            hnd_error_set("%s: interrupted", s->server);
            return SC_FATAL;
        }
        int64_t left = deadline - nio_now_ms();
        if (left <= 0) {
            hnd_error_set("%s: no reply within %d ms", s->server, s->o.reply_timeout_ms);
            return SC_DROPPED;
        }
        struct pollfd p = {s->fd, POLLIN, 0};
        int r = poll(&p, 1, left < 100 ? (int)left : 100);
        if (r > 0) return SC_OK;   /* data, end of stream or an error: the read tells */
        if (r < 0 && errno != EINTR) {
            hnd_error_set("%s: poll: %s", s->server, strerror(errno));
            return SC_DROPPED;
        }
    }
}

/* One reply frame (any type) for request id; *payload malloc'd. An ERROR
 * frame is decoded into a message here (SC_FATAL, or SC_BUSY). */
static int read_reply(sc_session *s, int64_t deadline, uint64_t id, uint16_t want, uint8_t **payload,
                      size_t *len) {
    *payload = NULL;
    *len = 0;
    int w = wait_readable(s, deadline);
    if (w != SC_OK) return w;
    int64_t left = deadline - nio_now_ms();
    if (left < 1) left = 1;
    wf_header h;
    int why = 0, code = 0;
    uint32_t max = s->o.max_reply_bytes ? s->o.max_reply_bytes : (uint32_t)256 << 20;
    if (nio_read_frame(s->fd, max, (int)left, (int)left, &h, payload, &why, &code) != 0) {
        *payload = NULL;
        if (why == NIO_BAD_FRAME) {
            hnd_error_prefix("%s: bad reply", s->server);
            return SC_FATAL;
        }
        if (why == NIO_CLOSED) hnd_error_set("%s: the server closed the connection", s->server);
        else hnd_error_prefix("%s", s->server);
        return SC_DROPPED;
    }
    *len = h.payload_len;
    char err[256];
    if (h.type == WF_ERROR) {
        wf_error e;
        char nb[32];
        int r = wf_decode_error(*payload, *len, &e, err, sizeof err);
        free(*payload);
        *payload = NULL;
        if (r != 0) {
            hnd_error_set("%s: bad ERROR reply: %s", s->server, err);
            return SC_FATAL;
        }
        hnd_error_set("%s: server error (%s): %s", s->server, sc_error_name(e.code, nb, sizeof nb), e.message);
        return e.code == WF_E_BUSY ? SC_BUSY : SC_FATAL;
    }
    if (h.type != want || h.request_id != id) {
        hnd_error_set("%s: unexpected reply (frame type %u for request %llu; expected type %u for request %llu)",
                      s->server, (unsigned)h.type, (unsigned long long)h.request_id, (unsigned)want,
                      (unsigned long long)id);
        free(*payload);
        *payload = NULL;
        return SC_FATAL;
    }
    return SC_OK;
}

static void drop(sc_session *s) {
    if (s->fd >= 0) close(s->fd);
    s->fd = -1;
}

/* Connect and HELLO. SC_OK, SC_DROPPED (cannot connect / lost) or SC_FATAL
 * (the server refused us). */
static int connect_hello(sc_session *s) {
    drop(s);
    int ct = s->o.connect_timeout_ms;
    s->fd = nio_connect(s->server, ct);
    if (s->fd < 0) {
        s->fd = -1;
        return SC_DROPPED;
    }
    size_t n;
    uint8_t *f = wf_encode_hello(WF_HELLO, 0, &s->o.hello, &n);
    if (!f) {
        hnd_error_set("out of memory");
        return SC_FATAL;
    }
    int rc = nio_write_full(s->fd, f, n, s->o.rate_mbps, nio_now_ms() + ct);
    free(f);
    if (rc != 0) {
        hnd_error_prefix("%s: sending HELLO", s->server);
        drop(s);
        return SC_DROPPED;
    }
    uint8_t *p;
    size_t len;
    int r = read_reply(s, nio_now_ms() + ct, 0, WF_HELLO_OK, &p, &len);
    if (r != SC_OK) {
        if (r == SC_FATAL || r == SC_BUSY) hnd_error_prefix("HELLO refused");
        drop(s);
        return r;
    }
    char err[256];
    wf_hello hs;
    r = wf_decode_hello(p, len, &hs, err, sizeof err);
    free(p);
    if (r != 0) {
        hnd_error_set("%s: bad HELLO_OK: %s", s->server, err);
        drop(s);
        return SC_FATAL;
    }
    static const uint8_t zero[32];
    if (hs.bits != s->o.hello.bits || hs.channels != s->o.hello.channels ||
        (memcmp(hs.manifest_sha256, zero, 32) && memcmp(s->o.hello.manifest_sha256, zero, 32) &&
         memcmp(hs.manifest_sha256, s->o.hello.manifest_sha256, 32))) {
        hnd_error_set("%s: the server runs another model (%u bits, C=%u; this head: %u bits, C=%u, or another "
                      "manifest)",
                      s->server, (unsigned)hs.bits, (unsigned)hs.channels, (unsigned)s->o.hello.bits,
                      (unsigned)s->o.hello.channels);
        drop(s);
        return SC_FATAL;
    }
    s->server_hello = hs;
    return SC_OK;
}

int sc_open(const sc_options *o, sc_session **out) {
    *out = NULL;
    if (!o || !o->server || !*o->server) return hnd_error_set("split client: no server address");
    sc_session *s = calloc(1, sizeof *s);
    if (!s) return hnd_error_set("out of memory");
    s->o = *o;
    if ((size_t)snprintf(s->server, sizeof s->server, "%s", o->server) >= sizeof s->server) {
        free(s);
        return hnd_error_set("split client: server address too long");
    }
    s->o.server = s->server;
    if (s->o.connect_timeout_ms <= 0) s->o.connect_timeout_ms = 10000;
    if (s->o.reply_timeout_ms <= 0) s->o.reply_timeout_ms = 600000;
    if (s->o.backoff_ms <= 0) s->o.backoff_ms = 200;
    if (s->o.retries < 0) s->o.retries = 0;
    s->fd = -1;
    s->next_id = 1;
    if (connect_hello(s) != SC_OK) {
        drop(s);
        free(s);
        return -1;
    }
    *out = s;
    return 0;
}

void sc_close(sc_session *s) {
    if (!s) return;
    if (s->fd >= 0) {
        size_t n;
        uint8_t *f = wf_encode_empty(WF_BYE, s->next_id, &n);
        if (f) {
            hnd_error_clear();
            (void)nio_write_full(s->fd, f, n, 0, nio_now_ms() + 1000);
            free(f);
        }
    }
    drop(s);
    free(s);
}

const wf_hello *sc_server_hello(const sc_session *s) { return &s->server_hello; }
int sc_reconnects(const sc_session *s) { return s->reconnects; }
uint64_t sc_next_request_id(sc_session *s) { return s->next_id++; }

/* One attempt on the current connection. */
static int attempt(sc_session *s, uint64_t id, const uint8_t *frame, size_t n, wf_detections *out,
                   sc_timing *t) {
    int64_t t0 = nio_now_ms();
    struct timespec ts0, ts1;
    clock_gettime(CLOCK_MONOTONIC, &ts0);
    int64_t deadline = t0 + s->o.reply_timeout_ms;
    if (nio_write_full(s->fd, frame, n, s->o.rate_mbps, deadline) != 0) {
        hnd_error_prefix("%s: sending request %llu", s->server, (unsigned long long)id);
        return SC_DROPPED;
    }
    uint8_t *p;
    size_t len;
    int r = read_reply(s, deadline, id, WF_DETECTIONS, &p, &len);
    if (r != SC_OK) return r;
    clock_gettime(CLOCK_MONOTONIC, &ts1);
    char err[256];
    r = wf_decode_detections(p, len, out, err, sizeof err);
    free(p);
    if (r != 0) {
        hnd_error_set("%s: bad DETECTIONS reply: %s", s->server, err);
        return SC_FATAL;
    }
    t->net_ms = 1e3 * (double)(ts1.tv_sec - ts0.tv_sec) + 1e-6 * (double)(ts1.tv_nsec - ts0.tv_nsec);
    t->bytes_sent = n;
    t->bytes_received = WF_HEADER_BYTES + len;
    return SC_OK;
}

int sc_request(sc_session *s, uint64_t request_id, const uint8_t *frame, size_t n, wf_detections *out,
               sc_timing *t) {
    sc_timing dummy;
    if (!t) t = &dummy;
    memset(t, 0, sizeof *t);
    memset(out, 0, sizeof *out);
    int backoff = s->o.backoff_ms;
    char last[1024] = "";
    for (int k = 0; k <= s->o.retries; k++) {
        t->attempts = k + 1;
        int r = SC_DROPPED;
        if (k > 0) {
            if (pause_ms(s, backoff)) return hnd_error_set("%s: interrupted", s->server);
            backoff *= 2;
            s->reconnects++;
            r = connect_hello(s);
            if (r == SC_FATAL) return -1;
        }
        if (s->fd >= 0 && (k == 0 || r == SC_OK)) r = attempt(s, request_id, frame, n, out, t);
        if (r == SC_OK) return 0;
        if (r == SC_FATAL) {
            drop(s);   /* the stream may be mid-frame: never reuse it */
            return -1;
        }
        snprintf(last, sizeof last, "%s", hnd_error());
        drop(s);
    }
    return hnd_error_set("%s (gave up after %d %s)", last, s->o.retries + 1,
                         s->o.retries + 1 == 1 ? "attempt" : "attempts");
}
