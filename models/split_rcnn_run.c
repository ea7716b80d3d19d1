/* split_rcnn_run.c: running the split detector — the whole model, the head
 * and the tail (split_rcnn.h). The three share the stages below so that
 * head then tail computes what the whole model computes, op for op. */
#include "split_rcnn.h"
#include "split_rcnn_int.h"

#include <stdlib.h>
#include <string.h>

#include "bottleneck_quant.h"
#include "hnd_error.h"
#include "mono_clock.h"

/* ------------------------------------------------------------ shared stages */

/* Closes part `part` of a timed run: waits for the device so that the time
 * is the part's, not the launch's. No-op without times. */
static int lap(const sr_model *m, double *times, int part, double *t0) {
    if (!times) return 0;
    if (ct_device_synchronize(m->dev) != 0) return hnd_error_set("synchronising the device: %s", ct_last_error());
    double t = 1e3 * mono_now_s();
    times[part] = t - *t0;
    *t0 = t;
    return 0;
}

/* The reference's b-bit transformer (b = 2..8) on each image of z on its own
 * (what a split server receives per image): q[i], scale[i], zero_point[i]. */
static ct_tensor *quantize_images(const ct_tensor *z, int n, int bits, float *scale, int *zp) {
    ct_tensor **q = calloc((size_t)n, sizeof *q);
    if (!q) {
        hnd_error_set("out of memory");
        return NULL;
    }
    ct_tensor *out = NULL;
    int ok = 1;
    for (int i = 0; ok && i < n; i++) {
        bq_tensor b;
        ct_tensor *zi = ct_narrow(z, 0, i, 1);
        ok = zi && bq_quantize(zi, bits, &b) == 0;
        if (ok) q[i] = b.q, scale[i] = b.scale, zp[i] = b.zero_point;
    }
    if (ok && !(out = ct_cat((const ct_tensor *const *)q, n, 0))) hnd_error_set("quantizer: %s", ct_last_error());
    free(q);
    return out;
}

/* Inverse of quantize_images, on q's device. */
static ct_tensor *dequantize_images(const ct_tensor *q, int n, const float *scale, const int *zp) {
    ct_tensor **f = calloc((size_t)n, sizeof *f);
    if (!f) {
        hnd_error_set("out of memory");
        return NULL;
    }
    ct_tensor *out = NULL;
    int ok = 1;
    for (int i = 0; ok && i < n; i++) {
        bq_tensor b = {ct_narrow(q, 0, i, 1), scale[i], zp[i]};
        ok = b.q && (f[i] = bq_dequantize8(&b)) != NULL;
    }
    if (ok && !(out = ct_cat((const ct_tensor *const *)f, n, 0))) hnd_error_set("dequantizer: %s", ct_last_error());
    free(f);
    return out;
}

/* Layers 2..4, FPN, RPN, RoI heads and postprocess from layer1's output:
 * the tail after the decoder, shared by sr_detect and sr_tail. */
static int rest_of_model(sr_model *m, const rt_image_list *l, const ct_tensor *c1, rcnn_detections *out) {
    bb_backbone *bb = rcnn_backbone(m->det);
    ct_tensor *c[4] = {(ct_tensor *)c1, NULL, NULL, NULL};
    for (int i = 2; i <= 4; i++)
        if (!(c[i - 1] = bb_layer(bb, i, c[i - 2]))) return -1;
    ct_tensor *feats[BB_NUM_FEATURES] = {0};
    if (bb_fpn(bb, (const ct_tensor *const *)c, feats) != 0) return -1;
    return rcnn_detect_from_features(m->det, l, feats, out);
}

static void keep_detections(rcnn_detections *d, int n) {
    for (int i = 0; i < n; i++) {
        ct_scope_keep(d[i].boxes);
        ct_scope_keep(d[i].scores);
        ct_scope_keep(d[i].labels);
        ct_scope_keep(d[i].masks);
        ct_scope_keep(d[i].keypoints);
        ct_scope_keep(d[i].keypoint_scores);
    }
}

/* ------------------------------------------------------------ whole */

/* A student's bottleneck through the transformer as head and tail pass it
 * (2..8 bits: each image quantized on its own). */
static ct_tensor *round_trip(const ct_tensor *z, int n, int bits) {
    if (bits < 2 || bits > 8) return bq_round_trip(z, bits);
    float *scale = malloc(sizeof *scale * (size_t)n);
    int *zp = malloc(sizeof *zp * (size_t)n);
    ct_tensor *q = scale && zp ? quantize_images(z, n, bits, scale, zp) : NULL;
    ct_tensor *y = q ? dequantize_images(q, n, scale, zp) : NULL;
    if (!scale || !zp) hnd_error_set("out of memory");
    free(scale);
    free(zp);
    return y;
}

