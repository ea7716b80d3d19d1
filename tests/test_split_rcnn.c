/* test_split_rcnn.c: models/split_rcnn.h, the one split detector.
 *  - the probe on weight files written by torchvision (tests/py/make_teacher.py:
 *    a demo-like shrunk Mask R-CNN R18 teacher and its student with the
 *    reference's C=3 bottleneck) and on a file hnd writes itself (a
 *    ResNet-50 student with other widths), ck_is_student on both;
 *  - head then tail gives the whole model's detections bit for bit on the
 *    CPU (student at 8, 16 and 32 bits, teacher), and what the link holds;
 *  - strict loading names the keys and says what the file holds; a student
 *    from its teacher's file; stages and trainable flags. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ckpt.h"
#include "hnd_error.h"
#include "heads_test_util.h"
#include "split_rcnn.h"
#include "test_util.h"
#include "wstore.h"

static char g_dir[512], g_teacher[700], g_student[700];

#define SHRINK "--depth 18 --num-classes 22 --mask --fpn-channels 64 --representation-size 256 " \
               "--mask-channels 64 --anchor-sizes 8,16,32,64,128"

static int group_setup(void **state) {
    (void)state;
    char cmd[2048];
    tu_tmp(g_dir, sizeof g_dir, "split_rcnn");
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", g_dir);
    if (system(cmd) != 0) return -1;
    snprintf(g_teacher, sizeof g_teacher, "%s/teacher.h5", g_dir);
    snprintf(g_student, sizeof g_student, "%s/student.h5", g_dir);
    snprintf(cmd, sizeof cmd, "make_teacher.py '%s' " SHRINK " > /dev/null", g_teacher);
    if (tu_python(cmd) != 0) return -1;
    snprintf(cmd, sizeof cmd, "make_teacher.py '%s' " SHRINK " --student 3 --seed 1 > /dev/null", g_student);
    return tu_python(cmd) == 0 ? 0 : -1;
}

static int group_teardown(void **state) {
    (void)state;
    tu_cleanup(g_dir);
    return 0;
}

static void must(int rc, const char *what) {
    if (rc != 0) {
        print_error("%s: %s\n", what, hnd_error());
        fail();
    }
}

static void must_contain(const char *what) {
    if (!strstr(hnd_error(), what)) {
        print_error("error without '%s': %s\n", what, hnd_error());
        fail();
    }
}

/* The model of a file as every command builds it: probe, config, load. */
static sr_model *open_file(const char *path, int bits) {
    sr_probe p;
    rcnn_config rc;
    sr_bottleneck_spec bn;
    must(sr_probe_file(path, &p), "probe");
    must(sr_probe_config(&p, &rc), "probe config");
    rc.transform.min_size = 96;   /* small images: quick */
    rc.transform.max_size = 160;
    sr_probe_bottleneck(&p, &bn);
    bn.bits = bits;
    sr_model *m = sr_new(&rc, &bn);
    assert_non_null(m);
    must(sr_load(m, path), "load");
    rcnn_set_score_thresh(sr_rcnn(m), 0.0);   /* random weights: keep every detection */
    return m;
}

/* ------------------------------------------------------------ probe */

static void test_probe_torchvision_files(void **state) {
    (void)state;
    sr_probe p;
    must(sr_probe_file(g_teacher, &p), "probe teacher");
    assert_string_equal(p.arch, "mask_rcnn_resnet18_fpn");
    assert_int_equal(p.mask, 1);
    assert_int_equal(p.depth, 18);
    assert_int_equal(p.num_classes, 22);
    assert_int_equal(p.channels, 0);
    assert_int_equal(p.kind, -1);
    assert_int_equal(p.fpn_out_channels, 64);
    assert_int_equal(p.representation_size, 256);
    assert_int_equal(p.mask_head_channels, 64);
    assert_int_equal(p.anchors_per_location, 3);
    assert_int_equal(ck_is_student(g_teacher), 0);

    must(sr_probe_file(g_student, &p), "probe student");
    assert_string_equal(p.arch, "mask_rcnn_resnet18_fpn");
    assert_int_equal(p.channels, 3);
    assert_int_equal(p.kind, STU_SMALL);
    assert_int_equal(p.fpn_out_channels, 64);
    assert_int_equal(p.num_classes, 22);
    assert_int_equal(ck_is_student(g_student), 1);
    rcnn_config rc;
    must(sr_probe_config(&p, &rc), "config");
    assert_int_equal(rc.backbone.fpn_out_channels, 64);
    assert_int_equal(rc.box.representation_size, 256);
    assert_int_equal(rc.mask.conv_channels, 64);
    assert_int_equal(rc.box.num_classes, 22);
    char buf[160];
    assert_non_null(strstr(sr_probe_describe(&p, buf, sizeof buf), "C=3"));
}

