/* ld.c: see ld.h. */
#define _GNU_SOURCE
#include "ld.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"
#include "img.h"
#include "img_jpeg.h"
#include "path.h"
#include "progress.h"
#include "smp.h"

#define LD_NAMES 64

typedef struct {
    ld_batch *batch; /* NULL while not ready */
    char *error;     /* fatal error of this batch */
    int ready;
} slot_t;

struct ld_loader {
    ld_opts o;
    char *image_dir;
    int64_t *order;   /* dataset order: indices into ds->images */
    int64_t *samples; /* the loader's samples: indices into ds->images */
    int64_t n_samples;
    int32_t *groups; /* per sample */
    smp_batches batches;
    int64_t *shard_off; /* world > 1: each batch's position in its global batch */
    int epoch, running;
    /* worker state */
    pthread_mutex_t mu;
    pthread_cond_t cv_ready, cv_space;
    pthread_t *threads;
    int n_threads;
    slot_t *slots;
    int64_t next_job, consumed;
    int stop;
    /* skipped images */
    int64_t skipped;
    char *names[LD_NAMES];
    int n_names, names_pos;
    prg_bar *bar;
};

void ld_opts_default(ld_opts *o) {
    memset(o, 0, sizeof *o);
    o->workers = 4;
    o->queue = 8;
    o->batch_size = 2;
    o->group_factor = 3;
    o->hflip_prob = 0.5;
    o->skip_bad = 1;
}

void ld_sample_clear(ld_sample *s) {
    if (!s) return;
    free(s->chw);
    tf_target_clear(&s->target);
    memset(s, 0, sizeof *s);
}

void ld_batch_destroy(ld_batch *b) {
    if (!b) return;
    for (int i = 0; i < b->n; i++) ld_sample_clear(&b->samples[i]);
    free(b->samples);
    free(b);
}

int ld_load_sample(const coco_dataset *ds, const char *image_dir, int64_t image, int flip, const tf_target_opts *to,
                   ld_sample *s) {
    return ld_load_sample_q(ds, image_dir, image, flip, 0, to, s);
}

int ld_load_sample_q(const coco_dataset *ds, const char *image_dir, int64_t image, int flip, int jpeg_quality,
                     const tf_target_opts *to, ld_sample *s) {
    memset(s, 0, sizeof *s);
    const coco_image *im = &ds->images[image];
    const char *fn = coco_str(ds, im->file_name);
    char path[4096];
    if (path_join(path, sizeof path, image_dir, fn) < 0) return -1;
    img_u8 u;
    if (img_decode_file(path, &u) < 0) return -1;
    if (u.width != im->width || u.height != im->height) {
        int w = u.width, h = u.height;
        img_clear(&u);
        return hnd_error_set("%s: image is %dx%d but the annotations say %dx%d (image id %lld)", path, w, h,
                             im->width, im->height, (long long)im->id);
    }
    /* the reference re-encodes the decoded RGB image before any transform */
    size_t jb = 0;
    if (jpeg_quality > 0 && img_recode_jpeg(path, &u, jpeg_quality, &jb) != 0) {
        img_clear(&u);
        return -1;
    }
    s->jpeg_bytes = (int64_t)jb;
    s->image = image;
    s->width = u.width;
    s->height = u.height;
    s->chw = malloc((size_t)3 * u.width * u.height * sizeof(float));
    if (!s->chw) {
        img_clear(&u);
        return hnd_error_set("%s: out of memory", path);
    }
    if (flip) tf_hflip_hwc_u8(u.rgb, u.height, u.width, 3);
    img_to_chw_f32(&u, s->chw);
    img_clear(&u);
    if (tf_target_build(ds, image, to, &s->target) < 0) {
        ld_sample_clear(s);
        return -1;
    }
    if (flip) tf_hflip_target(&s->target);
    s->flipped = flip;
    return 0;
}

static void note_skip(ld_loader *l, const char *msg) {
    /* called with mu held */
    l->skipped++;
    char *c = strdup(msg);
    if (!c) return;
    if (l->n_names < LD_NAMES) {
        l->names[l->n_names++] = c;
    } else {
        free(l->names[l->names_pos]);
        l->names[l->names_pos] = c;
        l->names_pos = (l->names_pos + 1) % LD_NAMES;
    }
}

