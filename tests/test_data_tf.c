/* test_data_tf.c: targets (torchvision's ConvertCocoPolysToMask rules) and
 * flips, with hand-derived numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coco_ann.h"
#include "hnd_error.h"
#include "mask_rle.h"
#include "tf.h"

/* image 5 is 100x50 (w x h). Annotations: a box reaching past the bottom
 * (clamped), a crowd one (dropped), a zero-width one (dropped), one starting
 * left of the image (clamped), and a polygon mask. */
static const char *k_json =
    "{\"images\": [{\"id\": 5, \"file_name\": \"a.jpg\", \"width\": 100, \"height\": 50},"
    "              {\"id\": 6, \"file_name\": \"b.jpg\", \"width\": 10, \"height\": 10}],"
    " \"categories\": [{\"id\": 18, \"name\": \"dog\"}, {\"id\": 3, \"name\": \"car\"}],"
    " \"annotations\": ["
    "  {\"id\": 1, \"image_id\": 5, \"category_id\": 18, \"bbox\": [10.5, 20, 30, 40], \"area\": 700.5,"
    "   \"segmentation\": [[10, 20, 40, 20, 40, 50, 10, 50]]},"
    "  {\"id\": 2, \"image_id\": 5, \"category_id\": 3, \"bbox\": [1, 1, 5, 5], \"area\": 25, \"iscrowd\": 1,"
    "   \"segmentation\": {\"counts\": [0, 5000], \"size\": [50, 100]}},"
    "  {\"id\": 3, \"image_id\": 5, \"category_id\": 3, \"bbox\": [7, 7, 0, 5], \"area\": 0},"
    "  {\"id\": 4, \"image_id\": 5, \"category_id\": 3, \"bbox\": [-4, 1.25, 10, 2.5], \"area\": 15,"
    "   \"segmentation\": [[0, 1, 6, 1, 6, 4, 0, 4], [50, 10, 60, 10, 55, 30]]}"
    " ]}";

static void test_target(void **state) {
    coco_dataset *ds = coco_load_mem("t.json", k_json, strlen(k_json), NULL);
    if (!ds) fail_msg("%s", hnd_error());
    tf_target_opts o = {1, 0};
    tf_target t;
    assert_int_equal(tf_target_build(ds, 0, &o, &t), 0);
    assert_int_equal(t.image_id, 5);
    assert_int_equal(t.n, 2);
    const float want[8] = {10.5f, 20, 40.5f, 50 /* 60 clamped */, 0 /* -4 clamped */, 1.25f, 6, 3.75f};
    for (int i = 0; i < 8; i++) assert_true(t.boxes[i] == want[i]);
    assert_int_equal(t.labels[0], 18);
    assert_int_equal(t.labels[1], 3);
    assert_true(t.area[0] == 700.5f);
    assert_true(t.area[1] == 15.0f);
    assert_int_equal(t.iscrowd[0], 0);
    assert_int_equal(t.ann_ids[1], 4);
    /* masks: row-major planes equal to the RLE module's rasterisation, the
     * second the union of its two polygons */
    size_t plane = 100 * 50;
    rle_t r;
    assert_int_equal(coco_ann_rle(ds, &ds->anns[0], &r), 0);
    uint8_t *m = malloc(plane);
    rle_decode_rowmajor(&r, m);
    assert_memory_equal(m, t.masks, plane);
    uint64_t a0 = rle_area(&r), s = 0;
    rle_clear(&r);
    for (size_t i = 0; i < plane; i++) s += t.masks[i];
    assert_int_equal(s, a0);
    assert_true(a0 > 800 && a0 < 1000); /* a 30 x 30 square, give or take the border rows */
    rle_t p1, p2, u;
    const double sq[8] = {0, 1, 6, 1, 6, 4, 0, 4}, tri[6] = {50, 10, 60, 10, 55, 30};
    assert_int_equal(rle_from_poly(&p1, sq, 4, 50, 100), 0);
    assert_int_equal(rle_from_poly(&p2, tri, 3, 50, 100), 0);
    rle_t both[2] = {p1, p2};
    assert_int_equal(rle_merge(both, 2, 0, &u), 0);
    rle_decode_rowmajor(&u, m);
    assert_memory_equal(m, t.masks + plane, plane);
    assert_int_equal(rle_area(&u), rle_area(&p1) + rle_area(&p2)); /* disjoint */
    rle_clear(&p1);
    rle_clear(&p2);
    rle_clear(&u);

    /* flip: x1' = W - x2, x2' = W - x1; masks mirrored */
    uint8_t *orig = malloc(2 * plane);
    memcpy(orig, t.masks, 2 * plane);
    tf_hflip_target(&t);
    const float fl[8] = {59.5f, 20, 89.5f, 50, 94, 1.25f, 100, 3.75f};
    for (int i = 0; i < 8; i++) assert_true(t.boxes[i] == fl[i]);
    for (int k = 0; k < 2; k++)
        for (int y = 0; y < 50; y++)
            for (int x = 0; x < 100; x++)
                assert_int_equal(t.masks[k * plane + y * 100 + x], orig[k * plane + y * 100 + 99 - x]);
    tf_target_clear(&t);

    /* keep_crowd keeps annotation 2, without masks */
    tf_target_opts oc = {0, 1};
    assert_int_equal(tf_target_build(ds, 0, &oc, &t), 0);
    assert_int_equal(t.n, 3);
    assert_null(t.masks);
    assert_int_equal(t.iscrowd[1], 1);
    assert_true(t.boxes[4] == 1 && t.boxes[6] == 6);
    tf_target_clear(&t);
    /* an image without annotations */
    assert_int_equal(tf_target_build(ds, 1, &o, &t), 0);
    assert_int_equal(t.n, 0);
    tf_target_clear(&t);
    assert_int_equal(tf_target_build(ds, 2, &o, &t), -1);
    free(m);
    free(orig);
    coco_destroy(ds);
}

static void test_flips(void **state) {
    /* 2x3 RGB image: pixels numbered 0..5 */
    uint8_t im[18];
    for (int i = 0; i < 18; i++) im[i] = (uint8_t)i;
    tf_hflip_hwc_u8(im, 2, 3, 3);
    const uint8_t want[18] = {6, 7, 8, 3, 4, 5, 0, 1, 2, 15, 16, 17, 12, 13, 14, 9, 10, 11};
    assert_memory_equal(im, want, 18);
    float x[12]; /* CHW 2x2x3 */
    for (int i = 0; i < 12; i++) x[i] = (float)i;
    tf_hflip_chw_f32(x, 2, 2, 3);
    const float wx[12] = {2, 1, 0, 5, 4, 3, 8, 7, 6, 11, 10, 9};
    assert_memory_equal(x, wx, sizeof wx);
    float b[4] = {0, 0, 3, 1};
    tf_hflip_boxes(b, 1, 3);
    assert_true(b[0] == 0 && b[2] == 3);
    /* flipping twice is the identity */
    tf_hflip_hwc_u8(im, 2, 3, 3);
    for (int i = 0; i < 18; i++) assert_int_equal(im[i], i);
    const float mean[3] = {0.5f, 0.25f, 0}, sd[3] = {0.5f, 0.25f, 2};
    float y[3] = {1, 1, 1};
    tf_normalize_chw(y, 1, 1, mean, sd);
    assert_true(y[0] == 1.0f && y[1] == 3.0f && y[2] == 0.5f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_target),
        cmocka_unit_test(test_flips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