/* A ResNet-50 Faster R-CNN student of other widths, written by hnd. */
static void test_probe_hnd_file(void **state) {
    (void)state;
    rcnn_config rc;
    must(rcnn_config_default(&rc, "faster_rcnn_resnet50_fpn"), "config");
    rc.backbone.fpn_out_channels = 32;
    rc.box.representation_size = 64;
    rc.box.num_classes = 5;
    sr_bottleneck_spec bn = {5, -1, 8, 0};
    sr_model *m = sr_new(&rc, &bn);
    assert_non_null(m);
    assert_int_equal(sr_is_student(m), 1);
    assert_int_equal(sr_channels(m), 5);
    assert_int_equal(sr_bits(m), 8);
    char path[800];
    snprintf(path, sizeof path, "%s/r50_student.h5", g_dir);
    ws_writer *w = ws_writer_open(path);
    assert_non_null(w);
    must(mp_params_save(sr_params(m), w), "save");
    must(ws_writer_commit(w), "commit");
    sr_destroy(m);
    sr_probe p;
    must(sr_probe_file(path, &p), "probe");
    assert_string_equal(p.arch, "faster_rcnn_resnet50_fpn");
    assert_int_equal(p.depth, 50);
    assert_int_equal(p.mask, 0);
    assert_int_equal(p.num_classes, 5);
    assert_int_equal(p.channels, 5);
    assert_int_equal(p.kind, STU_LARGE);
    assert_int_equal(p.fpn_out_channels, 32);
    assert_int_equal(p.representation_size, 64);
    assert_int_equal(p.mask_head_channels, 0);
    assert_int_equal(ck_is_student(path), 1);

    /* errors: no file, anchors the generator cannot make */
    assert_int_equal(sr_probe_file("/nonexistent/w.h5", &p), -1);
    must_contain("/nonexistent/w.h5");
    assert_int_equal(ck_is_student("/nonexistent/w.h5"), -1);
    must(sr_probe_file(path, &p), "probe");
    p.anchors_per_location = 9;
    assert_int_equal(sr_probe_config(&p, &rc), -1);
    must_contain("anchors per location");
}

/* ------------------------------------------------------------ head | tail */

static ct_tensor **two_images(void) {
    static const int64_t s0[3] = {3, 100, 150}, s1[3] = {3, 120, 90};
    ct_tensor **im = calloc(2, sizeof *im);
    ct_manual_seed(7);
    im[0] = ct_rand(s0, 3, CT_F32, ct_cpu());
    im[1] = ct_rand(s1, 3, CT_F32, ct_cpu());
    assert_non_null(im[0]);
    assert_non_null(im[1]);
    return im;
}

static void same_detections(const rcnn_detections *a, const rcnn_detections *b, int masks) {
    assert_true(ct_size(a->boxes, 0) > 0);
    assert_true(ht_max_diff(a->boxes, b->boxes, "boxes") == 0.0);
    assert_true(ht_max_diff(a->scores, b->scores, "scores") == 0.0);
    assert_true(ht_max_diff(a->labels, b->labels, "labels") == 0.0);
    if (masks) assert_true(ht_max_diff(a->masks, b->masks, "masks") == 0.0);
}

