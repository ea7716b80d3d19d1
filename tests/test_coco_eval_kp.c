/* test_coco_eval_kp.c: keypoint evaluation (OKS) of infer/coco_eval against
 * pycocotools (issue 17).
 *
 *  - the fixtures tests/fixtures/cocoeval_kp/seed1..3 (made by
 *    tests/py/make_cocoeval_kp.py with pycocotools built from source): the
 *    10 stats to 1e-9 (COCO's default sigmas, sigmas from the file, the
 *    uniform default; results with and without a bbox);
 *  - small cases with every number derived by hand: OKS of visible
 *    keypoints, the box-extension path of an object without visible
 *    keypoints, num_keypoints = 0 ignored, the maxDets 20 cut;
 *  - bad input: errors naming the result or annotation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coco_ann.h"
#include "coco_eval.h"
#include "hnd_error.h"
#include "test_util.h"

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

static void check_fixture(const char *seed) {
    const char *src = getenv("HND_SRC_DIR");
    char dir[1024], gt[1200], dt[1200], ex[1200];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/cocoeval_kp/%s", src && *src ? src : "..", seed);
    snprintf(gt, sizeof gt, "%s/gt.json", dir);
    snprintf(dt, sizeof dt, "%s/dt_keypoints.json", dir);
    snprintf(ex, sizeof ex, "%s/expected.json", dir);
    char *exs = slurp(ex);
    if (!exs) fail_msg("fixture %s missing", ex);
    cJSON *exp = cJSON_Parse(exs);
    free(exs);
    const cJSON *want = cJSON_GetObjectItem(exp, "keypoints");
    assert_int_equal(cJSON_GetArraySize(want), 10);
    /* the evaluator's own load, and the ground truth made from a dataset
     * loaded as for training */
    for (int way = 0; way < 2; way++) {
        ce_gt *g;
        if (way == 0) {
            g = ce_gt_load(gt, 0);
        } else {
            coco_dataset *ds = coco_load(gt, NULL);
            if (!ds) fail_msg("%s", hnd_error());
            g = ce_gt_from_coco(ds, 0);
            coco_destroy(ds);
        }
        if (!g) fail_msg("%s", hnd_error());
        ce_dt *d = ce_dt_load(g, dt, CE_KEYPOINTS, NULL);
        if (!d) fail_msg("%s", hnd_error());
        assert_int_equal(ce_dt_dropped(d), 1); /* the category absent from the GT */
        ce_result r;
        if (ce_eval(g, d, &r) < 0) fail_msg("%s", hnd_error());
        assert_int_equal(r.iou_type, CE_KEYPOINTS);
        int exact = 0;
        for (int i = 0; i < 10; i++) {
            double w = cJSON_GetArrayItem(want, i)->valuedouble;
            if (fabs(r.stats[i] - w) > 1e-9) fail_msg("%s stat %d: %.17g, pycocotools %.17g", seed, i, r.stats[i], w);
            exact += r.stats[i] == w;
        }
        if (way == 0) print_message("%s: %d of 10 stats bit-identical to pycocotools\n", seed, exact);
        ce_result_clear(&r);
        ce_dt_destroy(d);
        ce_gt_destroy(g);
    }
    cJSON_Delete(exp);
}

static void test_fixtures(void **state) {
    (void)state;
    check_fixture("seed1");
    check_fixture("seed2");
    check_fixture("seed3");
}

/* ---- hand-derived cases ---------------------------------------------------
 * Two keypoints with sigmas 0.1 (vars = (2*0.1)^2 = 0.04) and area 100:
 * e = d^2 / 0.04 / 100 / 2 = d^2 / 8 (np.spacing(1) is far below the
 * precision that matters here). A keypoint 2 px off gives e = 0.5 and
 * OKS = (1 + exp(-0.5)) / 2 = 0.80327: the thresholds .50 .. .80 (7 of 10)
 * match, so AP = AR = 0.7, AP50 = AP75 = AR50 = AR75 = 1; area 100 is
 * small, outside medium and large: those stats are -1. */

#define KPGT(anns)                                                                                                   \
    "{\"images\": [{\"id\": 1, \"width\": 100, \"height\": 100}, {\"id\": 2, \"width\": 100, \"height\": 100}],"      \
    " \"categories\": [{\"id\": 3, \"name\": \"p\", \"keypoints\": [\"a\", \"b\"], \"sigmas\": [0.1, 0.1]}],"          \
    " \"annotations\": [" anns "]}"

