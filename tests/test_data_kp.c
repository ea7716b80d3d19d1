/* test_data_kp.c: COCO keypoints in data/ (issue 17) against torchvision:
 * tests/py/ref_kp_data.py writes a person-keypoints file and the targets
 * torch computes from it (ConvertCocoPolysToMask, the reference's
 * _flip_coco_person_keypoints with its hard-coded flip indices,
 * transform.resize_keypoints); ours must equal them bit for bit. Plus the
 * flip maps derived from names (COCO's, a star's), and the errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coco_ann.h"
#include "hnd_error.h"
#include "smp.h"
#include "test_util.h"
#include "tf.h"

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    if (b) b[n] = '\0';
    fclose(f);
    return b;
}

/* every float of a against the JSON list (float32 values written exactly) */
static void expect_floats(const float *a, const cJSON *list, int n, const char *what, int img) {
    assert_int_equal(cJSON_GetArraySize(list), n);
    int i = 0;
    for (const cJSON *c = list->child; c; c = c->next, i++)
        if (a[i] != (float)c->valuedouble)
            fail_msg("image %d %s[%d]: %.9g, torch %.9g", img, what, i, a[i], c->valuedouble);
}

static void test_vs_torchvision(void **state) {
    (void)state;
    char dir[512], cmd[1024], gtp[1024], exp[1024];
    tu_tmp(dir, sizeof dir, "kp_data");
    snprintf(cmd, sizeof cmd, "ref_kp_data.py %s", dir);
    assert_int_equal(tu_python(cmd), 0);
    snprintf(gtp, sizeof gtp, "%s/kp.json", dir);
    snprintf(exp, sizeof exp, "%s/kp_expected.json", dir);
    coco_dataset *ds = coco_load(gtp, NULL);
    if (!ds) fail_msg("%s", hnd_error());
    /* the category as read */
    assert_int_equal(ds->n_cats, 1);
    const coco_category *c = &ds->cats[0];
    assert_int_equal(c->n_kp, 17);
    assert_string_equal(coco_str(ds, ds->kp_names[c->kp_off + 5]), "left_shoulder");
    assert_int_equal(c->n_skel, 7);
    assert_int_equal(ds->skeleton[2 * c->skel_off], 16);
    assert_int_equal(ds->skeleton[2 * c->skel_off + 13], 13);
    assert_int_equal(c->has_sigmas, 0);
    /* the flip map derived from the names is torchvision's list */
    static const int32_t tv_flip[17] = {0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15};
    int K;
    int32_t flip[17];
    assert_int_equal(coco_kp_layout(ds, &K, NULL), 0);
    assert_int_equal(K, 17);
    assert_int_equal(coco_kp_layout(ds, &K, flip), 0);
    assert_memory_equal(flip, tv_flip, sizeof flip);
    /* num_keypoints read */
    int nv = 0;
    for (int j = 2; j < 51; j += 3) nv += ds->kps[ds->anns[0].kp_off + j] > 0;
    assert_int_equal(ds->anns[0].num_keypoints, nv);
    char *es = slurp(exp);
    assert_non_null(es);
    cJSON *E = cJSON_Parse(es);
    free(es);
    assert_non_null(E);
    assert_int_equal(cJSON_GetArraySize(E), ds->n_images);
    for (int i = 0; i < ds->n_images; i++) {
        const cJSON *e = cJSON_GetArrayItem(E, i);
        int n = cJSON_GetObjectItem(e, "n")->valueint;
        tf_target t;
        if (tf_target_build(ds, i, NULL, &t) < 0) fail_msg("%s", hnd_error());
        assert_int_equal(t.n, n);
        assert_int_equal(t.num_kp, 17);
        assert_non_null(t.keypoints);
        expect_floats(t.keypoints, cJSON_GetObjectItem(e, "target"), n * 51, "target", i);
        /* resize_keypoints on a copy */
        float *rs = malloc(((size_t)n * 51 + 1) * sizeof *rs);
        memcpy(rs, t.keypoints, (size_t)n * 51 * sizeof *rs);
        const cJSON *hw = cJSON_GetObjectItem(e, "new_hw");
        tf_resize_keypoints(rs, (size_t)n * 17, t.height, t.width, cJSON_GetArrayItem(hw, 0)->valueint,
                            cJSON_GetArrayItem(hw, 1)->valueint);
        expect_floats(rs, cJSON_GetObjectItem(e, "resized"), n * 51, "resized", i);
        free(rs);
        /* the whole target's flip (as the loader does it) */
        tf_hflip_target(&t);
        expect_floats(t.keypoints, cJSON_GetObjectItem(e, "flipped"), n * 51, "flipped", i);
        tf_target_clear(&t);
    }
    cJSON_Delete(E);
    coco_destroy(ds);
}

