/* test_keypoint_rcnn.c: Keypoint R-CNN (models/keypoint_head.h, the keypoint
 * loss of rcnn_loss.h, Keypoint R-CNN in rcnn.h and split_rcnn.h) against
 * torchvision 0.14.
 *
 * The group setup runs tests/py/ref_keypoint_rcnn.py ($HND_PYTHON):
 *   - ops.h5: heatmaps_to_keypoints, keypoints_to_heatmap and
 *     keypointrcnn_loss (value and gradient) on inputs drawn there, edge
 *     cases included: compared exactly (keypoints, integer heatmaps) or to
 *     1e-6 (loss, gradient, scores);
 *   - per case, a KeypointRCNN with fixed non-degenerate weights (.pth) and
 *     its detections on a batch: imported with `hnd import-torchvision`,
 *     loaded strictly, run through rcnn_detect: same boxes (0.01 px),
 *     scores (1e-4), labels; keypoints within 0.01 px and keypoint scores
 *     within 1e-3 for >= 99% of them, all within one heatmap cell (an
 *     argmax over a bicubic map may flip between two near-equal cells);
 *   - the R-50 case's weights come as the COCO checkpoint does
 *     (keypointrcnn_resnet50_fpn_coco-fc266e95.pth: torchvision < 0.13 key
 *     names, zip-less format): imported, probed as Keypoint R-CNN R-50 (2
 *     classes, 17 keypoints, 512 channels), loaded strictly, then the
 *     parity above; a Faster R-CNN refuses the file naming keypoint keys;
 *   - the split type: head then tail gives sr_detect's keypoints bit for bit
 *     (teacher and a C=2 student).
 * HND_TEST_SCOPE=short runs the ResNet-18 case only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "heads_test_util.h"
#include "rcnn_loss.h"
#include "split_rcnn.h"
#include "test_util.h"

static char g_dir[1024];

static int group_setup(void **state) {
    (void)state;
    const char *reuse = getenv("HND_KP_REF_DIR");   /* references generated before (development) */
    if (reuse && *reuse) {
        snprintf(g_dir, sizeof g_dir, "%s", reuse);
        return 0;
    }
    tu_tmp(g_dir, sizeof g_dir, "keypoint_ref");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "ref_keypoint_rcnn.py '%s'%s", g_dir, tu_short_scope() ? " keypoint_r18_small" : "");
    if (tu_python(cmd) != 0) {
        fprintf(stderr, "ref_keypoint_rcnn.py failed\n");
        return -1;
    }
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    const char *reuse = getenv("HND_KP_REF_DIR");
    if (!(reuse && *reuse)) tu_cleanup(g_dir);
    return 0;
}

static ws_reader *open_ref(const char *name) {
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    if (!tu_file_exists(p)) return NULL;
    ws_reader *r = ws_reader_open(p);
    assert_non_null(r);
    return r;
}

/* ------------------------------------------------------------- the ops */

static void test_heatmaps_to_keypoints(void **state) {
    (void)state;
    ct_scope_begin();
    ws_reader *r = open_ref("ops.h5");
    assert_non_null(r);
    ct_tensor *maps = ht_must(r, "h2k", "maps"), *rois = ht_must(r, "h2k", "rois");
    ct_tensor *kp = NULL, *sc = NULL;
    int rc = kh_heatmaps_to_keypoints(maps, rois, &kp, &sc);
    if (rc != 0) print_error("%s\n", hnd_error());
    assert_int_equal(rc, 0);
    double dk = ht_max_diff(kp, ht_must(r, "h2k", "keypoints"), "keypoints");
    double ds = ht_max_diff(sc, ht_must(r, "h2k", "scores"), "scores");
    print_message("heatmaps_to_keypoints: max |keypoint diff| %.3g px, max |score diff| %.3g\n", dk, ds);
    assert_true(dk == 0);
    assert_true(ds <= 1e-6);
    /* empty input, mismatched shapes */
    int64_t s0[4] = {0, 17, 56, 56}, b0[2] = {0, 4};
    assert_int_equal(kh_heatmaps_to_keypoints(ct_zeros(s0, 4, CT_F32, ct_cpu()), ct_zeros(b0, 2, CT_F32, ct_cpu()),
                                              &kp, &sc),
                     0);
    assert_int_equal(ct_size(kp, 0), 0);
    assert_int_equal(ct_size(kp, 1), 17);
    assert_int_equal(ct_size(sc, 1), 17);
    assert_int_equal(kh_heatmaps_to_keypoints(maps, ct_narrow(rois, 0, 0, 2), &kp, &sc), -1);
    assert_non_null(strstr(hnd_error(), "want [R,K,M,M] and [R,4]"));
    ws_reader_close(r);
    ct_scope_end();
}

