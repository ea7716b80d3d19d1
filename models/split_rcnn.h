/* split_rcnn.h: the one split detector of hnd — a Faster/Mask/Keypoint R-CNN
 * (rcnn.h, any ResNet-FPN backbone) with or without a bottleneck in layer1
 * (bottleneck.h), cut into the head that runs on the device and the tail
 * that runs on the edge server. Every command uses it: hnd train (teacher
 * and student, distillation stages), train-teacher, sweep, eval-model,
 * detect, analyze and bench-latency. Prefix sr_.
 *
 *   head: transform -> stem -> encoder -> quantizer        ==link==>
 *   tail: dequantizer -> decoder -> layer2..4 -> FPN -> RPN -> RoI heads
 *         -> postprocess -> detections
 *
 * A teacher (no bottleneck) splits after layer1: its head sends layer1's
 * float output. The link (sr_link) carries the bottleneck in host memory as
 * uint8 with a scale and zero point per image (2..8 bits, a byte a value; the reference's
 * quantize_tensor on each image, as a split server receives them), float16
 * (16) or float32 (32), plus the image sizes the tail needs for anchors and
 * postprocessing. sr_detect runs the whole model on one machine with the
 * model's transformer (the same per-image round trip, without the copies);
 * head then tail give its detections bit for bit on the CPU.
 *
 * A student's tensors are all in the detector's registry (rcnn_params): the
 * torchvision keys without backbone.body.layer1.* plus
 * backbone.body.layer1.{encoder,decoder}.N.*, so a student file is a
 * complete detector state dict. Which kind a weight file holds is read from
 * its keys and shapes by sr_probe_file, the only code outside bottleneck.c
 * that knows the bottleneck's key names.
 *
 * Conventions: NULL / -1 + hnd_error() naming the model part; tensors
 * returned are new handles in the caller's scope. */
#ifndef HND_SPLIT_RCNN_H
#define HND_SPLIT_RCNN_H

#include <stdint.h>

#include "bottleneck.h"
#include "ctorch.h"
#include "rcnn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The bottleneck of a student; channels 0 means the original detector. */
typedef struct {
    int64_t channels;   /* C >= 1: a student; 0: a teacher */
    int kind;           /* stu_kind; -1: the one that fits the ResNet depth */
    int bits;           /* transformer at inference: 0 (none), 2..8, 16 (32 = none) */
    int entropy;        /* 1: a learned entropy bottleneck (entropy_bottleneck.h) after the encoder */
} sr_bottleneck_spec;

typedef struct sr_model sr_model;

/* Registry prefixes of the parts a split moves: a student's encoder (the
 * head's new layer) and decoder, the layer they replace. Analysis groups
 * parameters by them; nothing else outside models/ needs the key names. */
#define SR_LAYER1_PREFIX "backbone.body.layer1."
#define SR_ENCODER_PREFIX SR_LAYER1_PREFIX "encoder."
#define SR_DECODER_PREFIX SR_LAYER1_PREFIX "decoder."

/* Builds the detector of rc (copied) with a bottleneck when bn && bn->channels
 * > 0; tensors as rcnn_new / stu_new leave them (load or initialise next),
 * requires_grad as rcnn_new sets it (sr_freeze / sr_set_trainable change it). */
sr_model *sr_new(const rcnn_config *rc, const sr_bottleneck_spec *bn);
void sr_destroy(sr_model *m);   /* NULL-safe */

rcnn_model *sr_rcnn(sr_model *m);
mp_params *sr_params(sr_model *m);
stu_bottleneck *sr_bottleneck(sr_model *m);   /* NULL for a teacher */
const rcnn_config *sr_config(const sr_model *m);
ct_device sr_device(const sr_model *m);
int sr_is_student(const sr_model *m);
int64_t sr_channels(const sr_model *m);       /* C, 0 for a teacher */
int sr_has_masks(const sr_model *m);
int sr_has_keypoints(const sr_model *m);
int sr_bits(const sr_model *m);               /* the transformer: 0, 2..8, 16 */
int sr_set_bits(sr_model *m, int bits);       /* 0/32, 2..8, 16; a teacher ignores it */
/* The student's entropy bottleneck (spec.entropy), NULL without one. */
ebm_model *sr_entropy(sr_model *m);
/* "faster_rcnn_resnet50_fpn" or "faster_rcnn_resnet50_fpn+bottleneck(C=3)". */
const char *sr_label(const sr_model *m, char *buf, size_t n);

/* ---- what a weight file holds (read from keys and shapes, no data) ---- */
typedef struct {
    int n_tensors;
    int mask;                  /* roi_heads.mask_* keys */
    int keypoint;              /* roi_heads.keypoint_* keys (Keypoint R-CNN) */
    int depth;                 /* 18/34/50/101; 0 without backbone.body.layer3 keys */
    char arch[64];             /* "mask_rcnn_resnet18_fpn"; "" when depth is 0 */
    int num_classes;           /* rows of cls_score; 0 when absent */
    int64_t channels;          /* bottleneck C (encoder's last conv); 0: a teacher */
    int kind;                  /* stu_kind from the decoder's width; -1: a teacher */
    /* widths from the shapes (0 when the keys are absent) */
    int fpn_out_channels;      /* FPN inner block 0's output channels */
    int representation_size;   /* TwoMLPHead fc6 rows */
    int mask_head_channels;    /* mask head conv 0's output channels */
    int keypoint_head_channels;   /* keypoint head conv 0's output channels */
    int num_keypoints;         /* keypoint predictor's output channels */
    int anchors_per_location;  /* RPN cls_logits rows */
    int tail;                  /* a tail file (sr_save_tail): no stem or encoder keys;
                                  a student's C then comes from the decoder's first BN */
    int entropy;               /* backbone.body.layer1.entropy_bottleneck.* keys */
} sr_probe;

