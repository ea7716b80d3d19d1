/* hnd_step_bench.c: one HND training step through hnd: ResNet-50 teacher
 * stem + layer1 without grad, Bottleneck4LargeResNet (C=3) student stem +
 * layer1 with grad (conv1 and the bottleneck train, bn1 frozen), MSE(sum),
 * Adam, batch 2 at 800x1088. Prints one time per measured step (seconds).
 * usage: bench_hnd_step STEPS THREADS [channels_last]  (driven by hnd_step_bench.sh) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bottleneck.h"
#include "ctorch.h"
#include "hnd_error.h"
#include "mono_clock.h"
#include "model_params.h"
#include "rcnn_config.h"
#include "resnet.h"
#include "str_util.h"

/* torchvision-like init: convs kaiming (fan_out), BN 1/0, running var 1. */
static int init_params(mp_params *p) {
    for (int i = 0; i < mp_params_count(p); i++) {
        const char *n = mp_params_name(p, i);
        ct_tensor *t = mp_params_tensor(p, i);
        int rc = 0;
        if (ct_ndim(t) == 4) {
            double fan_out = (double)(ct_size(t, 0) * ct_size(t, 2) * ct_size(t, 3));
            int64_t sh[4];
            ct_shape(t, sh, 4);
            ct_scope_begin();
            ct_tensor *r = ct_mul_scalar(ct_randn(sh, 4, CT_F32, ct_cpu()), sqrt(2.0 / fan_out));
            rc = r ? ct_copy_(t, r) : -1;
            ct_scope_end();
        } else if (su_ends_with(n, ".weight") || su_ends_with(n, ".running_var")) {
            rc = ct_fill_(t, 1.0);
        }
        if (rc != 0) return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    int steps = argc > 1 ? atoi(argv[1]) : 2, threads = argc > 2 ? atoi(argv[2]) : 0;
    int cl = argc > 3 && strcmp(argv[3], "channels_last") == 0;
    ct_set_num_threads(threads);
    ct_manual_seed(0);
    rcnn_config rc;
    rcnn_config_default(&rc, "faster_rcnn_resnet50_fpn");
    rc.backbone.trainable_layers = 0;
    mp_params *pt = mp_params_new(), *ps = mp_params_new();
    rn_resnet *t = rn_new(pt, "", &rc.backbone, 1);
    rn_resnet *s = rn_new(ps, "", &rc.backbone, 0);
    stu_bottleneck *b = s ? stu_new(ps, "layer1.", STU_LARGE, 3) : NULL;
    if (!t || !b || init_params(pt) || init_params(ps) || stu_init(b)) {
        fprintf(stderr, "bench: %s\n", hnd_error());
        return 1;
    }
    for (int i = 0; i < mp_params_count(pt); i++) ct_set_requires_grad(mp_params_tensor(pt, i), 0);
    if (cl && (mp_params_to_channels_last(pt, NULL) < 0 || mp_params_to_channels_last(ps, NULL) < 0)) {
        fprintf(stderr, "bench: %s\n", hnd_error());
        return 1;
    }
    ct_tensor *params[64];
    int np = 0;
    params[np++] = mp_params_get(ps, "conv1.weight");
    ct_set_requires_grad(params[0], 1);
    np += stu_parameters(b, params + 1, 63);
    ct_optim *opt = ct_optim_adam(params, np, 1e-3, 0.9, 0.999, 1e-8, 0, 0);
    stu_set_training(b, 1);
    int64_t xs[4] = {2, 3, 800, 1088};
    ct_tensor *x = ct_rand(xs, 4, CT_F32, ct_cpu());
    if (cl) {
        ct_tensor *xc = ct_channels_last(x);
        ct_destroy(x);
        x = xc;
    }
    for (int k = 0; k < steps + 1; k++) {
        double t0 = mono_now_s();
        ct_scope_begin();
        int prev = ct_grad_set_enabled(0);
        ct_tensor *yt = rn_layer(t, 1, rn_stem(t, x));
        ct_grad_set_enabled(1);
        ct_tensor *ys = stu_forward(b, rn_stem(s, x));
        ct_grad_set_enabled(prev);
        ct_tensor *loss = yt && ys ? ct_mse_loss(ys, yt, CT_REDUCE_SUM) : NULL;
        if (!loss || ct_optim_zero_grad(opt, 0) || ct_backward(loss) || ct_optim_step(opt)) {
            fprintf(stderr, "bench: %s %s\n", hnd_error(), ct_last_error());
            return 1;
        }
        double v;
        ct_item_f64(loss, &v);
        ct_scope_end();
        double dt = mono_now_s() - t0;
        if (k > 0) printf("%.4f\n", dt);   /* the first step warms up */
        else fprintf(stderr, "hnd step 0 (warm-up): %.2f s, loss %.6g\n", dt, v);
    }
    ct_optim_destroy(opt);
    ct_destroy(x);
    stu_destroy(b);
    rn_destroy(s);
    rn_destroy(t);
    mp_params_destroy(ps);
    mp_params_destroy(pt);
    return 0;
}
