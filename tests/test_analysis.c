/* test_analysis.c: infer/analysis.h and infer/latency.h.
 *  - ResNet-50 FPN Faster R-CNN: tensor sizes at every split point and
 *    parameters per module against torchvision 0.14 (tests/py/ref_analysis.py,
 *    run at test time; same weights through hnd import-torchvision, same
 *    input 3x800x800);
 *  - a student: the bottleneck point and its parameters, hand-derived;
 *  - the latency model, statistics and quantized sizes, hand-derived. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "analysis.h"
#include "heads_test_util.h"
#include "latency.h"
#include "test_util.h"

static cJSON *load_json(const char *path) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = 0;
    fclose(f);
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    assert_non_null(j);
    return j;
}

static int64_t jint(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v)) {
        print_error("reference has no number '%s'\n", k);
        fail();
    }
    return (int64_t)v->valuedouble;
}

static void test_r50_against_torchvision(void **state) {
    (void)state;
    char dir[512], cmd[4096], pth[600], h5[600], img[600], js[600];
    tu_tmp(dir, sizeof dir, "analysis_ref");
    snprintf(cmd, sizeof cmd, "ref_analysis.py '%s' 800", dir);
    assert_int_equal(tu_python(cmd), 0);
    snprintf(pth, sizeof pth, "%s/ref_analysis.pth", dir);
    snprintf(h5, sizeof h5, "%s/ref_analysis_weights.h5", dir);
    snprintf(img, sizeof img, "%s/ref_analysis.h5", dir);
    snprintf(js, sizeof js, "%s/ref_analysis.json", dir);
    const char *bin = getenv("HND_BIN_DIR");
    snprintf(cmd, sizeof cmd, "'%s/hnd' import-torchvision '%s' '%s' --quiet", bin && *bin ? bin : ".", pth, h5);
    assert_int_equal(system(cmd), 0);

    ws_reader *r = ws_reader_open(img);
    assert_non_null(r);
    ct_tensor *image = ht_must(r, "ref", "image");
    ws_reader_close(r);

    spa_options o;
    memset(&o, 0, sizeof o);
    snprintf(o.model.arch, sizeof o.model.arch, "faster_rcnn_resnet50_fpn");
    snprintf(o.model.weights, sizeof o.model.weights, "%s", h5);
    o.model.student_kind = -1;
    o.model.device = ct_cpu();
    o.image = image;
    spa_result res;
    if (spa_run(&o, &res) != 0) {
        print_error("spa_run: %s\n", hnd_error());
        fail();
    }
    ct_destroy(image);

    cJSON *ref = load_json(js);
    const cJSON *pts = cJSON_GetObjectItemCaseSensitive(ref, "points");
    const cJSON *par = cJSON_GetObjectItemCaseSensitive(ref, "params");
    const cJSON *buf = cJSON_GetObjectItemCaseSensitive(ref, "buffers");
    static const char *const names[] = {"input",  "conv1",  "bn1",    "relu", "maxpool", "layer1",
                                        "layer2", "layer3", "layer4", "fpn",  "rpn",     "roi_heads"};
    assert_int_equal(res.n, 12);
    int64_t total = 0;
    for (int i = 0; i < 12; i++) {
        assert_string_equal(res.pts[i].name, names[i]);
        int64_t want = jint(pts, names[i]);
        if (res.pts[i].elements != want) {
            print_error("point %s: %lld elements (%s), torchvision %lld\n", names[i],
                        (long long)res.pts[i].elements, res.pts[i].shapes, (long long)want);
            fail();
        }
        assert_near(res.pts[i].ratio, (double)want / 1920000.0, 1e-12);
        if (cJSON_GetObjectItemCaseSensitive(par, names[i])) {
            assert_int_equal(res.pts[i].params, jint(par, names[i]));
            assert_int_equal(res.pts[i].buffers, jint(buf, names[i]));
        } else {
            assert_int_equal(res.pts[i].params, 0);   /* input, relu, maxpool */
        }
        total += res.pts[i].params;
    }
    assert_int_equal(total, jint(ref, "total_params"));
    assert_int_equal(res.pts[11].cum_params, jint(ref, "total_params"));
    assert_int_equal(res.proposals, jint(ref, "proposals"));
    assert_string_equal(res.pts[9].shapes, "256x200x200+256x100x100+256x50x50+256x25x25+256x13x13");
    /* the paper's finding: no split point smaller than the input before layer2 */
    for (int i = 1; i <= 5; i++) assert_true(res.pts[i].ratio > 1.0);
    cJSON_Delete(ref);
}

