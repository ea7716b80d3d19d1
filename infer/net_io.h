/* net_io.h: TCP for the split link (IPv4/IPv6 via getaddrinfo): listen,
 * connect, whole reads and writes with deadlines (poll), a sender throttled
 * to a link rate, and reading one wire.h frame with the limits a server
 * needs against slow or hostile peers. Torch-free. Prefix nio_.
 * Every function returns 0 or -1 + hnd_error() naming the peer or address;
 * SIGPIPE never fires (MSG_NOSIGNAL). The sockets it makes are close-on-exec
 * and stay in blocking mode: the reads and writes here poll() and then use
 * MSG_DONTWAIT, so a deadline holds whatever mode a caller leaves the fd in.
 * EINTR is retried (a server that must notice a stop flag uses the
 * timeouts, e.g. nio_accept with 200 ms, and checks it between calls).
 * Thread-safe (no state besides errno and hnd_error's per-thread message).
 *
 * Usage, server: lfd = nio_listen(addr, port, 16, &port); loop { fd =
 * nio_accept(lfd, 200, &why); ... nio_read_frame(fd, limit, idle, frame,
 * &h, &p, &why, &code) ... nio_write_full(fd, frame, n, 0, deadline) }.
 * Client: fd = nio_connect("host:port", 5000); nio_write_full(fd, frame, n,
 * rate_mbps, deadline); nio_read_frame(...). */
#ifndef HND_NET_IO_H
#define HND_NET_IO_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Milliseconds on a monotonic clock (deadlines below are in this clock). */
int64_t nio_now_ms(void);

/* A listening socket on addr ("127.0.0.1", "0.0.0.0", "::"; NULL: 127.0.0.1)
 * and port (0: any free port). *bound_port: the port in use. Returns the fd. */
int nio_listen(const char *addr, int port, int backlog, int *bound_port);
/* A connected socket to "HOST:PORT" (or "[v6]:PORT"), within timeout_ms
 * (<= 0: no limit). TCP_NODELAY on. Returns the fd. */
int nio_connect(const char *host_port, int timeout_ms);
/* The next connection on a listening socket, waiting up to timeout_ms
 * (<= 0: no limit). TCP_NODELAY on. Returns the fd, or -1 with *why
 * (may be NULL) NIO_TIMEOUT (nothing came) or NIO_ERROR. */
int nio_accept(int listen_fd, int timeout_ms, int *why);
/* "127.0.0.1:54321" / "[::1]:54321" of the peer (for logs); "?" when the
 * socket has none (never fails: buf always holds a string when n > 0). */
void nio_peer_name(int fd, char *buf, size_t n);

/* Read exactly n bytes before deadline_ms (nio_now_ms() clock; 0: none).
 * -1 on error, timeout or end of stream; *why (may be NULL) says which:
 * NIO_CLOSED (peer closed, 0 bytes of this read received), NIO_TIMEOUT,
 * NIO_ERROR (including a peer that closed after some bytes of this read:
 * a cut message is an error, not a clean end). */
enum { NIO_OK = 0, NIO_CLOSED = 1, NIO_TIMEOUT = 2, NIO_ERROR = 3 };
int nio_read_full(int fd, void *buf, size_t n, int64_t deadline_ms, int *why);
/* Write all n bytes before deadline_ms (0: none). rate_mbps > 0 paces the
 * writes so the bytes leave no faster than that many megabits per second
 * (1 Mbit = 10^6 bits; chunks of at most 1460 bytes, each handed over
 * when the link would have finished carrying it, so a write of n bytes
 * takes n*8/rate): a slow link for measurements. The pace is of bytes handed to the
 * kernel; on loopback that is the link. A deadline the pace cannot meet is
 * a timeout as soon as that is known (no pointless sleeping). A peer that
 * closed or reset: NIO_ERROR-like -1 (hnd_error says so). */
int nio_write_full(int fd, const void *buf, size_t n, double rate_mbps, int64_t deadline_ms);

/* One frame: waits up to idle_ms for its first byte (<= 0: forever), then
 * the whole frame must arrive within frame_ms (<= 0: no limit). Header
 * checks as wf_header_decode with max_payload (so also the per-type
 * length), done before any payload is read or allocated; payload CRC
 * checked. The payload's content is not: call the type's wf_decode_*.
 * *payload is malloc'd (free(); NULL when empty). On failure *payload is
 * NULL and *why is NIO_CLOSED (clean end between frames: no byte of a new
 * frame), NIO_TIMEOUT (idle or frame deadline; hnd_error says which, *code
 * WF_E_TIMEOUT), NIO_ERROR (socket error, or the peer closed mid-frame), or
 * NIO_BAD_FRAME with *code a wf_error_code (WF_E_MALFORMED, WF_E_VERSION,
 * WF_E_TOO_LARGE) and the reason in hnd_error(); after NIO_BAD_FRAME the
 * stream is out of step: answer with an ERROR frame and close. why and
 * code may be NULL. */
enum { NIO_BAD_FRAME = 4 };
int nio_read_frame(int fd, uint32_t max_payload, int idle_ms, int frame_ms, wf_header *h, uint8_t **payload,
                   int *why, int *code);

#ifdef __cplusplus
}
#endif
#endif
