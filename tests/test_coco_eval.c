/* test_coco_eval.c: infer/coco_eval against pycocotools.
 *
 *  - the fixtures (tests/fixtures/cocoeval/seed*, a copy of ../shared/fixtures): pycocotools' 12 stats
 *    for bbox and segm, reproduced to 1e-9 (in fact bit for bit);
 *  - small cases with every number derived by hand in the comments: crowd
 *    regions, a detection overlapping two objects, ties in score (within an
 *    image and across images), the maxDets cut, area ranges (the GT's
 *    "area" field, inclusive bounds), empty results;
 *  - bad input: errors naming the index and the field;
 *  - robustness: truncated and garbled results files give errors, never
 *    crashes (run under ASan in `make test SANITIZE=1`). */
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

/* ---- fixtures ------------------------------------------------------------ */

static const char *fixture_dir(char *buf, size_t n, const char *seed) {
    const char *d = getenv("HND_COCOEVAL_FIXTURES");
    const char *src = getenv("HND_SRC_DIR");
    if (d && *d)
        snprintf(buf, n, "%s/%s", d, seed);
    else
        snprintf(buf, n, "%s/tests/fixtures/cocoeval/%s", src && *src ? src : "..", seed);
    return buf;
}

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
    char dir[1024], gt[1200], dt[1200], ex[1200];
    fixture_dir(dir, sizeof dir, seed);
    snprintf(gt, sizeof gt, "%s/gt.json", dir);
    snprintf(ex, sizeof ex, "%s/expected.json", dir);
    char *exs = slurp(ex);
    if (!exs) fail_msg("fixture %s missing (set HND_COCOEVAL_FIXTURES)", ex);
    cJSON *exp = cJSON_Parse(exs);
    free(exs);
    assert_non_null(exp);
    /* one GT load (with masks) for both types, as `hnd eval` does; and the
     * same ground truth made from a dataset loaded as for training, as the
     * training driver does (one read of the file for loader and evaluator) */
    ce_gt *g = ce_gt_load(gt, 1);
    if (!g) fail_msg("%s", hnd_error());
    coco_dataset *ds = coco_load(gt, NULL);
    if (!ds) fail_msg("%s", hnd_error());
    ce_gt *g2 = ce_gt_from_coco(ds, 1);
    coco_destroy(ds);
    if (!g2) fail_msg("%s", hnd_error());
    for (int t = 0; t < 2; t++) {
        const char *name = ce_iou_name((ce_iou_type)t);
        snprintf(dt, sizeof dt, "%s/dt_%s.json", dir, name);
        ce_dt *d = ce_dt_load(g, dt, (ce_iou_type)t, NULL);
        if (!d) fail_msg("%s", hnd_error());
        ce_result r;
        assert_int_equal(ce_eval(g, d, &r), 0);
        const cJSON *arr = cJSON_GetObjectItem(exp, name);
        assert_int_equal(cJSON_GetArraySize(arr), 12);
        int exact = 0;
        for (int i = 0; i < 12; i++) {
            double want = cJSON_GetArrayItem(arr, i)->valuedouble;
            if (fabs(r.stats[i] - want) > 1e-9)
                fail_msg("%s %s stat %d: %.17g, pycocotools %.17g", seed, name, i, r.stats[i], want);
            exact += r.stats[i] == want;
        }
        print_message("%s %s: 12/12 within 1e-9, %d/12 bit-identical\n", seed, name, exact);
        ce_dt *d2 = ce_dt_load(g2, dt, (ce_iou_type)t, NULL);
        ce_result r2;
        assert_non_null(d2);
        assert_int_equal(ce_eval(g2, d2, &r2), 0);
        assert_memory_equal(r.stats, r2.stats, sizeof r.stats);
        ce_result_clear(&r2);
        ce_dt_destroy(d2);
        assert_true(d && ce_dt_dropped(d) > 0); /* the fixtures hold a category absent from GT */
        ce_result_clear(&r);
        ce_dt_destroy(d);
    }
    /* a bbox-only GT load (no masks) gives the same bbox numbers */
    ce_result r;
    snprintf(dt, sizeof dt, "%s/dt_bbox.json", dir);
    assert_int_equal(ce_evaluate(gt, dt, CE_BBOX, NULL, &r), 0);
    assert_true(fabs(r.stats[0] - cJSON_GetArrayItem(cJSON_GetObjectItem(exp, "bbox"), 0)->valuedouble) <= 1e-9);
    ce_result_clear(&r);
    ce_gt_destroy(g);
    ce_gt_destroy(g2);
    cJSON_Delete(exp);
}

static void test_fixture_seed1(void **st) {
    (void)st;
    check_fixture("seed1");
}
static void test_fixture_seed2(void **st) {
    (void)st;
    check_fixture("seed2");
}

/* ---- hand-made cases ------------------------------------------------------ */