/* 0 / -1 (+ hnd_error naming the file; a file without /weights is an error). */
int sr_probe_file(const char *path, sr_probe *out);
/* The detector of a probed file: rcnn_config_default(p->arch), then the
 * class count and the widths above. -1 when the architecture is unknown or
 * the anchors per location differ from the anchor generator's (one size per
 * level times its aspect ratios). */
int sr_probe_config(const sr_probe *p, rcnn_config *rc);
/* Copies the widths and class count the file fixes into rc (anything 0 in p
 * is left alone); the same checks. For a config whose file may differ. */
int sr_probe_apply(const sr_probe *p, rcnn_config *rc);
/* The bottleneck of a probed file (bits 0). */
void sr_probe_bottleneck(const sr_probe *p, sr_bottleneck_spec *bn);
/* "student C=3 Bottleneck4SmallResNet of mask_rcnn_resnet18_fpn" / "teacher ...". */
const char *sr_probe_describe(const sr_probe *p, char *buf, size_t n);

/* ---- weights ---- */
/* Strict: every tensor of the model in the file with its shape and no
 * other key; the message names every missing, unexpected and mis-shaped
 * key, and says what the file holds when it is another kind of model.
 * Trainable flags survive. 0 / -1. */
int sr_load(sr_model *m, const char *path);
/* A student from its teacher's file: everything but layer1 loaded (the
 * teacher's layer1 keys expected and skipped), the bottleneck initialised as
 * the reference does (stu_init, from the global torch generator). 0 / -1. */
int sr_load_from_teacher(sr_model *m, const char *teacher_path);

/* ---- the two halves' weights (hnd export's tail.h5, hnd serve) ---- */
/* 1 when tensor `name` belongs to the head: the stem (conv1, bn1) and a
 * student's encoder; what runs on the device. */
int sr_is_head_key(const sr_model *m, const char *name);
/* Every tensor of the tail (torchvision key names, the head's left out) to
 * path, atomically, with n_attrs (name, value) string attributes. 0 / -1. */
int sr_save_tail(const sr_model *m, const char *path, const char *const (*attrs)[2], int n_attrs);
/* The tail's tensors from a file sr_save_tail wrote, strictly: every tail
 * tensor with its shape, no head tensor and no other key (the message names
 * them). The head's tensors are left as they are. 0 / -1. */
int sr_load_tail(sr_model *m, const char *path);

/* ---- training ---- */
int sr_to_device(sr_model *m, ct_device dev);
/* requires_grad off for every tensor. */
int sr_freeze(sr_model *m);
/* requires_grad off for everything, then on for a student's MP_PARAM
 * tensors not under any module path in frozen (HND: conv1 and layer1);
 * frozen == NULL leaves everything off.
 * Returns the number of trainable tensors (0 for a teacher), -1 on error. */
int sr_set_trainable(sr_model *m, const char (*frozen)[128], int n_frozen);
/* Train mode of the bottleneck's BN; the rest stays in eval mode. */
void sr_set_training(sr_model *m, int training);
int sr_is_training(const sr_model *m);
/* Backbone stages of a transformed batch (distillation): out[0] = stem,
 * out[k] = layer k for k = 1..upto (1..4); a student's layer1 is its
 * bottleneck, with the transformer in eval mode. 0 / -1 (all NULL). */
int sr_stages(sr_model *m, const ct_tensor *batch, int upto, ct_tensor *out[5]);

/* ---- running ---- */
/* The whole detector on n images (float [3,H,W] in [0,1] on the model's
 * device), without autograd. out: n entries (rcnn_detections_clear each). */
int sr_detect(sr_model *m, const ct_tensor *const *images, int n, rcnn_detections *out);

/* What crosses the link. */
typedef struct {
    ct_tensor *z;              /* [n,C,h,w] in host memory: uint8 (bits 2..8), float16 (16), float32 (32);
                                  a teacher: layer1's output [n,D,h,w], float32 */
    int bits;                  /* 2..8, 16 or 32 */
    int n;
    float *scale;              /* bits 2..8: one per image (malloc'd) */
    int *zero_point;           /* bits 2..8: one per image, 0..2^bits-1 */
    int64_t padded_hw[2];      /* the transform's padded batch size (anchors) */
    int64_t (*sizes)[2];       /* n x (h, w) after resizing */
    int64_t (*orig_sizes)[2];  /* n x (h, w) of the input images */
} sr_link;
void sr_link_clear(sr_link *l);   /* frees everything; zeroes; NULL-safe */

/* Wall times of the parts (the device synchronised between parts when a
 * times array is given; otherwise nothing waits). */
enum { SR_T_TRANSFORM, SR_T_STEM, SR_T_ENCODER, SR_T_QUANTIZE, SR_T_DEQUANTIZE, SR_T_DECODER, SR_T_REST,
       SR_T_COUNT };

/* Head: bits 0 = the model's transformer (32 when it has none), else 2..8, 16
 * or 32; a teacher always sends float32. The quantizer part includes the
 * copy to host memory. times_ms may be NULL (else SR_T_TRANSFORM..QUANTIZE
 * are set). Without autograd. 0 / -1 (*out zeroed). */
int sr_head(sr_model *m, const ct_tensor *const *images, int n, int bits, sr_link *out,
            double times_ms[SR_T_COUNT]);
/* Tail: the link (any device) to detections (out: link->n entries);
 * times_ms may be NULL (else SR_T_DEQUANTIZE..REST are set). 0 / -1. */
int sr_tail(sr_model *m, const sr_link *link, rcnn_detections *out, double times_ms[SR_T_COUNT]);

#ifdef __cplusplus
}
#endif
#endif
