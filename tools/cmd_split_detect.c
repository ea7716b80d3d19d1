/* cmd_split_detect.c: `hnd split-detect` (see the usage in cmd_help.c).
 *
 * Per image: decode, run the head here (the bundle's plain-C head, or the
 * libtorch head of a student file), send the bottleneck to an `hnd serve`
 * edge server (infer/split_client.h), receive its detections and append
 * them to COCO results JSON exactly as `hnd detect` writes them (the masks
 * come back as RLE strings and are re-encoded by dr_append_json). With
 * --original the image itself travels (JPEG) and the server runs the whole
 * original model: the edge-computing baseline over the same link.
 *
 * Times per image (milliseconds): head = transform + head (+ the copy to
 * host memory), encode = the frame (and for --original the JPEG), network
 * + server = first byte sent to the whole reply received, tail = the
 * server's own time for the tail (or the whole model), total = head +
 * encode + network+server: what the latency model of `hnd bench-latency`
 * predicts as head + 8 bytes / rate + tail. Decoding the image file and
 * converting the reply are timed apart (the CSV's decode_ms, convert_ms). */
#include "cmd_split_detect.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "atomic_file.h"
#include "c_head/hnd_head.h"
#include "cmd_common.h"
#include "coco_ann.h"
#include "commands.h"
#include "config.h"
#include "ctorch.h"
#include "det_results.h"
#include "eb_link.h"
#include "eb_wire.h"
#include "file_check.h"
#include "hnd_error.h"
#include "link_codec.h"
#include "hnd_model.h"
#include "image_ids.h"
#include "img.h"
#include "latency.h"
#include "manifest.h"
#include "mask_rle.h"
#include "mono_clock.h"
#include "path.h"
#include "rcnn_transform.h"
#include "split_client.h"
#include "split_rcnn.h"
#include "wire.h"

#define SD_NAME "hnd split-detect"

/* ------------------------------------------------------------ Ctrl-C */

static volatile sig_atomic_t g_stop;

static void on_sigint(int sig) {
    (void)sig;
    g_stop = 1;
    signal(SIGINT, SIG_DFL);   /* a second Ctrl-C ends the process at once */
}

/* ------------------------------------------------------------- heads */

typedef struct {
    int is_c;                 /* 1: the plain-C head of a bundle; 0: libtorch */
    hnd_head *ch;             /* the C head (NULL with --original) */
    sr_model *m;              /* the libtorch head (NULL with --original) */
    int bits, channels;
    int rans;                 /* --codec rans: code an 8-bit bottleneck (link_codec.h) */
    int has_eb;               /* an entropy-bottleneck student: its tables (a 32-bit link) */
    int eb_code;              /* send WF_EB_RANS (--codec auto), not the float32 values (raw) */
    ebc_tables eb;
    uint32_t eb_crc;
    double min_size, max_size;   /* the C head's transform */
    wf_hello hello;
    char what[256];           /* for the summary line */
} sd_head;

static void head_clear(sd_head *h) {
    ebc_tables_clear(&h->eb);
    hnd_head_free(h->ch);
    sr_destroy(h->m);
    memset(h, 0, sizeof *h);
}

