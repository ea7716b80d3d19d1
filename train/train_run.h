/* train_run.h: what the two trainers share (hnd train: students; hnd
 * train-teacher: teachers). Prefix trun_.
 *
 * - the run directory: created with its parents, config.json, train.log
 *   (timestamped lines, echoed to stderr) and metrics.jsonl (one JSON object
 *   a line), appended to when a run resumes;
 * - the trainable tensors (those that require grad), their names as the
 *   checkpoint's "trainable" attribute, and the optimizer of train.optimizer;
 * - the checks before a resume: same trainable tensors, same seed, a
 *   position inside the epoch;
 * - the epochs themselves (trun_run_epochs): resuming mid-epoch, lr with the
 *   epoch-0 warm-up and MultiStepLR, the logged windows (loss, per-loss parts,
 *   lr, images/s, s/it, ETA), Ctrl-C and the test hook, validation, the best
 *   and last checkpoints. What differs, the step, validation and saving,
 *   comes in as callbacks. */
#ifndef HND_TRAIN_RUN_H
#define HND_TRAIN_RUN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ckpt.h"
#include "config.h"
#include "coco_ann.h"
#include "ctorch.h"
#include "ld.h"
#include "model_params.h"
#include "progress.h"
#include "split_rcnn.h"

/* h:mm:ss of s seconds (0 for negative or non-finite s). */
void trun_fmt_eta(double s, char *buf, size_t n);

typedef struct {
    FILE *log, *metrics;
    int quiet;      /* no echo on stderr */
    prg_bar *bar;   /* the progress bar the echo clears its line of, or NULL */
} trun_log;

/* Creates dir and opens dir/train.log and dir/metrics.jsonl (appending when
 * `append`), writes dir/config.json (the config as run). 0 / -1 + hnd_error(). */
