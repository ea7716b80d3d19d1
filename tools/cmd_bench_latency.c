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
#include "cmd_common.h"
#include "path.h"
#include "commands.h"
#include "hnd_error.h"
#include "img.h"
#include "latency.h"

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
        for (int i = 0; i < k; i++) img_clear(&ims[i]);
        free(ims);
    }
    img_list_destroy(names, n);
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

static int plot_model(const char *dir, const char *format, const lat_strategy *s, int n, const double *rates, int nr,
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
    snprintf(path, sizeof path, "%s/latency_model.%s", dir, format);
    return ap_line_chart(path, &c, ser, n < 8 ? n : 8);
}

typedef struct {
    spa_model_spec spec;
    const char *src, *images, *out, *arch, *format;
    int64_t input[3];
    int64_t channels;   /* --student-channels, 0 when not given */
    int max_images;
    lat_bench_options bo;
    lat_device dv;
    double overhead_ms, rates[LAT_MAX_RATES];
    int nr;
} bl_args;

/* The options (table in cmd_help.c). 0, or 2 / 1 after a message. */
static int parse_args(int argc, char **argv, bl_args *b) {
    co_args a;
    if (hnd_parse("bench-latency", argc, argv, &a) != 0) return 2;
    const co_command *cmd = a.cmd;
    memset(b, 0, sizeof *b);
    b->spec.student_kind = -1;
    b->src = a.n_pos ? a.pos[0] : NULL;
    b->images = co_str(&a, "--images", NULL);
    b->out = co_str(&a, "--out", "bench-latency");
    b->arch = co_str(&a, "--arch", NULL);
    b->format = co_str(&a, "--format", "png");
    b->channels = co_int(&a, "--student-channels", 0);
    b->max_images = (int)co_int(&a, "--max-images", 8);
    b->bo.runs = (int)co_int(&a, "--runs", 0);
    b->bo.warmup = (int)co_int(&a, "--warmup", 2);
    if (b->bo.warmup == 0) b->bo.warmup = -1;   /* lat_bench: 0 means its default */
    b->bo.quiet = co_has(&a, "--quiet");
    b->dv = (lat_device){co_real(&a, "--slowdown", 20.0), co_real(&a, "--device-head-ms", 0),
                         co_real(&a, "--device-whole-ms", 0)};
    b->overhead_ms = co_real(&a, "--overhead-ms", 0);
    b->spec.min_size = co_real(&a, "--min-size", 0);
    b->spec.max_size = co_real(&a, "--max-size", 0);
    b->spec.seed = co_u64(&a, "--seed", 0);
    snprintf(b->spec.weights, sizeof b->spec.weights, "%s", co_str(&a, "--teacher", ""));
    const char *v;
    int rc = 0;
    if ((v = co_str(&a, "--student-kind", NULL)) && (b->spec.student_kind = stu_kind_parse(v)) < 0)
        rc = co_usage_error(cmd, "--student-kind: expected Bottleneck4LargeResNet or Bottleneck4SmallResNet, got '%s'", v);
    if (rc == 0 && (v = co_str(&a, "--input", NULL)) && (acli_parse_size(v, b->input) != 0 || b->input[0] != 3))
        rc = co_usage_error(cmd, "--input: expected 3xHxW or HxW, each side 1..8192, got '%s'", v);
    if (rc == 0 && !b->images) rc = co_usage_error(cmd, "--images DIR is required");
    if (rc == 0 && (b->nr = lat_parse_rates(co_str(&a, "--rates", "0.5,1,2,5,10,50"), b->rates, LAT_MAX_RATES)) < 0)
        rc = co_usage_error(cmd, "--%s", hnd_error());
    if (rc == 0) rc = cc_threads(&a);
    if (rc == 0) rc = cc_device(cmd, co_str(&a, "--device", "cpu"), &b->spec.device);
    if (rc == 0 && !b->src && !b->arch) rc = co_usage_error(cmd, "give CONFIG.json, WEIGHTS.h5 or --arch ARCH");
    co_args_clear(&a);
    return rc;
}

/* The model: a config, a weight file, or --arch with random weights. 0,
 * or 1 / 2 after a message. */