#define IMG(id, w, h) "{\"id\":" #id ",\"width\":" #w ",\"height\":" #h "}"
#define CAT(id) "{\"id\":" #id ",\"name\":\"c" #id "\"}"
#define GT(...) "{\"images\":[" __VA_ARGS__

/* Evaluate GT/DT strings; fails the test on error. */
static void run(const char *gt_json, const char *dt_json, ce_iou_type t, double stats[12]) {
    ce_gt *g = ce_gt_parse(gt_json, strlen(gt_json), "gt", t == CE_SEGM);
    if (!g) fail_msg("gt: %s", hnd_error());
    ce_dt *d = ce_dt_parse(g, dt_json, strlen(dt_json), "dt", t, NULL);
    if (!d) fail_msg("dt: %s", hnd_error());
    ce_result r;
    assert_int_equal(ce_eval(g, d, &r), 0);
    memcpy(stats, r.stats, sizeof r.stats);
    ce_result_clear(&r);
    ce_dt_destroy(d);
    ce_gt_destroy(g);
}

static void expect_stats(const double got[12], const double want[12]) {
    for (int i = 0; i < 12; i++)
        if (!(fabs(got[i] - want[i]) <= 1e-12)) fail_msg("stat %d: got %.17g, want %.17g", i, got[i], want[i]);
}

/* One medium object (area 1600 in 1024..9216) found exactly: every
 * defined stat is 1 (precision tp/(tp+fp+eps) = 1/(1+2^-52), within 1e-12),
 * small and large have no object: -1. */
static void test_perfect(void **st) {
    (void)st;
    const char *gt = "{\"images\":[" IMG(1, 100, 100) "],\"categories\":[" CAT(1) "," CAT(2) "],"
                     "\"annotations\":[{\"id\":1,\"image_id\":1,\"category_id\":1,\"bbox\":[10,10,40,40],"
                     "\"area\":1600,\"iscrowd\":0,\"segmentation\":[[10,10,50,10,50,50,10,50]]}]}";
    const char *dt = "[{\"image_id\":1,\"category_id\":1,\"bbox\":[10,10,40,40],\"score\":0.9}]";
    double s[12];
    const double want[12] = {1, 1, 1, -1, 1, -1, 1, 1, 1, -1, 1, -1};
    run(gt, dt, CE_BBOX, s);
    expect_stats(s, want);
    /* segm from the results' boxes (loadRes rasterises the box polygon),
     * which is exactly the GT polygon */
    run(gt, dt, CE_SEGM, s);
    expect_stats(s, want);
}

/* Crowd: image 1 holds only a crowd region [0,0,50,50] (area 2500); a
 * detection [10,10,20,20] inside it scores 0.95: its IoU with the crowd is
 * intersection / own area = 400/400 = 1, so it matches the crowd region,
 * which is ignored, and the detection is ignored too (not a false positive).
 * Image 2: one object found exactly (0.9). All defined stats are 1; without
 * the crowd rule the first detection would be a false positive and AP 0.5. */
static void test_crowd(void **st) {
    (void)st;
    /* the crowd mask: columns 0..49, rows 0..49 of 100 x 100, column-major
     * runs [0, 50, 50, ..., 50, 5050] (50 one-runs, 49 gaps of 50) */
    char counts[1024];
    size_t o = (size_t)sprintf(counts, "0");
    for (int i = 0; i < 99; i++) o += (size_t)sprintf(counts + o, ",50");
    sprintf(counts + o, ",5050");
    char gt[4096];
    snprintf(gt, sizeof gt,
             "{\"images\":[" IMG(1, 100, 100) "," IMG(2, 100, 100) "],\"categories\":[" CAT(1) "],"
             "\"annotations\":["
             "{\"id\":1,\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,50,50],\"area\":2500,\"iscrowd\":1,"
             "\"segmentation\":{\"size\":[100,100],\"counts\":[%s]}},"
             "{\"id\":2,\"image_id\":2,\"category_id\":1,\"bbox\":[10,10,40,40],\"area\":1600,\"iscrowd\":0,"
             "\"segmentation\":[[10,10,50,10,50,50,10,50]]}]}",
             counts);
    const char *dt = "[{\"image_id\":1,\"category_id\":1,\"bbox\":[10,10,20,20],\"score\":0.95},"
                     "{\"image_id\":2,\"category_id\":1,\"bbox\":[10,10,40,40],\"score\":0.9}]";
    double s[12];
    const double want[12] = {1, 1, 1, -1, 1, -1, 1, 1, 1, -1, 1, -1};
    run(gt, dt, CE_BBOX, s);
    expect_stats(s, want);
    run(gt, dt, CE_SEGM, s); /* the same with masks (box polygons inside the crowd RLE) */
    expect_stats(s, want);
    /* crowd regions only: no object counts anywhere: all -1 */
    const char *gt2 = "{\"images\":[" IMG(1, 100, 100) "],\"categories\":[" CAT(1) "],"
                      "\"annotations\":[{\"id\":1,\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,50,50],"
                      "\"area\":2500,\"iscrowd\":1}]}";
    const char *dt2 = "[{\"image_id\":1,\"category_id\":1,\"bbox\":[10,10,20,20],\"score\":0.95},"
                      "{\"image_id\":1,\"category_id\":1,\"bbox\":[60,60,20,20],\"score\":0.5}]";
    const double none[12] = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1};
    run(gt2, dt2, CE_BBOX, s);
    expect_stats(s, none);
}

