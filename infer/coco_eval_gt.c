/* coco_eval_gt.c: the evaluator's ground truth (coco_eval_int.h) from a
 * COCO dataset loaded by data/coco_ann.h, so that a program that already
 * holds the dataset (the training driver: its loader and its validation)
 * reads the annotation file once, and `hnd eval` reads it with the same
 * reader as everything else.
 *
 * What pycocotools' COCOeval takes from the ground truth: images (id; size
 * for masks), categories (id; the name only for our per-category table),
 * annotations (id, image, category, bbox, the "area" field that decides the
 * area range, iscrowd = ignore, the mask as annToRLE makes it). The checks
 * here are those evaluation needs beyond the loader's: finite boxes of
 * non-negative size, a finite area, masks of the image's size, and the
 * polygon forms pycocotools' frPyObjects would crash on. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coco_ann.h"
#include "coco_eval_int.h"
#include "hnd_error.h"
#include "mask_rle.h"

void ce_gt_destroy(ce_gt *gt) {
    if (!gt) return;
    free(gt->name);
    free(gt->img_id);
    free(gt->img_h);
    free(gt->img_w);
    free(gt->cat_id);
    if (gt->cat_name)
        for (int k = 0; k < gt->ncat; k++) free(gt->cat_name[k]);
    free(gt->cat_name);
    free(gt->ann);
    free(gt->cat_start);
    free(gt->pool);
    free(gt->kps);
    if (gt->cat_sig)
        for (int k = 0; k < gt->ncat; k++) free(gt->cat_sig[k]);
    free(gt->cat_sig);
    free(gt->cat_k);
    free(gt);
}

int ce_gt_num_images(const ce_gt *gt) { return gt->nimg; }

size_t ce_dt_num_images(const ce_dt *dt) {
    if (!dt || dt->n == 0) return 0;
    unsigned char *seen = calloc((size_t)dt->gt->nimg, 1);
    if (!seen) return 0;
    size_t n = 0;
    for (size_t i = 0; i < dt->n; i++)
        if (!seen[dt->rec[i].img]) {
            seen[dt->rec[i].img] = 1;
            n++;
        }
    free(seen);
    return n;
}

/* An id and its index in the file, to sort by id. Ids are unique (the
 * loader refuses duplicates). */
typedef struct {
    int64_t id;
    int32_t idx;
} id_pos;

