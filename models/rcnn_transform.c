/* rcnn_transform.c: see rcnn_transform.h. */
#include "rcnn_transform.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"

static const char *rt_desc(const ct_tensor *t, char *buf, size_t n) {
    if (!t || ct_tensor_describe(t, buf, n) < 0) snprintf(buf, n, "?");
    return buf;
}

/* torchvision: scale = torch.min(self_min / min_side, self_max / max_side)
 * with min_side/max_side float32 0-dim tensors; `python_float / tensor` is
 * tensor.reciprocal() * python_float, all in float32. */
static double rt_scale(int64_t h, int64_t w, double min_size, double max_size) {
    float lo = (float)(h < w ? h : w), hi = (float)(h < w ? w : h);
    float r_lo = 1.0f / lo, r_hi = 1.0f / hi;
    float s_lo = r_lo * (float)min_size, s_hi = r_hi * (float)max_size;
    return (double)(s_lo < s_hi ? s_lo : s_hi);   /* torch.min; scale.item() */
}

int rt_resized_size(int64_t h, int64_t w, double min_size, double max_size, int64_t out[2]) {
    if (h <= 0 || w <= 0 || !(min_size > 0) || !(max_size > 0) || !out)
        return hnd_error_set("rcnn transform: bad size %lldx%lld or min/max %g/%g", (long long)h,
                             (long long)w, min_size, max_size);
    double s = rt_scale(h, w, min_size, max_size);
    /* F.interpolate, recompute_scale_factor=True: floor(float(in) * scale) */
    out[0] = (int64_t)floor((double)h * s);
    out[1] = (int64_t)floor((double)w * s);
    /* an extreme aspect ratio (10000x10 at 800/1333) or a huge min_size
     * would reach libtorch as an empty or gigantic tensor: say so here */
    if (out[0] < 1 || out[1] < 1)
        return hnd_error_set("image %lldx%lld: resized to min/max size %g/%g it would be %lldx%lld (aspect ratio "
                             "too extreme)",
                             (long long)w, (long long)h, min_size, max_size, (long long)out[1], (long long)out[0]);
    if (out[0] > 16384 || out[1] > 16384)
        return hnd_error_set("image %lldx%lld: resized to min/max size %g/%g it would be %lldx%lld (over 16384)",
                             (long long)w, (long long)h, min_size, max_size, (long long)out[1], (long long)out[0]);
    return 0;
}

static int rt_check_image(const ct_tensor *image, const char *what) {
    if (!image) return hnd_error_set("rcnn transform: %s: NULL image", what);
    int dt = ct_dtype_of(image);
    char buf[128];
    if (ct_ndim(image) != 3)
        return hnd_error_set("rcnn transform: %s: images are expected to be 3-D [C,H,W], got %s", what,
                             rt_desc(image, buf, sizeof buf));
    if (dt != CT_F32 && dt != CT_F64 && dt != CT_F16)
        return hnd_error_set("rcnn transform: %s: expected a floating image in [0,1], got %s", what,
                             rt_desc(image, buf, sizeof buf));
    return 0;
}

/* [C,1,1] of v[0..c-1] (cfg has 3 values) in the dtype/device of image. */
static ct_tensor *rt_channel_const(const float *v, const ct_tensor *image) {
    int64_t shape[3] = {3, 1, 1};
    ct_tensor *t = ct_from_buffer(v, CT_F32, 3, shape);
    if (t && ct_dtype_of(image) != CT_F32) t = ct_to_dtype(t, (ct_dtype)ct_dtype_of(image));
    ct_device d = ct_device_of(image);
    if (t && d.type != CT_CPU) t = ct_to_device(t, d);
    return t;
}