/* A student's bottleneck point, hand-derived: 256x256 image, min_size 256:
 * stem 64x64x64, bottleneck C x 68 x 68; encoder parameters
 * 64*64*4 + 128 + 64*256*4 + 512 + 256*64*4 + 128 + 64*C*4. */
static void test_student_point(void **state) {
    (void)state;
    spa_options o;
    memset(&o, 0, sizeof o);
    snprintf(o.model.arch, sizeof o.model.arch, "faster_rcnn_resnet50_fpn");
    o.model.student_channels = 6;
    o.model.student_kind = -1;
    o.model.min_size = 256;
    o.model.device = ct_cpu();
    o.input[0] = 3, o.input[1] = 256, o.input[2] = 256;
    spa_result res;
    if (spa_run(&o, &res) != 0) {
        print_error("spa_run: %s\n", hnd_error());
        fail();
    }
    assert_true(res.is_student);
    int b = spa_find(&res, "bottleneck");
    assert_int_equal(b, 5);
    assert_string_equal(res.pts[b].shapes, "6x68x68");
    assert_int_equal(res.pts[b].elements, 6 * 68 * 68);
    assert_near(res.pts[b].ratio, 6.0 * 68 * 68 / (3.0 * 256 * 256), 1e-12);
    assert_int_equal(res.pts[b].params, 64 * 64 * 4 + 128 + 64 * 256 * 4 + 512 + 256 * 64 * 4 + 128 + 64 * 6 * 4);
    assert_int_equal(res.pts[b].cum_params, 9408 + res.pts[b].params);
    int l1 = spa_find(&res, "layer1");
    assert_string_equal(res.pts[l1].shapes, "256x64x64");
    /* decoder: BN(6) 12, conv 6->64 1536, BN 128, conv 64->128 32768, BN 256,
     * conv 128->256 131072, BN 512, conv 256->256 262144, BN 512 */
    assert_int_equal(res.pts[l1].params, 12 + 1536 + 128 + 32768 + 256 + 131072 + 512 + 262144 + 512);
    assert_int_equal(spa_find(&res, "layer2"), 7);
}

static void test_stats(void **state) {
    (void)state;
    double v[10] = {10, 2, 3, 4, 5, 6, 7, 8, 9, 1};
    lat_stats s;
    lat_stats_compute(v, 10, &s);
    assert_int_equal(s.n, 10);
    assert_near(s.mean, 5.5, 1e-12);
    assert_near(s.std, sqrt(8.25), 1e-12);
    assert_near(s.p50, 5.5, 1e-12);
    assert_near(s.p95, 9.55, 1e-12);   /* 1 + 9 * 0.95 between 9 and 10 */
    assert_near(s.min, 1, 0);
    assert_near(s.max, 10, 0);
    assert_near(v[0], 10, 0);          /* input untouched */
    lat_stats_compute(v, 1, &s);
    assert_near(s.p95, 10, 0);
    assert_near(s.std, 0, 0);
}

