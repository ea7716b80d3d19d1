/* test_det_visualize_kp.c: keypoints drawn by hnd detect --visualize
 * (tools/det_visualize.h, issue 17), read back by our PNG decoder: a dot in
 * the detection's colour at each keypoint with v > 0 (none at v = 0), the
 * skeleton's line between two shown keypoints, nothing elsewhere. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "det_visualize.h"
#include "img.h"

static void test_keypoints(void **state) {
    (void)state;
    enum { W = 64, H = 48 };
    uint8_t *rgb = calloc(3 * W * H, 1);
    assert_non_null(rgb);
    float box[4] = {2, 2, 62, 46};
    float score = 0.9f;
    int64_t label = 1;
    /* three keypoints: two shown, joined by the skeleton; the third (v 0)
     * not drawn, nor its edge */
    float kp[9] = {10.5f, 30.5f, 1, 40.5f, 30.5f, 1, 50.5f, 20.5f, 0}; /* away from the label tag at the top left */
    int32_t skel[4] = {1, 2, 2, 3};
    dv_image im = {rgb, W, H, 1, box, &score, &label, NULL};
    dv_keypoints kv = {3, kp, skel, 2};
    const char *path = "test_det_visualize_kp.png";
    assert_int_equal(dv_write_png_kp(path, &im, NULL, &kv), 0);
    img_u8 out;
    assert_int_equal(img_decode_file(path, &out), 0);
    /* label 1's colour (see test_det_visualize): 241, 121, 119 */
    const int at[3][2] = {{10, 30}, {40, 30}, {25, 30}}; /* the dots' centres, the line's middle */
    for (int i = 0; i < 3; i++) {
        const uint8_t *p = out.rgb + 3 * (at[i][1] * W + at[i][0]);
        if (p[0] != 241 || p[1] != 121 || p[2] != 119)
            fail_msg("(%d, %d): %d %d %d", at[i][0], at[i][1], p[0], p[1], p[2]);
    }
    const uint8_t *p = out.rgb + 3 * (20 * W + 50); /* the hidden keypoint */
    assert_int_equal(p[0] + p[1] + p[2], 0);
    p = out.rgb + 3 * (25 * W + 45); /* on the edge 2-3, not drawn */
    assert_int_equal(p[0] + p[1] + p[2], 0);
    p = out.rgb + 3 * (40 * W + 20); /* elsewhere, untouched */
    assert_int_equal(p[0] + p[1] + p[2], 0);
    img_clear(&out);
    remove(path);
    free(rgb);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_keypoints)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