ct_tensor *rt_normalize(const rcnn_transform_config *cfg, const ct_tensor *image) {
    if (!cfg) {
        hnd_error_set("rcnn transform: NULL config");
        return NULL;
    }
    if (rt_check_image(image, "normalize")) return NULL;
    ct_scope_begin();
    ct_tensor *mean = rt_channel_const(cfg->image_mean, image);
    ct_tensor *std = rt_channel_const(cfg->image_std, image);
    ct_tensor *y = mean && std ? ct_sub(image, mean) : NULL;
    y = y ? ct_div(y, std) : NULL;
    if (!y) {
        char buf[128];
        hnd_error_set("rcnn transform: normalize %s: %s", rt_desc(image, buf, sizeof buf), ct_last_error());
    }
    ct_scope_keep(y);
    ct_scope_end();
    return y;
}

/* interpolate(x[None], scale_factor=s, recompute_scale_factor=True)[0], x [C,H,W]. */
static ct_tensor *rt_interp(const ct_tensor *x, double s, ct_interp_mode mode) {
    ct_tensor *b = ct_unsqueeze(x, 0);
    b = b ? ct_interpolate(b, mode, 0, 0, s, s, 0, 1) : NULL;
    return b ? ct_select(b, 0, 0) : NULL;
}

ct_tensor *rt_resize_image(const rcnn_transform_config *cfg, const ct_tensor *image) {
    if (!cfg) {
        hnd_error_set("rcnn transform: NULL config");
        return NULL;
    }
    if (rt_check_image(image, "resize")) return NULL;
    int64_t h = ct_size(image, 1), w = ct_size(image, 2), sz[2];
    if (rt_resized_size(h, w, cfg->min_size, cfg->max_size, sz)) return NULL;
    double s = rt_scale(h, w, cfg->min_size, cfg->max_size);
    ct_scope_begin();
    ct_tensor *y = rt_interp(image, s, CT_INTERP_BILINEAR);
    if (y && (ct_size(y, 1) != sz[0] || ct_size(y, 2) != sz[1])) {
        hnd_error_set("rcnn transform: resize %lldx%lld by %.9g gave %lldx%lld, expected %lldx%lld",
                      (long long)h, (long long)w, s, (long long)ct_size(y, 1), (long long)ct_size(y, 2),
                      (long long)sz[0], (long long)sz[1]);
        y = NULL;
    } else if (!y) {
        char buf[128];
        hnd_error_set("rcnn transform: resize %s by %.9g: %s", rt_desc(image, buf, sizeof buf), s,
                      ct_last_error());
    }
    ct_scope_keep(y);
    ct_scope_end();
    return y;
}

ct_tensor *rt_resize_boxes(const ct_tensor *boxes, const int64_t from_hw[2], const int64_t to_hw[2]) {
    if (!boxes || !from_hw || !to_hw) {
        hnd_error_set("rcnn transform: resize boxes: NULL argument");
        return NULL;
    }
    if (from_hw[0] <= 0 || from_hw[1] <= 0) {
        hnd_error_set("rcnn transform: resize boxes: from size %lldx%lld", (long long)from_hw[0],
                      (long long)from_hw[1]);
        return NULL;
    }
    /* torch.tensor(new, float32) / torch.tensor(old, float32), per axis */
    float rh = (float)to_hw[0] / (float)from_hw[0], rw = (float)to_hw[1] / (float)from_hw[1];
    const float r[4] = {rw, rh, rw, rh};
    int64_t four = 4;
    ct_scope_begin();
    ct_tensor *f = ct_from_buffer(r, CT_F32, 1, &four);
    ct_device d = ct_device_of(boxes);
    if (f && d.type != CT_CPU) f = ct_to_device(f, d);
    ct_tensor *y = f ? ct_mul(boxes, f) : NULL;
    if (!y) {
        char buf[128];
        hnd_error_set("rcnn transform: resize boxes %s: %s", rt_desc(boxes, buf, sizeof buf), ct_last_error());
    }
    ct_scope_keep(y);
    ct_scope_end();
    return y;
}

