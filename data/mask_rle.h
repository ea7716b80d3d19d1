/* mask_rle.h: COCO run-length encoded masks, compatible with pycocotools.
 *
 * A mask of h x w pixels is read in column-major order (COCO's order: down
 * the first column, then the second, ...). Its RLE is the list of run
 * lengths, alternating 0-runs and 1-runs and starting with a 0-run (which
 * may be 0 long). Every function here gives the same numbers as pycocotools'
 * maskApi (polygon rasterisation with its 5x upsampling and rounding, the
 * bbox of an RLE, merge, area, IoU with the crowd rule, the compressed
 * string codec), so that evaluation matches pycocotools to the last bit.
 *
 * rle_t is a plain view: { h, w, m, cnts }. Functions that create an RLE
 * malloc its cnts (free with rle_clear); callers that pool counts themselves
 * may point cnts anywhere and never call rle_clear on it.
 *
 * Errors: functions returning int give 0 or -1 with hnd_error() set
 * (messages name the field relative to the object, e.g. "counts[3]: ...";
 * callers prefix the file and the index). Torch-free; no exit(). */
#ifndef HND_MASK_RLE_H
#define HND_MASK_RLE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t h, w;     /* mask height and width */
    size_t m;          /* number of counts */
    uint32_t *cnts;    /* run lengths (owned only if made by an rle_ function) */
} rle_t;

struct cJSON;

/* An empty (0 x 0) RLE; frees cnts and resets to empty. */
void rle_init(rle_t *r);
void rle_clear(rle_t *r);
/* Copy of cnts[0..m). */
int rle_from_counts(rle_t *r, uint32_t h, uint32_t w, const uint32_t *cnts, size_t m);
/* 0 if the counts add up to h*w, else -1 with a message. */
int rle_check(const rle_t *r);

/* Bitmaps (one byte per pixel, nonzero = 1). */
int rle_encode(rle_t *r, const uint8_t *colmajor, uint32_t h, uint32_t w);
int rle_encode_rowmajor(rle_t *r, const uint8_t *rowmajor, uint32_t h, uint32_t w);
/* out has h*w bytes; written 0/1. Counts beyond h*w are cut. */
void rle_decode(const rle_t *r, uint8_t *colmajor);
void rle_decode_rowmajor(const rle_t *r, uint8_t *rowmajor);

/* Union (intersect = 0) or intersection (intersect = 1) of n RLEs of the
 * same size (rleMerge). n = 0 gives an empty 0 x 0 RLE. */
int rle_merge(const rle_t *rs, size_t n, int intersect, rle_t *out);
/* Number of 1 pixels. */
uint64_t rle_area(const rle_t *r);
/* [x, y, w, h] exactly as pycocotools' toBbox (all 0 for an empty mask). */
void rle_to_bbox(const rle_t *r, double bb[4]);

/* Polygon of k points (xy = x0,y0,x1,y1,...) rasterised as rleFrPoly.
 * Coordinates must be finite and within +-1e8. */
int rle_from_poly(rle_t *r, const double *xy, size_t k, uint32_t h, uint32_t w);
/* Box [x, y, w, h] as rleFrBbox (the polygon of its four corners). */
int rle_from_bbox(rle_t *r, const double bb[4], uint32_t h, uint32_t w);

/* Compressed string codec (rleToString / rleFrString: 6 bits per char,
 * chars 48..111, counts after the third stored as differences).
 * rle_to_string returns a malloc'd NUL-terminated string, NULL if out of memory. */
char *rle_to_string(const rle_t *r);
int rle_from_string(rle_t *r, const char *s, size_t len, uint32_t h, uint32_t w);
/* Decode into a caller buffer of cap >= len counts (one char per count at
 * least); *m gets the number of counts. For pooled storage. */
int rle_decode_string(const char *s, size_t len, uint32_t *cnts, size_t cap, size_t *m);

/* A COCO "segmentation" value as pycocotools' annToRLE reads it, for an
 * image of img_h x img_w:
 *   - a list of polygons [[x,y,...], ...]: each rasterised, then merged
 *     (a first part of exactly 4 numbers makes pycocotools read every
 *     part as a box [x,y,w,h]; done the same here);
 *   - uncompressed RLE {"size": [h, w], "counts": [n, ...]};
 *   - compressed RLE {"size": [h, w], "counts": "string"}.
 * The RLE's size must equal the image's and its counts must add up to h*w. */
int rle_from_json(rle_t *r, const struct cJSON *segm, uint32_t img_h, uint32_t img_w);

/* IoU of a detection and a ground-truth region. crowd = 1: the ground truth
 * is a crowd region and the union is the detection's area (pycocotools'
 * iscrowd rule). Sizes must match (returns -1.0 if not, as pycocotools). */
double rle_iou(const rle_t *dt, const rle_t *gt, int crowd);
/* The same from raw counts (no size check; both cover the same h*w).
 * The bbox pre-check of pycocotools is the caller's (see coco_eval.c). */
double rle_iou_counts(const uint32_t *a, size_t ma, const uint32_t *b, size_t mb, int crowd);
/* IoU of boxes [x,y,w,h] exactly as pycocotools' bbIou (crowd rule too). */
double rle_bbox_iou(const double dt[4], const double gt[4], int crowd);
/* Matrices: out[d*ngt + g] (row-major, detections x ground truths).
 * iscrowd may be NULL. */
void rle_iou_matrix(const rle_t *dt, size_t ndt, const rle_t *gt, size_t ngt, const uint8_t *iscrowd,
                    double *out);
void rle_bbox_iou_matrix(const double *dt, size_t ndt, const double *gt, size_t ngt, const uint8_t *iscrowd,
                         double *out);

#ifdef __cplusplus
}
#endif
#endif