static void test_keypoints_to_heatmap(void **state) {
    (void)state;
    ct_scope_begin();
    ws_reader *r = open_ref("ops.h5");
    assert_non_null(r);
    ct_tensor *h = NULL, *v = NULL;
    int rc = rl_keypoints_to_heatmap(ht_must(r, "k2h", "keypoints"), ht_must(r, "k2h", "rois"), 56, &h, &v);
    if (rc != 0) print_error("%s\n", hnd_error());
    assert_int_equal(rc, 0);
    ct_tensor *wv = ht_must(r, "k2h", "valid");
    double dh = ht_max_diff(h, ht_must(r, "k2h", "heatmaps"), "heatmaps"), dv = ht_max_diff(v, wv, "valid");
    double nvalid;
    assert_int_equal(ct_item_f64(ct_sum(wv), &nvalid), 0);
    print_message("keypoints_to_heatmap: %g valid of %lld, max |diff| heatmaps %g, valid %g\n", nvalid,
                  (long long)ct_numel(wv), dh, dv);
    assert_true(nvalid > 0 && nvalid < ct_numel(wv));
    assert_true(dh == 0 && dv == 0);
    assert_int_equal(ct_dtype_of(h), CT_I64);
    ws_reader_close(r);
    ct_scope_end();
}

static void check_loss(ws_reader *r, const char *g, int expect_zero) {
    ct_tensor *logits = ht_must(r, g, "logits");
    ct_set_requires_grad(logits, 1);
    ct_tensor *props[2], *midx[2];
    rt_target t[2];
    char name[32];
    for (int i = 0; i < 2; i++) {
        memset(&t[i], 0, sizeof t[i]);
        snprintf(name, sizeof name, "prop%d", i);
        props[i] = ht_must(r, g, name);
        snprintf(name, sizeof name, "midx%d", i);
        midx[i] = ht_must(r, g, name);
        snprintf(name, sizeof name, "gt%d", i);
        t[i].keypoints = ht_must(r, g, name);
    }
    ct_tensor *loss = rl_keypointrcnn_loss(logits, (const ct_tensor *const *)props, (const ct_tensor *const *)midx, t, 2);
    if (!loss) print_error("%s\n", hnd_error());
    assert_non_null(loss);
    double got, want = ht_scalar(r, g, "value");
    assert_int_equal(ct_item_f64(loss, &got), 0);
    assert_int_equal(ct_backward(loss), 0);
    ct_tensor *grad = ct_grad(logits);
    assert_non_null(grad);
    double dg = ht_max_diff(grad, ht_must(r, g, "grad"), "gradient");
    print_message("keypointrcnn_loss (%s): %.7f (torchvision %.7f), max |grad diff| %.3g\n", g, got, want, dg);
    assert_near(got, want, 1e-6 * fmax(1, fabs(want)));
    assert_true(dg <= 1e-7);
    if (expect_zero) assert_true(got == 0);
    else assert_true(got > 1);
}

static void test_keypoint_loss(void **state) {
    (void)state;
    ct_scope_begin();
    ws_reader *r = open_ref("ops.h5");
    assert_non_null(r);
    check_loss(r, "loss", 0);
    check_loss(r, "loss_none", 1);
    /* a target without keypoints is named */
    ct_tensor *p = ht_must(r, "loss", "prop0"), *m = ht_must(r, "loss", "midx0");
    rt_target t;
    memset(&t, 0, sizeof t);
    int64_t s[4] = {5, 17, 56, 56};
    assert_null(rl_keypointrcnn_loss(ct_zeros(s, 4, CT_F32, ct_cpu()), (const ct_tensor *const *)&p,
                                     (const ct_tensor *const *)&m, &t, 1));
    print_message("expected error: %s\n", hnd_error());
    assert_non_null(strstr(hnd_error(), "target 0: keypoints NULL"));
    ws_reader_close(r);
    ct_scope_end();
}

