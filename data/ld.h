/* ld.h: the data loader: N worker threads decode images and build targets
 * for whole batches ahead of the consumer, holding at most `queue` batches.
 * Torch-free, prefix ld_.
 *
 * Deterministic for a seed whatever the number of threads: the epoch's
 * batches are fixed before any thread starts (smp.h), each sample's random
 * flip comes from a generator seeded by (seed, epoch, position), and
 * batches are handed out in order.
 *
 * A missing or corrupt image is reported by file name: with skip_bad the
 * sample is left out of its batch (the batch may then be short or empty) and
 * counted (ld_skipped(), ld_skipped_names()); without it ld_next() fails
 * with the decoder's message. */
#ifndef HND_LD_H
#define HND_LD_H

#include <stdint.h>

#include "coco_ann.h"
#include "tf.h"

typedef struct {
    const coco_dataset *ds;  /* borrowed; must outlive the loader */
    const char *image_dir;   /* file names are relative to it */
    int workers;             /* threads (>= 1) */
    int queue;               /* batches decoded ahead (>= 1; default 2*workers) */
    int batch_size;          /* >= 1 */
    int train;               /* 1: shuffle, groups, flips; 0: dataset order, no flips */
    int drop_empty;          /* remove images without (valid) annotations */
    int group_factor;        /* aspect-ratio grouping k (3 like torchvision; -1 = no grouping) */
    double hflip_prob;       /* training only (torchvision: 0.5) */
    uint64_t seed;
    int with_masks;
    int keep_crowd;
    int skip_bad;            /* 1: skip missing/corrupt images, 0: fatal */
    int progress;            /* progress bar on a TTY */
    int rank, world;         /* data-parallel share (world > 1): the batches of one process
                                with batch_size*world, this rank's slice of each (smp_shard_batches);
                                flips seeded by the global position. 0, 0: the whole */
    int jpeg_quality;        /* 1..100: each image re-encoded as PIL's JPEG at this quality (img_jpeg.h)
                                before flips; 0 (default): as read */
} ld_opts;

/* Defaults: workers 4, queue 8, batch 2, train 0, drop_empty 0,
 * group_factor 3, hflip 0.5, seed 0, masks 0, keep_crowd 0, skip_bad 1. */
void ld_opts_default(ld_opts *o);

typedef struct {
    int64_t index;    /* position in the loader's sample list */
    int64_t image;    /* index into ds->images */
    int height, width;
    float *chw;       /* 3*height*width, values in [0, 1] */
    int flipped;
    int64_t jpeg_bytes; /* the re-encoded JPEG's size (jpeg_quality), else 0 */
    tf_target target; /* already flipped with the image */
} ld_sample;

typedef struct {
    int64_t number;   /* batch number in the epoch */
    int n;            /* samples (< batch size when images were skipped, or the last one) */
    ld_sample *samples;
} ld_batch;

typedef struct ld_loader ld_loader;

ld_loader *ld_open(const ld_opts *o);
/* Images the loader samples from (after drop_empty), and batches per epoch. */
int64_t ld_num_samples(const ld_loader *l);
int64_t ld_num_batches(const ld_loader *l);
/* Start an epoch (stops a running one). 0 / -1. */
int ld_epoch_begin(ld_loader *l, int epoch);
/* Next batch in order: 1 and *out (free with ld_batch_destroy), 0 at the end of
 * the epoch, -1 on error (hnd_error(); a fatal image error names the file). */
int ld_next(ld_loader *l, ld_batch **out);
void ld_batch_destroy(ld_batch *b);
/* Images skipped so far (all epochs), and their names ("a.jpg: reason"),
 * the last 64 kept. */
int64_t ld_skipped(const ld_loader *l);
const char *ld_skipped_name(const ld_loader *l, int i);
void ld_destroy(ld_loader *l);

/* One sample without threads (what a worker does): decode, float, target,
 * flip if flip. 0 / -1. */
int ld_load_sample(const coco_dataset *ds, const char *image_dir, int64_t image, int flip, const tf_target_opts *to,
                   ld_sample *s);
/* The same with the image re-encoded as JPEG at jpeg_quality first (0: not). */
int ld_load_sample_q(const coco_dataset *ds, const char *image_dir, int64_t image, int flip, int jpeg_quality,
                     const tf_target_opts *to, ld_sample *s);
void ld_sample_clear(ld_sample *s);

#endif
