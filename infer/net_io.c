/* net_io.c: TCP with deadlines for the split link (net_io.h). Each read and
 * write waits in poll() with what is left of its deadline, then transfers
 * with MSG_DONTWAIT, so no call can block past the deadline whatever mode
 * the socket is in; MSG_NOSIGNAL keeps a closed peer from killing the
 * process with SIGPIPE. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* accept4, SOCK_CLOEXEC */
#endif
#include "net_io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hnd_error.h"

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t nio_now_ms(void) { return now_ns() / 1000000; }

static void set_why(int *why, int v) {
    if (why) *why = v;
}

/* poll()'s timeout for a deadline: -1 for none, else what is left (>= 0),
 * clamped to int. */
static int poll_timeout(int64_t deadline_ms) {
    if (deadline_ms <= 0) return -1;
    int64_t left = deadline_ms - nio_now_ms();
    if (left <= 0) return 0;
    return left > INT_MAX ? INT_MAX : (int)left;
}

/* Wait for events on fd until the deadline: 1 ready, 0 timed out, -1 error
 * (errno). EINTR restarts the wait with the time that is left. */
static int wait_fd(int fd, short events, int64_t deadline_ms) {
    for (;;) {
        struct pollfd p = {fd, events, 0};
        int r = poll(&p, 1, poll_timeout(deadline_ms));
        if (r > 0) return 1;   /* POLLERR/POLLHUP also end the wait: the transfer says why */
        if (r == 0) return 0;
        if (errno != EINTR) return -1;
    }
}

static void set_nodelay(int fd) {
    int one = 1;
    /* a latency experiment must not wait for Nagle; failing to set it is
     * not worth refusing a connection over */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void addr_name(const struct sockaddr *sa, socklen_t len, char *buf, size_t n) {
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    if (n == 0) return;
    if (getnameinfo(sa, len, host, sizeof host, serv, sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(buf, n, "?");
        return;
    }
    if (sa->sa_family == AF_INET6)
        snprintf(buf, n, "[%s]:%s", host, serv);
    else
        snprintf(buf, n, "%s:%s", host, serv);
}

void nio_peer_name(int fd, char *buf, size_t n) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (n == 0) return;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0) {
        snprintf(buf, n, "?");
        return;
    }
    addr_name((struct sockaddr *)&ss, len, buf, n);
}

/* ---- listen, accept, connect ---- */

int nio_listen(const char *addr, int port, int backlog, int *bound_port) {
    if (!addr) addr = "127.0.0.1";
    if (port < 0 || port > 65535) return hnd_error_set("listen on %s: port %d outside 0..65535", addr, port);
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gr = getaddrinfo(addr, portstr, &hints, &res);
    if (gr != 0) return hnd_error_set("listen on %s:%d: %s", addr, port, gai_strerror(gr));
    int fd = -1;
    int saved = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        /* a restarted server must not wait out TIME_WAIT to get its port */
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog > 0 ? backlog : 16) == 0) break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) return hnd_error_set("listen on %s:%d: %s", addr, port, strerror(saved ? saved : EADDRNOTAVAIL));
    if (bound_port) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
            saved = errno;
            close(fd);
            return hnd_error_set("listen on %s:%d: getsockname: %s", addr, port, strerror(saved));
        }
        *bound_port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                               : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    return fd;
}

int nio_accept(int listen_fd, int timeout_ms, int *why) {
    int64_t deadline = timeout_ms > 0 ? nio_now_ms() + timeout_ms : 0;
    for (;;) {
        int r = wait_fd(listen_fd, POLLIN, deadline);
        if (r == 0) {
            set_why(why, NIO_TIMEOUT);
            return hnd_error_set("accept: no connection within %d ms", timeout_ms);
        }
        if (r < 0) {
            set_why(why, NIO_ERROR);
            return hnd_error_set("accept: poll: %s", strerror(errno));
        }
        int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            set_nodelay(fd);
            set_why(why, NIO_OK);
            return fd;
        }
        /* the connection may have gone between poll and accept (another
         * thread took it, or the client reset): wait again */
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED || errno == EPROTO)
            continue;
        set_why(why, NIO_ERROR);
        return hnd_error_set("accept: %s", strerror(errno));
    }
}

