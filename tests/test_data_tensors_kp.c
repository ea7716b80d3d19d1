/* test_data_tensors_kp.c: a sample's keypoints as the target tensor
 * torchvision's Keypoint R-CNN takes (data/data_tensors.h, issue 17):
 * float32 [N, K, 3], the numbers of the annotation file (hand-made), absent
 * (NULL) for a dataset without keypoints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "coco_ann.h"
#include "data_tensors.h"
#include "hnd_error.h"

static const char *k_json =
    "{\"images\": [{\"id\": 1, \"file_name\": \"a.jpg\", \"width\": 40, \"height\": 30}],"
    " \"categories\": [{\"id\": 1, \"name\": \"s\", \"keypoints\": [\"left_a\", \"right_a\"]}],"
    " \"annotations\": [{\"id\": 1, \"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 1, 9, 9], \"area\": 81,"
    " \"keypoints\": [2.5, 3, 2, 7, 8.25, 1]},"
    " {\"id\": 2, \"image_id\": 1, \"category_id\": 1, \"bbox\": [20, 10, 5, 5], \"area\": 25}]}";

static void test_keypoint_tensor(void **state) {
    (void)state;
    coco_dataset *ds = coco_load_mem("k.json", k_json, strlen(k_json), NULL);
    if (!ds) fail_msg("%s", hnd_error());
    ld_sample s;
    memset(&s, 0, sizeof s);
    s.height = 30;
    s.width = 40;
    float chw[3 * 30 * 40] = {0};
    s.chw = chw;
    assert_int_equal(tf_target_build(ds, 0, NULL, &s.target), 0);
    ct_tensor *img;
    dt_target t;
    if (dt_sample_tensors(&s, &img, &t) < 0) fail_msg("%s", hnd_error());
    assert_non_null(t.keypoints);
    int64_t sh[3];
    assert_int_equal(ct_shape(t.keypoints, sh, 3), 3);
    assert_true(sh[0] == 2 && sh[1] == 2 && sh[2] == 3);
    float v[12];
    assert_int_equal(ct_to_buffer(t.keypoints, v, sizeof v), 0);
    /* the second object has no keypoints: zeros */
    const float want[12] = {2.5f, 3, 2, 7, 8.25f, 1, 0, 0, 0, 0, 0, 0};
    assert_memory_equal(v, want, sizeof want);
    ct_destroy(img);
    dt_target_clear(&t);
    tf_target_clear(&s.target);
    coco_destroy(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_keypoint_tensor)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
