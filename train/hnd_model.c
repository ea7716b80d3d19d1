/* hnd_model.c: see hnd_model.h. */
#include "hnd_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"

#define LAYER1 "backbone.body.layer1."

int hm_model_config(const tc_model *m, rcnn_config *rc) {
    if (rcnn_config_default(rc, m->arch) != 0) return -1;
    rc->box.num_classes = m->num_classes;
    rc->transform.min_size = m->min_size;
    rc->transform.max_size = m->max_size;
    /* the optional overrides of config.h (0 / -1: keep torchvision's) */
    if (m->fpn_out_channels > 0) rc->backbone.fpn_out_channels = m->fpn_out_channels;
    if (m->representation_size > 0) rc->box.representation_size = m->representation_size;
    if (m->mask_head_channels > 0) rc->mask.conv_channels = m->mask_head_channels;
    if (m->n_anchor_sizes == rc->anchors.num_levels)
        for (int i = 0; i < m->n_anchor_sizes; i++) rc->anchors.sizes[i] = m->anchor_sizes[i];
    if (m->rpn_pre_nms_top_n_train > 0) rc->rpn.pre_nms_top_n_train = m->rpn_pre_nms_top_n_train;
    if (m->rpn_post_nms_top_n_train > 0) rc->rpn.post_nms_top_n_train = m->rpn_post_nms_top_n_train;
    if (m->rpn_pre_nms_top_n_test > 0) rc->rpn.pre_nms_top_n_test = m->rpn_pre_nms_top_n_test;
    if (m->rpn_post_nms_top_n_test > 0) rc->rpn.post_nms_top_n_test = m->rpn_post_nms_top_n_test;
    if (m->rpn_batch_size_per_image > 0) rc->rpn.batch_size_per_image = m->rpn_batch_size_per_image;
    if (m->box_batch_size_per_image > 0) rc->box.batch_size_per_image = m->box_batch_size_per_image;
    if (m->box_detections_per_img > 0) rc->box.detections_per_img = m->box_detections_per_img;
    if (m->trainable_backbone_layers >= 0) rc->backbone.trainable_layers = m->trainable_backbone_layers;
    rc->backbone.frozen_bn = m->frozen_bn;
    return 0;
}

static void freeze_all(hm_model *h) {
    mp_params *p = rcnn_params(h->det);
    for (int i = 0; i < mp_params_count(p); i++) ct_set_requires_grad(mp_params_tensor(p, i), 0);
}

hm_model *hm_new_teacher(const tc_model *m) {
    hm_model *h = calloc(1, sizeof *h);
    if (!h) {
        hnd_error_set("out of memory");
        return NULL;
    }
    h->dev = ct_cpu();
    if (hm_model_config(m, &h->rc) != 0 || !(h->det = rcnn_new(&h->rc))) {
        hnd_error_prefix("teacher %s", m->arch);
        hm_free(h);
        return NULL;
    }
    freeze_all(h);
    return h;
}

hm_model *hm_new_student(const tc_model *m) {
    hm_model *h = calloc(1, sizeof *h);
    if (!h) {
        hnd_error_set("out of memory");
        return NULL;
    }
    h->dev = ct_cpu();
    int kind = stu_kind_parse(m->layer1);
    if (kind < 0) {
        hnd_error_set("student: unknown layer1 '%s'", m->layer1);
        free(h);
        return NULL;
    }
    if (hm_model_config(m, &h->rc) != 0 || !(h->det = rcnn_new_ex(&h->rc, 0)) ||
        !(h->stu = stu_new(rcnn_params(h->det), LAYER1, (stu_kind)kind, m->bottleneck_channel)) ||
        stu_set_transform(h->stu, m->transform_bits) != 0) {
        hnd_error_prefix("student %s", m->arch);
        hm_free(h);
        return NULL;
    }
    freeze_all(h);
    return h;
}

void hm_free(hm_model *h) {
    if (!h) return;
    stu_free(h->stu);
    rcnn_free(h->det);
    free(h);
}

int hm_load(hm_model *h, const char *path) {
    if (!h) return hnd_error_set("NULL model");
    /* trainable flags survive loading (ct_copy_ runs under no-grad) */
    if (rcnn_load(h->det, path, 1) < 0) return hnd_error_prefix("%s", path);
    return 0;
}

int hm_load_student_from_teacher(hm_model *h, const char *teacher_path) {
    if (!h || !h->stu) return hnd_error_set("not a student");
    mp_params *p = rcnn_params(h->det);
    /* the teacher's layer1 keys are expected in the file and skipped */
    ws_reader *r = ws_reader_open(teacher_path);
    if (!r) return -1;
    const char *const *names;
    int n;
    int rc = ws_reader_list(r, "weights", &names, &n);
    for (int i = 0; rc == 0 && i < n; i++)
        if (strncmp(names[i], LAYER1, strlen(LAYER1)) == 0 && !mp_params_get(p, names[i]))
            rc = mp_params_ignore(p, names[i]);
    ws_reader_close(r);
    if (rc != 0) return -1;
    int missing = 0, unexpected = 0;
    int loaded = mp_params_load(p, teacher_path, 0, &missing, &unexpected);
    if (loaded < 0) return hnd_error_prefix("%s", teacher_path);
    /* every tensor but the bottleneck must have come from the teacher */
    int n_stu = 0;
    for (int i = 0; i < mp_params_count(p); i++)
        if (strncmp(mp_params_name(p, i), LAYER1, strlen(LAYER1)) == 0) n_stu++;
    if (unexpected != 0 || missing != n_stu || loaded != mp_params_count(p) - n_stu)
        return hnd_error_set("%s: not a teacher of this student (%d tensors loaded, %d missing, %d unexpected; "
                             "expected %d loaded and the %d bottleneck tensors missing)",
                             teacher_path, loaded, missing, unexpected, mp_params_count(p) - n_stu, n_stu);
    return stu_init(h->stu);
}