int trun_log_open(trun_log *l, const char *dir, int append, const char *config_json);
void trun_log_close(trun_log *l);   /* also ends the bar; NULL-safe */
void trun_logf(trun_log *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void trun_metric(trun_log *l, const char *json);   /* one line of metrics.jsonl */

/* The tensors of p that require grad, in registry order: *params (malloc'd
 * array, *n of them), *names (malloc'd, one name a line: the checkpoint's
 * "trainable" attribute), *numel (their element count; may be NULL).
 * 0 / -1 + hnd_error(). */
int trun_trainable(mp_params *p, ct_tensor ***params, int *n, char **names, int64_t *numel);
/* train.optimizer over params: Adam (AdamW with its flag) or SGD. NULL + hnd_error(). */
ct_optim *trun_optimizer(const tc_train *t, ct_tensor **params, int n);

/* The training split of c (dataset.splits.train) as the loader of a
 * training run: shuffled, aspect-ratio grouped batches of train.batch_size,
 * flips, images without annotations dropped when the split says so,
 * unreadable images skipped and counted; GT masks when with_masks. At least
 * one batch, or an error naming the file. 0 / -1 + hnd_error(). */
int trun_open_train_data(const tc_config *c, int with_masks, coco_dataset **ds, ld_loader **ld);
/* Every annotation's category id must be a label of the model: 1 <=
 * id < num_classes (labels are category ids; 0 is the background). 0 / -1
 * + hnd_error() naming the file, the annotation and the category; `what`
 * names the config key in the message. */
int trun_check_classes(const coco_dataset *ds, int num_classes, const char *what);

/* Before resuming from last_path: its trainable tensors must be `trainable`,
 * its seed `seed`, and st->iteration < iters_per_epoch (st: its state, loaded
 * by the caller). `what_changed` completes the message when the tensors
 * differ. 0 / -1 + hnd_error() naming the file. */
int trun_check_resume(const char *last_path, const char *trainable, const char *what_changed, const ck_state *st,
                      uint64_t seed, int64_t iters_per_epoch);

/* Before reusing or resuming the run of ckpt_path under config_json: the
 * training-relevant keys (config_diff.h) of the config stored in it must be
 * the same, unless allow_change (then the differences are only returned in
 * changed[], for the log). A checkpoint without a stored config passes.
 * 0 / -1 + hnd_error(): "<ckpt> was trained with another config:
 * train.optimizer.params.lr (0.001 -> 0.01) ...". */
int trun_check_config(const char *ckpt_path, const char *config_json, int allow_change, char *changed, size_t cap);

/* The checks before a run touches its directory: *resuming = resume and
 * last_path exists; a fresh run needs a free directory (or overwrite), a
 * resumed one the same training config (or allow_change; the differences
 * in changed[]). 0 / -1 + hnd_error(). */
int trun_check_start(const tc_config *cfg, const char *cmd, const char *last_path, int resume, int overwrite,
                     int allow_change, int *resuming, char *changed, size_t cap);
/* A fresh ck_state for cfg (no best yet), or, when resuming, last_path's
 * state checked against the run (trun_check_resume) with the weights of m
 * and the optimizer state loaded from it. 0 / -1 + hnd_error(). */
int trun_start_state(const tc_config *cfg, int resuming, const char *last_path, const char *trainable,
                     const char *what_changed, int64_t iters, sr_model *m, ct_optim *opt, ck_state *st);

/* A fresh (not resumed) run into dir: when dir holds a run (last.h5,
 * best.h5, train.log, metrics.jsonl or config.json), refuses unless
 * overwrite. Touches nothing. 0 / -1 + hnd_error(). */
int trun_check_fresh_dir(const char *dir, const char *cmd, int overwrite);
/* With --overwrite: removes those files of dir (after every other check
 * passed). 0 / -1 + hnd_error(). */
int trun_clear_run_dir(const char *dir);

#define TRUN_MAX_PARTS 8

/* One training run's epochs. The caller fills the first block, calls
 * trun_run_epochs, and reads the results from the second. */
typedef struct {
    const tc_config *cfg;            /* train.{num_epochs, log_freq, warmup, ...} */
    ld_loader *ld;                   /* the training batches */
    trun_log *log;
    volatile sig_atomic_t *stop;     /* may be NULL: non-zero stops after the iteration */
    int64_t stop_after;              /* test hook: stop after this many iterations here (0: never) */
    int progress;                    /* progress bar on a TTY */
    const char *bar_label;           /* e.g. "epoch", "teacher epoch" */
    const char *last_path, *best_path;
    int step_empty;                  /* call step for empty batches too (data-parallel: every
                                        rank joins each step's all-reduce) */
    int n_parts;                     /* per-loss values a step reports (<= TRUN_MAX_PARTS) */
    const char *(*part_name)(int i); /* their names, e.g. "loss_classifier" (logged without "loss_") */
    void *ctx;
    /* One iteration on a batch of b->n > 0 images at learning rate lr
     * (global_step: iterations before it, for step-seeded randomness).
     * *loss: the total; parts[n_parts] (NAN where absent). 0 / -1. */
    int (*step)(void *ctx, const ld_batch *b, int64_t global_step, double lr, double *loss, double *parts);
    void (*set_training)(void *ctx, int on);
    /* NULL: no validation (the epoch's metrics line is written here). Else
     * validates after the epoch, logs and writes its metrics line, *map =
     * bbox AP. 0 / -1. */
    int (*validate)(void *ctx, int64_t epoch, double mean_loss, const double *part_means, double *map);
    /* Writes a checkpoint; `resumable`: last.h5 (optimizer state included). 0 / -1. */
    int (*save)(void *ctx, const char *path, const ck_state *st, int resumable);

    int64_t ran;                     /* iterations run here */
    int stopped;                     /* 1: stopped, last.h5 written to continue */
    double first_mean, last_mean;    /* mean loss of the first and last epoch run here (NAN: none) */
    double first_iter_loss, last_iter_loss;
    double last_parts[TRUN_MAX_PARTS]; /* per-loss means of the last epoch */
} trun_loop;

/* Zeroes L and sets its run-wide fields; the caller adds labels, paths and
 * callbacks. */
void trun_loop_init(trun_loop *L, const tc_config *cfg, ld_loader *ld, trun_log *log, volatile sig_atomic_t *stop,
                    int64_t stop_after, int progress);

/* Runs epochs st->epoch .. num_epochs-1 (from iteration st->iteration of the
 * first), updating *st, writing best_path whenever the validation bbox AP
 * improves (without validation: after the last epoch) and last_path after
 * every epoch and when stopped. 0 / -1 + hnd_error() naming epoch and
 * iteration. */
int trun_run_epochs(trun_loop *L, ck_state *st);

#endif
