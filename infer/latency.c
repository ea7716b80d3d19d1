/* latency.c: head/tail timing and the total-inference-time model (latency.h). */
#include "latency.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hnd_error.h"
#include "mono_clock.h"

static const char *const k_parts[LAT_NPARTS] = {"transform", "stem", "encoder", "quantizer", "head",
                                                "dequantizer", "decoder", "rest", "tail", "whole"};

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(const double *sorted, int n, double p) {
    double pos = (n - 1) * p;
    int lo = (int)floor(pos);
    int hi = lo + 1 < n ? lo + 1 : lo;
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

void lat_stats_compute(const double *v, int n, lat_stats *out) {
    memset(out, 0, sizeof *out);
    if (n <= 0 || !v) return;
    double *s = malloc(sizeof *s * (size_t)n);
    if (!s) return;
    memcpy(s, v, sizeof *s * (size_t)n);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double sum = 0, sq = 0;
    for (int i = 0; i < n; i++) sum += s[i];
    double mean = sum / n;
    for (int i = 0; i < n; i++) sq += (s[i] - mean) * (s[i] - mean);
    out->n = n;
    out->mean = mean;
    out->std = sqrt(sq / n);
    out->p50 = percentile(s, n, 0.5);
    out->p95 = percentile(s, n, 0.95);
    out->min = s[0];
    out->max = s[n - 1];
    free(s);
}

/* ------------------------------------------------------------ timing */

static double now_ms(void) { return 1e3 * mono_now_s(); }

static int sync_dev(const sr_model *m) {
    if (ct_device_synchronize(sr_device(m)) != 0)
        return hnd_error_set("latency: synchronising the device: %s", ct_last_error());
    return 0;
}

/* One split pass: the head with an 8-bit link (a teacher sends layer1's
 * float output), then the tail — the two functions an exported head and a
 * split server run. t[] gets the part times, zshape the link tensor's
 * C, h, w, scale / zp the last image's quantization. */
static int split_pass(sr_model *m, const ct_tensor *img, double t[LAT_NPARTS], int64_t zshape[3],
                      float *scale, int *zp, double resized[2]) {
    double st[SR_T_COUNT] = {0};
    sr_link link;
    rcnn_detections d;
    memset(&d, 0, sizeof d);
    int rc = sr_head(m, &img, 1, 8, &link, st);
    if (rc == 0) rc = sr_tail(m, &link, &d, st);
    rcnn_detections_clear(&d);
    if (rc != 0) return hnd_error_prefix("latency: split pass");
    int64_t s[CT_MAX_DIMS];
    if (ct_shape(link.z, s, CT_MAX_DIMS) == 4) memcpy(zshape, s + 1, 3 * sizeof *s);
    if (link.bits == 8) *scale = link.scale[0], *zp = link.zero_point[0];
    resized[0] = (double)link.sizes[0][0];
    resized[1] = (double)link.sizes[0][1];
    sr_link_clear(&link);
    t[LAT_TRANSFORM] = st[SR_T_TRANSFORM];
    t[LAT_STEM] = st[SR_T_STEM];
    t[LAT_ENCODER] = st[SR_T_ENCODER];
    t[LAT_QUANTIZE] = st[SR_T_QUANTIZE];
    t[LAT_HEAD] = st[SR_T_TRANSFORM] + st[SR_T_STEM] + st[SR_T_ENCODER] + st[SR_T_QUANTIZE];
    t[LAT_DEQUANTIZE] = st[SR_T_DEQUANTIZE];
    t[LAT_DECODER] = st[SR_T_DECODER];
    t[LAT_REST] = st[SR_T_REST];
    t[LAT_TAIL] = st[SR_T_DEQUANTIZE] + st[SR_T_DECODER] + st[SR_T_REST];
    return 0;
}

/* The model end to end on one machine (sr_detect; the model has no
 * transformer here, so no quantization round trip). */
static int whole_pass(sr_model *m, const ct_tensor *img, double *ms) {
    rcnn_detections d;
    memset(&d, 0, sizeof d);
    if (sync_dev(m) != 0) return -1;
    double t0 = now_ms();
    int rc = sr_detect(m, &img, 1, &d);
    if (rc == 0) rc = sync_dev(m);
    *ms = now_ms() - t0;
    rcnn_detections_clear(&d);
    return rc != 0 ? hnd_error_prefix("latency: whole pass") : 0;
}

static int jpeg_size(const img_u8 *im, int quality, double *bytes) {
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/hnd-lat-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) return hnd_error_set("latency: temporary file in %s: %s", path, strerror(errno));
    close(fd);
    int rc = img_write_jpeg(path, im->rgb, im->width, im->height, quality);
    struct stat st;
    if (rc == 0 && stat(path, &st) != 0) rc = hnd_error_set("latency: %s: %s", path, strerror(errno));
    if (rc == 0) *bytes = (double)st.st_size;
    unlink(path);
    return rc;
}

