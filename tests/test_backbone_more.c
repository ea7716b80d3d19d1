/* test_backbone_more.c: the backbones of issue 16 — ResNet-152 and the Wide
 * ResNets (torchvision's width_per_group 128) — against torchvision 0.14
 * (tests/py/ref_backbone_more.py): Wide ResNet-50-2 FPN features on a small
 * batch after `hnd import-torchvision` of torchvision's state dict, every
 * parameter name and shape of ResNet-152's and Wide ResNet-101-2's (their
 * blocks are those of the ResNet-50 / Wide-50-2 whose numbers are checked,
 * here and in test_backbone), the model names, and what the weight-file
 * probe makes of them.
 * HND_TEST_SCOPE=short: Wide ResNet-50-2 only. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "backbone.h"
#include "ctorch.h"
#include "hnd_error.h"
#include "model_params.h"
#include "rcnn_config.h"
#include "split_rcnn.h"
#include "test_util.h"
#include "wstore.h"

static char g_dir[512];
static ws_reader *g_ref;

static const char *path_in(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", g_dir, name);
    return buf;
}

static ct_tensor *ref_tensor(const char *name) {
    ws_tensor t;
    if (ws_reader_get(g_ref, "ref", name, &t) != 0) fail_msg("reference %s: %s", name, hnd_error());
    ct_tensor *c = ct_from_buffer(t.data, t.dtype, t.ndim, t.shape);
    ws_tensor_clear(&t);
    assert_non_null(c);
    return c;
}

static int import(const char *stem) {
    char cmd[2048], a[600], b[600], pth[64], h5[64];
    const char *bin = getenv("HND_BIN_DIR");
    snprintf(pth, sizeof pth, "%s.pth", stem);
    snprintf(h5, sizeof h5, "%s.h5", stem);
    snprintf(cmd, sizeof cmd, "%s/hnd import-torchvision %s %s > /dev/null", bin && *bin ? bin : ".",
             path_in(a, sizeof a, pth), path_in(b, sizeof b, h5));
    return system(cmd) == 0 ? 0 : -1;
}

static int setup(void **state) {
    (void)state;
    ct_set_num_threads(0);
    tu_tmp(g_dir, sizeof g_dir, "ref_backbone_more");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", g_dir);
    if (system(cmd) != 0) return -1;
    snprintf(cmd, sizeof cmd, "ref_backbone_more.py %s %s > %s/ref.log 2>&1", g_dir, tu_short_scope() ? "--short" : "",
             g_dir);
    if (tu_python(cmd) != 0) {
        fprintf(stderr, "ref_backbone_more.py failed, see %s/ref.log\n", g_dir);
        return -1;
    }
    if (import("wr50") != 0) return -1;
    char p[600];
    g_ref = ws_reader_open(path_in(p, sizeof p, "ref_more.h5"));
    if (!g_ref) fprintf(stderr, "%s\n", hnd_error());
    return g_ref ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    ws_reader_close(g_ref);
    tu_cleanup(g_dir);
    return 0;
}

/* max |got - want| / max(1, max |want|) <= tol */
static void check_close(const char *what, const ct_tensor *got, const ct_tensor *want, double tol) {
    char ga[128], gb[128];
    assert_non_null(got);
    ct_tensor_describe(got, ga, sizeof ga);
    ct_tensor_describe(want, gb, sizeof gb);
    if (strcmp(ga, gb) != 0) fail_msg("%s: got %s, want %s", what, ga, gb);
    ct_scope_begin();
    double diff = NAN, mag = NAN;
    assert_int_equal(ct_item_f64(ct_max(ct_abs(ct_sub(got, want))), &diff), 0);
    assert_int_equal(ct_item_f64(ct_max(ct_abs(want)), &mag), 0);
    ct_scope_end();
    double err = diff / (mag > 1 ? mag : 1);
    print_message("  %-12s max abs diff %.3g (|ref| max %.3g) -> relative %.3g\n", what, diff, mag, err);
    if (!(err <= tol)) fail_msg("%s: error %.3g above %.1g", what, err, tol);
}

