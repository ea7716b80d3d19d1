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

/* The .grad of params[0..n) and *loss reduced over the ranks in one
 * bucketed all-reduce: summed, or averaged with `average`. 0 / -1. */
int dp_sync_grads(ct_tensor *const *params, int n, int average, double *loss);
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