static ct_tensor *to_tensor(const img_u8 *im, ct_device dev) {
    size_t n = (size_t)3 * im->width * im->height;
    float *buf = malloc(sizeof *buf * n);
    if (!buf) return NULL;
    img_to_chw_f32(im, buf);
    int64_t shape[3] = {3, im->height, im->width};
    ct_tensor *c = ct_from_buffer(buf, CT_F32, 3, shape);
    free(buf);
    if (!c) return NULL;
    if (dev.type == CT_CPU) return c;
    ct_tensor *d = ct_to_device(c, dev);
    ct_destroy(c);
    return d;
}

int lat_bench(sr_model *m, const img_u8 *images, int n, const lat_bench_options *o, lat_report *out) {
    memset(out, 0, sizeof *out);
    if (!m || !images || n <= 0) return hnd_error_set("latency: no model or no images");
    lat_bench_options opt = o ? *o : (lat_bench_options){0};
    int warmup = opt.warmup > 0 ? opt.warmup : (opt.warmup < 0 ? 0 : 2);
    int runs = opt.runs > 0 ? opt.runs : (n > 10 ? n : 10);
    sr_label(m, out->label, sizeof out->label);
    out->is_student = sr_is_student(m);
    out->runs = runs;
    out->n_images = n;

    ct_tensor **imgs = calloc((size_t)n, sizeof *imgs);
    double *v[LAT_NPARTS] = {0};
    int rc = -1;
    if (!imgs) return hnd_error_set("out of memory");
    for (int p = 0; p < LAT_NPARTS; p++)
        if (!(v[p] = calloc((size_t)runs, sizeof(double)))) {
            hnd_error_set("out of memory");
            goto out;
        }
    for (int i = 0; i < n; i++) {
        if (!(imgs[i] = to_tensor(&images[i], sr_device(m)))) {
            hnd_error_set("latency: image %d to the device: %s", i, ct_last_error());
            goto out;
        }
        double jb = 0;
        if (jpeg_size(&images[i], 95, &jb) != 0) goto out;
        out->input_jpeg_bytes += jb / n;
        out->input_rgb_bytes += 3.0 * images[i].width * images[i].height / n;
    }
    int prev = ct_grad_set_enabled(0);
    double t[LAT_NPARTS];
    int64_t zs[3] = {0, 0, 0};
    double rs[2];
    int failed = 0;
    for (int w = 0; w < warmup && !failed; w++) {
        double ms;
        if (split_pass(m, imgs[w % n], t, zs, &out->last_scale, &out->last_zero_point, rs) != 0 ||
            whole_pass(m, imgs[w % n], &ms) != 0)
            failed = 1;
    }
    double zsum = 0;
    const int tty = isatty(2);
    for (int r = 0; r < runs && !failed; r++) {
        memset(t, 0, sizeof t);
        if (split_pass(m, imgs[r % n], t, zs, &out->last_scale, &out->last_zero_point, rs) != 0 ||
            whole_pass(m, imgs[r % n], &t[LAT_WHOLE]) != 0) {
            failed = 1;
            break;
        }
        for (int p = 0; p < LAT_NPARTS; p++) v[p][r] = t[p];
        zsum += (double)(zs[0] * zs[1] * zs[2]);
        out->resized_hw[0] += rs[0] / runs;
        out->resized_hw[1] += rs[1] / runs;
        /* \r redraws on a terminal; a log file gets no progress lines */
        if (!opt.quiet && tty) fprintf(stderr, "\rbench-latency: run %d/%d", r + 1, runs);
    }
    if (!opt.quiet && tty) fputc('\n', stderr);
    ct_grad_set_enabled(prev);
    if (failed) goto out;
    for (int p = 0; p < LAT_NPARTS; p++) lat_stats_compute(v[p], runs, &out->parts[p]);
    memcpy(out->bottleneck_shape, zs, sizeof zs);
    if (sr_is_student(m)) {
        double e = zsum / runs;
        out->bottleneck_elements = e;
        out->bottleneck_f32_bytes = 4 * e;
        out->bottleneck_f16_bytes = 2 * e;
        out->bottleneck_q8_bytes = e + 5;
    }
    rc = 0;
out:
    for (int i = 0; i < n; i++) ct_destroy(imgs[i]);
    free(imgs);
    for (int p = 0; p < LAT_NPARTS; p++) free(v[p]);
    return rc;
}

