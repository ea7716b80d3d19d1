/* test_backbone.c: ResNet-FPN backbones and the R-CNN transform against
 * torchvision 0.14 (tests/py/ref_backbone.py), plus hand-derived checks. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "backbone.h"
#include "ctorch.h"
#include "fpn.h"
#include "hnd_error.h"
#include "model_params.h"
#include "rcnn_config.h"
#include "rcnn_transform.h"
#include "resnet.h"
#include "test_util.h"
#include "wstore.h"

static char g_dir[512];
static ws_reader *g_ref;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *path_in(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", g_dir, name);
    return buf;
}

/* ---- reference access ---- */

static ct_tensor *ref_tensor(const char *name) {
    ws_tensor t;
    if (ws_reader_get(g_ref, "ref", name, &t) != 0) fail_msg("reference %s: %s", name, hnd_error());
    ct_tensor *c = ct_from_buffer(t.data, t.dtype, t.ndim, t.shape);
    ws_tensor_clear(&t);
    assert_non_null(c);
    return c;
}

static int64_t *ref_i64(const char *name, int64_t *n) {
    ws_tensor t;
    if (ws_reader_get(g_ref, "ref", name, &t) != 0) fail_msg("reference %s: %s", name, hnd_error());
    assert_int_equal(t.dtype, CT_I64);
    *n = ws_numel(t.ndim, t.shape);
    int64_t *v = t.data;
    t.data = NULL;
    ws_tensor_clear(&t);
    return v;
}

static double item(ct_tensor *t) {
    double v = NAN;
    assert_non_null(t);
    assert_int_equal(ct_item_f64(t, &v), 0);
    return v;
}

/* max |got - want| (relative: divided by max(1, max |want|)); fails above tol. */
static double check_close(const char *what, const ct_tensor *got, const ct_tensor *want, double tol,
                          int relative) {
    int64_t a[CT_MAX_DIMS], b[CT_MAX_DIMS];
    assert_non_null(got);
    int na = ct_shape(got, a, CT_MAX_DIMS), nb = ct_shape(want, b, CT_MAX_DIMS);
    char ga[128], gb[128];
    ct_tensor_describe(got, ga, sizeof ga);
    ct_tensor_describe(want, gb, sizeof gb);
    if (na != nb) fail_msg("%s: got %s, want %s", what, ga, gb);
    for (int i = 0; i < na; i++)
        if (a[i] != b[i]) fail_msg("%s: got %s, want %s", what, ga, gb);
    ct_scope_begin();
    ct_tensor *g = ct_to_dtype(got, CT_F64), *w = ct_to_dtype(want, CT_F64);
    double diff = item(ct_max(ct_abs(ct_sub(g, w)))), mag = item(ct_max(ct_abs(w)));
    ct_scope_end();
    double err = relative ? diff / (mag > 1 ? mag : 1) : diff;
    print_message("  %-22s max abs diff %.3g (|ref| max %.3g) -> %s %.3g\n", what, diff, mag,
                  relative ? "relative" : "abs", err);
    if (!(err <= tol)) fail_msg("%s: error %.3g above %.1g", what, err, tol);
    return err;
}

static rcnn_backbone_config bb_cfg(int depth) {
    rcnn_config c;
    assert_int_equal(rcnn_config_default(&c, depth == 18 ? "faster_rcnn_resnet18_fpn"
                                                          : "faster_rcnn_resnet50_fpn"), 0);
    return c.backbone;
}

static rcnn_transform_config tr_cfg(double mn, double mx) {
    rcnn_config c;
    assert_int_equal(rcnn_config_default(&c, "faster_rcnn_resnet50_fpn"), 0);
    c.transform.min_size = mn;
    c.transform.max_size = mx;
    return c.transform;
}

static mp_params *load_model(int depth, const char *file, bb_backbone **bb) {
    mp_params *p = mp_params_new();
    rcnn_backbone_config cfg = bb_cfg(depth);
    *bb = bb_new(p, &cfg, 1);
    if (!*bb) fail_msg("bb_new: %s", hnd_error());
    char path[600];
    int n = mp_params_load(p, path_in(path, sizeof path, file), 1, NULL, NULL);
    if (n < 0) fail_msg("load %s: %s", file, hnd_error());
    assert_int_equal(n, mp_params_count(p));
    return p;
}

