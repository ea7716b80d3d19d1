/* det_results.c: see det_results.h. */
#include "det_results.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ctorch.h"
#include "hnd_error.h"
#include "mask_rle.h"

static double round_to(double v, double q) { return round(v / q) * q; }

void dr_host_clear(dr_host *h) {
    if (!h) return;
    free(h->boxes);
    free(h->scores);
    free(h->labels);
    free(h->masks);
    free(h->keypoints);
    free(h->keypoint_scores);
    memset(h, 0, sizeof *h);
}

int dr_to_host(const rcnn_detections *d, int64_t height, int64_t width, double mask_thresh, dr_host *out) {
    memset(out, 0, sizeof *out);
    int64_t k = ct_numel(d->scores);
    if (k < 0) return hnd_error_set("detections: %s", ct_last_error());
    out->k = k;
    out->height = height;
    out->width = width;
    size_t n = (size_t)k, hw = (size_t)height * (size_t)width;
    /* +1: malloc(0) may return NULL */
    out->boxes = malloc(sizeof(float) * 4 * n + 1);
    out->scores = malloc(sizeof(float) * n + 1);
    out->labels = malloc(sizeof(int64_t) * n + 1);
    if (!out->boxes || !out->scores || !out->labels) {
        dr_host_clear(out);
        return hnd_error_set("out of memory");
    }
    if (k == 0) return 0;
    ct_scope_begin();
    int ok = ct_to_buffer(ct_to_dtype(d->boxes, CT_F32), out->boxes, sizeof(float) * 4 * n) == 0 &&
             ct_to_buffer(ct_to_dtype(d->scores, CT_F32), out->scores, sizeof(float) * n) == 0 &&
             ct_to_buffer(ct_to_dtype(d->labels, CT_I64), out->labels, sizeof(int64_t) * n) == 0;
    if (ok && d->masks) {
        out->masks = malloc(hw * n + 1);
        ok = out->masks &&
             ct_to_buffer(ct_to_dtype(ct_gt_scalar(d->masks, mask_thresh), CT_U8), out->masks, hw * n) == 0;
    }
    const char *why = NULL; /* a failure of ours, not ctorch's */
    if (ok && d->keypoints) {
        /* [k, nkp, 3]: x, y, 1 (heatmaps_to_keypoints), and [k, nkp] scores */
        int64_t ks[3];
        ok = ct_shape(d->keypoints, ks, 3) == 3 && ks[0] == k && ks[2] == 3 && ks[1] > 0;
        size_t m = ok ? n * (size_t)ks[1] : 0;
        if (!ok) why = "keypoints: not [k, K, 3]";
        if (ok) {
            out->nkp = ks[1];
            out->keypoints = malloc(sizeof(float) * 3 * m + 1);
            out->keypoint_scores = d->keypoint_scores ? malloc(sizeof(float) * m + 1) : NULL;
            ok = out->keypoints && (!d->keypoint_scores || out->keypoint_scores);
            if (!ok) why = "out of memory";
        }
        ok = ok && ct_to_buffer(ct_to_dtype(d->keypoints, CT_F32), out->keypoints, sizeof(float) * 3 * m) == 0;
        if (ok && d->keypoint_scores)
            ok = ct_to_buffer(ct_to_dtype(d->keypoint_scores, CT_F32), out->keypoint_scores, sizeof(float) * m) == 0;
    }
    ct_scope_end();
    if (!ok) {
        hnd_error_set("reading detections: %s",
                      why ? why : out->masks || !d->masks ? ct_last_error() : "out of memory");
        dr_host_clear(out);
        return -1;
    }
    return 0;
}