/* A detection overlapping two objects. GT1 [0,0,10,10], GT2 [5,0,10,10]
 * (area 100: small). D1 [2,0,10,10] score 0.9: IoU 80/120 = 0.667 with GT1,
 * 70/130 = 0.538 with GT2 -> the better, GT1, at thresholds .50-.65 (4);
 * above, a false positive. D2 = GT2 exactly, score 0.8: IoU 1 with GT2
 * (50/150 with GT1).
 *   t <= .65: TP, TP: precision 1 at recall .5 and 1 -> AP_t = 1
 *   t >= .70: FP then TP: recall [0, .5], precision [0, .5] -> envelope .5
 *             for the 51 recall points 0, .01 .. .50, 0 above: 25.5/101
 *   AP = (4 + 6 * 25.5/101) / 10 = 557/1010;  AP50 = 1;  AP75 = 25.5/101
 *   AR100 = (4 * 1 + 6 * .5) / 10 = .7;  AR1 (only D1 per image):
 *   (4 * .5) / 10 = .2;  AR10 = .7. All in the small range. */
static void test_two_objects(void **st) {
    (void)st;
    const char *gt = "{\"images\":[" IMG(1, 50, 50) "],\"categories\":[" CAT(1) "],\"annotations\":["
                     "{\"id\":1,\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,10,10],\"area\":100},"
                     "{\"id\":2,\"image_id\":1,\"category_id\":1,\"bbox\":[5,0,10,10],\"area\":100}]}";
    const char *dt = "[{\"image_id\":1,\"category_id\":1,\"bbox\":[2,0,10,10],\"score\":0.9},"
                     "{\"image_id\":1,\"category_id\":1,\"bbox\":[5,0,10,10],\"score\":0.8}]";
    double s[12];
    const double ap = 557.0 / 1010.0, ap75 = 25.5 / 101.0;
    const double want[12] = {ap, 1, ap75, ap, -1, -1, 0.2, 0.7, 0.7, 0.7, -1, -1};
    run(gt, dt, CE_BBOX, s);
    expect_stats(s, want);
}

/* Ties in score keep the order of the file within an image (numpy's stable
 * mergesort), and image order across images.
 * (a) one image, GT [0,0,10,10] and [20,0,10,10]; a false positive and a
 *     true positive, both 0.5, the false positive first in the file:
 *     recall [0, .5], precision [0, .5] -> .5 at 51 recall points: 25.5/101.
 *     The true positive first: precision [1, .5] -> 51/101.
 * (b) the GT object in image 2, a false positive in image 1: both 0.5, the
 *     true positive first in the file. Sorted by image: FP, TP -> recall
 *     [0, 1], precision [0, .5] -> AP .5 (not 1). */
static void test_ties(void **st) {
    (void)st;
    const char *gt = "{\"images\":[" IMG(1, 50, 50) "," IMG(2, 50, 50) "],\"categories\":[" CAT(1) "],"
                     "\"annotations\":["
                     "{\"id\":1,\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,10,10],\"area\":100},"
                     "{\"id\":2,\"image_id\":1,\"category_id\":1,\"bbox\":[20,0,10,10],\"area\":100}]}";
    const char *fp_first = "[{\"image_id\":1,\"category_id\":1,\"bbox\":[40,40,5,5],\"score\":0.5},"
                           "{\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,10,10],\"score\":0.5}]";
    const char *tp_first = "[{\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,10,10],\"score\":0.5},"
                           "{\"image_id\":1,\"category_id\":1,\"bbox\":[40,40,5,5],\"score\":0.5}]";
    double s[12];
    run(gt, fp_first, CE_BBOX, s);
    assert_true(fabs(s[0] - 25.5 / 101) < 1e-12 && fabs(s[1] - 25.5 / 101) < 1e-12);
    assert_true(fabs(s[8] - 0.5) < 1e-12);
    run(gt, tp_first, CE_BBOX, s);
    assert_true(fabs(s[0] - 51.0 / 101) < 1e-12);
    const char *gt2 = "{\"images\":[" IMG(1, 50, 50) "," IMG(2, 50, 50) "],\"categories\":[" CAT(1) "],"
                      "\"annotations\":["
                      "{\"id\":1,\"image_id\":2,\"category_id\":1,\"bbox\":[0,0,10,10],\"area\":100}]}";
    const char *dt2 = "[{\"image_id\":2,\"category_id\":1,\"bbox\":[0,0,10,10],\"score\":0.5},"
                      "{\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,10,10],\"score\":0.5}]";
    run(gt2, dt2, CE_BBOX, s);
    assert_true(fabs(s[0] - 0.5) < 1e-12);
    assert_true(fabs(s[8] - 1.0) < 1e-12);
}

