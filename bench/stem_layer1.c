/* stem_layer1.c: ResNet-50 stem + layer1 (frozen BN) forward of models/resnet.c,
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
#include "resnet.h"
#include "mono_clock.h"
#include "wstore.h"

static rn_resnet *g_net;

/* models/resnet.c's stem and layer1, the code `hnd detect` runs (frozen BN
 * folded into the convolutions, NHWC, when inference). */
static ct_tensor *forward(const ct_tensor *x) {
    ct_scope_begin();
    ct_tensor *y = rn_stem(g_net, x);
    y = y ? rn_layer(g_net, 1, y) : NULL;
    if (!y) {
        fprintf(stderr, "bench: forward failed: %s\n", hnd_error());
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
    mp_params *p = mp_params_new();
    rcnn_backbone_config cfg = {.depth = 50, .width_per_group = 64, .trainable_layers = 0, .frozen_bn = 1,
                                .bn_eps = 1e-5};
    g_net = p ? rn_new(p, "", &cfg, 1) : NULL;
    /* the file holds conv1, bn1 and layer1 only (5 + 3 blocks x 3 convs x 5 + the downsample's 5 tensors) */
    int missing = 0, unexpected = 0, n = g_net ? mp_params_load(p, argv[1], 0, &missing, &unexpected) : -1;
    if (n < 0 || unexpected != 0 || n != 5 + 3 * 3 * 5 + 5) {
        fprintf(stderr, "bench: %s: %d tensors loaded, %d unexpected: %s\n", argv[1], n, unexpected, hnd_error());
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
    rn_destroy(g_net);
    mp_params_destroy(p);
    return 0;
}
