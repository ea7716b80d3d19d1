/* test_bottleneck.c: the HND students' layer1 (models/bottleneck.h) against
 * the reference project's modules built in PyTorch (tests/py/ref_bottleneck.py):
 * parameter names, shapes and counts for both kinds and many C; encoder,
 * decoder, 8-bit and 16-bit bottleneck transformers, train-mode forward,
 * running statistics and gradients for the same weights. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

#include "bottleneck.h"
#include "bottleneck_quant.h"
#include "ctorch.h"
#include "hnd_error.h"
#include "model_params.h"
#include "test_util.h"
#include "wstore.h"

static char g_dir[512];

static const char *path_in(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", g_dir, name);
    return buf;
}

static ct_tensor *ref_tensor(ws_reader *r, const char *name) {
    ws_tensor t;
    if (ws_reader_get(r, "ref", name, &t) != 0) fail_msg("reference %s: %s", name, hnd_error());
    ct_tensor *c = ct_from_buffer(t.data, t.dtype, t.ndim, t.shape);
    ws_tensor_clear(&t);
    assert_non_null(c);
    return c;
}

static double item(ct_tensor *t) {
    double v = NAN;
    assert_non_null(t);
    assert_int_equal(ct_item_f64(t, &v), 0);
    return v;
}

static void check_close(const char *what, const ct_tensor *got, const ct_tensor *want, double tol) {
    int64_t a[CT_MAX_DIMS], b[CT_MAX_DIMS];
    if (!got) fail_msg("%s: NULL (%s)", what, hnd_error());
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
    double err = diff / (mag > 1 ? mag : 1);
    print_message("  %-10s %-28s max abs diff %.3g (|ref| max %.3g)\n", what, ga, diff, mag);
    if (!(err <= tol)) fail_msg("%s: relative error %.3g above %.1g", what, err, tol);
}

static int setup(void **state) {
    (void)state;
    ct_set_num_threads(0);
    tu_tmp(g_dir, sizeof g_dir, "ref_bottleneck");
    char args[700];
    snprintf(args, sizeof args, "ref_bottleneck.py %s >/dev/null", g_dir);
    if (tu_python(args) != 0) {
        fprintf(stderr, "ref_bottleneck.py failed\n");
        return -1;
    }
    return 0;
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (fread(s, 1, (size_t)n, f) != (size_t)n) n = 0;
    s[n] = 0;
    fclose(f);
    return s;
}

/* Names, shapes and counts for every C of both kinds. */
static void test_shapes(void **state) {
    (void)state;
    char p[700];
    char *js = read_file(path_in(p, sizeof p, "shapes.json"));
    assert_non_null(js);
    cJSON *root = cJSON_Parse(js);
    free(js);
    assert_non_null(root);
    int cases = 0;
    cJSON *c;
    cJSON_ArrayForEach(c, root) {
        const char *name = c->string;
        int large = strncmp(name, "large", 5) == 0;
        int64_t ch = atoll(name + 5);
        mp_params *mp = mp_params_new();
        stu_bottleneck *s = stu_new(mp, "backbone.body.layer1.", large ? STU_LARGE : STU_SMALL, ch);
        if (!s) fail_msg("stu_new %s: %s", name, hnd_error());
        cJSON *keys = cJSON_GetObjectItem(c, "keys");
        assert_int_equal(mp_params_count(mp), cJSON_GetArraySize(keys));
        int i = 0;
        cJSON *k;
        cJSON_ArrayForEach(k, keys) {
            const char *key = cJSON_GetArrayItem(k, 0)->valuestring;
            cJSON *shape = cJSON_GetArrayItem(k, 1);
            if (strcmp(mp_params_name(mp, i), key) != 0)
                fail_msg("%s: key %d: got %s, want %s", name, i, mp_params_name(mp, i), key);
            ct_tensor *t = mp_params_tensor(mp, i);
            assert_int_equal(ct_ndim(t), cJSON_GetArraySize(shape));
            for (int d = 0; d < ct_ndim(t); d++)
                assert_int_equal(ct_size(t, d), (int64_t)cJSON_GetArrayItem(shape, d)->valuedouble);
            int want_grad = strstr(key, "running_") == NULL;
            assert_int_equal(ct_requires_grad(t), want_grad);
            i++;
        }
        int64_t want = (int64_t)cJSON_GetObjectItem(c, "params")->valuedouble;
        assert_int_equal(stu_num_parameters(s), want);
        assert_int_equal(stu_out_channels(s), large ? 256 : 64);
        assert_int_equal(stu_channels(s), ch);
        /* shapes through the module: [N,64,h,w] -> [N,C,h+4,w+4] -> [N,D,h,w] */
        ct_scope_begin();
        assert_int_equal(stu_init(s), 0);
        int64_t xs[4] = {1, 64, 6, 9};
        ct_tensor *x = ct_randn(xs, 4, CT_F32, ct_cpu());
        int prev = ct_grad_set_enabled(0);
        ct_tensor *z = stu_encode(s, x);
        ct_tensor *y = z ? stu_decode(s, z) : NULL;
        ct_grad_set_enabled(prev);
        if (!y) fail_msg("%s forward: %s", name, hnd_error());
        int64_t zs[4], ys[4];
        ct_shape(z, zs, 4);
        ct_shape(y, ys, 4);
        assert_true(zs[0] == 1 && zs[1] == ch && zs[2] == 10 && zs[3] == 13);
        assert_true(ys[0] == 1 && ys[1] == (large ? 256 : 64) && ys[2] == 6 && ys[3] == 9);
        ct_scope_end();
        print_message("  %-8s %2d tensors, %lld parameters: ok\n", name, mp_params_count(mp),
                      (long long)want);
        stu_destroy(s);
        mp_params_destroy(mp);
        cases++;
    }
    assert_true(cases >= 18);
    cJSON_Delete(root);
}