/* maxDets: one object; 10 false positives scored 0.99 .. 0.90 above the
 * true positive (0.5). AR1 = AR10 = 0, AR100 = 1; AP: recall reaches 1 at
 * the 11th detection with precision 1/11, the envelope is 1/11 everywhere:
 * AP = 1/11. With 100 false positives above it, the true positive is the
 * 101st of its image and cut: AP 0 and AR100 0 (defined: the object counts). */
static void test_maxdets(void **st) {
    (void)st;
    const char *gt = "{\"images\":[" IMG(1, 1000, 1000) "],\"categories\":[" CAT(1) "],\"annotations\":["
                     "{\"id\":1,\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,10,10],\"area\":100}]}";
    char *dt = malloc(20000);
    for (int nfp = 10; nfp <= 100; nfp += 90) {
        size_t o = 0;
        o += (size_t)sprintf(dt + o, "[");
        for (int i = 0; i < nfp; i++)
            o += (size_t)sprintf(dt + o, "{\"image_id\":1,\"category_id\":1,\"bbox\":[%d,500,5,5],\"score\":%.4f},",
                                 20 + 6 * i, 0.999 - 0.001 * i);
        sprintf(dt + o, "{\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,10,10],\"score\":0.5}]");
        double s[12];
        run(gt, dt, CE_BBOX, s);
        if (nfp == 10) {
            assert_true(fabs(s[0] - 1.0 / 11) < 1e-12);
            assert_true(s[6] == 0 && s[7] == 0 && fabs(s[8] - 1) < 1e-12);
        } else {
            assert_true(s[0] == 0 && s[8] == 0 && s[9] == 0 && s[10] == -1);
        }
    }
    free(dt);
}

/* Area ranges use the GT's "area" field, bounds inclusive.
 * GT1 box [0,0,40,40] (1600 px) but area 500 -> small; GT2 [100,100,100,100]
 * area 10000 -> large; GT3 [300,0,32,32] area 1024 -> small and medium.
 * Each found exactly. small: GT1, GT3 -> 1. medium: GT3 counts; D1 (area
 * 1600, medium) matches GT1, which is ignored there, so D1 is ignored -> 1.
 * large: GT2 -> 1. All 1. Without GT3 medium has no object: -1. */
static void test_area_ranges(void **st) {
    (void)st;
    const char *gt = "{\"images\":[" IMG(1, 400, 400) "],\"categories\":[" CAT(1) "],\"annotations\":["
                     "{\"id\":1,\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,40,40],\"area\":500},"
                     "{\"id\":2,\"image_id\":1,\"category_id\":1,\"bbox\":[100,100,100,100],\"area\":10000},"
                     "{\"id\":3,\"image_id\":1,\"category_id\":1,\"bbox\":[300,0,32,32],\"area\":1024}]}";
    const char *dt = "[{\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,40,40],\"score\":0.9},"
                     "{\"image_id\":1,\"category_id\":1,\"bbox\":[100,100,100,100],\"score\":0.8},"
                     "{\"image_id\":1,\"category_id\":1,\"bbox\":[300,0,32,32],\"score\":0.7}]";
    double s[12];
    const double all1[12] = {1, 1, 1, 1, 1, 1, 1.0 / 3, 1, 1, 1, 1, 1};
    run(gt, dt, CE_BBOX, s);
    expect_stats(s, all1);
    const char *gt2 = "{\"images\":[" IMG(1, 400, 400) "],\"categories\":[" CAT(1) "],\"annotations\":["
                      "{\"id\":1,\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,40,40],\"area\":500},"
                      "{\"id\":2,\"image_id\":1,\"category_id\":1,\"bbox\":[100,100,100,100],\"area\":10000}]}";
    /* AR1: one detection per image -> 1 of 2 objects: .5 */
    const double want2[12] = {1, 1, 1, 1, -1, 1, 0.5, 1, 1, 1, -1, 1};
    run(gt2, dt, CE_BBOX, s);
    expect_stats(s, want2);
}

static void test_empty_results(void **st) {
    (void)st;
    const char *gt = "{\"images\":[" IMG(1, 50, 50) "],\"categories\":[" CAT(1) "],\"annotations\":["
                     "{\"id\":1,\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,10,10],\"area\":100,"
                     "\"segmentation\":[[0,0,10,0,10,10,0,10]]}]}";
    double s[12];
    const double none[12] = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1};
    run(gt, "[]", CE_BBOX, s);
    expect_stats(s, none);
    run(gt, " [ ] \n", CE_SEGM, s);
    expect_stats(s, none);
}

/* What pycocotools does not need may be absent from a ground truth for
 * boxes: file names, image sizes, category names; iscrowd may be a JSON
 * boolean. The same numbers as with them (test_perfect's case). */
