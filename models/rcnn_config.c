/* rcnn_config.c: torchvision 0.14's defaults for the ResNet-FPN R-CNNs. */
#include "rcnn_config.h"

#include <stdio.h>
#include <string.h>

#include "hnd_error.h"

static const char *const k_known =
    "faster_rcnn_resnet{18,34,50,101}_fpn, mask_rcnn_resnet{18,34,50,101}_fpn, "
    "keypoint_rcnn_resnet{18,34,50,101}_fpn; for each of faster/mask/keypoint also "
    "_resnet152_fpn, _wide_resnet50_2_fpn, _wide_resnet101_2_fpn";

int rcnn_config_default(rcnn_config *cfg, const char *arch) {
    if (!cfg || !arch) return hnd_error_set("rcnn config: NULL argument");
    /* "<det>_wide_resnet{50,101}_2_fpn" is "<det>_resnet{50,101}_fpn" with
     * torchvision's width_per_group 128 (the name is kept in cfg->arch) */
    const char *const full_arch = arch;
    char narrow[64];
    int wide = 0;
    const char *w = strstr(arch, "_wide_resnet");
    if (w && (strcmp(w, "_wide_resnet50_2_fpn") == 0 || strcmp(w, "_wide_resnet101_2_fpn") == 0) &&
        strlen(arch) < sizeof narrow) {
        snprintf(narrow, sizeof narrow, "%.*s_resnet%s_fpn", (int)(w - arch), arch,
                 strcmp(w, "_wide_resnet50_2_fpn") == 0 ? "50" : "101");
        arch = narrow;
        wide = 1;
    }
    int mask = 0, keypoint = 0;
    const char *rest;
    if (strncmp(arch, "faster_rcnn_resnet", 18) == 0) {
        rest = arch + 18;
    } else if (strncmp(arch, "mask_rcnn_resnet", 16) == 0) {
        mask = 1;
        rest = arch + 16;
    } else if (strncmp(arch, "keypoint_rcnn_resnet", 20) == 0) {
        keypoint = 1;
        rest = arch + 20;
    } else {
        return hnd_error_set("rcnn config: unknown architecture '%s' (known: %s)", arch, k_known);
    }
    int depth = 0;
    static const int depths[5] = {18, 34, 50, 101, 152};
    for (int i = 0; i < 5; i++) {
        char want[16];
        snprintf(want, sizeof want, "%d_fpn", depths[i]);
        if (strcmp(rest, want) == 0) depth = depths[i];
    }
    if (!depth || strlen(arch) >= sizeof cfg->arch)
        return hnd_error_set("rcnn config: unknown architecture '%s' (known: %s)", arch, k_known);

    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->arch, sizeof cfg->arch, "%s", full_arch);

    rcnn_backbone_config *b = &cfg->backbone;
    b->depth = depth;
    b->width_per_group = wide ? 128 : 64;
    b->trainable_layers = 3;
    b->frozen_bn = 1;
    b->bn_eps = 1e-5;
    b->fpn_out_channels = 256;

    rcnn_transform_config *t = &cfg->transform;
    t->min_size = 800;
    t->max_size = 1333;
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    memcpy(t->image_mean, mean, sizeof mean);
    memcpy(t->image_std, std, sizeof std);
    t->size_divisible = 32;

    rcnn_anchor_config *a = &cfg->anchors;
    a->num_levels = 5;
    for (int i = 0; i < 5; i++) a->sizes[i] = 32.0 * (1 << i);
    a->num_ratios = 3;
    a->aspect_ratios[0] = 0.5;
    a->aspect_ratios[1] = 1.0;
    a->aspect_ratios[2] = 2.0;

    rcnn_rpn_config *r = &cfg->rpn;
    r->pre_nms_top_n_train = 2000;
    r->pre_nms_top_n_test = 1000;
    r->post_nms_top_n_train = 2000;
    r->post_nms_top_n_test = 1000;
    r->nms_thresh = 0.7;
    r->fg_iou_thresh = 0.7;
    r->bg_iou_thresh = 0.3;
    r->batch_size_per_image = 256;
    r->positive_fraction = 0.5;
    r->score_thresh = 0.0;
    r->min_size = 1e-3;

    rcnn_box_config *x = &cfg->box;
    x->num_classes = 91;
    x->roi_output_size = 7;
    x->sampling_ratio = 2;
    x->canonical_scale = 224;
    x->canonical_level = 4;
    x->representation_size = 1024;
    x->score_thresh = 0.05;
    x->nms_thresh = 0.5;
    x->detections_per_img = 100;
    x->fg_iou_thresh = 0.5;
    x->bg_iou_thresh = 0.5;
    x->batch_size_per_image = 512;
    x->positive_fraction = 0.25;
    x->bbox_reg_weights[0] = 10;
    x->bbox_reg_weights[1] = 10;
    x->bbox_reg_weights[2] = 5;
    x->bbox_reg_weights[3] = 5;

    rcnn_mask_config *m = &cfg->mask;
    m->enabled = mask;
    m->roi_output_size = 14;
    m->sampling_ratio = 2;
    m->num_convs = 4;
    m->conv_channels = 256;
    m->dilation = 1;
    m->mask_thresh = 0.5;

    /* keypointrcnn_resnet50_fpn: person + background, 17 keypoints; its
     * training sizes (640..800) are drawn per image, inference uses 800 */
    rcnn_keypoint_config *k = &cfg->keypoint;
    k->enabled = keypoint;
    k->num_keypoints = 17;
    k->roi_output_size = 14;
    k->sampling_ratio = 2;
    k->num_convs = 8;
    k->conv_channels = 512;
    if (keypoint) x->num_classes = 2;
    return 0;
}
