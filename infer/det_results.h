/* det_results.h: detections as COCO results JSON (what pycocotools' loadRes
 * and `hnd eval` read): image_id, category_id, bbox [x,y,w,h] in original
 * pixels, score, and for mask models segmentation as compressed RLE. Shared
 * by `hnd detect` and the training driver's validation. */
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
} dr_host;

/* Copy d (boxes, scores, labels; masks thresholded at mask_thresh) to the
 * host. 0, or -1 + hnd_error(). */
int dr_to_host(const rcnn_detections *d, int64_t height, int64_t width, double mask_thresh, dr_host *out);
void dr_host_clear(dr_host *h);   /* frees the arrays; zeroes */

/* Append h's k results for image_id to the JSON array (boxes rounded to
 * 1e-3 px and scores to 1e-6, as the reference's results files). */
int dr_append_json(cJSON *arr, int64_t image_id, const dr_host *h);

#ifdef __cplusplus
}
#endif
#endif