/* Build batch b; NULL with *err set on a fatal error. */
static ld_batch *build_batch(ld_loader *l, int64_t b, char **err) {
    int64_t s0 = l->batches.start[b], s1 = l->batches.start[b + 1];
    ld_batch *B = calloc(1, sizeof *B);
    if (B) B->samples = calloc((size_t)(s1 - s0) + 1, sizeof *B->samples);
    if (!B || !B->samples) {
        free(B);
        *err = strdup("out of memory");
        return NULL;
    }
    B->number = b;
    tf_target_opts to = {l->o.with_masks, l->o.keep_crowd};
    for (int64_t k = s0; k < s1; k++) {
        int64_t pos = l->batches.items[k];
        int64_t image = l->samples[pos];
        int flip = 0;
        if (l->o.train && l->o.hflip_prob > 0) {
            smp_rng r;
            smp_rng_seed(&r, smp_mix_seed(l->o.seed, (uint64_t)l->epoch, (uint64_t)b,
                                             (uint64_t)(k - s0 + (l->shard_off ? l->shard_off[b] : 0))));
            flip = smp_rng_uniform(&r) < l->o.hflip_prob;
        }
        ld_sample *s = &B->samples[B->n];
        if (ld_load_sample_q(l->o.ds, l->image_dir, image, flip, l->o.jpeg_quality, &to, s) < 0) {
            if (l->o.skip_bad) {
                pthread_mutex_lock(&l->mu);
                note_skip(l, hnd_error());
                pthread_mutex_unlock(&l->mu);
                continue;
            }
            *err = strdup(hnd_error());
            ld_batch_destroy(B);
            return NULL;
        }
        s->index = pos;
        B->n++;
    }
    return B;
}

static void *worker(void *arg) {
    ld_loader *l = arg;
    int Q = l->o.queue;
    for (;;) {
        pthread_mutex_lock(&l->mu);
        while (!l->stop && l->next_job < l->batches.n_batches && l->next_job >= l->consumed + Q)
            pthread_cond_wait(&l->cv_space, &l->mu);
        if (l->stop || l->next_job >= l->batches.n_batches) {
            pthread_mutex_unlock(&l->mu);
            return NULL;
        }
        int64_t b = l->next_job++;
        pthread_mutex_unlock(&l->mu);
        char *err = NULL;
        ld_batch *B = build_batch(l, b, &err);
        pthread_mutex_lock(&l->mu);
        slot_t *s = &l->slots[b % Q];
        s->batch = B;
        s->error = err;
        s->ready = 1;
        pthread_cond_broadcast(&l->cv_ready);
        pthread_mutex_unlock(&l->mu);
    }
}

static void stop_workers(ld_loader *l) {
    if (!l->running) return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->cv_space);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->n_threads; i++) pthread_join(l->threads[i], NULL);
    l->n_threads = 0;
    for (int i = 0; i < l->o.queue; i++) {
        ld_batch_destroy(l->slots[i].batch);
        free(l->slots[i].error);
        memset(&l->slots[i], 0, sizeof l->slots[i]);
    }
    prg_end(l->bar);
    l->bar = NULL;
    l->running = 0;
}

ld_loader *ld_open(const ld_opts *o) {
    if (!o || !o->ds) {
        hnd_error_set("ld_open: no dataset");
        return NULL;
    }
    if (o->workers < 1 || o->batch_size < 1) {
        hnd_error_set("loader: workers (%d) and batch size (%d) must be >= 1", o->workers, o->batch_size);
        return NULL;
    }
    if (o->world > 1 && (o->rank < 0 || o->rank >= o->world)) {
        hnd_error_set("loader: rank %d of a world of %d", o->rank, o->world);
        return NULL;
    }
    ld_loader *l = calloc(1, sizeof *l);
    if (!l) {
        hnd_error_set("out of memory");
        return NULL;
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv_ready, NULL);
    pthread_cond_init(&l->cv_space, NULL);
    l->o = *o;
    if (l->o.queue < 1) l->o.queue = 2 * l->o.workers;
    l->image_dir = strdup(o->image_dir ? o->image_dir : "");
    const coco_dataset *ds = o->ds;
    l->order = smp_dataset_order(ds);
    l->samples = malloc(((size_t)ds->n_images + 1) * sizeof *l->samples);
    l->groups = malloc(((size_t)ds->n_images + 1) * sizeof *l->groups);
    l->slots = calloc((size_t)l->o.queue, sizeof *l->slots);
    l->threads = calloc((size_t)l->o.workers, sizeof *l->threads);
    double *ratios = malloc(((size_t)ds->n_images + 1) * sizeof *ratios);
    if (!l->image_dir || !l->order || !l->samples || !l->groups || !l->slots || !l->threads || !ratios) {
        free(ratios);
        ld_destroy(l);
        hnd_error_set("out of memory");
        return NULL;
    }
    if (o->drop_empty) {
        int64_t *keep = l->samples;
        l->n_samples = smp_filter_with_annotations(ds, l->order, ds->n_images, keep);
        for (int64_t i = 0; i < l->n_samples; i++) l->samples[i] = l->order[keep[i]];
    } else {
        memcpy(l->samples, l->order, (size_t)ds->n_images * sizeof *l->samples);
        l->n_samples = ds->n_images;
    }
    for (int64_t i = 0; i < l->n_samples; i++) {
        const coco_image *im = &ds->images[l->samples[i]];
        ratios[i] = im->height ? (double)im->width / (double)im->height : 1.0;
    }
    smp_aspect_groups(ratios, l->n_samples, o->group_factor < 0 ? 0 : o->group_factor, l->groups);
    free(ratios);
    return l;
}

