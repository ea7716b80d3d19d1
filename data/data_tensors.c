/* data_tensors.c: see data_tensors.h. */
#include "data_tensors.h"

#include <string.h>

#include "hnd_error.h"

void dt_target_clear(dt_target *t) {
    if (!t) return;
    ct_destroy(t->boxes);
    ct_destroy(t->labels);
    ct_destroy(t->masks);
    ct_destroy(t->area);
    ct_destroy(t->iscrowd);
    ct_destroy(t->image_id);
    ct_destroy(t->keypoints);
    memset(t, 0, sizeof *t);
}

int dt_sample_tensors(const ld_sample *s, ct_tensor **image, dt_target *t) {
    memset(t, 0, sizeof *t);
    *image = NULL;
    const tf_target *g = &s->target;
    int64_t ish[3] = {3, s->height, s->width};
    int64_t bsh[2] = {g->n, 4}, nsh[1] = {g->n}, msh[3] = {g->n, g->height, g->width}, one[1] = {1};
    *image = ct_from_buffer(s->chw, CT_F32, 3, ish);
    t->boxes = ct_from_buffer(g->boxes, CT_F32, 2, bsh);
    t->labels = ct_from_buffer(g->labels, CT_I64, 1, nsh);
    t->area = ct_from_buffer(g->area, CT_F32, 1, nsh);
    t->iscrowd = ct_from_buffer(g->iscrowd, CT_I64, 1, nsh);
    t->image_id = ct_from_buffer(&g->image_id, CT_I64, 1, one);
    int ok = *image && t->boxes && t->labels && t->area && t->iscrowd && t->image_id;
    if (ok && g->masks) {
        t->masks = ct_from_buffer(g->masks, CT_U8, 3, msh);
        ok = t->masks != NULL;
    }
    if (ok && g->keypoints) {
        int64_t ksh[3] = {g->n, g->num_kp, 3};
        t->keypoints = ct_from_buffer(g->keypoints, CT_F32, 3, ksh);
        ok = t->keypoints != NULL;
    }
    if (!ok) {
        hnd_error_set("image %lld: making tensors: %s", (long long)g->image_id, ct_last_error());
        ct_destroy(*image);
        *image = NULL;
        dt_target_clear(t);
        return -1;
    }
    return 0;
}

int dt_batch_tensors(const ld_batch *b, ct_tensor **images, dt_target *targets) {
    for (int i = 0; i < b->n; i++) {
        if (dt_sample_tensors(&b->samples[i], &images[i], &targets[i]) < 0) {
            for (int k = 0; k < i; k++) {
                ct_destroy(images[k]);
                images[k] = NULL;
                dt_target_clear(&targets[k]);
            }
            return -1;
        }
    }
    return 0;
}