/* "host:port" or "[v6]:port" into host and a numeric port string. */
static int split_host_port(const char *hp, char *host, size_t hn, char *port, size_t pn) {
    const char *colon;
    const char *h0 = hp;
    size_t hl;
    if (hp[0] == '[') {
        const char *close_b = strchr(hp, ']');
        if (!close_b || close_b[1] != ':') return hnd_error_set("connect: '%s' is not [IPv6]:PORT", hp);
        h0 = hp + 1;
        hl = (size_t)(close_b - h0);
        colon = close_b + 1;
    } else {
        colon = strrchr(hp, ':');
        if (!colon) return hnd_error_set("connect: '%s' has no :PORT", hp);
        if (memchr(hp, ':', (size_t)(colon - hp)))
            return hnd_error_set("connect: '%s': write an IPv6 address as [ADDR]:PORT", hp);
        hl = (size_t)(colon - hp);
    }
    const char *p = colon + 1;
    char *end = NULL;
    long v = strtol(p, &end, 10);
    if (hl == 0 || *p == '\0' || *end != '\0' || v < 1 || v > 65535)
        return hnd_error_set("connect: '%s': expected HOST:PORT with PORT in 1..65535", hp);
    if (hl >= hn) return hnd_error_set("connect: '%s': host name too long", hp);
    memcpy(host, h0, hl);
    host[hl] = '\0';
    snprintf(port, pn, "%ld", v);
    return 0;
}

/* One address: a non-blocking connect waited for in poll, so that the
 * timeout holds (a blocking connect to a silent host waits minutes). */
static int connect_one(const struct addrinfo *ai, int64_t deadline, int *err_out) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) {
        *err_out = errno;
        return -1;
    }
    int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (r != 0 && errno != EINPROGRESS && errno != EINTR) {
        *err_out = errno;
        close(fd);
        return -1;
    }
    if (r != 0) {
        int w = wait_fd(fd, POLLOUT, deadline);
        if (w <= 0) {
            *err_out = w == 0 ? ETIMEDOUT : errno;
            close(fd);
            return -1;
        }
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) soerr = errno;
        if (soerr != 0) {
            *err_out = soerr;
            close(fd);
            return -1;
        }
    }
    /* back to blocking: the caller may use the fd with plain calls */
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        *err_out = errno;
        close(fd);
        return -1;
    }
    set_nodelay(fd);
    return fd;
}

int nio_connect(const char *host_port, int timeout_ms) {
    char host[256], port[8];
    if (!host_port) return hnd_error_set("connect: no address");
    if (split_host_port(host_port, host, sizeof host, port, sizeof port) != 0) return -1;
    int64_t deadline = timeout_ms > 0 ? nio_now_ms() + timeout_ms : 0;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int gr = getaddrinfo(host, port, &hints, &res);
    if (gr != 0) return hnd_error_set("connect to %s: %s", host_port, gai_strerror(gr));
    int fd = -1, e = ECONNREFUSED;
    /* every address in turn (localhost may be ::1 then 127.0.0.1), all
     * within the one deadline */
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        if (deadline && nio_now_ms() >= deadline) {
            e = ETIMEDOUT;
            break;
        }
        fd = connect_one(ai, deadline, &e);
    }
    freeaddrinfo(res);
    if (fd < 0) {
        if (e == ETIMEDOUT) return hnd_error_set("connect to %s: no answer within %d ms", host_port, timeout_ms);
        return hnd_error_set("connect to %s: %s", host_port, strerror(e));
    }
    return fd;
}

/* ---- reads and writes ---- */

