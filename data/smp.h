/* smp.h: sampling of training/validation images. Torch-free, prefix smp_.
 *
 * Dataset order is torchvision's CocoDetection order: images sorted by id.
 * Indices produced here are positions in that order unless said otherwise
 * (smp_dataset_order maps them to indices into ds->images).
 *
 * Randomness comes from our own generator (splitmix64 + xoshiro256**), not
 * torch's: a seed gives the same epochs on every machine and for any number
 * of loader threads, but not the permutation torch.randperm would give. */
#ifndef HND_SMP_H
#define HND_SMP_H

#include <stddef.h>
#include <stdint.h>

#include "coco_ann.h"

typedef struct {
    uint64_t s[4];
} smp_rng;

void smp_rng_seed(smp_rng *r, uint64_t seed);
uint64_t smp_rng_next(smp_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double smp_rng_uniform(smp_rng *r);
/* Uniform integer in [0, n), unbiased. n > 0. */
uint64_t smp_rng_below(smp_rng *r, uint64_t n);
/* A seed derived from a seed and up to three counters (epoch, batch, item). */
uint64_t smp_mix_seed(uint64_t seed, uint64_t a, uint64_t b, uint64_t c);

/* Indices into ds->images sorted by image id (malloc'd, n_images). */
int64_t *smp_dataset_order(const coco_dataset *ds);

/* torchvision's _coco_remove_images_without_annotations: keep image i if it
 * has at least one annotation (crowd included) and not every box has w <= 1
 * or h <= 1, and, when its first annotation has keypoints, if its
 * annotations have at least SMP_MIN_KEYPOINTS (min_keypoints_per_image, 10)
 * visible (v > 0) keypoints in all. order: indices into ds->images (n of them); writes the kept
 * positions (0..n-1, ascending) into keep (n entries) and returns their count. */
#define SMP_MIN_KEYPOINTS 10
int64_t smp_filter_with_annotations(const coco_dataset *ds, const int64_t *order, int64_t n, int64_t *keep);

/* Fisher-Yates shuffle of idx[0..n) with a generator seeded by seed. */
void smp_shuffle(int64_t *idx, int64_t n, uint64_t seed);

/* torchvision's create_aspect_ratio_groups(k): bins 2**linspace(-1, 1, 2k+1)
 * (k=0: [1.0]), group = bisect_right(bins, width/height). ratios[i] ->
 * groups[i], values 0..2k+1. */
void smp_aspect_bins(int k, double *bins /* 2k+1 (or 1) */, int *nbins);
void smp_aspect_groups(const double *ratios, int64_t n, int k, int32_t *groups);

/* A list of batches: batch b is items[start[b] .. start[b+1]). */
typedef struct {
    int64_t n_batches;
    int64_t *start; /* n_batches + 1 */
    int64_t *items;
} smp_batches;

void smp_batches_clear(smp_batches *b);

/* torchvision's GroupedBatchSampler over the sample order `order` (values
 * are dataset positions; groups is indexed by them): batches fill per group
 * and are emitted when full; at the end len(order)//batch_size batches in
 * all, the partly filled groups (largest first, ties in Python dict order)
 * completed by repeating that group's samples. 0 / -1. */
int smp_grouped_batches(const int64_t *order, int64_t n, const int32_t *groups, int batch_size, smp_batches *out);
/* Plain batches in order; the last one may be short unless drop_last. */
int smp_sequential_batches(const int64_t *order, int64_t n, int batch_size, int drop_last, smp_batches *out);

/* Data-parallel sharding: rank's share of each of global's batches, the
 * slice [rank*per_rank, (rank+1)*per_rank) (clipped to the batch's length),
 * so that the world's ranks together train on exactly the batches one
 * process with batch per_rank*world would (the same images in the same
 * steps; every rank reshuffles from the same seed). Batch b of out is batch b
 * of global; *offsets (malloc'd, may be NULL) gets each slice's position in
 * its global batch, for per-position randomness (flips). 0 / -1. */
int smp_shard_batches(const smp_batches *global, int rank, int world, int per_rank, smp_batches *out,
                      int64_t **offsets);

#endif
