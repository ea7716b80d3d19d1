/* split_server.c: see split_server.h. */
#define _GNU_SOURCE   /* accept4, pipe2 */
#include "split_server.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctorch.h"
#include "det_results.h"
#include "hnd_error.h"
#include "link_codec.h"
#include "img.h"
#include "mask_rle.h"
#include "mono_clock.h"
#include "net_io.h"
#include "wire.h"

typedef struct {
    ss_server *srv;
    pthread_t th;
    int fd;          /* -1 once closed (changed under srv->mu) */
    int used, done;  /* slot taken (accept thread only); thread finished (under mu) */
    char peer[96];
} ss_conn;

struct ss_server {
    ss_model model;
    ss_options o;
    char bind[256];
    int port, lfd, wake[2];
    int channels, size_divisible;
    int64_t max_padded;          /* the transform's largest padded side */
    uint32_t max_bneck, max_payload;
    double mask_thresh;
    atomic_int stop;             /* set by ss_request_stop (lock-free: signal-safe) */
    pthread_mutex_t mu;          /* slots, stats */
    pthread_mutex_t model_mu;    /* one model run at a time */
    ss_conn *conns;
    ss_stats st;
    double *times;               /* ring of SS_TIMES model times */
    int64_t times_total;
};

/* ------------------------------------------------------------ sizes */

/* The bottleneck's side for a padded side: the stem halves it twice
 * (conv 7x7/2 p3, maxpool 3x3/2 p1), the encoder's four 2x2 p1 convs add 4. */
static int64_t bottleneck_side(int64_t padded) { return ((padded + 1) / 2 + 1) / 2 + 4; }

static int dtype_for_bits(int bits) { return bits == 8 ? WF_U8 : bits == 16 ? WF_F16 : WF_F32; }

static const char *dtype_name(int dt) {
    return dt == WF_U8 ? "uint8" : dt == WF_F16 ? "float16" : dt == WF_F32 ? "float32" : dt == WF_U8_RANS ? "uint8 (rANS)"
           : dt == WF_EB_RANS ? "entropy-coded symbols" : "unknown";
}

static int set_limits(ss_server *s) {
    const rcnn_config *rc = sr_config(s->model.tail);
    s->channels = (int)sr_channels(s->model.tail);
    s->size_divisible = rc->transform.size_divisible > 0 ? rc->transform.size_divisible : 1;
    s->mask_thresh = rc->mask.mask_thresh;
    int64_t d = s->size_divisible, side = (int64_t)ceil(rc->transform.max_size);
    s->max_padded = (side + d - 1) / d * d;
    int64_t b = bottleneck_side(s->max_padded);
    int64_t numel = (int64_t)s->channels * b * b;
    int64_t bytes = WF_BOTTLENECK_FIXED + numel * (int64_t)wf_dtype_size(dtype_for_bits(s->model.bits));
    /* an 8-bit link may also come coded (WF_U8_RANS): at most 2 numel + 1024 */
    if (s->model.bits == 8) bytes = WF_BOTTLENECK_FIXED + 2 * numel + 1024;
    /* an entropy bottleneck's stream: at most WF_EB_MAX(numel) */
    if (s->model.eb && WF_BOTTLENECK_FIXED + (int64_t)WF_EB_MAX(numel) > bytes)
        bytes = WF_BOTTLENECK_FIXED + (int64_t)WF_EB_MAX(numel);
    if (bytes > UINT32_MAX - WF_HEADER_BYTES)
        return hnd_error_set("split server: the largest bottleneck (%lld bytes) does not fit a frame", (long long)bytes);
    s->max_bneck = (uint32_t)bytes;
    s->max_payload = s->max_bneck;
    if (s->model.original && s->max_payload < SS_MAX_IMAGE_BYTES) s->max_payload = SS_MAX_IMAGE_BYTES;
    if (s->max_payload < WF_HELLO_BYTES) s->max_payload = WF_HELLO_BYTES;
    return 0;
}

/* ------------------------------------------------------------ setup */

static int check_model(const ss_model *m, const ss_options *o) {
    if (!m || !m->tail || !o) return hnd_error_set("split server: no model");
    if (!sr_is_student(m->tail))
        return hnd_error_set("split server: the tail must be a student's (a model with a bottleneck)");
    if (m->bits != 8 && m->bits != 16 && m->bits != 32)
        return hnd_error_set("split server: bits must be 8, 16 or 32, got %d", m->bits);
    if (m->eb && m->bits != 32)
        return hnd_error_set("split server: an entropy bottleneck's link is 32 bits (its rounded values), got %d",
                             m->bits);
    if (m->eb && (int64_t)m->eb->channels != sr_channels(m->tail))
        return hnd_error_set("split server: entropy bottleneck tables of %u channels for a C=%lld tail",
                             m->eb->channels, (long long)sr_channels(m->tail));
    if (o->max_conns < 1 || o->idle_timeout_s < 0 || o->frame_timeout_s < 0 || o->max_requests < 0)
        return hnd_error_set("split server: bad limits");
    return 0;
}

