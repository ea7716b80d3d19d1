/* hnd_model.c: see hnd_model.h. */
#include "hnd_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"

int hm_model_config(const tc_model *m, rcnn_config *rc) {
    if (rcnn_config_default(rc, m->arch) != 0) return -1;
    rc->box.num_classes = m->num_classes;
    rc->transform.min_size = m->min_size;
    rc->transform.max_size = m->max_size;
    /* the optional overrides of config.h (0 / -1: keep torchvision's) */
    if (m->fpn_out_channels > 0) rc->backbone.fpn_out_channels = m->fpn_out_channels;
    if (m->representation_size > 0) rc->box.representation_size = m->representation_size;
    if (m->mask_head_channels > 0) rc->mask.conv_channels = m->mask_head_channels;
    if (m->num_keypoints > 0) rc->keypoint.num_keypoints = m->num_keypoints;
    if (m->keypoint_head_channels > 0) rc->keypoint.conv_channels = m->keypoint_head_channels;
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

int hm_bottleneck_spec(const tc_model *m, sr_bottleneck_spec *bn) {
    memset(bn, 0, sizeof *bn);
    bn->kind = -1;
    if (!m->has_layer1) return 0;
    if ((bn->kind = stu_kind_parse(m->layer1)) < 0)
        return hnd_error_set("student: unknown layer1 '%s'", m->layer1);
    bn->channels = m->bottleneck_channel;
    bn->bits = m->transform_bits;
    bn->entropy = m->entropy;
    return 0;
}

/* Both kinds start frozen: distillation turns the student's trainable
 * tensors on (sr_set_trainable), the teacher stays as it is. */
static sr_model *new_frozen(const tc_model *m, const sr_bottleneck_spec *bn) {
    rcnn_config rc;
    if (hm_model_config(m, &rc) != 0) return NULL;
    sr_model *h = sr_new(&rc, bn);
    if (h && sr_freeze(h) != 0) {
        sr_destroy(h);
        return NULL;
    }
    return h;
}

sr_model *hm_new_teacher(const tc_model *m) { return new_frozen(m, NULL); }

sr_model *hm_new_student(const tc_model *m) {
    sr_bottleneck_spec bn;
    if (hm_bottleneck_spec(m, &bn) != 0) return NULL;
    if (bn.channels < 1) {
        hnd_error_set("student %s: no bottleneck (backbone.params.layer1)", m->arch);
        return NULL;
    }
    return new_frozen(m, &bn);
}

int hm_file_config(const char *path, const char *config, const sr_probe *pr, rcnn_config *rc, int *cfg_bits) {
    *cfg_bits = 0;
    if (!config) return sr_probe_config(pr, rc) != 0 ? hnd_error_prefix("%s", path) : 0;
    tc_config t;
    if (tc_load(config, NULL, 0, &t) != 0) return -1;
    int student = pr->channels > 0, r;
    if (student && !(t.student.present && t.student.has_layer1))
        r = hnd_error_set("%s: no student_model with a bottleneck to take the model from", config);
    else if ((r = hm_model_config(student ? &t.student : &t.teacher, rc)) != 0)
        hnd_error_prefix("%s", config);
    else if (student)
        *cfg_bits = t.student.transform_bits;
    tc_clear(&t);
    return r;
}
