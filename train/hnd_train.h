/* hnd_train.h: head network distillation (HND / GHND) of a student against
 * its teacher, driven by an experiment config (config.h). Prefix ht_.
 *
 * What a run does, following the reference (mimic_runner.py) and DESIGN.md:
 *  - teacher: the configured detector with teacher_model.ckpt's weights,
 *    every tensor frozen, eval mode;
 *  - student: the same detector with layer1 replaced by the configured
 *    bottleneck, every other tensor copied from the teacher's file; trainable
 *    = the student's parameters outside student_model.frozen_modules (HND:
 *    conv1 and the new layer1; bn1 is a frozen BN); the bottleneck's BNs in
 *    train mode while training;
 *  - each iteration: the batch (aspect-ratio grouped, flipped with p 0.5,
 *    images without annotations removed) through the R-CNN transform, the
 *    teacher's stages without grad and the student's with grad, both only up
 *    to the deepest module a loss term needs; loss = sum over terms of
 *    factor * MSE/L1(teacher module output, student module output);
 *    optimizer step with lr = MultiStepLR's for the epoch times, in epoch 0,
 *    the linear warm-up factor of min(1000, iters-1) iterations from 1/1000;
 *  - after each epoch: validation (bbox mAP, and segm for Mask R-CNN) on
 *    dataset.splits.val when configured, on the float bottleneck (the
 *    reference; train.transform_bottleneck: the configured transformer
 *    applied); <output_dir>/last.h5 always, student_model.ckpt
 *    (default <output_dir>/best.h5) when the bbox AP is the best so far;
 *  - logs: loss, lr, images/s, ETA every log_freq iterations, to stderr
 *    (with a progress bar on a TTY), <output_dir>/train.log and
 *    <output_dir>/metrics.jsonl (one JSON object per line: "type" "train"
 *    or "val").
 *
 * Resume: with resume set and <output_dir>/last.h5 present the run continues
 * where that checkpoint stopped — the next epoch, or the next iteration of an
 * interrupted one — and ends with the weights an uninterrupted run would have
 * (training draws no random numbers after the student's initialisation: the
 * flips come from (seed, epoch, position)).
 * Stop: when *stop becomes non-zero (a SIGINT handler sets it), the run
 * finishes the current iteration, writes last.h5 and returns HT_INTERRUPTED. */
#ifndef HND_HT_TRAIN_H
#define HND_HT_TRAIN_H

#include <signal.h>
#include <stdint.h>

#include "config.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { HT_DONE = 0, HT_INTERRUPTED = 1 };

typedef struct {
    int resume;
    volatile sig_atomic_t *stop;   /* may be NULL */
    int progress;                  /* progress bar on a TTY */
    int quiet;                     /* no log lines on stderr (files still written) */
    int validate;                  /* 1 (default): validate after each epoch when val is configured */
    int overwrite;                 /* a fresh run may replace a run output_dir holds */
    int allow_config_change;       /* resume under a config whose training-relevant keys changed */
    int sync_bn;                   /* data-parallel: SyncBatchNorm over the ranks (ct_dist.h) */
    int64_t stop_after;            /* test hook: behave as if stopped after this many iterations of
                                      this process (0: never) */
} ht_opts;

void ht_opts_default(ht_opts *o);

typedef struct {
    int status;                    /* HT_DONE or HT_INTERRUPTED */
    int64_t epochs_done;
    int64_t iterations;            /* run by this process */
    double first_loss, last_loss;  /* mean loss of the first / last epoch run by this process */
    double best_map;
    int64_t best_epoch;
    double last_bbox[12], last_segm[12];
    int has_val, has_segm;
    char last_path[1100], best_path[1100];
} ht_result;

/* 0 with *res filled (status says whether it finished), -1 + hnd_error(). */
int ht_train(const tc_config *cfg, const ht_opts *o, ht_result *res);

/* 1 if <output_dir>/last.h5 holds a run that finished all cfg's epochs. */
int ht_finished(const tc_config *cfg);
/* ht_finished, and when a run is there, its stored config must match cfg's
 * training-relevant keys: 1 finished, 0 not (or no run), -1 + hnd_error()
 * naming the keys that differ (config_diff.h). */
int ht_finished_same(const tc_config *cfg);

#ifdef __cplusplus
}
#endif
#endif