static void parity(const char *stem, const char *arch) {
    rcnn_config c;
    if (rcnn_config_default(&c, arch) != 0) fail_msg("%s", hnd_error());
    mp_params *p = mp_params_new();
    bb_backbone *bb = bb_new(p, &c.backbone, 1);
    if (!bb) fail_msg("bb_new %s: %s", arch, hnd_error());
    char h5[64], path[600], key[64];
    snprintf(h5, sizeof h5, "%s.h5", stem);
    int n = mp_params_load(p, path_in(path, sizeof path, h5), 1, NULL, NULL);
    if (n < 0) fail_msg("load %s: %s", h5, hnd_error());
    assert_int_equal(n, mp_params_count(p));
    ct_scope_begin();
    snprintf(key, sizeof key, "%s.batch", stem);
    ct_tensor *x = ref_tensor(key);
    int prev = ct_grad_set_enabled(0);
    ct_tensor *f[BB_NUM_FEATURES];
    if (bb_forward(bb, x, f) != 0) fail_msg("%s", hnd_error());
    ct_grad_set_enabled(prev);
    for (int k = 0; k < BB_NUM_FEATURES; k++) {
        char what[64];
        snprintf(key, sizeof key, "%s.feat%d", stem, k);
        snprintf(what, sizeof what, "%s \"%s\"", stem, bb_feature_name(k));
        check_close(what, f[k], ref_tensor(key), 1e-4);
    }
    ct_scope_end();
    bb_destroy(bb);
    mp_params_destroy(p);
    /* the probe names the architecture from the keys and shapes alone */
    sr_probe pr;
    if (sr_probe_file(path, &pr) != 0) fail_msg("probe: %s", hnd_error());
    if (strcmp(pr.arch, arch) != 0) fail_msg("probe of %s: %s, want %s", h5, pr.arch, arch);
    assert_true(pr.channels == 0);   /* a teacher */
}

static void test_parity_wide50(void **state) {
    (void)state;
    parity("wr50", "faster_rcnn_wide_resnet50_2_fpn");
}

/* What the probe needs to tell the architecture, not the 60M+ values. */
static int probe_keys(const char *name, void *ctx) {
    (void)ctx;
    return (strncmp(name, "backbone.body.layer3.", 21) == 0 && strstr(name, ".bn1.weight")) ||
           strcmp(name, "backbone.body.layer2.0.conv1.weight") == 0 ||
           strcmp(name, "backbone.body.layer2.0.conv3.weight") == 0 || strcmp(name, "backbone.body.conv1.weight") == 0;
}

/* Every registered name with torchvision's shape, no more, no less; then
 * the probe of a file with those names. */