static int open_sockets(ss_server *s) {
    if (pipe2(s->wake, O_CLOEXEC | O_NONBLOCK) != 0) return hnd_error_set("split server: pipe: %s", strerror(errno));
    s->lfd = nio_listen(s->bind, s->o.port, 64, &s->port);
    if (s->lfd < 0) return -1;
    int fl = fcntl(s->lfd, F_GETFL);
    if (fl < 0 || fcntl(s->lfd, F_SETFL, fl | O_NONBLOCK) != 0)
        return hnd_error_set("split server: listening socket: %s", strerror(errno));
    return 0;
}

ss_server *ss_new(const ss_model *model, const ss_options *opts) {
    if (check_model(model, opts) != 0) return NULL;
    ss_server *s = calloc(1, sizeof *s);
    if (!s) {
        hnd_error_set("split server: out of memory");
        return NULL;
    }
    s->model = *model;
    s->o = *opts;
    s->lfd = s->wake[0] = s->wake[1] = -1;
    snprintf(s->bind, sizeof s->bind, "%s", opts->bind ? opts->bind : "127.0.0.1");
    s->o.bind = s->bind;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->model_mu, NULL);
    s->conns = calloc((size_t)opts->max_conns, sizeof *s->conns);
    s->times = malloc(sizeof *s->times * SS_TIMES);
    if (!s->conns || !s->times) {
        hnd_error_set("split server: out of memory");
        ss_destroy(s);
        return NULL;
    }
    if (set_limits(s) != 0 || open_sockets(s) != 0) {
        ss_destroy(s);
        return NULL;
    }
    return s;
}

int ss_port(const ss_server *s) { return s->port; }
const char *ss_bind_address(const ss_server *s) { return s->bind; }
uint32_t ss_max_bottleneck_payload(const ss_server *s) { return s->max_bneck; }

void ss_request_stop(ss_server *s) {
    s->stop = 1;
    if (s->wake[1] >= 0) {
        ssize_t r = write(s->wake[1], "x", 1);
        (void)r;
    }
}

void ss_destroy(ss_server *s) {
    if (!s) return;
    if (s->lfd >= 0) close(s->lfd);
    if (s->wake[0] >= 0) close(s->wake[0]);
    if (s->wake[1] >= 0) close(s->wake[1]);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->model_mu);
    free(s->conns);
    free(s->times);
    free(s);
}

/* ------------------------------------------------------------ stats */

