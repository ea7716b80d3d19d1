/* test_plot.c: the figure modules (tools/plot_*.h, analysis_plot.h): format
 * names and paths, axis ranges and ticks, and charts written as PNG, SVG and
 * PDF (magic bytes, the size asked for, the series' colours in the pixels).
 * The charts use numbers like the real commands' and stay in
 * HND_TEST_TMP/plot/ for a look. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cairo.h>
#include <math.h>
#include <sys/stat.h>

#include "analysis_plot.h"
#include "hnd_error.h"
#include "plot_axis.h"
#include "plot_format.h"
#include "plot_png.h"
#include "test_util.h"

static const char *tmp(char *buf, size_t n, const char *name) {
    char dir[1024];
    mkdir(tu_tmp(dir, sizeof dir, "plot"), 0777);
    snprintf(buf, n, "%s/%s", dir, name);
    return buf;
}

static int starts_with(const char *path, const char *magic) {
    char b[16] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(b, 1, strlen(magic), f);
    fclose(f);
    return n == strlen(magic) && memcmp(b, magic, n) == 0;
}

static void test_format(void **st) {
    (void)st;
    pf_format f = PF_PNG;
    assert_int_equal(pf_parse("SVG", &f), 0);
    assert_int_equal(f, PF_SVG);
    assert_int_equal(pf_parse("pdf", &f), 0);
    assert_int_equal(f, PF_PDF);
    assert_int_equal(pf_parse("jpg", &f), -1);
    assert_non_null(strstr(hnd_error(), "png, svg or pdf"));
    assert_string_equal(pf_name(PF_PNG), "png");
    char p[64];
    assert_int_equal(pf_path(p, sizeof p, "out/curve.png", PF_PDF), 0);
    assert_string_equal(p, "out/curve.pdf");
    assert_int_equal(pf_path(p, sizeof p, "a.d/curve", PF_SVG), 0);
    assert_string_equal(p, "a.d/curve.svg");
    assert_int_equal(pf_path(p, sizeof p, "d/.hidden", PF_PNG), 0);
    assert_string_equal(p, "d/.hidden.png");
    assert_int_equal(pf_path(p, 8, "out/curve.png", PF_PNG), -1);
    assert_int_equal(pf_from_path("x/y.PDF", PF_PNG), PF_PDF);
    assert_int_equal(pf_from_path("x.svg/y", PF_PNG), PF_PNG);
    assert_int_equal(pf_from_path("y.jpeg", PF_SVG), PF_SVG);
}

static void fit(pa_axis *a, pa_kind kind, const double *v, int n) {
    pa_bounds b;
    pa_bounds_init(&b);
    for (int i = 0; i < n; i++) pa_bounds_add(&b, kind, v[i]);
    a->kind = kind;
    pa_fit(a, &b, 0);
}

static void test_axis(void **st) {
    (void)st;
    pa_axis a;
    pa_tick t[PA_MAX_TICKS];
    /* mAP between 0.359 and 0.379: a tight range, not 0..1 */
    double map[] = {0.359, 0.366, 0.379, NAN};
    fit(&a, PA_LINEAR, map, 4);
    assert_true(a.lo <= 0.359 && a.lo >= 0.35 && a.hi >= 0.379 && a.hi <= 0.39);
    int n = pa_ticks(&a, t, PA_MAX_TICKS);
    assert_true(n >= 3 && n <= 12);
    assert_string_equal(t[0].label, "0.360");   /* step 0.005: three decimals */
    /* counts from 0: a 0 baseline (with a little air, but no tick below 0) */
    double cnt[] = {1, 7, 9};
    fit(&a, PA_LINEAR, cnt, 3);
    assert_true(a.lo < 0 && a.lo > -0.5 && a.hi >= 9 && a.hi <= 10);
    n = pa_ticks(&a, t, PA_MAX_TICKS);
    assert_string_equal(t[0].label, "0");
    /* normalized sizes 0.065 .. 1 on a log axis: the data's span and a
     * little more; labels at 0.1 and 1 (and 0.2, 0.5 over this short span) */
    double ratio[] = {0.0647, 0.129, 0.323, 1.0, -1, 0};
    fit(&a, PA_LOG, ratio, 6);
    assert_true(a.lo < 0.0647 && a.lo > 0.055 && a.hi > 1 && a.hi < 1.2);
    n = pa_ticks(&a, t, PA_MAX_TICKS);
    int saw_01 = 0, saw_1 = 0;
    for (int i = 0; i < n; i++) {
        saw_01 |= t[i].major && strcmp(t[i].label, "0.1") == 0;
        saw_1 |= t[i].major && strcmp(t[i].label, "1") == 0;
        assert_true(t[i].v >= a.lo * (1 - 1e-9) && t[i].v <= a.hi * (1 + 1e-9));
    }
    assert_true(saw_01 && saw_1);
    /* parameter counts 1e3 .. 2.3e7: powers of ten written with superscripts */
    double par[] = {9408, 2.3e7};
    fit(&a, PA_LOG, par, 2);
    n = pa_ticks(&a, t, PA_MAX_TICKS);
    int saw_pow = 0;
    for (int i = 0; i < n; i++) saw_pow |= strcmp(t[i].label, "10\u2075") == 0;
    assert_true(saw_pow);
    assert_true(isnan(pa_frac(&a, -1)) && fabs(pa_frac(&a, a.hi) - 1) < 1e-12);
    /* every mAP 0 (a short run): 0 at the bottom, nothing negative */
    double zero[] = {0, 0, 0};
    fit(&a, PA_LINEAR, zero, 3);
    assert_true(a.lo < 0 && a.lo > -0.1 && a.hi >= 1 && a.hi < 1.1);
    /* nothing to show still gives a usable range */
    fit(&a, PA_LINEAR, NULL, 0);
    assert_true(a.hi > a.lo);
}