static void shapes(const char *stem, const char *arch, int depth, int wpg) {
    rcnn_config c;
    if (rcnn_config_default(&c, arch) != 0) fail_msg("%s", hnd_error());
    assert_int_equal(c.backbone.depth, depth);
    assert_int_equal(c.backbone.width_per_group, wpg);
    assert_string_equal(c.arch, arch);
    mp_params *p = mp_params_new();
    bb_backbone *bb = bb_new(p, &c.backbone, 1);
    if (!bb) fail_msg("bb_new: %s", hnd_error());
    char path[600], line[512], file[64];
    snprintf(file, sizeof file, "%s.shapes", stem);
    FILE *f = fopen(path_in(path, sizeof path, file), "r");
    assert_non_null(f);
    int seen = 0;
    while (fgets(line, sizeof line, f)) {
        char *save = NULL, *name = strtok_r(line, " \n", &save);
        int64_t want[CT_MAX_DIMS], got[CT_MAX_DIMS];
        int nd = 0;
        for (char *t = strtok_r(NULL, " \n", &save); t && nd < CT_MAX_DIMS; t = strtok_r(NULL, " \n", &save))
            want[nd++] = atoll(t);
        int idx = -1;
        for (int i = 0; i < mp_params_count(p); i++)
            if (strcmp(mp_params_name(p, i), name) == 0) idx = i;
        if (idx < 0) {
            if (strstr(name, "num_batches_tracked")) continue;
            fail_msg("torchvision's %s is not registered", name);
        }
        int gd = ct_shape(mp_params_tensor(p, idx), got, CT_MAX_DIMS);
        if (gd != nd || memcmp(got, want, sizeof(int64_t) * (size_t)nd) != 0)
            fail_msg("%s: %d dims, torchvision's %d (or a different size)", name, gd, nd);
        seen++;
    }
    fclose(f);
    assert_int_equal(seen, mp_params_count(p));
    print_message("  %s FPN backbone: %d tensors as torchvision's\n", arch, seen);
    snprintf(file, sizeof file, "%s_keys.h5", stem);
    ws_writer *w = ws_writer_open(path_in(path, sizeof path, file));
    assert_non_null(w);
    if (mp_params_save_if(p, w, probe_keys, NULL) != 0 || ws_writer_commit(w) != 0) fail_msg("%s", hnd_error());
    bb_destroy(bb);
    mp_params_destroy(p);
    sr_probe pr;
    if (sr_probe_file(path, &pr) != 0) fail_msg("probe: %s", hnd_error());
    /* a backbone alone has no heads: the probe says faster_rcnn_... */
    const char *want = strstr(arch, "_rcnn_");
    if (!strstr(pr.arch, "_rcnn_") || strcmp(strstr(pr.arch, "_rcnn_"), want) != 0)
        fail_msg("probe of %s: %s, want *%s", file, pr.arch, want);
}

static void test_r152_shapes(void **state) {
    (void)state;
    if (tu_short_scope()) skip();
    shapes("r152", "faster_rcnn_resnet152_fpn", 152, 64);
}

static void test_wide101_shapes(void **state) {
    (void)state;
    if (tu_short_scope()) skip();
    shapes("wr101", "mask_rcnn_wide_resnet101_2_fpn", 101, 128);
}

static void test_names(void **state) {
    (void)state;
    static const struct { const char *arch; int depth, wpg; } ok[] = {
        {"faster_rcnn_resnet152_fpn", 152, 64}, {"mask_rcnn_resnet152_fpn", 152, 64},
        {"faster_rcnn_wide_resnet50_2_fpn", 50, 128}, {"mask_rcnn_wide_resnet101_2_fpn", 101, 128},
        {"faster_rcnn_resnet50_fpn", 50, 64}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        rcnn_config c;
        if (rcnn_config_default(&c, ok[i].arch) != 0) fail_msg("%s: %s", ok[i].arch, hnd_error());
        assert_int_equal(c.backbone.depth, ok[i].depth);
        assert_int_equal(c.backbone.width_per_group, ok[i].wpg);
        assert_string_equal(c.arch, ok[i].arch);
    }
    static const char *const bad[] = {"faster_rcnn_wide_resnet18_2_fpn", "faster_rcnn_wide_resnet50_fpn",
                                      "faster_rcnn_resnet200_fpn", "faster_rcnn_wide_resnet152_2_fpn"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rcnn_config c;
        assert_int_equal(rcnn_config_default(&c, bad[i]), -1);
        assert_non_null(strstr(hnd_error(), "unknown architecture"));
    }
    /* BasicBlock ResNets have no width to widen (torchvision refuses too) */
    rcnn_config c;
    assert_int_equal(rcnn_config_default(&c, "faster_rcnn_resnet18_fpn"), 0);
    c.backbone.width_per_group = 128;
    mp_params *p = mp_params_new();
    assert_null(bb_new(p, &c.backbone, 1));
    assert_non_null(strstr(hnd_error(), "width_per_group 128"));
    mp_params_destroy(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_parity_wide50),
        cmocka_unit_test(test_r152_shapes),
        cmocka_unit_test(test_wide101_shapes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
