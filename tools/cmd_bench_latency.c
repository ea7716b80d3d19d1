/* cmd_bench_latency.c: `hnd bench-latency` (see the usage in cmd_help.c). */
#include "cmd_bench_latency.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "analysis.h"
#include "analysis_plot.h"
#include "cmd_analyze.h"
#include "hnd_error.h"
#include "img.h"
#include "latency.h"

static int usage_error(const char *msg, const char *arg) {
    fprintf(stderr, "hnd bench-latency: %s%s%s (see 'hnd bench-latency --help')\n", msg, arg ? " " : "",
            arg ? arg : "");
    return 2;
}

/* Up to max images of a directory (name order), or one file. */
static int load_images(const char *path, int max, img_u8 **out, int *n_out) {
    *out = NULL;
    *n_out = 0;
    char **names;
    int n;
    if (img_list_files(path, &names, &n) != 0) return -1;
    int k = n < max ? n : max, rc = 0;
    img_u8 *ims = calloc((size_t)k, sizeof *ims);
    if (!ims) rc = hnd_error_set("out of memory");
    for (int i = 0; i < k && rc == 0; i++) rc = img_decode_file(names[i], &ims[i]);
    if (rc == 0) {
        *out = ims;
        *n_out = k;
    } else if (ims) {
        for (int i = 0; i < k; i++) img_free(&ims[i]);
        free(ims);
    }
    img_list_free(names, n);
    return rc;
}

/* Bilinear resize of an RGB image to h x w (the camera resolution). */
static int resize_image(img_u8 *im, int64_t h, int64_t w) {
    if (im->height == h && im->width == w) return 0;
    int rc = -1;
    size_t n = (size_t)3 * im->width * im->height;
    float *buf = malloc(sizeof *buf * n);
    uint8_t *dst = malloc((size_t)3 * h * w);
    if (!buf || !dst) {
        free(buf);
        free(dst);
        return hnd_error_set("out of memory");
    }
    img_to_chw_f32(im, buf);
    ct_scope_begin();
    int64_t shape[4] = {1, 3, im->height, im->width};
    int64_t perm[3] = {1, 2, 0};
    ct_tensor *t = ct_from_buffer(buf, CT_F32, 4, shape);
    ct_tensor *r = t ? ct_interpolate(t, CT_INTERP_BILINEAR, h, w, 0, 0, 0, 0) : NULL;
    ct_tensor *u = r ? ct_round(ct_mul_scalar(ct_clamp(r, 0, 1), 255)) : NULL;
    ct_tensor *hwc = u ? ct_contiguous(ct_permute(ct_select(u, 0, 0), perm, 3)) : NULL;
    ct_tensor *b = hwc ? ct_to_dtype(hwc, CT_U8) : NULL;
    if (b && ct_to_buffer(b, dst, (size_t)3 * h * w) == 0) rc = 0;
    else hnd_error_set("resizing an image: %s", ct_last_error());
    ct_scope_end();
    free(buf);
    if (rc == 0) {
        free(im->rgb);
        im->rgb = dst;
        im->width = (int)w;
        im->height = (int)h;
    } else {
        free(dst);
    }
    return rc;
}

static int plot_model(const char *dir, const lat_strategy *s, int n, const double *rates, int nr,
                      double overhead_ms, const char *label) {
    ap_series ser[8];
    double ys[8][LAT_MAX_RATES];
    for (int i = 0; i < n && i < 8; i++) {
        for (int k = 0; k < nr; k++) ys[i][k] = lat_total_ms(&s[i], rates[k], overhead_ms) / 1000.0;
        ser[i] = (ap_series){s[i].name, rates, ys[i], nr};
    }
    char title[256], path[4096];
    snprintf(title, sizeof title, "Total inference time vs link rate: %s", label);
    ap_chart c = {title, "link rate [Mbit/s]", "total time [s]", 1, 1, NULL, 0, 0, 0, NULL, 0, 0};
    snprintf(path, sizeof path, "%s/latency_model.png", dir);
    return ap_line_chart(path, &c, ser, n < 8 ? n : 8);
}

