/* tf.c: see tf.h. */
#include "tf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"
#include "mask_rle.h"

void tf_target_clear(tf_target *t) {
    if (!t) return;
    free(t->boxes);
    free(t->labels);
    free(t->masks);
    free(t->area);
    free(t->iscrowd);
    free(t->ann_ids);
    free(t->keypoints);
    free(t->kp_flip);
    memset(t, 0, sizeof *t);
}

int tf_target_build(const coco_dataset *ds, int64_t img, const tf_target_opts *o, tf_target *t) {
    memset(t, 0, sizeof *t);
    if (img < 0 || img >= ds->n_images) return hnd_error_set("image index %lld out of range", (long long)img);
    const coco_image *im = &ds->images[img];
    t->image_id = im->id;
    t->height = im->height;
    t->width = im->width;
    int64_t na;
    const int32_t *ai = coco_image_anns(ds, img, &na);
    size_t cap = (size_t)na ? (size_t)na : 1, plane = (size_t)im->height * im->width;
    t->boxes = malloc(cap * 4 * sizeof *t->boxes);
    t->labels = malloc(cap * sizeof *t->labels);
    t->area = malloc(cap * sizeof *t->area);
    t->iscrowd = malloc(cap * sizeof *t->iscrowd);
    t->ann_ids = malloc(cap * sizeof *t->ann_ids);
    if (o && o->with_masks) t->masks = calloc(cap * plane + 1, 1);
    if (!t->boxes || !t->labels || !t->area || !t->iscrowd || !t->ann_ids || (o && o->with_masks && !t->masks)) {
        tf_target_clear(t);
        return hnd_error_set("out of memory");
    }
    int K = 0;
    if (coco_kp_layout(ds, &K, NULL) < 0) {
        tf_target_clear(t);
        return -1;
    }
    if (K) {
        t->num_kp = K;
        t->keypoints = calloc(cap * (size_t)K * 3, sizeof *t->keypoints);
        t->kp_flip = malloc((size_t)K * sizeof *t->kp_flip);
        if (!t->keypoints || !t->kp_flip) {
            tf_target_clear(t);
            return hnd_error_set("out of memory");
        }
        if (coco_kp_layout(ds, &K, t->kp_flip) < 0) {
            tf_target_clear(t);
            return -1;
        }
    }
    float W = (float)im->width, H = (float)im->height;
    int n = 0;
    for (int64_t k = 0; k < na; k++) {
        const coco_ann *a = &ds->anns[ai[k]];
        if (a->iscrowd && !(o && o->keep_crowd)) continue;
        /* torch.as_tensor(bbox, float32); boxes[:, 2:] += boxes[:, :2]; clamp */
        float x = (float)a->bbox[0], y = (float)a->bbox[1], w = (float)a->bbox[2], h = (float)a->bbox[3];
        float x2 = x + w, y2 = y + h;
        x = fminf(fmaxf(x, 0.f), W);
        x2 = fminf(fmaxf(x2, 0.f), W);
        y = fminf(fmaxf(y, 0.f), H);
        y2 = fminf(fmaxf(y2, 0.f), H);
        if (!(y2 > y && x2 > x)) continue;
        float *b = t->boxes + 4 * n;
        b[0] = x;
        b[1] = y;
        b[2] = x2;
        b[3] = y2;
        t->labels[n] = a->category_id;
        t->area[n] = (float)a->area;
        t->iscrowd[n] = a->iscrowd;
        t->ann_ids[n] = a->id;
        if (K && a->kp_n) {
            if (a->kp_n != 3 * (uint32_t)K) {
                int64_t id = a->id;
                tf_target_clear(t);
                return hnd_error_set("%s: annotation %lld: %u keypoint numbers, expected %d (3 x %d keypoints)",
                                     ds->path, (long long)id, a->kp_n, 3 * K, K);
            }
            /* torch.as_tensor(keypoints, dtype=torch.float32) */
            for (int j = 0; j < 3 * K; j++) t->keypoints[(size_t)n * 3 * K + j] = (float)ds->kps[a->kp_off + j];
        }
        if (t->masks) {
            rle_t r;
            if (coco_ann_rle(ds, a, &r) < 0) {
                tf_target_clear(t);
                return -1;
            }
            rle_decode_rowmajor(&r, t->masks + (size_t)n * plane);
            rle_clear(&r);
        }
        n++;
    }
    t->n = n;
    return 0;
}

void tf_hflip_hwc_u8(uint8_t *rgb, int height, int width, int channels) {
    for (int y = 0; y < height; y++) {
        uint8_t *r = rgb + (size_t)y * width * channels;
        for (int a = 0, b = width - 1; a < b; a++, b--)
            for (int c = 0; c < channels; c++) {
                uint8_t t = r[a * channels + c];
                r[a * channels + c] = r[b * channels + c];
                r[b * channels + c] = t;
            }
    }
}

void tf_hflip_chw_f32(float *x, int channels, int height, int width) {
    for (size_t row = 0; row < (size_t)channels * height; row++) {
        float *r = x + row * width;
        for (int a = 0, b = width - 1; a < b; a++, b--) {
            float t = r[a];
            r[a] = r[b];
            r[b] = t;
        }
    }
}

