/* test_train_config.c: experiment configs (train/config.h): the shipped
 * configs load, typos are rejected with their full path, --set overrides
 * (types, creation of paths, errors), defaults, the lr schedule. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "hnd_error.h"

static const char *k_base =
    "{\n"
    "  \"dataset\": {\"name\": \"synth\", \"root\": \"data/synth\", \"num_workers\": 2,\n"
    "    \"aspect_ratio_group_factor\": 3,\n"
    "    \"splits\": {\"train\": {\"images\": \"train\", \"annotations\": \"annotations/instances_train.json\",\n"
    "                         \"remove_non_annotated_imgs\": true, \"jpeg_quality\": null},\n"
    "               \"val\": {\"images\": \"/abs/val\", \"annotations\": \"annotations/instances_val.json\",\n"
    "                       \"remove_non_annotated_imgs\": false}}},\n"
    "  \"teacher_model\": {\"name\": \"faster_rcnn\", \"backbone\": {\"name\": \"resnet50\",\n"
    "      \"params\": {\"pretrained\": true, \"freeze_layers\": true}},\n"
    "    \"params\": {\"num_classes\": 91, \"pretrained\": true}, \"ckpt\": \"t.h5\"},\n"
    "  \"student_model\": {\"name\": \"faster_rcnn\", \"backbone\": {\"name\": \"custom_resnet50\",\n"
    "      \"params\": {\"pretrained\": true, \"freeze_layers\": false,\n"
    "                 \"layer1\": {\"name\": \"Bottleneck4LargeResNet\", \"bottleneck_channel\": 3}}},\n"
    "    \"bottleneck_transformer\": {\"order\": [\"quantizer\", \"dequantizer\"],\n"
    "      \"components\": {\"quantizer\": {\"params\": {\"num_bits\": 8}},\n"
    "                     \"dequantizer\": {\"params\": {\"num_bits\": 8}}}},\n"
    "    \"params\": {\"num_classes\": 91, \"pretrained\": true}, \"distill_backbone_only\": true,\n"
    "    \"frozen_modules\": [\"backbone.body.layer2\", \"backbone.body.layer3\", \"backbone.body.layer4\",\n"
    "                       \"backbone.fpn\", \"rpn\", \"roi_heads\"]},\n"
    "  \"train\": {\"num_epochs\": 20, \"batch_size\": 4, \"log_freq\": 1000,\n"
    "    \"optimizer\": {\"type\": \"Adam\", \"params\": {\"lr\": 0.001}},\n"
    "    \"criterion\": {\"type\": \"general\", \"params\": {\"org_loss_factor\": 0.0},\n"
    "      \"terms\": {\"layer1\": {\"ts_modules\": [\"backbone.body.layer1\", \"backbone.body.layer1\"],\n"
    "                 \"criterion\": {\"type\": \"MSELoss\", \"params\": {\"reduction\": \"sum\"}}, \"factor\": 1.0}}},\n"
    "    \"scheduler\": {\"type\": \"MultiStepLR\", \"params\": {\"milestones\": [5, 15], \"gamma\": 0.1}}},\n"
    "  \"test\": {\"batch_size\": 1}\n"
    "}\n";

static int parse(const char *const *sets, int n, tc_config *c) {
    return tc_parse(k_base, strlen(k_base), "cfg.json", sets, n, c);
}

static void test_base(void **state) {
    (void)state;
    tc_config c;
    if (parse(NULL, 0, &c) != 0) fail_msg("%s", hnd_error());
    assert_int_equal(c.is_org, 0);
    assert_string_equal(c.dataset.train.images, "data/synth/train");
    assert_string_equal(c.dataset.train.annotations, "data/synth/annotations/instances_train.json");
    assert_string_equal(c.dataset.val.images, "/abs/val");
    assert_int_equal(c.dataset.train.remove_non_annotated, 1);
    assert_int_equal(c.dataset.val.remove_non_annotated, 0);
    assert_int_equal(c.dataset.test.present, 0);
    assert_string_equal(c.teacher.arch, "faster_rcnn_resnet50_fpn");
    assert_string_equal(c.student.arch, "faster_rcnn_resnet50_fpn");
    assert_int_equal(c.student.depth, 50);
    assert_int_equal(c.student.bottleneck_channel, 3);
    assert_int_equal(c.student.transform_bits, 8);
    assert_int_equal(c.student.n_frozen, 6);
    assert_string_equal(c.student.frozen[5], "roi_heads");
    assert_true(c.teacher.min_size == 800 && c.teacher.max_size == 1333);
    assert_int_equal(c.train.n_terms, 1);
    assert_int_equal(c.train.terms[0].student_stage, 1);
    assert_int_equal(c.train.terms[0].reduction, 2);
    assert_string_equal(c.train.optimizer, "Adam");
    assert_true(c.train.lr == 0.001 && c.train.beta1 == 0.9 && c.train.beta2 == 0.999 && c.train.eps == 1e-8);
    assert_int_equal(c.train.n_milestones, 2);
    assert_string_equal(c.device, "cpu");
    assert_string_equal(c.output_dir, "runs/cfg");
    assert_string_equal(c.student.ckpt, "runs/cfg/best.h5");
    assert_int_equal(c.test_batch_size, 1);
    assert_non_null(strstr(c.json, "Bottleneck4LargeResNet"));
    /* the schedule: MultiStepLR [5,15] x0.1, warm-up of min(1000, iters-1) */
    assert_true(tc_epoch_lr(&c.train, 0) == 0.001);
    assert_true(tc_epoch_lr(&c.train, 4) == 0.001);
    assert_true(tc_epoch_lr(&c.train, 5) == 0.001 * 0.1);
    assert_true(tc_epoch_lr(&c.train, 19) == 0.001 * 0.1 * 0.1);
    assert_true(tc_warmup_factor(0, 5000) == 0.001);
    assert_true(fabs(tc_warmup_factor(500, 5000) - (0.001 * 0.5 + 0.5)) < 1e-15);
    assert_true(tc_warmup_factor(1000, 5000) == 1.0);
    assert_true(tc_warmup_factor(3, 5) == 1.0 / 1000 * 0.25 + 0.75);
    assert_true(tc_warmup_factor(4, 5) == 1.0);
    assert_true(tc_warmup_factor(0, 1) == 1.0);
    tc_clear(&c);
}

