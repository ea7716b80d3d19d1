/* det_results.h: detections as COCO results JSON (what pycocotools' loadRes
 * and `hnd eval` read): image_id, category_id, bbox [x,y,w,h] in original
 * pixels, score, for mask models segmentation as compressed RLE, and for
 * keypoint models keypoints [x1, y1, 1, ...] (torchvision's reference
 * prepare_for_coco_keypoint writes the model's [K, 3] keypoints, whose third
 * column is 1; pycocotools reads no visibility from results). Shared by
 * `hnd detect` and the training driver's validation. */
#ifndef DET_RESULTS_H
#define DET_RESULTS_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "rcnn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One image's detections copied to host memory. */
typedef struct {
    int64_t k;                /* number of detections */
    int64_t height, width;    /* original image size (mask size) */
    float *boxes;             /* [k,4] xyxy */
    float *scores;            /* [k] */
    int64_t *labels;          /* [k] category ids */
    uint8_t *masks;           /* [k,height,width] 0/1 row-major, or NULL (no masks) */
    int64_t nkp;              /* keypoints per detection (0: none) */
    float *keypoints;         /* [k,nkp,3] x, y, 1 in original pixels, or NULL */
    float *keypoint_scores;   /* [k,nkp] the heatmap logits at the keypoints, or NULL */
} dr_host;

/* Copy d (boxes, scores, labels; masks thresholded at mask_thresh) to the
 * host. 0, or -1 + hnd_error(). */
int dr_to_host(const rcnn_detections *d, int64_t height, int64_t width, double mask_thresh, dr_host *out);
void dr_host_clear(dr_host *h);   /* frees the arrays; zeroes */

/* Append h's k results for image_id to the JSON array (boxes and
 * keypoints rounded to 1e-3 px and scores to 1e-6, as the reference's
 * results files; keypoints written with v = 1). */
int dr_append_json(cJSON *arr, int64_t image_id, const dr_host *h);

/* The keypoint results of arr (those with "keypoints") as torchvision's
 * reference prepare_for_coco_keypoint writes them, {image_id, category_id,
 * keypoints, score} without bbox, so that pycocotools' loadRes (and
 * ce_dt_parse) takes each result's area from its keypoints' extent, as in
 * torchvision's keypoint evaluation. A JSON string to free(), or NULL +
 * hnd_error(). */
char *dr_keypoint_results_json(const cJSON *arr);

#ifdef __cplusplus
}
#endif
#endif