/* ------------------------------------------------------------ the model */

double lat_total_ms(const lat_strategy *s, double rate_mbps, double overhead_ms) {
    double t = s->device_ms + s->server_ms;
    if (s->bytes > 0) t += overhead_ms + 8.0 * s->bytes / (rate_mbps * 1000.0);
    return t;
}

int lat_best(const lat_strategy *s, int n, double rate_mbps, double overhead_ms) {
    int best = -1;
    double bt = 0;
    for (int i = 0; i < n; i++) {
        double t = lat_total_ms(&s[i], rate_mbps, overhead_ms);
        if (best < 0 || t < bt) {
            best = i;
            bt = t;
        }
    }
    return best;
}

static void set_strategy(lat_strategy *s, const char *name, double dev, double bytes, double srv) {
    snprintf(s->name, sizeof s->name, "%s", name);
    s->device_ms = dev;
    s->bytes = bytes;
    s->server_ms = srv;
}

int lat_strategies(const lat_report *r, const lat_device *d, lat_strategy *s, int max) {
    int need = r->is_student ? 6 : 3;
    if (max < need) return hnd_error_set("latency: room for %d strategies, need %d", max, need);
    double slow = d && d->slowdown > 0 ? d->slowdown : 1.0;
    double whole = r->parts[LAT_WHOLE].mean;
    double dev_whole = d && d->device_whole_ms > 0 ? d->device_whole_ms : slow * whole;
    set_strategy(&s[0], "mobile", dev_whole, 0, 0);
    set_strategy(&s[1], "edge-jpeg95", 0, r->input_jpeg_bytes, whole);
    set_strategy(&s[2], "edge-rgb", 0, r->input_rgb_bytes, whole);
    if (!r->is_student) return 3;
    double head = r->parts[LAT_HEAD].mean, q = r->parts[LAT_QUANTIZE].mean;
    double tail = r->parts[LAT_TAIL].mean, dq = r->parts[LAT_DEQUANTIZE].mean;
    double dev_head = d && d->device_head_ms > 0 ? d->device_head_ms : slow * head;
    /* a head time measured on the device includes the quantizer; scale it out */
    double dev_head_nq = dev_head * (head > 0 ? (head - q) / head : 1.0);
    set_strategy(&s[3], "split-8bit", dev_head, r->bottleneck_q8_bytes, tail);
    set_strategy(&s[4], "split-fp16", dev_head_nq, r->bottleneck_f16_bytes, tail - dq);
    set_strategy(&s[5], "split-fp32", dev_head_nq, r->bottleneck_f32_bytes, tail - dq);
    return 6;
}

int lat_parse_rates(const char *s, double *rates, int max) {
    int n = 0;
    const char *p = s;
    if (!s || !*s) return hnd_error_set("rates: empty list");
    while (*p) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || !(v > 0) || !isfinite(v))
            return hnd_error_set("rates: '%s': expected positive numbers separated by commas (Mbit/s)", s);
        if (n == max) return hnd_error_set("rates: more than %d rates", max);
        rates[n++] = v;
        p = end;
        if (*p == ',') p++;
        else if (*p) return hnd_error_set("rates: '%s': expected positive numbers separated by commas (Mbit/s)", s);
    }
    return n;
}

