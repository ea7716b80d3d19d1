/* hnd_mixed.c: see hnd_mixed.h. */
#include "hnd_mixed.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backbone.h"
#include "hnd_error.h"
#include "rcnn.h"
#include "rcnn_transform.h"

/* sum over terms of factor * criterion(teacher stage, student stage) */
static ct_tensor *terms_loss(const tc_train *t, ct_tensor *const to[5], ct_tensor *const so[5]) {
    ct_tensor *loss = NULL;
    for (int i = 0; i < t->n_terms; i++) {
        const tc_term *m = &t->terms[i];
        ct_tensor *x = m->loss == TC_LOSS_MSE
                           ? ct_mse_loss(to[m->teacher_stage], so[m->student_stage], (ct_reduction)m->reduction)
                           : ct_l1_loss(to[m->teacher_stage], so[m->student_stage], (ct_reduction)m->reduction);
        if (x && m->factor != 1.0) x = ct_mul_scalar(x, m->factor);
        if (x && loss) x = ct_add(loss, x);
        if (!x) {
            hnd_error_set("loss term %s: %s", m->name, ct_last_error());
            return NULL;
        }
        loss = x;
    }
    return loss;
}

int hx_batch_loss(const tc_config *c, sr_model *teacher, sr_model *student, const ct_tensor *const *images,
                  const rt_target *targets, int n, int channels_last, const rl_sampler *sampler, ct_tensor **loss,
                  hx_parts *parts) {
    *loss = NULL;
    if (c->train.n_terms < 1) return hnd_error_set("mixed loss: no distillation term");
    rcnn_model *sm = sr_rcnn(student);
    rt_target *tr = calloc((size_t)n, sizeof *tr);
    if (!tr) return hnd_error_set("out of memory");
    rt_image_list l;
    memset(&l, 0, sizeof l);
    rl_losses L;
    memset(&L, 0, sizeof L);
    int t_upto = 1, rc = -1;
    for (int i = 0; i < c->train.n_terms; i++)
        if (c->train.terms[i].teacher_stage > t_upto) t_upto = c->train.terms[i].teacher_stage;
    ct_scope_begin();
    /* the student's transform in training mode (with its targets; one size
     * draw per image as torchvision); the teacher, in eval mode, would resize
     * the same way: teacher and student share min_size/max_size */
    if (rt_transform(&rcnn_get_config(sm)->transform, images, n, targets, tr, 1, &l) != 0) goto done;
    const ct_tensor *x = channels_last ? ct_channels_last(l.tensors) : l.tensors;
    if (!x) {
        hnd_error_set("batch: %s", ct_last_error());
        goto done;
    }
    ct_tensor *to[5], *so[5];
    int prev = ct_grad_set_enabled(0);
    int ok = sr_stages(teacher, x, t_upto, to) == 0;
    ct_grad_set_enabled(1);
    ok = ok && sr_stages(student, x, 4, so) == 0;   /* the whole backbone: FPN and heads follow */
    ct_grad_set_enabled(prev);
    if (!ok) goto done;
    ct_tensor *features[BB_NUM_FEATURES] = {0};
    if (bb_fpn(rcnn_backbone(sm), (const ct_tensor *const[4]){so[1], so[2], so[3], so[4]}, features) != 0) goto done;
    rcnn_set_training(sm, 1);   /* the RPN's training top-n; the student's frozen BNs stay frozen */
    int lr = rl_losses_from_features(sm, &l, tr, features, sampler, &L);
    rcnn_set_training(sm, 0);
    if (lr != 0) goto done;
    ct_tensor *distill = terms_loss(&c->train, to, so), *det = NULL, *total = NULL;
    if (!distill || !(det = rl_losses_sum(&L))) goto done;   /* both set hnd_error() */
    if (!(total = ct_mul_scalar(det, c->train.org_loss_factor)) || !(total = ct_add(distill, total))) {
        hnd_error_set("mixed loss: %s", ct_last_error());
        goto done;
    }
    if (parts) {
        memset(parts, 0, sizeof *parts);
        if (ct_item_f64(total, &parts->total) != 0 || ct_item_f64(distill, &parts->distill) != 0) {
            hnd_error_set("mixed loss: %s", ct_last_error());
            goto done;
        }
        for (int i = 0; i < RL_NUM_LOSSES; i++) {
            parts->det[i] = NAN;
            if (L.loss[i]) ct_item_f64(L.loss[i], &parts->det[i]);
        }
    }
    ct_scope_keep(total);
    *loss = total;
    rc = 0;
done:
    if (rc != 0) hnd_error_prefix("student with detection losses (org_loss_factor %g)", c->train.org_loss_factor);
    rl_losses_clear(&L);
    rt_image_list_clear(&l);
    for (int i = 0; i < n; i++) rt_target_clear(&tr[i]);
    ct_scope_end();
    free(tr);
    return rc;
}
