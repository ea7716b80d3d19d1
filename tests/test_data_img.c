/* test_data_img.c: JPEG/PNG decoding byte for byte against PIL on files PIL
 * writes at test time (tests/py/data_make_images.py), broken files give
 * errors naming the file, and the float conversions against torchvision. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"
#include "img.h"
#include "tf.h"
#include "test_util.h"

static char g_dir[1024];

static int setup(void **state) {
    tu_tmp(g_dir, sizeof g_dir, "data_img");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "data_make_images.py %s", g_dir);
    return tu_python(cmd) == 0 ? 0 : -1;
}

static void *slurp(const char *path, size_t *n) {
    uint8_t *b;
    if (img_read_file(path, &b, n) < 0) return NULL;
    return b;
}

static void test_decode_equals_pil(void **state) {
    char path[2048];
    snprintf(path, sizeof path, "%s/list.txt", g_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char name[256], ws[32], hs[32], st[32];
    int n_ok = 0, n_err = 0;
    while (fscanf(f, "%255s %31s %31s %31s", name, ws, hs, st) == 4) {
        snprintf(path, sizeof path, "%s/%s", g_dir, name);
        img_u8 im;
        int rc = img_decode_file(path, &im);
        if (strcmp(st, "ok") == 0) {
            if (rc < 0) fail_msg("%s: %s", name, hnd_error());
            assert_int_equal(im.width, atoi(ws));
            assert_int_equal(im.height, atoi(hs));
            char rp[2100];
            snprintf(rp, sizeof rp, "%s.rgb", path);
            size_t n;
            uint8_t *ref = slurp(rp, &n);
            assert_non_null(ref);
            assert_int_equal(n, (size_t)im.width * im.height * 3);
            size_t bad = 0, first = 0;
            for (size_t i = 0; i < n; i++)
                if (ref[i] != im.rgb[i] && bad++ == 0) first = i;
            if (bad) fail_msg("%s: %zu of %zu bytes differ from PIL (first at %zu: %d vs PIL %d)", name, bad, n, first,
                              im.rgb[first], ref[first]);
            /* probing gives the size too */
            uint8_t *buf;
            size_t len;
            assert_int_equal(img_read_file(path, &buf, &len), 0);
            int w, h;
            assert_int_equal(img_probe_mem(path, buf, len, &w, &h), 0);
            assert_int_equal(w, im.width);
            assert_int_equal(h, im.height);
            free(buf);
            free(ref);
            img_clear(&im);
            n_ok++;
        } else {
            if (rc == 0) {
                img_clear(&im);
                fail_msg("%s: decoded, but PIL refuses it", name);
            }
            if (!strstr(hnd_error(), name)) fail_msg("%s: message '%s' does not name the file", name, hnd_error());
            n_err++;
        }
    }
    fclose(f);
    assert_int_equal(n_ok, 21);
    assert_int_equal(n_err, 7);
    assert_int_equal(img_decode_file("/nonexistent/a.jpg", &(img_u8){0}), -1);
    assert_non_null(strstr(hnd_error(), "/nonexistent/a.jpg"));
}

/* Every prefix of a JPEG and a PNG, and garbled copies: no crash. */
static void test_broken_no_crash(void **state) {
    const char *names[] = {"rgb_prog.jpg", "rgb.png", "cmyk.jpg", "palette.png"};
    for (int k = 0; k < 4; k++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", g_dir, names[k]);
        size_t len;
        uint8_t *buf = slurp(path, &len);
        assert_non_null(buf);
        for (size_t n = 0; n < len; n += 1 + len / 150) {
            img_u8 im;
            if (img_decode_mem("cut", buf, n, &im) == 0) img_clear(&im);
        }
        uint64_t x = 99 + k;
        for (int t = 0; t < 150; t++) {
            uint8_t *c = malloc(len);
            memcpy(c, buf, len);
            for (int j = 0; j < 3; j++) {
                x = x * 6364136223846793005ULL + 1442695040888963407ULL;
                c[(x >> 33) % len] = (uint8_t)(x >> 17);
            }
            img_u8 im;
            if (img_decode_mem("garbled", c, len, &im) == 0) img_clear(&im);
            free(c);
        }
        free(buf);
    }
}

