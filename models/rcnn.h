/* rcnn.h: torchvision 0.14's Faster / Mask / Keypoint R-CNN with a ResNet-FPN backbone,
 * assembled from the pieces of models/:
 *
 *   images -> rt_transform (rcnn_transform.h) -> backbone + FPN (backbone.h)
 *          -> RPN (rpn.h) -> RoI heads (roi_heads.h) [-> mask head (mask_head.h)]
 *          [-> keypoint head (keypoint_head.h)]
 *          -> postprocess (boxes and keypoints to original pixels, masks pasted)
 *
 * Every parameter is registered under its torchvision state_dict key in one
 * mp_params registry; rcnn_load() reads an hnd weight file (.h5, e.g. written
 * by `hnd import-torchvision` from a torchvision .pth), strictly by default.
 *
 * Each stage is callable on its own so that students (a head computed
 * elsewhere, a split model) can feed their own features and so that latency
 * can be measured per part; rcnn_detect() runs them all in inference mode
 * (no autograd). The training losses are in rcnn_loss.h (rl_forward_train);
 * rcnn_set_training selects the training top-n of the RPN.
 *
 * Conventions: handles returned are new, in the caller's scope; NULL/-1 +
 * hnd_error() naming the stage and shapes. */
#ifndef RCNN_H
#define RCNN_H

#include <stdint.h>

#include "backbone.h"
#include "ctorch.h"
#include "keypoint_head.h"
#include "mask_head.h"
#include "model_params.h"
#include "rcnn_config.h"
#include "rcnn_transform.h"
#include "roi_heads.h"
#include "rpn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rcnn_model rcnn_model;

/* Builds the network of cfg (copied) with zero tensors: load weights next.
 * build_layer1 = 0 leaves the backbone's layer1 out (a student supplies its
 * own, see backbone.h); rcnn_new(cfg) builds it. */
rcnn_model *rcnn_new_ex(const rcnn_config *cfg, int build_layer1);
rcnn_model *rcnn_new(const rcnn_config *cfg);
/* torchvision 0.14's initialisation of every tensor (each module's own
 * scheme, models/init.h), drawn from the global generator seeded with
 * seed. The weights of a detector trained from scratch. 0 / -1. */
int rcnn_init(rcnn_model *m, uint64_t seed);
void rcnn_destroy(rcnn_model *m);   /* NULL-safe */

/* Loads group "weights" of an hnd weight file by torchvision key (strict:
 * every key present with its shape, no other key; torchvision < 0.13 names
 * of the RPN conv and mask head convs accepted). Returns the number of
 * tensors loaded, or -1 (message lists offending keys by name). */
int rcnn_load(rcnn_model *m, const char *path, int strict);

/* Moves every registered tensor to dev in place (Module.to(device)); load
 * first or after, either works. Images given to rcnn_detect must be on dev. */
int rcnn_to_device(rcnn_model *m, ct_device dev);

const rcnn_config *rcnn_get_config(const rcnn_model *m);
int rcnn_has_masks(const rcnn_model *m);
mp_params *rcnn_params(rcnn_model *m);
bb_backbone *rcnn_backbone(rcnn_model *m);
rh_heads *rcnn_roi_heads(rcnn_model *m);
mh_head *rcnn_mask_head(rcnn_model *m);   /* NULL for Faster R-CNN */
int rcnn_has_keypoints(const rcnn_model *m);
kh_head *rcnn_keypoint_head(rcnn_model *m);   /* NULL but for Keypoint R-CNN */
/* score threshold of the box postprocess (default cfg->box.score_thresh) */
void rcnn_set_score_thresh(rcnn_model *m, double t);
void rcnn_set_training(rcnn_model *m, int training);

/* Final detections of one image, in its original pixels. */
typedef struct {
    ct_tensor *boxes;    /* float [K,4] x1, y1, x2, y2 */
    ct_tensor *scores;   /* float [K], decreasing */
    ct_tensor *labels;   /* int64 [K], 1..num_classes-1 (COCO: category ids) */
    ct_tensor *masks;    /* float [K,1,H,W] probabilities (Mask R-CNN), else NULL;
                            threshold with > cfg->mask.mask_thresh */
    ct_tensor *keypoints;         /* float [K,NK,3] x, y, 1 in the image's pixels
                                     (Keypoint R-CNN), else NULL */
    ct_tensor *keypoint_scores;   /* float [K,NK] heatmap logits at the keypoints */
} rcnn_detections;

void rcnn_detections_clear(rcnn_detections *d);   /* frees handles; zeroes */

/* ---- stages ---- */
/* GeneralizedRCNNTransform in inference mode. */
int rcnn_transform_images(rcnn_model *m, const ct_tensor *const *images, int n, rt_image_list *out);
/* Backbone + FPN: features[0..4] = "0","1","2","3","pool". */
int rcnn_backbone_forward(rcnn_model *m, const rt_image_list *l, ct_tensor *features[BB_NUM_FEATURES]);
int rcnn_rpn_forward(rcnn_model *m, const rt_image_list *l, ct_tensor *const features[BB_NUM_FEATURES],
                     rpn_output *out);
/* Box head, postprocess and (Mask R-CNN) mask probabilities [K,1,28,28]
 * or (Keypoint R-CNN) keypoints, in the coordinates of the resized images. */
int rcnn_roi_heads_forward(rcnn_model *m, const rt_image_list *l,
                           ct_tensor *const features[BB_NUM_FEATURES], const rpn_output *proposals,
                           rh_detections *out);
/* Boxes back to the original sizes, masks pasted; out: l->n entries. */
int rcnn_postprocess(rcnn_model *m, const rt_image_list *l, const rh_detections *d,
                     rcnn_detections *out);
/* RPN + RoI heads + postprocess on features computed elsewhere (students). */
int rcnn_detect_from_features(rcnn_model *m, const rt_image_list *l,
                              ct_tensor *const features[BB_NUM_FEATURES], rcnn_detections *out);

/* ---- everything ---- */
enum { RCNN_T_TRANSFORM, RCNN_T_BACKBONE, RCNN_T_RPN, RCNN_T_ROI_HEADS, RCNN_T_POSTPROCESS,
       RCNN_T_COUNT };
/* images: n float [3,H,W] in [0,1] (any sizes; on the model's device).
 * out: n entries. times_ms (may be NULL): wall time of each stage, the
 * device synchronized between stages. Runs without autograd. 0 / -1. */
int rcnn_detect(rcnn_model *m, const ct_tensor *const *images, int n, rcnn_detections *out,
                double times_ms[RCNN_T_COUNT]);

#ifdef __cplusplus
}
#endif
#endif