static int cmp_id_pos(const void *a, const void *b) {
    const id_pos *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int cmp_gt_ann(const void *a, const void *b) {
    const ce_gt_ann *x = a, *y = b;
    if (x->cat != y->cat) return x->cat < y->cat ? -1 : 1;
    if (x->img != y->img) return x->img < y->img ? -1 : 1;
    return x->file_idx < y->file_idx ? -1 : x->file_idx > y->file_idx;
}

/* Sizes checked in file order (the first bad image is the one named). */
static int check_image_sizes(const coco_dataset *ds, int with_segm) {
    for (int64_t i = 0; i < ds->n_images; i++) {
        const coco_image *im = &ds->images[i];
        if (with_segm && im->height < 0)
            return hnd_error_set("%s: images[%lld].height: missing (masks need the image size)", ds->path,
                                 (long long)i);
        if (with_segm && im->width < 0)
            return hnd_error_set("%s: images[%lld].width: missing (masks need the image size)", ds->path,
                                 (long long)i);
        int64_t h = im->height < 0 ? 0 : im->height, w = im->width < 0 ? 0 : im->width;
        if (h > 1000000 || w > 1000000 || h * w > (int64_t)UINT32_MAX)
            return hnd_error_set("%s: images[%lld]: size %lld x %lld out of range", ds->path, (long long)i,
                                 (long long)h, (long long)w);
    }
    return 0;
}

/* Images sorted by id (pycocotools evaluates them in that order);
 * rank[i] gets the sorted position of the file's image i. */
static int gt_images(ce_gt *gt, const coco_dataset *ds, int32_t *rank) {
    size_t n = (size_t)ds->n_images;
    id_pos *t = malloc((n + 1) * sizeof *t);
    gt->img_id = malloc((n + 1) * sizeof *gt->img_id);
    gt->img_h = malloc((n + 1) * sizeof *gt->img_h);
    gt->img_w = malloc((n + 1) * sizeof *gt->img_w);
    if (!t || !gt->img_id || !gt->img_h || !gt->img_w) {
        free(t);
        return hnd_error_set("out of memory");
    }
    for (size_t i = 0; i < n; i++) t[i] = (id_pos){ds->images[i].id, (int32_t)i};
    qsort(t, n, sizeof *t, cmp_id_pos);
    for (size_t k = 0; k < n; k++) {
        const coco_image *im = &ds->images[t[k].idx];
        gt->img_id[k] = t[k].id;
        gt->img_h[k] = im->height < 0 ? 0 : (uint32_t)im->height; /* a box-only ground truth may have none */
        gt->img_w[k] = im->width < 0 ? 0 : (uint32_t)im->width;
        rank[t[k].idx] = (int32_t)k;
    }
    gt->nimg = (int)n;
    free(t);
    return 0;
}

/* Categories sorted by id, with their names; rank as for images. */
static int gt_categories(ce_gt *gt, const coco_dataset *ds, int32_t *rank) {
    size_t n = (size_t)ds->n_cats;
    id_pos *t = malloc((n + 1) * sizeof *t);
    gt->cat_id = malloc((n + 1) * sizeof *gt->cat_id);
    gt->cat_name = calloc(n + 1, sizeof *gt->cat_name);
    if (!t || !gt->cat_id || !gt->cat_name) {
        free(t);
        return hnd_error_set("out of memory");
    }
    for (size_t i = 0; i < n; i++) t[i] = (id_pos){ds->cats[i].id, (int32_t)i};
    qsort(t, n, sizeof *t, cmp_id_pos);
    gt->ncat = (int)n;
    for (size_t k = 0; k < n; k++) {
        gt->cat_id[k] = t[k].id;
        rank[t[k].idx] = (int32_t)k;
        if (!(gt->cat_name[k] = strdup(coco_str(ds, ds->cats[t[k].idx].name)))) {
            free(t);
            return hnd_error_set("out of memory");
        }
    }
    free(t);
    return 0;
}

/* Polygon lists pycocotools' frPyObjects would not take: none at all, a
 * first part of fewer than 6 numbers that is not a box (4 numbers, which
 * makes every part a box), a box part of another length. */
static int check_polygons(const coco_dataset *ds, const coco_ann *a, int64_t i) {
    if (a->seg_n == 0) return hnd_error_set("%s: annotations[%lld].segmentation: empty polygon list", ds->path, (long long)i);
    uint32_t n0, n;
    coco_ann_polygon(ds, a, 0, &n0);
    if (n0 != 4 && n0 < 6)
        return hnd_error_set("%s: annotations[%lld].segmentation[0]: a polygon needs 3 points", ds->path, (long long)i);
    for (uint32_t k = 1; n0 == 4 && k < a->seg_n; k++) {
        coco_ann_polygon(ds, a, k, &n);
        if (n != 4)
            return hnd_error_set("%s: annotations[%lld].segmentation[%u]: expected 4 numbers (the first part was a box)",
                                 ds->path, (long long)i, k);
    }
    return 0;
}

/* ---- polygons rasterised on threads -------------------------------------
 * Rasterising the polygons is most of a segm ground truth's load: it is
 * done first, in ranges of annotations on threads, for the polygons that
 * pass the checks; a range stops at its first failure and the sequential
 * pass below redoes that annotation, so messages come in file order. */
typedef struct {
    const coco_dataset *ds;
    rle_t *rle;
    uint8_t *done;
    size_t lo, hi;
} poly_range;

static void *poly_run(void *arg) {
    poly_range *R = arg;
    for (size_t i = R->lo; i < R->hi; i++) {
        const coco_ann *a = &R->ds->anns[i];
        if (a->seg_kind != COCO_SEG_POLY) continue;
        if (check_polygons(R->ds, a, (int64_t)i) < 0 || coco_ann_rle(R->ds, a, &R->rle[i]) < 0) {
            rle_clear(&R->rle[i]);
            break;
        }
        R->done[i] = 1;
    }
    return NULL;
}

/* The polygons' RLEs in advance (rle[i] valid where done[i]); 0, or -1 when
 * there is nothing in advance (one thread, or out of memory: the sequential
 * pass does everything). */
static int poly_ahead(const coco_dataset *ds, size_t n, rle_t **prle, uint8_t **pdone) {
    int nt = ce_range_threads(n, 1024); /* polygons: ranges of >= 1024 */
    *prle = NULL;
    *pdone = NULL;
    if (nt < 2) return -1;
    rle_t *rle = calloc(n, sizeof *rle);
    uint8_t *done = calloc(n, 1);
    poly_range R[64];
    pthread_t th[64];
    if (!rle || !done) {
        free(rle);
        free(done);
        return -1;
    }
    for (int k = 0; k < nt; k++)
        R[k] = (poly_range){ds, rle, done, n * (size_t)k / (size_t)nt, n * (size_t)(k + 1) / (size_t)nt};
    int started = 0;
    for (int k = 1; k < nt; k++) {
        if (pthread_create(&th[k], NULL, poly_run, &R[k]) != 0) break;
        started = k;
    }
    poly_run(&R[0]);
    for (int k = 1; k <= started; k++) pthread_join(th[k], NULL);
    for (int k = started + 1; k < nt; k++) poly_run(&R[k]);
    *prle = rle;
    *pdone = done;
    return 0;
}

/* The mask of annotation i (annToRLE) into the pool; its toBbox too.
 * pre: its RLE made in advance (taken over), or NULL. */
static int gt_mask(ce_gt *gt, size_t *pcap, const coco_dataset *ds, int64_t i, uint32_t h, uint32_t w,
                   ce_gt_ann *g, rle_t *pre) {
    const coco_ann *a = &ds->anns[i];
    rle_t rle;
    if (pre) {
        rle = *pre;
        rle_init(pre);
    } else {
        if (a->seg_kind == COCO_SEG_NONE)
            return hnd_error_set("%s: annotations[%lld].segmentation: missing", ds->path, (long long)i);
        if (a->seg_kind == COCO_SEG_POLY && check_polygons(ds, a, i) < 0) return -1;
        if (a->seg_kind != COCO_SEG_POLY && (a->seg_h != h || a->seg_w != w))
            return hnd_error_set("%s: annotations[%lld].segmentation.size: [%u, %u] does not match the image (%u x %u)",
                                 ds->path, (long long)i, a->seg_h, a->seg_w, h, w);
        if (coco_ann_rle(ds, a, &rle) < 0) return -1;
    }
    size_t need = gt->pool_n + rle.m;
    if (need > *pcap) {
        size_t c = *pcap ? *pcap : 1024;
        while (c < need) c *= 2;
        uint32_t *p = realloc(gt->pool, c * sizeof *p);
        if (!p) {
            rle_clear(&rle);
            return hnd_error_set("out of memory");
        }
        gt->pool = p;
        *pcap = c;
    }
    if (rle.m) memcpy(gt->pool + gt->pool_n, rle.cnts, rle.m * sizeof *rle.cnts);
    g->off = gt->pool_n;
    g->m = (uint32_t)rle.m;
    rle_to_bbox(&rle, g->rbb);
    gt->pool_n += rle.m;
    rle_clear(&rle);
    return 0;
}

/* pycocotools' Params.kpt_oks_sigmas (COCO person): these / 10.0 */
static const double k_coco_sigmas10[17] = {.26, .25, .25, .35, .35, .79, .79, .72, .72,
                                           .62, .62, 1.07, 1.07, .87, .87, .89, .89};

/* Keypoints of the categories (in sorted order): K from the names, else
 * from the first annotation with keypoints; sigmas as coco_eval.h says. */
static int gt_kp_categories(ce_gt *gt, const coco_dataset *ds, const int32_t *cat_rank) {
    gt->cat_k = calloc((size_t)gt->ncat + 1, sizeof *gt->cat_k);
    gt->cat_sig = calloc((size_t)gt->ncat + 1, sizeof *gt->cat_sig);
    if (!gt->cat_k || !gt->cat_sig) return hnd_error_set("out of memory");
    for (int32_t c = 0; c < ds->n_cats; c++) gt->cat_k[cat_rank[c]] = ds->cats[c].n_kp;
    for (int64_t i = 0; i < ds->n_anns; i++) {
        const coco_ann *a = &ds->anns[i];
        int32_t k = cat_rank[a->category];
        if (!gt->cat_k[k] && a->kp_n) gt->cat_k[k] = (int32_t)(a->kp_n / 3);
    }
    for (int32_t c = 0; c < ds->n_cats; c++) {
        const coco_category *cc = &ds->cats[c];
        int32_t k = cat_rank[c], K = gt->cat_k[k];
        if (!K) continue;
        if (K > COCO_OKS_MAXK)
            return hnd_error_set("%s: category %lld: %d keypoints, at most %d", ds->path, (long long)cc->id, (int)K,
                                 COCO_OKS_MAXK);
        double *sg = malloc((size_t)K * sizeof *sg);
        if (!sg) return hnd_error_set("out of memory");
        gt->cat_sig[k] = sg;
        for (int j = 0; j < K; j++)
            sg[j] = cc->has_sigmas ? ds->kp_sigmas[cc->kp_off + j] : K == 17 ? k_coco_sigmas10[j] / 10.0 : CE_KP_SIGMA;
    }
    return 0;
}

/* Annotation i's keypoints into gt->kps; kp_bad notes the first whose
 * count does not fit its category's (keypoint evaluation refuses it). */
static int gt_keypoints(ce_gt *gt, size_t *kcap, const coco_dataset *ds, size_t i, ce_gt_ann *g) {
    const coco_ann *a = &ds->anns[i];
    uint32_t K = (uint32_t)gt->cat_k[g->cat];
    if (a->kp_n != 3 * K) {
        if (gt->kp_bad < 0) gt->kp_bad = (int64_t)i;
        return 0;
    }
    if (!K) return 0;
    size_t need = gt->kps_n + a->kp_n;
    if (need > *kcap) {
        size_t c = *kcap ? *kcap : 1024;
        while (c < need) c *= 2;
        double *p = realloc(gt->kps, c * sizeof *p);
        if (!p) return hnd_error_set("out of memory");
        gt->kps = p;
        *kcap = c;
    }
    memcpy(gt->kps + gt->kps_n, ds->kps + a->kp_off, a->kp_n * sizeof *gt->kps);
    g->kp_off = gt->kps_n;
    g->kp_n = a->kp_n;
    gt->kps_n += a->kp_n;
    int nvis = a->num_keypoints;
    if (a->num_keypoints < 0) { /* absent: the visible ones */
        nvis = 0;
        for (uint32_t j = 2; j < a->kp_n; j += 3) nvis += ds->kps[a->kp_off + j] > 0;
    }
    g->kp_zero = nvis == 0;
    return 0;
}

/* Annotation i in file order, checked (pre: its mask made in advance). */
static int gt_one(ce_gt *gt, const coco_dataset *ds, const int32_t *img_rank, const int32_t *cat_rank, size_t i,
              size_t *pcap, size_t *kcap, rle_t *pre) {
    const coco_ann *a = &ds->anns[i];
    ce_gt_ann *g = &gt->ann[i];
    memset(g, 0, sizeof *g);
    g->id = a->id;
    g->img = img_rank[a->image];
    g->cat = cat_rank[a->category];
    g->crowd = a->iscrowd != 0;
    g->area = a->area;
    g->file_idx = i;
    memcpy(g->bbox, a->bbox, sizeof g->bbox);
    for (int k = 0; k < 4; k++)
        if (!isfinite(a->bbox[k]))
            return hnd_error_set("%s: annotations[%zu].bbox: expected 4 numbers", ds->path, i);
    if (a->bbox[2] < 0 || a->bbox[3] < 0)
        return hnd_error_set("%s: annotations[%zu].bbox: negative width or height (%g x %g)", ds->path, i,
                             a->bbox[2], a->bbox[3]);
    if (!isfinite(a->area)) return hnd_error_set("%s: annotations[%zu].area: not a finite number", ds->path, i);
    if (gt->with_segm && gt_mask(gt, pcap, ds, (int64_t)i, gt->img_h[g->img], gt->img_w[g->img], g, pre) < 0)
        return -1;
    if (gt_keypoints(gt, kcap, ds, i, g) < 0) return -1;
    return 0;
}

/* The annotations in file order, checked, then sorted as pycocotools
 * lists them per (category, image). */
static int gt_annotations(ce_gt *gt, const coco_dataset *ds, const int32_t *img_rank, const int32_t *cat_rank) {
    size_t n = (size_t)ds->n_anns, pcap = 0, kcap = 0;
    gt->kp_bad = -1;
    if (gt_kp_categories(gt, ds, cat_rank) < 0) return -1;
    gt->ann = malloc((n + 1) * sizeof *gt->ann);
    gt->cat_start = calloc((size_t)gt->ncat + 1, sizeof *gt->cat_start);
    if (!gt->ann || !gt->cat_start) return hnd_error_set("out of memory");
    rle_t *pre = NULL;
    uint8_t *done = NULL;
    if (gt->with_segm) poly_ahead(ds, n, &pre, &done);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = gt_one(gt, ds, img_rank, cat_rank, i, &pcap, &kcap, pre && done[i] ? &pre[i] : NULL);
    if (pre)
        for (size_t i = 0; i < n; i++) rle_clear(&pre[i]);
    free(pre);
    free(done);
    if (rc < 0) return -1;
    gt->nann = n;
    if (n > 1) qsort(gt->ann, n, sizeof *gt->ann, cmp_gt_ann);
    for (size_t i = 0; i < n; i++) gt->cat_start[gt->ann[i].cat + 1]++;
    for (int k = 0; k < gt->ncat; k++) gt->cat_start[k + 1] += gt->cat_start[k];
    return 0;
}


ce_gt *ce_gt_from_coco(const coco_dataset *ds, int with_segm) {
    if (!ds->has_cats || !ds->has_anns) {
        hnd_error_set("%s: missing '%s'", ds->path, ds->has_cats ? "annotations" : "categories");
        return NULL;
    }
    if (check_image_sizes(ds, with_segm) < 0) return NULL;
    ce_gt *gt = calloc(1, sizeof *gt);
    int32_t *img_rank = malloc(((size_t)ds->n_images + 1) * sizeof *img_rank);
    int32_t *cat_rank = malloc(((size_t)ds->n_cats + 1) * sizeof *cat_rank);
    int rc = -1;
    if (!gt || !img_rank || !cat_rank || !(gt->name = strdup(ds->path))) {
        hnd_error_set("out of memory");
        goto done;
    }
    gt->with_segm = with_segm;
    rc = gt_images(gt, ds, img_rank);
    if (rc == 0) rc = gt_categories(gt, ds, cat_rank);
    if (rc == 0) rc = gt_annotations(gt, ds, img_rank, cat_rank);
done:
    free(img_rank);
    free(cat_rank);
    if (rc < 0) {
        ce_gt_destroy(gt);
        return NULL;
    }
    return gt;
}

/* The loader as evaluation reads: file names, sizes (for boxes) and
 * category names optional, as pycocotools needs none of them. */
static const coco_load_opts k_eval_load = {.progress = 0, .for_eval = 1};

ce_gt *ce_gt_load(const char *path, int with_segm) {
    coco_dataset *ds = coco_load(path, &k_eval_load);
    if (!ds) return NULL;
    ce_gt *gt = ce_gt_from_coco(ds, with_segm);
    coco_destroy(ds);
    return gt;
}

ce_gt *ce_gt_parse(const char *json, size_t len, const char *name, int with_segm) {
    coco_dataset *ds = coco_load_mem(name, json, len, &k_eval_load);
    if (!ds) return NULL;
    ce_gt *gt = ce_gt_from_coco(ds, with_segm);
    coco_destroy(ds);
    return gt;
}