static int resolve_spec(const bl_args *b, spa_model_spec *out) {
    spa_model_spec spec = b->spec;
    const char *src = b->src, *arch = b->arch;
    ct_device dev = b->spec.device;
    char teacher_override[1024];
    snprintf(teacher_override, sizeof teacher_override, "%s", spec.weights);
    if (src) {
        size_t L = strlen(src);
        if (L > 5 && !strcasecmp(src + L - 5, ".json")) {
            spa_model_spec specs[2];
            int ns = 0;
            if (acli_specs_from_config(src, specs, &ns) != 0) {
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
            if (spa_spec_from_weights(src, &spec) != 0) {
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
    }
    /* another architecture than the file's or config's: its defaults */
    if (arch && strcmp(arch, spec.arch) != 0) spec.has_config = 0;
    if (arch) snprintf(spec.arch, sizeof spec.arch, "%s", arch);
    if (b->channels > 0) spec.student_channels = b->channels;
    if (!src && teacher_override[0]) snprintf(spec.weights, sizeof spec.weights, "%s", teacher_override);
    rcnn_config probe;
    if (rcnn_config_default(&probe, spec.arch) != 0) {
        fprintf(stderr, "hnd bench-latency: %s\n", hnd_error());
        return 2;
    }
    spec.device = dev;

    *out = spec;
    return 0;
}

int cmd_bench_latency(int argc, char **argv) {
    bl_args b;
    int prc = parse_args(argc, argv, &b);
    if (prc != 0) return prc;
    spa_model_spec spec;
    if ((prc = resolve_spec(&b, &spec)) != 0) return prc;
    const char *out = b.out;
    lat_bench_options bo = b.bo;
    lat_device dv = b.dv;
    const double *rates = b.rates, overhead_ms = b.overhead_ms;
    int nr = b.nr;
    img_u8 *ims = NULL;
    int n = 0, rc = 1;
    if (load_images(b.images, b.max_images, &ims, &n) != 0) {
        fprintf(stderr, "hnd bench-latency: %s\n", hnd_error());
        return 1;
    }
    spa_model m;
    memset(&m, 0, sizeof m);
    for (int i = 0; i < n && b.input[0]; i++)
        if (resize_image(&ims[i], b.input[1], b.input[2]) != 0) {
            fprintf(stderr, "hnd bench-latency: %s\n", hnd_error());
            goto done;
        }
    if (spa_model_open(&spec, &m) != 0) {
        fprintf(stderr, "hnd bench-latency: %s\n", hnd_error());
        goto done;
    }
    if (!bo.quiet && !spec.weights[0] && !spec.student_weights[0])
        fprintf(stderr, "hnd bench-latency: no weights given: random weights (timing is what matters here)\n");
    else if (!bo.quiet && m.n_missing > 0)
        fprintf(stderr, "hnd bench-latency: %d tensor(s) were in no weight file (random values)\n", m.n_missing);
    lat_report rep;
    if (lat_bench(m.sr, ims, n, &bo, &rep) != 0) {
        fprintf(stderr, "hnd bench-latency: %s\n", hnd_error());
        goto done;
    }
    if (path_mkdirs(out) != 0) goto io_fail;   /* only now: a failed run leaves no directory */
    lat_strategy st[8];
    int ns = lat_strategies(&rep, &dv, st, 8);
    af_file a;
    FILE *f = acli_open(&a, out, "latency_parts.csv");
    if (!f || acli_commit(&a, lat_write_report_csv(f, &rep) != 0) != 0) goto io_fail;
    f = acli_open(&a, out, "latency_sizes.csv");
    if (!f || acli_commit(&a, lat_write_sizes_csv(f, &rep) != 0) != 0) goto io_fail;
    f = acli_open(&a, out, "latency_model.csv");
    if (!f || acli_commit(&a,
                            lat_write_model_csv(f, st, ns, rates, nr, overhead_ms) != 0) != 0)
        goto io_fail;
    if (plot_model(out, b.format, st, ns, rates, nr, overhead_ms, rep.label) != 0) goto io_fail;
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
        printf("wrote %s/latency_parts.csv, %s/latency_sizes.csv, %s/latency_model.csv, %s/latency_model.%s\n", out,
               out, out, out, b.format);
    }
    rc = 0;
    goto done;
io_fail:
    fprintf(stderr, "hnd bench-latency: %s\n", hnd_error());
done:
    spa_model_clear(&m);
    for (int i = 0; i < n; i++) img_clear(&ims[i]);
    free(ims);
    return rc;
}
