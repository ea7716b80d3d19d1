/* test_det_results_kp.c: keypoints in COCO results JSON (infer/det_results,
 * issue 17). Hand-made detections: the JSON holds keypoints [x, y, 1]*K
 * rounded to 1e-3 px next to the box (what hnd detect writes); the
 * keypoint-only form is torchvision's prepare_for_coco_keypoint (no bbox);
 * both evaluate with hnd's OKS to hand-derived stats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "coco_eval.h"
#include "det_results.h"
#include "hnd_error.h"

/* One star (5 keypoints, sigmas 0.1 each, area 100) per image. */
static const char *k_gt =
    "{\"images\": [{\"id\": 4, \"width\": 64, \"height\": 48}],"
    " \"categories\": [{\"id\": 1, \"name\": \"star\", \"keypoints\": [\"top\", \"right_upper\", \"right_lower\","
    " \"left_lower\", \"left_upper\"], \"sigmas\": [0.1, 0.1, 0.1, 0.1, 0.1]}],"
    " \"annotations\": [{\"id\": 1, \"image_id\": 4, \"category_id\": 1, \"bbox\": [10, 10, 10, 10], \"area\": 100,"
    " \"num_keypoints\": 5, \"keypoints\": [15, 10, 2, 20, 14, 2, 18, 20, 2, 12, 20, 2, 10, 14, 2]}]}";

static void test_json(void **state) {
    (void)state;
    /* detection 0: the star exactly (x + 0.0004 rounds away), detection 1:
     * every keypoint 2 px right; boxes as a detector gives them */
    float boxes[8] = {10, 10, 20, 20, 30.5f, 1.25f, 40, 9};
    float scores[2] = {0.9f, 0.4f};
    int64_t labels[2] = {1, 1};
    float kp[30] = {15.0004f, 10, 1, 20, 14, 1, 18, 20, 1, 12, 20, 1, 10, 14, 1,
                    17, 10, 1, 22, 14, 1, 20, 20, 1, 14, 20, 1, 12, 14, 1};
    dr_host h;
    memset(&h, 0, sizeof h);
    h.k = 2;
    h.height = 48;
    h.width = 64;
    h.boxes = boxes;
    h.scores = scores;
    h.labels = labels;
    h.nkp = 5;
    h.keypoints = kp;
    cJSON *arr = cJSON_CreateArray();
    assert_int_equal(dr_append_json(arr, 4, &h), 0);
    assert_int_equal(cJSON_GetArraySize(arr), 2);
    const cJSON *r0 = cJSON_GetArrayItem(arr, 0);
    const cJSON *k0 = cJSON_GetObjectItem(r0, "keypoints");
    assert_int_equal(cJSON_GetArraySize(k0), 15);
    assert_true(cJSON_GetArrayItem(k0, 0)->valuedouble == 15.0);
    for (int j = 2; j < 15; j += 3) assert_true(cJSON_GetArrayItem(k0, j)->valuedouble == 1.0);
    assert_non_null(cJSON_GetObjectItem(r0, "bbox"));
    /* the keypoint-only form: no bbox, the four keys of torchvision's */
    char *kj = dr_keypoint_results_json(arr);
    assert_non_null(kj);
    cJSON *ka = cJSON_Parse(kj);
    assert_int_equal(cJSON_GetArraySize(ka), 2);
    const cJSON *q = cJSON_GetArrayItem(ka, 1);
    assert_null(cJSON_GetObjectItem(q, "bbox"));
    assert_int_equal(cJSON_GetObjectItem(q, "image_id")->valueint, 4);
    assert_true(cJSON_GetObjectItem(q, "score")->valuedouble == 0.4);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(q, "keypoints")), 15);
    cJSON_Delete(ka);
    /* evaluated: detection 0 has OKS 1 and the higher score, so AP = AR = 1
     * (the duplicate is a false positive after the only true positive);
     * area 100 is small: medium and large are -1 */
    ce_gt *g = ce_gt_parse(k_gt, strlen(k_gt), "gt", 0);
    if (!g) fail_msg("%s", hnd_error());
    char *full = cJSON_PrintUnformatted(arr);
    const char *forms[2] = {kj, full};
    for (int f = 0; f < 2; f++) {
        ce_dt *d = ce_dt_parse(g, forms[f], strlen(forms[f]), "dt", CE_KEYPOINTS, NULL);
        if (!d) fail_msg("%s", hnd_error());
        ce_result r;
        assert_int_equal(ce_eval(g, d, &r), 0);
        const double want[10] = {1, 1, 1, -1, -1, 1, 1, 1, -1, -1};
        for (int i = 0; i < 10; i++)
            if (fabs(r.stats[i] - want[i]) > 1e-12) fail_msg("form %d stat %d: %.17g", f, i, r.stats[i]);
        ce_result_clear(&r);
        ce_dt_destroy(d);
    }
    free(full);
    free(kj);
    ce_gt_destroy(g);
    cJSON_Delete(arr);
}

/* dr_to_host copies the model's keypoints [k, K, 3] and scores [k, K]. */
static void test_to_host(void **state) {
    (void)state;
    float boxes[8] = {1, 2, 3, 4, 5, 6, 7, 8}, scores[2] = {0.5f, 0.25f};
    int64_t labels[2] = {1, 1};
    float kp[12], ks[4] = {0.5f, -1, 2, 3};
    for (int i = 0; i < 12; i++) kp[i] = i % 3 == 2 ? 1.0f : 0.5f * (float)i;
    int64_t bs[2] = {2, 4}, ns[1] = {2}, kps[3] = {2, 2, 3}, kss[2] = {2, 2};
    rcnn_detections d;
    memset(&d, 0, sizeof d);
    d.boxes = ct_from_buffer(boxes, CT_F32, 2, bs);
    d.scores = ct_from_buffer(scores, CT_F32, 1, ns);
    d.labels = ct_from_buffer(labels, CT_I64, 1, ns);
    d.keypoints = ct_from_buffer(kp, CT_F32, 3, kps);
    d.keypoint_scores = ct_from_buffer(ks, CT_F32, 2, kss);
    dr_host h;
    assert_int_equal(dr_to_host(&d, 10, 10, 0.5, &h), 0);
    assert_int_equal(h.nkp, 2);
    assert_memory_equal(h.keypoints, kp, sizeof kp);
    assert_memory_equal(h.keypoint_scores, ks, sizeof ks);
    dr_host_clear(&h);
    /* a malformed keypoint tensor is an error, not a crash */
    ct_destroy(d.keypoints);
    int64_t bad[2] = {2, 6};
    d.keypoints = ct_from_buffer(kp, CT_F32, 2, bad);
    assert_int_equal(dr_to_host(&d, 10, 10, 0.5, &h), -1);
    assert_non_null(strstr(hnd_error(), "keypoints: not [k, K, 3]"));
    rcnn_detections_clear(&d);
}

/* Results without keypoints give an empty keypoint list. */
static void test_no_keypoints(void **state) {
    (void)state;
    cJSON *arr = cJSON_Parse("[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 2, 3, 4], \"score\": 0.5}]");
    char *kj = dr_keypoint_results_json(arr);
    assert_string_equal(kj, "[]");
    free(kj);
    cJSON_Delete(arr);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_no_keypoints),
        cmocka_unit_test(test_to_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
