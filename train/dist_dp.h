/* dist_dp.h: data-parallel training over this process's c10d group
 * (ctorch/ct_dist.h). Prefix dp_.
 *
 * One group per process, created by dp_init() from the torchrun variables
 * (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE) when WORLD_SIZE > 1 and kept
 * until exit (hnd sweep trains several students in one group). Without them
 * every function is the single-process identity: world 1, rank 0, sums of
 * one, so the trainers call them unconditionally.
 *
 * How a step stays equal to one process with batch B*world (the loader's
 * sharded sampler gives every step the same images, data/smp.h):
 *  - a sum-reduced loss (HND's MSE(sum)) has the gradient of the whole batch
 *    as the SUM of the ranks' gradients: the gradients are summed;
 *  - a mean-reduced loss (the R-CNN losses) averages over the batch: the
 *    ranks' gradients are averaged (as PyTorch DDP always does).
 * The reference's DDP averages in both cases: with Adam (scale-invariant up
 * to eps) its HND update is the same up to eps; with SGD its effective lr is
 * 1/world of ours. */
#ifndef HND_DIST_DP_H
#define HND_DIST_DP_H

#include <stdint.h>

#include "ct_dist.h"
#include "ctorch.h"
#include "model_params.h"

/* Joins the group when WORLD_SIZE > 1 (no-op when already joined or not
 * distributed). Timeout: HND_DIST_TIMEOUT seconds (default 300) for the
 * rendezvous and each collective; backend: HND_DIST_BACKEND (default gloo).
 * 0 / -1 + hnd_error(). */
int dp_init(void);
ct_dist *dp_group(void);   /* NULL when not distributed */
int dp_world(void);
int dp_rank(void);
int dp_is_main(void);      /* rank 0: the one that writes files and logs */

/* Every rank says whether it is fine; returns 1 when all are, 0 when any
 * is not (the ranks then fail together instead of waiting for the one that
 * left), -1 when the group itself failed (hnd_error() names the lost rank). */
int dp_all_ok(int ok);
/* v[0..n) summed over the ranks in place. 0 / -1. */
int dp_sum(double *v, int n);
/* The maximum of v over the ranks (e.g. "any rank was asked to stop"). -1 on failure. */
int dp_max_int(int v);

/* The .grad of params[0..n) reduced over the ranks (summed, or averaged
 * with `average`), in buckets of 25 MiB in reverse parameter order, and
 * *loss (may be NULL) alike. When dp_overlap_begin() registered this very
 * list (same pointer, n and average), the buckets were launched during the
 * backward (dp_overlap_arm) and this waits for them; else they are reduced
 * now. Both give bit-identical gradients. 0 / -1. */
int dp_sync_grads(ct_tensor *const *params, int n, int average, double *loss);

/* The gradient all-reduce overlapped with the backward (ct_dist_grad_sync):
 * every rank calls dp_overlap_begin() with its trainer's parameter list at
 * the same point, dp_overlap_arm() right before each step's backward, then
 * dp_sync_grads() as before; dp_overlap_end() when the trainer is done. Off
 * (every call a no-op, dp_sync_grads reducing after the backward) in one
 * process or with HND_DIST_OVERLAP=0 (bench/bench_dist.sh compares both).
 * 0 / -1. */
int dp_overlap_begin(ct_tensor *const *params, int n, int average);
int dp_overlap_arm(void);
void dp_overlap_end(void);
/* Batch-mean losses over the GLOBAL batch: loss[0..n) (NULL entries are
 * absent) each averaged count[i] terms of this rank's share. The counts and
 * the sums (value x count) are summed over the ranks in one small
 * all-reduce, before the backward; each loss handle is then replaced by
 * loss * count / global_count (the old one destroyed), so that the SUM of the
 * ranks' gradients is the gradient of one process's batch-mean loss over the
 * whole batch (torchvision's denominators: the batch's sampled anchors,
 * RoIs, positives), whatever the split of the counts between the ranks.
 * value[i] (may be NULL): the global mean (NAN where absent), the same on
 * every rank. Single process: the losses untouched, value = their values.
 * Every rank must call it at each step (an empty share: loss all NULL and
 * counts 0 but the same n). 0 / -1 + hnd_error(). */
int dp_global_losses(ct_tensor **loss, const double *count, int n, double *value);
/* Rank 0's values of every tensor of p (parameters and buffers) on every rank. 0 / -1. */
int dp_broadcast_params(mp_params *p);
/* ts[0..n) (the trainable tensors) hashed (FNV-1a over their bytes) on
 * each rank and the hashes compared: 0 when every rank holds the same bits
 * (*hash: the value), -1 + hnd_error() naming the first rank that differs
 * from rank 0. (BN running stats are not compared: without --sync-bn each
 * rank's follow its own images, and rank 0's are saved, which is what
 * PyTorch DDP's broadcast_buffers leaves in rank 0's module too.) */
int dp_check_identical(ct_tensor *const *ts, int n, uint64_t *hash);

#endif
