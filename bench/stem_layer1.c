/* stem_layer1.c: ResNet-50 stem + layer1 (frozen BN) forward through ctorch,
 * on the weights and input that bench/stem_layer1_ref.py prepared.
 * Checks the output against torchvision's, then prints one time per run.
 * usage: bench_stem_layer1 WEIGHTS.h5 RUNS THREADS */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctorch.h"
#include "hnd_error.h"
#include "model_params.h"
#include "mono_clock.h"
#include "wstore.h"

static mp_params *g_p;

static ct_tensor *P(const char *fmt, const char *prefix) {
    char name[256];
    snprintf(name, sizeof name, fmt, prefix);
    ct_tensor *t = mp_params_get(g_p, name);
    if (!t) {
        fprintf(stderr, "bench: no parameter %s\n", name);
        exit(1);
    }
    return t;
}

static void add_bn(const char *name, int64_t c) {
    const char *sfx[4] = {"weight", "bias", "running_mean", "running_var"};
    char n[256];
    for (int i = 0; i < 4; i++) {
        snprintf(n, sizeof n, "%s.%s", name, sfx[i]);
        mp_params_add(g_p, n, MP_BUFFER, &c, 1);
    }
}

static void add_conv(const char *name, int64_t o, int64_t i, int64_t k) {
    int64_t s[4] = {o, i, k, k};
    char n[256];
    snprintf(n, sizeof n, "%s.weight", name);
    mp_params_add(g_p, n, MP_PARAM, s, 4);
}

static ct_tensor *conv_bn(const ct_tensor *x, const char *conv, const char *bn, int64_t stride, int64_t pad,
                          int relu) {
    int64_t s[2] = {stride, stride}, p[2] = {pad, pad}, d[2] = {1, 1};
    ct_tensor *y = ct_conv2d(x, P("%s.weight", conv), NULL, s, p, d, 1);
    y = ct_frozen_batch_norm(y, P("%s.weight", bn), P("%s.bias", bn), P("%s.running_mean", bn),
                             P("%s.running_var", bn), 1e-5);
    /* in place, as torchvision's ReLU(inplace=True) */
    if (relu && y) ct_relu_(y);
    return y;
}

static ct_tensor *bottleneck(const ct_tensor *x, int i) {
    char c[64], b[64];
    ct_tensor *y = (ct_tensor *)x;
    for (int k = 1; k <= 3; k++) {
        snprintf(c, sizeof c, "layer1.%d.conv%d", i, k);
        snprintf(b, sizeof b, "layer1.%d.bn%d", i, k);
        y = conv_bn(y, c, b, 1, k == 2 ? 1 : 0, k < 3);
    }
    ct_tensor *id = (ct_tensor *)x;
    if (i == 0) {
        snprintf(c, sizeof c, "layer1.0.downsample.0");
        snprintf(b, sizeof b, "layer1.0.downsample.1");
        id = conv_bn(x, c, b, 1, 0, 0);
    }
    /* out += identity; relu(out), in place as torchvision's Bottleneck */
    if (!y || !id || ct_add_(y, id, 1.0) != 0 || ct_relu_(y) != 0) return NULL;
    return y;
}

static ct_tensor *forward(const ct_tensor *x) {
    ct_scope_begin();
    ct_tensor *y = conv_bn(x, "conv1", "bn1", 2, 3, 1);
    int64_t k[2] = {3, 3}, s[2] = {2, 2}, p[2] = {1, 1}, d[2] = {1, 1};
    y = ct_max_pool2d(y, k, s, p, d, 0);
    for (int i = 0; i < 3; i++) y = bottleneck(y, i);
    if (!y) {
        fprintf(stderr, "bench: forward failed: %s\n", ct_last_error());
        exit(1);
    }
    ct_scope_keep(y);
    ct_scope_end();
    return y;
}

static ct_tensor *load_data(const char *path, const char *name) {
    ws_reader *r = ws_reader_open(path);
    ws_tensor t;
    if (!r || ws_reader_get(r, "data", name, &t) != 0) {
        fprintf(stderr, "bench: %s\n", hnd_error());
        exit(1);
    }
    ct_tensor *x = ct_from_buffer(t.data, t.dtype, t.ndim, t.shape);
    ws_tensor_clear(&t);
    ws_reader_close(r);
    return x;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s WEIGHTS.h5 RUNS THREADS\n", argv[0]);
        return 2;
    }
    int runs = atoi(argv[2]);
    ct_set_num_threads(atoi(argv[3]));
    g_p = mp_params_new();
    add_conv("conv1", 64, 3, 7);
    add_bn("bn1", 64);
    for (int i = 0; i < 3; i++) {
        char c[64], b[64];
        int64_t in = i == 0 ? 64 : 256;
        int64_t io[3][3] = {{64, in, 1}, {64, 64, 3}, {256, 64, 1}};
        for (int k = 1; k <= 3; k++) {
            snprintf(c, sizeof c, "layer1.%d.conv%d", i, k);
            snprintf(b, sizeof b, "layer1.%d.bn%d", i, k);
            add_conv(c, io[k - 1][0], io[k - 1][1], io[k - 1][2]);
            add_bn(b, io[k - 1][0]);
        }
    }
    add_conv("layer1.0.downsample.0", 256, 64, 1);
    add_bn("layer1.0.downsample.1", 256);
    if (mp_params_load(g_p, argv[1], 1, NULL, NULL) < 0) {
        fprintf(stderr, "bench: %s\n", hnd_error());
        return 1;
    }
    ct_grad_set_enabled(0);
    ct_tensor *x = load_data(argv[1], "input"), *ref = load_data(argv[1], "output");
    /* parity first: a fast wrong answer is no benchmark */
    ct_tensor *y = forward(x);
    ct_tensor *diff = ct_max(ct_abs(ct_sub(y, ref)));
    ct_tensor *scale = ct_max(ct_abs(ref));
    double md, ms;
    ct_item_f64(diff, &md);
    ct_item_f64(scale, &ms);
    fprintf(stderr, "ctorch vs torchvision: max |diff| %.3g (output max %.3g)\n", md, ms);
    if (!(md <= 1e-4 * (ms > 1 ? ms : 1))) {
        fprintf(stderr, "bench: output differs from torchvision\n");
        return 1;
    }
    ct_destroy(y);
    y = forward(x);  /* second warm-up, as on the Python side */
    ct_destroy(y);
    for (int i = 0; i < runs; i++) {
        double t = mono_now_s();
        y = forward(x);
        printf("%.6f\n", mono_now_s() - t);
        ct_destroy(y);
    }
    mp_params_destroy(g_p);
    return 0;
}