/* A typo anywhere is rejected with its full path. */
static void expect_error(const char *const *sets, int n, const char *needle) {
    tc_config c;
    int rc = parse(sets, n, &c);
    if (rc == 0) fail_msg("accepted, expected an error with '%s'", needle);
    if (!strstr(hnd_error(), needle)) fail_msg("message '%s' lacks '%s'", hnd_error(), needle);
    print_message("  rejected: %s\n", hnd_error());
    assert_null(c.json);
}

static void test_typos(void **state) {
    (void)state;
    const char *a[] = {"train.optimzer.type=SGD"};
    expect_error(a, 1, "cfg.json: train.optimzer: unknown key");
    const char *b[] = {"student_model.backbone.params.layer1.bottleneck_chanel=6"};
    expect_error(b, 1, "student_model.backbone.params.layer1.bottleneck_chanel: unknown key");
    const char *c[] = {"train.criterion.terms.layer1.criterion.parms.reduction=sum"};
    expect_error(c, 1, "train.criterion.terms.layer1.criterion.parms: unknown key");
    const char *d[] = {"dataset.splits.vall.images=x"};
    expect_error(d, 1, "dataset.splits.vall: unknown key");
    const char *e[] = {"seeed=3"};
    expect_error(e, 1, "cfg.json: seeed: unknown key");
    /* the typo in a file, not from --set */
    const char *bad = "{\"dataset\": {}, \"teacher_model\": {\"name\": \"faster_rcnn\", \"backbone\": {\"name\": "
                      "\"resnet50\"}, \"parms\": {}}}";
    tc_config cc;
    assert_int_equal(tc_parse(bad, strlen(bad), "x.json", NULL, 0, &cc), -1);
    assert_non_null(strstr(hnd_error(), "x.json: teacher_model.parms: unknown key"));
    const char *dup = "{\"seed\": 1, \"seed\": 2}";
    assert_int_equal(tc_parse(dup, strlen(dup), "d.json", NULL, 0, &cc), -1);
    assert_non_null(strstr(hnd_error(), "seed: duplicate key"));
    const char *broken = "{\n\"seed\": 1,\n\"x\" 2}";
    assert_int_equal(tc_parse(broken, strlen(broken), "b.json", NULL, 0, &cc), -1);
    assert_non_null(strstr(hnd_error(), "b.json: not valid JSON (near line 3)"));
}