static void test_gt_optional_fields(void **st) {
    (void)st;
    const char *gt = "{\"images\":[{\"id\":1}],\"categories\":[{\"id\":1},{\"id\":2}],"
                     "\"annotations\":[{\"id\":1,\"image_id\":1,\"category_id\":1,\"bbox\":[10,10,40,40],"
                     "\"area\":1600,\"iscrowd\":false},{\"id\":2,\"image_id\":1,\"category_id\":2,"
                     "\"bbox\":[60,60,10,10],\"area\":100,\"iscrowd\":true}]}";
    const char *dt = "[{\"image_id\":1,\"category_id\":1,\"bbox\":[10,10,40,40],\"score\":0.9}]";
    double s[12];
    const double want[12] = {1, 1, 1, -1, 1, -1, 1, 1, 1, -1, 1, -1};
    run(gt, dt, CE_BBOX, s);
    expect_stats(s, want);
    /* masks need the image size */
    assert_null(ce_gt_parse(gt, strlen(gt), "gt.json", 1));
    assert_non_null(strstr(hnd_error(), "gt.json: images[0].height: missing"));
}

/* ---- bad input ------------------------------------------------------------ */

static const char *k_gt_small =
    "{\"images\":[" IMG(1, 50, 40) "],\"categories\":[" CAT(1) "],\"annotations\":["
    "{\"id\":1,\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,10,10],\"area\":100,"
    "\"segmentation\":[[0,0,10,0,10,10,0,10]]}]}";

static void expect_dt_error(const char *dt, ce_iou_type t, const ce_options *o, const char *msg) {
    ce_gt *g = ce_gt_parse(k_gt_small, strlen(k_gt_small), "gt.json", 1);
    assert_non_null(g);
    ce_dt *d = ce_dt_parse(g, dt, strlen(dt), "dt.json", t, o);
    if (d) fail_msg("accepted: %s", dt);
    if (!strstr(hnd_error(), msg)) fail_msg("message '%s' lacks '%s'", hnd_error(), msg);
    if (strncmp(hnd_error(), "dt.json", 7) != 0) fail_msg("message '%s' does not name the file", hnd_error());
    ce_gt_destroy(g);
}

static void test_bad_results(void **st) {
    (void)st;
#define OK1 "{\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,10,10],\"score\":0.9}"
    expect_dt_error("[" OK1 ",{\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,10],\"score\":0.9}]", CE_BBOX, NULL,
                    "results[1].bbox: expected 4 numbers");
    expect_dt_error("[" OK1 "," OK1 ",{\"image_id\":999,\"category_id\":1,\"bbox\":[0,0,1,1],\"score\":1}]", CE_BBOX,
                    NULL, "results[2]: image_id 999 not in ground truth");
    expect_dt_error("[{\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,1,1],\"score\":NaN}]", CE_BBOX, NULL,
                    "results[0]: invalid JSON near 'NaN");
    expect_dt_error("[{\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,1,1],\"score\":1e999}]", CE_BBOX, NULL,
                    "results[0].score: not a finite number");
    expect_dt_error("[{\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,1,1],\"score\":\"high\"}]", CE_BBOX, NULL,
                    "results[0].score: expected a number");
    expect_dt_error("[{\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,-1,1],\"score\":1}]", CE_BBOX, NULL,
                    "results[0].bbox: negative width");
    expect_dt_error("[{\"image_id\":1.5,\"category_id\":1,\"bbox\":[0,0,1,1],\"score\":1}]", CE_BBOX, NULL,
                    "results[0].image_id: expected an integer");
    expect_dt_error("[{\"category_id\":1,\"bbox\":[0,0,1,1],\"score\":1}]", CE_BBOX, NULL,
                    "results[0]: missing image_id");
    expect_dt_error("[" OK1 ",{\"image_id\":1,\"category_id\":1,\"score\":1}]", CE_BBOX, NULL,
                    "results[1]: missing bbox");
    expect_dt_error("[{\"image_id\":1,\"category_id\":1,\"score\":1,\"segmentation\":{\"size\":[50,40],"
                    "\"counts\":\"0R`0\"}}]",
                    CE_SEGM, NULL, "results[0]: segmentation.size: [50, 40] does not match the image (40 x 50)");
    expect_dt_error("[{\"image_id\":1,\"category_id\":1,\"score\":1,\"segmentation\":{\"size\":[40,50],"
                    "\"counts\":\"01\"}}]",
                    CE_SEGM, NULL, "results[0]: segmentation: counts add up to 1");
    expect_dt_error("[{\"image_id\":1,\"category_id\":1,\"score\":1,\"segmentation\":{\"size\":[40,50],"
                    "\"counts\":\"0 1\"}}]",
                    CE_SEGM, NULL, "invalid character");
    ce_options strict = {.strict_categories = 1};
    expect_dt_error("[{\"image_id\":1,\"category_id\":7,\"bbox\":[0,0,1,1],\"score\":1}]", CE_BBOX, &strict,
                    "results[0]: category_id 7 not in ground truth categories");
    expect_dt_error("{\"image_id\":1}", CE_BBOX, NULL, "expected an array");
    expect_dt_error("[" OK1 "] x", CE_BBOX, NULL, "unexpected data after");
    expect_dt_error("[" OK1, CE_BBOX, NULL, "truncated");
    expect_dt_error("[" OK1 "," OK1 " " OK1 "]", CE_BBOX, NULL, "results[1]: expected ','");
    expect_dt_error("[1]", CE_BBOX, NULL, "results[0]: expected an object");
    expect_dt_error("[{\"image_id\":1,\"category_id\":1,\"score\":1}]", CE_BBOX, NULL,
                    "results[0]: neither bbox nor segmentation");
    /* without strict: dropped and counted, as pycocotools ignores them */
    ce_gt *g = ce_gt_parse(k_gt_small, strlen(k_gt_small), "gt.json", 0);
    const char *dt = "[" OK1 ",{\"image_id\":1,\"category_id\":7,\"bbox\":[0,0,1,1],\"score\":1}]";
    ce_dt *d = ce_dt_parse(g, dt, strlen(dt), "dt.json", CE_BBOX, NULL);
    assert_non_null(d);
    assert_int_equal(ce_dt_num(d), 1);
    assert_int_equal(ce_dt_dropped(d), 1);
    /* segm needs a GT with masks */
    assert_null(ce_dt_parse(g, dt, strlen(dt), "dt.json", CE_SEGM, NULL));
    ce_dt_destroy(d);
    ce_gt_destroy(g);
}