int lat_write_model_csv(FILE *f, const lat_strategy *s, int n, const double *rates, int nr,
                        double overhead_ms) {
    fprintf(f, "rate_mbps");
    for (int i = 0; i < n; i++) fprintf(f, ",%s_ms", s[i].name);
    fprintf(f, ",best\n");
    for (int k = 0; k < nr; k++) {
        fprintf(f, "%g", rates[k]);
        for (int i = 0; i < n; i++) fprintf(f, ",%.4f", lat_total_ms(&s[i], rates[k], overhead_ms));
        int b = lat_best(s, n, rates[k], overhead_ms);
        fprintf(f, ",%s\n", b >= 0 ? s[b].name : "");
    }
    return ferror(f) ? hnd_error_set("writing CSV failed") : 0;
}

int lat_write_report_csv(FILE *f, const lat_report *r) {
    fprintf(f, "part,n,mean_ms,std_ms,p50_ms,p95_ms,min_ms,max_ms\n");
    for (int p = 0; p < LAT_NPARTS; p++) {
        const lat_stats *s = &r->parts[p];
        if (!r->is_student && (p == LAT_QUANTIZE || p == LAT_DEQUANTIZE || p == LAT_DECODER)) continue;
        fprintf(f, "%s,%d,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f\n", k_parts[p], s->n, s->mean, s->std, s->p50, s->p95,
                s->min, s->max);
    }
    return ferror(f) ? hnd_error_set("writing CSV failed") : 0;
}

int lat_write_sizes_csv(FILE *f, const lat_report *r) {
    fprintf(f, "quantity,bytes_per_image\n");
    fprintf(f, "input_rgb8,%.1f\ninput_jpeg95,%.1f\n", r->input_rgb_bytes, r->input_jpeg_bytes);
    if (r->is_student)
        fprintf(f, "bottleneck_float32,%.1f\nbottleneck_float16,%.1f\nbottleneck_8bit,%.1f\n",
                r->bottleneck_f32_bytes, r->bottleneck_f16_bytes, r->bottleneck_q8_bytes);
    return ferror(f) ? hnd_error_set("writing CSV failed") : 0;
}

void lat_print(FILE *f, const lat_report *r) {
    fprintf(f, "%s: %d timed runs over %d image(s), resized to %.0fx%.0f on average\n", r->label, r->runs,
            r->n_images, r->resized_hw[0], r->resized_hw[1]);
    fprintf(f, "  %-12s %10s %10s %10s %10s\n", "part", "mean ms", "std", "p50", "p95");
    for (int p = 0; p < LAT_NPARTS; p++) {
        if (!r->is_student && (p == LAT_QUANTIZE || p == LAT_DEQUANTIZE || p == LAT_DECODER)) continue;
        const lat_stats *s = &r->parts[p];
        fprintf(f, "  %-12s %10.2f %10.2f %10.2f %10.2f\n",
                !r->is_student && p == LAT_ENCODER ? "layer1" : k_parts[p], s->mean, s->std, s->p50, s->p95);
    }
    fprintf(f, "  input: %.0f bytes as 8-bit RGB, %.0f as JPEG q95\n", r->input_rgb_bytes, r->input_jpeg_bytes);
    if (r->is_student)
        fprintf(f,
                "  bottleneck %lldx%lldx%lld: %.0f bytes float32, %.0f float16, %.0f 8-bit (scale %.6g, "
                "zero point %d); 8-bit is %.1f%% of the RGB input\n",
                (long long)r->bottleneck_shape[0], (long long)r->bottleneck_shape[1],
                (long long)r->bottleneck_shape[2], r->bottleneck_f32_bytes, r->bottleneck_f16_bytes,
                r->bottleneck_q8_bytes, r->last_scale, r->last_zero_point,
                r->input_rgb_bytes > 0 ? 100.0 * r->bottleneck_q8_bytes / r->input_rgb_bytes : 0.0);
}