/* ------------------------------------------------------------- detectors */

typedef struct {
    const char *name, *arch, *pth;   /* pth: the weights' file name without .pth */
} kp_case;
static const kp_case k_r18 = {"keypoint_r18_small", "keypoint_rcnn_resnet18_fpn", "keypoint_r18_small"};
static const kp_case k_r50 = {"keypoint_r50_small", "keypoint_rcnn_resnet50_fpn",
                              "keypointrcnn_resnet50_fpn_coco-fc266e95"};

/* hnd import-torchvision DIR/<pth_name>.pth (once: a later call reuses it). */
static int import_pth(const char *pth_name, char *h5, size_t n) {
    const char *bin = getenv("HND_BIN_DIR");
    snprintf(h5, n, "%s/%s.h5w", g_dir, pth_name);
    if (tu_file_exists(h5)) return 0;
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s/hnd' import-torchvision '%s/%s.pth' '%s' --quiet", bin && *bin ? bin : ".", g_dir,
             pth_name, h5);
    int st = system(cmd);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* The CASES of ref_keypoint_rcnn.py: torchvision's defaults but the sizes. */
static void config_of(const char *arch, rcnn_config *cfg) {
    assert_int_equal(rcnn_config_default(cfg, arch), 0);
    assert_int_equal(cfg->box.num_classes, 2);
    assert_int_equal(cfg->keypoint.num_keypoints, 17);
    cfg->transform.min_size = 320;
    cfg->transform.max_size = 512;
    cfg->box.detections_per_img = 4;   /* DETS of the reference */
}

/* Detections of image i against det<i>. */
static void compare(ws_reader *r, int i, const rcnn_detections *d, const char *name) {
    char g[32];
    snprintf(g, sizeof g, "det%d", i);
    ct_tensor *rb = ht_must(r, g, "boxes"), *rs = ht_must(r, g, "scores"), *rl = ht_must(r, g, "labels");
    ct_tensor *rk = ht_must(r, g, "keypoints"), *rks = ht_must(r, g, "keypoints_scores");
    int64_t n = ct_numel(rs), m = ct_numel(d->scores);
    assert_int_equal(m, n);
    assert_true(n > 0);
    assert_non_null(d->keypoints);
    assert_non_null(d->keypoint_scores);
    const int64_t K = ct_size(rk, 1);
    assert_int_equal(ct_size(d->keypoints, 0), n);
    assert_int_equal(ct_size(d->keypoints, 1), K);
    assert_int_equal(ct_size(d->keypoints, 2), 3);
    double *eb = ht_values(rb, NULL), *es = ht_values(rs, NULL), *el = ht_values(rl, NULL);
    double *ob = ht_values(d->boxes, NULL), *os = ht_values(d->scores, NULL), *ol = ht_values(d->labels, NULL);
    double *ek = ht_values(rk, NULL), *eks = ht_values(rks, NULL);
    double *ok = ht_values(d->keypoints, NULL), *oks = ht_values(d->keypoint_scores, NULL);
    char *used = calloc((size_t)n, 1);
    int64_t kp_close = 0, kp_total = 0;
    double max_box = 0, max_score = 0, max_kp = 0, max_kps = 0;
    for (int64_t a = 0; a < n; a++) {
        int64_t b = -1;
        for (int64_t k = 0; k < n && b < 0; k++) {
            int64_t c = (a + k) % n;
            double db = 0;
            for (int q = 0; q < 4; q++) db = fmax(db, fabs(ob[4 * c + q] - eb[4 * a + q]));
            if (!used[c] && ol[c] == el[a] && db <= 0.01 && fabs(os[c] - es[a]) <= 1e-4) b = c;
        }
        if (b < 0) {
            print_error("%s image %d: torchvision detection %lld (score %.6f) has no match\n", name, i, (long long)a,
                        es[a]);
            fail();
        }
        used[b] = 1;
        for (int q = 0; q < 4; q++) max_box = fmax(max_box, fabs(ob[4 * b + q] - eb[4 * a + q]));
        max_score = fmax(max_score, fabs(os[b] - es[a]));
        /* one heatmap cell of this box: its size / 56 */
        const double cw = (eb[4 * a + 2] - eb[4 * a]) / 56 + 0.01, ch = (eb[4 * a + 3] - eb[4 * a + 1]) / 56 + 0.01;
        for (int64_t j = 0; j < K; j++) {
            const double *x = ok + 3 * (b * K + j), *y = ek + 3 * (a * K + j);
            double dx = fabs(x[0] - y[0]), dy = fabs(x[1] - y[1]), ds = fabs(oks[b * K + j] - eks[a * K + j]);
            kp_total++;
            if (dx <= 0.01 && dy <= 0.01 && ds <= 1e-3) kp_close++;
            max_kp = fmax(max_kp, fmax(dx, dy));
            max_kps = fmax(max_kps, ds);
            assert_true(x[2] == 1 && y[2] == 1);
            if (!(dx <= fmax(cw, 1.01) && dy <= fmax(ch, 1.01)))
                print_error("%s image %d det %lld keypoint %lld: (%.3f, %.3f) vs torchvision (%.3f, %.3f)\n", name,
                            i, (long long)a, (long long)j, x[0], x[1], y[0], y[1]);
            assert_true(dx <= fmax(cw, 1.01) && dy <= fmax(ch, 1.01));
        }
    }
    print_message("%s image %d: %lld detections; max |box diff| %.3g px, |score diff| %.3g; keypoints: %lld of %lld "
                  "within 0.01 px / 1e-3 score (max diff %.3g px, score %.3g)\n",
                  name, i, (long long)n, max_box, max_score, (long long)kp_close, (long long)kp_total, max_kp,
                  max_kps);
    assert_true(kp_close >= 0.99 * (double)kp_total);
    free(used);
    free(eb); free(es); free(el); free(ob); free(os); free(ol);
    free(ek); free(eks); free(ok); free(oks);
}