/* Whole vs head then tail; returns the link's bits. */
static int compare_split(sr_model *m, ct_tensor **im, int bits) {
    rcnn_detections whole[2], split[2];
    must(sr_detect(m, (const ct_tensor *const *)im, 2, whole), "whole");
    sr_link link;
    double t[SR_T_COUNT];
    must(sr_head(m, (const ct_tensor *const *)im, 2, 0, &link, t), "head");
    must(sr_tail(m, &link, split, t), "tail");
    for (int i = 0; i < 2; i++) {
        same_detections(&whole[i], &split[i], sr_has_masks(m));
        rcnn_detections_clear(&whole[i]);
        rcnn_detections_clear(&split[i]);
    }
    for (int p = 0; p < SR_T_COUNT; p++) assert_true(t[p] >= 0);
    /* the link: host memory, the padded batch's sizes */
    assert_int_equal(ct_device_of(link.z).type, CT_CPU);
    assert_int_equal(link.n, 2);
    assert_int_equal(link.padded_hw[0] % 32, 0);
    assert_int_equal(link.sizes[0][0], 95);   /* 100 x float32(96/100) = 95.99.. -> 95 */
    assert_int_equal(link.orig_sizes[1][0], 120);
    int b = link.bits;
    int64_t s[4];
    assert_int_equal(ct_shape(link.z, s, 4), 4);
    assert_int_equal(s[0], 2);
    if (sr_is_student(m)) {
        assert_int_equal(s[1], sr_channels(m));
        assert_int_equal(s[2], link.padded_hw[0] / 4 + 4);
        assert_int_equal(ct_dtype_of(link.z), b == 8 ? CT_U8 : b == 16 ? CT_F16 : CT_F32);
        for (int i = 0; b == 8 && i < 2; i++)
            assert_true(link.scale[i] > 0 && link.zero_point[i] >= 0 && link.zero_point[i] <= 255);
    } else {
        assert_int_equal(s[1], 64);   /* ResNet-18's layer1 */
        assert_int_equal(ct_dtype_of(link.z), CT_F32);
    }
    sr_link_clear(&link);
    sr_link_clear(&link);   /* idempotent */
    (void)bits;
    return b;
}

static void test_split_equals_whole_student(void **state) {
    (void)state;
    ct_tensor **im = two_images();
    sr_model *m = open_file(g_student, 8);
    static const int bits[3] = {8, 16, 0};
    static const int want[3] = {8, 16, 32};
    for (int k = 0; k < 3; k++) {
        must(sr_set_bits(m, bits[k]), "bits");
        assert_int_equal(compare_split(m, im, bits[k]), want[k]);
    }
    /* an explicit link width overrides the model's transformer */
    sr_link link;
    must(sr_head(m, (const ct_tensor *const *)im, 2, 16, &link, NULL), "head 16");
    assert_int_equal(link.bits, 16);
    sr_link_clear(&link);
    assert_int_equal(sr_head(m, (const ct_tensor *const *)im, 2, 12, &link, NULL), -1);
    assert_null(link.z);
    sr_destroy(m);
    for (int i = 0; i < 2; i++) ct_destroy(im[i]);
    free(im);
}

static void test_split_equals_whole_teacher(void **state) {
    (void)state;
    ct_tensor **im = two_images();
    sr_model *m = open_file(g_teacher, 0);
    assert_int_equal(sr_is_student(m), 0);
    assert_int_equal(compare_split(m, im, 8), 32);   /* a teacher sends layer1 as floats */
    sr_destroy(m);
    for (int i = 0; i < 2; i++) ct_destroy(im[i]);
    free(im);
}

/* ------------------------------------------------------------ weights */

static sr_model *build(const char *path, int64_t channels) {
    sr_probe p;
    rcnn_config rc;
    must(sr_probe_file(path, &p), "probe");
    must(sr_probe_config(&p, &rc), "config");
    sr_bottleneck_spec bn = {channels, -1, 0, 0};
    sr_model *m = sr_new(&rc, &bn);
    assert_non_null(m);
    return m;
}

static void test_strict_load_errors(void **state) {
    (void)state;
    sr_model *t = build(g_teacher, 0);
    assert_int_equal(sr_load(t, g_student), -1);
    must_contain("holds a student (C=3, Bottleneck4SmallResNet) of mask_rcnn_resnet18_fpn");
    must_contain("missing key(s): backbone.body.layer1.0.conv1.weight");
    must_contain("unexpected key(s): backbone.body.layer1.");
    must(sr_load(t, g_teacher), "teacher into teacher");

    sr_model *s4 = build(g_student, 4);
    assert_int_equal(sr_load(s4, g_student), -1);
    must_contain("the model is mask_rcnn_resnet18_fpn+bottleneck(C=4)");
    must_contain("backbone.body.layer1.encoder.7.weight (file [3,64,2,2], model [4,64,2,2])");
    assert_int_equal(sr_load(s4, g_teacher), -1);
    must_contain("holds a teacher mask_rcnn_resnet18_fpn");
    sr_destroy(s4);

    /* torchvision's widths against the shrunk file: every head width named */
    rcnn_config rc;
    must(rcnn_config_default(&rc, "mask_rcnn_resnet18_fpn"), "config");
    rc.box.num_classes = 22;
    sr_model *wide = sr_new(&rc, NULL);
    assert_non_null(wide);
    assert_int_equal(sr_load(wide, g_teacher), -1);
    must_contain("mis-shaped key(s): ");
    must_contain("backbone.fpn.");
    sr_destroy(wide);
    sr_destroy(t);
}

