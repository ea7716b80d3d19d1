/* coco_ann.h: COCO instance annotations (instances_*.json), loaded into a
 * compact form. Torch-free, prefix coco_.
 *
 * The file is never turned into one JSON tree (a train2017-sized file would
 * take several GB): the scanner of json_scan.h walks the top-level object
 * and hands out each element of "images", "annotations" and "categories";
 * images and categories are parsed by cJSON one element at a time,
 * annotations by json_scan's strict reader straight into the arrays
 * (coco_ann_read.c), and what is kept goes into contiguous arrays and one
 * string pool. Other top-level keys ("info", "licenses", ...) are validated
 * (so a malformed file is always reported) and dropped.
 *
 * Errors name the file and the JSON path:
 *   "x.json: annotations[1234].bbox: expected 4 numbers"
 * Annotations referring to unknown images or categories, and duplicate ids,
 * are errors. */
#ifndef HND_COCO_ANN_H
#define HND_COCO_ANN_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    COCO_SEG_NONE = 0,   /* no "segmentation" key */
    COCO_SEG_POLY = 1,   /* list of polygons [[x0,y0,x1,y1,...], ...] */
    COCO_SEG_RLE = 2,    /* {"counts": [n0, n1, ...], "size": [h, w]} (uncompressed) */
    COCO_SEG_RLE_STR = 3 /* {"counts": "compressed", "size": [h, w]} */
} coco_seg_kind;

typedef struct {
    int64_t id;
    int32_t width, height;
    uint32_t file_name; /* offset in the string pool: coco_str() */
} coco_image;

typedef struct {
    int64_t id;
    uint32_t name, supercategory; /* string pool offsets ("" when absent) */
    /* Keypoint categories (person_keypoints_*.json): n_kp names in
     * "keypoints" (pool offsets ds->kp_names[kp_off .. kp_off+n_kp)),
     * "skeleton" as n_skel pairs of 1-based keypoint numbers as in the file
     * (ds->skeleton[2*skel_off .. 2*(skel_off+n_skel))), and the optional
     * per-keypoint OKS "sigmas" (ds->kp_sigmas[kp_off ..], has_sigmas).
     * n_kp = 0: a category without keypoints. */
    int32_t n_kp, n_skel;
    uint32_t kp_off, skel_off;
    int32_t has_sigmas;
} coco_category;

typedef struct {
    int64_t id;
    int64_t image_id, category_id; /* as in the file */
    int32_t image;                 /* index into images[] */
    int32_t category;              /* index into categories[] */
    double area;
    double bbox[4]; /* x, y, w, h as in the file */
    int32_t iscrowd;
    int32_t seg_kind; /* coco_seg_kind */
    /* POLY: polygons poly_off/poly_len[seg_off .. seg_off+seg_n);
     * RLE: counts[seg_off .. seg_off+seg_n);
     * RLE_STR: the string at pool offset seg_off, seg_n bytes. */
    uint64_t seg_off;
    uint32_t seg_n;
    uint32_t seg_h, seg_w; /* "size" of an RLE */
    /* "keypoints": [x1, y1, v1, ...] as kp_n numbers at ds->kps + kp_off
     * (kp_n = 0: none; else a multiple of 3); "num_keypoints" (-1: absent). */
    uint64_t kp_off;
    uint32_t kp_n;
    int32_t num_keypoints;
} coco_ann;

typedef struct coco_dataset {
    char *path;
    coco_image *images;
    int64_t n_images;
    coco_category *cats;
    int32_t n_cats;
    coco_ann *anns;
    int64_t n_anns;
    /* Annotations of image i, in file order: img_anns[img_ann_start[i] ..
     * img_ann_start[i+1]) are indices into anns[]. */
    int64_t *img_ann_start; /* n_images + 1 */
    int32_t *img_anns;      /* n_anns */
    /* polygon storage: polygon p has poly_len[p] numbers at coords + poly_off[p] */
    double *coords;
    size_t n_coords;
    uint64_t *poly_off;
    uint32_t *poly_len;
    size_t n_polys;
    uint32_t *counts; /* uncompressed RLE counts */
    size_t n_counts;
    double *kps; /* annotation keypoints (coco_ann.kp_off) */
    size_t n_kps;
    uint32_t *kp_names; /* category keypoint names (pool offsets) */
    double *kp_sigmas;  /* category sigmas, parallel to kp_names (0 where absent) */
    size_t n_kp_names;
    int32_t *skeleton;  /* category skeleton pairs, 1-based */
    size_t n_skeleton;  /* pairs */
    int32_t ann_kp_k;   /* keypoints of the first annotation that has any (0: none) */
    char *strings; /* the pool: NUL-terminated strings */
    size_t strings_len;
    /* the file had "annotations" / "categories" ("images" is required);
     * COCO evaluation refuses a file without them, such as an image-info
     * file (image_info_test2017.json) given as ground truth */
    int has_anns, has_cats;
    /* id -> index hash tables (private) */
    void *img_index, *cat_index;
} coco_dataset;