/* {"size": [h, w], "counts": "..."} of one mask. */
static int add_segmentation(cJSON *r, const uint8_t *mask, int64_t height, int64_t width) {
    rle_t rle;
    rle_init(&rle);
    if (rle_encode_rowmajor(&rle, mask, (uint32_t)height, (uint32_t)width) != 0) return -1;
    char *s = rle_to_string(&rle);
    rle_clear(&rle);
    if (!s) return hnd_error_set("out of memory");
    double size[2] = {(double)height, (double)width};
    cJSON *seg = cJSON_AddObjectToObject(r, "segmentation");
    cJSON *js = cJSON_CreateDoubleArray(size, 2);
    int ok = seg && js;
    if (ok) cJSON_AddItemToObject(seg, "size", js);
    else cJSON_Delete(js);
    ok = ok && cJSON_AddStringToObject(seg, "counts", s);
    free(s);
    return ok ? 0 : hnd_error_set("out of memory");
}

/* "keypoints": [x, y, 1, ...] of one detection. */
static int add_keypoints(cJSON *r, const float *kp, int64_t nkp) {
    cJSON *a = cJSON_AddArrayToObject(r, "keypoints");
    if (!a) return hnd_error_set("out of memory");
    for (int64_t j = 0; j < nkp; j++) {
        double v[3] = {round_to(kp[3 * j], 1e-3), round_to(kp[3 * j + 1], 1e-3), 1};
        for (int c = 0; c < 3; c++) {
            cJSON *n = cJSON_CreateNumber(v[c]);
            if (!n) return hnd_error_set("out of memory");
            cJSON_AddItemToArray(a, n);
        }
    }
    return 0;
}

int dr_append_json(cJSON *arr, int64_t image_id, const dr_host *h) {
    size_t hw = (size_t)h->height * (size_t)h->width;
    for (int64_t i = 0; i < h->k; i++) {
        cJSON *r = cJSON_CreateObject();
        if (!r) return hnd_error_set("out of memory");
        cJSON_AddItemToArray(arr, r);
        const float *b = h->boxes + 4 * i;
        double bb[4] = {round_to(b[0], 1e-3), round_to(b[1], 1e-3), round_to((double)b[2] - b[0], 1e-3),
                        round_to((double)b[3] - b[1], 1e-3)};
        if (!cJSON_AddNumberToObject(r, "image_id", (double)image_id) ||
            !cJSON_AddNumberToObject(r, "category_id", (double)h->labels[i]))
            return hnd_error_set("out of memory");
        cJSON *jb = cJSON_CreateDoubleArray(bb, 4);
        if (!jb) return hnd_error_set("out of memory");
        cJSON_AddItemToObject(r, "bbox", jb);
        if (!cJSON_AddNumberToObject(r, "score", round_to(h->scores[i], 1e-6))) return hnd_error_set("out of memory");
        if (h->masks && add_segmentation(r, h->masks + hw * (size_t)i, h->height, h->width) != 0) return -1;
        if (h->keypoints && add_keypoints(r, h->keypoints + (size_t)i * 3 * (size_t)h->nkp, h->nkp) != 0) return -1;
    }
    return 0;
}

char *dr_keypoint_results_json(const cJSON *arr) {
    cJSON *out = cJSON_CreateArray();
    if (!out) {
        hnd_error_set("out of memory");
        return NULL;
    }
    static const char *const keys[4] = {"image_id", "category_id", "keypoints", "score"};
    const cJSON *r;
    int ok = 1;
    cJSON_ArrayForEach(r, arr) {
        if (!cJSON_GetObjectItemCaseSensitive(r, "keypoints")) continue;
        cJSON *o = cJSON_CreateObject();
        ok = o != NULL;
        if (ok) cJSON_AddItemToArray(out, o);
        for (int k = 0; ok && k < 4; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, keys[k]);
            cJSON *c = v ? cJSON_Duplicate(v, 1) : NULL;
            ok = c != NULL;
            if (ok) cJSON_AddItemToObject(o, keys[k], c);
        }
        if (!ok) break;
    }
    char *s = ok ? cJSON_PrintUnformatted(out) : NULL;
    cJSON_Delete(out);
    if (!s) hnd_error_set("out of memory");
    return s;
}
