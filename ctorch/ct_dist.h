/* ct_dist.h: data-parallel communication over libtorch's c10d (implemented
 * in ct_dist.cpp): a process group of `world` processes that meet through a
 * c10d TCPStore hosted by rank 0, Gloo on the CPU (NCCL for CUDA tensors
 * when libtorch was built with it). Same conventions as ctorch.h: borrowed
 * arguments, 0 / -1 (or NULL) with the reason in ct_last_error().
 *
 * No C file includes c10d headers: this is the only door to them.
 *
 * Failures: every collective runs under the group's timeout. When one fails
 * (a peer's connection closed, or the timeout), the survivor names the lost
 * ranks in its message: each failing rank leaves a mark in the store, waits
 * a moment for the others' marks, and reports the ranks without one as lost
 * ("rank 1 of 2 lost (no answer): ..."); when the store itself is gone, rank
 * 0 (its host) is the lost one. */
#ifndef CT_DIST_H
#define CT_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "ctorch.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_dist ct_dist;

typedef enum { CT_DIST_SUM = 0, CT_DIST_AVG = 1, CT_DIST_MAX = 2 } ct_dist_op;

/* Joins a group of `world` processes as `rank` (0 <= rank < world): rank 0
 * hosts the store on master_port (all interfaces), the others connect to
 * master_addr:master_port (retrying until the timeout). backend: "gloo",
 * "nccl" (only when built with CUDA + NCCL) or NULL/"" for gloo. Gloo's
 * sockets bind to the interface named by GLOO_SOCKET_IFNAME when set, to the
 * loopback when master_addr is a loopback address, else to the address this
 * host's name resolves to. timeout_s: for the rendezvous and for every
 * collective (> 0). NULL on failure (a bad argument, nobody at the address,
 * a timeout). */
ct_dist *ct_dist_init(const char *master_addr, int master_port, int rank, int world, double timeout_s,
                      const char *backend);
/* ct_dist_init from the torchrun variables MASTER_ADDR, MASTER_PORT, RANK,
 * WORLD_SIZE (each required; the message names the missing or malformed one). */
ct_dist *ct_dist_init_env(double timeout_s, const char *backend);
/* Leaves the group (no collective: safe after a failure). NULL-safe. */
void ct_dist_destroy(ct_dist *d);

int ct_dist_rank(const ct_dist *d);
int ct_dist_world(const ct_dist *d);
const char *ct_dist_backend(const ct_dist *d);   /* "gloo" or "nccl" */

/* All-reduces ts[0..n) in place, with every rank passing the same list
 * (same shapes and dtypes, in the same order). The tensors are flattened
 * into buckets of at most bucket_bytes (0: 25 MiB, PyTorch DDP's default)
 * per dtype and device, each bucket reduced by one collective (all of them
 * in flight at once), then copied back. CT_DIST_AVG divides the sum by the
 * world size. NULL entries are an error; an empty list is a no-op. Runs
 * under no-grad (tensors may be leaves that require grad, or their .grad). */
int ct_dist_allreduce(ct_dist *d, ct_tensor *const *ts, int n, ct_dist_op op, int64_t bucket_bytes);

/* The .grad of each of params[0..n) all-reduced as by ct_dist_allreduce,
 * in ct_dist_grad_sync's bucket layout (reverse parameter order).
 * A parameter without a .grad takes part as zeros and gets that reduced
 * .grad (every rank must reduce the same list; a graph that reaches a
 * parameter on one rank but not on another would otherwise deadlock). */
int ct_dist_allreduce_grads(ct_dist *d, ct_tensor *const *params, int n, ct_dist_op op, int64_t bucket_bytes);

/* The gradient all-reduce overlapped with the backward pass, as PyTorch
 * DDP's reducer: a hook on each parameter's gradient accumulator marks its
 * .grad ready; the gradients are laid out in buckets of at most
 * bucket_bytes (0: 25 MiB) in REVERSE parameter order (the order in which
 * the backward produces them), and each bucket's all-reduce (async, on a
 * second group of the same ranks, so that it never interleaves with
 * collectives run inside the backward, such as SyncBatchNorm's) starts as
 * soon as its gradients and those of every earlier bucket are ready.
 * Usage per step: ct_dist_grad_sync_arm() before the backward, then
 * ct_dist_grad_sync_finish() after it: it launches what the graph did not
 * reach (a parameter without a .grad takes part as zeros, as in
 * ct_dist_allreduce_grads), waits, and writes the reduced (summed, or
 * averaged with CT_DIST_AVG) gradients back; *overlapped (may be NULL): the
 * buckets launched during the backward. A backward that is not armed is
 * ignored by the hooks; finish without arm reduces the .grads as they are.
 * The result is bit-identical to ct_dist_allreduce_grads (the same layout).
 * params: leaves that require grad, the same list on every rank; every
 * rank creates the first one of a group at the same point (it sets up the
 * second group). 0 / -1 (NULL) + ct_last_error(); a lost rank is named as
 * by the other collectives. */
typedef struct ct_dist_grad_sync ct_dist_grad_sync;
ct_dist_grad_sync *ct_dist_grad_sync_new(ct_dist *d, ct_tensor *const *params, int n, ct_dist_op op,
                                         int64_t bucket_bytes);
int ct_dist_grad_sync_arm(ct_dist_grad_sync *s);
int ct_dist_grad_sync_finish(ct_dist_grad_sync *s, int *overlapped);
int ct_dist_grad_sync_buckets(const ct_dist_grad_sync *s);   /* buckets of the layout; -1 for NULL */
/* Removes the hooks (waits for any all-reduce still in flight). NULL-safe. */
void ct_dist_grad_sync_destroy(ct_dist_grad_sync *s);

/* Copies root's ts[0..n) into every rank's ts (in place, under no-grad). */
int ct_dist_broadcast(ct_dist *d, ct_tensor *const *ts, int n, int root);

/* Every rank contributes len bytes (lengths may differ between ranks, 0
 * included); every rank receives all contributions concatenated in rank
 * order in *out (malloc'd, free() it; never NULL on success) and, in
 * lens[0..world), each rank's length. */
int ct_dist_allgather_bytes(ct_dist *d, const void *buf, size_t len, void **out, size_t *lens);

/* Waits until every rank arrives (under the timeout). */
int ct_dist_barrier(ct_dist *d);

/* y = x on the forward, and the all-reduce SUM of x's values across ranks:
 * an autograd function whose backward all-reduces (sums) the incoming
 * gradient, as torch.distributed.nn.all_reduce. The building block of a
 * synchronized BatchNorm: a batch's sum and sum of squares (and count)
 * summed over ranks give the mean/var over the global batch, and the
 * gradient flows back to every rank's share. NULL on failure. */
ct_tensor *ct_dist_allreduce_sum_autograd(ct_dist *d, const ct_tensor *x);

/* SyncBatchNorm for every ct_batch_norm in training mode of this process,
 * over d's ranks (NULL: off, each rank's own batch, as PyTorch DDP without
 * SyncBatchNorm): the mean and the biased variance of the union of the
 * ranks' batches (count and sum, then the sum of squared deviations, each
 * through ct_dist_allreduce_sum_autograd), so a forward and backward on B
 * images per rank equal one process's on B*world; running stats updated as
 * PyTorch's with the global count. Every rank must then run the same batch
 * norms in the same order. 0. */
int ct_dist_set_sync_batch_norm(ct_dist *d);

#ifdef __cplusplus
}
#endif
#endif
