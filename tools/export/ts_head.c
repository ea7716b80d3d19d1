/* ts_head.c: see ts_head.h.
 *
 * The module (class hnd.StudentHead) holds conv<k>_weight / conv<k>_bias
 * (k: the conv's ordinal in the head, 0..4) as parameters and has one
 * method, forward, generated below from the head's ops. libtorch's compiler
 * resolves `torch.` to the aten operators only (no torch.float32, no
 * torch.nn.functional, no RuntimeError): dtypes are ScalarType numbers or
 * .half() / .byte(), checks are asserts (AssertionError).
 * Its source, for a
 * head of C = 3 at 8 bits:
 *
 *   def forward(self, image: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
 *       assert image.dim() == 4 and image.size(1) == 3 and image.dtype == 6, "..."
 *       x = torch.conv2d(image, self.conv0_weight, self.conv0_bias, [2, 2], [3, 3])
 *       x = torch.relu(x)
 *       x = torch.max_pool2d(x, [3, 3], [2, 2], [1, 1])
 *       ...
 *       x = torch.conv2d(x, self.conv4_weight, None, [1, 1], [1, 1])
 *       (the quantizer: bottleneck_quant.h's steps, each a float32 tensor op
 *        in the order bq_quantize8 does them)
 *       return q, scale, zero_point
 *
 * The transform the image must have had (mean, std, sizes) and the
 * detector it came from travel in the archive's extra file hnd.json. */
#include "ts_head.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctorch.h"
#include "hnd_error.h"

#define TSH_SRC_MAX 16384

typedef struct {
    char s[TSH_SRC_MAX];
    size_t n;
    int overflow;
} tsh_buf;

__attribute__((format(printf, 2, 3))) static void put(tsh_buf *b, const char *fmt, ...) {
    if (b->overflow) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->s + b->n, sizeof b->s - b->n, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof b->s - b->n) b->overflow = 1;
    else b->n += (size_t)k;
}

static int check_head(const hg_head *h) {
    if (!h) return hnd_error_set("torchscript: NULL head");
    if (h->bits != 8 && h->bits != 16 && h->bits != 32)
        return hnd_error_set("torchscript: bits must be 8, 16 or 32, got %d", h->bits);
    if (h->n_ops <= 0 || h->n_ops > HG_MAX_OPS)
        return hnd_error_set("torchscript: head has %d ops (1..%d)", h->n_ops, HG_MAX_OPS);
    if (h->in_channels <= 0) return hnd_error_set("torchscript: head has %d input channels", h->in_channels);
    for (int i = 0; i < h->n_ops; i++) {
        const hg_op *o = &h->ops[i];
        if (o->kind != HG_CONV && o->kind != HG_RELU && o->kind != HG_MAXPOOL)
            return hnd_error_set("torchscript: op %d (%s): unknown kind %d", i, o->name, (int)o->kind);
        if (o->kind == HG_RELU) continue;
        if (o->kh <= 0 || o->kw <= 0 || o->stride <= 0 || o->pad < 0)
            return hnd_error_set("torchscript: op %d (%s): kernel %dx%d stride %d pad %d", i, o->name, o->kh,
                                 o->kw, o->stride, o->pad);
        if (o->kind == HG_CONV && (!o->weight || o->cin <= 0 || o->cout <= 0))
            return hnd_error_set("torchscript: op %d (%s): conv without weights", i, o->name);
    }
    return 0;
}

/* The forward method of h, reading the parameters named as make_params
 * names them. */
static void gen_source(const hg_head *h, tsh_buf *b) {
    const char *ret = h->bits == 8 ? "Tuple[Tensor, Tensor, Tensor]" : "Tensor";
    put(b, "def forward(self, image: Tensor) -> %s:\n", ret);
    put(b, "    assert image.dim() == 4 and image.size(1) == %d and image.dtype == 6, "
           "\"hnd head: the input must be the transformed image, float32 [N, %d, H, W]\"  # 6: float32\n",
        h->in_channels, h->in_channels);
    if (h->bits == 8) {
        put(b, "    assert image.size(0) == 1, \"hnd head: 8 bits quantize one image at a time (N = 1)\"\n");
    }
    const char *in = "image";
    int conv = 0;
    for (int i = 0; i < h->n_ops; i++) {
        const hg_op *o = &h->ops[i];
        switch (o->kind) {
        case HG_CONV:
            put(b, "    x = torch.conv2d(%s, self.conv%d_weight, ", in, conv);
            if (o->bias) put(b, "self.conv%d_bias", conv);
            else put(b, "None");
            put(b, ", [%d, %d], [%d, %d])\n", o->stride, o->stride, o->pad, o->pad);
            conv++;
            break;
        case HG_RELU:
            put(b, "    x = torch.relu(%s)\n", in);
            break;
        case HG_MAXPOOL:
            put(b, "    x = torch.max_pool2d(%s, [%d, %d], [%d, %d], [%d, %d])\n", in, o->kh, o->kw, o->stride,
                o->stride, o->pad, o->pad);
            break;
        }
        in = "x";
    }
    if (h->bits == 32) {
        put(b, "    return %s\n", in);
        return;
    }
    if (h->bits == 16) {
        put(b, "    return %s.half()\n", in);
        return;
    }
    /* bottleneck_quant.h, step by step as bq_quantize8 computes it (every
     * value a float32 tensor, so the rounding is PyTorch's). */
    put(b, "    mn = torch.min(%s)\n", in);
    put(b, "    mx = torch.max(%s)\n", in);
    put(b, "    assert bool(torch.isfinite(mn)) and bool(torch.isfinite(mx)), "
           "\"hnd head: the bottleneck has non-finite values\"\n");
    put(b, "    if bool(mx == mn):\n");
    put(b, "        if bool(mx == 0.0):\n");
    put(b, "            scale = torch.ones_like(mx)\n");
    put(b, "        else:\n");
    put(b, "            scale = torch.abs(mx)\n");
    put(b, "    else:\n");
    put(b, "        scale = (mx - mn) / 255.0\n");
    put(b, "    zp = torch.trunc(torch.clamp(0.0 - mn / scale, 0.0, 255.0))\n");
    put(b, "    q = torch.round(torch.clamp(%s / scale + zp, 0.0, 255.0)).byte()\n", in);
    put(b, "    return q, scale, zp.byte()\n");
}