static int under(const char *name, const char *module) {
    size_t n = strlen(module);
    return strncmp(name, module, n) == 0 && (name[n] == 0 || name[n] == '.');
}

int hm_set_trainable(hm_model *h, const char (*frozen)[128], int n_frozen) {
    if (!h) return hnd_error_set("NULL model");
    mp_params *p = rcnn_params(h->det);
    int n = 0;
    for (int i = 0; i < mp_params_count(p); i++) {
        const char *name = mp_params_name(p, i);
        int on = h->stu && mp_params_kind(p, i) == MP_PARAM;
        for (int k = 0; on && k < n_frozen; k++)
            if (under(name, frozen[k])) on = 0;
        if (ct_set_requires_grad(mp_params_tensor(p, i), on) != 0)
            return hnd_error_set("%s: %s", name, ct_last_error());
        n += on;
    }
    return n;
}

int hm_to_device(hm_model *h, ct_device dev) {
    if (!h) return hnd_error_set("NULL model");
    if (rcnn_to_device(h->det, dev) != 0) return -1;
    h->dev = dev;
    return 0;
}

void hm_set_training(hm_model *h, int training) {
    if (h && h->stu) stu_set_training(h->stu, training);
}

int hm_stages(hm_model *h, const ct_tensor *batch, int upto, ct_tensor *out[5]) {
    for (int i = 0; i < 5; i++) out[i] = NULL;
    if (!h || !batch || upto < 1 || upto > 4) return hnd_error_set("hm_stages: bad arguments");
    bb_backbone *bb = rcnn_backbone(h->det);
    ct_scope_begin();
    int ok = (out[0] = bb_stem(bb, batch)) != NULL;
    for (int k = 1; ok && k <= upto; k++) {
        if (k == 1 && h->stu) out[1] = stu_forward(h->stu, out[0]);
        else out[k] = bb_layer(bb, k, out[k - 1]);
        ok = out[k] != NULL;
    }
    if (ok)
        for (int k = 0; k <= upto; k++) ct_scope_keep(out[k]);
    ct_scope_end();
    if (!ok) {
        for (int i = 0; i < 5; i++) out[i] = NULL;
        return -1;
    }
    return 0;
}

int hm_features(hm_model *h, const rt_image_list *l, ct_tensor *features[BB_NUM_FEATURES]) {
    if (!h || !l) return hnd_error_set("hm_features: NULL argument");
    if (!h->stu) return rcnn_backbone_forward(h->det, l, features);
    for (int i = 0; i < BB_NUM_FEATURES; i++) features[i] = NULL;
    ct_tensor *st[5];
    ct_scope_begin();
    int rc = hm_stages(h, l->tensors, 4, st);
    if (rc == 0) {
        /* NCHW from here on: the stages may run channels-last (hnd train
         * re-lays the backbone's weights), the FPN and heads are not tuned for it */
        const ct_tensor *c[4] = {ct_contiguous(st[1]), ct_contiguous(st[2]), ct_contiguous(st[3]),
                                 ct_contiguous(st[4])};
        rc = c[0] && c[1] && c[2] && c[3] ? bb_fpn(rcnn_backbone(h->det), c, features)
                                          : hnd_error_set("features: %s", ct_last_error());
    }
    if (rc == 0)
        for (int i = 0; i < BB_NUM_FEATURES; i++) ct_scope_keep(features[i]);
    ct_scope_end();
    return rc;
}

int hm_detect(hm_model *h, const ct_tensor *const *images, int n, rcnn_detections *out) {
    if (!h || !images || n <= 0 || !out) return hnd_error_set("hm_detect: bad arguments");
    for (int i = 0; i < n; i++) memset(&out[i], 0, sizeof out[i]);
    if (!h->stu) return rcnn_detect(h->det, images, n, out, NULL);
    int prev = ct_grad_set_enabled(0);
    rt_image_list l;
    memset(&l, 0, sizeof l);
    ct_tensor *f[BB_NUM_FEATURES] = {0};
    int rc = -1;
    ct_scope_begin();
    if (rcnn_transform_images(h->det, images, n, &l) == 0 && hm_features(h, &l, f) == 0 &&
        rcnn_detect_from_features(h->det, &l, f, out) == 0) {
        for (int i = 0; i < n; i++) {
            ct_scope_keep(out[i].boxes);
            ct_scope_keep(out[i].scores);
            ct_scope_keep(out[i].labels);
            ct_scope_keep(out[i].masks);
        }
        rc = 0;
    }
    rt_image_list_free(&l);
    ct_scope_end();
    ct_grad_set_enabled(prev);
    return rc;
}
