/* head_graph.h: a student's head as a short list of plain operations with
 * the BatchNorms folded into the convolutions — the one description every
 * exporter (ONNX, TorchScript, the plain-C runtime) writes out, so the three
 * formats cannot disagree about what the head is. Prefix hg_.
 *
 * The head of a split R-CNN student (split_rcnn.h) after the transform:
 *
 *   0 conv 7x7/2 pad 3, 3->64, bias   (backbone.body.conv1 + frozen bn1)
 *   1 relu
 *   2 maxpool 3x3/2 pad 1
 *   3 conv 2x2/1 pad 1, 64->64, bias  (layer1.encoder.0 + BN 1)
 *   4 conv 2x2/1 pad 1, 64->256, bias (encoder.2 + BN 3)
 *   5 relu                            (encoder.4)
 *   6 conv 2x2/1 pad 1, 256->64, bias (encoder.5 + BN 6)
 *   7 conv 2x2/1 pad 1, 64->C         (encoder.7, no BN, no bias)
 *   then the quantizer of `bits` (bottleneck_quant.h): 8 -> uint8 + scale +
 *   zero point per image, 16 -> float16, 32 -> float32.
 *
 * Input: one image as the R-CNN transform leaves it — resized so the shorter
 * side is min_size (the longer capped at max_size, bilinear, align_corners
 * false), normalised (x - mean) / std per channel from [0,1] RGB, zero-padded
 * at the bottom and right to a multiple of size_divisible — float32
 * [1,3,H,W]. Output for H x W: [1,C,H/4+4,W/4+4] when H, W are multiples of
 * 4 (hg_output_hw gives the general formula).
 *
 * Folding (done in double, stored as float32): a BN with weight g, bias b,
 * running mean m, variance v, eps e gives s = g / sqrt(v + e); the conv's
 * weight rows scale by s and its bias becomes s * (bias - m) + b. */
#ifndef HND_HEAD_GRAPH_H
#define HND_HEAD_GRAPH_H

#include <stdint.h>

#include "split_rcnn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { HG_CONV = 0, HG_RELU = 1, HG_MAXPOOL = 2 } hg_op_kind;

typedef struct {
    hg_op_kind kind;
    int cin, cout;        /* conv: channels in/out (relu/maxpool: cin = cout) */
    int kh, kw;           /* conv and maxpool kernel */
    int stride, pad;      /* conv and maxpool (same on both axes) */
    float *weight;        /* conv: [cout][cin][kh][kw], malloc'd */
    float *bias;          /* conv: [cout], malloc'd; NULL when the conv has none */
    char name[64];        /* where it came from: "conv1+bn1", "encoder.0+1", "relu" */
} hg_op;

#define HG_MAX_OPS 16

typedef struct {
    int n_ops;
    hg_op ops[HG_MAX_OPS];
    int in_channels;          /* 3 */
    int channels;             /* C, the bottleneck's width (the last conv's cout) */
    int bits;                 /* 8, 16 or 32: the quantizer at the end */
    /* the transform the input must have had (rcnn_config) */
    float mean[3], std[3];
    double min_size, max_size;
    int size_divisible;
    /* the detector it came from */
    char arch[64];            /* "faster_rcnn_resnet18_fpn" */
    int num_classes;
    int mask;
    int kind;                 /* stu_kind */
} hg_head;

/* The head of student m (a teacher is an error naming it) with the
 * quantizer of bits (8, 16, 32; 0: the model's own transformer, 32 when it
 * has none). 0 / -1 + hnd_error(); *out zeroed on error. */
int hg_from_model(sr_model *m, int bits, hg_head *out);
void hg_clear(hg_head *h);   /* frees the weights; zeroes; NULL-safe */

/* Spatial size after op i (i = n_ops - 1: the head's output) for an input
 * of H x W: conv/pool out = (in + 2 pad - k) / stride + 1 (floor). */
void hg_output_hw(const hg_head *h, int H, int W, int *oh, int *ow);
/* Number of float parameters (weights and biases). */
int64_t hg_num_params(const hg_head *h);

#ifdef __cplusplus
}
#endif
#endif