/* What a user of head.pt needs besides the module: the transform and where
 * the head came from (the archive's extra file hnd.json). */
static void gen_meta(const hg_head *h, tsh_buf *b) {
    put(b, "{\"format\": \"hnd-head\", \"version\": 1, \"arch\": \"%s\", \"num_classes\": %d, \"mask\": %s, "
           "\"channels\": %d, \"bits\": %d,\n",
        h->arch, h->num_classes, h->mask ? "true" : "false", h->channels, h->bits);
    put(b, " \"input\": {\"dtype\": \"float32\", \"shape\": [1, %d, \"H\", \"W\"], "
           "\"mean\": [%.9g, %.9g, %.9g], \"std\": [%.9g, %.9g, %.9g],\n",
        h->in_channels, h->mean[0], h->mean[1], h->mean[2], h->std[0], h->std[1], h->std[2]);
    put(b, "  \"min_size\": %.17g, \"max_size\": %.17g, \"size_divisible\": %d,\n", h->min_size, h->max_size,
        h->size_divisible);
    put(b, "  \"note\": \"RGB in [0,1], resized (shorter side min_size, longer at most max_size, bilinear), "
           "(x - mean) / std, zero-padded bottom/right to a multiple of size_divisible\"},\n");
    if (h->bits == 8)
        put(b, " \"output\": [\"z uint8 [1, C, h, w]\", \"scale float32 []\", \"zero_point uint8 []\"], "
               "\"dequantize\": \"scale * (z - zero_point)\"}\n");
    else
        put(b, " \"output\": \"z %s [1, C, h, w]\"}\n", h->bits == 16 ? "float16" : "float32");
}

int tsh_write(const hg_head *h, const char *path) {
    if (check_head(h) != 0) return -1;
    if (!path || !*path) return hnd_error_set("torchscript: empty output path");
    tsh_buf *s = calloc(2, sizeof *s); /* source and hnd.json, 32 KB */
    if (!s) return hnd_error_set("torchscript: out of memory");
    tsh_buf *mt = s + 1;
    gen_source(h, s);
    gen_meta(h, mt);
    if (s->overflow || mt->overflow) {
        free(s);
        return hnd_error_set("torchscript: generated source too long");
    }

    char names[2 * HG_MAX_OPS][32];
    const char *name_ptrs[2 * HG_MAX_OPS];
    const ct_tensor *tensors[2 * HG_MAX_OPS];
    int n = 0, conv = 0, rc = 0;
    ct_scope_begin();
    for (int i = 0; i < h->n_ops && rc == 0; i++) {
        const hg_op *o = &h->ops[i];
        if (o->kind != HG_CONV) continue;
        int64_t wshape[4] = {o->cout, o->cin, o->kh, o->kw};
        snprintf(names[n], sizeof names[n], "conv%d_weight", conv);
        name_ptrs[n] = names[n];
        if (!(tensors[n++] = ct_from_buffer(o->weight, CT_F32, 4, wshape)))
            rc = hnd_error_set("torchscript: %s: %s", o->name, ct_last_error());
        if (rc == 0 && o->bias) {
            int64_t bshape[1] = {o->cout};
            snprintf(names[n], sizeof names[n], "conv%d_bias", conv);
            name_ptrs[n] = names[n];
            if (!(tensors[n++] = ct_from_buffer(o->bias, CT_F32, 1, bshape)))
                rc = hnd_error_set("torchscript: %s: %s", o->name, ct_last_error());
        }
        conv++;
    }
    if (rc == 0 && ct_script_save(path, "hnd.StudentHead", s->s, name_ptrs, tensors, n, mt->s) != 0)
        rc = hnd_error_set("torchscript: %s: %s", path, ct_last_error());
    ct_scope_end();
    free(s);
    return rc;
}
