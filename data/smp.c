/* smp.c: see smp.h. */
#include "smp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"
#include "splitmix.h"

void smp_rng_seed(smp_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = sm64_next(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t smp_rng_next(smp_rng *r) {
    uint64_t *s = r->s;
    uint64_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return res;
}

double smp_rng_uniform(smp_rng *r) { return (double)(smp_rng_next(r) >> 11) * 0x1.0p-53; }

uint64_t smp_rng_below(smp_rng *r, uint64_t n) {
    uint64_t lim = UINT64_MAX - UINT64_MAX % n;
    uint64_t v;
    do v = smp_rng_next(r);
    while (v >= lim);
    return v % n;
}

uint64_t smp_mix_seed(uint64_t seed, uint64_t a, uint64_t b, uint64_t c) {
    uint64_t x = seed;
    uint64_t h = sm64_next(&x);
    x = h ^ (a * 0xd6e8feb86659fd93ULL);
    h = sm64_next(&x);
    x = h ^ (b * 0xa0761d6478bd642fULL);
    h = sm64_next(&x);
    x = h ^ (c * 0xe7037ed1a0b428dbULL);
    return sm64_next(&x);
}

int64_t *smp_dataset_order(const coco_dataset *ds) {
    int64_t *o = malloc(((size_t)ds->n_images + 1) * sizeof *o);
    if (!o) {
        hnd_error_set("out of memory");
        return NULL;
    }
    int sorted = 1;
    for (int64_t i = 0; i < ds->n_images; i++) {
        o[i] = i;
        if (i && ds->images[i].id < ds->images[i - 1].id) sorted = 0;
    }
    if (!sorted) {
        /* bottom-up merge sort by id (ids are unique; no global comparator) */
        int64_t n = ds->n_images;
        int64_t *tmp = malloc(((size_t)n + 1) * sizeof *tmp);
        if (!tmp) {
            free(o);
            hnd_error_set("out of memory");
            return NULL;
        }
        for (int64_t w = 1; w < n; w *= 2) {
            for (int64_t lo = 0; lo < n; lo += 2 * w) {
                int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
                int64_t i = lo, j = mid, k = lo;
                while (i < mid && j < hi) tmp[k++] = ds->images[o[j]].id < ds->images[o[i]].id ? o[j++] : o[i++];
                while (i < mid) tmp[k++] = o[i++];
                while (j < hi) tmp[k++] = o[j++];
            }
            memcpy(o, tmp, (size_t)n * sizeof *o);
        }
        free(tmp);
    }
    return o;
}

int64_t smp_filter_with_annotations(const coco_dataset *ds, const int64_t *order, int64_t n, int64_t *keep) {
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t na;
        const int32_t *ai = coco_image_anns(ds, order[i], &na);
        int valid = 0;
        for (int64_t k = 0; k < na; k++) {
            const coco_ann *a = &ds->anns[ai[k]];
            if (!(a->bbox[2] <= 1 || a->bbox[3] <= 1)) {
                valid = 1;
                break;
            }
        }
        /* keypoint sets ("keypoints" in the image's first annotation): at
         * least SMP_MIN_KEYPOINTS visible keypoints over all its annotations */
        if (valid && ds->anns[ai[0]].kp_n) {
            int64_t vis = 0;
            for (int64_t k = 0; k < na; k++) {
                const coco_ann *a = &ds->anns[ai[k]];
                for (uint32_t j = 2; j < a->kp_n; j += 3) vis += ds->kps[a->kp_off + j] > 0;
            }
            valid = vis >= SMP_MIN_KEYPOINTS;
        }
        if (valid) keep[m++] = i;
    }
    return m;
}

void smp_shuffle(int64_t *idx, int64_t n, uint64_t seed) {
    smp_rng r;
    smp_rng_seed(&r, seed);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)smp_rng_below(&r, (uint64_t)i + 1);
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

void smp_aspect_bins(int k, double *bins, int *nbins) {
    if (k <= 0) {
        bins[0] = 1.0;
        *nbins = 1;
        return;
    }
    int n = 2 * k + 1;
    /* numpy.linspace(-1, 1, n): start + i*step, the last one exactly 1 */
    double step = 2.0 / (double)(n - 1);
    for (int i = 0; i < n; i++) bins[i] = pow(2.0, i == n - 1 ? 1.0 : -1.0 + (double)i * step);
    *nbins = n;
}

void smp_aspect_groups(const double *ratios, int64_t n, int k, int32_t *groups) {
    double bins[64];
    int nb;
    smp_aspect_bins(k > 31 ? 31 : k, bins, &nb);
    for (int64_t i = 0; i < n; i++) {
        int g = 0; /* bisect_right: number of bins <= ratio */
        while (g < nb && bins[g] <= ratios[i]) g++;
        groups[i] = g;
    }
}

void smp_batches_clear(smp_batches *b) {
    if (!b) return;
    free(b->start);
    free(b->items);
    memset(b, 0, sizeof *b);
}

static int batches_alloc(smp_batches *out, int64_t nb, int64_t ni) {
    out->n_batches = nb;
    out->start = malloc(((size_t)nb + 1) * sizeof *out->start);
    out->items = malloc(((size_t)ni + 1) * sizeof *out->items);
    if (!out->start || !out->items) {
        smp_batches_clear(out);
        return hnd_error_set("out of memory");
    }
    out->start[0] = 0;
    return 0;
}

int smp_sequential_batches(const int64_t *order, int64_t n, int batch_size, int drop_last, smp_batches *out) {
    memset(out, 0, sizeof *out);
    if (batch_size <= 0) return hnd_error_set("batch size must be positive, got %d", batch_size);
    int64_t nb = drop_last ? n / batch_size : (n + batch_size - 1) / batch_size;
    if (batches_alloc(out, nb, nb * batch_size) < 0) return -1;
    int64_t k = 0;
    for (int64_t b = 0; b < nb; b++) {
        for (int j = 0; j < batch_size && k < n; j++) out->items[out->start[b] + j] = order[k++];
        out->start[b + 1] = k;
    }
    return 0;
}

int smp_grouped_batches(const int64_t *order, int64_t n, const int32_t *groups, int batch_size, smp_batches *out) {
    memset(out, 0, sizeof *out);
    if (batch_size <= 0) return hnd_error_set("batch size must be positive, got %d", batch_size);
    int ng = 0;
    for (int64_t i = 0; i < n; i++) {
        int32_t g = groups[order[i]];
        if (g < 0 || g > 1000000) return hnd_error_set("bad group id %d", g);
        if (g + 1 > ng) ng = g + 1;
    }
    int64_t expected = n / batch_size;
    if (batches_alloc(out, expected, expected * batch_size) < 0) return -1;
    /* per group: its buffer, all its samples so far (for the repeats), and
     * the time its key was (re)inserted in Python's dict (the dict keeps
     * insertion order; a yielded group is deleted and immediately re-created
     * empty by the assert that reads it, so it moves to the end) */
    int64_t *buf = malloc(((size_t)ng * batch_size + 1) * sizeof *buf);
    int64_t *blen = calloc((size_t)ng + 1, sizeof *blen);
    int64_t *stamp = malloc(((size_t)ng + 1) * sizeof *stamp);
    int64_t *seen_start = calloc((size_t)ng + 1, sizeof *seen_start);
    int64_t *seen = malloc(((size_t)n + 1) * sizeof *seen);
    if (!buf || !blen || !stamp || !seen_start || !seen) {
        free(buf), free(blen), free(stamp), free(seen_start), free(seen);
        smp_batches_clear(out);
        return hnd_error_set("out of memory");
    }
    for (int g = 0; g < ng; g++) stamp[g] = -1; /* not in the dict */
    /* samples_per_group as a grouped copy of order: count, then place */
    int64_t *cnt = seen_start;
    for (int64_t i = 0; i < n; i++) cnt[groups[order[i]]]++;
    int64_t *gs = malloc(((size_t)ng + 1) * sizeof *gs), *gfill = malloc(((size_t)ng + 1) * sizeof *gfill);
    if (!gs || !gfill) {
        free(buf), free(blen), free(stamp), free(seen_start), free(seen), free(gs), free(gfill);
        smp_batches_clear(out);
        return hnd_error_set("out of memory");
    }
    int64_t acc = 0;
    for (int g = 0; g < ng; g++) {
        gs[g] = acc;
        gfill[g] = acc;
        acc += cnt[g];
    }
    int64_t clock = 0, nb = 0, k = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t idx = order[i];
        int g = groups[idx];
        if (stamp[g] < 0) stamp[g] = clock++;
        buf[(size_t)g * batch_size + blen[g]++] = idx;
        seen[gfill[g]++] = idx;
        if (blen[g] == batch_size) {
            for (int j = 0; j < batch_size; j++) out->items[k++] = buf[(size_t)g * batch_size + j];
            out->start[++nb] = k;
            blen[g] = 0;
            stamp[g] = clock++; /* deleted, then re-inserted by the assert */
        }
    }
    while (nb < expected) {
        /* the group with the longest buffer; ties: the earliest dict entry */
        int best = -1;
        for (int g = 0; g < ng; g++) {
            if (stamp[g] < 0) continue;
            if (best < 0 || blen[g] > blen[best] || (blen[g] == blen[best] && stamp[g] < stamp[best])) best = g;
        }
        if (best < 0 || blen[best] == 0) break; /* cannot happen (see smp.h) */
        int g = best;
        for (int j = 0; j < blen[g]; j++) out->items[k++] = buf[(size_t)g * batch_size + j];
        int64_t remaining = batch_size - blen[g], ns = gfill[g] - gs[g];
        for (int64_t j = 0; j < remaining; j++) out->items[k++] = seen[gs[g] + j % ns];
        out->start[++nb] = k;
        stamp[g] = -1; /* done: excluded from further picks (sorted() visits each once) */
    }
    free(buf), free(blen), free(stamp), free(seen_start), free(seen), free(gs), free(gfill);
    if (nb != expected) {
        smp_batches_clear(out);
        return hnd_error_set("grouped batches: internal error (%lld of %lld batches)", (long long)nb,
                             (long long)expected);
    }
    return 0;
}

