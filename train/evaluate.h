/* evaluate.h: a detector (teacher or student, models/split_rcnn.h) on a COCO split:
 * detections -> COCO results JSON (in memory, optionally written) -> bbox
 * (and segm for Mask R-CNN) mAP with infer/coco_eval.h, plus, for students,
 * the bottleneck sizes split computing would send. Prefix ev_. */
#ifndef HND_EVALUATE_H
#define HND_EVALUATE_H

#include <stdint.h>

#include "coco_ann.h"
#include "config.h"
#include "split_rcnn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ev_ctx ev_ctx;

/* Loads the split's annotations once, for the loader and as ground truth
 * (ce_gt_from_coco; with_segm rasterises GT masks for segm). NULL +
 * hnd_error(). */
ev_ctx *ev_open(const tc_split *split, int with_segm);
void ev_destroy(ev_ctx *e);
int64_t ev_num_images(const ev_ctx *e);
/* The split's annotations (owned by e). */
const coco_dataset *ev_dataset(const ev_ctx *e);

typedef struct {
    int batch_size;          /* images per forward (test.batch_size) */
    int workers;             /* loader threads */
    int progress;            /* progress bar on a TTY */
    const char *results_path;/* also write the COCO results JSON here (atomic), may be NULL */
    int transform_bits;      /* student: -1 = as configured, 0 = none, 8, 16 */
    int shard;               /* data-parallel (dist_dp.h, WORLD_SIZE > 1): each rank detects its share
                                of the images, rank 0 gathers the detections (in single-process order)
                                and scores them once; every rank returns the same stats; rank 0 alone
                                writes results_path */
} ev_opts;

void ev_opts_default(ev_opts *o);

typedef struct {
    int64_t images;
    int64_t detections;
    double bbox[12];         /* pycocotools' 12 stats */
    int has_segm;
    double segm[12];
    int has_kp;              /* Keypoint R-CNN: keypoint stats (OKS, torchvision's keypoint-only results) */
    double kp[10];           /* AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl (maxDets 20) */
    double seconds;          /* detection + evaluation wall time */
    double mean_jpeg_bytes;  /* the split's jpeg_quality: mean re-encoded JPEG size per image, else 0 */
    /* students only (has_bottleneck): means over images */
    int has_bottleneck;
    int64_t channels;
    double mean_h, mean_w;               /* bottleneck spatial size */
    double mean_numel;
    double mean_bytes_f32;               /* 4 * numel */
    double mean_bytes_q8;                /* ceil(numel * q_bits / 8) + 4 (scale) + 1 (zero point) */
    int q_bits;                          /* of mean_bytes_q8: the transformer's 2..8, else 8 */
    double mean_input_numel;             /* 3 * h * w of the resized input */
    double ratio_f32;                    /* bytes_f32 / (4 * input numel) */
    double ratio_q8;                     /* bytes_q8 / (input numel), input at 8 bits */
    /* the 8-bit bottleneck losslessly coded (link_codec.h), + 5 bytes of
     * scale and zero point; at any transformer, from each image's 8-bit
     * quantization */
    double mean_bytes_rans;              /* our rANS stream */
    double mean_bytes_zstd;              /* zstd -19, the baseline */
    double last_scale;                   /* the last image's 8-bit scale / zero point */
    int last_zero_point;
    /* a student with an entropy bottleneck: its rANS stream per image
     * (infer/eb_link.h; the tables travel once, with the model) */
    int has_eb;
    double mean_bytes_eb;
} ev_result;

/* Runs h on every image of the split (in dataset order) and evaluates; a
 * student runs as head then tail (sr_head / sr_tail), so the sizes are
 * those of the link.
 * 0 / -1 + hnd_error(). */
int ev_run(ev_ctx *e, sr_model *h, const ev_opts *o, ev_result *out);

#ifdef __cplusplus
}
#endif
#endif
