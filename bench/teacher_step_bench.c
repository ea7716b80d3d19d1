/* teacher_step_bench.c: the training step of `hnd train-teacher` (the
 * detector's forward in training mode with torchvision's losses, the sum
 * backpropagated, SGD momentum 0.9 / weight decay 1e-4) on fixed synthetic
 * batches, timed per step. Prints one time per measured step (seconds); the
 * first step warms up. bench/teacher_step_ref.py is the same step in
 * torchvision; bench/teacher_step_bench.sh alternates the two.
 *
 * usage: bench_teacher_step MODEL STEPS THREADS [channels_last]
 *   MODEL mask_r18:   the demo teacher (configs/demo/teacher_mask_rcnn_r18_synth.json:
 *                     ResNet-18 FPN 64, trainable BN, 22 classes), batch 4 at 120x160
 *   MODEL faster_r50: torchvision's Faster R-CNN R50-FPN (frozen BN,
 *                     trainable_backbone_layers 3, 91 classes), batch 2 at 800x1067
 *   channels_last:    the convolution weights re-laid NHWC once (the path
 *                     the HND steps take), which oneDNN then follows */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ctorch.h"
#include "hnd_error.h"
#include "hnd_model.h"
#include "mono_clock.h"
#include "model_params.h"
#include "rcnn.h"
#include "rcnn_config.h"
#include "rcnn_loss.h"
#include "str_util.h"

#define NOBJ 3

static int fail(const char *what) {
    fprintf(stderr, "bench_teacher_step: %s: %s %s\n", what, hnd_error(), ct_last_error());
    return 1;
}

/* Three objects per image at fixed fractions of its size (the reference's
 * boxes): label, box and filled-box mask. */
static int make_targets(int n, int64_t h, int64_t w, int masks, ct_tensor **imgs, rt_target *rt) {
    static const double fr[NOBJ][4] = {{.10, .15, .45, .60}, {.50, .20, .90, .70}, {.30, .55, .65, .95}};
    int64_t ish[3] = {3, h, w};
    for (int i = 0; i < n; i++) {
        float bx[NOBJ * 4];
        int64_t lb[NOBJ];
        uint8_t *mk = masks ? calloc((size_t)(NOBJ * h * w), 1) : NULL;
        if (masks && !mk) return hnd_error_set("out of memory");
        for (int k = 0; k < NOBJ; k++) {
            double x0 = fr[k][0] * (double)w, y0 = fr[k][1] * (double)h, x1 = fr[k][2] * (double)w,
                   y1 = fr[k][3] * (double)h;
            bx[4 * k] = (float)x0;
            bx[4 * k + 1] = (float)y0;
            bx[4 * k + 2] = (float)x1;
            bx[4 * k + 3] = (float)y1;
            lb[k] = 1 + k + i % 3;
            for (int64_t y = (int64_t)y0; masks && y < (int64_t)y1; y++)
                memset(mk + ((size_t)k * h + y) * w + (int64_t)x0, 1, (size_t)((int64_t)x1 - (int64_t)x0));
        }
        int64_t bs[2] = {NOBJ, 4}, ls[1] = {NOBJ}, ms[3] = {NOBJ, h, w};
        imgs[i] = ct_rand(ish, 3, CT_F32, ct_cpu());
        rt[i].boxes = ct_from_buffer(bx, CT_F32, 2, bs);
        rt[i].labels = ct_from_buffer(lb, CT_I64, 1, ls);
        rt[i].masks = masks ? ct_from_buffer(mk, CT_U8, 3, ms) : NULL;
        rt[i].keypoints = NULL;
        free(mk);
        if (!imgs[i] || !rt[i].boxes || !rt[i].labels || (masks && !rt[i].masks))
            return hnd_error_set("targets: %s", ct_last_error());
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: bench_teacher_step mask_r18|faster_r50 STEPS THREADS [channels_last]\n");
        return 2;
    }
    const char *model = argv[1];
    int steps = atoi(argv[2]), threads = atoi(argv[3]);
    int cl = argc > 4 && strcmp(argv[4], "channels_last") == 0;
    ct_set_num_threads(threads);
    ct_manual_seed(0);
    rcnn_config rc;
    int n;
    int64_t h, w;
    if (strcmp(model, "mask_r18") == 0) {
        const char *src = getenv("HND_SOURCE_DIR");
        char path[1100];
        snprintf(path, sizeof path, "%s/configs/demo/teacher_mask_rcnn_r18_synth.json", src && *src ? src : ".");
        tc_config c;
        if (tc_load(path, NULL, 0, &c) != 0 || hm_model_config(&c.teacher, &rc) != 0) return fail(path);
        tc_clear(&c);
        n = 4;
        h = 120;
        w = 160;
    } else if (strcmp(model, "faster_r50") == 0) {
        rcnn_config_default(&rc, "faster_rcnn_resnet50_fpn");
        n = 2;
        h = 800;
        w = 1067;
    } else {
        fprintf(stderr, "bench_teacher_step: unknown model '%s' (mask_r18, faster_r50)\n", model);
        return 2;
    }
    rcnn_model *m = rcnn_new(&rc);
    if (!m || rcnn_init(m, 0) != 0) return fail("model");
    /* trainable as hnd train-teacher makes them: the backbone as built, every other parameter */
    mp_params *p = rcnn_params(m);
    ct_tensor **params = malloc((size_t)mp_params_count(p) * sizeof *params);
    int np = 0;
    for (int i = 0; params && i < mp_params_count(p); i++) {
        ct_tensor *t = mp_params_tensor(p, i);
        if (!su_starts_with(mp_params_name(p, i), "backbone.body.") && mp_params_kind(p, i) == MP_PARAM)
            ct_set_requires_grad(t, 1);
        if (ct_requires_grad(t) == 1) params[np++] = t;
    }
    if (cl && mp_params_to_channels_last(p, NULL) < 0) return fail("channels_last");
    ct_optim *opt = params ? ct_optim_sgd(params, np, 0.02, 0.9, 0, 1e-4, 0) : NULL;
    ct_tensor *imgs[4];
    rt_target rt[4];
    if (!opt || make_targets(n, h, w, rc.mask.enabled, imgs, rt) != 0) return fail("setup");
    for (int k = 0; k < steps + 1; k++) {
        double t0 = mono_now_s();
        ct_scope_begin();
        rl_losses L;
        double v = 0;
        if (rl_forward_train(m, (const ct_tensor *const *)imgs, rt, n, NULL, &L) != 0) return fail("forward");
        ct_tensor *sum = rl_losses_sum(&L);
        if (!sum || ct_item_f64(sum, &v) != 0 || ct_optim_zero_grad(opt, 0) != 0 || ct_backward(sum) != 0 ||
            ct_optim_step(opt) != 0)
            return fail("step");
        rl_losses_clear(&L);
        ct_scope_end();
        double dt = mono_now_s() - t0;
        if (k > 0) printf("%.4f\n", dt);
        else fprintf(stderr, "hnd %s step 0 (warm-up): %.2f s, loss %.5g, %d trainable tensors\n", model, dt, v, np);
        fflush(stdout);
    }
    for (int i = 0; i < n; i++) {
        ct_destroy(imgs[i]);
        ct_destroy(rt[i].boxes);
        ct_destroy(rt[i].labels);
        ct_destroy(rt[i].masks);
    }
    ct_optim_destroy(opt);
    free(params);
    rcnn_destroy(m);
    return 0;
}
