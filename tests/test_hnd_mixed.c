/* test_hnd_mixed.c: the reference's mixed loss (org_loss_factor > 0 with
 * distill_backbone_only false, train/hnd_mixed.h) against torchvision 0.14
 * (tests/py/ref_hnd_mixed.py): a ResNet-18 FPN teacher and its C=3 student,
 * frozen as HND freezes it, on two images with boxes (and masks); the loss,
 * its distillation part, each detection loss, and the gradient of every
 * trainable student tensor (conv1 and the bottleneck) equal the reference's.
 * Both samplers take every candidate, so randperm does not matter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "heads_test_util.h"
#include "hnd_error.h"
#include "hnd_mixed.h"
#include "hnd_model.h"
#include "model_params.h"
#include "test_util.h"
#include "wstore.h"

static char g_dir[1024];

static int setup(void **state) {
    (void)state;
    tu_tmp(g_dir, sizeof g_dir, "hnd_mixed");
    char cmd[2048];
    /* the sanitizer pass: the Faster R-CNN case only */
    const char *scope = getenv("HND_TEST_SCOPE");
    snprintf(cmd, sizeof cmd, "ref_hnd_mixed.py %s%s", g_dir, scope && !strcmp(scope, "short") ? " faster" : "");
    return tu_python(cmd) == 0 ? 0 : -1;
}

/* The reference's config, as ref_hnd_mixed.py builds its models. */
static void make_config(const char *name, tc_config *c) {
    char js[4096], teacher[1200];
    snprintf(teacher, sizeof teacher, "%s/%s_teacher.h5", g_dir, name);
    const char *params = "\"num_classes\": 22, \"min_size\": 64, \"max_size\": 96, \"fpn_out_channels\": 64, "
                         "\"representation_size\": 256, \"mask_head_channels\": 64, "
                         "\"anchor_sizes\": [8, 16, 32, 64, 128], \"rpn_batch_size_per_image\": 100000, "
                         "\"box_batch_size_per_image\": 100000";
    const char *det = strcmp(name, "mask") == 0 ? "mask_rcnn" : "faster_rcnn";
    snprintf(js, sizeof js,
             "{\"dataset\": {},\n"
             " \"teacher_model\": {\"name\": \"%s\", \"backbone\": {\"name\": \"resnet18\"}, \"params\": {%s},"
             " \"ckpt\": \"%s\"},\n"
             " \"student_model\": {\"name\": \"%s\", \"backbone\": {\"name\": \"custom_resnet18\", \"params\": "
             "{\"layer1\": {\"name\": \"Bottleneck4SmallResNet\", \"bottleneck_channel\": 3}}}, \"params\": {%s},"
             " \"distill_backbone_only\": false, \"frozen_modules\": [\"backbone.body.layer2\", "
             "\"backbone.body.layer3\", \"backbone.body.layer4\", \"backbone.fpn\", \"rpn\", \"roi_heads\"]},\n"
             " \"train\": {\"num_epochs\": 1, \"batch_size\": 2, \"optimizer\": {\"type\": \"Adam\", \"params\": "
             "{\"lr\": 0.001}}, \"criterion\": {\"type\": \"general\", \"params\": {\"org_loss_factor\": 5000},"
             " \"terms\": {\"layer1\": {\"ts_modules\": [\"backbone.body.layer1\", \"backbone.body.layer1\"],"
             " \"criterion\": {\"type\": \"MSELoss\", \"params\": {\"reduction\": \"sum\"}}, \"factor\": 1},"
             " \"layer4\": {\"ts_modules\": [\"backbone.body.layer4\", \"backbone.body.layer4\"],"
             " \"criterion\": {\"type\": \"MSELoss\", \"params\": {\"reduction\": \"sum\"}}, \"factor\": 1}}}}}\n",
             det, params, teacher, det, params);
    if (tc_parse(js, strlen(js), "mixed.json", NULL, 0, c) != 0) fail_msg("%s", hnd_error());
}