typedef struct {
    int progress; /* progress bar on a TTY (stderr) */
    /* Accept what COCO evaluation (pycocotools) accepts although a training
     * set could not be read from it: images without file_name ("") or
     * without width/height (-1: coco_ann_rle refuses their annotations),
     * categories without a name (""). */
    int for_eval;
} coco_load_opts;

/* Load a COCO instances file. NULL on failure with hnd_error() set. opts may
 * be NULL (no progress bar). */
coco_dataset *coco_load(const char *path, const coco_load_opts *opts);
/* Same, from a buffer in memory; name is used in messages. */
coco_dataset *coco_load_mem(const char *name, const char *buf, size_t len, const coco_load_opts *opts);
void coco_destroy(coco_dataset *ds);

static inline const char *coco_str(const coco_dataset *ds, uint64_t off) { return ds->strings + off; }

/* Index of the image / category with this id, -1 if none. */
int64_t coco_image_index(const coco_dataset *ds, int64_t image_id);
int32_t coco_cat_index(const coco_dataset *ds, int64_t cat_id);

/* Annotation indices of image img (file order); *n gets their number. */
static inline const int32_t *coco_image_anns(const coco_dataset *ds, int64_t img, int64_t *n) {
    *n = ds->img_ann_start[img + 1] - ds->img_ann_start[img];
    return ds->img_anns + ds->img_ann_start[img];
}

/* Keypoint layout of the dataset: *K = the number of keypoints of its
 * keypoint categories (0 when none has any), and, if flip is not NULL, the
 * flip map (K entries: keypoint k of a horizontally flipped object is
 * keypoint flip[k] of the original; room for *K: call with NULL first), derived from the names: "left_X" and
 * "right_X" (also "left"/"right" as a word anywhere in the name, e.g.
 * "left_upper" / "right_upper") swap, others map to themselves; COCO's
 * person gives torchvision's [0, 2, 1, 4, 3, ...]. Categories with
 * keypoints must agree on K and on the flip map (one tensor [N, K, 3] per
 * image, as torchvision's): else -1 with hnd_error() naming them. */
#define COCO_MAX_KP 256 /* more keypoints per category are refused */
int coco_kp_layout(const coco_dataset *ds, int *K, int32_t *flip);
/* The flip map of category c alone (c->n_kp entries). 0 / -1 (a name
 * whose mirror is not among the names, or appears twice). */
int coco_kp_flip_map(const coco_dataset *ds, const coco_category *c, int32_t *flip);

/* Polygon k (0 <= k < seg_n) of a COCO_SEG_POLY annotation: *n numbers. */
static inline const double *coco_ann_polygon(const coco_dataset *ds, const coco_ann *a, uint32_t k,
                                             uint32_t *n) {
    *n = ds->poly_len[a->seg_off + k];
    return ds->coords + ds->poly_off[a->seg_off + k];
}

#endif

#ifndef HND_COCO_ANN_RLE_DECL
#define HND_COCO_ANN_RLE_DECL
#include "mask_rle.h"
/* The mask of annotation a as pycocotools' annToRLE gives it, for its image
 * (polygons rasterised and merged, a first part of exactly 4 numbers read as
 * boxes like frPyObjects does; RLEs checked against the image size). An
 * annotation without segmentation gives an all-zero mask. 0 / -1 with
 * hnd_error() naming the file and annotation. out: rle_clear() it. */
int coco_ann_rle(const coco_dataset *ds, const coco_ann *a, rle_t *out);
#endif
