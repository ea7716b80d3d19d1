/* hnd_model.h: a detector of an experiment config — the teacher (torchvision's
 * Faster/Mask R-CNN) or an HND student (the same detector with layer1
 * replaced by a bottleneck, models/bottleneck.h) — built, loaded, moved to a
 * device and run stage by stage. Prefix hm_.
 *
 * A student's tensors are all in one registry (rcnn_params): the detector's
 * torchvision keys without backbone.body.layer1.* plus
 * backbone.body.layer1.{encoder,decoder}.N.*, so a student checkpoint is a
 * complete detector state dict. */
#ifndef HND_HM_MODEL_H
#define HND_HM_MODEL_H

#include "bottleneck.h"
#include "config.h"
#include "ctorch.h"
#include "rcnn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    rcnn_model *det;
    stu_bottleneck *stu;   /* NULL for a teacher */
    rcnn_config rc;
    ct_device dev;
} hm_model;

/* devices: models/device.h (md_device_parse) */

/* The rcnn_config of a config's model (arch defaults, num_classes, sizes and
 * the optional params overrides of config.h). 0 / -1. */
int hm_model_config(const tc_model *m, rcnn_config *rc);
/* Builds the teacher of m (no weights loaded; all tensors frozen). */
hm_model *hm_new_teacher(const tc_model *m);
/* Builds a student of m (m->has_layer1), bottleneck transform from the config. */
hm_model *hm_new_student(const tc_model *m);
void hm_free(hm_model *h);   /* NULL-safe */

/* Loads weights: strict for a complete file of this model (teachers,
 * student checkpoints). 0 / -1. */
int hm_load(hm_model *h, const char *path);
/* A student from a teacher's weight file: everything but layer1 loaded
 * (the teacher's layer1 keys are skipped), the bottleneck initialised as the
 * reference does (stu_init, from the global torch generator). 0 / -1. */
int hm_load_student_from_teacher(hm_model *h, const char *teacher_path);
/* requires_grad: off for everything, then on for the student's MP_PARAM
 * tensors not under any of the module paths in frozen (HND: conv1 and
 * layer1 train). Returns the number of trainable tensors, -1 on error. */
int hm_set_trainable(hm_model *h, const char (*frozen)[128], int n_frozen);
int hm_to_device(hm_model *h, ct_device dev);
/* Train mode of the student's trainable BN (the bottleneck's); the rest of
 * the detector stays in eval mode (frozen BN). */
void hm_set_training(hm_model *h, int training);

/* Backbone stages on a transformed batch: out[0] = stem, out[k] = layer k
 * output for k = 1..upto (upto 1..4); the student's layer1 is its
 * bottleneck (with the transformer in eval mode when enabled). New handles
 * in the caller's scope. 0 / -1. */
int hm_stages(hm_model *h, const ct_tensor *batch, int upto, ct_tensor *out[5]);
/* Backbone + FPN features of a transformed batch. */
int hm_features(hm_model *h, const rt_image_list *l, ct_tensor *features[BB_NUM_FEATURES]);
/* The whole detector on n images (float [3,H,W] in [0,1] on the model's
 * device), no autograd. out: n entries (rcnn_detections_clear each). */
int hm_detect(hm_model *h, const ct_tensor *const *images, int n, rcnn_detections *out);

#ifdef __cplusplus
}
#endif
#endif
