/* rcnn_config.h: every hyper-parameter of a torchvision-style Faster/Mask
 * R-CNN with a ResNet-FPN backbone, with torchvision 0.14's defaults.
 *
 * The structs are plain data: models/ reads them, configs (JSON) and the CLI
 * fill them. rcnn_config_default() gives torchvision's values for an
 * architecture name such as "faster_rcnn_resnet50_fpn" or
 * "mask_rcnn_resnet18_fpn". */
#ifndef RCNN_CONFIG_H
#define RCNN_CONFIG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RCNN_MAX_LEVELS 5      /* FPN outputs "0".."3" and "pool" */
#define RCNN_MAX_RATIOS 8

typedef struct {
    int depth;                 /* 18, 34, 50, 101, 152 */
    int width_per_group;       /* 64; 128 for the Wide ResNets (wide_resnet50_2, wide_resnet101_2) */
    int trainable_layers;      /* torchvision's trainable_backbone_layers (0..5); default 3 */
    int frozen_bn;             /* 1: FrozenBatchNorm2d (torchvision default); 0: trainable BN */
    double bn_eps;             /* 1e-5, FrozenBatchNorm2d and BatchNorm2d alike */
    int fpn_out_channels;      /* 256 */
} rcnn_backbone_config;

typedef struct {
    double min_size;           /* 800 (shorter side target) */
    double max_size;           /* 1333 (longer side cap) */
    float image_mean[3];       /* ImageNet: 0.485, 0.456, 0.406 */
    float image_std[3];        /* 0.229, 0.224, 0.225 */
    int size_divisible;        /* 32 */
} rcnn_transform_config;

typedef struct {
    int num_levels;                            /* 5 */
    double sizes[RCNN_MAX_LEVELS];             /* 32, 64, 128, 256, 512 (one per level) */
    int num_ratios;                            /* 3 */
    double aspect_ratios[RCNN_MAX_RATIOS];     /* 0.5, 1.0, 2.0 */
} rcnn_anchor_config;

typedef struct {
    int pre_nms_top_n_train, pre_nms_top_n_test;    /* 2000, 1000 */
    int post_nms_top_n_train, post_nms_top_n_test;  /* 2000, 1000 */
    double nms_thresh;                              /* 0.7 */
    double fg_iou_thresh, bg_iou_thresh;            /* 0.7, 0.3 */
    int batch_size_per_image;                       /* 256 */
    double positive_fraction;                       /* 0.5 */
    double score_thresh;                            /* 0.0 */
    double min_size;                                /* 1e-3 */
} rcnn_rpn_config;

typedef struct {
    int num_classes;                 /* 91 for COCO (background included) */
    int roi_output_size;             /* 7 */
    int sampling_ratio;              /* 2 */
    int canonical_scale;             /* 224 */
    int canonical_level;             /* 4 */
    int representation_size;         /* 1024 (TwoMLPHead) */
    double score_thresh;             /* 0.05 */
    double nms_thresh;               /* 0.5 */
    int detections_per_img;          /* 100 */
    double fg_iou_thresh, bg_iou_thresh;  /* 0.5, 0.5 */
    int batch_size_per_image;        /* 512 */
    double positive_fraction;        /* 0.25 */
    double bbox_reg_weights[4];      /* 10, 10, 5, 5 */
} rcnn_box_config;

typedef struct {
    int enabled;                     /* 1 for Mask R-CNN */
    int roi_output_size;             /* 14 */
    int sampling_ratio;              /* 2 */
    int num_convs;                   /* 4 (MaskRCNNHeads layers 256 x4) */
    int conv_channels;               /* 256 */
    int dilation;                    /* 1 */
    double mask_thresh;              /* 0.5 when pasting */
} rcnn_mask_config;

/* Keypoint R-CNN's keypoint branch (torchvision 0.14's KeypointRCNN). */
typedef struct {
    int enabled;                     /* 1 for Keypoint R-CNN */
    int num_keypoints;               /* 17 (COCO person) */
    int roi_output_size;             /* 14 (keypoint_roi_pool) */
    int sampling_ratio;              /* 2 */
    int num_convs;                   /* 8 (KeypointRCNNHeads layers 512 x8) */
    int conv_channels;               /* 512 */
} rcnn_keypoint_config;

typedef struct {
    char arch[64];                   /* e.g. "mask_rcnn_resnet50_fpn" */
    rcnn_backbone_config backbone;
    rcnn_transform_config transform;
    rcnn_anchor_config anchors;
    rcnn_rpn_config rpn;
    rcnn_box_config box;
    rcnn_mask_config mask;
    rcnn_keypoint_config keypoint;
} rcnn_config;

/* torchvision's defaults for `arch` ("faster_rcnn_resnet{18,34,50,101}_fpn",
 * "mask_rcnn_resnet{18,34,50,101}_fpn", "keypoint_rcnn_resnet{18,34,50,101}_fpn":
 * keypointrcnn_resnet50_fpn's 2 classes, 17 keypoints, test size 800; each also with
 * resnet152 and wide_resnet{50,101}_2, e.g. "mask_rcnn_wide_resnet50_2_fpn"). -1 and hnd_error()
 * on an unknown name (the message lists the known ones). */
int rcnn_config_default(rcnn_config *cfg, const char *arch);

#ifdef __cplusplus
}
#endif
#endif