static void test_student_from_teacher(void **state) {
    (void)state;
    sr_model *t = build(g_teacher, 0), *s = build(g_teacher, 3);
    must(sr_load(t, g_teacher), "teacher");
    ct_manual_seed(3);
    must(sr_load_from_teacher(s, g_teacher), "student from teacher");
    static const char *const keys[] = {"backbone.body.conv1.weight", "backbone.body.layer3.1.conv2.weight",
                                       "roi_heads.box_head.fc6.weight", "roi_heads.mask_predictor.conv5_mask.weight"};
    for (int i = 0; i < 4; i++)
        assert_true(ht_max_diff(mp_params_get(sr_params(t), keys[i]), mp_params_get(sr_params(s), keys[i]), keys[i]) ==
                    0.0);
    /* the bottleneck initialised (Kaiming normal), not left at zero */
    assert_true(ht_max_abs(mp_params_get(sr_params(s), "backbone.body.layer1.encoder.0.weight")) > 0);
    assert_int_equal(sr_load_from_teacher(s, g_student), -1);
    must_contain("not a teacher of this student");
    assert_int_equal(sr_load_from_teacher(t, g_teacher), -1);
    sr_destroy(s);
    sr_destroy(t);
}

/* ------------------------------------------------------------ training */

static void test_stages_and_trainable(void **state) {
    (void)state;
    sr_model *s = build(g_student, 3), *t = build(g_teacher, 0);
    must(sr_load(s, g_student), "student");
    must(sr_load(t, g_teacher), "teacher");
    const int64_t shape[4] = {1, 3, 64, 96};
    ct_manual_seed(5);
    ct_tensor *x = ct_rand(shape, 4, CT_F32, ct_cpu());
    static const int64_t want[3][3] = {{64, 16, 24}, {64, 16, 24}, {128, 8, 12}};
    for (int k = 0; k < 2; k++) {
        ct_tensor *out[5];
        must(sr_stages(k ? t : s, x, 2, out), "stages");
        for (int i = 0; i < 3; i++) {
            int64_t sh[4];
            assert_int_equal(ct_shape(out[i], sh, 4), 4);
            assert_memory_equal(sh + 1, want[i], sizeof want[i]);
            ct_destroy(out[i]);
        }
        assert_null(out[3]);
    }
    ct_tensor *out[5];
    assert_int_equal(sr_stages(s, x, 5, out), -1);
    ct_destroy(x);

    const char frozen[][128] = {"backbone.body.layer2", "backbone.body.layer3", "backbone.body.layer4",
                                "backbone.fpn", "rpn", "roi_heads"};
    int n = sr_set_trainable(s, frozen, 6);
    assert_true(n > 0);
    assert_int_equal(ct_requires_grad(mp_params_get(sr_params(s), "backbone.body.layer1.encoder.0.weight")), 1);
    assert_int_equal(ct_requires_grad(mp_params_get(sr_params(s), "backbone.body.layer2.0.conv1.weight")), 0);
    assert_int_equal(sr_set_trainable(t, frozen, 6), 0);   /* a teacher trains nothing */
    must(sr_freeze(s), "freeze");
    assert_int_equal(ct_requires_grad(mp_params_get(sr_params(s), "backbone.body.layer1.encoder.0.weight")), 0);
    sr_set_training(s, 1);
    assert_int_equal(sr_is_training(s), 1);
    sr_set_training(s, 0);
    char label[128];
    assert_string_equal(sr_label(s, label, sizeof label), "mask_rcnn_resnet18_fpn+bottleneck(C=3)");
    assert_string_equal(sr_label(t, label, sizeof label), "mask_rcnn_resnet18_fpn");
    sr_destroy(s);
    sr_destroy(t);
    sr_destroy(NULL);
}

int main(void) {
    ct_set_num_threads(0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_torchvision_files),
        cmocka_unit_test(test_probe_hnd_file),
        cmocka_unit_test(test_split_equals_whole_student),
        cmocka_unit_test(test_split_equals_whole_teacher),
        cmocka_unit_test(test_strict_load_errors),
        cmocka_unit_test(test_student_from_teacher),
        cmocka_unit_test(test_stages_and_trainable),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