#define IMG "\"images\": [{\"id\": 1, \"file_name\": \"a.jpg\", \"width\": 40, \"height\": 30}]"
#define STAR "[\"top\", \"right_upper\", \"right_lower\", \"left_lower\", \"left_upper\"]"

static coco_dataset *load(const char *json) { return coco_load_mem("k.json", json, strlen(json), NULL); }

/* A star's five tips: top stays, right_upper <-> left_upper, right_lower <->
 * left_lower. Hand-flipped in a 40-wide image: x -> 40 - x, order by the
 * map, the invisible tip (v = 0) zeroed. */
static void test_star(void **state) {
    (void)state;
    const char *j = "{" IMG ", \"categories\": [{\"id\": 4, \"name\": \"star\", \"keypoints\": " STAR
                    ", \"skeleton\": [[1, 2], [2, 3]], \"sigmas\": [0.1, 0.2, 0.2, 0.3, 0.3]}],"
                    " \"annotations\": [{\"id\": 7, \"image_id\": 1, \"category_id\": 4, \"bbox\": [5, 5, 20, 20],"
                    " \"area\": 200, \"num_keypoints\": 4,"
                    " \"keypoints\": [15, 5, 2, 25, 12, 2, 21, 24, 1, 9, 24, 0, 5, 12, 2]}]}";
    coco_dataset *ds = load(j);
    if (!ds) fail_msg("%s", hnd_error());
    int K;
    int32_t flip[5];
    assert_int_equal(coco_kp_layout(ds, &K, flip), 0);
    assert_int_equal(K, 5);
    const int32_t want[5] = {0, 4, 3, 2, 1};
    assert_memory_equal(flip, want, sizeof want);
    assert_int_equal(ds->cats[0].has_sigmas, 1);
    assert_true(ds->kp_sigmas[ds->cats[0].kp_off + 3] == 0.3);
    tf_target t;
    assert_int_equal(tf_target_build(ds, 0, NULL, &t), 0);
    tf_hflip_target(&t);
    /* new k = old flip[k]: top (25,5), right_upper <- left_upper (35,12),
     * right_lower <- left_lower (v 0: zeroed), left_lower <- right_lower
     * (19,24,1), left_upper <- right_upper (15,12) */
    const float fl[15] = {25, 5, 2, 35, 12, 2, 0, 0, 0, 19, 24, 1, 15, 12, 2};
    assert_memory_equal(t.keypoints, fl, sizeof fl);
    /* the boxes flip too: [5,25] -> [15,35] */
    assert_true(t.boxes[0] == 15 && t.boxes[2] == 35);
    tf_target_clear(&t);
    coco_destroy(ds);
}

/* No keypoint categories: no keypoints in the target. */
static void test_none(void **state) {
    (void)state;
    const char *j = "{" IMG ", \"categories\": [{\"id\": 4, \"name\": \"box\"}],"
                    " \"annotations\": [{\"id\": 7, \"image_id\": 1, \"category_id\": 4, \"bbox\": [5, 5, 20, 20],"
                    " \"area\": 200}]}";
    coco_dataset *ds = load(j);
    assert_non_null(ds);
    assert_int_equal(ds->anns[0].num_keypoints, -1);
    tf_target t;
    assert_int_equal(tf_target_build(ds, 0, NULL, &t), 0);
    assert_int_equal(t.num_kp, 0);
    assert_null(t.keypoints);
    tf_hflip_target(&t);
    tf_target_clear(&t);
    coco_destroy(ds);
}

static void expect_error(const char *json, const char *part) {
    coco_dataset *ds = load(json);
    if (ds) {
        int K;
        tf_target t;
        int rc = coco_kp_layout(ds, &K, NULL);
        if (rc == 0) rc = tf_target_build(ds, 0, NULL, &t);
        if (rc == 0) tf_target_clear(&t);
        coco_destroy(ds);
        if (rc == 0) fail_msg("accepted; expected an error with '%s'", part);
    }
    if (!strstr(hnd_error(), part)) fail_msg("error '%s' lacks '%s'", hnd_error(), part);
}

#define CAT(k) "\"categories\": [{\"id\": 4, \"name\": \"s\", \"keypoints\": " k "}]"
#define ANN(kp) "\"annotations\": [{\"id\": 7, \"image_id\": 1, \"category_id\": 4, \"bbox\": [1, 1, 5, 5], \"area\": 25, \"keypoints\": " kp "}]"