static void test_types(void **state) {
    (void)state;
    const char *a[] = {"train.num_epochs=ten"};
    expect_error(a, 1, "train.num_epochs: expected an integer, got \"ten\"");
    const char *b[] = {"train.num_epochs=2.5"};
    expect_error(b, 1, "train.num_epochs: expected an integer, got 2.5");
    const char *c[] = {"train.optimizer.params.lr=fast"};
    expect_error(c, 1, "train.optimizer.params.lr: expected a number");
    const char *d[] = {"student_model.frozen_modules=[1,2]"};
    expect_error(d, 1, "student_model.frozen_modules: expected a list of strings");
    const char *e[] = {"dataset.splits.train.remove_non_annotated_imgs=1"};
    expect_error(e, 1, "remove_non_annotated_imgs: expected true or false");
    const char *f[] = {"train.scheduler.params.milestones=[15,5]"};
    expect_error(f, 1, "milestones: must be increasing");
    const char *g[] = {"student_model.backbone.params.layer1.name=Bottleneck4SmallResNet"};
    expect_error(g, 1, "does not fit custom_resnet50");
    const char *h[] = {"train.criterion.terms.layer5.ts_modules=[\"backbone.fpn\",\"backbone.fpn\"]"};
    expect_error(h, 1, "train.criterion.terms.layer5.ts_modules: supported modules");
    const char *i[] = {"train.optimizer.params.momentum=0.9"};
    expect_error(i, 1, "train.optimizer.params.momentum: not a parameter of Adam");
    const char *j[] = {"device=gpu"};
    expect_error(j, 1, "device: 'gpu'");
    const char *k[] = {"train.num_epochs"};
    expect_error(k, 1, "expected KEY.PATH=VALUE");
    const char *l[] = {"train.num_epochs.x=3"};
    expect_error(l, 1, "'num_epochs' is not an object");
    const char *m[] = {"student_model.bottleneck_transformer.components.quantizer.params.num_bits=9",
                       "student_model.bottleneck_transformer.components.dequantizer.params.num_bits=9"};
    expect_error(m, 2, "num_bits must be 2..8 or 16, got 9");
    const char *m1[] = {"student_model.bottleneck_transformer.components.quantizer.params.num_bits=1",
                        "student_model.bottleneck_transformer.components.dequantizer.params.num_bits=1"};
    expect_error(m1, 2, "num_bits must be 2..8 or 16, got 1");
    /* the reference's quantize_tensor takes any num_bits; 2..8 fit its uint8 */
    for (int b = 2; b <= 8; b++) {
        char q[128], d[128];
        snprintf(q, sizeof q, "student_model.bottleneck_transformer.components.quantizer.params.num_bits=%d", b);
        snprintf(d, sizeof d, "student_model.bottleneck_transformer.components.dequantizer.params.num_bits=%d", b);
        const char *qd[] = {q, d};
        tc_config cb;
        if (parse(qd, 2, &cb) != 0) fail_msg("num_bits %d: %s", b, hnd_error());
        assert_int_equal(cb.student.transform_bits, b);
        tc_clear(&cb);
    }
    const char *n[] = {"train.criterion.params.org_loss_factor=1"};
    expect_error(n, 1, "org_loss_factor > 0 needs student_model.distill_backbone_only: false");
    const char *o[] = {"dataset.splits.val.jpeg_quality=96"};
    expect_error(o, 1, "dataset.splits.val.jpeg_quality: 96: must be in 1..95");
    const char *p[] = {"train.criterion.params.org_loss_factor=-1", "student_model.distill_backbone_only=false"};
    expect_error(p, 2, "org_loss_factor: must be >= 0");
}

/* The reference's jpeg_quality, org_loss_factor with distill_backbone_only
 * false, and its -transform_bottleneck as train.transform_bottleneck. */
static void test_reference_options(void **state) {
    (void)state;
    tc_config c;
    if (parse(NULL, 0, &c) != 0) fail_msg("%s", hnd_error());
    assert_int_equal(c.dataset.val.jpeg_quality, 0);   /* absent in the base config */
    assert_int_equal(c.student.distill_backbone_only, 1);
    assert_int_equal(c.train.transform_bottleneck, 0);  /* the reference validates on the float bottleneck */
    tc_clear(&c);
    const char *sets[] = {"dataset.splits.val.jpeg_quality=10", "train.criterion.params.org_loss_factor=0.5",
                          "student_model.distill_backbone_only=false", "train.transform_bottleneck=true"};
    if (parse(sets, 4, &c) != 0) fail_msg("%s", hnd_error());
    assert_int_equal(c.dataset.val.jpeg_quality, 10);
    assert_int_equal(c.dataset.train.jpeg_quality, 0);
    assert_true(c.train.org_loss_factor == 0.5);
    assert_int_equal(c.student.distill_backbone_only, 0);
    assert_int_equal(c.train.transform_bottleneck, 1);
    tc_clear(&c);
}