/* ---- setup ---- */

static int setup(void **state) {
    ct_set_num_threads(0);
    tu_tmp(g_dir, sizeof g_dir, "ref_backbone");
    char cmd[2048], a[600], b[600];
    double t0 = now();
    snprintf(cmd, sizeof cmd, "ref_backbone.py %s > %s/ref.log 2>&1", g_dir, g_dir);
    char mk[700];
    snprintf(mk, sizeof mk, "mkdir -p %s", g_dir);
    if (system(mk) != 0) return -1;
    if (tu_python(cmd) != 0) {
        fprintf(stderr, "ref_backbone.py failed, see %s/ref.log\n", g_dir);
        return -1;
    }
    double t1 = now();
    const char *bin = getenv("HND_BIN_DIR");
    static const char *const files[3] = {"r18", "r50", "r18_bn"};
    for (int i = 0; i < 3; i++) {
        char pth[64], h5[64];
        snprintf(pth, sizeof pth, "%s.pth", files[i]);
        snprintf(h5, sizeof h5, "%s.h5", files[i]);
        snprintf(cmd, sizeof cmd, "%s/hnd import-torchvision %s %s > /dev/null", bin && *bin ? bin : ".",
                 path_in(a, sizeof a, pth), path_in(b, sizeof b, h5));
        if (system(cmd) != 0) {
            fprintf(stderr, "failed: %s\n", cmd);
            return -1;
        }
    }
    g_ref = ws_reader_open(path_in(a, sizeof a, "ref_backbone.h5"));
    if (!g_ref) {
        fprintf(stderr, "%s\n", hnd_error());
        return -1;
    }
    fprintf(stderr, "[ reference ] python %.1f s, import %.1f s\n", t1 - t0, now() - t1);
    return 0;
}

static int teardown(void **state) {
    ws_reader_close(g_ref);
    tu_cleanup(g_dir);
    return 0;
}

/* ---- hand-derived ---- */

static void test_config_defaults(void **state) {
    rcnn_config c;
    assert_int_equal(rcnn_config_default(&c, "mask_rcnn_resnet101_fpn"), 0);
    assert_string_equal(c.arch, "mask_rcnn_resnet101_fpn");
    assert_int_equal(c.backbone.depth, 101);
    assert_int_equal(c.backbone.trainable_layers, 3);
    assert_int_equal(c.backbone.frozen_bn, 1);
    assert_true(c.backbone.bn_eps == 1e-5);
    assert_int_equal(c.backbone.fpn_out_channels, 256);
    assert_true(c.transform.min_size == 800 && c.transform.max_size == 1333);
    assert_true(c.transform.image_mean[1] == 0.456f && c.transform.image_std[2] == 0.225f);
    assert_int_equal(c.transform.size_divisible, 32);
    assert_int_equal(c.anchors.num_levels, 5);
    assert_true(c.anchors.sizes[4] == 512 && c.anchors.aspect_ratios[2] == 2.0);
    assert_int_equal(c.rpn.pre_nms_top_n_test, 1000);
    assert_true(c.box.bbox_reg_weights[2] == 5 && c.box.num_classes == 91);
    assert_int_equal(c.mask.enabled, 1);
    assert_int_equal(rcnn_config_default(&c, "faster_rcnn_resnet34_fpn"), 0);
    assert_int_equal(c.mask.enabled, 0);
    assert_int_equal(c.backbone.depth, 34);
    assert_int_equal(rcnn_config_default(&c, "faster_rcnn_resnet51_fpn"), -1);
    assert_non_null(strstr(hnd_error(), "unknown architecture 'faster_rcnn_resnet51_fpn'"));
    assert_non_null(strstr(hnd_error(), "mask_rcnn_resnet{18,34,50,101}_fpn"));
}

