/* test_detection_ops.c: RoIAlign, NMS and the box helpers of ct_detection.h.
 *
 *  - small cases derived by hand;
 *  - random cases against torchvision.ops: tests/py/ref_detection_ops.py
 *    (run once by the group setup with $HND_PYTHON) writes inputs and
 *    torchvision's outputs, including RoIAlign's gradients, to
 *    $HND_TEST_TMP/detection_ops_ref.h5.
 * Every test runs in a scope and must leave no tensor handle alive. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ct_detection.h"
#include "heads_test_util.h"
#include "test_util.h"

static char g_ref[1024];
static ws_reader *g_r;
static int64_t g_live0;

static int group_setup(void **state) {
    tu_tmp(g_ref, sizeof g_ref, "detection_ops_ref.h5");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "ref_detection_ops.py '%s'", g_ref);
    if (tu_python(cmd) != 0) {
        fprintf(stderr, "ref_detection_ops.py failed\n");
        return -1;
    }
    g_r = ws_reader_open(g_ref);
    return g_r ? 0 : -1;
}

static int group_teardown(void **state) {
    ws_reader_close(g_r);
    return 0;
}

static int setup(void **state) {
    g_live0 = ct_live_tensor_count();
    ct_scope_begin();
    return 0;
}

static int teardown(void **state) {
    ct_scope_end();
    if (ct_live_tensor_count() != g_live0) {
        fprintf(stderr, "leaked %lld tensor handles\n", (long long)(ct_live_tensor_count() - g_live0));
        return -1;
    }
    return 0;
}

static ct_tensor *f32(const float *v, int ndim, const int64_t *shape) {
    ct_tensor *t = ct_from_buffer(v, CT_F32, ndim, shape);
    assert_non_null(t);
    return t;
}

static void assert_indices(const ct_tensor *t, const int64_t *want, int64_t n) {
    assert_non_null(t);
    assert_int_equal(ct_dtype_of(t), CT_I64);
    assert_int_equal(ct_numel(t), n);
    int64_t got[16];
    assert_true(n <= 16);
    assert_int_equal(ct_to_buffer(t, got, sizeof(int64_t) * (size_t)n), 0);
    for (int64_t i = 0; i < n; i++) assert_int_equal(got[i], want[i]);
}

/* ------------------------------------------------------------ by hand -- */

static void test_roi_align_by_hand(void **state) {
    /* v[y][x] = 4y + x: bilinear sampling of a linear function is exact */
    float v[16];
    for (int i = 0; i < 16; i++) v[i] = (float)i;
    int64_t s[4] = {1, 1, 4, 4}, rs[2] = {3, 5};
    ct_tensor *x = f32(v, 4, s);
    float r[15] = {0, 0.5f, 0.5f, 2.5f, 2.5f,   /* samples (1,1) (1,2) (2,1) (2,2): 7.5 */
                   0, -10, -10, -5, -5,         /* wholly outside: 0 */
                   0, 3, 3, 5, 5};              /* only (3.5,3.5), clamped to v[3][3]: 15/4 */
    ct_tensor *rois = f32(r, 2, rs);
    ct_tensor *y = ct_roi_align(x, rois, 1.0, 1, 1, 2, 0);
    assert_non_null(y);
    double *o = ht_values(y, NULL);
    assert_near(o[0], 7.5, 1e-6);
    assert_near(o[1], 0.0, 0);
    assert_near(o[2], 3.75, 1e-6);
    free(o);
    /* 2x2 output of the first box: bins centred at 1.0 and 2.0 */
    ct_tensor *y2 = ct_roi_align(x, ct_narrow(rois, 0, 0, 1), 1.0, 2, 2, 2, 0);
    o = ht_values(y2, NULL);
    assert_near(o[0], 5.0, 1e-6);
    assert_near(o[1], 6.0, 1e-6);
    assert_near(o[2], 9.0, 1e-6);
    assert_near(o[3], 10.0, 1e-6);
    free(o);
    /* errors name the op and the shapes */
    int64_t bs[2] = {3, 4};
    assert_null(ct_roi_align(x, ct_zeros(bs, 2, CT_F32, ct_cpu()), 1.0, 7, 7, 2, 0));
    assert_non_null(strstr(ct_last_error(), "roi_align"));
    assert_non_null(strstr(ct_last_error(), "[3,4]"));
    assert_null(ct_roi_align(x, rois, 1.0, 7, 7, 0, 0));
    assert_null(ct_roi_align(NULL, rois, 1.0, 7, 7, 2, 0));
    assert_non_null(strstr(ct_last_error(), "is NULL"));
    /* no RoIs: an empty result */
    int64_t es[2] = {0, 5};
    ct_tensor *e = ct_roi_align(x, ct_zeros(es, 2, CT_F32, ct_cpu()), 1.0, 7, 7, 2, 0);
    assert_non_null(e);
    assert_int_equal(ct_size(e, 0), 0);
    assert_int_equal(ct_size(e, 1), 1);
}

