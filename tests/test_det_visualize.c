/* test_det_visualize.c: hnd detect --visualize's drawing (tools/det_visualize.h):
 * label texts with and without class names, and the written PNG read back
 * by our decoder (data/img.h, tested against PIL): size, untouched
 * background, the box border in the label's colour, a mask blended 50/50. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "det_visualize.h"
#include "img.h"

static void test_labels(void **state) {
    (void)state;
    int64_t ids[2] = {1, 9};
    const char *names[2] = {"circle", "star"};
    dv_names nm = {ids, names, 2};
    char buf[64];
    dv_label(&nm, 9, 0.934f, buf, sizeof buf);
    assert_string_equal(buf, "star 0.93");
    dv_label(&nm, 7, 0.5f, buf, sizeof buf);
    assert_string_equal(buf, "7 0.50");
    dv_label(NULL, 1, 0.25f, buf, sizeof buf);
    assert_string_equal(buf, "1 0.25");
}

static void test_png(void **state) {
    (void)state;
    enum { W = 64, H = 48 };
    uint8_t *rgb = calloc(3 * W * H, 1);
    uint8_t *mask = calloc(W * H, 1);
    assert_non_null(rgb);
    assert_non_null(mask);
    for (int y = 30; y < 40; y++)
        for (int x = 40; x < 50; x++) mask[y * W + x] = 1;
    float box[4] = {20, 20, 50, 44};
    float score = 0.9f;
    int64_t label = 1;
    dv_image im = {rgb, W, H, 1, box, &score, &label, mask};
    const char *path = "test_det_visualize.png";
    assert_int_equal(dv_write_png(path, &im, NULL), 0);
    img_u8 out;
    assert_int_equal(img_decode_file(path, &out), 0);
    assert_int_equal(out.width, W);
    assert_int_equal(out.height, H);
    /* label 1's colour: h = 1 * 2654435761 = 0x9E3779B1, each byte
     * 64 + (byte & 0xBF): 0xB1 -> 241, 0x79 -> 121, 0x37 -> 119 */
    const uint8_t *p = out.rgb + 3 * (32 * W + 20);   /* on the left border */
    assert_int_equal(p[0], 241);
    assert_int_equal(p[1], 121);
    assert_int_equal(p[2], 119);
    p = out.rgb + 3 * (5 * W + 5);                    /* far from everything */
    assert_int_equal(p[0] + p[1] + p[2], 0);
    p = out.rgb + 3 * (35 * W + 45);                  /* mask over black: half the colour */
    assert_int_equal(p[0], 120);
    assert_int_equal(p[1], 60);
    assert_int_equal(p[2], 59);
    img_clear(&out);
    remove(path);
    free(rgb);
    free(mask);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_labels), cmocka_unit_test(test_png)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