static void test_resized_size(void **state) {
    int64_t s[2];
    /* 480x640, 800/1333: scale 800/480 -> 800 x floor(640*1.6666666) = 1066 */
    assert_int_equal(rt_resized_size(480, 640, 800, 1333, s), 0);
    assert_true(s[0] == 800 && s[1] == 1066);
    /* 30x120, 64/100: max binds (100/120 < 64/30): 25 x 100 */
    assert_int_equal(rt_resized_size(30, 120, 64, 100, s), 0);
    assert_true(s[0] == 25 && s[1] == 100);
    /* 1000x500 portrait, 800/1333: shorter side 500 -> 800, longer 1600 > 1333 -> scale 1.333 */
    assert_int_equal(rt_resized_size(1000, 500, 800, 1333, s), 0);
    assert_true(s[0] == 1333 && s[1] == 666);
    assert_int_equal(rt_resized_size(0, 5, 800, 1333, s), -1);
    /* torchvision on 120 random sizes and several min/max */
    int64_t n;
    int64_t *t = ref_i64("resize.table", &n);
    for (int64_t i = 0; i < n / 6; i++) {
        int64_t *r = t + 6 * i;
        assert_int_equal(rt_resized_size(r[0], r[1], (double)r[2], (double)r[3], s), 0);
        if (s[0] != r[4] || s[1] != r[5])
            fail_msg("%lldx%lld (%lld/%lld): got %lldx%lld, torchvision %lldx%lld", (long long)r[0],
                     (long long)r[1], (long long)r[2], (long long)r[3], (long long)s[0], (long long)s[1],
                     (long long)r[4], (long long)r[5]);
    }
    free(t);
}

static void test_transform_hand(void **state) {
    rcnn_transform_config cfg = tr_cfg(10, 100);
    int64_t shape[3] = {3, 10, 20};
    ct_scope_begin();
    ct_tensor *img = ct_full(shape, 3, 0.5, CT_F32, ct_cpu());
    const ct_tensor *imgs[1] = {img};
    rt_image_list l;
    assert_int_equal(rt_transform(&cfg, imgs, 1, NULL, NULL, 0, &l), 0);
    assert_int_equal(l.n, 1);
    assert_true(l.sizes[0][0] == 10 && l.sizes[0][1] == 20);
    assert_true(l.orig_sizes[0][0] == 10 && l.orig_sizes[0][1] == 20);
    int64_t got[4];
    assert_int_equal(ct_shape(l.tensors, got, 4), 4);
    assert_true(got[0] == 1 && got[1] == 3 && got[2] == 32 && got[3] == 32);
    float buf[3 * 32 * 32];
    assert_int_equal(ct_to_buffer(l.tensors, buf, sizeof buf), 0);
    for (int c = 0; c < 3; c++) {
        float want = (0.5f - cfg.image_mean[c]) / cfg.image_std[c];
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++) {
                float v = buf[(c * 32 + y) * 32 + x];
                if (y < 10 && x < 20) assert_true(fabsf(v - want) < 1e-6f);
                else assert_true(v == 0.0f);
            }
    }
    rt_image_list_clear(&l);
    /* errors: an integer image, a 2-D image */
    ct_tensor *bad = ct_zeros(shape, 3, CT_U8, ct_cpu());
    imgs[0] = bad;
    assert_int_equal(rt_transform(&cfg, imgs, 1, NULL, NULL, 0, &l), -1);
    assert_non_null(strstr(hnd_error(), "image 0"));
    assert_non_null(strstr(hnd_error(), "floating"));
    assert_null(l.tensors);
    imgs[0] = ct_zeros(shape, 2, CT_F32, ct_cpu());
    assert_int_equal(rt_transform(&cfg, imgs, 1, NULL, NULL, 0, &l), -1);
    assert_non_null(strstr(hnd_error(), "3-D"));
    ct_scope_end();
}

/* FPN with hand-set weights: inner blocks = bias 1 (zero weights), layer
 * blocks = identity 3x3 (centre tap) + bias 0.5. Top-down: the coarsest
 * level holds 1, each finer one adds 1 after nearest upsampling, so
 * out[i] = (4 - i) + 0.5 and pool = 1.5, at the exact lateral sizes. */