static void test_errors(void **state) {
    (void)state;
    expect_error("{" IMG ", " CAT(STAR) ", " ANN("[1, 2, 2, 3]") "}", "annotations[0].keypoints: 4 numbers");
    expect_error("{" IMG ", " CAT(STAR) ", " ANN("[1, 2, 2, 3, 4, 2]") "}",
                 "annotations[0].keypoints: 6 numbers but category 4 has 5 keypoints");
    expect_error("{" IMG ", " CAT(STAR) ", " ANN("[1, \"x\", 2]") "}", "annotations[0].keypoints[1]: expected a number");
    expect_error("{" IMG ", " CAT("[\"a\", 3]") ", \"annotations\": []}", "categories[0].keypoints[1]: expected a string");
    expect_error("{" IMG ", \"categories\": [{\"id\": 4, \"name\": \"s\", \"keypoints\": [\"a\"], \"sigmas\": [1, 2]}],"
                 " \"annotations\": []}",
                 "categories[0].sigmas: expected 1 numbers");
    expect_error("{" IMG ", \"categories\": [{\"id\": 4, \"name\": \"s\", \"keypoints\": [\"a\"], \"skeleton\": [[1, 2]]}],"
                 " \"annotations\": []}",
                 "categories[0].skeleton[0]: expected two keypoint numbers in 1..1");
    /* a name whose mirror is missing cannot be flipped */
    expect_error("{" IMG ", " CAT("[\"nose\", \"left_eye\"]") ", " ANN("[1, 1, 2, 2, 2, 2]") "}",
                 "keypoint \"left_eye\" has no mirror \"right_eye\"");
    /* two layouts in one dataset */
    expect_error("{" IMG ", \"categories\": [{\"id\": 4, \"name\": \"s\", \"keypoints\": [\"a\"]},"
                 " {\"id\": 5, \"name\": \"t\", \"keypoints\": [\"a\", \"b\"]}], " ANN("[1, 1, 2]") "}",
                 "categories 4 and 5 have 1 and 2 keypoints");
}

/* torchvision's _coco_remove_images_without_annotations on a keypoint set
 * (min_keypoints_per_image 10, counted over all annotations, crowd ones
 * included; only when the image's first annotation has keypoints). */
#define KA(id, img, crowd, kp) "{\"id\": " #id ", \"image_id\": " #img ", \"category_id\": 4, \"bbox\": [1, 1, 9, 9], " \
    "\"area\": 81, \"iscrowd\": " #crowd kp "}"
#define V5 ", \"keypoints\": [1, 1, 2, 2, 2, 2, 3, 3, 1, 4, 4, 2, 5, 5, 2]"
#define V4 ", \"keypoints\": [1, 1, 2, 2, 2, 2, 3, 3, 1, 4, 4, 2, 0, 0, 0]"
static void test_filter(void **state) {
    (void)state;
    const char *j = "{\"images\": [{\"id\": 1, \"file_name\": \"a\", \"width\": 40, \"height\": 30},"
                    " {\"id\": 2, \"file_name\": \"b\", \"width\": 40, \"height\": 30},"
                    " {\"id\": 3, \"file_name\": \"c\", \"width\": 40, \"height\": 30},"
                    " {\"id\": 4, \"file_name\": \"d\", \"width\": 40, \"height\": 30}],"
                    " \"categories\": [{\"id\": 4, \"name\": \"star\", \"keypoints\": " STAR "}],"
                    " \"annotations\": [" KA(1, 1, 0, V5) ", " KA(2, 1, 0, V5) ", "   /* 10: kept */
                    KA(3, 2, 0, V5) ", " KA(4, 2, 0, V4) ", "                       /* 9: dropped */
                    KA(5, 3, 1, V5) ", " KA(6, 3, 0, V5) ", "                       /* crowd counts: kept */
                    KA(7, 4, 0, "") ", " KA(8, 4, 0, V4) "]}";                      /* first without: kept */
    coco_dataset *ds = load(j);
    if (!ds) fail_msg("%s", hnd_error());
    int64_t order[4] = {0, 1, 2, 3}, keep[4];
    assert_int_equal(smp_filter_with_annotations(ds, order, 4, keep), 3);
    assert_int_equal(keep[0], 0);
    assert_int_equal(keep[1], 2);
    assert_int_equal(keep[2], 3);
    coco_destroy(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vs_torchvision),
        cmocka_unit_test(test_star),
        cmocka_unit_test(test_none),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_filter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
