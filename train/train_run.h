/* train_run.h: what the two trainers share (hnd train: students; hnd
 * train-teacher: teachers). Prefix trun_.
 *
 * - the run directory: created with its parents, config.json, train.log
 *   (timestamped lines, echoed to stderr) and metrics.jsonl (one JSON object
 *   a line), appended to when a run resumes;
 * - the trainable tensors (those that require grad), their names as the
 *   checkpoint's "trainable" attribute, and the optimizer of train.optimizer;
 * - the checks before a resume: same trainable tensors, same seed, a
 *   position inside the epoch. */
#ifndef HND_TRAIN_RUN_H
#define HND_TRAIN_RUN_H

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

/* Monotonic seconds. */
double trun_now(void);
/* mkdir -p. 0 / -1 + hnd_error(). */
int trun_mkdirs(const char *path);
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

/* Before resuming from last_path: its trainable tensors must be `trainable`,
 * its seed `seed`, and st->iteration < iters_per_epoch (st: its state, loaded
 * by the caller). `what_changed` completes the message when the tensors
 * differ. 0 / -1 + hnd_error() naming the file. */
int trun_check_resume(const char *last_path, const char *trainable, const char *what_changed, const ck_state *st,
                      uint64_t seed, int64_t iters_per_epoch);

#endif
