/* backbone.c: see backbone.h. */
#include "backbone.h"

#include <stdio.h>
#include <stdlib.h>

#include "hnd_error.h"

struct bb_backbone {
    rn_resnet *body;
    fpn_net *fpn;
};

bb_backbone *bb_new_prefixed(mp_params *p, const char *prefix, const rcnn_backbone_config *cfg,
                             int build_layer1) {
    if (!p || !cfg) {
        hnd_error_set("backbone: NULL argument");
        return NULL;
    }
    if (!prefix) prefix = "";
    bb_backbone *b = calloc(1, sizeof *b);
    if (!b) {
        hnd_error_set("backbone: out of memory");
        return NULL;
    }
    char pre[200];
    snprintf(pre, sizeof pre, "%sbody.", prefix);
    if (!(b->body = rn_new(p, pre, cfg, build_layer1))) goto fail;
    int64_t in[4];
    for (int i = 0; i < 4; i++) in[i] = rn_channels(b->body, i + 1);
    snprintf(pre, sizeof pre, "%sfpn.", prefix);
    int64_t oc = cfg->fpn_out_channels > 0 ? cfg->fpn_out_channels : 256;
    if (!(b->fpn = fpn_new(p, pre, in, 4, oc, 1))) goto fail;
    return b;
fail:
    bb_destroy(b);
    return NULL;
}

bb_backbone *bb_new(mp_params *p, const rcnn_backbone_config *cfg, int build_layer1) {
    return bb_new_prefixed(p, "backbone.", cfg, build_layer1);
}

int bb_init(bb_backbone *b) { return rn_init(b->body) != 0 || fpn_init(b->fpn) != 0 ? -1 : 0; }

void bb_destroy(bb_backbone *b) {
    if (!b) return;
    rn_destroy(b->body);
    fpn_destroy(b->fpn);
    free(b);
}

ct_tensor *bb_stem(bb_backbone *b, const ct_tensor *images) {
    if (!b) {
        hnd_error_set("backbone: NULL argument");
        return NULL;
    }
    return rn_stem(b->body, images);
}

ct_tensor *bb_layer(bb_backbone *b, int i, const ct_tensor *x) {
    if (!b) {
        hnd_error_set("backbone: NULL argument");
        return NULL;
    }
    return rn_layer(b->body, i, x);
}

int bb_fpn(bb_backbone *b, const ct_tensor *const c[4], ct_tensor *features[BB_NUM_FEATURES]) {
    if (!b || !c || !features) return hnd_error_set("backbone: NULL argument");
    return fpn_forward(b->fpn, c, features);
}

int bb_forward(bb_backbone *b, const ct_tensor *images, ct_tensor *features[BB_NUM_FEATURES]) {
    if (!b || !images || !features) return hnd_error_set("backbone: NULL argument");
    for (int i = 0; i < BB_NUM_FEATURES; i++) features[i] = NULL;
    ct_scope_begin();
    ct_tensor *c[4];
    int rc = rn_forward(b->body, images, c);
    if (rc == 0) rc = fpn_forward(b->fpn, (const ct_tensor *const *)c, features);
    if (rc == 0)
        for (int i = 0; i < BB_NUM_FEATURES; i++) ct_scope_keep(features[i]);
    ct_scope_end();
    return rc;
}

const char *bb_feature_name(int i) {
    static const char *const names[BB_NUM_FEATURES] = {"0", "1", "2", "3", "pool"};
    return i >= 0 && i < BB_NUM_FEATURES ? names[i] : NULL;
}

int64_t bb_out_channels(const bb_backbone *b) { return b ? fpn_out_channels(b->fpn) : -1; }
int64_t bb_stage_channels(const bb_backbone *b, int stage) { return b ? rn_channels(b->body, stage) : -1; }
rn_resnet *bb_body(bb_backbone *b) { return b ? b->body : NULL; }
void bb_set_training(bb_backbone *b, int training) {
    if (b) rn_set_training(b->body, training);
}
