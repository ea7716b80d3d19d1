/* anchors.c: see anchors.h. */
#include "anchors.h"

#include <math.h>
#include <stdlib.h>

#include "hnd_error.h"

int an_init(an_generator *g, const rcnn_anchor_config *cfg) {
    if (!g || !cfg) return hnd_error_set("anchors: NULL argument");
    if (cfg->num_levels < 1 || cfg->num_levels > RCNN_MAX_LEVELS || cfg->num_ratios < 1 ||
        cfg->num_ratios > RCNN_MAX_RATIOS)
        return hnd_error_set("anchors: %d levels and %d ratios (want 1..%d and 1..%d)",
                             cfg->num_levels, cfg->num_ratios, RCNN_MAX_LEVELS, RCNN_MAX_RATIOS);
    g->num_levels = cfg->num_levels;
    g->num_anchors = cfg->num_ratios;
    for (int l = 0; l < cfg->num_levels; l++) {
        float scale = (float)cfg->sizes[l];
        for (int a = 0; a < cfg->num_ratios; a++) {
            /* float32 throughout, as torch.as_tensor(..., float32) math */
            float hr = sqrtf((float)cfg->aspect_ratios[a]);
            float wr = 1.0f / hr;
            float ws = wr * scale, hs = hr * scale;
            g->cell[l][a][0] = rintf(-ws / 2.0f);
            g->cell[l][a][1] = rintf(-hs / 2.0f);
            g->cell[l][a][2] = rintf(ws / 2.0f);
            g->cell[l][a][3] = rintf(hs / 2.0f);
        }
    }
    return 0;
}

ct_tensor *an_grid_anchors(const an_generator *g, const int64_t image_hw[2],
                           const int64_t (*grid_hw)[2], int n, ct_device dev, int64_t *per_level) {
    if (!g || !image_hw || !grid_hw) {
        hnd_error_set("anchors: NULL argument");
        return NULL;
    }
    if (n != g->num_levels) {
        hnd_error_set("anchors: %d feature maps for %d anchor levels", n, g->num_levels);
        return NULL;
    }
    int64_t total = 0;
    const int64_t A = g->num_anchors;
    for (int l = 0; l < n; l++) {
        if (grid_hw[l][0] <= 0 || grid_hw[l][1] <= 0) {
            hnd_error_set("anchors: level %d has an empty feature map [%lld,%lld]", l,
                          (long long)grid_hw[l][0], (long long)grid_hw[l][1]);
            return NULL;
        }
        total += grid_hw[l][0] * grid_hw[l][1] * A;
    }
    float *buf = malloc(sizeof(float) * 4 * (size_t)(total ? total : 1));
    if (!buf) {
        hnd_error_set("anchors: out of memory (%lld anchors)", (long long)total);
        return NULL;
    }
    float *p = buf;
    for (int l = 0; l < n; l++) {
        const int64_t gh = grid_hw[l][0], gw = grid_hw[l][1];
        const int64_t sy = image_hw[0] / gh, sx = image_hw[1] / gw;
        for (int64_t y = 0; y < gh; y++)
            for (int64_t x = 0; x < gw; x++) {
                const float fx = (float)(x * sx), fy = (float)(y * sy);
                for (int64_t a = 0; a < A; a++) {
                    const float *c = g->cell[l][a];
                    *p++ = fx + c[0];
                    *p++ = fy + c[1];
                    *p++ = fx + c[2];
                    *p++ = fy + c[3];
                }
            }
        if (per_level) per_level[l] = gh * gw * A;
    }
    int64_t shape[2] = {total, 4};
    ct_tensor *t = ct_from_buffer(buf, CT_F32, 2, shape);
    free(buf);
    if (t && dev.type != CT_CPU) {
        ct_tensor *d = ct_to_device(t, dev);
        ct_destroy(t);
        t = d;
    }
    if (!t) hnd_error_set("anchors: %s", ct_last_error());
    return t;
}