static void test_fpn_hand(void **state) {
    mp_params *p = mp_params_new();
    int64_t in_ch[4] = {4, 8, 16, 32};
    fpn_net *f = fpn_new(p, "fpn.", in_ch, 4, 6, 1);
    assert_non_null(f);
    assert_int_equal(fpn_num_outputs(f), 5);
    assert_int_equal(mp_params_count(p), 16);
    assert_non_null(mp_params_get(p, "fpn.inner_blocks.3.0.weight"));
    assert_non_null(mp_params_get(p, "fpn.layer_blocks.0.0.bias"));
    for (int i = 0; i < 4; i++) {
        char n[64];
        snprintf(n, sizeof n, "fpn.inner_blocks.%d.0.bias", i);
        ct_fill_(mp_params_get(p, n), 1.0);
        snprintf(n, sizeof n, "fpn.layer_blocks.%d.0.bias", i);
        ct_fill_(mp_params_get(p, n), 0.5);
        snprintf(n, sizeof n, "fpn.layer_blocks.%d.0.weight", i);
        float w[6 * 6 * 9] = {0};
        for (int c = 0; c < 6; c++) w[(c * 6 + c) * 9 + 4] = 1.0f;
        int64_t ws[4] = {6, 6, 3, 3};
        ct_scope_begin();
        assert_int_equal(ct_copy_(mp_params_get(p, n), ct_from_buffer(w, CT_F32, 4, ws)), 0);
        ct_scope_end();
    }
    ct_scope_begin();
    int64_t hw[4][2] = {{21, 27}, {11, 14}, {6, 7}, {3, 4}};
    ct_tensor *x[4], *out[5];
    for (int i = 0; i < 4; i++) {
        int64_t s[4] = {2, in_ch[i], hw[i][0], hw[i][1]};
        x[i] = ct_randn(s, 4, CT_F32, ct_cpu());
    }
    int prev = ct_grad_set_enabled(0);
    assert_int_equal(fpn_forward(f, (const ct_tensor *const *)x, out), 0);
    ct_grad_set_enabled(prev);
    for (int i = 0; i < 5; i++) {
        int64_t s[4];
        ct_shape(out[i], s, 4);
        int64_t h = i < 4 ? hw[i][0] : 2, w = i < 4 ? hw[i][1] : 2;   /* pool: ceil(3/2) x ceil(4/2) */
        assert_true(s[0] == 2 && s[1] == 6 && s[2] == h && s[3] == w);
        double want = i < 4 ? 4 - i + 0.5 : 1.5;
        assert_true(fabs(item(ct_max(out[i])) - want) < 1e-6 && fabs(item(ct_min(out[i])) - want) < 1e-6);
    }
    /* wrong channel count names the level */
    int64_t s[4] = {2, 5, 3, 4};
    x[3] = ct_randn(s, 4, CT_F32, ct_cpu());
    assert_int_equal(fpn_forward(f, (const ct_tensor *const *)x, out), -1);
    if (!strstr(hnd_error(), "fpn: level 3 inner block: input float32[2,5,3,4]")) fail_msg("%s", hnd_error());
    assert_null(out[0]);
    ct_scope_end();
    fpn_destroy(f);
    mp_params_destroy(p);
}