int nio_read_full(int fd, void *buf, size_t n, int64_t deadline_ms, int *why) {
    uint8_t *p = (uint8_t *)buf;
    size_t got = 0;
    set_why(why, NIO_OK);
    while (got < n) {
        int w = wait_fd(fd, POLLIN, deadline_ms);
        if (w == 0) {
            set_why(why, NIO_TIMEOUT);
            return hnd_error_set("read: timed out after %zu of %zu bytes", got, n);
        }
        if (w < 0) {
            set_why(why, NIO_ERROR);
            return hnd_error_set("read: poll: %s", strerror(errno));
        }
        ssize_t r = recv(fd, p + got, n - got, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        if (r == 0) {
            if (got == 0) {
                set_why(why, NIO_CLOSED);
                return hnd_error_set("read: connection closed by the peer");
            }
            set_why(why, NIO_ERROR);
            return hnd_error_set("read: connection closed by the peer after %zu of %zu bytes", got, n);
        }
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
        set_why(why, NIO_ERROR);
        return hnd_error_set("read: %s", strerror(errno));
    }
    return 0;
}

/* Sleep until t_ns on the monotonic clock (EINTR: sleep the rest). */
static void sleep_until_ns(int64_t t_ns) {
    struct timespec ts = {(time_t)(t_ns / 1000000000), (long)(t_ns % 1000000000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

int nio_write_full(int fd, const void *buf, size_t n, double rate_mbps, int64_t deadline_ms) {
    const uint8_t *p = (const uint8_t *)buf;
    size_t sent = 0;
    int paced = rate_mbps > 0.0;
    /* nanoseconds per byte at the rate: 8 bits / (rate * 1e6 bit/s) */
    double ns_per_byte = paced ? 8000.0 / rate_mbps : 0.0;
    int64_t t0 = now_ns();
    while (sent < n) {
        size_t chunk = n - sent;
        if (paced) {
            if (chunk > 1460) chunk = 1460;
            /* a chunk is handed over when a link of that rate would have
             * finished carrying it, so the last byte arrives n*8/rate after
             * the start, as over the real link (a frame smaller than one
             * chunk is delayed too) */
            int64_t due = t0 + (int64_t)((double)(sent + chunk) * ns_per_byte);
            if (due > now_ns()) {
                if (deadline_ms > 0 && due / 1000000 >= deadline_ms)
                    return hnd_error_set("write: at %g Mbit/s, %zu bytes cannot leave before the deadline (%zu sent)",
                                         rate_mbps, n, sent);
                sleep_until_ns(due);
            }
        }
        int w = wait_fd(fd, POLLOUT, deadline_ms);
        if (w == 0) return hnd_error_set("write: timed out after %zu of %zu bytes", sent, n);
        if (w < 0) return hnd_error_set("write: poll: %s", strerror(errno));
        ssize_t r = send(fd, p + sent, chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r >= 0) {
            sent += (size_t)r;
            continue;
        }
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
        if (errno == EPIPE || errno == ECONNRESET)
            return hnd_error_set("write: connection closed by the peer after %zu of %zu bytes", sent, n);
        return hnd_error_set("write: %s", strerror(errno));
    }
    return 0;
}

int nio_read_frame(int fd, uint32_t max_payload, int idle_ms, int frame_ms, wf_header *h, uint8_t **payload,
                   int *why, int *code) {
    int dummy_why, dummy_code;
    if (!why) why = &dummy_why;
    if (!code) code = &dummy_code;
    *why = NIO_OK;
    *code = 0;
    *payload = NULL;
    memset(h, 0, sizeof *h);

    /* idle: nothing owed yet; only the first byte ends the wait */
    int64_t idle_deadline = idle_ms > 0 ? nio_now_ms() + idle_ms : 0;
    int w = wait_fd(fd, POLLIN, idle_deadline);
    if (w == 0) {
        *why = NIO_TIMEOUT;
        *code = WF_E_TIMEOUT;
        return hnd_error_set("idle: no frame within %d ms", idle_ms);
    }
    if (w < 0) {
        *why = NIO_ERROR;
        return hnd_error_set("read: poll: %s", strerror(errno));
    }

    /* the frame's clock starts at its first byte: a peer trickling bytes
     * cannot hold the connection longer than frame_ms */
    int64_t deadline = frame_ms > 0 ? nio_now_ms() + frame_ms : 0;
    uint8_t hb[WF_HEADER_BYTES];
    int r_why = NIO_OK;
    if (nio_read_full(fd, hb, sizeof hb, deadline, &r_why) != 0) {
        *why = r_why;
        if (r_why == NIO_TIMEOUT) {
            *code = WF_E_TIMEOUT;
            return hnd_error_prefix("frame header not complete within %d ms", frame_ms);
        }
        if (r_why == NIO_CLOSED) return -1;   /* clean end between frames */
        return hnd_error_prefix("frame header");
    }
    char err[256];
    if (wf_header_decode(hb, max_payload, h, code, err, sizeof err) != 0) {
        *why = NIO_BAD_FRAME;
        return hnd_error_set("%s", err);
    }
    /* only now, with the length checked against max_payload and the type,
     * is the payload worth memory */
    if (h->payload_len == 0) {
        if (wf_payload_check(h, NULL, err, sizeof err) != 0) {
            *why = NIO_BAD_FRAME;
            *code = WF_E_MALFORMED;
            return hnd_error_set("%s", err);
        }
        return 0;
    }
    uint8_t *p = (uint8_t *)malloc(h->payload_len);
    if (!p) {
        *why = NIO_ERROR;
        return hnd_error_set("out of memory for a %u-byte %s payload", (unsigned)h->payload_len,
                             wf_type_name(h->type));
    }
    if (nio_read_full(fd, p, h->payload_len, deadline, &r_why) != 0) {
        free(p);
        if (r_why == NIO_TIMEOUT) {
            *why = NIO_TIMEOUT;
            *code = WF_E_TIMEOUT;
            return hnd_error_prefix("%s payload of %u bytes not complete within %d ms", wf_type_name(h->type),
                                    (unsigned)h->payload_len, frame_ms);
        }
        /* closed after the header: mid-frame, never a clean end */
        *why = NIO_ERROR;
        return hnd_error_prefix("%s payload", wf_type_name(h->type));
    }
    if (wf_payload_check(h, p, err, sizeof err) != 0) {
        free(p);
        *why = NIO_BAD_FRAME;
        *code = WF_E_MALFORMED;
        return hnd_error_set("%s", err);
    }
    *payload = p;
    return 0;
}