int sr_detect(sr_model *m, const ct_tensor *const *images, int n, rcnn_detections *out) {
    if (!m || !images || n <= 0 || !out) return hnd_error_set("split model detect: bad arguments");
    for (int i = 0; i < n; i++) memset(&out[i], 0, sizeof out[i]);
    if (!m->stu) return rcnn_detect(m->det, images, n, out, NULL);
    int prev = ct_grad_set_enabled(0);
    rt_image_list l;
    memset(&l, 0, sizeof l);
    int rc = -1, bits = stu_is_training(m->stu) ? 0 : stu_get_transform(m->stu);
    ct_scope_begin();
    ct_tensor *s = rcnn_transform_images(m->det, images, n, &l) == 0 ? bb_stem(rcnn_backbone(m->det), l.tensors) : NULL;
    ct_tensor *z = s ? stu_encode(m->stu, s) : NULL;
    /* an entropy bottleneck sends the integers around its medians instead */
    if (z && m->eb && !stu_is_training(m->stu)) z = ebm_dequantize(m->eb, z);
    else if (z && bits) z = round_trip(z, n, bits);
    ct_tensor *c1 = z ? stu_decode(m->stu, z) : NULL;
    if (c1 && rest_of_model(m, &l, c1, out) == 0) {
        keep_detections(out, n);
        rc = 0;
    } else {
        for (int i = 0; i < n; i++) rcnn_detections_clear(&out[i]);
    }
    rt_image_list_clear(&l);
    ct_scope_end();
    ct_grad_set_enabled(prev);
    if (rc != 0) hnd_error_prefix("%s (student)", rcnn_get_config(m->det)->arch);
    return rc;
}

/* ------------------------------------------------------------ head */

void sr_link_clear(sr_link *l) {
    if (!l) return;
    ct_destroy(l->z);
    free(l->scale);
    free(l->zero_point);
    free(l->sizes);
    free(l->orig_sizes);
    memset(l, 0, sizeof *l);
}

/* The link's bytes from the encoder's output, in host memory. */
static int to_link(const ct_tensor *z, sr_link *out) {
    ct_tensor *w = NULL;
    if (out->bits <= 8) {   /* 2..8 bits: one byte per value */
        out->scale = malloc(sizeof *out->scale * (size_t)out->n);
        out->zero_point = malloc(sizeof *out->zero_point * (size_t)out->n);
        if (!out->scale || !out->zero_point) return hnd_error_set("out of memory");
        w = quantize_images(z, out->n, out->bits, out->scale, out->zero_point);
    } else {
        w = out->bits == 16 ? ct_to_dtype(z, CT_F16) : ct_share(z);
    }
    ct_tensor *host = w ? ct_to_device(w, ct_cpu()) : NULL;
    if (!host) return hnd_error_set("quantizer: %s", w ? ct_last_error() : hnd_error());
    out->z = ct_scope_keep(host);
    return 0;
}

static int copy_sizes(const rt_image_list *l, sr_link *out) {
    size_t nb = sizeof *out->sizes * (size_t)l->n;
    if (!(out->sizes = malloc(nb)) || !(out->orig_sizes = malloc(nb))) return hnd_error_set("out of memory");
    memcpy(out->sizes, l->sizes, nb);
    memcpy(out->orig_sizes, l->orig_sizes, nb);
    out->padded_hw[0] = ct_size(l->tensors, 2);
    out->padded_hw[1] = ct_size(l->tensors, 3);
    return 0;
}