void tf_hflip_boxes(float *xyxy, int n, int width) {
    float W = (float)width;
    for (int i = 0; i < n; i++) {
        float x1 = xyxy[4 * i], x2 = xyxy[4 * i + 2];
        xyxy[4 * i] = W - x2;
        xyxy[4 * i + 2] = W - x1;
    }
}

void tf_hflip_masks(uint8_t *masks, int n, int height, int width) {
    tf_hflip_hwc_u8(masks, n * height, width, 1);
}

void tf_hflip_keypoints(float *kp, int n, int K, const int32_t *flip, int width) {
    float W = (float)width, row[3 * COCO_MAX_KP];
    if (K > COCO_MAX_KP) return; /* coco_kp_layout refuses such layouts */
    for (int i = 0; i < n; i++) {
        float *p = kp + (size_t)i * K * 3;
        memcpy(row, p, (size_t)K * 3 * sizeof *row);
        for (int k = 0; k < K; k++) {
            const float *q = row + 3 * flip[k];
            p[3 * k] = W - q[0];
            p[3 * k + 1] = q[1];
            p[3 * k + 2] = q[2];
            /* "Maintain COCO convention that if visibility == 0, then x, y = 0" */
            if (p[3 * k + 2] == 0) p[3 * k] = p[3 * k + 1] = 0;
        }
    }
}

void tf_resize_keypoints(float *kp, size_t npts, int old_h, int old_w, int new_h, int new_w) {
    /* torch.tensor(s, float32) / torch.tensor(s_orig, float32) */
    volatile float rh = (float)new_h / (float)old_h, rw = (float)new_w / (float)old_w;
    for (size_t i = 0; i < npts; i++) {
        kp[3 * i] *= rw;
        kp[3 * i + 1] *= rh;
    }
}

void tf_hflip_target(tf_target *t) {
    tf_hflip_boxes(t->boxes, t->n, t->width);
    if (t->masks) tf_hflip_masks(t->masks, t->n, t->height, t->width);
    if (t->keypoints) tf_hflip_keypoints(t->keypoints, t->n, t->num_kp, t->kp_flip, t->width);
}

void tf_normalize_chw(float *x, int height, int width, const float mean[3], const float std[3]) {
    size_t n = (size_t)height * width;
    for (int c = 0; c < 3; c++) {
        float m = mean[c], s = std[c];
        float *p = x + c * n;
        for (size_t i = 0; i < n; i++) p[i] = (p[i] - m) / s;
    }
}

int tf_resize_bilinear_chw(const float *src, int channels, int ih, int iw, float *dst, int oh, int ow) {
    if (ih <= 0 || iw <= 0 || oh <= 0 || ow <= 0) return hnd_error_set("resize: bad size %dx%d -> %dx%d", ih, iw, oh, ow);
    int *x0 = malloc(sizeof(int) * (size_t)ow * 2);
    float *lx = malloc(sizeof(float) * (size_t)ow * 2);
    if (!x0 || !lx) {
        free(x0);
        free(lx);
        return hnd_error_set("out of memory");
    }
    float sw = (float)iw / (float)ow, sh = (float)ih / (float)oh;
    for (int x = 0; x < ow; x++) {
        float s = sw * ((float)x + 0.5f) - 0.5f;
        if (s < 0) s = 0;
        int i = (int)s;
        if (i > iw - 1) i = iw - 1;
        int i1 = i < iw - 1 ? 1 : 0;
        float l1 = s - (float)i;
        x0[2 * x] = i;
        x0[2 * x + 1] = i + i1;
        lx[2 * x] = 1.0f - l1;
        lx[2 * x + 1] = l1;
    }
    for (int c = 0; c < channels; c++) {
        const float *S = src + (size_t)c * ih * iw;
        float *D = dst + (size_t)c * oh * ow;
        for (int y = 0; y < oh; y++) {
            float s = sh * ((float)y + 0.5f) - 0.5f;
            if (s < 0) s = 0;
            int j = (int)s;
            if (j > ih - 1) j = ih - 1;
            int j1 = j < ih - 1 ? j + 1 : j;
            float l1 = s - (float)j, l0 = 1.0f - l1;
            const float *r0 = S + (size_t)j * iw, *r1 = S + (size_t)j1 * iw;
            float *o = D + (size_t)y * ow;
            for (int x = 0; x < ow; x++) {
                int a = x0[2 * x], b = x0[2 * x + 1];
                float wa = lx[2 * x], wb = lx[2 * x + 1];
                o[x] = l0 * (wa * r0[a] + wb * r0[b]) + l1 * (wa * r1[a] + wb * r1[b]);
            }
        }
    }
    free(x0);
    free(lx);
    return 0;
}

void tf_rcnn_size(int ih, int iw, int min_size, int max_size, int *oh, int *ow) {
    float mn = (float)(ih < iw ? ih : iw), mx = (float)(ih > iw ? ih : iw);
    /* Python's `800 / tensor` is tensor.reciprocal() * 800 in float32 */
    volatile float r1 = 1.0f / mn, r2 = 1.0f / mx;
    float s1 = r1 * (float)min_size, s2 = r2 * (float)max_size;
    float scale = s1 < s2 ? s1 : s2; /* torch.min of the two float32 ratios */
    *oh = (int)floor((double)ih * (double)scale);
    *ow = (int)floor((double)iw * (double)scale);
}