static void test_sets(void **state) {
    (void)state;
    const char *sets[] = {
        "student_model.backbone.params.layer1.bottleneck_channel=12",
        "train.num_epochs=2",
        "train.optimizer.params.lr=1e-4",
        "train.scheduler.params.milestones=[1]",
        "output_dir=/tmp/x y",            /* not JSON: taken as a string */
        "device=\"cuda:1\"",
        "seed=7",
        "threads=3",
        "dataset.splits.test.images=val",  /* creates dataset.splits.test */
        "dataset.splits.test.annotations=annotations/instances_val.json",
        "train.criterion.terms.layer2={\"ts_modules\": [\"backbone.body.layer2\", \"backbone.body.layer2\"], "
        "\"criterion\": {\"type\": \"MSELoss\", \"params\": {\"reduction\": \"sum\"}}, \"factor\": 0.5}",
        "student_model.bottleneck_transformer=null",
        "teacher_model.params.min_size=64",
        "teacher_model.params.max_size=96",
        "student_model.params.min_size=64",
    };
    tc_config c;
    if (parse(sets, (int)(sizeof sets / sizeof *sets), &c) != 0) fail_msg("%s", hnd_error());
    assert_int_equal(c.student.bottleneck_channel, 12);
    assert_int_equal(c.train.num_epochs, 2);
    assert_true(c.train.lr == 1e-4);
    assert_int_equal(c.train.n_milestones, 1);
    assert_string_equal(c.output_dir, "/tmp/x y");
    assert_string_equal(c.student.ckpt, "/tmp/x y/best.h5");
    assert_string_equal(c.device, "cuda:1");
    assert_int_equal((int)c.seed, 7);
    assert_int_equal(c.threads, 3);
    assert_int_equal(c.dataset.test.present, 1);
    assert_string_equal(c.dataset.test.images, "data/synth/val");
    assert_int_equal(c.train.n_terms, 2);
    assert_int_equal(c.train.terms[1].teacher_stage, 2);
    assert_true(c.train.terms[1].factor == 0.5);
    assert_int_equal(c.student.transform_bits, 0);
    assert_true(c.teacher.min_size == 64 && c.teacher.max_size == 96);
    /* the effective config keeps the overrides */
    assert_non_null(strstr(c.json, "\"bottleneck_channel\":\t12"));
    tc_clear(&c);
    /* tc_json_set for derived configs */
    char *j = tc_json_set("{\"a\": {\"b\": 1}}", "a.c=[1,2]");
    assert_non_null(j);
    assert_non_null(strstr(j, "\"c\":\t[1, 2]"));
    free(j);
}

static void test_org(void **state) {
    (void)state;
    const char *org =
        "{\"dataset\": {\"splits\": {\"test\": {\"images\": \"v\", \"annotations\": \"a.json\"}}},\n"
        " \"model\": {\"name\": \"mask_rcnn\", \"backbone\": {\"name\": \"resnet50\", \"params\": {\"pretrained\": true,"
        " \"freeze_layers\": true}}, \"params\": {\"num_classes\": 91, \"pretrained\": true}, \"ckpt\": \"m.h5\"},\n"
        " \"train\": {\"num_epochs\": 26, \"batch_size\": 2, \"log_freq\": 1000, \"optimizer\": {\"type\": \"SGD\","
        " \"params\": {\"lr\": 0.0075, \"momentum\": 0.9, \"weight_decay\": 0.0001}}, \"scheduler\": {\"type\":"
        " \"MultiStepLR\", \"params\": {\"milestones\": [16, 22], \"gamma\": 0.1}}}, \"test\": {\"batch_size\": 1}}";
    tc_config c;
    if (tc_parse(org, strlen(org), "configs/org/mask.json", NULL, 0, &c) != 0) fail_msg("%s", hnd_error());
    assert_int_equal(c.is_org, 1);
    assert_string_equal(c.teacher.arch, "mask_rcnn_resnet50_fpn");
    assert_string_equal(c.teacher.ckpt, "m.h5");
    assert_int_equal(c.student.present, 0);
    assert_string_equal(c.train.optimizer, "SGD");
    assert_true(c.train.momentum == 0.9);
    assert_string_equal(c.output_dir, "runs/mask");
    tc_clear(&c);
    const char *both = "{\"model\": {}, \"teacher_model\": {}}";
    assert_int_equal(tc_parse(both, strlen(both), "b.json", NULL, 0, &c), -1);
    assert_non_null(strstr(hnd_error(), "cannot be combined"));
}

/* Every config shipped in configs/ loads. */
static void test_shipped(void **state) {
    (void)state;
    const char *src = getenv("HND_SRC_DIR");
    if (!src) skip();
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "find %s/configs -name '*.json' | sort", src);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = 0;
        tc_config c;
        if (tc_load(line, NULL, 0, &c) != 0) fail_msg("%s", hnd_error());
        tc_clear(&c);
        n++;
    }
    pclose(p);
    print_message("  %d shipped configs load\n", n);
    assert_true(n >= 20);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base),  cmocka_unit_test(test_typos), cmocka_unit_test(test_types),
        cmocka_unit_test(test_sets),  cmocka_unit_test(test_org),   cmocka_unit_test(test_shipped), cmocka_unit_test(test_reference_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
