/* test_rcnn.c: end-to-end parity of the assembled Faster / Mask R-CNN with
 * torchvision 0.14.
 *
 * The group setup runs tests/py/ref_rcnn.py ($HND_PYTHON), which builds each
 * architecture with a fixed seed and non-degenerate weights, saves its
 * state dict (.pth) and writes images, FPN features, RPN proposals and
 * detections to $HND_TEST_TMP/rcnn_ref/<case>.h5. Each test imports the .pth
 * with `$HND_BIN_DIR/hnd import-torchvision`, loads it strictly, runs the
 * stages one by one on the same batch and checks:
 *   - FPN features within 1e-4 relative to their magnitude;
 *   - the same detections: same count, labels equal, boxes within 0.01 px,
 *     scores within 1e-4, after matching;
 *   - Mask R-CNN: pasted masks (> 0.5) identical at >= 99.9% of pixels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "heads_test_util.h"
#include "rcnn.h"
#include "test_util.h"

static char g_dir[1024];

typedef struct {
    const char *name, *arch;
    double min_size, max_size;
    int use_detect;   /* 1: rcnn_detect() in one call instead of the stages */
} rcnn_case;

/* The same cases as CASES in tests/py/ref_rcnn.py. */
static const rcnn_case k_cases[] = {
    {"faster_r50_small", "faster_rcnn_resnet50_fpn", 320, 512, 0},
    {"faster_r18_small", "faster_rcnn_resnet18_fpn", 320, 512, 1},
    {"mask_r50_small", "mask_rcnn_resnet50_fpn", 320, 512, 0},
    {"mask_r18_small", "mask_rcnn_resnet18_fpn", 320, 512, 1},
    {"faster_r50_800", "faster_rcnn_resnet50_fpn", 800, 1333, 1},
};

static int group_setup(void **state) {
    /* HND_RCNN_REF_DIR: reuse references generated before (development);
     * cases without a file there are skipped. */
    const char *reuse = getenv("HND_RCNN_REF_DIR");
    if (reuse && *reuse) {
        snprintf(g_dir, sizeof g_dir, "%s", reuse);
        return 0;
    }
    tu_tmp(g_dir, sizeof g_dir, "rcnn_ref");
    char cmd[1200];
    /* the sanitizer pass (HND_TEST_SCOPE=short) checks the ResNet-18 cases:
     * the same C code paths, a fraction of the time */
    snprintf(cmd, sizeof cmd, "ref_rcnn.py '%s'%s", g_dir,
             tu_short_scope() ? " faster_r18_small mask_r18_small" : "");
    if (tu_python(cmd) != 0) {
        fprintf(stderr, "ref_rcnn.py failed\n");
        return -1;
    }
    return 0;
}

static int group_teardown(void **state) {
    /* references generated here (not a reused HND_RCNN_REF_DIR) */
    const char *reuse = getenv("HND_RCNN_REF_DIR");
    if (!(reuse && *reuse)) tu_cleanup(g_dir);
    return 0;
}

