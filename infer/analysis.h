/* analysis.h: where to split an R-CNN — layer-wise output tensor sizes and
 * cumulative parameter counts of its core modules (the paper's Figures 2-4),
 * measured on a real forward pass. Prefix spa_ (split-point analysis; an_ is the anchors').
 *
 * The points, in order (a student has "bottleneck" between maxpool and
 * layer1; its "layer1" is the decoder's output):
 *
 *   input conv1 bn1 relu maxpool [bottleneck] layer1 layer2 layer3 layer4
 *   fpn rpn roi_heads
 *
 * For each point, `elements` is what the tail would need if the model were
 * split right after that module: the sum of the elements of every tensor
 * that must be sent. Because the FPN consumes C2..C5, a split after layer k
 * (k >= 2) sends the outputs of layer1..layer k; after the FPN its five maps
 * ("0".."3", "pool"); after the RPN the proposals [K,4] plus the maps
 * "0".."3" the RoI heads pool from; after the RoI heads the detections
 * (boxes 4 + score 1 + label 1 per detection, plus the pasted mask H x W of
 * the input image for Mask R-CNN) counted at capacity, detections_per_img
 * (100) — the count the actual pass produced is in `elements_actual`.
 * `ratio` = elements / elements of the input image (C x H x W).
 *
 * Parameters are grouped by torchvision key prefix (backbone.body.conv1.,
 * backbone.body.bn1., backbone.body.layerN., backbone.fpn., rpn., roi_heads.;
 * a student's backbone.body.layer1.encoder. is the "bottleneck" point and
 * .decoder. its "layer1"); every registered tensor belongs to exactly one
 * module. `params` counts MP_PARAM tensors (torchvision's parameters():
 * frozen BN has none), `buffers` MP_BUFFER ones (BN statistics, frozen BN
 * affine); cum_* are running sums from the input on: what the head holds if
 * the model is split after that point. */
#ifndef HND_ANALYSIS_H
#define HND_ANALYSIS_H

#include <stdint.h>
#include <stdio.h>

#include "ctorch.h"
#include "split_rcnn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AN_MAX_POINTS 16

typedef struct {
    char name[24];            /* "input", "conv1", ..., "bottleneck", ..., "roi_heads" */
    char shapes[160];         /* the tensors sent, e.g. "256x200x200+512x100x100" */
    int64_t elements;         /* sum of their elements (see above) */
    int64_t elements_actual;  /* = elements except roi_heads: the actual detections */
    double ratio;             /* elements / input elements */
    int64_t params, buffers;  /* of this module */
    int64_t cum_params, cum_buffers;
} spa_point;

typedef struct {
    char arch[64];            /* rcnn_config_default name */
    int is_student;
    int64_t channels;         /* bottleneck channels C (students) */
    char student_kind[32];    /* Bottleneck4LargeResNet / Bottleneck4SmallResNet */
    int64_t input[3];         /* C, H, W of the image */
    int64_t input_elements;
    int64_t detections;       /* detections of the actual pass */
    int64_t proposals;        /* RPN proposals of the actual pass */
    int n;
    spa_point pts[AN_MAX_POINTS];
} spa_result;

/* A model to analyse or time: an original R-CNN, or a student (its layer1
 * replaced by the bottleneck of models/bottleneck.h), opened as the split
 * detector of models/split_rcnn.h. */
typedef struct {
    char arch[64];            /* e.g. "faster_rcnn_resnet50_fpn" (required unless has_config) */
    int num_classes;          /* 0: the architecture's default (91) */
    double min_size, max_size;/* transform sizes; 0: the defaults (800, 1333) */
    int64_t student_channels; /* 0: the original model; C >= 1: a student */
    int student_kind;         /* stu_kind, or -1 for the one that fits the depth */
    /* The detector when it is not the architecture's defaults: a config's
     * model with its params (FPN width, head sizes, anchors), or the widths
     * read from a weight file's shapes (spa_spec_from_weights). Used instead
     * of rcnn_config_default(arch) when has_config; num_classes, min_size and
     * max_size above still override it when set. */
    int has_config;
    rcnn_config config;
    /* Weights (optional). NULL/"": deterministic random initialisation from
     * `seed` (convolutions and linears N(0, 1/fan_in), BN identity), enough
     * for shapes, counts and timing. Else an hnd weight file loaded
     * non-strictly; a student's layer1 keys may come from student_weights
     * (loaded after, also non-strictly). A tensor that no file provides
     * keeps its random value; *_loaded / *_missing report it. */
    char weights[1024];
    char student_weights[1024];
    uint64_t seed;
    ct_device device;
} spa_model_spec;

typedef struct {
    sr_model *sr;             /* the detector (models/split_rcnn.h) */
    spa_model_spec spec;
    int n_loaded;             /* tensors read from files */
    int n_missing;            /* registered tensors no file had (random) */
} spa_model;

/* Builds, initialises/loads and moves the model to spec->device, without
 * a bottleneck transformer (the whole model as one machine runs it). 0 / -1. */
int spa_model_open(const spa_model_spec *spec, spa_model *out);
void spa_model_clear(spa_model *m);   /* NULL-safe; zeroes */

/* Fills spec from a weight file (sr_probe_file): arch (Faster or Mask,
 * ResNet depth), num_classes, the widths read from its shapes (has_config),
 * and for a student student_channels and student_kind. Also sets
 * spec->weights = path. 0 / -1 (+ hnd_error). */
int spa_spec_from_weights(const char *path, spa_model_spec *spec);

typedef struct {
    spa_model_spec model;
    int64_t input[3];         /* C, H, W; {0} means 3 x 800 x 800 */
    /* Optional image [C,H,W] float in [0,1] (borrowed; on the device);
     * NULL: uniform noise of size `input` from model.seed. */
    const ct_tensor *image;
} spa_options;

/* Builds the model, runs one forward pass point by point and fills *out.
 * 0 / -1 + hnd_error(). */
int spa_run(const spa_options *o, spa_result *out);
/* The same on a model already open. */
int spa_run_model(spa_model *m, const int64_t input[3], const ct_tensor *image, spa_result *out);

/* The index of a point by name, -1 if absent. */
int spa_find(const spa_result *r, const char *name);

/* CSV, one row per point of each result (teacher and students side by side
 * when given several): model,point,index,shapes,elements,elements_actual,
 * ratio,params,buffers,cum_params,cum_buffers. 0 / -1. */
int spa_write_csv(FILE *f, const spa_result *const *rs, int n);

/* Human-readable table (stdout of `hnd analyze`). */
void spa_print(FILE *f, const spa_result *r);

/* The label of a result in CSVs and plots: "faster_rcnn_resnet50_fpn" or
 * "faster_rcnn_resnet50_fpn+bottleneck(C=3)". */
const char *spa_label(const spa_result *r, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