int smp_shard_batches(const smp_batches *global, int rank, int world, int per_rank, smp_batches *out,
                      int64_t **offsets) {
    memset(out, 0, sizeof *out);
    if (offsets) *offsets = NULL;
    if (world < 1 || rank < 0 || rank >= world || per_rank < 1)
        return hnd_error_set("sampler shard: rank %d of %d, %d per rank", rank, world, per_rank);
    const int64_t nb = global->n_batches;
    if (batches_alloc(out, nb, nb * per_rank) < 0) return -1;
    int64_t *off = offsets ? malloc(((size_t)nb + 1) * sizeof *off) : NULL;
    if (offsets && !off) {
        smp_batches_clear(out);
        return hnd_error_set("out of memory");
    }
    int64_t k = 0;
    for (int64_t b = 0; b < nb; b++) {
        /* rank r's slice [r*per_rank, (r+1)*per_rank) of the global batch,
         * clipped to its length (a short last batch leaves later ranks less) */
        int64_t s0 = global->start[b], len = global->start[b + 1] - s0;
        int64_t lo = (int64_t)rank * per_rank, hi = lo + per_rank;
        if (lo > len) lo = len;
        if (hi > len) hi = len;
        for (int64_t j = lo; j < hi; j++) out->items[k++] = global->items[s0 + j];
        out->start[b + 1] = k;
        if (off) off[b] = lo;
    }
    if (offsets) *offsets = off;
    return 0;
}