static void test_names_and_errors(void **state) {
    mp_params *p = mp_params_new();
    rcnn_backbone_config cfg = bb_cfg(50);
    bb_backbone *b = bb_new(p, &cfg, 1);
    assert_non_null(b);
    /* torchvision's detector state dict: 265 backbone tensors without the
     * 53 num_batches_tracked (FrozenBatchNorm2d), 16 of them FPN */
    assert_int_equal(mp_params_count(p), 53 * 4 + 53 + 16);
    assert_non_null(mp_params_get(p, "backbone.body.layer1.0.downsample.1.running_var"));
    assert_non_null(mp_params_get(p, "backbone.body.layer4.2.conv3.weight"));
    assert_null(mp_params_get(p, "backbone.body.layer4.3.conv1.weight"));
    assert_int_equal(bb_stage_channels(b, 4), 2048);
    assert_int_equal(bb_out_channels(b), 256);
    assert_string_equal(bb_feature_name(4), "pool");
    assert_null(bb_feature_name(5));
    /* frozen BN: buffers; requires_grad per trainable_layers = 3 */
    for (int i = 0; i < mp_params_count(p); i++) {
        const char *n = mp_params_name(p, i);
        int is_bn = strstr(n, ".bn") || strstr(n, "downsample.1");
        assert_int_equal(mp_params_kind(p, i), is_bn ? MP_BUFFER : MP_PARAM);
        int train = strstr(n, "backbone.fpn.") || ((strstr(n, ".layer2.") || strstr(n, ".layer3.") ||
                                                    strstr(n, ".layer4.")) && !is_bn);
        if (ct_requires_grad(mp_params_tensor(p, i)) != train) fail_msg("%s requires_grad", n);
    }
    bb_destroy(b);
    mp_params_destroy(p);

    p = mp_params_new();
    cfg.depth = 20;
    assert_null(bb_new(p, &cfg, 1));
    assert_non_null(strstr(hnd_error(), "unsupported depth 20"));
    cfg.depth = 18;
    cfg.trainable_layers = 6;
    assert_null(bb_new(p, &cfg, 1));
    assert_non_null(strstr(hnd_error(), "trainable_layers"));
    mp_params_destroy(p);

    /* an R50 file does not load into an R18 model: keys named */
    p = mp_params_new();
    cfg = bb_cfg(18);
    b = bb_new(p, &cfg, 1);
    char path[600];
    assert_int_equal(mp_params_load(p, path_in(path, sizeof path, "r50.h5"), 1, NULL, NULL), -1);
    assert_non_null(strstr(hnd_error(), "unexpected key(s): "));
    assert_non_null(strstr(hnd_error(), "mis-shaped key(s): backbone.body.layer1.0.conv1.weight (file [64,64,1,1], model [64,64,3,3])"));
    bb_destroy(b);
    mp_params_destroy(p);

    /* a student backbone without layer1 */
    p = mp_params_new();
    b = bb_new(p, &cfg, 0);
    assert_null(mp_params_get(p, "backbone.body.layer1.0.conv1.weight"));
    assert_non_null(mp_params_get(p, "backbone.body.layer2.0.conv1.weight"));
    ct_scope_begin();
    int64_t s[4] = {1, 3, 64, 64};
    ct_tensor *x = ct_rand(s, 4, CT_F32, ct_cpu()), *f[5];
    assert_null(bb_layer(b, 1, x));
    assert_non_null(strstr(hnd_error(), "layer1 was not built"));
    assert_int_equal(bb_forward(b, x, f), -1);
    assert_null(f[0]);
    /* a wrong input names the stage and shapes */
    int64_t s2[4] = {1, 4, 64, 64};
    assert_null(bb_stem(b, ct_rand(s2, 4, CT_F32, ct_cpu())));
    assert_non_null(strstr(hnd_error(), "resnet-18: stem: input float32[1,4,64,64]"));
    ct_scope_end();
    bb_destroy(b);
    mp_params_destroy(p);
}

/* requires_grad after torchvision's rule, trainable BN, every trainable_layers. */
static void test_freezing_rule(void **state) {
    for (int tl = 0; tl <= 5; tl++) {
        char key[32];
        snprintf(key, sizeof key, "grad_tl%d", tl);
        char *want = ws_reader_attr(g_ref, key);
        assert_non_null(want);
        mp_params *p = mp_params_new();
        rcnn_backbone_config cfg = bb_cfg(18);
        cfg.frozen_bn = 0;
        cfg.trainable_layers = tl;
        bb_backbone *b = bb_new(p, &cfg, 1);
        assert_non_null(b);
        char got[8192] = "";
        size_t k = 0;
        for (int i = 0; i < mp_params_count(p); i++) {
            const char *n = mp_params_name(p, i);
            if (strncmp(n, "backbone.body.", 14) || ct_requires_grad(mp_params_tensor(p, i)) != 1) continue;
            k += (size_t)snprintf(got + k, sizeof got - k, "%s%s", k ? "," : "", n + 14);
        }
        if (strcmp(got, want) != 0) fail_msg("trainable_layers %d:\n got  %s\n want %s", tl, got, want);
        free(want);
        bb_destroy(b);
        mp_params_destroy(p);
    }
}

/* ---- parity with torchvision ---- */

typedef struct {
    const char *name;
    int depth;
    double min_size, max_size;
    int n;
} pcase;