static int import_weights(const char *name, char *h5, size_t n) {
    const char *bin = getenv("HND_BIN_DIR");
    snprintf(h5, n, "%s/%s_weights.h5", g_dir, name);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s/hnd' import-torchvision '%s/%s.pth' '%s' --quiet",
             bin && *bin ? bin : ".", g_dir, name, h5);
    int st = system(cmd);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* Masks > 0.5 as bytes (malloc'ed). */
static uint8_t *mask_bytes(const ct_tensor *m) {
    ct_tensor *b = ct_to_dtype(ct_gt_scalar(m, 0.5), CT_U8);
    assert_non_null(b);
    size_t n = (size_t)ct_numel(b);
    uint8_t *v = malloc(n ? n : 1);
    assert_int_equal(ct_to_buffer(b, v, n), 0);
    ct_destroy(b);
    return v;
}

/* Detections of image i against the reference group det<i>. */
static void compare_detections(ws_reader *r, int i, const rcnn_detections *d, int masks,
                               const char *name) {
    char g[32];
    snprintf(g, sizeof g, "det%d", i);
    ct_tensor *rb = ht_must(r, g, "boxes"), *rs = ht_must(r, g, "scores"), *rl = ht_must(r, g, "labels");
    int64_t n = ct_numel(rs), m = ct_numel(d->scores);
    print_message("%s image %d: %lld detections (torchvision %lld)\n", name, i, (long long)m,
                  (long long)n);
    assert_int_equal(m, n);
    double *eb = ht_values(rb, NULL), *es = ht_values(rs, NULL), *el = ht_values(rl, NULL);
    double *ob = ht_values(d->boxes, NULL), *os = ht_values(d->scores, NULL), *ol = ht_values(d->labels, NULL);
    int64_t *match = malloc(sizeof(int64_t) * (size_t)(n + 1));
    char *used = calloc((size_t)n + 1, 1);
    double max_box = 0, max_score = 0;
    int64_t reordered = 0;
    for (int64_t a = 0; a < n; a++) {
        int64_t found = -1;
        for (int64_t k = 0; k < n && found < 0; k++) {
            int64_t b = (a + k) % n;   /* same position first */
            if (used[b] || ol[b] != el[a]) continue;
            double db = 0;
            for (int c = 0; c < 4; c++) db = fmax(db, fabs(ob[4 * b + c] - eb[4 * a + c]));
            if (db <= 0.01 && fabs(os[b] - es[a]) <= 1e-4) found = b;
        }
        if (found < 0) {
            print_error("%s image %d: torchvision detection %lld (label %g, score %.6f, box %.3f "
                        "%.3f %.3f %.3f) has no match\n",
                        name, i, (long long)a, el[a], es[a], eb[4 * a], eb[4 * a + 1], eb[4 * a + 2],
                        eb[4 * a + 3]);
            fail();
            return;
        }
        used[found] = 1;
        match[a] = found;
        if (found != a) reordered++;
        for (int c = 0; c < 4; c++) max_box = fmax(max_box, fabs(ob[4 * found + c] - eb[4 * a + c]));
        max_score = fmax(max_score, fabs(os[found] - es[a]));
    }
    print_message("%s image %d: max |box diff| %.3g px, max |score diff| %.3g, %lld matched out "
                  "of order\n",
                  name, i, max_box, max_score, (long long)reordered);
    if (masks && n > 0) {
        ct_tensor *rm = ht_must(r, g, "masks");
        assert_non_null(d->masks);
        int64_t H = ct_size(rm, 1), W = ct_size(rm, 2);
        assert_int_equal(ct_size(d->masks, 0), n);
        assert_int_equal(ct_size(d->masks, 2), H);
        assert_int_equal(ct_size(d->masks, 3), W);
        uint8_t *mo = mask_bytes(d->masks), *me = malloc((size_t)(n * H * W));
        assert_int_equal(ct_to_buffer(rm, me, (size_t)(n * H * W)), 0);
        int64_t diff = 0, total = n * H * W;
        for (int64_t a = 0; a < n; a++) {
            const uint8_t *x = me + a * H * W, *y = mo + match[a] * H * W;
            for (int64_t p = 0; p < H * W; p++) diff += (x[p] != 0) != (y[p] != 0);
        }
        double agree = 1.0 - (double)diff / (double)total;
        print_message("%s image %d: masks agree at %.6f%% of pixels (%lld differ)\n", name, i,
                      100 * agree, (long long)diff);
        assert_true(agree >= 0.999);
        free(mo);
        free(me);
    }
    free(eb); free(es); free(el); free(ob); free(os); free(ol);
    free(match);
    free(used);
}

static void run_case(const rcnn_case *c) {
    int64_t live0 = ct_live_tensor_count();
    ct_scope_begin();
    char ref[1200], h5[1200];
    snprintf(ref, sizeof ref, "%s/%s.h5", g_dir, c->name);
    if (!tu_file_exists(ref)) {
        ct_scope_end();
        skip();
    }
    assert_int_equal(import_weights(c->name, h5, sizeof h5), 0);
    rcnn_config cfg;
    assert_int_equal(rcnn_config_default(&cfg, c->arch), 0);
    cfg.transform.min_size = c->min_size;
    cfg.transform.max_size = c->max_size;
    rcnn_model *m = rcnn_new(&cfg);
    if (!m) print_error("%s\n", hnd_error());
    assert_non_null(m);
    int loaded = rcnn_load(m, h5, 1);
    if (loaded < 0) print_error("%s\n", hnd_error());
    assert_true(loaded > 0);
    ws_reader *r = ws_reader_open(ref);
    assert_non_null(r);
    ct_tensor *imgs[4];
    int n = 0;
    char name[64];
    for (; n < 4; n++) {
        snprintf(name, sizeof name, "img%d", n);
        if (!(imgs[n] = ht_load(r, "/", name))) break;
    }
    assert_true(n > 0);
    rcnn_detections dets[4];
    int masks = rcnn_has_masks(m);
    if (c->use_detect) {
        double t[RCNN_T_COUNT];
        int rc = rcnn_detect(m, (const ct_tensor *const *)imgs, n, dets, t);
        if (rc != 0) print_error("%s\n", hnd_error());
        assert_int_equal(rc, 0);
        print_message("%s: transform %.0f ms, backbone %.0f ms, rpn %.0f ms, roi_heads %.0f ms, "
                      "postprocess %.0f ms\n",
                      c->name, t[0], t[1], t[2], t[3], t[4]);
    } else {
        int prev = ct_grad_set_enabled(0);
        rt_image_list l;
        ct_tensor *feats[BB_NUM_FEATURES];
        rpn_output props;
        rh_detections rd;
        assert_int_equal(rcnn_transform_images(m, (const ct_tensor *const *)imgs, n, &l), 0);
        int rc = rcnn_backbone_forward(m, &l, feats);
        if (rc != 0) print_error("%s\n", hnd_error());
        assert_int_equal(rc, 0);
        for (int k = 0; k < BB_NUM_FEATURES; k++) {
            ct_tensor *want = ht_must(r, "feat", bb_feature_name(k));
            double d = ht_max_diff(feats[k], want, "features"), mx = ht_max_abs(want);
            print_message("%s: feature '%s' max |diff| %.3g (max |x| %.3g)\n", c->name,
                          bb_feature_name(k), d, mx);
            assert_true(d <= 1e-4 * fmax(1.0, mx));
        }
        rc = rcnn_rpn_forward(m, &l, feats, &props);
        if (rc != 0) print_error("%s\n", hnd_error());
        assert_int_equal(rc, 0);
        for (int i = 0; i < n; i++) {
            snprintf(name, sizeof name, "prop%d", i);
            ct_tensor *want = ht_must(r, "/", name);
            /* informative only: equal scores (padding, flat image regions)
             * make the order, and the top-n cut, of proposals ambiguous */
            int64_t a = ct_size(props.boxes[i], 0), b = ct_size(want, 0), found = 0;
            double *pa = ht_values(props.boxes[i], NULL), *pb = ht_values(want, NULL);
            for (int64_t q = 0; q < b; q++)
                for (int64_t k = 0; k < a; k++) {
                    double dd = 0;
                    for (int j = 0; j < 4; j++) dd = fmax(dd, fabs(pa[4 * k + j] - pb[4 * q + j]));
                    if (dd <= 0.01) {
                        found++;
                        break;
                    }
                }
            free(pa);
            free(pb);
            print_message("%s image %d: %lld proposals (torchvision %lld), %lld of torchvision's "
                          "found within 0.01 px\n",
                          c->name, i, (long long)a, (long long)b, (long long)found);
        }
        rc = rcnn_roi_heads_forward(m, &l, feats, &props, &rd);
        if (rc != 0) print_error("%s\n", hnd_error());
        assert_int_equal(rc, 0);
        assert_int_equal(rcnn_postprocess(m, &l, &rd, dets), 0);
        rh_detections_clear(&rd);
        rpn_output_clear(&props);
        rt_image_list_clear(&l);
        ct_grad_set_enabled(prev);
    }
    for (int i = 0; i < n; i++) {
        compare_detections(r, i, &dets[i], masks, c->name);
        rcnn_detections_clear(&dets[i]);
    }
    ws_reader_close(r);
    rcnn_destroy(m);
    ct_scope_end();
    assert_int_equal(ct_live_tensor_count(), live0);
}

static void test_faster_r50(void **s) { run_case(&k_cases[0]); }
static void test_faster_r18(void **s) { run_case(&k_cases[1]); }
static void test_mask_r50(void **s) { run_case(&k_cases[2]); }
static void test_mask_r18(void **s) { run_case(&k_cases[3]); }
static void test_faster_r50_800(void **s) { run_case(&k_cases[4]); }

/* Strict loading names what is wrong; the legacy key names load. */
static void test_load_errors(void **s) {
    rcnn_config cfg;
    assert_int_equal(rcnn_config_default(&cfg, "faster_rcnn_resnet18_fpn"), 0);
    cfg.box.num_classes = 5;
    rcnn_model *m = rcnn_new(&cfg);
    assert_non_null(m);
    char h5[1200];
    snprintf(h5, sizeof h5, "%s/faster_r18_small_weights.h5", g_dir);
    if (!tu_file_exists(h5)) assert_int_equal(import_weights("faster_r18_small", h5, sizeof h5), 0);
    assert_int_equal(rcnn_load(m, h5, 1), -1);
    assert_non_null(strstr(hnd_error(), "roi_heads.box_predictor.cls_score.weight"));
    rcnn_destroy(m);
    assert_int_equal(rcnn_config_default(&cfg, "mask_rcnn_resnet18_fpn"), 0);
    m = rcnn_new(&cfg);
    assert_int_equal(rcnn_load(m, h5, 1), -1);
    assert_non_null(strstr(hnd_error(), "roi_heads.mask_head.0.0.weight"));
    rcnn_destroy(m);
}

/* The weights under torchvision < 0.13 key names (RPN conv, mask head convs,
 * FPN blocks; legacy .pth format) load strictly into the same tensors. */
static void test_legacy_keys(void **s) {
    char pth[1200], h5[1200], h5new[1200], cmd[4096];
    snprintf(pth, sizeof pth, "%s/mask_r18_small_legacy.pth", g_dir);
    if (!tu_file_exists(pth)) skip();
    snprintf(h5, sizeof h5, "%s/mask_r18_small_legacy.h5", g_dir);
    const char *bin = getenv("HND_BIN_DIR");
    snprintf(cmd, sizeof cmd, "'%s/hnd' import-torchvision '%s' '%s' --quiet", bin && *bin ? bin : ".",
             pth, h5);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(import_weights("mask_r18_small", h5new, sizeof h5new), 0);
    rcnn_config cfg;
    assert_int_equal(rcnn_config_default(&cfg, "mask_rcnn_resnet18_fpn"), 0);
    rcnn_model *a = rcnn_new(&cfg), *b = rcnn_new(&cfg);
    int na = rcnn_load(a, h5, 1);
    if (na < 0) print_error("%s\n", hnd_error());
    assert_true(na > 0);
    assert_int_equal(rcnn_load(b, h5new, 1), na);
    const char *keys[3] = {"rpn.head.conv.0.0.weight", "roi_heads.mask_head.3.0.weight",
                           "backbone.fpn.inner_blocks.0.0.weight"};
    for (int i = 0; i < 3; i++) {
        ct_tensor *ta = mp_params_get(rcnn_params(a), keys[i]), *tb = mp_params_get(rcnn_params(b), keys[i]);
        assert_non_null(ta);
        assert_true(ht_max_abs(ta) > 0);
        assert_true(ht_max_diff(ta, tb, keys[i]) == 0);
    }
    rcnn_destroy(a);
    rcnn_destroy(b);
}

int main(void) {
    const struct CMUnitTest all[] = {
        cmocka_unit_test(test_faster_r18),   cmocka_unit_test(test_mask_r18),
        cmocka_unit_test(test_load_errors),  cmocka_unit_test(test_legacy_keys),
        cmocka_unit_test(test_faster_r50),   cmocka_unit_test(test_mask_r50),
        cmocka_unit_test(test_faster_r50_800),
    };
    /* the short scope: the ResNet-18 cases (same code paths as ResNet-50) */
    const struct CMUnitTest r18[] = {
        cmocka_unit_test(test_faster_r18),   cmocka_unit_test(test_mask_r18),
        cmocka_unit_test(test_load_errors),  cmocka_unit_test(test_legacy_keys),
    };
    if (tu_short_scope()) return cmocka_run_group_tests(r18, group_setup, group_teardown);
    return cmocka_run_group_tests(all, group_setup, group_teardown);
}