/* One annotation of image 1, category 1 with an extra member. */
#define ANN1(extra) "{\"id\":1,\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,1,1],\"area\":1," extra "}"
#define ANN2(extra) "{\"id\":2,\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,1,1],\"area\":1," extra "}"

static void test_bad_gt(void **st) {
    (void)st;
    static const struct {
        const char *json, *msg;
    } cases[] = {
        {"[]", "expected a JSON object"},
        {"{\"images\":[],\"categories\":[]}", "missing 'annotations'"},
        {"{\"images\":[" IMG(1, 5, 5) "," IMG(1, 5, 5) "],\"categories\":[],\"annotations\":[]}",
         "images[1].id: duplicate id 1"},
        {"{\"images\":[" IMG(1, 5, 5) "],\"categories\":[" CAT(1) "],\"annotations\":[{\"id\":1,\"image_id\":2,"
         "\"category_id\":1,\"bbox\":[0,0,1,1],\"area\":1}]}",
         "annotations[0].image_id: unknown image 2"},
        {"{\"images\":[" IMG(1, 5, 5) "],\"categories\":[" CAT(1) "],\"annotations\":[{\"id\":1,\"image_id\":1,"
         "\"category_id\":3,\"bbox\":[0,0,1,1],\"area\":1}]}",
         "annotations[0].category_id: unknown category 3"},
        {"{\"images\":[" IMG(1, 5, 5) "],\"categories\":[" CAT(1) "],\"annotations\":[{\"id\":1,\"image_id\":1,"
         "\"category_id\":1,\"bbox\":[0,0,1],\"area\":1}]}",
         "annotations[0].bbox: expected 4 numbers"},
        {"{\"images\":[" IMG(1, 5, 5) "],\"categories\":[" CAT(1) "],\"annotations\":[{\"id\":1,\"image_id\":1,"
         "\"category_id\":1,\"bbox\":[0,0,1,1]}]}",
         "annotations[0].area: missing"},
        {"{\"images\":[" IMG(1, 5, 5) "],\"categories\":[" CAT(1) "],\"annotations\":[{\"id\":1,\"image_id\":1,"
         "\"category_id\":1,\"bbox\":[0,0,1,1],\"area\":1,\"segmentation\":{\"size\":[5,4],\"counts\":[20]}}]}",
         "annotations[0].segmentation.size: [5, 4] does not match the image (5 x 5)"},
        {"{\"images\":[" IMG(1, 5, 5) "],\"categories\":[" CAT(1) "],\"annotations\":[{\"id\":1,", "truncated"},
        {"{\"images\":[],\"annotations\":[]}", "missing 'categories'"},
        {"{\"images\":[" IMG(1, 5, 5) "],\"categories\":[" CAT(1) "],\"annotations\":[" ANN1("\"bbox\":[0,0,-1,1]")
         "]}",
         "annotations[0].bbox: negative width or height"},
        {"{\"images\":[" IMG(1, 5, 5) "],\"categories\":[" CAT(1) "],\"annotations\":[" ANN1("\"bbox\":[0,0,1e999,1]")
         "]}",
         "annotations[0].bbox: expected 4 numbers"},
        {"{\"images\":[" IMG(1, 5, 5) "],\"categories\":[" CAT(1) "],\"annotations\":[" ANN1("\"area\":-1e999")
         "]}",
         "annotations[0].area: not a finite number"},
        {"{\"images\":[" IMG(1, 5, 5) "],\"categories\":[" CAT(1) "],\"annotations\":[" ANN1("\"iscrowd\":2") "]}",
         "annotations[0].iscrowd: expected 0 or 1"},
        {"{\"images\":[" IMG(1, 5, 5) "],\"categories\":[" CAT(1) "],\"annotations\":[" ANN1("\"segmentation\":[]")
         "]}",
         "annotations[0].segmentation: empty polygon list"},
        {"{\"images\":[" IMG(1, 5, 5) "],\"categories\":[" CAT(1) "],\"annotations\":["
         ANN1("\"segmentation\":[[0,0,1,1]]") "," ANN2("\"segmentation\":[[0,0,1,1,2]]") "]}",
         "annotations[1].segmentation[0]: a polygon needs 3 points"},
        {"{\"images\":[" IMG(1, 5, 5) "],\"categories\":[" CAT(1) "],\"annotations\":["
         ANN1("\"segmentation\":[[0,0,1,1],[0,0,1,1,2,2]]") "]}",
         "annotations[0].segmentation[1]: expected 4 numbers (the first part was a box)"},
        {"{\"images\":[" IMG(1, 5, 5) "],\"categories\":[" CAT(1) "],\"annotations\":[" ANN1("\"x\":0") "]}",
         "annotations[0].segmentation: missing"},
        {"{\"images\":[{\"id\":1,\"width\":5}],\"categories\":[],\"annotations\":[]}",
         "images[0].height: missing (masks need the image size)"},
        {"{\"images\":[" IMG(1, 2000000, 5) "],\"categories\":[],\"annotations\":[]}",
         "images[0]: size 5 x 2000000 out of range"},
        {"{\"images\":[" IMG(1, 5, 5) "],\"categories\":[" CAT(1) "],\"annotations\":[" ANN1("\"x\":0") ","
         ANN1("\"x\":1") "]}",
         "annotations[1].id: duplicate id 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ce_gt *g = ce_gt_parse(cases[i].json, strlen(cases[i].json), "gt.json", 1);
        if (g) fail_msg("accepted %s", cases[i].json);
        if (!strstr(hnd_error(), cases[i].msg)) fail_msg("message '%s' lacks '%s'", hnd_error(), cases[i].msg);
    }
    /* every prefix of a small ground truth: refused with a message, no crash */
    size_t n = strlen(k_gt_small);
    char *buf = malloc(n + 1);
    for (size_t k = 0; k < n; k++) {
        memcpy(buf, k_gt_small, k);
        ce_gt *g = ce_gt_parse(buf, k, "gt.json", 1);
        assert_null(g);
        assert_true(strlen(hnd_error()) > 0);
    }
    free(buf);
    ce_result r;
    assert_int_equal(ce_evaluate("/nonexistent/gt.json", "x.json", CE_BBOX, NULL, &r), -1);
    assert_non_null(strstr(hnd_error(), "/nonexistent/gt.json"));
}

/* ---- robustness ----------------------------------------------------------- */

/* Every prefix of a results file, and copies with bytes replaced, must be
 * either accepted or refused with a message; ASan/UBSan watch the rest. */
static void test_fuzz(void **st) {
    (void)st;
    char dir[1024], path[1200];
    fixture_dir(dir, sizeof dir, "seed1");
    snprintf(path, sizeof path, "%s/gt.json", dir);
    ce_gt *g = ce_gt_load(path, 1);
    if (!g) fail_msg("%s", hnd_error());
    for (int t = 0; t < 2; t++) {
        snprintf(path, sizeof path, "%s/dt_%s.json", dir, ce_iou_name((ce_iou_type)t));
        char *full = slurp(path);
        assert_non_null(full);
        size_t n = strlen(full);
        /* a short valid file: the first 20 elements, closed */
        char *base = malloc(n + 2), *cut = full;
        for (int e = 0; e < 20 && cut; e++) cut = strstr(cut + 1, "}, {");
        assert_non_null(cut);
        size_t bl = (size_t)(cut - full) + 1;
        memcpy(base, full, bl);
        base[bl++] = ']';
        base[bl] = '\0';
        ce_dt *d = ce_dt_parse(g, base, bl, "base", (ce_iou_type)t, NULL);
        if (!d) fail_msg("base: %s", hnd_error());
        ce_result r;
        assert_int_equal(ce_eval(g, d, &r), 0);
        ce_result_clear(&r);
        ce_dt_destroy(d);
        char *buf = malloc(bl + 1);
        int refused = 0, accepted = 0;
        for (size_t k = 0; k < bl; k += (t == 0 ? 1 : 3)) { /* truncations */
            memcpy(buf, base, k);
            d = ce_dt_parse(g, buf, k, "trunc", (ce_iou_type)t, NULL);
            if (d) {
                accepted++;
                ce_dt_destroy(d);
            } else {
                refused++;
                assert_true(strlen(hnd_error()) > 0);
            }
        }
        assert_true(refused > 0);
        uint32_t seed = 12345u + (uint32_t)t;
        static const char repl[] = "{}[]\",:0-9eE.\\ x\x01\xff";
        for (int it = 0; it < 3000; it++) { /* garbling */
            memcpy(buf, base, bl);
            int nflip = 1 + it % 4;
            for (int f = 0; f < nflip; f++) {
                seed = seed * 1103515245u + 12345u;
                size_t at = (seed >> 8) % bl;
                seed = seed * 1103515245u + 12345u;
                buf[at] = repl[(seed >> 8) % (sizeof repl - 1)];
            }
            d = ce_dt_parse(g, buf, bl, "garbled", (ce_iou_type)t, NULL);
            if (d) {
                accepted++;
                if (ce_eval(g, d, &r) == 0) ce_result_clear(&r);
                ce_dt_destroy(d);
            } else {
                refused++;
                assert_true(strlen(hnd_error()) > 0);
            }
        }
        print_message("fuzz %s: %d accepted, %d refused\n", ce_iou_name((ce_iou_type)t), accepted, refused);
        free(buf);
        free(base);
        free(full);
    }
    ce_gt_destroy(g);
}

/* ---- output --------------------------------------------------------------- */

static void test_output(void **st) {
    (void)st;
    char path[1024];
    tu_tmp(path, sizeof path, "coco_eval_out.json");
    ce_result r;
    memset(&r, 0, sizeof r);
    r.iou_type = CE_SEGM;
    for (int i = 0; i < 12; i++) r.stats[i] = i == 3 ? -1 : 0.1 * i;
    ce_category_ap cats[1] = {{7, "a \"q\"", 0.5, 0.75, -1}};
    r.num_categories = 1;
    r.per_category = cats;
    assert_int_equal(ce_write_json(path, &r, 1), 0);
    char *s = slurp(path);
    cJSON *j = cJSON_Parse(s);
    assert_non_null(j);
    const cJSON *a = cJSON_GetObjectItem(j, "segm");
    assert_int_equal(cJSON_GetArraySize(a), 12);
    for (int i = 0; i < 12; i++) assert_true(cJSON_GetArrayItem(a, i)->valuedouble == r.stats[i]);
    const cJSON *pc = cJSON_GetObjectItem(j, "segm_per_category");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(pc, 0), "name")->valuestring, "a \"q\"");
    cJSON_Delete(j);
    free(s);
    /* a directory that does not exist: error, nothing left behind */
    assert_int_equal(ce_write_json("/nonexistent-dir/x.json", &r, 0), -1);
    /* the 12 lines */
    char buf[4096];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    ce_print_summary(f, r.stats);
    fclose(f);
    assert_non_null(strstr(buf, " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.000\n"
                                " Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ] = 0.100\n"));
    assert_non_null(strstr(buf, " Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = -1.000\n"));
    assert_non_null(strstr(buf, " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = 0.600\n"));
    assert_non_null(strstr(buf, " Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = 1.100\n"));
}