static float *load_raw(const char *name, size_t n) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    size_t len;
    float *f = slurp(path, &len);
    assert_non_null(f);
    assert_int_equal(len, n * sizeof(float));
    return f;
}

static void test_float_equals_torchvision(void **state) {
    char path[2048];
    snprintf(path, sizeof path, "%s/rgb_q90.jpg", g_dir);
    img_u8 im;
    assert_int_equal(img_decode_file(path, &im), 0);
    size_t n = (size_t)3 * im.width * im.height;
    float *x = malloc(n * sizeof *x), *ref = load_raw("f_totensor.raw", n);
    img_to_chw_f32(&im, x);
    assert_memory_equal(x, ref, n * sizeof *x); /* bit-exact to_tensor */
    free(ref);
    const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
    float *y = malloc(n * sizeof *y);
    ref = load_raw("f_norm.raw", n);
    img_to_chw_f32_norm(&im, mean, sd, y);
    assert_memory_equal(y, ref, n * sizeof *y); /* bit-exact to_tensor + normalize */
    tf_normalize_chw(x, im.height, im.width, mean, sd);
    assert_memory_equal(x, ref, n * sizeof *x);
    free(ref);
    /* bilinear resize vs torch.nn.functional.interpolate (float rounding only) */
    const int sizes[4][2] = {{800, 1091}, {30, 41}, {61, 83}, {100, 57}};
    for (int k = 0; k < 4; k++) {
        int oh = sizes[k][0], ow = sizes[k][1];
        char nm[64];
        snprintf(nm, sizeof nm, "f_resize_%dx%d.raw", oh, ow);
        size_t m = (size_t)3 * oh * ow;
        float *r = load_raw(nm, m), *o = malloc(m * sizeof *o);
        assert_int_equal(tf_resize_bilinear_chw(y, 3, im.height, im.width, o, oh, ow), 0);
        double maxd = 0;
        for (size_t i = 0; i < m; i++) maxd = fmax(maxd, fabs((double)o[i] - r[i]));
        if (maxd > 2e-5) fail_msg("resize to %dx%d: max |diff| %g vs torch", oh, ow, maxd);
        free(r);
        free(o);
    }
    /* the R-CNN sizes torchvision 0.14 gives (GeneralizedRCNNTransform on
     * zeros of these sizes): float32 scale, floor(in * scale) in double */
    int oh, ow;
    tf_rcnn_size(61, 83, 800, 1333, &oh, &ow);
    assert_int_equal(oh, 799);
    assert_int_equal(ow, 1088);
    tf_rcnn_size(480, 1500, 800, 1333, &oh, &ow); /* long side bound: 1333/1500 */
    assert_int_equal(oh, 426);
    assert_int_equal(ow, 1332);
    free(x);
    free(y);
    img_clear(&im);
}

static void test_write_jpeg_roundtrip(void **state) {
    int w = 40, h = 24;
    uint8_t *rgb = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h * 3; i++) rgb[i] = (uint8_t)(i * 7 % 251);
    char path[2048];
    snprintf(path, sizeof path, "%s/written.jpg", g_dir);
    assert_int_equal(img_write_jpeg(path, rgb, w, h, 100), 0);
    img_u8 im;
    assert_int_equal(img_decode_file(path, &im), 0);
    assert_int_equal(im.width, w);
    assert_int_equal(im.height, h);
    free(rgb);
    img_clear(&im);
    assert_int_equal(img_write_jpeg("/nonexistent/dir/x.jpg", (const uint8_t *)"abc", 1, 1, 90), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_equals_pil),
        cmocka_unit_test(test_broken_no_crash),
        cmocka_unit_test(test_float_equals_torchvision),
        cmocka_unit_test(test_write_jpeg_roundtrip),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