static void stat_add(ss_server *s, int64_t in, int64_t out, int request, int error, double ms) {
    pthread_mutex_lock(&s->mu);
    s->st.bytes_in += in;
    s->st.bytes_out += out;
    s->st.requests += request;
    s->st.errors += error;
    if (ms >= 0) s->times[s->times_total++ % SS_TIMES] = ms;
    int64_t answered = s->st.requests;
    pthread_mutex_unlock(&s->mu);
    if (request && s->o.max_requests > 0 && answered >= s->o.max_requests) ss_request_stop(s);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void ss_get_stats(ss_server *s, ss_stats *out) {
    pthread_mutex_lock(&s->mu);
    *out = s->st;
    int64_t n = s->times_total < SS_TIMES ? s->times_total : SS_TIMES;
    double *t = n ? malloc(sizeof *t * (size_t)n) : NULL;
    if (t) memcpy(t, s->times, sizeof *t * (size_t)n);
    pthread_mutex_unlock(&s->mu);
    out->n_times = t ? n : 0;
    out->ms_median = out->ms_p95 = 0;
    if (!t) return;
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    out->ms_median = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    out->ms_p95 = t[(int64_t)ceil(0.95 * (double)n) - 1];
    free(t);
}

void ss_print_summary(ss_server *s, FILE *f) {
    ss_stats st;
    ss_get_stats(s, &st);
    fprintf(f,
            "hnd serve: %lld connections (%lld refused), %lld requests, %lld errors, %lld bytes in, %lld bytes out, "
            "model ms median %.1f p95 %.1f (%lld timed)\n",
            (long long)st.connections, (long long)st.refused, (long long)st.requests, (long long)st.errors,
            (long long)st.bytes_in, (long long)st.bytes_out, st.ms_median, st.ms_p95, (long long)st.n_times);
    fflush(f);
}

/* ------------------------------------------------------------ replies */

static int64_t write_deadline(const ss_server *s) {
    return nio_now_ms() + (s->o.frame_timeout_s > 0 ? s->o.frame_timeout_s * 1000LL : 10000);
}

/* Sends a frame; its bytes counted. 0 / -1 (the peer is gone). */
static int send_frame(ss_server *s, ss_conn *c, uint8_t *frame, size_t n, int is_error) {
    if (!frame) return -1;
    int r = nio_write_full(c->fd, frame, n, 0, write_deadline(s));
    free(frame);
    stat_add(s, 0, r == 0 ? (int64_t)n : 0, 0, is_error, -1);
    return r;
}

static int send_error(ss_server *s, ss_conn *c, uint64_t id, uint32_t code, const char *msg) {
    char m[WF_MAX_ERROR_MESSAGE + 1];
    snprintf(m, sizeof m, "%s", msg);   /* cut to the wire's limit */
    size_t n = 0;
    uint8_t *f = wf_encode_error(id, code, m, &n);
    return send_frame(s, c, f, n, 1);
}

static void log_line(ss_server *s, const ss_conn *c, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void log_line(ss_server *s, const ss_conn *c, const char *fmt, ...) {
    if (s->o.quiet) return;
    char line[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    FILE *f = s->o.log ? s->o.log : stdout;
    fprintf(f, "client %s %s\n", c->peer, line);
    fflush(f);
}

/* ------------------------------------------------------------ HELLO */

static int all_zero(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

static void hex8(const uint8_t *d, char out[17]) {
    for (int i = 0; i < 8; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* What differs between the client's HELLO and the model ("" when nothing). */
static void hello_diff(const ss_server *s, const wf_hello *h, char *msg, size_t n) {
    size_t k = 0;
    msg[0] = 0;
    if (!all_zero(h->manifest_sha256, 32) && !all_zero(s->model.digest, 32) &&
        memcmp(h->manifest_sha256, s->model.digest, 32) != 0) {
        char a[17], b[17];
        hex8(h->manifest_sha256, a);
        hex8(s->model.digest, b);
        k += (size_t)snprintf(msg + k, n - k, "manifest digest %s... differs from the server's %s...; ", a, b);
    }
    if (k < n && h->bits != (uint32_t)s->model.bits)
        k += (size_t)snprintf(msg + k, n - k, "bits %u, the server's %d; ", h->bits, s->model.bits);
    if (k < n && h->channels != (uint32_t)s->channels)
        k += (size_t)snprintf(msg + k, n - k, "C %u, the server's %d; ", h->channels, s->channels);
    if (k >= 2 && k < n) msg[k - 2] = 0;   /* the last "; " */
}

/* 1: keep the connection, 0: close it. */
static int on_hello(ss_server *s, ss_conn *c, const wf_header *hd, const uint8_t *p) {
    wf_hello h;
    char err[512];
    if (wf_decode_hello(p, hd->payload_len, &h, err, sizeof err) != 0) {
        send_error(s, c, hd->request_id, WF_E_MALFORMED, err);
        return 0;
    }
    hello_diff(s, &h, err, sizeof err);
    if (err[0]) {
        log_line(s, c, "HELLO refused: %s", err);
        send_error(s, c, hd->request_id, WF_E_MISMATCH, err);
        return 0;
    }
    wf_hello ok = {.bits = (uint32_t)s->model.bits, .channels = (uint32_t)s->channels};
    memcpy(ok.manifest_sha256, s->model.digest, 32);
    size_t n = 0;
    uint8_t *f = wf_encode_hello(WF_HELLO_OK, hd->request_id, &ok, &n);
    return send_frame(s, c, f, n, 0) == 0;
}

/* ------------------------------------------------------------ BOTTLENECK */

static int check_padded(const ss_server *s, const char *what, uint32_t padded, uint32_t resized, uint32_t side,
                        char *err, size_t n) {
    int64_t d = s->size_divisible;
    if (padded == 0 || padded % d != 0 || padded > s->max_padded)
        return snprintf(err, n, "padded %s %u: not a multiple of %lld in %lld..%lld", what, padded, (long long)d,
                        (long long)d, (long long)s->max_padded), -1;
    if (resized == 0 || resized > padded || padded - resized >= d)
        return snprintf(err, n, "resized %s %u does not pad to %u (size_divisible %lld)", what, resized, padded,
                        (long long)d), -1;
    if (side != bottleneck_side(padded))
        return snprintf(err, n, "bottleneck %s %u, the model's for a padded %s of %u is %lld", what, side, what,
                        padded, (long long)bottleneck_side(padded)), -1;
    return 0;
}

/* A decoded bottleneck against the model: WF_E_MISMATCH reasons. 0 / -1. */
static int check_bottleneck(const ss_server *s, const wf_bottleneck *b, char *err, size_t n) {
    int want = dtype_for_bits(s->model.bits);
    if (b->dtype != want)
        return snprintf(err, n, "dtype %s, the server's link is %d bits (%s)", dtype_name(b->dtype), s->model.bits,
                        dtype_name(want)), -1;
    if (b->c != (uint32_t)s->channels) return snprintf(err, n, "C %u, the model's %d", b->c, s->channels), -1;
    if (check_padded(s, "height", b->padded_h, b->resized_h, b->h, err, n) != 0 ||
        check_padded(s, "width", b->padded_w, b->resized_w, b->w, err, n) != 0)
        return -1;
    if (b->orig_h == 0 || b->orig_w == 0 || b->orig_h > SS_MAX_ORIG_SIDE || b->orig_w > SS_MAX_ORIG_SIDE ||
        (int64_t)b->orig_h * b->orig_w > SS_MAX_ORIG_PIXELS)
        return snprintf(err, n, "original size %ux%u: each side 1..%d, at most %lld pixels", b->orig_w, b->orig_h,
                        SS_MAX_ORIG_SIDE, SS_MAX_ORIG_PIXELS), -1;
    if ((size_t)b->c * b->h * b->w * wf_dtype_size(b->dtype) != b->data_bytes)
        return snprintf(err, n, "%zu data bytes for a %ux%ux%u tensor", b->data_bytes, b->c, b->h, b->w), -1;
    return 0;
}

static int host_little_endian(void) {
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* The values must be finite (a float link) and the scale too (uint8). */
static int check_values(const wf_bottleneck *b, char *err, size_t n) {
    if (b->dtype == WF_U8) {
        if (!isfinite(b->scale) || b->scale < 0) return snprintf(err, n, "scale %g is not finite and >= 0", b->scale), -1;
        return 0;
    }
    size_t es = wf_dtype_size(b->dtype), cnt = b->data_bytes / es;
    for (size_t i = 0; i < cnt; i++) {
        const uint8_t *e = b->data + i * es;
        int bad = es == 2 ? (e[1] & 0x7c) == 0x7c : (e[3] & 0x7f) == 0x7f && (e[2] & 0x80);
        if (bad) return snprintf(err, n, "element %zu is not finite", i), -1;
    }
    return 0;
}

/* The tensor's bytes in host order (the wire's are little-endian). */
static ct_tensor *link_tensor(const wf_bottleneck *b) {
    const int64_t shape[4] = {1, b->c, b->h, b->w};
    int dt = b->dtype == WF_U8 ? CT_U8 : b->dtype == WF_F16 ? CT_F16 : CT_F32;
    size_t es = wf_dtype_size(b->dtype);
    if (es == 1 || host_little_endian()) return ct_from_buffer(b->data, (ct_dtype)dt, 4, shape);
    uint8_t *sw = malloc(b->data_bytes ? b->data_bytes : 1);
    if (!sw) return NULL;
    for (size_t i = 0; i < b->data_bytes; i += es)
        for (size_t j = 0; j < es; j++) sw[i + j] = b->data[i + es - 1 - j];
    ct_tensor *t = ct_from_buffer(sw, (ct_dtype)dt, 4, shape);
    free(sw);
    return t;
}

static int make_link(const ss_server *s, const wf_bottleneck *b, sr_link *l) {
    memset(l, 0, sizeof *l);
    l->bits = s->model.bits;
    l->n = 1;
    l->scale = malloc(sizeof *l->scale);
    l->zero_point = malloc(sizeof *l->zero_point);
    l->sizes = malloc(sizeof *l->sizes);
    l->orig_sizes = malloc(sizeof *l->orig_sizes);
    if (!l->scale || !l->zero_point || !l->sizes || !l->orig_sizes) return hnd_error_set("out of memory");
    l->scale[0] = b->scale;
    l->zero_point[0] = b->zero_point;
    l->padded_hw[0] = b->padded_h;
    l->padded_hw[1] = b->padded_w;
    l->sizes[0][0] = b->resized_h;
    l->sizes[0][1] = b->resized_w;
    l->orig_sizes[0][0] = b->orig_h;
    l->orig_sizes[0][1] = b->orig_w;
    l->z = link_tensor(b);
    if (!l->z) return hnd_error_set("bottleneck tensor: %s", ct_last_error());
    return 0;
}

/* ------------------------------------------------------------ detections */

/* One image's detections as a DETECTIONS frame (masks as COCO RLE). */
static uint8_t *encode_detections(const ss_server *s, uint64_t id, int64_t image_id, const rcnn_detections *d,
                                  int64_t oh, int64_t ow, double ms, size_t *n, uint32_t *k_out) {
    dr_host h;
    if (dr_to_host(d, oh, ow, s->mask_thresh, &h) != 0) return NULL;
    uint32_t k = (uint32_t)h.k;
    wf_detections w = {.image_id = image_id, .k = k, .has_masks = h.masks != NULL, .server_ms = (float)ms,
                       .height = (uint32_t)oh, .width = (uint32_t)ow, .boxes = h.boxes, .scores = h.scores};
    w.labels = malloc(sizeof *w.labels * (k + 1));
    w.rle = h.masks ? calloc(k + 1, sizeof *w.rle) : NULL;
    uint8_t *frame = NULL;
    int ok = w.labels && (!h.masks || w.rle);
    for (uint32_t i = 0; ok && i < k; i++) {
        w.labels[i] = (int32_t)h.labels[i];
        if (!h.masks) continue;
        rle_t r;
        rle_init(&r);
        ok = rle_encode_rowmajor(&r, h.masks + (size_t)i * oh * ow, (uint32_t)oh, (uint32_t)ow) == 0 &&
             (w.rle[i] = rle_to_string(&r)) != NULL;
        rle_clear(&r);
    }
    char err[256] = "out of memory";
    if (ok) frame = wf_encode_detections(id, &w, n, err, sizeof err);
    if (!frame) hnd_error_set("detections: %s", err);
    *k_out = k;
    for (uint32_t i = 0; w.rle && i < k; i++) free(w.rle[i]);
    free(w.rle);
    free(w.labels);
    dr_host_clear(&h);
    return frame;
}

/* The outcome of one request: detections, or an error code and message. */
typedef struct {
    rcnn_detections det;
    int have_det;
    int64_t image_id, oh, ow;
    double ms;
    uint32_t code;   /* 0: detections */
    int close;       /* close the connection after the reply */
    char msg[WF_MAX_ERROR_MESSAGE + 1];
} ss_result;

static void result_error(ss_result *r, uint32_t code, int close, const char *msg) {
    r->code = code;
    r->close = close;
    snprintf(r->msg, sizeof r->msg, "%s", msg);
}

static void run_tail(ss_server *s, const wf_bottleneck *b, ss_result *r) {
    sr_link l;
    if (make_link(s, b, &l) != 0) {
        sr_link_clear(&l);
        return result_error(r, WF_E_INTERNAL, 0, hnd_error());
    }
    pthread_mutex_lock(&s->model_mu);
    double t0 = mono_now_s();
    int rc = sr_tail(s->model.tail, &l, &r->det, NULL);
    r->ms = 1e3 * (mono_now_s() - t0);
    pthread_mutex_unlock(&s->model_mu);
    sr_link_clear(&l);
    if (rc != 0) return result_error(r, WF_E_INTERNAL, 0, hnd_error());
    r->have_det = 1;
}

/* A coded 8-bit tensor (WF_U8_RANS) as the plain one it codes: its shape
 * is checked against the model before anything is allocated, then the
 * stream decoded into *plain (malloc'd). 0, or -1 with the error code. */
static int uncode(const ss_server *s, wf_bottleneck *b, uint8_t **plain, int *code, char *err, size_t n) {
    wf_bottleneck v = *b;
    v.dtype = WF_U8;
    v.data_bytes = (size_t)b->c * b->h * b->w;
    if (check_bottleneck(s, &v, err, n) != 0) return *code = WF_E_MISMATCH, -1;
    if (!(*plain = malloc(v.data_bytes))) return *code = WF_E_INTERNAL, snprintf(err, n, "out of memory"), -1;
    if (lc_decode(b->data, b->data_bytes, *plain, (int)b->c, (int)b->h, (int)b->w, err, n) != 0)
        return *code = WF_E_MALFORMED, -1;
    v.data = *plain;
    *b = v;
    return 0;
}

/* An entropy-coded tensor (WF_EB_RANS) as the float32 one the tail takes:
 * the server's tables (the same CRC), the shape checked before anything is
 * allocated, the symbols decoded (eb_codec.c refuses a corrupt or cut
 * stream) and symbol + median written to *plain (malloc'd). 0 / -1 + code. */
static int eb_uncode(const ss_server *s, wf_bottleneck *b, uint8_t **plain, int *code, char *err, size_t n) {
    const ebc_tables *t = s->model.eb;
    if (!t)
        return *code = WF_E_UNSUPPORTED,
               snprintf(err, n, "an entropy-coded bottleneck, but this server has no entropy-bottleneck tables"), -1;
    if (b->tables_crc != s->model.eb_crc)
        return *code = WF_E_MISMATCH,
               snprintf(err, n, "entropy-coded with tables of CRC %08x, the server's are %08x", (unsigned)b->tables_crc,
                        (unsigned)s->model.eb_crc), -1;
    wf_bottleneck v = *b;
    v.dtype = WF_F32;
    v.scale = 0.0f;
    size_t count = (size_t)b->c * b->h * b->w;
    v.data_bytes = count * sizeof(float);
    if (check_bottleneck(s, &v, err, n) != 0) return *code = WF_E_MISMATCH, -1;
    int32_t *sym = malloc(count * sizeof *sym);
    *plain = malloc(v.data_bytes);
    int rc = 0;
    char e[256];
    if (!sym || !*plain) {
        *code = WF_E_INTERNAL;
        snprintf(err, n, "out of memory");
        rc = -1;
    } else if (ebc_decode(t, b->data, b->data_bytes, sym, b->h * b->w, e, sizeof e) != 0) {
        *code = WF_E_MALFORMED;
        snprintf(err, n, "entropy-coded bottleneck: %s", e);
        rc = -1;
    } else {
        ebc_dequantize(t, sym, b->h * b->w, (float *)(void *)*plain);
    }
    free(sym);
    if (rc != 0) return rc;
    v.data = *plain;
    *b = v;
    return 0;
}

static void on_bottleneck(ss_server *s, const wf_header *hd, const uint8_t *p, ss_result *r) {
    wf_bottleneck b;
    char err[512];
    uint8_t *plain = NULL;
    int code = 0;
    if (wf_decode_bottleneck(p, hd->payload_len, &b, err, sizeof err) != 0)
        return result_error(r, WF_E_MALFORMED, 1, err);
    r->image_id = b.image_id;
    if ((b.dtype == WF_U8_RANS && uncode(s, &b, &plain, &code, err, sizeof err) != 0) ||
        (b.dtype == WF_EB_RANS && eb_uncode(s, &b, &plain, &code, err, sizeof err) != 0)) {
        free(plain);
        return result_error(r, code, 0, err);
    }
    if (check_bottleneck(s, &b, err, sizeof err) != 0) code = WF_E_MISMATCH;
    else if (check_values(&b, err, sizeof err) != 0) code = WF_E_MALFORMED;
    if (code) {
        free(plain);
        return result_error(r, code, 0, err);
    }
    r->oh = b.orig_h;
    r->ow = b.orig_w;
    run_tail(s, &b, r);
    free(plain);
}

/* ------------------------------------------------------------ IMAGE */

static ct_tensor *image_to_tensor(const img_u8 *im, ct_device dev) {
    int64_t shape[3] = {3, im->height, im->width};
    float *chw = malloc(sizeof(float) * 3 * (size_t)im->width * (size_t)im->height);
    if (!chw) return NULL;
    img_to_chw_f32(im, chw);
    ct_tensor *t = ct_from_buffer(chw, CT_F32, 3, shape);
    free(chw);
    return t && dev.type != CT_CPU ? ct_to_device(t, dev) : t;
}

static void run_whole(ss_server *s, const img_u8 *im, ss_result *r) {
    sr_model *m = s->model.original;
    ct_tensor *t = image_to_tensor(im, sr_device(m));
    if (!t) return result_error(r, WF_E_INTERNAL, 0, "image tensor: out of memory");
    const ct_tensor *imgs[1] = {t};
    pthread_mutex_lock(&s->model_mu);
    double t0 = mono_now_s();
    int rc = sr_detect(m, imgs, 1, &r->det);
    r->ms = 1e3 * (mono_now_s() - t0);
    pthread_mutex_unlock(&s->model_mu);
    ct_destroy(t);
    if (rc != 0) return result_error(r, WF_E_INTERNAL, 0, hnd_error());
    r->have_det = 1;
}

static void on_image(ss_server *s, const wf_header *hd, const uint8_t *p, ss_result *r) {
    wf_image w;
    char err[512];
    if (wf_decode_image(p, hd->payload_len, &w, err, sizeof err) != 0) return result_error(r, WF_E_MALFORMED, 1, err);
    r->image_id = w.image_id;
    if (!s->model.original)
        return result_error(r, WF_E_UNSUPPORTED, 0, "IMAGE: this server runs no whole model (hnd serve --original)");
    if (w.format != WF_JPEG) return result_error(r, WF_E_UNSUPPORTED, 0, "IMAGE: only JPEG (format 1) is supported");
    int iw = 0, ih = 0;
    if (img_probe_mem("IMAGE", w.data, w.data_bytes, &iw, &ih) != 0) return result_error(r, WF_E_MALFORMED, 0, hnd_error());
    if (iw > SS_MAX_ORIG_SIDE || ih > SS_MAX_ORIG_SIDE || (int64_t)iw * ih > SS_MAX_ORIG_PIXELS) {
        snprintf(err, sizeof err, "IMAGE %dx%d: each side at most %d, at most %lld pixels", iw, ih, SS_MAX_ORIG_SIDE,
                 SS_MAX_ORIG_PIXELS);
        return result_error(r, WF_E_TOO_LARGE, 0, err);
    }
    img_u8 im;
    memset(&im, 0, sizeof im);
    if (img_decode_mem("IMAGE", w.data, w.data_bytes, &im) != 0) return result_error(r, WF_E_MALFORMED, 0, hnd_error());
    r->oh = im.height;
    r->ow = im.width;
    run_whole(s, &im, r);
    img_clear(&im);
}

/* ------------------------------------------------------------ requests */

/* Answers one BOTTLENECK / IMAGE. 1: keep the connection, 0: close. */
static int on_request(ss_server *s, ss_conn *c, const wf_header *hd, const uint8_t *p) {
    ss_result r;
    memset(&r, 0, sizeof r);
    int is_image = hd->type == WF_IMAGE;
    ct_scope_begin();
    if (is_image) on_image(s, hd, p, &r);
    else on_bottleneck(s, hd, p, &r);
    size_t n = 0;
    uint32_t k = 0;
    uint8_t *frame = NULL;
    if (r.have_det && !(frame = encode_detections(s, hd->request_id, r.image_id, &r.det, r.oh, r.ow, r.ms, &n, &k)))
        result_error(&r, WF_E_INTERNAL, 0, hnd_error());
    rcnn_detections_clear(&r.det);
    ct_scope_end();
    const char *what = is_image ? "image" : "bottleneck";
    unsigned long long id = (unsigned long long)hd->request_id, bytes = WF_HEADER_BYTES + (unsigned long long)hd->payload_len;
    int sent;
    if (frame) {
        sent = send_frame(s, c, frame, n, 0);
        log_line(s, c, "#%llu %s %llu B -> %u detections, %s %.1f ms", id, what, bytes, k, is_image ? "model" : "tail",
                 r.ms);
        stat_add(s, 0, 0, 1, 0, r.ms);
    } else {
        sent = send_error(s, c, hd->request_id, r.code, r.msg);
        log_line(s, c, "#%llu %s %llu B -> error %u: %s", id, what, bytes, r.code, r.msg);
        stat_add(s, 0, 0, 1, 0, -1);
    }
    return sent == 0 && !r.close;
}

/* One frame read; 1: keep the connection, 0: close it. */
static int on_frame(ss_server *s, ss_conn *c, const wf_header *hd, const uint8_t *p, int *hello) {
    switch (hd->type) {
    case WF_HELLO:
        if (*hello) break;
        return (*hello = on_hello(s, c, hd, p));
    case WF_BOTTLENECK:
    case WF_IMAGE:
        if (!*hello) {
            send_error(s, c, hd->request_id, WF_E_MALFORMED, "expected HELLO first");
            return 0;
        }
        return on_request(s, c, hd, p);
    case WF_BYE:
        return 0;
    default:
        break;
    }
    char msg[96];
    snprintf(msg, sizeof msg, "unexpected frame type %u%s", hd->type, hd->type == WF_HELLO ? " (a second HELLO)" : "");
    log_line(s, c, "%s", msg);
    send_error(s, c, hd->request_id, WF_E_MALFORMED, msg);
    return 0;
}

/* A frame that could not be read: the client is told why when it can be. */
static void read_failed(ss_server *s, ss_conn *c, int why, int code) {
    char msg[600];
    if (why == NIO_BAD_FRAME) {
        snprintf(msg, sizeof msg, "%s", hnd_error());
        log_line(s, c, "bad frame: %s", msg);
        send_error(s, c, 0, (uint32_t)code, msg);
    } else if (why == NIO_TIMEOUT && !s->stop) {
        snprintf(msg, sizeof msg, "%s (idle timeout %d s, frame timeout %d s)", hnd_error(), s->o.idle_timeout_s,
                 s->o.frame_timeout_s);
        log_line(s, c, "dropped: %s", msg);
        send_error(s, c, 0, WF_E_TIMEOUT, msg);
    } else if (why == NIO_ERROR && !s->stop) {
        log_line(s, c, "dropped: %s", hnd_error());
    }
}

static void session(ss_server *s, ss_conn *c) {
    int hello = 0, idle = s->o.idle_timeout_s * 1000, frame = s->o.frame_timeout_s * 1000;
    while (!s->stop) {
        wf_header hd;
        uint8_t *p = NULL;
        int why = 0, code = 0;
        if (nio_read_frame(c->fd, s->max_payload, idle, frame, &hd, &p, &why, &code) != 0) {
            read_failed(s, c, why, code);
            return;
        }
        stat_add(s, WF_HEADER_BYTES + (int64_t)hd.payload_len, 0, 0, 0, -1);
        int keep = on_frame(s, c, &hd, p, &hello);
        free(p);
        if (!keep) return;
    }
}

static void *conn_main(void *arg) {
    ss_conn *c = arg;
    ss_server *s = c->srv;
    session(s, c);
    pthread_mutex_lock(&s->mu);
    close(c->fd);
    c->fd = -1;
    c->done = 1;
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ------------------------------------------------------------ accepting */

/* Joins finished connection threads (every thread when all is set). */
static void reap(ss_server *s, int all) {
    for (int i = 0; i < s->o.max_conns; i++) {
        ss_conn *c = &s->conns[i];
        if (!c->used) continue;
        pthread_mutex_lock(&s->mu);
        int done = c->done;
        pthread_mutex_unlock(&s->mu);
        if (!done && !all) continue;
        pthread_join(c->th, NULL);
        c->used = 0;
    }
}

/* Wakes idle readers: their reading side ends, what they answer still goes out. */
static void shutdown_all(ss_server *s) {
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->o.max_conns; i++)
        if (s->conns[i].used && s->conns[i].fd >= 0) shutdown(s->conns[i].fd, SHUT_RD);
    pthread_mutex_unlock(&s->mu);
}

static void refuse(ss_server *s, int fd, const char *why) {
    size_t n = 0;
    uint8_t *f = wf_encode_error(0, WF_E_BUSY, why, &n);
    if (f && nio_write_full(fd, f, n, 0, nio_now_ms() + 1000) == 0) stat_add(s, 0, (int64_t)n, 0, 1, -1);
    free(f);
    close(fd);
    pthread_mutex_lock(&s->mu);
    s->st.refused++;
    pthread_mutex_unlock(&s->mu);
}

static void accept_one(ss_server *s) {
    int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
            usleep(10000);   /* out of descriptors: do not spin */
        return;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);   /* replies leave at once */
    ss_conn *c = NULL;
    for (int i = 0; i < s->o.max_conns && !c; i++)
        if (!s->conns[i].used) c = &s->conns[i];
    if (!c) return refuse(s, fd, "too many connections (hnd serve --max-conns)");
    memset(c, 0, sizeof *c);
    c->srv = s;
    c->fd = fd;
    nio_peer_name(fd, c->peer, sizeof c->peer);
    c->used = 1;
    if (pthread_create(&c->th, NULL, conn_main, c) != 0) {
        c->used = 0;
        return refuse(s, fd, "the server cannot start a thread");
    }
    pthread_mutex_lock(&s->mu);
    s->st.connections++;
    pthread_mutex_unlock(&s->mu);
}

int ss_run(ss_server *s) {
    int rc = 0;
    while (!s->stop) {
        reap(s, 0);
        struct pollfd p[2] = {{.fd = s->lfd, .events = POLLIN}, {.fd = s->wake[0], .events = POLLIN}};
        int r = poll(p, 2, 500);
        if (r < 0 && errno != EINTR) {
            rc = hnd_error_set("split server: poll: %s", strerror(errno));
            break;
        }
        if (r > 0 && (p[0].revents & POLLIN) && !s->stop) accept_one(s);
    }
    close(s->lfd);
    s->lfd = -1;
    shutdown_all(s);
    reap(s, 1);
    return rc;
}