/* The results parsed in ranges on threads (HND_EVAL_RANGE makes ranges of
 * a few results, the ground truth's polygons likewise): the fixtures' stats
 * are still pycocotools', and of two bad results (or annotations) in
 * different ranges the first in the file is reported. */
static void test_ranges(void **st) {
    setenv("HND_EVAL_THREADS", "3", 1);
    setenv("HND_EVAL_RANGE", "40", 1);
    check_fixture("seed1");
    const char *scope = getenv("HND_TEST_SCOPE");
    if (!scope || strcmp(scope, "short") != 0) check_fixture("seed2"); /* the sanitizer pass: one is enough */
    setenv("HND_EVAL_RANGE", "1", 1);
    test_bad_gt(st); /* polygons rasterised in ranges of one annotation: the same first message */
    expect_dt_error("[" OK1 "," OK1 ",{\"image_id\":999,\"category_id\":1,\"bbox\":[0,0,1,1],\"score\":1},"
                    "{\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,1],\"score\":1}]",
                    CE_BBOX, NULL, "results[2]: image_id 999 not in ground truth");
    expect_dt_error("[" OK1 ",{\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,1],\"score\":1}," OK1
                    ",{\"image_id\":999,\"category_id\":1,\"bbox\":[0,0,1,1],\"score\":1}]",
                    CE_BBOX, NULL, "results[1].bbox: expected 4 numbers");
    unsetenv("HND_EVAL_THREADS");
    unsetenv("HND_EVAL_RANGE");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_fixture_seed1), cmocka_unit_test(test_fixture_seed2),
        cmocka_unit_test(test_perfect),       cmocka_unit_test(test_crowd),
        cmocka_unit_test(test_two_objects),   cmocka_unit_test(test_ties),
        cmocka_unit_test(test_maxdets),       cmocka_unit_test(test_area_ranges),
        cmocka_unit_test(test_empty_results), cmocka_unit_test(test_gt_optional_fields),
        cmocka_unit_test(test_bad_results),
        cmocka_unit_test(test_bad_gt),        cmocka_unit_test(test_fuzz),
        cmocka_unit_test(test_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