static void run_case(const pcase *c, bb_backbone *bb) {
    char key[64];
    double t0 = now();
    ct_scope_begin();
    int64_t before = ct_live_tensor_count();
    const ct_tensor *imgs[2];
    for (int i = 0; i < c->n; i++) {
        snprintf(key, sizeof key, "%s.in%d", c->name, i);
        imgs[i] = ref_tensor(key);
    }
    rcnn_transform_config cfg = tr_cfg(c->min_size, c->max_size);
    rt_image_list l;
    if (rt_transform(&cfg, imgs, c->n, NULL, NULL, 0, &l) != 0) fail_msg("%s", hnd_error());
    print_message("%s: batch [%lld,3,%lld,%lld]\n", c->name, (long long)c->n, (long long)ct_size(l.tensors, 2),
                  (long long)ct_size(l.tensors, 3));
    snprintf(key, sizeof key, "%s.batch", c->name);
    ct_tensor *want = ref_tensor(key);
    check_close("transformed batch", l.tensors, want, 1e-5, 0);
    ct_destroy(want);
    int64_t ns;
    snprintf(key, sizeof key, "%s.sizes", c->name);
    int64_t *sizes = ref_i64(key, &ns);
    assert_int_equal(ns, 2 * c->n);
    for (int i = 0; i < c->n; i++) {
        if (l.sizes[i][0] != sizes[2 * i] || l.sizes[i][1] != sizes[2 * i + 1])
            fail_msg("image %d: size %lldx%lld, torchvision %lldx%lld", i, (long long)l.sizes[i][0],
                     (long long)l.sizes[i][1], (long long)sizes[2 * i], (long long)sizes[2 * i + 1]);
        assert_true(l.orig_sizes[i][0] == ct_size(imgs[i], 1) && l.orig_sizes[i][1] == ct_size(imgs[i], 2));
    }
    free(sizes);
    int prev = ct_grad_set_enabled(0);
    double t1 = now();
    ct_tensor *f[5];
    if (bb_forward(bb, l.tensors, f) != 0) fail_msg("%s", hnd_error());
    double t2 = now();
    ct_grad_set_enabled(prev);
    for (int k = 0; k < 5; k++) {
        char what[64];
        snprintf(key, sizeof key, "%s.feat%d", c->name, k);
        snprintf(what, sizeof what, "feature \"%s\"", bb_feature_name(k));
        ct_tensor *want = ref_tensor(key);
        check_close(what, f[k], want, 1e-4, 1);
        ct_destroy(want);
    }
    rt_image_list_clear(&l);
    for (int k = 0; k < 5; k++) ct_destroy(f[k]);
    for (int i = 0; i < c->n; i++) ct_destroy((ct_tensor *)imgs[i]);
    /* everything made here is released (nothing leaked past the scopes;
     * the folded conv+BN weights are the model's cache) */
    rn_release_folds(bb_body(bb));
    assert_int_equal(ct_live_tensor_count(), before);
    ct_scope_end();
    print_message("  transform %.2f s, backbone %.2f s\n", t1 - t0, t2 - t1);
}

static void test_parity_r18(void **state) {
    bb_backbone *bb;
    mp_params *p = load_model(18, "r18.h5", &bb);   /* BatchNorm2d keys: num_batches_tracked ignored */
    static const pcase cases[] = {{"r18_b2", 18, 64, 100, 2}, {"r18_b1", 18, 64, 100, 1}};
    for (int i = 0; i < 2; i++) run_case(&cases[i], bb);
    bb_destroy(bb);
    mp_params_destroy(p);
}

static void test_parity_r50(void **state) {
    bb_backbone *bb;
    mp_params *p = load_model(50, "r50.h5", &bb);   /* legacy format, old FPN key names */
    static const pcase cases[] = {
        {"r50_b1", 50, 96, 160, 1}, {"r50_b2", 50, 96, 160, 2}, {"r50_800", 50, 800, 1333, 1}};
    for (int i = 0; i < 3; i++) run_case(&cases[i], bb);
    bb_destroy(bb);
    mp_params_destroy(p);
}

/* A student without layer1 computes stem -> (teacher's) layer1 -> its layer2..4
 * -> FPN: the same features as the teacher's bb_forward. */
