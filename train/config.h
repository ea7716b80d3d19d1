/* config.h: experiment configs (JSON) with the structure of the reference
 * project's YAML (hnd-ghnd-object-detectors, config/{hnd,ghnd,org}/NAME.yaml),
 * validated against a schema: every key unknown to the schema is an error
 * naming its full path ("config.json: train.optimzer: unknown key (known:
 * num_epochs, batch_size, ...)"), and every value has its type checked
 * ("train.num_epochs: expected an integer, got \"ten\""). Torch-free, prefix
 * tc_.
 *
 * Two kinds of config:
 *  - distillation (hnd train): dataset, teacher_model, student_model, train,
 *    test, plus device, seed, threads, output_dir;
 *  - "org" (a teacher, as the reference's config/org): `model` instead of
 *    teacher_model/student_model (hnd eval-model, sweeps' teacher point,
 *    teacher training).
 *
 * Differences from the reference's YAML, all because JSON has no anchors:
 *  - dataset.root: split paths (images, annotations) that are relative are
 *    taken relative to root when root is not empty (root itself, and every
 *    other path, relative to the working directory);
 *  - teacher_model.ckpt / model.ckpt is an hnd weight file (.h5, e.g. from
 *    `hnd import-torchvision`), the teacher's weights;
 *  - student_model.ckpt is where the best student checkpoint is written
 *    (default <output_dir>/best.h5);
 *  - model params may also set min_size / max_size (torchvision's
 *    GeneralizedRCNNTransform arguments; defaults 800 / 1333).
 *
 * Overrides: "a.b.c=VALUE" strings (hnd train --set) are applied to the JSON
 * before validation; VALUE is JSON when it parses as JSON (3, 1e-3, true,
 * null, [5,15], "x"), else a string. Missing objects on the path are
 * created (and then validated like everything else). */
#ifndef HND_TRAIN_CONFIG_H
#define HND_TRAIN_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TC_PATH 1024
#define TC_MAX_TERMS 8
#define TC_MAX_FROZEN 32
#define TC_MAX_MILESTONES 16

typedef struct {
    int present;
    char images[TC_PATH];        /* resolved against dataset.root */
    char annotations[TC_PATH];
    int remove_non_annotated;    /* remove_non_annotated_imgs */
    int jpeg_quality;            /* 1..95: each image re-encoded as PIL's JPEG at this quality; 0 none */
} tc_split;

typedef struct {
    char name[64];
    char root[TC_PATH];
    int num_workers;                 /* default 4 */
    int aspect_ratio_group_factor;   /* default 3; -1 = no grouping */
    double hflip_prob;               /* default 0.5 (hnd extension) */
    tc_split train, val, test;
} tc_dataset;

typedef struct {
    int present;
    char name[32];             /* faster_rcnn | mask_rcnn | keypoint_rcnn */
    char backbone[32];         /* resnet50, custom_resnet50, ... */
    int depth;                 /* 18, 34, 50, 101 */
    char arch[64];             /* rcnn_config_default name: faster_rcnn_resnet50_fpn */
    int num_classes;           /* default 91 (keypoint_rcnn: 2) */
    double min_size, max_size; /* default 800, 1333 */
    /* optional architecture overrides (params.*; 0 / -1 = torchvision's default):
     * fpn_out_channels, representation_size, mask_head_channels (MaskRCNNHeads
     * width), anchor_sizes (one per FPN level), rpn_{pre,post}_nms_top_n_{train,test},
     * rpn_batch_size_per_image, box_batch_size_per_image, box_detections_per_img,
     * trainable_backbone_layers (0..5; -1 = 3), frozen_bn (1 default; 0 =
     * trainable BatchNorm, for training from scratch) */
    int fpn_out_channels, representation_size, mask_head_channels;
    int num_keypoints, keypoint_head_channels;   /* keypoint_rcnn: 17, 512 (0 = default) */
    int n_anchor_sizes;
    double anchor_sizes[8];
    int rpn_pre_nms_top_n_train, rpn_post_nms_top_n_train, rpn_pre_nms_top_n_test, rpn_post_nms_top_n_test;
    int rpn_batch_size_per_image, box_batch_size_per_image, box_detections_per_img;
    int trainable_backbone_layers;
    int frozen_bn;
    char ckpt[TC_PATH];
    char experiment[256];
    int distill_backbone_only; /* default 1; 0: the whole student runs in training (detection losses) */
    /* student only */
    int has_layer1;
    char layer1[64];           /* Bottleneck4LargeResNet | Bottleneck4SmallResNet */
    int bottleneck_channel;
    int transform_bits;        /* bottleneck_transformer: 0 none, 8, 16 */
    /* entropy_bottleneck {beta, aux_lr} (issue 18): a learned factorized
     * prior after the encoder; training minimises the distillation terms +
     * beta x the rate in bits (summed over the batch, as the MSE(sum)
     * terms), the quantiles by their own Adam at aux_lr (default 1e-3);
     * density_lr (0: absent/null) gives the density its own Adam
     * (train/hnd_rate.h) */
    int entropy;
    double eb_beta, eb_aux_lr, eb_density_lr;
    int n_frozen;
    char frozen[TC_MAX_FROZEN][128];
} tc_model;