static void test_nms_by_hand(void **state) {
    /* A, B overlap with IoU 81/119 = 0.68; D is A again; C apart */
    float b[16] = {0, 0, 10, 10, 1, 1, 11, 11, 20, 20, 30, 30, 0, 0, 10, 10};
    float sc[4] = {0.9f, 0.8f, 0.7f, 0.95f};
    int64_t bs[2] = {4, 4}, n = 4;
    ct_tensor *boxes = f32(b, 2, bs), *scores = f32(sc, 1, &n);
    int64_t k1[2] = {3, 2};
    assert_indices(ct_nms(boxes, scores, 0.5), k1, 2);
    int64_t k2[3] = {3, 1, 2};                 /* 0.68 <= 0.7: B survives, A (IoU 1) not */
    assert_indices(ct_nms(boxes, scores, 0.7), k2, 3);
    int64_t c[4] = {0, 1, 0, 1};
    ct_tensor *cls = ct_from_buffer(c, CT_I64, 1, &n);
    int64_t k3[3] = {3, 0, 2};                 /* A is another class than D */
    assert_indices(ct_batched_nms(boxes, scores, cls, 0.5), k3, 3);
    ct_tensor *iou = ct_box_iou(boxes, boxes);
    double *v = ht_values(iou, NULL);
    assert_near(v[1], 81.0 / 119.0, 1e-6);
    assert_near(v[3], 1.0, 0);
    assert_near(v[2], 0.0, 0);
    free(v);
    ct_tensor *area = ct_box_area(boxes);
    v = ht_values(area, NULL);
    assert_near(v[2], 100.0, 0);
    free(v);
    /* empty input */
    int64_t es[2] = {0, 4}, e0 = 0;
    ct_tensor *eb = ct_zeros(es, 2, CT_F32, ct_cpu()), *esc = ct_zeros(&e0, 1, CT_F32, ct_cpu());
    ct_tensor *k = ct_nms(eb, esc, 0.5);
    assert_non_null(k);
    assert_int_equal(ct_numel(k), 0);
    assert_null(ct_nms(boxes, esc, 0.5));
    assert_non_null(strstr(ct_last_error(), "nms"));
}

/* ----------------------------------------------------- vs torchvision -- */

static void test_roi_align_vs_torchvision(void **state) {
    for (int i = 0; i < 4; i++) {
        char name[64];
#define REF(field) (snprintf(name, sizeof name, "ra%d." field, i), ht_must(g_r, "ops", name))
        ct_tensor *x = REF("x"), *rois = REF("rois"), *p = REF("params");
        ct_tensor *want = REF("y"), *gy = REF("gy"), *gx = REF("gx");
        double *pv = ht_values(p, NULL);
        ct_set_requires_grad(x, 1);
        ct_tensor *y = ct_roi_align(x, rois, pv[0], (int64_t)pv[1], (int64_t)pv[2], (int)pv[3],
                                    (int)pv[4]);
        free(pv);
        assert_non_null(y);
        double d = ht_max_diff(y, want, "roi_align forward");
        double m = ht_max_abs(want);
        print_message("roi_align case %d: forward max |diff| %.3g (max |y| %.3g)\n", i, d, m);
        assert_true(d <= 1e-5 * (m > 1 ? m : 1));
        assert_int_equal(ct_backward(ct_sum(ct_mul(y, gy))), 0);
        ct_tensor *g = ct_grad(x);
        assert_non_null(g);
        d = ht_max_diff(g, gx, "roi_align backward");
        m = ht_max_abs(gx);
        print_message("roi_align case %d: backward max |diff| %.3g (max |g| %.3g)\n", i, d, m);
        assert_true(d <= 1e-5 * (m > 1 ? m : 1));
#undef REF
    }
}