static void run(const char *gtj, const char *dtj, ce_result *r) {
    ce_gt *g = ce_gt_parse(gtj, strlen(gtj), "gt", 0);
    if (!g) fail_msg("%s", hnd_error());
    ce_dt *d = ce_dt_parse(g, dtj, strlen(dtj), "dt", CE_KEYPOINTS, NULL);
    if (!d) fail_msg("%s", hnd_error());
    assert_int_equal(ce_eval(g, d, r), 0);
    ce_dt_destroy(d);
    ce_gt_destroy(g);
}

static void expect_stats(const ce_result *r, const double want[10]) {
    for (int i = 0; i < 10; i++)
        if (fabs(r->stats[i] - want[i]) > 1e-12) fail_msg("stat %d: %.17g, expected %.17g", i, r->stats[i], want[i]);
}

static void test_oks_visible(void **state) {
    (void)state;
    const char *gt = KPGT("{\"id\": 1, \"image_id\": 1, \"category_id\": 3, \"bbox\": [10, 10, 10, 10],"
                          " \"area\": 100, \"num_keypoints\": 2, \"keypoints\": [12, 12, 2, 18, 18, 1]}");
    /* keypoint b 2 px off in y; v in results is not used */
    const char *dt = "[{\"image_id\": 1, \"category_id\": 3, \"score\": 0.9, \"keypoints\": [12, 12, 0, 18, 20, 1]}]";
    ce_result r;
    run(gt, dt, &r);
    const double want[10] = {0.7, 1, 1, -1, -1, 0.7, 1, 1, -1, -1};
    expect_stats(&r, want);
    ce_result_clear(&r);
    /* only visible keypoints count: with b invisible (v 0), a far-off b
     * changes nothing and OKS = 1 (every threshold) */
    gt = KPGT("{\"id\": 1, \"image_id\": 1, \"category_id\": 3, \"bbox\": [10, 10, 10, 10],"
              " \"area\": 100, \"num_keypoints\": 1, \"keypoints\": [12, 12, 2, 0, 0, 0]}");
    dt = "[{\"image_id\": 1, \"category_id\": 3, \"score\": 0.9, \"keypoints\": [12, 12, 1, 90, 90, 1]}]";
    run(gt, dt, &r);
    const double one[10] = {1, 1, 1, -1, -1, 1, 1, 1, -1, -1};
    expect_stats(&r, one);
    ce_result_clear(&r);
}

/* No visible keypoint (num_keypoints 1 so that it is not ignored): the
 * distance to the box [10,20] doubled to [0,30] in each direction. Point a
 * at x = -2 is 2 px out (e = 0.5), b inside: OKS over both = 0.80327. */
static void test_oks_box_extension(void **state) {
    (void)state;
    const char *gt = KPGT("{\"id\": 1, \"image_id\": 1, \"category_id\": 3, \"bbox\": [10, 10, 10, 10],"
                          " \"area\": 100, \"num_keypoints\": 1, \"keypoints\": [0, 0, 0, 0, 0, 0]}");
    const char *dt = "[{\"image_id\": 1, \"category_id\": 3, \"score\": 0.9, \"keypoints\": [-2, 15, 1, 29, 1, 1]}]";
    ce_result r;
    run(gt, dt, &r);
    const double want[10] = {0.7, 1, 1, -1, -1, 0.7, 1, 1, -1, -1};
    expect_stats(&r, want);
    ce_result_clear(&r);
}

/* num_keypoints 0 is ignored: object 1 (image 1) and object 3 (image 3)
 * have none. The higher-scored result that matches object 1 (inside its
 * doubled box: OKS 1) is ignored with it, not a false positive, and object
 * 3 is no miss: object 2's perfect result gives AP = AR = 1. Counted, they
 * would give recall 2/3 (AP 67/101); the ignored result counted as a false
 * positive would give AP 0.5. */
static void test_ignored(void **state) {
    (void)state;
    const char *gt = "{\"images\": [{\"id\": 1}, {\"id\": 2}, {\"id\": 3}],"
                     " \"categories\": [{\"id\": 3, \"name\": \"p\", \"keypoints\": [\"a\", \"b\"], \"sigmas\": [0.1, 0.1]}],"
                     " \"annotations\": ["
                     "{\"id\": 1, \"image_id\": 1, \"category_id\": 3, \"bbox\": [10, 10, 10, 10],"
                     " \"area\": 100, \"num_keypoints\": 0, \"keypoints\": [0, 0, 0, 0, 0, 0]},"
                     "{\"id\": 2, \"image_id\": 2, \"category_id\": 3, \"bbox\": [50, 50, 10, 10],"
                     " \"area\": 100, \"num_keypoints\": 2, \"keypoints\": [52, 52, 2, 58, 58, 2]},"
                     "{\"id\": 3, \"image_id\": 3, \"category_id\": 3, \"bbox\": [50, 50, 10, 10],"
                     " \"area\": 100, \"num_keypoints\": 0, \"keypoints\": [0, 0, 0, 0, 0, 0]}]}";
    const char *dt = "[{\"image_id\": 1, \"category_id\": 3, \"score\": 0.9, \"keypoints\": [15, 15, 1, 16, 16, 1]},"
                     " {\"image_id\": 2, \"category_id\": 3, \"score\": 0.5, \"keypoints\": [52, 52, 1, 58, 58, 1]}]";
    ce_result r;
    run(gt, dt, &r);
    const double one[10] = {1, 1, 1, -1, -1, 1, 1, 1, -1, -1};
    expect_stats(&r, one);
    ce_result_clear(&r);
}