static void test_stagewise_student(void **state) {
    bb_backbone *teacher;
    mp_params *tp = load_model(18, "r18.h5", &teacher);
    mp_params *sp = mp_params_new();
    rcnn_backbone_config cfg = bb_cfg(18);
    bb_backbone *student = bb_new(sp, &cfg, 0);
    assert_non_null(student);
    char path[600];
    int missing = -1, unexpected = -1;
    assert_int_equal(mp_params_load(sp, path_in(path, sizeof path, "r18.h5"), 0, &missing, &unexpected),
                     mp_params_count(sp));
    assert_int_equal(missing, 0);
    assert_int_equal(unexpected, 2 * (2 + 5 * 2));   /* layer1: 2 blocks x (2 convs + 2 BNs x 5 keys) */
    ct_scope_begin();
    int prev = ct_grad_set_enabled(0);
    ct_tensor *x = ref_tensor("r18_b2.batch"), *ft[5], *fs[5];
    assert_int_equal(bb_forward(teacher, x, ft), 0);
    ct_tensor *c[4];
    c[0] = bb_layer(teacher, 1, bb_stem(student, x));
    for (int i = 1; i < 4; i++) c[i] = bb_layer(student, i + 1, c[i - 1]);
    assert_int_equal(bb_fpn(student, (const ct_tensor *const *)c, fs), 0);
    for (int k = 0; k < 5; k++) check_close(bb_feature_name(k), fs[k], ft[k], 0, 0);
    /* rn_forward gives the layer outputs */
    ct_tensor *r[4];
    assert_int_equal(rn_forward(bb_body(teacher), x, r), 0);
    for (int i = 0; i < 4; i++) assert_int_equal(ct_size(r[i], 1), rn_channels(bb_body(teacher), i + 1));
    check_close("layer4 (rn_forward)", r[3], c[3], 0, 0);
    ct_grad_set_enabled(prev);
    ct_scope_end();
    bb_destroy(student);
    bb_destroy(teacher);
    mp_params_destroy(sp);
    mp_params_destroy(tp);
}

/* Trainable BatchNorm in train mode: batch statistics, running-stat updates. */
static void test_bn_train_mode(void **state) {
    mp_params *p = mp_params_new();
    rcnn_backbone_config cfg = bb_cfg(18);
    cfg.frozen_bn = 0;
    cfg.trainable_layers = 5;
    bb_backbone *bb = bb_new(p, &cfg, 1);
    assert_non_null(bb);
    char path[600];
    if (mp_params_load(p, path_in(path, sizeof path, "r18_bn.h5"), 1, NULL, NULL) < 0)
        fail_msg("%s", hnd_error());
    bb_set_training(bb, 1);
    ct_scope_begin();
    int prev = ct_grad_set_enabled(0);
    ct_tensor *f[5];
    assert_int_equal(bb_forward(bb, ref_tensor("bntrain.x"), f), 0);
    ct_grad_set_enabled(prev);
    for (int k = 0; k < 5; k++) {
        char key[32];
        snprintf(key, sizeof key, "bntrain.feat%d", k);
        check_close(key, f[k], ref_tensor(key), 1e-4, 1);
    }
    check_close("bn1.running_mean", mp_params_get(p, "backbone.body.bn1.running_mean"),
                ref_tensor("bntrain.bn1_rm"), 1e-5, 1);
    check_close("bn1.running_var", mp_params_get(p, "backbone.body.bn1.running_var"),
                ref_tensor("bntrain.bn1_rv"), 1e-5, 1);
    check_close("layer4.1.bn2.running_var", mp_params_get(p, "backbone.body.layer4.1.bn2.running_var"),
                ref_tensor("bntrain.l4_rv"), 1e-5, 1);
    /* with grad mode on, gradients reach conv1, the BN affine parameters, the FPN */
    ct_tensor *g[5];
    assert_int_equal(bb_forward(bb, ref_tensor("bntrain.x"), g), 0);
    ct_tensor *y = ct_sum(g[0]);
    assert_int_equal(ct_backward(y), 0);
    assert_int_equal(ct_has_grad(mp_params_get(p, "backbone.body.conv1.weight")), 1);
    assert_int_equal(ct_has_grad(mp_params_get(p, "backbone.body.bn1.weight")), 1);
    assert_int_equal(ct_has_grad(mp_params_get(p, "backbone.fpn.layer_blocks.0.0.weight")), 1);
    ct_scope_end();
    bb_destroy(bb);
    mp_params_destroy(p);
}

/* Frozen BN with trainable convs (the HND student's conv1): in-place ReLU and
 * residual adds keep the graph valid; frozen layers get no gradient. */