static void run_case(const char *name) {
    char ref[1200], student_h5[1200];
    snprintf(ref, sizeof ref, "%s/%s_ref.h5", g_dir, name);
    snprintf(student_h5, sizeof student_h5, "%s/%s_student.h5", g_dir, name);
    if (!tu_file_exists(ref)) {
        if (tu_short_scope()) skip();   /* the short scope's reference writes the Faster case only */
        fail_msg("%s: not written by ref_hnd_mixed.py", ref);
    }
    tc_config c;
    make_config(name, &c);
    ct_scope_begin();
    sr_model *t = hm_new_teacher(&c.teacher), *s = hm_new_student(&c.student);
    if (!t || !s) fail_msg("%s", hnd_error());
    if (sr_load(t, c.teacher.ckpt) != 0 || sr_load(s, student_h5) != 0) fail_msg("%s", hnd_error());
    int nt = sr_set_trainable(s, (const char(*)[128])c.student.frozen, c.student.n_frozen);
    assert_true(nt > 0);
    sr_set_training(s, 1);
    ws_reader *r = ws_reader_open(ref);
    assert_non_null(r);
    const int masks = sr_has_masks(s);
    ct_tensor *imgs[2];
    rt_target tg[2];
    for (int i = 0; i < 2; i++) {
        char g[16];
        snprintf(g, sizeof g, "img%d", i);
        imgs[i] = ht_must(r, "/", g);
        snprintf(g, sizeof g, "tgt%d", i);
        memset(&tg[i], 0, sizeof tg[i]);
        tg[i].boxes = ht_must(r, g, "boxes");
        tg[i].labels = ht_must(r, g, "labels");
        if (masks) tg[i].masks = ht_must(r, g, "masks");
    }
    ct_tensor *loss;
    hx_parts parts;
    if (hx_batch_loss(&c, t, s, (const ct_tensor *const *)imgs, tg, 2, 0, NULL, &loss, &parts) != 0)
        fail_msg("%s", hnd_error());
    double want = ht_scalar(r, "loss", "total"), wd = ht_scalar(r, "loss", "distill");
    print_message("%s: loss %.4f (torchvision %.4f), distillation %.4f (%.4f)\n", name, parts.total, want,
                  parts.distill, wd);
    assert_true(fabs(parts.total - want) <= 1e-4 * fabs(want));
    assert_true(fabs(parts.distill - wd) <= 1e-4 * fabs(wd));
    for (int i = 0; i < RL_NUM_LOSSES; i++) {
        if (isnan(parts.det[i])) continue;
        double w = ht_scalar(r, "loss", rl_loss_name(i));
        print_message("  %-17s %.6f (torchvision %.6f)\n", rl_loss_name(i), parts.det[i], w);
        assert_true(fabs(parts.det[i] - w) <= 1e-4 + 1e-4 * fabs(w));
    }
    assert_int_equal(ct_backward(loss), 0);
    const char *const *names;
    int count;
    assert_int_equal(ws_reader_list(r, "grad", &names, &count), 0);
    char **keys = malloc(sizeof(char *) * (size_t)count);
    for (int k = 0; k < count; k++) keys[k] = strdup(names[k]);
    /* as many trainable tensors as the reference, each with its gradient */
    mp_params *p = sr_params(s);
    int mine = 0;
    for (int i = 0; i < mp_params_count(p); i++)
        if (mp_params_kind(p, i) == MP_PARAM && ct_requires_grad(mp_params_tensor(p, i)) == 1) mine++;
    assert_int_equal(mine, count);
    /* a tensor's error relative to its largest gradient, or to a thousandth
     * of the largest of all where its own is ~0 (a BN bias followed by a
     * convolution and a batch-statistics BN: a mathematically zero gradient
     * that both sides get as rounding noise) */
    double *mx = malloc(sizeof(double) * (size_t)count), *df = malloc(sizeof(double) * (size_t)count), G = 0;
    for (int k = 0; k < count; k++) {
        ct_tensor *w = ht_must(r, "grad", keys[k]), *g = ct_grad(mp_params_get(p, keys[k]));
        if (!g) fail_msg("%s: no gradient", keys[k]);
        df[k] = ht_max_diff(g, w, keys[k]);
        mx[k] = ht_max_abs(w);
        G = fmax(G, mx[k]);
    }
    double worst = 0;
    const char *worst_name = "";
    for (int k = 0; k < count; k++) {
        double rel = df[k] / fmax(mx[k], 1e-3 * G);
        if (getenv("HND_TEST_VERBOSE")) print_message("  %s: max |grad| %.4g, max |diff| %.3g\n", keys[k], mx[k], df[k]);
        if (rel > worst) worst = rel, worst_name = keys[k];
        if (rel > 1e-3) print_error("%s: max |grad diff| %.3g, max |grad| %.3g\n", keys[k], df[k], mx[k]);
        assert_true(rel <= 1e-3);
    }
    print_message("%s: %d gradients as torchvision's, worst max |diff| / max |grad| %.3g (%s)\n", name, count, worst,
                  worst_name);
    for (int k = 0; k < count; k++) free(keys[k]);
    free(mx);
    free(df);
    free(keys);
    ws_reader_close(r);
    sr_destroy(t);
    sr_destroy(s);
    ct_scope_end();
    tc_clear(&c);
}

static void test_faster(void **state) {
    (void)state;
    run_case("faster");
}

static void test_mask(void **state) {
    (void)state;
    run_case("mask");
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_faster), cmocka_unit_test(test_mask)};
    return cmocka_run_group_tests(tests, setup, NULL);
}