static void run_case(const kp_case *c) {
    int64_t live0 = ct_live_tensor_count();
    char file[128];
    snprintf(file, sizeof file, "%s.h5", c->name);
    ws_reader *r = open_ref(file);
    if (!r) {
        if (tu_short_scope()) skip();   /* the short scope's reference writes keypoint_r18_small only */
        fail_msg("%s: not written by ref_keypoint_rcnn.py", file);
    }
    ct_scope_begin();
    char h5[1200];
    assert_int_equal(import_pth(c->pth, h5, sizeof h5), 0);
    sr_probe p;
    assert_int_equal(sr_probe_file(h5, &p), 0);
    char d[160];
    print_message("%s: probe: %s, %d classes, %d keypoints, keypoint head %d channels\n", c->pth,
                  sr_probe_describe(&p, d, sizeof d), p.num_classes, p.num_keypoints, p.keypoint_head_channels);
    assert_string_equal(p.arch, c->arch);
    assert_true(p.keypoint && !p.mask);
    assert_int_equal(p.num_keypoints, 17);
    assert_int_equal(p.keypoint_head_channels, 512);
    assert_int_equal(p.num_classes, 2);
    rcnn_config cfg;
    config_of(c->arch, &cfg);
    rcnn_model *m = rcnn_new(&cfg);
    if (!m) print_error("%s\n", hnd_error());
    assert_non_null(m);
    assert_true(rcnn_has_keypoints(m) && !rcnn_has_masks(m));
    int loaded = rcnn_load(m, h5, 1);
    if (loaded < 0) print_error("%s\n", hnd_error());
    assert_true(loaded > 0);
    ct_tensor *imgs[4];
    int n = 0;
    char name[32];
    for (; n < 4; n++) {
        snprintf(name, sizeof name, "img%d", n);
        if (!(imgs[n] = ht_load(r, "/", name))) break;
    }
    assert_true(n > 0);
    rcnn_detections dets[4];
    double t[RCNN_T_COUNT];
    int rc = rcnn_detect(m, (const ct_tensor *const *)imgs, n, dets, t);
    if (rc != 0) print_error("%s\n", hnd_error());
    assert_int_equal(rc, 0);
    print_message("%s: backbone %.0f ms, rpn %.0f ms, roi_heads (with keypoints) %.0f ms\n", c->name,
                  t[RCNN_T_BACKBONE], t[RCNN_T_RPN], t[RCNN_T_ROI_HEADS]);
    for (int i = 0; i < n; i++) {
        compare(r, i, &dets[i], c->name);
        rcnn_detections_clear(&dets[i]);
    }
    ws_reader_close(r);
    rcnn_destroy(m);
    ct_scope_end();
    assert_int_equal(ct_live_tensor_count(), live0);
}

