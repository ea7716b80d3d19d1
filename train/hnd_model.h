/* hnd_model.h: the detectors of an experiment config — the teacher
 * (torchvision's Faster/Mask R-CNN) or an HND student (the same detector
 * with layer1 replaced by a bottleneck) — as split detectors
 * (models/split_rcnn.h, which loads, moves, trains and runs them). This
 * file only turns a config's model section into that type. Prefix hm_. */
#ifndef HND_HM_MODEL_H
#define HND_HM_MODEL_H

#include "config.h"
#include "split_rcnn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The rcnn_config of a config's model (arch defaults, num_classes, sizes and
 * the optional params overrides of config.h). 0 / -1. */
int hm_model_config(const tc_model *m, rcnn_config *rc);
/* The bottleneck of a student section (layer1 name, bottleneck_channel,
 * transformer bits); channels 0 for a teacher section. 0 / -1. */
int hm_bottleneck_spec(const tc_model *m, sr_bottleneck_spec *bn);
/* The detector of weight file path (already probed into *pr): with config,
 * the config's student model for a student file (one with a bottleneck is
 * required) or its teacher model for a teacher file; without, what the
 * file's shapes say (sr_probe_config). *cfg_bits: the config's transformer
 * bits for a student (0 without). 0 / -1 + hnd_error() naming the file. */
int hm_file_config(const char *path, const char *config, const sr_probe *pr, rcnn_config *rc, int *cfg_bits);
/* The teacher of m: no weights loaded, every tensor frozen. */
sr_model *hm_new_teacher(const tc_model *m);
/* A student of m (m->has_layer1), frozen until sr_set_trainable. */
sr_model *hm_new_student(const tc_model *m);

#ifdef __cplusplus
}
#endif
#endif