int sr_head(sr_model *m, const ct_tensor *const *images, int n, int bits, sr_link *out,
            double times_ms[SR_T_COUNT]) {
    if (out) memset(out, 0, sizeof *out);
    if (!m || !images || n <= 0 || !out) return hnd_error_set("split model head: bad arguments");
    if (bits == 0) bits = m->stu && stu_get_transform(m->stu) ? stu_get_transform(m->stu) : 32;
    if (m && m->eb) bits = 32;   /* an entropy bottleneck's rounded values travel exactly */
    if (!bq_bits_valid(bits) || bits == 0)
        return hnd_error_set("split model head: bits must be 2..8, 16 or 32, got %d", bits);
    out->bits = m->stu ? bits : 32;   /* a teacher sends layer1 as it is */
    out->n = n;
    int prev = ct_grad_set_enabled(0), rc = -1;
    rt_image_list l;
    memset(&l, 0, sizeof l);
    double t0 = 0;
    ct_scope_begin();
    if (times_ms && ct_device_synchronize(m->dev) != 0) goto done;
    t0 = 1e3 * mono_now_s();
    if (rcnn_transform_images(m->det, images, n, &l) != 0 || copy_sizes(&l, out) != 0 ||
        lap(m, times_ms, SR_T_TRANSFORM, &t0) != 0)
        goto done;
    ct_tensor *s = bb_stem(rcnn_backbone(m->det), l.tensors);
    if (!s || lap(m, times_ms, SR_T_STEM, &t0) != 0) goto done;
    ct_tensor *z = m->stu ? stu_encode(m->stu, s) : bb_layer(rcnn_backbone(m->det), 1, s);
    /* an entropy bottleneck: round(z - median) + median, which a float32
     * link carries exactly (the coded bytes: infer/eb_codec.h) */
    if (z && m->eb) z = ebm_dequantize(m->eb, z);
    if (!z || lap(m, times_ms, SR_T_ENCODER, &t0) != 0) goto done;
    if (to_link(z, out) != 0 || lap(m, times_ms, SR_T_QUANTIZE, &t0) != 0) goto done;
    rc = 0;
done:
    rt_image_list_clear(&l);
    ct_scope_end();
    ct_grad_set_enabled(prev);
    if (rc != 0) {
        hnd_error_prefix("%s head", rcnn_get_config(m->det)->arch);
        sr_link_clear(out);
    }
    return rc;
}

/* ------------------------------------------------------------ tail */

/* The link back to float32 on the model's device. */
static ct_tensor *from_link(const sr_model *m, const sr_link *link) {
    ct_tensor *d = ct_to_device(link->z, m->dev);
    if (!d) {
        hnd_error_set("dequantizer: %s", ct_last_error());
        return NULL;
    }
    int dt = ct_dtype_of(d);
    if (link->bits >= 2 && link->bits <= 8 && dt == CT_U8 && link->scale && link->zero_point)
        return dequantize_images(d, link->n, link->scale, link->zero_point);
    if (link->bits == 16 && dt == CT_F16) return ct_to_dtype(d, CT_F32);
    if (link->bits == 32 && dt == CT_F32) return d;
    hnd_error_set("dequantizer: a %d-bit link holds a tensor of dtype %d", link->bits, dt);
    return NULL;
}

/* The RPN reads the padded batch's size from the image list only: a
 * zero-stride view of that shape stands in for the pixels, which stayed on
 * the device. */
static ct_tensor *batch_stand_in(const sr_model *m, const sr_link *link) {
    const int64_t one = 1, shape[4] = {link->n, 3, link->padded_hw[0], link->padded_hw[1]};
    ct_tensor *z = ct_zeros(&one, 1, CT_F32, m->dev);
    return z ? ct_expand(z, shape, 4) : NULL;
}

int sr_tail(sr_model *m, const sr_link *link, rcnn_detections *out, double times_ms[SR_T_COUNT]) {
    if (!m || !link || !link->z || link->n <= 0 || !link->sizes || !link->orig_sizes || !out ||
        ct_size(link->z, 0) != link->n)
        return hnd_error_set("split model tail: bad arguments");
    for (int i = 0; i < link->n; i++) memset(&out[i], 0, sizeof out[i]);
    int prev = ct_grad_set_enabled(0), rc = -1;
    double t0 = 0;
    ct_scope_begin();
    if (times_ms && ct_device_synchronize(m->dev) != 0) goto done;
    t0 = 1e3 * mono_now_s();
    ct_tensor *zhat = from_link(m, link);
    if (!zhat || lap(m, times_ms, SR_T_DEQUANTIZE, &t0) != 0) goto done;
    ct_tensor *c1 = m->stu ? stu_decode(m->stu, zhat) : zhat;
    if (!c1 || lap(m, times_ms, SR_T_DECODER, &t0) != 0) goto done;
    rt_image_list l = {batch_stand_in(m, link), link->n, link->sizes, link->orig_sizes};
    if (!l.tensors) {
        hnd_error_set("image list: %s", ct_last_error());
        goto done;
    }
    if (rest_of_model(m, &l, c1, out) != 0 || lap(m, times_ms, SR_T_REST, &t0) != 0) goto done;
    keep_detections(out, link->n);
    rc = 0;
done:
    if (rc != 0) /* before the scope ends: it owns what was not kept */
        for (int i = 0; i < link->n; i++) rcnn_detections_clear(&out[i]);
    ct_scope_end();
    ct_grad_set_enabled(prev);
    if (rc != 0) hnd_error_prefix("%s tail", rcnn_get_config(m->det)->arch);
    return rc;
}