/* Names are checked for duplicates and bad channel counts. */
static void test_errors(void **state) {
    (void)state;
    mp_params *mp = mp_params_new();
    assert_null(stu_new(mp, "x.", STU_LARGE, 0));
    assert_non_null(strstr(hnd_error(), "bottleneck_channel"));
    stu_bottleneck *s = stu_new(mp, "x.", STU_LARGE, 3);
    assert_non_null(s);
    assert_null(stu_new(mp, "x.", STU_SMALL, 3));   /* duplicate names */
    assert_int_equal(stu_kind_parse("Bottleneck4LargeResNet"), STU_LARGE);
    assert_int_equal(stu_kind_parse("Bottleneck4SmallResNet"), STU_SMALL);
    assert_int_equal(stu_kind_parse("Bottleneck4HugeResNet"), -1);
    assert_int_equal(stu_kind_for_depth(18), STU_SMALL);
    assert_int_equal(stu_kind_for_depth(101), STU_LARGE);
    /* the reference's num_bits 2..8, 16 as half, 32 (or 0) none */
    assert_int_equal(stu_set_transform(s, 1), -1);
    assert_int_equal(stu_set_transform(s, 9), -1);
    assert_int_equal(stu_set_transform(s, 17), -1);
    assert_int_equal(stu_set_transform(s, 7), 0);
    assert_int_equal(stu_set_transform(s, 8), 0);
    /* the decoder of a wrong-channel input names the step */
    int64_t zs[4] = {1, 5, 8, 8};
    ct_scope_begin();
    ct_tensor *z = ct_zeros(zs, 4, CT_F32, ct_cpu());
    assert_null(stu_decode(s, z));
    assert_non_null(strstr(hnd_error(), "decoder.0"));
    ct_scope_end();
    stu_destroy(s);
    mp_params_destroy(mp);
}

static void run_case(const char *file, stu_kind kind, int64_t ch) {
    char p[700];
    mp_params *mp = mp_params_new();
    stu_bottleneck *s = stu_new(mp, "backbone.body.layer1.", kind, ch);
    assert_non_null(s);
    int n = mp_params_load(mp, path_in(p, sizeof p, file), 1, NULL, NULL);
    if (n < 0) fail_msg("load %s: %s", file, hnd_error());
    ws_reader *r = ws_reader_open(p);
    assert_non_null(r);
    int64_t live = ct_live_tensor_count();
    ct_scope_begin();
    ct_tensor *x = ref_tensor(r, "x");
    int prev = ct_grad_set_enabled(0);
    ct_tensor *z = stu_encode(s, x);
    check_close("z", z, ref_tensor(r, "z"), 1e-5);
    check_close("y", stu_decode(s, ref_tensor(r, "z")), ref_tensor(r, "y"), 1e-5);
    check_close("forward", stu_forward(s, x), ref_tensor(r, "y"), 1e-5);

    /* 8 bits: quantize the reference's z, the same bytes, scale and zero point */
    bq_tensor q;
    assert_int_equal(bq_quantize8(ref_tensor(r, "z"), &q), 0);
    ct_tensor *qref = ref_tensor(r, "q8");
    assert_int_equal(item(ct_all(ct_eq(q.q, qref))), 1);
    assert_true(q.scale == (float)item(ref_tensor(r, "q8_scale")));
    assert_int_equal(q.zero_point, (int)item(ref_tensor(r, "q8_zp")));
    print_message("  q8         scale %.9g zero point %d: identical bytes\n", q.scale, q.zero_point);
    check_close("y8", stu_decode(s, bq_dequantize8(&q)), ref_tensor(r, "y8"), 1e-5);
    bq_tensor_clear(&q);
    assert_int_equal(stu_set_transform(s, 16), 0);
    check_close("y16", stu_forward(s, x), ref_tensor(r, "y16"), 1e-4);
    assert_int_equal(stu_set_transform(s, 8), 0);
    check_close("y8 (fwd)", stu_forward(s, x), ref_tensor(r, "y8"), 5e-2);
    ct_grad_set_enabled(prev);

    /* train mode: batch statistics, running stats updated, gradients; the
     * transformer is not applied while training */
    stu_set_training(s, 1);
    ct_tensor *yt = stu_forward(s, x);
    check_close("ytrain", yt, ref_tensor(r, "ytrain"), 1e-4);
    assert_int_equal(ct_backward(ct_sum(ct_mul(yt, yt))), 0);
    check_close("rm enc.1", mp_params_get(mp, "backbone.body.layer1.encoder.1.running_mean"),
                ref_tensor(r, "rm_enc1"), 1e-5);
    check_close("rv enc.1", mp_params_get(mp, "backbone.body.layer1.encoder.1.running_var"),
                ref_tensor(r, "rv_enc1"), 1e-5);
    ct_tensor *g = ct_grad(mp_params_get(mp, "backbone.body.layer1.encoder.0.weight"));
    check_close("grad enc.0", g, ref_tensor(r, "g_enc0"), 1e-3);
    ct_scope_end();
    assert_int_equal(ct_live_tensor_count(), live);
    ws_reader_close(r);
    stu_destroy(s);
    mp_params_destroy(mp);
}

static void test_large3(void **state) {
    (void)state;
    run_case("large3.h5", STU_LARGE, 3);
}

static void test_small6(void **state) {
    (void)state;
    run_case("small6.h5", STU_SMALL, 6);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_large3),
        cmocka_unit_test(test_small6),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