static int is_bundle(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A bundle: the manifest (HELLO digest, bits, C) and the C head. */
static int load_bundle(const char *dir, int need_head, sd_head *h) {
    mf_info *info = malloc(sizeof *info);
    if (!info) return hnd_error_set("out of memory");
    int rc = mf_read(dir, info);
    if (rc == 0) {
        h->is_c = 1;
        h->bits = info->bits;
        h->channels = info->channels;
        for (int i = 0; i < 32; i++) {
            unsigned v;
            if (sscanf(info->digest + 2 * i, "%2x", &v) != 1) {
                rc = hnd_error_set("%s: manifest digest '%s' is not hexadecimal", dir, info->digest);
                break;
            }
            h->hello.manifest_sha256[i] = (uint8_t)v;
        }
        snprintf(h->what, sizeof h->what, "bundle %s (C=%d, %d bits, plain-C head)", dir, h->channels, h->bits);
    }
    char path[4200], err[512];
    /* an entropy-bottleneck student's bundle: the tables the server decodes with */
    for (int i = 0; rc == 0 && i < info->n_files; i++) {
        if (strcmp(info->files[i].role, "eb-tables") != 0) continue;
        if (mf_file_path(info, "eb-tables", path, sizeof path) != 0) rc = -1;
        else if (ebw_read_tables(path, &h->eb, &h->eb_crc, err, sizeof err) != 0) rc = hnd_error_set("%s", err);
        else h->has_eb = 1;
    }
    if (rc == 0 && need_head) {
        int dummy_sd;
        if (mf_file_path(info, "head-c-weights", path, sizeof path) != 0) rc = hnd_error_prefix("%s", dir);
        else if (hnd_head_load(path, &h->ch, err, sizeof err) != 0) rc = hnd_error_set("%s", err);
        else if (hnd_head_bits(h->ch) != h->bits || hnd_head_channels(h->ch) != h->channels)
            rc = hnd_error_set("%s: head.bin (%d bits, C=%d) disagrees with the manifest (%d bits, C=%d)", path,
                               hnd_head_bits(h->ch), hnd_head_channels(h->ch), h->bits, h->channels);
        else {
            float mean[3], std[3];
            hnd_head_transform(h->ch, mean, std, &h->min_size, &h->max_size, &dummy_sd);
        }
    }
    free(info);
    return rc;
}

/* A student file: the libtorch head, built as hnd export builds the model
 * (the config's student model, else what the file's shapes say). */
static int load_student(const char *path, const char *config, double min_size, double max_size, int need_model,
                        sd_head *h) {
    sr_probe pr;
    char what[160];
    if (sr_probe_file(path, &pr) != 0) return -1;
    if (pr.channels <= 0 || pr.tail)
        return hnd_error_set("%s holds a %s: the head needs a student (with a bottleneck) or an export bundle",
                             path, sr_probe_describe(&pr, what, sizeof what));
    rcnn_config rc;
    sr_bottleneck_spec bn;
    sr_probe_bottleneck(&pr, &bn);
    int cfg_bits = 0;
    if (hm_file_config(path, config, &pr, &rc, &cfg_bits) != 0) return -1;
    if (min_size > 0) rc.transform.min_size = min_size;
    if (max_size > 0) rc.transform.max_size = max_size;
    h->is_c = 0;
    h->bits = pr.entropy ? 32 : cfg_bits ? cfg_bits : 8;   /* an entropy bottleneck rounds, no quantizer */
    h->channels = (int)pr.channels;
    memset(h->hello.manifest_sha256, 0, 32);
    snprintf(h->what, sizeof h->what, "%s (C=%d, %d bits, libtorch head, sizes %g/%g)", path, h->channels, h->bits,
             rc.transform.min_size, rc.transform.max_size);
    if (!need_model) return 0;
    bn.bits = h->bits;
    if (!(h->m = sr_new(&rc, &bn)) || sr_load(h->m, path) != 0) return -1;
    if (sr_entropy(h->m)) {
        /* the tables hnd export writes for it, and hnd serve --weights makes */
        char err[256];
        if (ebl_tables(sr_entropy(h->m), &h->eb) != 0) return -1;
        h->has_eb = 1;
        if (ebw_tables_crc(&h->eb, &h->eb_crc, err, sizeof err) != 0) return hnd_error_set("%s", err);
    }
    return 0;
}

/* ------------------------------------------------------------ per image */

typedef struct {
    double decode_ms, head_ms, encode_ms, net_ms, tail_ms, total_ms, convert_ms;
    double t_start_ms, t_end_ms;   /* monotonic clock (comparable across processes) */
    size_t bytes_sent, bytes_received;
    int attempts, detections;
} sd_times;

static double now_ms(void) { return 1e3 * mono_now_s(); }

static int dtype_of_bits(int bits) { return bits == 8 ? WF_U8 : bits == 16 ? WF_F16 : WF_F32; }

/* The BOTTLENECK frame of b, its 8-bit tensor coded first with --codec
 * rans (WF_U8_RANS: the same values, about half the bytes), an entropy
 * bottleneck's rounded values as their symbols rANS-coded with its tables
 * (WF_EB_RANS). */
static uint8_t *bottleneck_frame(const sd_head *h, wf_bottleneck *b, uint64_t rid, size_t *n, char *err, size_t errlen) {
    if (h->eb_code && b->dtype == WF_F32) return ebw_frame(&h->eb, h->eb_crc, b, rid, n, err, errlen);
    if (!h->rans || b->dtype != WF_U8) return wf_encode_bottleneck(rid, b, n, err, errlen);
    size_t cap = lc_bound(b->data_bytes), len = 0;
    uint8_t *coded = malloc(cap), *frame = NULL;
    if (!coded) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (lc_encode(b->data, (int)b->c, (int)b->h, (int)b->w, LC_PRED_MED, coded, cap, &len, err, errlen) == 0) {
        wf_bottleneck c = *b;
        c.dtype = WF_U8_RANS;
        c.data = coded;
        c.data_bytes = len;
        frame = wf_encode_bottleneck(rid, &c, n, err, errlen);
    }
    free(coded);
    return frame;
}

/* The C head on im: *frame (malloc'd) a BOTTLENECK frame. */
static int run_c_head(const sd_head *h, const img_u8 *im, int64_t image_id, uint64_t rid, uint8_t **frame,
                      size_t *n, sd_times *t) {
    char err[512];
    float *x = NULL;
    int H, W, c, oh, ow;
    double t0 = now_ms();
    if (hnd_head_prepare(h->ch, im->rgb, im->height, im->width, &x, &H, &W, err, sizeof err) != 0 ||
        hnd_head_output_shape(h->ch, H, W, &c, &oh, &ow, err, sizeof err) != 0) {
        free(x);
        return hnd_error_set("%s", err);
    }
    size_t numel = (size_t)c * (size_t)oh * (size_t)ow, es = wf_dtype_size(dtype_of_bits(h->bits));
    void *buf = malloc(numel * es + 1);
    hnd_head_output out = {0};
    if (h->bits == 8) out.q = buf;
    else if (h->bits == 16) out.half = buf;
    else out.f = buf;
    int rc = buf ? hnd_head_run(h->ch, x, H, W, &out, err, sizeof err) : -1;
    free(x);
    if (rc != 0) {
        free(buf);
        return hnd_error_set("%s", buf ? err : "out of memory");
    }
    int64_t rs[2];
    if (rt_resized_size(im->height, im->width, h->min_size, h->max_size, rs) != 0) {
        free(buf);
        return hnd_error_set("bad image size %dx%d", im->width, im->height);
    }
    double t1 = now_ms();
    wf_bottleneck b = {.image_id = image_id,
                       .dtype = (uint8_t)dtype_of_bits(h->bits),
                       .zero_point = h->bits == 8 ? (uint8_t)out.zero_point : 0,
                       .scale = h->bits == 8 ? out.scale : 0.0f,
                       .c = (uint32_t)c, .h = (uint32_t)oh, .w = (uint32_t)ow,
                       .orig_h = (uint32_t)im->height, .orig_w = (uint32_t)im->width,
                       .resized_h = (uint32_t)rs[0], .resized_w = (uint32_t)rs[1],
                       .padded_h = (uint32_t)H, .padded_w = (uint32_t)W,
                       .data = buf, .data_bytes = numel * es};
    *frame = bottleneck_frame(h, &b, rid, n, err, sizeof err);
    free(buf);
    t->head_ms = t1 - t0;
    t->encode_ms = now_ms() - t1;
    return *frame ? 0 : hnd_error_set("%s", err);
}

/* The libtorch head on im. */
static int run_torch_head(const sd_head *h, const img_u8 *im, int64_t image_id, uint64_t rid, uint8_t **frame,
                          size_t *n, sd_times *t) {
    char err[512];
    double t0 = now_ms();
    int64_t shape[3] = {3, im->height, im->width};
    size_t hw = (size_t)im->width * (size_t)im->height;
    float *chw = malloc(sizeof(float) * 3 * hw);
    if (!chw) return hnd_error_set("out of memory");
    img_to_chw_f32(im, chw);
    ct_scope_begin();
    ct_tensor *x = ct_from_buffer(chw, CT_F32, 3, shape);
    free(chw);
    sr_link link;
    memset(&link, 0, sizeof link);
    const ct_tensor *xs[1] = {x};
    int rc = x ? sr_head(h->m, xs, 1, h->bits, &link, NULL) : hnd_error_set("%s", ct_last_error());
    int64_t zs[4] = {0};
    void *buf = NULL;
    size_t bytes = 0;
    if (rc == 0 && (ct_shape(link.z, zs, 4) != 4 || zs[0] != 1)) rc = hnd_error_set("head: unexpected output shape");
    if (rc == 0) {
        bytes = (size_t)ct_numel(link.z) * wf_dtype_size(dtype_of_bits(link.bits));
        if (!(buf = malloc(bytes + 1))) rc = hnd_error_set("out of memory");
        else if (ct_to_buffer(link.z, buf, bytes) != 0) rc = hnd_error_set("head output: %s", ct_last_error());
    }
    double t1 = now_ms();
    if (rc == 0) {
        wf_bottleneck b = {.image_id = image_id,
                           .dtype = (uint8_t)dtype_of_bits(link.bits),
                           .zero_point = link.bits == 8 ? (uint8_t)link.zero_point[0] : 0,
                           .scale = link.bits == 8 ? link.scale[0] : 0.0f,
                           .c = (uint32_t)zs[1], .h = (uint32_t)zs[2], .w = (uint32_t)zs[3],
                           .orig_h = (uint32_t)link.orig_sizes[0][0], .orig_w = (uint32_t)link.orig_sizes[0][1],
                           .resized_h = (uint32_t)link.sizes[0][0], .resized_w = (uint32_t)link.sizes[0][1],
                           .padded_h = (uint32_t)link.padded_hw[0], .padded_w = (uint32_t)link.padded_hw[1],
                           .data = buf, .data_bytes = bytes};
        if (!(*frame = bottleneck_frame(h, &b, rid, n, err, sizeof err))) rc = hnd_error_set("%s", err);
    }
    free(buf);
    sr_link_clear(&link);
    ct_scope_end();
    t->head_ms = t1 - t0;
    t->encode_ms = now_ms() - t1;
    return rc;
}

/* --original: the file's bytes when it is a JPEG, else the decoded image
 * re-encoded at quality 95 (img_write_jpeg to a temporary file). */
static int jpeg_bytes(const char *path, const img_u8 *im, uint8_t **buf, size_t *len) {
    if (img_read_file(path, buf, len) != 0) return -1;
    if (*len >= 3 && (*buf)[0] == 0xFF && (*buf)[1] == 0xD8 && (*buf)[2] == 0xFF) return 0;
    free(*buf);
    *buf = NULL;
    const char *dir = getenv("TMPDIR");
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s/hnd-split-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(tmp);
    if (fd < 0) return hnd_error_set("%s: temporary file: %s", tmp, strerror(errno));
    close(fd);
    int rc = img_write_jpeg(tmp, im->rgb, im->width, im->height, 95);
    if (rc == 0) rc = img_read_file(tmp, buf, len);
    unlink(tmp);
    return rc;
}

static int run_original(const char *path, const img_u8 *im, int64_t image_id, uint64_t rid, uint8_t **frame,
                        size_t *n, sd_times *t) {
    char err[512];
    double t0 = now_ms();
    uint8_t *jpg = NULL;
    size_t len = 0;
    if (jpeg_bytes(path, im, &jpg, &len) != 0) return -1;
    wf_image w = {.image_id = image_id, .format = WF_JPEG, .data = jpg, .data_bytes = len};
    *frame = wf_encode_image(rid, &w, n, err, sizeof err);
    free(jpg);
    t->head_ms = 0;
    t->encode_ms = now_ms() - t0;
    return *frame ? 0 : hnd_error_set("%s", err);
}

/* The reply as hnd detect's host detections (masks decoded from RLE). */
static int reply_to_host(const wf_detections *d, const img_u8 *im, dr_host *out) {
    memset(out, 0, sizeof *out);
    if ((int64_t)d->height != im->height || (int64_t)d->width != im->width)
        return hnd_error_set("the reply's masks are %ux%u, the image is %dx%d", (unsigned)d->width,
                             (unsigned)d->height, im->width, im->height);
    size_t k = d->k, hw = (size_t)d->height * (size_t)d->width;
    out->k = (int64_t)k;
    out->height = d->height;
    out->width = d->width;
    out->boxes = malloc(sizeof(float) * 4 * k + 1);
    out->scores = malloc(sizeof(float) * k + 1);
    out->labels = malloc(sizeof(int64_t) * k + 1);
    if (d->has_masks) out->masks = malloc(hw * k + 1);
    if (!out->boxes || !out->scores || !out->labels || (d->has_masks && !out->masks)) {
        dr_host_clear(out);
        return hnd_error_set("out of memory");
    }
    if (k) {
        memcpy(out->boxes, d->boxes, sizeof(float) * 4 * k);
        memcpy(out->scores, d->scores, sizeof(float) * k);
    }
    for (size_t i = 0; i < k; i++) out->labels[i] = d->labels[i];
    for (size_t i = 0; d->has_masks && i < k; i++) {
        rle_t r;
        rle_init(&r);
        if (rle_from_string(&r, d->rle[i], strlen(d->rle[i]), d->height, d->width) != 0) {
            hnd_error_prefix("detection %zu: mask", i);
            dr_host_clear(out);
            return -1;
        }
        rle_decode_rowmajor(&r, out->masks + hw * i);
        rle_clear(&r);
    }
    return 0;
}

/* ---------------------------------------------------------------- main */

typedef struct {
    const char *head, *server, *out, *config, *format, *ann, *timings, *codec;
    double rate_mbps, connect_timeout, min_size, max_size;
    int original, retries, quiet, threads_set;
    long long threads;
} sd_opts;

static int parse_args(int argc, char **argv, sd_opts *o, ii_inputs *in, const co_command **cmdp) {
    co_args a;
    if (hnd_parse("split-detect", argc, argv, &a) != 0) return 2;
    const co_command *cmd = *cmdp = a.cmd;
    o->head = co_str(&a, "--head", NULL);
    o->server = co_str(&a, "--server", NULL);
    o->out = co_str(&a, "--out", NULL);
    o->config = co_str(&a, "--config", NULL);
    o->format = co_str(&a, "--head-format", NULL);
    o->ann = co_str(&a, "--ann", NULL);
    o->timings = co_str(&a, "--timings", NULL);
    o->codec = co_str(&a, "--codec", "auto");
    o->rate_mbps = co_real(&a, "--rate-mbps", 0);
    o->connect_timeout = co_real(&a, "--connect-timeout", 10);
    o->min_size = co_real(&a, "--min-size", 0);
    o->max_size = co_real(&a, "--max-size", 0);
    o->original = co_has(&a, "--original");
    o->retries = (int)co_int(&a, "--retries", 2);
    o->quiet = co_has(&a, "--quiet");
    o->threads_set = co_has(&a, "--threads");
    o->threads = co_int(&a, "--threads", 0);
    int rc = cc_threads(&a);
    if (rc == 0 && !o->head) rc = co_usage_error(cmd, "--head BUNDLE_DIR|STUDENT.h5 is required");
    if (rc == 0 && !o->server) rc = co_usage_error(cmd, "--server HOST:PORT is required");
    if (rc == 0 && !o->out) rc = co_usage_error(cmd, "--out RESULTS.json is required");
    if (rc == 0) {
        int bundle = is_bundle(o->head);
        if (o->format && strcmp(o->format, bundle ? "c" : "torch") != 0)
            rc = co_usage_error(cmd, "--head-format %s: %s", o->format,
                                bundle ? "a bundle's head runs as plain C (--head-format c); "
                                         "pass the student .h5 for the libtorch head"
                                       : "a student file's head runs in libtorch (--head-format torch); "
                                         "pass an export bundle for the plain-C head");
        if (rc == 0 && bundle && (o->config || o->min_size > 0 || o->max_size > 0))
            rc = co_usage_error(cmd, "--config, --min-size and --max-size are for a student .h5 head "
                                     "(a bundle's manifest fixes the model)");
    }
    for (int i = 0; rc == 0 && i < a.n_pos; i++)
        if (ii_add_path(in, a.pos[i]) != 0) {
            fprintf(stderr, SD_NAME ": %s\n", hnd_error());
            rc = 1;
        }
    if (rc == 0 && in->n == 0) rc = co_usage_error(cmd, "no images given");
    co_args_clear(&a);
    return rc;
}

static void print_stats(const char *name, const double *v, int n) {
    lat_stats s;
    lat_stats_compute(v, n, &s);
    fprintf(stderr, "  %-16s median %9.2f  p95 %9.2f  mean %9.2f\n", name, s.p50, s.p95, s.mean);
}

static void summary(const sd_opts *o, const sd_head *h, const sd_times *t, int n, double wall_ms, int reconnects,
                    size_t n_det) {
    double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    if (!v) return;
    size_t total_bytes = 0, total_recv = 0;
    for (int i = 0; i < n; i++) {
        total_bytes += t[i].bytes_sent;
        total_recv += t[i].bytes_received;
    }
    fprintf(stderr, SD_NAME ": %d images, %zu detections -> %s (%s%s, %s", n, n_det, o->out,
            o->original ? "--original: JPEG over the link; HELLO as " : "", h->what, o->server);
    if (o->rate_mbps > 0) fprintf(stderr, ", link paced to %g Mbit/s", o->rate_mbps);
    fprintf(stderr, ")\nper image (ms):\n");
#define STAT(field, label)                                   \
    do {                                                     \
        for (int i = 0; i < n; i++) v[i] = t[i].field;       \
        print_stats(label, v, n);                            \
    } while (0)
    if (!o->original) STAT(head_ms, "head");
    STAT(encode_ms, o->original ? "encode (JPEG)" : "encode");
    STAT(net_ms, "network+server");
    STAT(tail_ms, o->original ? "server (whole)" : "tail (server)");
    STAT(total_ms, "total");
    STAT(decode_ms, "decode (file)");
    for (int i = 0; i < n; i++) v[i] = (double)t[i].bytes_sent;
    lat_stats s;
    lat_stats_compute(v, n, &s);
    fprintf(stderr, "  bytes sent: %zu in all, median %.0f per image; received %zu; %.2f images/s; %d reconnects\n",
            total_bytes, s.p50, total_recv, wall_ms > 0 ? 1e3 * n / wall_ms : 0.0, reconnects);
#undef STAT
    free(v);
}

static int write_timings(const char *path, const ii_inputs *in, const sd_times *t, int n) {
    af_file a;
    FILE *f = af_open(&a, path);
    if (!f) return -1;
    fprintf(f, "image,image_id,decode_ms,head_ms,encode_ms,bytes_sent,bytes_received,net_ms,tail_ms,total_ms,"
               "convert_ms,detections,attempts,t_start_ms,t_end_ms\n");
    for (int i = 0; i < n; i++) {
        const char *b = path_base(in->v[i].path);
        int quote = strpbrk(b, ",\"\n") != NULL;
        if (quote) {
            fputc('"', f);
            for (const char *c = b; *c; c++) {
                if (*c == '"') fputc('"', f);
                fputc(*c, f);
            }
            fputc('"', f);
        } else {
            fputs(b, f);
        }
        fprintf(f, ",%lld,%.3f,%.3f,%.3f,%zu,%zu,%.3f,%.3f,%.3f,%.3f,%d,%d,%.3f,%.3f\n",
                (long long)in->v[i].image_id, t[i].decode_ms, t[i].head_ms, t[i].encode_ms, t[i].bytes_sent,
                t[i].bytes_received, t[i].net_ms, t[i].tail_ms, t[i].total_ms, t[i].convert_ms, t[i].detections,
                t[i].attempts, t[i].t_start_ms, t[i].t_end_ms);
    }
    return af_commit(&a, 0);
}

/* One image end to end; its results appended to arr. */
static int one_image(const sd_opts *o, const sd_head *h, sc_session *s, const ii_input *in, cJSON *arr,
                     sd_times *t) {
    img_u8 im = {0};
    double t0 = now_ms();
    if (img_decode_file(in->path, &im) != 0) return -1;
    t->decode_ms = now_ms() - t0;
    t->t_start_ms = now_ms();
    uint64_t rid = sc_next_request_id(s);
    uint8_t *frame = NULL;
    size_t n = 0;
    int rc = o->original ? run_original(in->path, &im, in->image_id, rid, &frame, &n, t)
             : h->is_c  ? run_c_head(h, &im, in->image_id, rid, &frame, &n, t)
                        : run_torch_head(h, &im, in->image_id, rid, &frame, &n, t);
    wf_detections d;
    memset(&d, 0, sizeof d);
    sc_timing st;
    if (rc == 0) rc = sc_request(s, rid, frame, n, &d, &st);
    free(frame);
    if (rc == 0 && d.image_id != in->image_id)
        rc = hnd_error_set("the reply is for image %lld", (long long)d.image_id);
    if (rc == 0) {
        t->t_end_ms = now_ms();
        t->net_ms = st.net_ms;
        t->tail_ms = d.server_ms;
        t->bytes_sent = st.bytes_sent;
        t->bytes_received = st.bytes_received;
        t->attempts = st.attempts;
        t->detections = (int)d.k;
        t->total_ms = t->head_ms + t->encode_ms + t->net_ms;
        double t1 = now_ms();
        dr_host hd;
        rc = reply_to_host(&d, &im, &hd);
        if (rc == 0) {
            rc = dr_append_json(arr, in->image_id, &hd);
            dr_host_clear(&hd);
        }
        t->convert_ms = now_ms() - t1;
    }
    wf_detections_clear(&d);
    img_clear(&im);
    return rc == 0 ? 0 : hnd_error_prefix("%s", in->path);   /* decoding's own message names the file */
}

int cmd_split_detect(int argc, char **argv) {
    sd_opts o = {0};
    ii_inputs in = {0};
    const co_command *cmd = NULL;
    int rc = parse_args(argc, argv, &o, &in, &cmd);
    if (rc != 0) {
        ii_inputs_clear(&in);
        return rc;
    }
    coco_dataset *ds = NULL;
    if (o.ann && (fchk_regular(o.ann, FCHK_JSON_MAX) != 0 || !(ds = coco_load(o.ann, NULL)))) {
        fprintf(stderr, SD_NAME ": --ann: %s\n", hnd_error());
        rc = 1;
    }
    if (rc == 0 && ii_assign_ids(&in, ds) != 0) {
        fprintf(stderr, SD_NAME ": %s\n", hnd_error());
        rc = 1;
    }
    coco_destroy(ds);
    sd_head h;
    memset(&h, 0, sizeof h);
    if (rc == 0) {
        int r = is_bundle(o.head) ? load_bundle(o.head, !o.original, &h)
                                  : load_student(o.head, o.config, o.min_size, o.max_size, !o.original, &h);
        if (r != 0) {
            fprintf(stderr, SD_NAME ": --head: %s\n", hnd_error());
            rc = 1;
        }
    }
    if (rc == 0 && h.is_c) hnd_head_set_threads(o.threads_set ? (int)o.threads : 0);
    h.hello.bits = (uint32_t)h.bits;
    h.hello.channels = (uint32_t)h.channels;
    h.rans = o.codec && strcmp(o.codec, "rans") == 0;
    h.eb_code = h.has_eb && o.codec && strcmp(o.codec, "raw") != 0;
    if (rc == 0 && h.has_eb && h.rans) {
        fprintf(stderr, SD_NAME ": --codec rans codes an 8-bit bottleneck; %s has an entropy bottleneck (its symbols "
                        "are rANS-coded with its tables by default, --codec raw sends them as float32)\n", o.head);
        rc = 2;
    }

    /* Ctrl-C: finish waiting for nothing more, write nothing, exit 130 */
    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    g_stop = 0;
    sigaction(SIGINT, &sa, &old_sa);
    if (old_sa.sa_handler == SIG_IGN) sigaction(SIGINT, &old_sa, NULL);   /* a background job keeps ignoring it */

    sc_session *s = NULL;
    sc_options so = {.server = o.server,
                     .hello = h.hello,
                     .connect_timeout_ms = (int)(1e3 * o.connect_timeout),
                     .retries = o.retries,
                     .rate_mbps = o.rate_mbps,
                     .stop = &g_stop};
    if (rc == 0 && sc_open(&so, &s) != 0) {
        fprintf(stderr, SD_NAME ": %s\n", hnd_error());
        rc = 1;
    }
    sd_times *t = rc == 0 ? calloc((size_t)in.n, sizeof *t) : NULL;
    cJSON *arr = rc == 0 ? cJSON_CreateArray() : NULL;
    if (rc == 0 && (!t || !arr)) {
        fprintf(stderr, SD_NAME ": out of memory\n");
        rc = 1;
    }
    double w0 = now_ms();
    int done = 0;
    for (int i = 0; rc == 0 && i < in.n; i++) {
        if (g_stop) break;
        if (one_image(&o, &h, s, &in.v[i], arr, &t[i]) != 0) {
            if (g_stop) break;
            fprintf(stderr, SD_NAME ": %s\n", hnd_error());
            rc = 1;
            break;
        }
        done++;
        if (!o.quiet)
            fprintf(stderr,
                    "%s: head %.1f ms, encode %.1f ms, %zu bytes, network+server %.1f ms, tail %.1f ms, "
                    "total %.1f ms, %d detections%s\n",
                    path_base(in.v[i].path), t[i].head_ms, t[i].encode_ms, t[i].bytes_sent, t[i].net_ms,
                    t[i].tail_ms, t[i].total_ms, t[i].detections, t[i].attempts > 1 ? " (resent)" : "");
    }
    double wall = now_ms() - w0;
    if (rc == 0 && g_stop) {
        fprintf(stderr, SD_NAME ": interrupted after %d of %d images; no results written\n", done, in.n);
        rc = 130;
    }
    int reconnects = s ? sc_reconnects(s) : 0;
    sc_close(s);
    sigaction(SIGINT, &old_sa, NULL);
    if (rc == 0) {
        char *text = cJSON_PrintUnformatted(arr);
        if (!text || af_write_text(o.out, text) != 0) {
            fprintf(stderr, SD_NAME ": %s\n", text ? hnd_error() : "out of memory");
            rc = 1;
        }
        free(text);
    }
    if (rc == 0 && o.timings && write_timings(o.timings, &in, t, done) != 0) {
        fprintf(stderr, SD_NAME ": --timings: %s\n", hnd_error());
        rc = 1;
    }
    if (rc == 0 && !o.quiet) summary(&o, &h, t, done, wall, reconnects, (size_t)cJSON_GetArraySize(arr));
    cJSON_Delete(arr);
    free(t);
    head_clear(&h);
    ii_inputs_clear(&in);
    return rc;
}
