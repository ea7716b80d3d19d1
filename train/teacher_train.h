/* teacher_train.h: training a teacher (torchvision's Faster / Mask R-CNN)
 * on COCO-format data with torchvision's detection losses
 * (models/rcnn_loss.h), driven by an "org" config (config.h: `model`,
 * `dataset`, `train`). Prefix tt_.
 *
 * What a run does (torchvision's references/detection/train.py):
 *  - the model of the config's `model` section (params.* may shrink it:
 *    fpn_out_channels, representation_size, anchor_sizes, ...); weights from
 *    tt_opts.init (an hnd weight file, e.g. an imported torchvision
 *    checkpoint; tensors missing there keep their fresh initialisation, a
 *    tensor of another shape is an error) or, without
 *    one, torchvision's initialisation (ResNet: kaiming normal fan_out, BN
 *    1/0; FPN: kaiming uniform a=1; RPN head: normal 0.01; box head and
 *    predictor: nn.Linear's default; mask head: kaiming normal fan_out), drawn
 *    from the config's seed;
 *  - trainable: every parameter of FPN, RPN and RoI heads, and the backbone
 *    from the stage params.trainable_backbone_layers selects (torchvision's
 *    trainable_backbone_layers: 5 = everything, 3 = layer2..4, 0 = none);
 *    BatchNorm frozen (FrozenBatchNorm2d) unless params.frozen_bn = false,
 *    then trainable BatchNorm with batch statistics while training (for
 *    training from scratch);
 *  - each iteration: the batch (aspect-ratio grouped, flipped with p 0.5,
 *    images without annotations removed when configured; GT masks for Mask
 *    R-CNN) through rl_forward_train; the sum of the losses backpropagated;
 *    SGD (train.optimizer: SGD with momentum 0.9 and weight decay 1e-4 as in
 *    torchvision's recipe; Adam accepted) with lr = MultiStepLR's for the
 *    epoch times, in epoch 0, the linear warm-up factor of min(1000,
 *    iters-1) iterations from 1/1000 (train.warmup);
 *  - randomness: the generator is re-seeded from (seed, global step) before
 *    each iteration (the transform's size draw and the samplers' randperms),
 *    the flips come from (seed, epoch, position): a resumed run ends with
 *    exactly the weights of an uninterrupted one;
 *  - after each epoch: validation bbox (and segm) mAP on dataset.splits.val
 *    (train/evaluate.h); <output_dir>/last.h5 always (weights, optimizer
 *    state, position: train/ckpt.h, kind "hnd-teacher"), model.ckpt (default
 *    <output_dir>/best.h5; weights only) when the bbox AP is the best so far
 *    (without validation: after the last epoch);
 *  - logs as hnd train: loss (and each of the five losses), lr, images/s and
 *    ETA every log_freq iterations to stderr (progress bar on a TTY),
 *    <output_dir>/train.log, <output_dir>/metrics.jsonl, config.json.
 * The weight files are complete detector state dicts: hnd detect,
 * hnd eval-model and distillation configs (teacher_model.ckpt) load them. */
#ifndef HND_TT_TRAIN_H
#define HND_TT_TRAIN_H

#include <signal.h>
#include <stdint.h>

#include "config.h"
#include "rcnn_loss.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { TT_DONE = 0, TT_INTERRUPTED = 1 };

typedef struct {
    int resume;                    /* continue from <output_dir>/last.h5 when present */
    const char *init;              /* initial weights (.h5), NULL: from scratch */
    volatile sig_atomic_t *stop;   /* may be NULL; non-zero: stop after the iteration, checkpoint */
    int progress;                  /* progress bar on a TTY */
    int quiet;                     /* no log lines on stderr (files still written) */
    int validate;                  /* 1 (default): validation after each epoch when val is configured */
    int overwrite;                 /* a fresh run may replace a run output_dir holds */
    int allow_config_change;       /* resume under a config whose training-relevant keys changed */
    int sync_bn;                   /* data-parallel: SyncBatchNorm over the ranks (ct_dist.h) */
    int64_t stop_after;            /* test hook: stop after this many iterations of this process */
} tt_opts;

void tt_opts_default(tt_opts *o);

typedef struct {
    int status;                    /* TT_DONE or TT_INTERRUPTED */
    int64_t epochs_done;
    int64_t iterations;            /* run by this process */
    double first_loss, last_loss;  /* mean loss of the first / last epoch run by this process */
    double first_iter_loss, last_iter_loss;   /* loss of this process's first / last iteration */
    double last_losses[RL_NUM_LOSSES];        /* the last epoch's mean of each loss (NAN: absent) */
    double best_map;
    int64_t best_epoch;
    double last_bbox[12], last_segm[12];
    int has_val, has_segm;
    double seconds;                /* wall time of this process's run */
    char last_path[1100], best_path[1100];
} tt_result;

/* cfg: an org config (cfg->is_org) with a train section. 0 with *res filled,
 * -1 + hnd_error(). */
int tt_train(const tc_config *cfg, const tt_opts *o, tt_result *res);

/* The best-teacher path of cfg: model.ckpt, else <output_dir>/best.h5. */
void tt_best_path(const tc_config *cfg, char *buf, size_t n);

/* 1 if <output_dir>/last.h5 holds a run that finished all cfg's epochs and
 * the best-teacher file exists. */
int tt_finished(const tc_config *cfg);
/* tt_finished after checking that a run there has cfg's training-relevant
 * config: 1 / 0, or -1 + hnd_error() naming the keys that differ. */
int tt_finished_same(const tc_config *cfg);

/* Writes the Faster R-CNN part of a Mask R-CNN teacher (every tensor but
 * roi_heads.mask_*: its box branch is a Faster R-CNN) from src to dst, a
 * weight file that a faster_rcnn config with the same model.params loads
 * (one Mask teacher serving both sweeps). cfg: the Mask R-CNN teacher's org
 * config. 0 / -1 + hnd_error(). */
int tt_write_box_teacher(const tc_config *cfg, const char *src, const char *dst);

#ifdef __cplusplus
}
#endif
#endif