static void test_roi_align_multilevel_vs_torchvision(void **state) {
    ct_tensor *x[4], *gx[4];
    char name[64];
    for (int l = 0; l < 4; l++) {
        snprintf(name, sizeof name, "ml.x%d", l);
        x[l] = ht_must(g_r, "ops", name);
        ct_set_requires_grad(x[l], 1);
        snprintf(name, sizeof name, "ml.gx%d", l);
        gx[l] = ht_must(g_r, "ops", name);
    }
    ct_tensor *rois = ht_must(g_r, "ops", "ml.rois"), *lv = ht_must(g_r, "ops", "ml.levels");
    ct_tensor *want = ht_must(g_r, "ops", "ml.y"), *gy = ht_must(g_r, "ops", "ml.gy");
    double *sc = ht_values(ht_must(g_r, "ops", "ml.scales"), NULL);
    ct_tensor *y = ct_roi_align_multilevel((const ct_tensor *const *)x, 4, rois, lv, sc, 7, 7, 2, 0);
    free(sc);
    assert_non_null(y);
    double d = ht_max_diff(y, want, "multilevel forward");
    print_message("roi_align multilevel: forward max |diff| %.3g\n", d);
    assert_true(d <= 1e-5 * fmax(1, ht_max_abs(want)));
    assert_int_equal(ct_backward(ct_sum(ct_mul(y, gy))), 0);
    for (int l = 0; l < 4; l++) {
        d = ht_max_diff(ct_grad(x[l]), gx[l], "multilevel backward");
        print_message("roi_align multilevel: level %d backward max |diff| %.3g\n", l, d);
        assert_true(d <= 1e-5 * fmax(1, ht_max_abs(gx[l])));
    }
    /* a level out of range is an error */
    double s4[4] = {1, 1, 1, 1};
    ct_tensor *bad = ct_add_scalar(lv, 4);
    assert_null(ct_roi_align_multilevel((const ct_tensor *const *)x, 4, rois, bad, s4, 7, 7, 2, 0));
    assert_non_null(strstr(ct_last_error(), "levels out of range"));
}

static void check_same_indices(const ct_tensor *got, const ct_tensor *want, const char *what) {
    assert_non_null(got);
    int64_t n = ct_numel(want);
    if (ct_numel(got) != n) {
        print_error("%s: %lld kept vs torchvision %lld\n", what, (long long)ct_numel(got), (long long)n);
        fail();
    }
    int64_t *a = malloc(sizeof(int64_t) * (size_t)(n + 1)), *b = malloc(sizeof(int64_t) * (size_t)(n + 1));
    ct_tensor *wl = ct_to_dtype(want, CT_I64);
    assert_int_equal(ct_to_buffer(got, a, sizeof(int64_t) * (size_t)n), 0);
    assert_int_equal(ct_to_buffer(wl, b, sizeof(int64_t) * (size_t)n), 0);
    for (int64_t i = 0; i < n; i++)
        if (a[i] != b[i]) {
            print_error("%s: position %lld: %lld vs torchvision %lld\n", what, (long long)i,
                        (long long)a[i], (long long)b[i]);
            fail();
        }
    free(a);
    free(b);
}

static void test_nms_vs_torchvision(void **state) {
    char name[64], what[64];
    for (int i = 0; i < 3; i++) {
#define REF(p, field) (snprintf(name, sizeof name, p "%d." field, i), ht_must(g_r, "ops", name))
        ct_tensor *b = REF("nms", "boxes"), *s = REF("nms", "scores"), *k = REF("nms", "keep");
        snprintf(name, sizeof name, "nms%d.thr", i);
        double thr = ht_scalar(g_r, "ops", name);
        snprintf(what, sizeof what, "nms case %d", i);
        check_same_indices(ct_nms(b, s, thr), k, what);
    }
    for (int i = 0; i < 3; i++) {
        ct_tensor *b = REF("bnms", "boxes"), *s = REF("bnms", "scores"), *c = REF("bnms", "idxs");
        ct_tensor *k = REF("bnms", "keep");
        snprintf(name, sizeof name, "bnms%d.thr", i);
        double thr = ht_scalar(g_r, "ops", name);
        snprintf(what, sizeof what, "batched_nms case %d", i);
        check_same_indices(ct_batched_nms(b, s, c, thr), k, what);
#undef REF
    }
}

static void test_box_helpers_vs_torchvision(void **state) {
    ct_tensor *a = ht_must(g_r, "ops", "iou.a"), *b = ht_must(g_r, "ops", "iou.b");
    double d = ht_max_diff(ct_box_iou(a, b), ht_must(g_r, "ops", "iou.iou"), "box_iou");
    assert_true(d <= 1e-7);
    ct_tensor *c = ht_must(g_r, "ops", "clip.boxes");
    d = ht_max_diff(ct_clip_boxes_to_image(c, 90, 70), ht_must(g_r, "ops", "clip.out"), "clip");
    assert_true(d == 0);
    check_same_indices(ct_remove_small_boxes(c, 0.01), ht_must(g_r, "ops", "small.keep"),
                       "remove_small_boxes");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roi_align_by_hand, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nms_by_hand, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roi_align_vs_torchvision, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roi_align_multilevel_vs_torchvision, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nms_vs_torchvision, setup, teardown),
        cmocka_unit_test_setup_teardown(test_box_helpers_vs_torchvision, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
