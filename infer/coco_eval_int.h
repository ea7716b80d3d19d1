/* coco_eval_int.h: the prepared forms of ground truth and results shared by
 * coco_eval_gt.c (a loaded COCO dataset -> ground truth), coco_eval_load.c
 * (results JSON -> detections) and coco_eval.c (matching, accumulation).
 * Not a public header. */
#ifndef HND_COCO_EVAL_INT_H
#define HND_COCO_EVAL_INT_H

#include <stddef.h>
#include <stdint.h>

#include "coco_eval.h"

#define COCO_OKS_MAXK 256 /* keypoints per object at most (data/coco_ann.h's COCO_MAX_KP) */

/* One ground-truth annotation. Sorted by (cat, img, order in the file),
 * which is the order pycocotools gives each (image, category) list. */
typedef struct {
    int32_t img, cat;   /* indices into ce_gt's sorted image / category ids */
    int64_t id;         /* annotation id (0 counts as "no match" in pycocotools) */
    double bbox[4];
    double rbb[4];      /* toBbox of its RLE (segm), for the IoU pre-check */
    double area;        /* the annotation's "area" field */
    uint32_t crowd;     /* iscrowd (= ignore) */
    uint32_t m;         /* number of RLE counts (segm) */
    uint64_t off;       /* first count in ce_gt.pool (segm) */
    uint64_t file_idx;
    uint64_t kp_off;    /* keypoints: kp_n numbers at ce_gt.kps + kp_off */
    uint32_t kp_n;
    uint32_t kp_zero;   /* num_keypoints == 0 (ignored in keypoint evaluation) */
} ce_gt_ann;

struct ce_gt {
    char *name;
    int with_segm;
    int nimg, ncat;
    int64_t *img_id;    /* ascending */
    uint32_t *img_h, *img_w;
    int64_t *cat_id;    /* ascending */
    char **cat_name;
    size_t nann;
    ce_gt_ann *ann;
    size_t *cat_start;  /* ncat + 1: annotations of category k are [cat_start[k], cat_start[k+1]) */
    uint32_t *pool;     /* RLE counts of every annotation (segm) */
    size_t pool_n;
    double *kps;        /* keypoints of every annotation */
    size_t kps_n;
    int32_t *cat_k;     /* ncat: keypoints per object of the category (0: none) */
    double **cat_sig;   /* ncat: its OKS sigmas (cat_k of them; NULL without keypoints) */
    int64_t kp_bad;     /* file index of an annotation whose keypoints do not fit its category, or -1 */
};

/* One detection. Sorted by (cat, img, score descending, order in the file):
 * the order of pycocotools' per-image lists after its stable sort. */
typedef struct {
    int32_t img, cat;
    uint32_t rank;      /* position in its (image, category) list; maxDets cuts on it */
    uint32_t slen;      /* length of the compressed RLE string (segm) */
    double score;
    double area;        /* w*h of the box, or the RLE area (see loadRes) */
    double bbox[4];     /* CE_BBOX: the box evaluated; CE_SEGM: toBbox of the RLE */
    uint64_t soff;      /* offset of the RLE string in ce_dt.spool, or with CE_SOFF_FILE in ce_dt.file (segm) */
    uint64_t koff;      /* keypoints: 3*K numbers at ce_dt.kpool + koff */
} ce_dt_rec;

struct ce_dt {
    const ce_gt *gt;
    ce_iou_type type;
    size_t n, dropped;
    int empty;          /* the results array was empty: all stats -1 */
    ce_dt_rec *rec;
    size_t *cat_start;  /* gt->ncat + 1 */
    char *spool;        /* compressed RLE strings, back to back (segm) */
    size_t spool_n;
    const char *file;   /* the results file, kept mapped: its RLE strings are
                           used in place (no copy of ~all of a segm file) */
    void *file_keep;    /* its js_file (ce_dt_load), closed by ce_dt_destroy */
    double *kpool;      /* result keypoints, back to back (keypoints) */
    size_t kpool_n;
};

/* Threads for work on n items done in ranges (results parsed, polygons
 * rasterised): HND_EVAL_THREADS or the cores (at most 64), with at least
 * HND_EVAL_RANGE items a range (default min_range: fewer are not worth a
 * thread; tests set it small to exercise the ranges on small files). */
int ce_range_threads(size_t n, long min_range);

/* soff's flag: the string lies in ce_dt.file at soff without the flag. */
#define CE_SOFF_FILE ((uint64_t)1 << 63)

static inline const char *ce_dt_str(const ce_dt *dt, const ce_dt_rec *r) {
    return r->soff & CE_SOFF_FILE ? dt->file + (r->soff & ~CE_SOFF_FILE) : dt->spool + r->soff;
}

#endif