ct_tensor *rt_resize_keypoints(const ct_tensor *kp, const int64_t from_hw[2], const int64_t to_hw[2]) {
    if (!kp || !from_hw || !to_hw || from_hw[0] <= 0 || from_hw[1] <= 0 || ct_ndim(kp) < 1 ||
        ct_size(kp, -1) != 3) {
        char buf[128] = "";
        if (kp) rt_desc(kp, buf, sizeof buf);
        hnd_error_set("rcnn transform: resize keypoints %s: want [...,3] and a positive size", buf);
        return NULL;
    }
    /* x * ratio_w, y * ratio_h (the same float32 ratios as the boxes'); v * 1 */
    float rh = (float)to_hw[0] / (float)from_hw[0], rw = (float)to_hw[1] / (float)from_hw[1];
    const float r[3] = {rw, rh, 1.0f};
    int64_t three = 3;
    ct_scope_begin();
    ct_tensor *f = ct_from_buffer(r, CT_F32, 1, &three);
    ct_device d = ct_device_of(kp);
    if (f && d.type != CT_CPU) f = ct_to_device(f, d);
    ct_tensor *y = f ? ct_mul(kp, f) : NULL;
    if (!y) {
        char buf[128];
        hnd_error_set("rcnn transform: resize keypoints %s: %s", rt_desc(kp, buf, sizeof buf), ct_last_error());
    }
    ct_scope_keep(y);
    ct_scope_end();
    return y;
}

void rt_target_clear(rt_target *t) {
    if (!t) return;
    ct_destroy(t->boxes);
    ct_destroy(t->labels);
    ct_destroy(t->masks);
    ct_destroy(t->keypoints);
    memset(t, 0, sizeof *t);
}

void rt_image_list_clear(rt_image_list *l) {
    if (!l) return;
    ct_destroy(l->tensors);
    free(l->sizes);
    free(l->orig_sizes);
    memset(l, 0, sizeof *l);
}

/* One target: boxes by the per-axis ratios, masks by nearest interpolation. */
static int rt_resize_target(const rt_target *in, rt_target *out, const int64_t from[2], const int64_t to[2],
                            double s) {
    memset(out, 0, sizeof *out);
    if (in->boxes && !(out->boxes = rt_resize_boxes(in->boxes, from, to))) return -1;
    if (in->labels && !(out->labels = ct_share(in->labels)))
        return hnd_error_set("rcnn transform: labels: %s", ct_last_error());
    if (in->keypoints && !(out->keypoints = rt_resize_keypoints(in->keypoints, from, to))) return -1;
    if (in->masks) {
        char buf[128];
        if (ct_ndim(in->masks) != 3)
            return hnd_error_set("rcnn transform: masks must be [K,H,W], got %s",
                                 rt_desc(in->masks, buf, sizeof buf));
        ct_tensor *m = ct_to_dtype(in->masks, CT_F32);
        m = m ? ct_unsqueeze(m, 1) : NULL;
        m = m ? ct_interpolate(m, CT_INTERP_NEAREST, 0, 0, s, s, 0, 1) : NULL;
        m = m ? ct_select(m, 1, 0) : NULL;
        m = m ? ct_to_dtype(m, CT_U8) : NULL;
        if (!m)
            return hnd_error_set("rcnn transform: masks %s: %s", rt_desc(in->masks, buf, sizeof buf),
                                 ct_last_error());
        out->masks = m;
    }
    return 0;
}