static void test_frozen_backward(void **state) {
    bb_backbone *bb;
    mp_params *p = load_model(18, "r18.h5", &bb);   /* trainable_layers 3 */
    ct_scope_begin();
    int64_t s[4] = {1, 3, 64, 64};
    ct_tensor *f[5];
    assert_int_equal(bb_forward(bb, ct_rand(s, 4, CT_F32, ct_cpu()), f), 0);
    assert_int_equal(ct_backward(ct_add(ct_sum(f[0]), ct_sum(f[4]))), 0);
    assert_int_equal(ct_has_grad(mp_params_get(p, "backbone.body.layer2.0.conv1.weight")), 1);
    assert_int_equal(ct_has_grad(mp_params_get(p, "backbone.body.layer4.1.conv2.weight")), 1);
    assert_int_equal(ct_has_grad(mp_params_get(p, "backbone.fpn.inner_blocks.3.0.bias")), 1);
    assert_int_equal(ct_has_grad(mp_params_get(p, "backbone.body.layer1.0.conv1.weight")), 0);
    assert_int_equal(ct_has_grad(mp_params_get(p, "backbone.body.conv1.weight")), 0);
    assert_int_equal(ct_has_grad(mp_params_get(p, "backbone.body.layer2.0.bn1.weight")), 0);
    ct_scope_end();
    bb_destroy(bb);
    mp_params_destroy(p);
}

/* Training transform: boxes by per-axis ratios, masks by nearest, one random
 * draw per image; postprocess maps boxes back. */
static void test_train_transform(void **state) {
    ct_scope_begin();
    rcnn_transform_config cfg = tr_cfg(64, 100);
    const ct_tensor *imgs[2];
    rt_target in[2] = {{0}}, out[2];   /* members not set below (keypoints) stay NULL */
    for (int i = 0; i < 2; i++) {
        char key[64];
        snprintf(key, sizeof key, "train.in%d", i);
        imgs[i] = ref_tensor(key);
        snprintf(key, sizeof key, "train.boxes%d", i);
        in[i].boxes = ref_tensor(key);
        snprintf(key, sizeof key, "train.masks%d", i);
        in[i].masks = ref_tensor(key);
        in[i].labels = ct_arange(1 + i, 5 + i, 1, CT_I64, ct_cpu());
    }
    ct_manual_seed(5);
    rt_image_list l;
    if (rt_transform(&cfg, imgs, 2, in, out, 1, &l) != 0) fail_msg("%s", hnd_error());
    int64_t one = 1;
    check_close("generator after", ct_rand(&one, 1, CT_F32, ct_cpu()), ref_tensor("train.rand_after"), 0, 0);
    check_close("train batch", l.tensors, ref_tensor("train.batch"), 1e-5, 0);
    for (int i = 0; i < 2; i++) {
        char key[64];
        snprintf(key, sizeof key, "train.boxes_out%d", i);
        check_close(key, out[i].boxes, ref_tensor(key), 1e-5, 1);
        snprintf(key, sizeof key, "train.masks_out%d", i);
        assert_int_equal(ct_dtype_of(out[i].masks), CT_U8);
        check_close(key, out[i].masks, ref_tensor(key), 0, 0);
        check_close("labels", out[i].labels, in[i].labels, 0, 0);
        rt_target_clear(&out[i]);
        assert_null(out[i].boxes);
    }
    rt_image_list_clear(&l);
    int64_t from[2] = {800, 1066}, to[2] = {480, 640};
    check_close("postprocess boxes", rt_resize_boxes(ref_tensor("post.boxes"), from, to),
                ref_tensor("post.out"), 1e-5, 1);
    ct_scope_end();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults),  cmocka_unit_test(test_resized_size),
        cmocka_unit_test(test_transform_hand),   cmocka_unit_test(test_fpn_hand),
        cmocka_unit_test(test_names_and_errors), cmocka_unit_test(test_freezing_rule),
        cmocka_unit_test(test_train_transform),  cmocka_unit_test(test_parity_r18),
        cmocka_unit_test(test_stagewise_student), cmocka_unit_test(test_bn_train_mode),
        cmocka_unit_test(test_frozen_backward),
        cmocka_unit_test(test_parity_r50),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
