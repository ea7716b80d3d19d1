/* box_coder.c: see box_coder.h. */
#include "box_coder.h"

#include <math.h>

#include "hnd_error.h"

void bc_init(bc_coder *c, double wx, double wy, double ww, double wh) {
    c->weights[0] = wx;
    c->weights[1] = wy;
    c->weights[2] = ww;
    c->weights[3] = wh;
    c->clip = log(1000.0 / 16);
}

static int bc_fail(const char *what, const ct_tensor *a, const ct_tensor *b) {
    char da[96] = "", db[96] = "";
    if (a) ct_tensor_describe(a, da, sizeof da);
    if (b) ct_tensor_describe(b, db, sizeof db);
    return hnd_error_set("box coder %s: codes %s, boxes %s: %s", what, da, db, ct_last_error());
}

ct_tensor *bc_decode(const bc_coder *c, const ct_tensor *rel_codes, const ct_tensor *boxes) {
    if (!c || !rel_codes || !boxes) {
        hnd_error_set("box coder decode: NULL argument");
        return NULL;
    }
    int64_t n = ct_size(rel_codes, 0), m = ct_size(rel_codes, 1);
    if (ct_ndim(rel_codes) != 2 || ct_ndim(boxes) != 2 || m % 4 != 0 || ct_size(boxes, 0) != n ||
        ct_size(boxes, 1) != 4) {
        ct_clear_error();
        bc_fail("decode", rel_codes, boxes);
        hnd_error_prefix("shapes must be [N,4k] and [N,4]");
        return NULL;
    }
    ct_scope_begin();
    ct_tensor *out = NULL;
    ct_tensor *b = ct_to_dtype(boxes, ct_dtype_of(rel_codes));
    ct_tensor *widths = ct_sub(ct_select(b, 1, 2), ct_select(b, 1, 0));
    ct_tensor *heights = ct_sub(ct_select(b, 1, 3), ct_select(b, 1, 1));
    ct_tensor *ctr_x = ct_add(ct_select(b, 1, 0), ct_mul_scalar(widths, 0.5));
    ct_tensor *ctr_y = ct_add(ct_select(b, 1, 1), ct_mul_scalar(heights, 0.5));
    ct_tensor *d[4];
    for (int i = 0; i < 4; i++)
        d[i] = ct_div_scalar(ct_slice(rel_codes, 1, i, INT64_MAX, 4), c->weights[i]);
    ct_tensor *dw = ct_clamp_max(d[2], c->clip), *dh = ct_clamp_max(d[3], c->clip);
    ct_tensor *w1 = ct_unsqueeze(widths, 1), *h1 = ct_unsqueeze(heights, 1);
    ct_tensor *pcx = ct_add(ct_mul(d[0], w1), ct_unsqueeze(ctr_x, 1));
    ct_tensor *pcy = ct_add(ct_mul(d[1], h1), ct_unsqueeze(ctr_y, 1));
    ct_tensor *pw = ct_mul(ct_exp(dw), w1), *ph = ct_mul(ct_exp(dh), h1);
    /* torch.tensor(0.5) * pred_w */
    ct_tensor *cw = ct_mul_scalar(pw, 0.5), *ch = ct_mul_scalar(ph, 0.5);
    const ct_tensor *parts[4] = {ct_sub(pcx, cw), ct_sub(pcy, ch), ct_add(pcx, cw), ct_add(pcy, ch)};
    ct_tensor *st = ct_stack(parts, 4, 2); /* [N,k,4] */
    if (st) out = ct_scope_keep(st);
    else bc_fail("decode", rel_codes, boxes);
    ct_scope_end();
    return out;
}

ct_tensor *bc_encode(const bc_coder *c, const ct_tensor *reference_boxes, const ct_tensor *proposals) {
    if (!c || !reference_boxes || !proposals) {
        hnd_error_set("box coder encode: NULL argument");
        return NULL;
    }
    ct_scope_begin();
    ct_tensor *out = NULL;
    const ct_tensor *g = reference_boxes, *p = proposals;
    ct_tensor *px1 = ct_select(p, 1, 0), *py1 = ct_select(p, 1, 1);
    ct_tensor *ex_w = ct_sub(ct_select(p, 1, 2), px1), *ex_h = ct_sub(ct_select(p, 1, 3), py1);
    ct_tensor *ex_cx = ct_add(px1, ct_mul_scalar(ex_w, 0.5)), *ex_cy = ct_add(py1, ct_mul_scalar(ex_h, 0.5));
    ct_tensor *gx1 = ct_select(g, 1, 0), *gy1 = ct_select(g, 1, 1);
    ct_tensor *gt_w = ct_sub(ct_select(g, 1, 2), gx1), *gt_h = ct_sub(ct_select(g, 1, 3), gy1);
    ct_tensor *gt_cx = ct_add(gx1, ct_mul_scalar(gt_w, 0.5)), *gt_cy = ct_add(gy1, ct_mul_scalar(gt_h, 0.5));
    /* wx * (gt_ctr_x - ex_ctr_x) / ex_widths ; ww * log(gt_w / ex_w) */
    const ct_tensor *t[4] = {
        ct_div(ct_mul_scalar(ct_sub(gt_cx, ex_cx), c->weights[0]), ex_w),
        ct_div(ct_mul_scalar(ct_sub(gt_cy, ex_cy), c->weights[1]), ex_h),
        ct_mul_scalar(ct_log(ct_div(gt_w, ex_w)), c->weights[2]),
        ct_mul_scalar(ct_log(ct_div(gt_h, ex_h)), c->weights[3]),
    };
    ct_tensor *st = ct_stack(t, 4, 1);
    if (st) out = ct_scope_keep(st);
    else bc_fail("encode", reference_boxes, proposals);
    ct_scope_end();
    return out;
}