/* maxDets 20: 20 false positives scored above the only true match push it
 * out of the image's list: AP = AR = 0. With 19 it is the 20th: recall 1,
 * precision 1/20 at every recall threshold: AP 0.05. */
static void test_maxdets(void **state) {
    (void)state;
    const char *gt = KPGT("{\"id\": 1, \"image_id\": 1, \"category_id\": 3, \"bbox\": [10, 10, 10, 10],"
                          " \"area\": 100, \"num_keypoints\": 2, \"keypoints\": [12, 12, 2, 18, 18, 2]}");
    for (int nfp = 19; nfp <= 20; nfp++) {
        char dt[8192];
        size_t o = 0;
        o += (size_t)snprintf(dt + o, sizeof dt - o, "[");
        for (int i = 0; i < nfp; i++)
            o += (size_t)snprintf(dt + o, sizeof dt - o,
                                  "{\"image_id\": 1, \"category_id\": 3, \"score\": 0.9, \"keypoints\": [80, 80, 1, "
                                  "90, 90, 1]},");
        snprintf(dt + o, sizeof dt - o,
                 "{\"image_id\": 1, \"category_id\": 3, \"score\": 0.5, \"keypoints\": [12, 12, 1, 18, 18, 1]}]");
        ce_result r;
        run(gt, dt, &r);
        double ap = nfp == 19 ? 0.05 : 0, ar = nfp == 19 ? 1 : 0;
        const double want[10] = {ap, ap, ap, -1, -1, ar, ar, ar, -1, -1};
        expect_stats(&r, want);
        ce_result_clear(&r);
    }
}

/* COCO's sigmas for 17 keypoints without "sigmas": one keypoint visible
 * (the nose, sigma .026): d = 1, area 100: e = 1 / (4 * .026^2) / 100 / 2
 * = 1.849, OKS = exp(-e) = 0.157 < .5: no match. d = 0.25: e = 0.1156,
 * OKS = 0.8908: the thresholds .50 .. .85 (8) match. */
static void test_coco_sigmas(void **state) {
    (void)state;
    char gt[4096], dt[1024];
    const char *names = "[\"nose\", \"left_eye\", \"right_eye\", \"left_ear\", \"right_ear\", \"left_shoulder\","
                        " \"right_shoulder\", \"left_elbow\", \"right_elbow\", \"left_wrist\", \"right_wrist\","
                        " \"left_hip\", \"right_hip\", \"left_knee\", \"right_knee\", \"left_ankle\", \"right_ankle\"]";
    char zeros[256] = "";
    for (int k = 1; k < 17; k++) strcat(zeros, ", 0, 0, 0");
    snprintf(gt, sizeof gt,
             "{\"images\": [{\"id\": 1}], \"categories\": [{\"id\": 1, \"name\": \"person\", \"keypoints\": %s}],"
             " \"annotations\": [{\"id\": 1, \"image_id\": 1, \"category_id\": 1, \"bbox\": [10, 10, 10, 10],"
             " \"area\": 100, \"num_keypoints\": 1, \"keypoints\": [15, 15, 2%s]}]}",
             names, zeros);
    for (int half = 0; half < 2; half++) {
        snprintf(dt, sizeof dt, "[{\"image_id\": 1, \"category_id\": 1, \"score\": 1, \"keypoints\": [%s, 15, 1%s]}]",
                 half ? "15.25" : "16", zeros);
        ce_result r;
        run(gt, dt, &r);
        int n = half ? 8 : 0;
        assert_true(fabs(r.stats[0] - n / 10.0) < 1e-12);
        ce_result_clear(&r);
    }
}

