/* split_rcnn_probe.c: what a weight file holds, from its keys and shapes
 * (sr_probe_file, split_rcnn.h). The one place outside bottleneck.c that
 * knows the student's key names, so that eval-model, detect, analyze,
 * bench-latency and the checkpoint code all tell files apart alike. */
#include "split_rcnn.h"
#include "split_rcnn_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"
#include "str_util.h"
#include "wstore.h"

/* The encoder's last conv gives C; the decoder's last conv the width that
 * tells Bottleneck4Large (256) from Small (64) (bottleneck.h's layout). */
#define KEY_ENC_LAST SR_ENCODER_PREFIX "7.weight"
#define KEY_DEC_LAST SR_DECODER_PREFIX "9.weight"
#define KEY_DEC_FIRST SR_DECODER_PREFIX "0.weight"   /* BN(C): a tail file's C */
#define KEY_STEM "backbone.body.conv1.weight"

/* Dimension 0 of the first of the keys the file has (newer layout first),
 * 0 when none is there. */
static int64_t rows(ws_reader *r, const char *const *keys, int n) {
    for (int i = 0; i < n; i++) {
        ws_tensor t;
        memset(&t, 0, sizeof t);
        if (ws_reader_info(r, "weights", keys[i], &t) == 0) {
            int64_t v = t.ndim > 0 ? t.shape[0] : 0;
            ws_tensor_clear(&t);
            return v;
        }
    }
    hnd_error_clear();   /* absence is an answer here */
    return 0;
}

#define ROWS(r, ...) rows((r), (const char *const[]){__VA_ARGS__}, \
                          (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)))

/* The block index after "backbone.body.layer3.", -1 when not a number. */
static int block_index(const char *key) {
    const char *s = key + strlen("backbone.body.layer3.");
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return end == s || errno || *end != '.' || v < 0 || v > 1000 ? -1 : (int)v;
}

/* Architecture from the key names: Faster, Mask or Keypoint, ResNet depth. */
static void scan_keys(const char *const *names, int n, sr_probe *out) {
    int conv3 = 0, layer3_blocks = 0, body = 0;
    for (int i = 0; i < n; i++) {
        const char *k = names[i];
        if (su_starts_with(k, "roi_heads.mask_head.") || su_starts_with(k, "roi_heads.mask_predictor.")) out->mask = 1;
        if (su_starts_with(k, "roi_heads.keypoint_head.") || su_starts_with(k, "roi_heads.keypoint_predictor."))
            out->keypoint = 1;
        if (su_starts_with(k, "backbone.body.")) body = 1;
        if (su_starts_with(k, "backbone.body.layer2.0.conv3.")) conv3 = 1;
        if (su_starts_with(k, "backbone.body.layer3.")) {
            int b = block_index(k);
            if (b + 1 > layer3_blocks) layer3_blocks = b + 1;
        }
    }
    /* layer3 has 2 / 6 basic blocks (R18 / R34), 6 / 23 bottleneck blocks (R50 / R101) */
    if (body && layer3_blocks > 0) {
        if (conv3) out->depth = layer3_blocks >= 36 ? 152 : layer3_blocks >= 23 ? 101 : 50;
        else out->depth = layer3_blocks >= 6 ? 34 : 18;
    }
}