int rt_transform(const rcnn_transform_config *cfg, const ct_tensor *const *images, int n,
                 const rt_target *targets_in, rt_target *targets_out, int training,
                 rt_image_list *out) {
    if (!out) return hnd_error_set("rcnn transform: NULL output");
    memset(out, 0, sizeof *out);
    if (!cfg || !images || n < 1) return hnd_error_set("rcnn transform: no images (n = %d)", n);
    if (!targets_in != !targets_out)
        return hnd_error_set("rcnn transform: targets_in and targets_out go together");
    if (cfg->size_divisible < 1) return hnd_error_set("rcnn transform: size_divisible %d", cfg->size_divisible);
    if (targets_out) memset(targets_out, 0, (size_t)n * sizeof *targets_out);
    out->sizes = calloc((size_t)n, sizeof *out->sizes);
    out->orig_sizes = calloc((size_t)n, sizeof *out->orig_sizes);
    if (!out->sizes || !out->orig_sizes) {
        rt_image_list_clear(out);
        return hnd_error_set("rcnn transform: out of memory");
    }
    out->n = n;
    int64_t shape_rng = 1;
    ct_tensor **res = calloc((size_t)n, sizeof *res);
    if (!res) {
        rt_image_list_clear(out);
        return hnd_error_set("rcnn transform: out of memory");
    }
    ct_scope_begin();
    int ok = 1;
    int64_t maxc = 0, maxh = 0, maxw = 0;
    for (int i = 0; i < n && ok; i++) {
        if (rt_check_image(images[i], "image")) {
            hnd_error_prefix("image %d", i);
            ok = 0;
            break;
        }
        int64_t h = ct_size(images[i], 1), w = ct_size(images[i], 2);
        out->orig_sizes[i][0] = h;
        out->orig_sizes[i][1] = w;
        ct_tensor *x = rt_normalize(cfg, images[i]);
        /* torch_choice(min_size): one uniform per image in training */
        if (x && training && !ct_rand(&shape_rng, 1, CT_F32, ct_cpu())) {
            hnd_error_set("rcnn transform: %s", ct_last_error());
            x = NULL;
        }
        x = x ? rt_resize_image(cfg, x) : NULL;
        if (!x) {
            hnd_error_prefix("rcnn transform: image %d", i);
            ok = 0;
            break;
        }
        res[i] = x;
        out->sizes[i][0] = ct_size(x, 1);
        out->sizes[i][1] = ct_size(x, 2);
        if (ct_size(x, 0) > maxc) maxc = ct_size(x, 0);
        if (out->sizes[i][0] > maxh) maxh = out->sizes[i][0];
        if (out->sizes[i][1] > maxw) maxw = out->sizes[i][1];
        if (targets_in) {
            double s = rt_scale(h, w, cfg->min_size, cfg->max_size);
            if (rt_resize_target(&targets_in[i], &targets_out[i], out->orig_sizes[i], out->sizes[i], s)) {
                hnd_error_prefix("target %d", i);
                ok = 0;
            }
        }
    }
    ct_tensor *batch = NULL;
    if (ok) {
        double stride = (double)cfg->size_divisible;
        int64_t shape[4] = {n, maxc, (int64_t)(ceil((double)maxh / stride) * stride),
                            (int64_t)(ceil((double)maxw / stride) * stride)};
        batch = ct_zeros(shape, 4, (ct_dtype)ct_dtype_of(res[0]), ct_device_of(res[0]));
        for (int i = 0; i < n && batch; i++) {
            ct_tensor *dst = ct_select(batch, 0, i);
            dst = dst ? ct_narrow(dst, 0, 0, ct_size(res[i], 0)) : NULL;
            dst = dst ? ct_narrow(dst, 1, 0, out->sizes[i][0]) : NULL;
            dst = dst ? ct_narrow(dst, 2, 0, out->sizes[i][1]) : NULL;
            if (!dst || ct_copy_(dst, res[i]) != 0) batch = NULL;
        }
        if (!batch) {
            hnd_error_set("rcnn transform: batching %d images to %lldx%lld: %s", n, (long long)shape[2],
                          (long long)shape[3], ct_last_error());
            ok = 0;
        }
    }
    if (ok) {
        out->tensors = ct_scope_keep(batch);
        if (targets_out)
            for (int i = 0; i < n; i++) {
                ct_scope_keep(targets_out[i].boxes);
                ct_scope_keep(targets_out[i].labels);
                ct_scope_keep(targets_out[i].masks);
                ct_scope_keep(targets_out[i].keypoints);
            }
    }
    ct_scope_end();
    free(res);
    if (!ok) {
        /* the scope freed every tensor made here */
        if (targets_out) memset(targets_out, 0, (size_t)n * sizeof *targets_out);
        rt_image_list_clear(out);
        return -1;
    }
    return 0;
}