static void test_total_time_model(void **state) {
    (void)state;
    /* 125000 bytes = 1 Mbit: 1000 ms at 1 Mbit/s, 100 ms at 10 */
    lat_strategy e = {"edge", 0, 125000, 50};
    assert_near(lat_total_ms(&e, 1, 0), 1050, 1e-9);
    assert_near(lat_total_ms(&e, 10, 5), 155, 1e-9);
    lat_strategy mob = {"mobile", 400, 0, 0};
    assert_near(lat_total_ms(&mob, 0.5, 20), 400, 0);   /* no transfer, no overhead */

    /* a student measured here: head 10 ms (quantizer 1), tail 40 ms
     * (dequantizer 2), whole 48 ms; input 3x100x100 RGB, JPEG 6000 bytes;
     * bottleneck 3x29x29 = 2523 elements */
    lat_report r;
    memset(&r, 0, sizeof r);
    r.is_student = 1;
    r.parts[LAT_HEAD].mean = 10;
    r.parts[LAT_QUANTIZE].mean = 1;
    r.parts[LAT_TAIL].mean = 40;
    r.parts[LAT_DEQUANTIZE].mean = 2;
    r.parts[LAT_WHOLE].mean = 48;
    r.input_rgb_bytes = 30000;
    r.input_jpeg_bytes = 6000;
    r.bottleneck_q8_bytes = 2523 + 5;
    r.bottleneck_f16_bytes = 2 * 2523;
    r.bottleneck_f32_bytes = 4 * 2523;
    lat_device d = {20, 0, 0};
    lat_strategy s[8];
    assert_int_equal(lat_strategies(&r, &d, s, 8), 6);
    assert_string_equal(s[0].name, "mobile");
    assert_near(s[0].device_ms, 960, 1e-9);
    assert_near(s[1].bytes, 6000, 0);
    assert_near(s[1].server_ms, 48, 0);
    assert_string_equal(s[3].name, "split-8bit");
    assert_near(s[3].device_ms, 200, 1e-9);
    assert_near(s[3].bytes, 2528, 0);
    assert_near(s[3].server_ms, 40, 0);
    assert_near(s[4].device_ms, 180, 1e-9);   /* 20 x (10 - 1) */
    assert_near(s[4].server_ms, 38, 0);
    /* at 0.5 Mbit/s: edge-jpeg95 48 + 96 = 144; split-8bit 240 + 40.448 = 280.448;
     * mobile 960 -> edge wins; with 10 ms overhead edge 154 */
    assert_near(lat_total_ms(&s[1], 0.5, 0), 144, 1e-9);
    assert_near(lat_total_ms(&s[3], 0.5, 0), 200 + 40 + 2528 * 8 / 500.0, 1e-9);
    assert_int_equal(lat_best(s, 6, 0.5, 0), 1);
    /* a slow device measured directly: head 5 ms on the device makes split
     * the best at 0.5 Mbit/s: 5 + 40.448 + 40 = 85.448 < 144 */
    lat_device d2 = {20, 5, 0};
    lat_strategies(&r, &d2, s, 8);
    assert_near(s[3].device_ms, 5, 1e-12);
    assert_near(s[4].device_ms, 4.5, 1e-12);
    assert_int_equal(lat_best(s, 6, 0.5, 0), 3);
    assert_near(lat_total_ms(&s[3], 0.5, 0), 85.448, 1e-9);
    /* an original model has three strategies */
    r.is_student = 0;
    assert_int_equal(lat_strategies(&r, &d, s, 8), 3);
    assert_int_equal(lat_strategies(&r, &d, s, 2), -1);

    double rates[LAT_MAX_RATES];
    assert_int_equal(lat_parse_rates("0.5,1,2,5,10,50", rates, LAT_MAX_RATES), 6);
    assert_near(rates[0], 0.5, 0);
    assert_near(rates[5], 50, 0);
    assert_int_equal(lat_parse_rates("1,,2", rates, LAT_MAX_RATES), -1);
    assert_int_equal(lat_parse_rates("1,-2", rates, LAT_MAX_RATES), -1);
    assert_int_equal(lat_parse_rates("fast", rates, LAT_MAX_RATES), -1);
}

/* lat_bench on a small ResNet-18 student: bytes hand-derived.
 * 150x100 image (w x h), min_size 128: scale = float32(128/100) =
 * 1.27999997 (torchvision computes it in float32), floor(100 * s) = 127,
 * floor(150 * s) = 191 -> padded to 128x192; stem 32x48; bottleneck C=2:
 * 2x36x52 = 3744. */