static void test_detect_r18(void **state) {
    (void)state;
    run_case(&k_r18);
}
static void test_detect_r50(void **state) {
    (void)state;
    run_case(&k_r50);
}

/* A detector of another kind refuses a Keypoint R-CNN file, naming the
 * keypoint keys. */
static void test_wrong_kind(void **state) {
    (void)state;
    char h5[1200];
    if (import_pth(k_r18.pth, h5, sizeof h5) != 0) fail_msg("import of %s: %s", k_r18.pth, hnd_error());
    rcnn_config cfg;
    assert_int_equal(rcnn_config_default(&cfg, "faster_rcnn_resnet18_fpn"), 0);
    cfg.box.num_classes = 2;
    rcnn_model *a = rcnn_new(&cfg);
    assert_int_equal(rcnn_load(a, h5, 1), -1);
    print_message("expected error: %.200s...\n", hnd_error());
    assert_non_null(strstr(hnd_error(), "roi_heads.keypoint_head.0.weight"));
    rcnn_destroy(a);
}

/* The split type: a teacher's head then tail gives sr_detect's keypoints;
 * a student (bottleneck C=2 from the teacher's file) detects keypoints. */
static void test_split(void **state) {
    (void)state;
    ws_reader *r = open_ref("keypoint_r18_small.h5");
    if (!r) fail_msg("keypoint_r18_small.h5: not written by ref_keypoint_rcnn.py");
    ct_scope_begin();
    char h5[1200];
    assert_int_equal(import_pth(k_r18.name, h5, sizeof h5), 0);
    sr_probe p;
    assert_int_equal(sr_probe_file(h5, &p), 0);
    rcnn_config cfg;
    assert_int_equal(sr_probe_config(&p, &cfg), 0);
    cfg.transform.min_size = 320;
    cfg.transform.max_size = 512;
    cfg.box.detections_per_img = 2;   /* the keypoint head's cost is per box */
    ct_tensor *img = ht_must(r, "/", "img0");
    for (int student = 0; student < 2; student++) {
        sr_bottleneck_spec bn = {.channels = student ? 2 : 0, .kind = -1};
        sr_model *m = sr_new(&cfg, &bn);
        assert_non_null(m);
        assert_true(sr_has_keypoints(m));
        ct_manual_seed(5);
        int rc = student ? sr_load_from_teacher(m, h5) : sr_load(m, h5);
        if (rc != 0) print_error("%s\n", hnd_error());
        assert_int_equal(rc, 0);
        rcnn_detections whole, split;
        assert_int_equal(sr_detect(m, (const ct_tensor *const *)&img, 1, &whole), 0);
        sr_link link;
        assert_int_equal(sr_head(m, (const ct_tensor *const *)&img, 1, 32, &link, NULL), 0);
        assert_int_equal(sr_tail(m, &link, &split, NULL), 0);
        assert_non_null(whole.keypoints);
        assert_non_null(split.keypoints);
        assert_true(ct_numel(whole.scores) > 0);
        double dk = ht_max_diff(whole.keypoints, split.keypoints, "keypoints");
        double ds = ht_max_diff(whole.keypoint_scores, split.keypoint_scores, "keypoint scores");
        print_message("%s: %lld detections, head+tail vs whole: keypoints %g, scores %g\n",
                      student ? "student C=2" : "teacher", (long long)ct_numel(whole.scores), dk, ds);
        assert_true(dk == 0 && ds == 0);
        rcnn_detections_clear(&whole);
        rcnn_detections_clear(&split);
        sr_link_clear(&link);
        sr_destroy(m);
    }
    ws_reader_close(r);
    ct_scope_end();
}

int main(void) {
    const char *th = getenv("HND_THREADS");
    ct_set_num_threads(th && *th ? atoi(th) : 0);
    const struct CMUnitTest all[] = {
        cmocka_unit_test(test_heatmaps_to_keypoints), cmocka_unit_test(test_keypoints_to_heatmap),
        cmocka_unit_test(test_keypoint_loss),         cmocka_unit_test(test_detect_r18),
        cmocka_unit_test(test_split),                 cmocka_unit_test(test_wrong_kind),
        cmocka_unit_test(test_detect_r50),
    };
    return cmocka_run_group_tests(all, group_setup, group_teardown);
}