typedef enum { TC_LOSS_MSE = 0, TC_LOSS_L1 = 1 } tc_loss;

typedef struct {
    char name[64];              /* the key under criterion.terms */
    char teacher_module[128];   /* ts_modules[0] */
    char student_module[128];   /* ts_modules[1] */
    int teacher_stage, student_stage;   /* 1..4 for backbone.body.layerN */
    tc_loss loss;
    int reduction;              /* ct_reduction: 1 mean, 2 sum */
    double factor;
} tc_term;

typedef struct {
    int num_epochs;
    int batch_size;
    int log_freq;
    char optimizer[16];         /* Adam | SGD */
    double lr, momentum, dampening, weight_decay, beta1, beta2, eps;
    int nesterov, amsgrad;
    char scheduler[32];         /* MultiStepLR, or "" for a constant lr */
    int n_milestones;
    int milestones[TC_MAX_MILESTONES];
    double gamma;
    int warmup;                 /* epoch-0 linear warm-up (default 1, as the reference) */
    double org_loss_factor;     /* > 0: + factor * the student's detection losses (needs distill_backbone_only 0) */
    int transform_bottleneck;   /* the reference's -transform_bottleneck: validate (choose best.h5) on the
                                   quantized bottleneck; default 0: on the float one, as the reference */
    int n_terms;
    tc_term terms[TC_MAX_TERMS];
} tc_train;

typedef struct {
    char source[TC_PATH];      /* file name (messages) */
    int is_org;                /* 1: `model` (teacher) config */
    tc_dataset dataset;
    tc_model teacher;          /* teacher_model, or model for org configs */
    tc_model student;          /* student_model (present = 0 for org) */
    tc_train train;
    int has_train;
    int test_batch_size;       /* test.batch_size, default 1 */
    char device[32];           /* "cpu" (default), "cuda", "cuda:N" */
    uint64_t seed;             /* default 0 */
    int threads;               /* 0 = all cores (default) */
    char output_dir[TC_PATH];  /* default runs/<config file stem> */
    char *json;                /* the effective config (after --set), formatted; malloc'd */
} tc_config;

/* Read, override, validate and fill. 0 / -1 + hnd_error() (the message
 * names the file and the key path). */
int tc_load(const char *path, const char *const *sets, int n_sets, tc_config *out);
/* The same from a string; name is used in messages (and for the default
 * output_dir). */
int tc_parse(const char *json, size_t len, const char *name, const char *const *sets, int n_sets,
             tc_config *out);
void tc_clear(tc_config *c);   /* frees c->json; NULL-safe */

/* Applies one "a.b.c=VALUE" to a JSON text, returning the new text
 * (malloc'd), NULL + hnd_error() on a malformed assignment. For tools that
 * derive configs (sweeps). */
char *tc_json_set(const char *json, const char *assignment);

/* lr of epoch `epoch` before warm-up: lr * gamma^(milestones <= epoch). */
double tc_epoch_lr(const tc_train *t, int epoch);
/* The reference's warm-up factor at iteration it of epoch 0 with iters
 * iterations per epoch: W = min(1000, iters - 1); it >= W: 1; else
 * 1/1000 * (1 - it/W) + it/W. */
double tc_warmup_factor(int it, int64_t iters);

#ifdef __cplusplus
}
#endif
#endif