static void test_bench_small(void **state) {
    (void)state;
    spa_model_spec spec;
    memset(&spec, 0, sizeof spec);
    snprintf(spec.arch, sizeof spec.arch, "faster_rcnn_resnet18_fpn");
    spec.student_channels = 2;
    spec.student_kind = -1;
    spec.min_size = 128;
    spec.device = ct_cpu();
    spa_model m;
    assert_int_equal(spa_model_open(&spec, &m), 0);
    img_u8 im = {150, 100, malloc(3 * 150 * 100)};
    for (int i = 0; i < 3 * 150 * 100; i++) im.rgb[i] = (uint8_t)((i * 7) % 251);
    lat_bench_options o = {1, 3, 1};
    lat_report r;
    if (lat_bench(m.sr, &im, 1, &o, &r) != 0) {
        print_error("lat_bench: %s\n", hnd_error());
        fail();
    }
    assert_int_equal(r.runs, 3);
    assert_int_equal(r.bottleneck_shape[0], 2);
    assert_int_equal(r.bottleneck_shape[1], 36);
    assert_int_equal(r.bottleneck_shape[2], 52);
    assert_near(r.bottleneck_elements, 3744, 0);
    assert_near(r.bottleneck_f32_bytes, 4 * 3744, 0);
    assert_near(r.bottleneck_f16_bytes, 2 * 3744, 0);
    assert_near(r.bottleneck_q8_bytes, 3744 + 5, 0);
    assert_near(r.input_rgb_bytes, 45000, 0);
    assert_true(r.input_jpeg_bytes > 100 && r.input_jpeg_bytes < 45000);
    assert_near(r.resized_hw[0], 127, 0);
    assert_near(r.resized_hw[1], 191, 0);
    assert_true(r.last_zero_point >= 0 && r.last_zero_point <= 255 && r.last_scale > 0);
    for (int p = 0; p < LAT_NPARTS; p++) {
        assert_int_equal(r.parts[p].n, 3);
        assert_true(r.parts[p].mean >= 0);
    }
    double sum = r.parts[LAT_TRANSFORM].mean + r.parts[LAT_STEM].mean + r.parts[LAT_ENCODER].mean +
                 r.parts[LAT_QUANTIZE].mean;
    assert_near(r.parts[LAT_HEAD].mean, sum, 1e-6);
    assert_true(r.parts[LAT_WHOLE].mean > 0 && r.parts[LAT_TAIL].mean > 0);
    free(im.rgb);
    spa_model_clear(&m);
}

static void test_errors(void **state) {
    (void)state;
    spa_model_spec spec;
    memset(&spec, 0, sizeof spec);
    spa_model m;
    assert_int_equal(spa_model_open(&spec, &m), -1);   /* no arch */
    snprintf(spec.arch, sizeof spec.arch, "yolo");
    assert_int_equal(spa_model_open(&spec, &m), -1);
    snprintf(spec.arch, sizeof spec.arch, "faster_rcnn_resnet18_fpn");
    snprintf(spec.weights, sizeof spec.weights, "/nonexistent/w.h5");
    assert_int_equal(spa_model_open(&spec, &m), -1);
    assert_non_null(strstr(hnd_error(), "/nonexistent/w.h5"));
    assert_int_equal(spa_spec_from_weights("/nonexistent/w.h5", &spec), -1);
    spec.weights[0] = 0;
    spec.min_size = 64;
    assert_int_equal(spa_model_open(&spec, &m), 0);
    spa_result res;
    int64_t bad[3] = {1, 64, 64};
    assert_int_equal(spa_run_model(&m, bad, NULL, &res), -1);
    spa_model_clear(&m);
    spa_model_clear(&m);   /* idempotent */
}

static int group_teardown(void **state) {
    char dir[512];
    tu_cleanup(tu_tmp(dir, sizeof dir, "analysis_ref"));
    return 0;
}

int main(void) {
    ct_set_num_threads(0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_total_time_model),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_bench_small),
        cmocka_unit_test(test_student_point),
        cmocka_unit_test(test_r50_against_torchvision),
    };
    return cmocka_run_group_tests(tests, NULL, group_teardown);
}