int sr_probe_file(const char *path, sr_probe *out) {
    memset(out, 0, sizeof *out);
    out->kind = -1;
    ws_reader *r = ws_reader_open(path);
    if (!r) return hnd_error_prefix("%s", path);
    const char *const *names = NULL;
    int n = 0;
    if (ws_reader_list(r, "weights", &names, &n) != 0 || n == 0) {
        ws_reader_close(r);
        return hnd_error_set("%s: no tensors under /weights", path);
    }
    out->n_tensors = n;
    scan_keys(names, n, out);
    out->num_classes = (int)ROWS(r, "roi_heads.box_predictor.cls_score.weight");
    out->representation_size = (int)ROWS(r, "roi_heads.box_head.fc6.weight");
    out->fpn_out_channels = (int)ROWS(r, "backbone.fpn.inner_blocks.0.0.weight", "backbone.fpn.inner_blocks.0.weight");
    out->anchors_per_location = (int)ROWS(r, "rpn.head.cls_logits.weight");
    if (out->mask)
        out->mask_head_channels =
            (int)ROWS(r, "roi_heads.mask_head.0.0.weight", "roi_heads.mask_head.mask_fcn1.weight");
    if (out->keypoint) {
        out->keypoint_head_channels = (int)ROWS(r, "roi_heads.keypoint_head.0.weight");
        /* ConvTranspose2d bias: one per keypoint */
        out->num_keypoints = (int)ROWS(r, "roi_heads.keypoint_predictor.kps_score_lowres.bias");
    }
    out->channels = ROWS(r, KEY_ENC_LAST);
    out->entropy = ROWS(r, SR_LAYER1 EBM_KEY "quantiles") > 0;
    out->tail = ROWS(r, KEY_STEM) == 0;
    if (out->tail && out->channels == 0) out->channels = ROWS(r, KEY_DEC_FIRST);
    if (out->channels > 0) {
        int64_t d = ROWS(r, KEY_DEC_LAST);
        out->kind = d == 64 ? STU_SMALL : d > 0 ? STU_LARGE : stu_kind_for_depth(out->depth);
    }
    /* Wide ResNets: layer2's bottleneck width is 256 (width_per_group 128), not 128 */
    const int wide = out->depth >= 50 && ROWS(r, "backbone.body.layer2.0.conv1.weight") == 256;
    ws_reader_close(r);
    if (out->depth)
        snprintf(out->arch, sizeof out->arch, "%s_rcnn_resnet%d_fpn",
                 out->keypoint ? "keypoint" : out->mask ? "mask" : "faster", out->depth);
    char *rn = wide ? strstr(out->arch, "_resnet") : NULL;
    if (rn) {   /* "<det>_resnet50_fpn" -> "<det>_wide_resnet50_2_fpn" */
        snprintf(rn, sizeof out->arch - (size_t)(rn - out->arch), "_wide_resnet%d_2_fpn", out->depth);
    }
    return 0;
}

int sr_probe_apply(const sr_probe *p, rcnn_config *rc) {
    if (p->num_classes > 0) rc->box.num_classes = p->num_classes;
    if (p->fpn_out_channels > 0) rc->backbone.fpn_out_channels = p->fpn_out_channels;
    if (p->representation_size > 0) rc->box.representation_size = p->representation_size;
    if (p->mask_head_channels > 0 && rc->mask.enabled) rc->mask.conv_channels = p->mask_head_channels;
    if (p->keypoint_head_channels > 0 && rc->keypoint.enabled) rc->keypoint.conv_channels = p->keypoint_head_channels;
    if (p->num_keypoints > 0 && rc->keypoint.enabled) rc->keypoint.num_keypoints = p->num_keypoints;
    /* anchor sizes are not in the weights, their count per location is */
    if (p->anchors_per_location > 0 && p->anchors_per_location != rc->anchors.num_ratios)
        return hnd_error_set("rpn.head.cls_logits.weight: %d anchors per location, the anchor generator makes %d "
                             "(one size per level x %d aspect ratios)",
                             p->anchors_per_location, rc->anchors.num_ratios, rc->anchors.num_ratios);
    return 0;
}

int sr_probe_config(const sr_probe *p, rcnn_config *rc) {
    if (!p->arch[0])
        return hnd_error_set("cannot tell the architecture (no backbone.body.layer3 keys)");
    if (rcnn_config_default(rc, p->arch) != 0) return -1;
    return sr_probe_apply(p, rc);
}

void sr_probe_bottleneck(const sr_probe *p, sr_bottleneck_spec *bn) {
    bn->channels = p->channels;
    bn->kind = p->channels > 0 ? p->kind : -1;
    bn->bits = 0;
    bn->entropy = p->channels > 0 && p->entropy;
}

const char *sr_probe_describe(const sr_probe *p, char *buf, size_t n) {
    const char *arch = p->arch[0] ? p->arch : "an unknown detector";
    if (p->channels > 0)
        snprintf(buf, n, "%s (C=%lld, %s) of %s", p->tail ? "student's tail" : "student", (long long)p->channels,
                 p->kind >= 0 ? stu_kind_name((stu_kind)p->kind) : "?", arch);
    else
        snprintf(buf, n, "%s %s", p->tail ? "tail of a teacher" : "teacher", arch);
    return buf;
}