int64_t ld_num_samples(const ld_loader *l) { return l->n_samples; }

int64_t ld_num_batches(const ld_loader *l) {
    if (l->running) return l->batches.n_batches;
    int64_t n = l->n_samples, bs = (int64_t)l->o.batch_size * (l->o.world > 1 ? l->o.world : 1);
    if (l->o.train && l->o.group_factor >= 0) return n / bs;
    return (n + bs - 1) / bs;
}

int ld_epoch_begin(ld_loader *l, int epoch) {
    stop_workers(l);
    smp_batches_clear(&l->batches);
    free(l->shard_off);
    l->shard_off = NULL;
    l->epoch = epoch;
    int64_t n = l->n_samples;
    const int W = l->o.world > 1 ? l->o.world : 1, gbs = l->o.batch_size * W;
    int64_t *pos = malloc(((size_t)n + 1) * sizeof *pos);
    if (!pos) return hnd_error_set("out of memory");
    for (int64_t i = 0; i < n; i++) pos[i] = i;
    int rc;
    if (l->o.train) {
        smp_shuffle(pos, n, smp_mix_seed(l->o.seed, (uint64_t)epoch, UINT64_MAX, 0));
        if (l->o.group_factor >= 0)
            rc = smp_grouped_batches(pos, n, l->groups, gbs, &l->batches);
        else
            rc = smp_sequential_batches(pos, n, gbs, 0, &l->batches);
    } else {
        rc = smp_sequential_batches(pos, n, gbs, 0, &l->batches);
    }
    free(pos);
    if (rc < 0) return -1;
    if (W > 1) {
        smp_batches all = l->batches;
        rc = smp_shard_batches(&all, l->o.rank, W, l->o.batch_size, &l->batches, &l->shard_off);
        smp_batches_clear(&all);
        if (rc < 0) return -1;
    }
    l->next_job = l->consumed = 0;
    l->stop = 0;
    char label[64];
    snprintf(label, sizeof label, "epoch %d", epoch);
    l->bar = prg_begin(label, (uint64_t)l->batches.n_batches, "batches", l->o.progress);
    for (int i = 0; i < l->o.workers; i++) {
        if (pthread_create(&l->threads[i], NULL, worker, l) != 0) {
            l->running = 1;
            stop_workers(l);
            return hnd_error_set("loader: cannot start thread %d", i);
        }
        l->n_threads++;
    }
    l->running = 1;
    return 0;
}

int ld_next(ld_loader *l, ld_batch **out) {
    *out = NULL;
    if (!l->running) return hnd_error_set("loader: no epoch started (ld_epoch_begin)");
    pthread_mutex_lock(&l->mu);
    if (l->consumed >= l->batches.n_batches) {
        pthread_mutex_unlock(&l->mu);
        stop_workers(l);
        return 0;
    }
    slot_t *s = &l->slots[l->consumed % l->o.queue];
    while (!s->ready) pthread_cond_wait(&l->cv_ready, &l->mu);
    ld_batch *B = s->batch;
    char *err = s->error;
    memset(s, 0, sizeof *s);
    l->consumed++;
    pthread_cond_broadcast(&l->cv_space);
    int64_t done = l->consumed;
    pthread_mutex_unlock(&l->mu);
    prg_update(l->bar, (uint64_t)done);
    if (err) {
        hnd_error_set("%s", err);
        free(err);
        stop_workers(l);
        return -1;
    }
    *out = B;
    return 1;
}

int64_t ld_skipped(const ld_loader *l) { return l->skipped; }

const char *ld_skipped_name(const ld_loader *l, int i) {
    if (i < 0 || i >= l->n_names) return NULL;
    return l->names[(l->names_pos + i) % LD_NAMES];
}

void ld_destroy(ld_loader *l) {
    if (!l) return;
    stop_workers(l);
    smp_batches_clear(&l->batches);
    free(l->shard_off);
    for (int i = 0; i < l->n_names; i++) free(l->names[i]);
    free(l->image_dir);
    free(l->order);
    free(l->samples);
    free(l->groups);
    free(l->slots);
    free(l->threads);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv_ready);
    pthread_cond_destroy(&l->cv_space);
    free(l);
}