/* Whether the PNG is w x h and has a pixel of colour rgb (within 8 per channel). */
static int png_has(const char *path, int w, int h, uint32_t rgb) {
    cairo_surface_t *s = cairo_image_surface_create_from_png(path);
    int ok = cairo_surface_status(s) == CAIRO_STATUS_SUCCESS && cairo_image_surface_get_width(s) == w &&
             cairo_image_surface_get_height(s) == h, found = 0;
    if (ok) {
        cairo_surface_flush(s);
        const unsigned char *d = cairo_image_surface_get_data(s);
        int stride = cairo_image_surface_get_stride(s);
        for (int y = 0; y < h && !found; y++)
            for (int x = 0; x < w && !found; x++) {
                uint32_t p = *(const uint32_t *)(d + y * stride + 4 * x);
                found = abs((int)((p >> 16) & 255) - (int)((rgb >> 16) & 255)) <= 8 &&
                        abs((int)((p >> 8) & 255) - (int)((rgb >> 8) & 255)) <= 8 &&
                        abs((int)(p & 255) - (int)(rgb & 255)) <= 8;
            }
    }
    cairo_surface_destroy(s);
    return ok && found;
}

/* The sweep's curve as hnd sweep draws it: Mask R-CNN students C=3..15 at
 * their 8-bit sizes, the teacher at the input size and as reference lines. */
static int sweep_curve(const char *path, pf_format f) {
    double x[] = {0.0647, 0.129, 0.194, 0.259, 0.323};
    double yb[] = {0.359, 0.363, 0.366, 0.368, 0.369}, ys[] = {0.336, 0.338, 0.340, 0.341, 0.342};
    double one = 1, tb = 0.379, ts = 0.346;
    pp_plot *p = pp_new(900, 600);
    if (!p) return -1;
    pp_title(p, "mask_rcnn_resnet50_fpn: mAP vs bottleneck size");
    pp_xlabel(p, "normalized bottleneck size (8-bit bottleneck bytes / 8-bit input bytes, log)");
    pp_ylabel(p, "mAP");
    pp_xlog(p, 1);
    int rc = pp_add(p, "student bbox mAP", x, yb, 5, 0x1F77B4, PP_LINE | PP_POINTS);
    rc |= pp_add(p, "student mask mAP", x, ys, 5, 0xD62728, PP_LINE | PP_POINTS);
    rc |= pp_add(p, "", &one, &tb, 1, 0x2CA02C, PP_POINTS);
    rc |= pp_add(p, "", &one, &ts, 1, 0xFF7F0E, PP_POINTS);
    rc |= pp_hline(p, "teacher bbox mAP (sends the input)", tb, 0x2CA02C);
    rc |= pp_hline(p, "teacher mask mAP (sends the input)", ts, 0xFF7F0E);
    for (int i = 0; i < 5; i++) {
        char t[16];
        snprintf(t, sizeof t, "C=%d", 3 * (i + 1));
        rc |= pp_annotate(p, x[i], yb[i], t, 0x1F77B4);
    }
    if (rc == 0) rc = pp_write_as(p, path, f);
    pp_destroy(p);
    return rc;
}

