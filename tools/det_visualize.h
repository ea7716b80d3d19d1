/* det_visualize.h: an image with its detections drawn on it (boxes, mask
 * overlays, keypoints and their skeleton, "name score" labels in a real
 * font), written as PNG with cairo,
 * atomically. Torch-free, prefix dv_. `hnd detect --visualize` uses it. */
#ifndef HND_DET_VISUALIZE_H
#define HND_DET_VISUALIZE_H

#include <stdint.h>

/* Class names by category id (from a COCO file's categories); a label
 * without a name is drawn as its number. */
typedef struct {
    const int64_t *ids;
    const char *const *names;
    int n;
} dv_names;

typedef struct {
    const uint8_t *rgb;       /* height x width x 3 */
    int width, height;
    int64_t k;                /* detections */
    const float *boxes;       /* k x 4, x1 y1 x2 y2 in pixels */
    const float *scores;      /* k */
    const int64_t *labels;    /* k */
    const uint8_t *masks;     /* k x height x width (0/1), or NULL */
} dv_image;

/* Keypoint R-CNN: dots in the detection's colour at the keypoints with
 * v > 0, joined by the skeleton's lines. */
typedef struct {
    int nkp;                  /* keypoints per detection (0: none) */
    const float *keypoints;   /* k x nkp x 3 (x, y, v) in pixels, or NULL */
    const int32_t *skeleton;  /* n_skel pairs of 1-based keypoint numbers (COCO's "skeleton"), or NULL */
    int n_skel;
} dv_keypoints;

/* The label text of a detection: "square 0.93", or "9 0.93" without a name. */
void dv_label(const dv_names *names, int64_t label, float score, char *buf, int cap);
/* Draws and writes path. 0, -1 + hnd_error(). */
int dv_write_png(const char *path, const dv_image *im, const dv_names *names);
/* The same with keypoints (kp may be NULL). */
int dv_write_png_kp(const char *path, const dv_image *im, const dv_names *names, const dv_keypoints *kp);

#endif
