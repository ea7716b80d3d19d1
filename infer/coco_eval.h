/* coco_eval.h: COCO bbox / segm / keypoints evaluation, identical to
 * pycocotools' COCOeval (default parameters: IoU .50:.05:.95, 101 recall
 * thresholds, maxDets 1/10/100, areas all/small/medium/large, categories
 * used; for keypoints setKpParams': OKS, maxDets 20, areas all/medium/large,
 * the 10 stats of summarize()).
 * Torch-free (links hnd_data, hnd_util, cJSON only). Both files are read
 * with data/json_scan.h; the ground truth with data/coco_ann.h's loader.
 *
 *   ce_result r;
 *   if (ce_evaluate("instances_val2017.json", "results.json", CE_BBOX, NULL, &r) < 0)
 *       fprintf(stderr, "%s\n", hnd_error());
 *   ce_print_summary(stdout, r.stats);   // pycocotools' 12 lines
 *   ce_result_clear(&r);
 *
 * To evaluate several result sets (bbox and segm of one model, or one per
 * epoch) against the same ground truth, load it once with ce_gt_load (or
 * make it with ce_gt_from_coco from a dataset already loaded) and call
 * ce_dt_load / ce_dt_parse + ce_eval for each.
 *
 * What is read, as pycocotools reads it:
 *   ground truth: images (id; width and height for segm), categories (id,
 *   name), annotations (id, image_id, category_id, bbox, area, iscrowd,
 *   segmentation as polygons / uncompressed RLE / compressed RLE). The
 *   annotation's "area" field decides its area range; iscrowd = ignore.
 *   results: [{image_id, category_id, score, bbox | segmentation}, ...].
 *   As loadRes: if results[0] has a non-empty bbox, every result needs a
 *   bbox and its area is w*h (also for segm, where a result without
 *   segmentation is the box's polygon); otherwise area and bbox come from
 *   the segmentation RLE.
 *
 * Differences from pycocotools, all on input it would not accept or would
 * silently misread: an image_id absent from the ground truth, a malformed
 * bbox (not 4 finite numbers, negative size), a non-finite score, an RLE
 * whose size differs from its image's or whose counts do not add up, are
 * errors naming the file, the index and the field. Results whose category
 * is not among the ground truth's categories are dropped, as pycocotools
 * does (counted in ce_dt_dropped(); an error with opts.strict_categories).
 * An empty results array gives all 12 stats -1 (pycocotools raises).
 *
 * Keypoints (CE_KEYPOINTS), as computeOks: results carry "keypoints"
 * [x, y, v]*K (v unused); a result without bbox or segmentation gets the
 * area and box of its keypoints' extent (loadRes). A ground-truth object
 * is ignored when iscrowd or num_keypoints = 0 (num_keypoints absent: the
 * count of v > 0, where pycocotools raises); one without visible keypoints
 * is matched by the distance of the result's keypoints to its box doubled
 * in each direction. Sigmas per category: the category's "sigmas" in the
 * ground truth when present, else COCO's 17 person sigmas when K = 17,
 * else CE_KP_SIGMA for every keypoint (pycocotools has one sigma list for
 * all categories and no default for K != 17: give it the same numbers).
 * Every ground-truth annotation of the file and every result must have
 * 3*K keypoint numbers for its category's K (else an error naming it). */
#ifndef HND_COCO_EVAL_H
#define HND_COCO_EVAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { CE_BBOX = 0, CE_SEGM = 1, CE_KEYPOINTS = 2 } ce_iou_type;

/* The OKS sigma of every keypoint of a category with K != 17 keypoints and
 * no "sigmas" (about the mean of COCO's 17, 0.0669). */
#define CE_KP_SIGMA 0.07

/* "bbox" / "segm" / "keypoints"; ce_iou_parse returns -1 for anything else. */
const char *ce_iou_name(ce_iou_type t);
int ce_iou_parse(const char *s);

typedef struct {
    int strict_categories; /* 1: a result of a category absent from the GT is an error */
} ce_options;

typedef struct ce_gt ce_gt;
typedef struct ce_dt ce_dt;
struct coco_dataset; /* data/coco_ann.h */

/* Ground truth from a COCO dataset loaded by coco_load (any options). It
 * copies what it needs: the dataset may be freed afterwards. with_segm = 1
 * rasterises the masks (needed for CE_SEGM; CE_BBOX works with either).
 * NULL on error, with a message naming the file and the JSON path. */
ce_gt *ce_gt_from_coco(const struct coco_dataset *ds, int with_segm);
/* The same from a COCO annotations file (coco_load + ce_gt_from_coco; file
 * names, image sizes for boxes, category names may be absent, as for
 * pycocotools) or from its text in memory. */
ce_gt *ce_gt_load(const char *path, int with_segm);
ce_gt *ce_gt_parse(const char *json, size_t len, const char *name, int with_segm);
void ce_gt_destroy(ce_gt *gt);
int ce_gt_num_images(const ce_gt *gt);

/* Results (COCO results JSON) checked against gt and prepared for one IoU
 * type. name is used in error messages. NULL on error. */
ce_dt *ce_dt_load(const ce_gt *gt, const char *path, ce_iou_type t, const ce_options *opts);
/* Distinct ground-truth images the results cover (0 for none). */
size_t ce_dt_num_images(const ce_dt *dt);
ce_dt *ce_dt_parse(const ce_gt *gt, const char *json, size_t len, const char *name, ce_iou_type t,
                   const ce_options *opts);
void ce_dt_destroy(ce_dt *dt);
size_t ce_dt_num(const ce_dt *dt);           /* results kept */
size_t ce_dt_dropped(const ce_dt *dt);       /* results of categories absent from the GT */

typedef struct {
    int64_t id;
    const char *name; /* "" when the GT has none; owned by the result */
    double ap, ap50, ap75; /* AP@[.50:.95], AP@.50, AP@.75, area all, 100 dets (keypoints: 20); -1 without GT */
} ce_category_ap;

typedef struct {
    ce_iou_type iou_type;
    double stats[12]; /* AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl;
                         keypoints: the first 10 are AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl
                         (maxDets 20), the last two 0 */
    int num_categories;
    ce_category_ap *per_category; /* num_categories entries, ascending id */
    size_t num_images, num_gt, num_dt, num_dropped;
    double seconds_eval;  /* evaluate + accumulate (not loading) */
} ce_result;

/* Evaluate dt against gt. gt must have been loaded with_segm for CE_SEGM. */
int ce_eval(const ce_gt *gt, const ce_dt *dt, ce_result *out);
/* Load both files and evaluate. */
int ce_evaluate(const char *gt_path, const char *dt_path, ce_iou_type t, const ce_options *opts, ce_result *out);
void ce_result_clear(ce_result *r);

/* Number of summary stats of a type: 12, or 10 for keypoints. */
int ce_num_stats(ce_iou_type t);
/* The 12 lines of pycocotools' summarize() (bbox / segm). */
void ce_print_summary(FILE *f, const double stats[12]);
/* Those of the type: the 12, or the 10 of _summarizeKps (stats holds
 * ce_num_stats(t) numbers). */
void ce_print_summary_type(FILE *f, ce_iou_type t, const double *stats);
/* A table of per-category AP / AP50 / AP75. */
void ce_print_per_category(FILE *f, const ce_result *r);
/* {"bbox": [12 numbers]} (or "segm", or "keypoints": [10 numbers]), plus "<type>_per_category" if
 * per_category; written to a temporary file renamed into place. */
int ce_write_json(const char *path, const ce_result *r, int per_category);

#ifdef __cplusplus
}
#endif
#endif