static void expect_dt_error(const char *gtj, const char *dtj, const char *part) {
    ce_gt *g = ce_gt_parse(gtj, strlen(gtj), "gt", 0);
    if (!g) fail_msg("%s", hnd_error());
    ce_dt *d = ce_dt_parse(g, dtj, strlen(dtj), "dt", CE_KEYPOINTS, NULL);
    if (d) fail_msg("accepted; expected an error with '%s'", part);
    if (!strstr(hnd_error(), part)) fail_msg("error '%s' lacks '%s'", hnd_error(), part);
    ce_gt_destroy(g);
}

static void test_errors(void **state) {
    (void)state;
    const char *gt = KPGT("{\"id\": 1, \"image_id\": 1, \"category_id\": 3, \"bbox\": [10, 10, 10, 10],"
                          " \"area\": 100, \"num_keypoints\": 2, \"keypoints\": [12, 12, 2, 18, 18, 1]}");
    expect_dt_error(gt, "[{\"image_id\": 1, \"category_id\": 3, \"score\": 0.9, \"bbox\": [1, 1, 2, 2]}]",
                    "dt: results[0]: missing keypoints");
    expect_dt_error(gt, "[{\"image_id\": 1, \"category_id\": 3, \"score\": 0.9, \"keypoints\": [1, 1, 1]}]",
                    "results[0].keypoints: 3 numbers but category 3 has 2 keypoints");
    expect_dt_error(gt, "[{\"image_id\": 1, \"category_id\": 3, \"score\": 0.9, \"keypoints\": [1, 1, 1, 2]}]",
                    "results[0].keypoints: 4 numbers, expected x, y, v triples");
    expect_dt_error(gt, "[{\"image_id\": 1, \"category_id\": 3, \"score\": 0.9, \"keypoints\": [1, null, 1, 2, 2, 2]}]",
                    "results[0].keypoints[1]: expected a number");
    expect_dt_error(gt, "[{\"image_id\": 1, \"category_id\": 3, \"score\": 0.9}]",
                    "results[0]: neither bbox nor segmentation nor keypoints");
    /* a ground-truth object of a keypoint category without keypoints */
    const char *gt2 = KPGT("{\"id\": 1, \"image_id\": 1, \"category_id\": 3, \"bbox\": [10, 10, 10, 10],"
                           " \"area\": 100}");
    expect_dt_error(gt2, "[{\"image_id\": 1, \"category_id\": 3, \"score\": 0.9, \"keypoints\": [1, 1, 1, 2, 2, 2]}]",
                    "annotations[0] (id 1): keypoint evaluation needs 3 x 2 keypoint numbers");
    /* the same ground truth is fine for boxes */
    ce_gt *g = ce_gt_parse(gt2, strlen(gt2), "gt", 0);
    assert_non_null(g);
    const char *bb = "[{\"image_id\": 1, \"category_id\": 3, \"score\": 0.9, \"bbox\": [10, 10, 10, 10]}]";
    ce_dt *d = ce_dt_parse(g, bb, strlen(bb), "dt", CE_BBOX, NULL);
    assert_non_null(d);
    ce_dt_destroy(d);
    ce_gt_destroy(g);
}

/* ce_write_json / summary of keypoints: 10 stats under "keypoints". */
static void test_output(void **state) {
    (void)state;
    ce_result r;
    memset(&r, 0, sizeof r);
    r.iou_type = CE_KEYPOINTS;
    for (int i = 0; i < 10; i++) r.stats[i] = 0.05 * i;
    char path[512];
    tu_tmp(path, sizeof path, "kp_stats.json");
    assert_int_equal(ce_write_json(path, &r, 0), 0);
    char *s = slurp(path);
    cJSON *j = cJSON_Parse(s);
    free(s);
    const cJSON *a = cJSON_GetObjectItem(j, "keypoints");
    assert_int_equal(cJSON_GetArraySize(a), 10);
    for (int i = 0; i < 10; i++) assert_true(cJSON_GetArrayItem(a, i)->valuedouble == r.stats[i]);
    cJSON_Delete(j);
    assert_int_equal(ce_iou_parse("keypoints"), CE_KEYPOINTS);
    assert_string_equal(ce_iou_name(CE_KEYPOINTS), "keypoints");
    assert_int_equal(ce_num_stats(CE_KEYPOINTS), 10);
    char buf[4096];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    ce_print_summary_type(f, CE_KEYPOINTS, r.stats);
    fclose(f);
    assert_non_null(strstr(buf, " Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets= 20 ] = 0.450"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),        cmocka_unit_test(test_oks_visible),
        cmocka_unit_test(test_oks_box_extension), cmocka_unit_test(test_ignored),
        cmocka_unit_test(test_maxdets),         cmocka_unit_test(test_coco_sigmas),
        cmocka_unit_test(test_errors),          cmocka_unit_test(test_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
