/* ckpt.h: training checkpoints in the weight store (util/wstore.h):
 *   /weights/<key>              every tensor of the model's registry (a complete
 *                               detector state dict, loadable by sr_load)
 *   /train/optim.<state name>   the optimizer's state (ct_optim_state_*)
 *   /train/aux_optim.<name>     an auxiliary optimizer's (the entropy
 *                               bottleneck's quantiles, train/hnd_rate.h)
 *   /train/density_optim.<name> the entropy bottleneck's density optimizer
 *                               (with density_lr, train/hnd_rate.h)
 *   /train/epoch                int64: epochs completed before `iteration`
 *   /train/iteration            int64: iterations done in epoch `epoch` (0 at an
 *                               epoch boundary; > 0 after an interruption)
 *   /train/global_step, /train/seed (int64), /train/best_map, /train/best_epoch,
 *   /train/loss_sum, /train/loss_count (the running epoch's loss, for its mean)
 *   attributes: config (the run's effective config JSON), train_digest (its
 *   training-relevant keys' digest, config_diff.h), trainable (the
 *   trainable tensor names, one per line, the optimizer's parameter order),
 *   kind ("hnd-student" or "hnd-teacher").
 * Written to a temporary file and renamed into place (atomic). Prefix ck_. */
#ifndef HND_CKPT_H
#define HND_CKPT_H

#include <stdint.h>

#include "ctorch.h"
#include "model_params.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int64_t epoch;
    int64_t iteration;
    int64_t global_step;
    uint64_t seed;
    double best_map;      /* -1: none yet */
    int64_t best_epoch;   /* -1: none yet */
    double loss_sum;
    int64_t loss_count;
} ck_state;

/* o may be NULL (weights only). config / trainable / kind may be NULL. */
int ck_save(const char *path, const mp_params *p, const ct_optim *o, const ck_state *st, const char *config,
            const char *trainable, const char *kind);
/* More optimizers next to the main one, each as /train/<prefix><name>. */
#define CK_AUX_OPTIM "aux_optim."
#define CK_DENSITY_OPTIM "density_optim."
typedef struct {
    const char *prefix;   /* CK_AUX_OPTIM, CK_DENSITY_OPTIM */
    const ct_optim *o;    /* NULL: skipped */
} ck_optim_ref;
/* The same with the states of extra[0..n_extra) too. */
int ck_save_aux(const char *path, const mp_params *p, const ct_optim *o, const ck_optim_ref *extra, int n_extra,
                const ck_state *st, const char *config, const char *trainable, const char *kind);
/* /train scalars. 0 / -1 (a file without them is an error naming it). */
int ck_load_state(const char *path, ck_state *st);
/* Optimizer state into o (same parameters, same order), on dev (the
 * parameters' device). */
int ck_load_optim(const char *path, ct_optim *o, ct_device dev);
/* An extra optimizer's state (/train/<prefix>*, prefix CK_AUX_OPTIM or
 * CK_DENSITY_OPTIM) into o; *found: how many state tensors the file had
 * (0: a checkpoint without it). */
int ck_load_aux_optim(const char *path, const char *prefix, ct_optim *o, ct_device dev, int *found);
/* A root attribute (malloc'd) or NULL (no error set when absent). */
char *ck_attr(const char *path, const char *name);
/* 1 if the file's weights contain a student's bottleneck, 0 if not, -1 on error. */
int ck_is_student(const char *path);

#ifdef __cplusplus
}
#endif
#endif
