/* test_img_jpeg.c: the jpeg_quality re-encoding (img_jpeg.h) against PIL
 * (tests/py/jpeg_recode_ref.py): the same JPEG bytes and decoded pixels as
 * Image.save(buf, "JPEG", quality=Q) + Image.open for Q in 5..95 on images
 * of odd sizes; bad arguments are errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"
#include "img.h"
#include "img_jpeg.h"
#include "test_util.h"

static char g_dir[1024];

static int setup(void **state) {
    (void)state;
    tu_tmp(g_dir, sizeof g_dir, "img_jpeg");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "jpeg_recode_ref.py %s", g_dir);
    return tu_python(cmd) == 0 ? 0 : -1;
}

static void test_equals_pil(void **state) {
    (void)state;
    char path[2048];
    snprintf(path, sizeof path, "%s/list.txt", g_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char name[64];
    int w, h, q, n = 0;
    while (fscanf(f, "%63s %d %d %d", name, &w, &h, &q) == 4) {
        snprintf(path, sizeof path, "%s/%s.png", g_dir, name);
        img_u8 im;
        if (img_decode_file(path, &im) != 0) fail_msg("%s", hnd_error());
        assert_int_equal(im.width, w);
        assert_int_equal(im.height, h);
        uint8_t *jb, *ref;
        size_t jn, rn;
        if (img_encode_jpeg_mem(name, im.rgb, w, h, q, &jb, &jn) != 0) fail_msg("%s", hnd_error());
        snprintf(path, sizeof path, "%s/%s_q%d.jpg", g_dir, name, q);
        assert_int_equal(img_read_file(path, &ref, &rn), 0);
        if (jn != rn || memcmp(jb, ref, jn) != 0) fail_msg("%s at Q %d: %zu bytes, PIL %zu", name, q, jn, rn);
        free(ref);
        free(jb);
        size_t bytes = 0;
        if (img_recode_jpeg(name, &im, q, &bytes) != 0) fail_msg("%s", hnd_error());
        assert_int_equal(bytes, rn);
        snprintf(path, sizeof path, "%s/%s_q%d.rgb", g_dir, name, q);
        assert_int_equal(img_read_file(path, &ref, &rn), 0);
        assert_int_equal(rn, (size_t)w * h * 3);
        assert_int_equal(im.width, w);
        assert_int_equal(im.height, h);
        if (memcmp(im.rgb, ref, rn) != 0) fail_msg("%s at Q %d: decoded pixels differ from PIL's", name, q);
        print_message("  %s %dx%d Q %d: %zu bytes, as PIL\n", name, w, h, q, bytes);
        free(ref);
        img_clear(&im);
        n++;
    }
    fclose(f);
    assert_int_equal(n, 18);
}

static void test_errors(void **state) {
    (void)state;
    uint8_t px[12] = {0}, *b;
    size_t n;
    assert_int_equal(img_encode_jpeg_mem("x.png", px, 2, 2, 0, &b, &n), -1);
    assert_non_null(strstr(hnd_error(), "x.png: JPEG quality 0: must be in 1..100"));
    assert_int_equal(img_encode_jpeg_mem("x.png", px, 0, 2, 50, &b, &n), -1);
    assert_non_null(strstr(hnd_error(), "cannot JPEG-encode a 0x2 image"));
    assert_null(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_equals_pil), cmocka_unit_test(test_errors)};
    return cmocka_run_group_tests(tests, setup, NULL);
}