int cmd_bench_latency(int argc, char **argv) {
    an_model_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.student_kind = -1;
    const char *src = NULL, *images = NULL, *device = "cpu", *out = "bench-latency", *arch = NULL;
    const char *rates_s = "0.5,1,2,5,10,50";
    int64_t input[3] = {0, 0, 0};
    int64_t chans[1] = {0};
    int max_images = 8, threads = -1, have_chans = 0;
    lat_bench_options bo = {0};
    lat_device dv = {20.0, 0, 0};
    double overhead_ms = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDS_VALUE                                       \
    if (!v) return usage_error("missing value after", a); \
    i++
#define POSITIVE(dst, what)                                                  \
    do {                                                                     \
        char *e_;                                                            \
        dst = strtod(v, &e_);                                                \
        if (e_ == v || *e_ || !(dst >= 0) || !isfinite(dst)) return usage_error(what, v); \
    } while (0)
        if (!strcmp(a, "--images")) { NEEDS_VALUE; images = v; }
        else if (!strcmp(a, "--arch")) { NEEDS_VALUE; arch = v; }
        else if (!strcmp(a, "--student-channels")) {
            NEEDS_VALUE;
            if (an_cli_parse_channels(v, chans, 1) != 1) return usage_error("--student-channels expects one C >= 1, got", v);
            have_chans = 1;
        } else if (!strcmp(a, "--student-kind")) {
            NEEDS_VALUE;
            if ((spec.student_kind = stu_kind_parse(v)) < 0)
                return usage_error("--student-kind expects Bottleneck4LargeResNet or Bottleneck4SmallResNet, got", v);
        } else if (!strcmp(a, "--teacher")) { NEEDS_VALUE; snprintf(spec.weights, sizeof spec.weights, "%s", v); }
        else if (!strcmp(a, "--device")) { NEEDS_VALUE; device = v; }
        else if (!strcmp(a, "--out")) { NEEDS_VALUE; out = v; }
        else if (!strcmp(a, "--rates")) { NEEDS_VALUE; rates_s = v; }
        else if (!strcmp(a, "--input")) {
            NEEDS_VALUE;
            if (an_cli_parse_size(v, input) != 0 || input[0] != 3)
                return usage_error("--input expects 3xHxW or HxW, got", v);
        } else if (!strcmp(a, "--runs")) {
            NEEDS_VALUE;
            if ((bo.runs = atoi(v)) < 1) return usage_error("--runs must be >= 1, got", v);
        } else if (!strcmp(a, "--warmup")) {
            NEEDS_VALUE;
            bo.warmup = atoi(v);
            if (bo.warmup < 0 || strspn(v, "0123456789") != strlen(v)) return usage_error("--warmup must be >= 0, got", v);
            if (bo.warmup == 0) bo.warmup = -1;
        } else if (!strcmp(a, "--max-images")) {
            NEEDS_VALUE;
            if ((max_images = atoi(v)) < 1) return usage_error("--max-images must be >= 1, got", v);
        } else if (!strcmp(a, "--overhead-ms")) { NEEDS_VALUE; POSITIVE(overhead_ms, "--overhead-ms expects a time >= 0, got"); }
        else if (!strcmp(a, "--slowdown")) {
            NEEDS_VALUE;
            POSITIVE(dv.slowdown, "--slowdown expects a factor > 0, got");
            if (dv.slowdown <= 0) return usage_error("--slowdown expects a factor > 0, got", v);
        } else if (!strcmp(a, "--device-head-ms")) { NEEDS_VALUE; POSITIVE(dv.device_head_ms, "--device-head-ms expects a time, got"); }
        else if (!strcmp(a, "--device-whole-ms")) { NEEDS_VALUE; POSITIVE(dv.device_whole_ms, "--device-whole-ms expects a time, got"); }
        else if (!strcmp(a, "--min-size") || !strcmp(a, "--max-size")) {
            NEEDS_VALUE;
            char *e_;
            double sz = strtod(v, &e_);
            if (e_ == v || *e_ || !(sz >= 32 && sz <= 8192)) return usage_error("sizes must be 32..8192, got", v);
            if (!strcmp(a, "--min-size")) spec.min_size = sz;
            else spec.max_size = sz;
        } else if (!strcmp(a, "--seed")) { NEEDS_VALUE; spec.seed = strtoull(v, NULL, 10); }
        else if (!strcmp(a, "--threads")) { NEEDS_VALUE; threads = atoi(v); }
        else if (!strcmp(a, "--quiet")) bo.quiet = 1;
        else if (a[0] == '-' && a[1]) return usage_error("unknown option", a);
        else if (!src) src = a;
        else return usage_error("more than one CONFIG_OR_CKPT given:", a);
#undef NEEDS_VALUE
#undef POSITIVE
    }
    if (!images) return usage_error("--images DIR is required", NULL);
    double rates[LAT_MAX_RATES];
    int nr = lat_parse_rates(rates_s, rates, LAT_MAX_RATES);
    if (nr < 0) {
        fprintf(stderr, "hnd bench-latency: --%s\n", hnd_error());
        return 2;
    }
    ct_device dev;
    if (an_cli_parse_device(device, &dev) != 0) return usage_error("--device expects cpu, cuda or cuda:N, got", device);
    if (dev.type == CT_CUDA && !ct_cuda_available()) {
        fprintf(stderr, "hnd bench-latency: --device %s: CUDA is not available in this libtorch build\n", device);
        return 1;
    }
    if (threads >= 0) ct_set_num_threads(threads);

    /* the model: a config, a weight file, or --arch with random weights */
    char teacher_override[1024];
    snprintf(teacher_override, sizeof teacher_override, "%s", spec.weights);
    if (src) {
        size_t L = strlen(src);
        if (L > 5 && !strcasecmp(src + L - 5, ".json")) {
            an_model_spec specs[2];
            int ns = 0;
            if (an_cli_specs_from_config(src, specs, &ns) != 0) {
                fprintf(stderr, "hnd bench-latency: %s\n", hnd_error());
                return 1;
            }
            int k = ns - 1;   /* the student when there is one */
            if (spec.min_size > 0) specs[k].min_size = spec.min_size;
            if (spec.max_size > 0) specs[k].max_size = spec.max_size;
            specs[k].student_kind = spec.student_kind >= 0 ? spec.student_kind : specs[k].student_kind;
            specs[k].seed = spec.seed;
            spec = specs[k];
        } else {
            uint64_t seed = spec.seed;
            int kind = spec.student_kind;
            double mn = spec.min_size, mx = spec.max_size;
            if (an_spec_from_weights(src, &spec) != 0) {
                if (!arch) {
                    fprintf(stderr, "hnd bench-latency: %s\n", hnd_error());
                    return 1;
                }
                snprintf(spec.weights, sizeof spec.weights, "%s", src);
            }
            spec.seed = seed;
            if (kind >= 0) spec.student_kind = kind;
            spec.min_size = mn;
            spec.max_size = mx;
            if (spec.student_channels > 0) {
                /* a student checkpoint: its file provides layer1; the rest
                 * from the file too, or from --teacher */
                snprintf(spec.student_weights, sizeof spec.student_weights, "%s", src);
                if (teacher_override[0]) snprintf(spec.weights, sizeof spec.weights, "%s", teacher_override);
            }
        }
    } else if (!arch) {
        return usage_error("give CONFIG.json, WEIGHTS.h5 or --arch ARCH", NULL);
    }
    if (arch) snprintf(spec.arch, sizeof spec.arch, "%s", arch);
    if (have_chans) spec.student_channels = chans[0];
    if (!src && teacher_override[0]) snprintf(spec.weights, sizeof spec.weights, "%s", teacher_override);
    rcnn_config probe;
    if (rcnn_config_default(&probe, spec.arch) != 0) {
        fprintf(stderr, "hnd bench-latency: %s\n", hnd_error());
        return 2;
    }
    spec.device = dev;

    img_u8 *ims = NULL;
    int n = 0, rc = 1;
    if (load_images(images, max_images, &ims, &n) != 0) {
        fprintf(stderr, "hnd bench-latency: %s\n", hnd_error());
        return 1;
    }
    an_model m;
    memset(&m, 0, sizeof m);
    for (int i = 0; i < n && input[0]; i++)
        if (resize_image(&ims[i], input[1], input[2]) != 0) {
            fprintf(stderr, "hnd bench-latency: %s\n", hnd_error());
            goto done;
        }
    if (an_cli_mkdir(out) != 0 || an_model_open(&spec, &m) != 0) {
        fprintf(stderr, "hnd bench-latency: %s\n", hnd_error());
        goto done;
    }
    if (!bo.quiet && !spec.weights[0] && !spec.student_weights[0])
        fprintf(stderr, "hnd bench-latency: no weights given: random weights (timing is what matters here)\n");
    else if (!bo.quiet && m.n_missing > 0)
        fprintf(stderr, "hnd bench-latency: %d tensor(s) were in no weight file (random values)\n", m.n_missing);
    lat_report rep;
    if (lat_bench(&m, ims, n, &bo, &rep) != 0) {
        fprintf(stderr, "hnd bench-latency: %s\n", hnd_error());
        goto done;
    }
    lat_strategy st[8];
    int ns = lat_strategies(&rep, &dv, st, 8);
    af_file a;
    FILE *f = an_cli_open(&a, out, "latency_parts.csv");
    if (!f || an_cli_commit(&a, lat_write_report_csv(f, &rep) != 0) != 0) goto io_fail;
    f = an_cli_open(&a, out, "latency_model.csv");
    if (!f || an_cli_commit(&a,
                            lat_write_model_csv(f, st, ns, rates, nr, overhead_ms) != 0) != 0)
        goto io_fail;
    if (plot_model(out, st, ns, rates, nr, overhead_ms, rep.label) != 0) goto io_fail;
    if (!bo.quiet) {
        lat_print(stdout, &rep);
        printf("  device: %s\n",
               dv.device_whole_ms > 0 || dv.device_head_ms > 0 ? "times measured on the device as given"
                                                                : "this machine's times x the slowdown factor");
        printf("  slowdown %.3g, overhead %.3g ms per message\n", dv.slowdown, overhead_ms);
        printf("  %-10s", "Mbit/s");
        for (int i = 0; i < ns; i++) printf(" %12s", st[i].name);
        printf("  best\n");
        for (int k = 0; k < nr; k++) {
            printf("  %-10g", rates[k]);
            for (int i = 0; i < ns; i++) printf(" %12.1f", lat_total_ms(&st[i], rates[k], overhead_ms));
            printf("  %s\n", st[lat_best(st, ns, rates[k], overhead_ms)].name);
        }
        printf("wrote %s/latency_parts.csv, %s/latency_model.csv, %s/latency_model.png\n", out, out, out);
    }
    rc = 0;
    goto done;
io_fail:
    fprintf(stderr, "hnd bench-latency: %s\n", hnd_error());
done:
    an_model_close(&m);
    for (int i = 0; i < n; i++) img_free(&ims[i]);
    free(ims);
    return rc;
}