static void test_sweep_curve_formats(void **st) {
    (void)st;
    char png[1100], other[1100];
    assert_int_equal(sweep_curve(tmp(png, sizeof png, "curve.png"), PF_PNG), 0);
    assert_true(starts_with(png, "\x89PNG"));
    assert_true(png_has(png, 900, 600, 0x1F77B4));   /* student bbox */
    assert_true(png_has(png, 900, 600, 0xFF7F0E));   /* teacher mask line */
    /* the extension follows the format; the .png is left as it was */
    remove(tmp(other, sizeof other, "curve.svg"));
    assert_int_equal(sweep_curve(png, PF_SVG), 0);
    assert_true(starts_with(other, "<?xml"));
    assert_int_equal(sweep_curve(png, PF_PDF), 0);
    assert_true(starts_with(tmp(other, sizeof other, "curve.pdf"), "%PDF-"));
    /* pp_write: the format from the path */
    pp_plot *p = pp_new(400, 300);
    double x[2] = {1, 2}, y[2] = {3, 4};
    assert_int_equal(pp_add(p, "a", x, y, 2, 0, 0), 0);
    assert_int_equal(pp_write(p, tmp(other, sizeof other, "small.svg")), 0);
    pp_destroy(p);
    assert_true(starts_with(other, "<?xml"));
}

static void test_analysis_charts(void **st) {
    (void)st;
    /* analyze's tensor_sizes: split points, log y, the input size as a reference */
    static const char *cats[] = {"input", "conv1", "bn1", "relu", "maxpool", "layer1", "bottleneck", "layer2",
                                 "layer3", "layer4", "fpn", "rpn", "roi_heads"};
    double teacher[] = {1, 5.33, 5.33, 5.33, 1.33, 1.33, NAN, 0.667, 0.333, 0.167, 0.45, 0.45, 0.01};
    double s3[] = {1, 5.33, 5.33, 5.33, 1.33, NAN, 0.065, 0.667, 0.333, 0.167, 0.45, 0.45, 0.01};
    double s12[] = {1, 5.33, 5.33, 5.33, 1.33, NAN, 0.259, 0.667, 0.333, 0.167, 0.45, 0.45, 0.01};
    ap_series s[] = {{"faster_rcnn_resnet50_fpn (teacher)", NULL, teacher, 13},
                     {"student C=3", NULL, s3, 13},
                     {"student C=12", NULL, s12, 13}};
    ap_chart c = {"Tensor size to send / input size (3x800x1067)", "split after", "scaled tensor size", 0, 1,
                  cats, 13, 1, 1.0, "input size", 0, 0};
    char path[1100];
    assert_int_equal(ap_line_chart(tmp(path, sizeof path, "tensor_sizes.png"), &c, s, 3), 0);
    assert_true(png_has(path, 960, 600, 0xD62728));
    assert_true(png_has(path, 960, 600, 0x285ADC));   /* the reference line */
    assert_int_equal(ap_line_chart_as(path, &c, s, 3, PF_PDF), 0);
    assert_true(starts_with(tmp(path, sizeof path, "tensor_sizes.pdf"), "%PDF-"));
    /* bench-latency's model: log-log, seven strategies (legend above the plot) */
    double rates[] = {0.5, 1, 2, 5, 10, 50};
    double y[7][6];
    ap_series ls[7];
    char names[7][32];
    for (int k = 0; k < 7; k++) {
        for (int i = 0; i < 6; i++) y[k][i] = 0.05 * (k + 1) + (k == 0 ? 0 : 2.0 / (k * rates[i]));
        snprintf(names[k], sizeof names[k], k == 0 ? "mobile only" : "split C=%d", 3 * k);
        ls[k] = (ap_series){names[k], rates, y[k], 6};
    }
    ap_chart lc = {"Total inference time vs link rate: cpu", "link rate [Mbit/s]", "total time [s]", 1, 1,
                   NULL, 0, 0, 0, NULL, 0, 0};
    assert_int_equal(ap_line_chart(tmp(path, sizeof path, "latency_model.png"), &lc, ls, 7), 0);
    assert_true(png_has(path, 960, 600, 0x9467BD));
}

static void test_errors(void **st) {
    (void)st;
    pp_plot *p = pp_new(400, 300);
    assert_int_equal(pp_write(p, "/nonexistent-dir/x.png"), -1);
    assert_non_null(strstr(hnd_error(), "/nonexistent-dir/x.png"));
    pp_destroy(p);
    assert_null(pp_new(10, 10));
    ap_chart c = {"t", "x", "y", 0, 0, NULL, 0, 0, 0, NULL, 100, 100};
    char path[1100];
    assert_int_equal(ap_line_chart(tmp(path, sizeof path, "tiny.png"), &c, NULL, 0), -1);
    assert_false(tu_file_exists(path));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_axis),
        cmocka_unit_test(test_sweep_curve_formats),
        cmocka_unit_test(test_analysis_charts),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
