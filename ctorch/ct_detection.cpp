// ct_detection.cpp: torchvision.ops for the R-CNNs (RoIAlign, NMS, box
// helpers), composed from ATen so they run on every device. See
// ct_detection.h for the semantics.
#include "ct_detection.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "ct_internal.hpp"

using namespace ct;

namespace {

// One axis of RoIAlign's sampling grid for every RoI: P bins of sr samples.
// start/bin [K] (float), size [K] (int64, the feature map's extent).
// Returns (valid, lo, hi, l, h), each [K, P*sr]; torchvision's
// bilinear_interpolate, axis by axis (the 2-D weights are products).
struct Axis {
    at::Tensor valid, lo, hi, l, h;
};

Axis grid_axis(const at::Tensor &start, const at::Tensor &bin, int64_t P, int64_t sr,
               const at::Tensor &size) {
    auto opts = start.options();
    at::Tensor p = at::arange(P, opts).repeat_interleave(sr);
    at::Tensor i = at::arange(sr, opts).add(0.5).repeat({P});
    // roi_start + p * bin + ((i + .5) * bin) / sr, in torchvision's order.
    at::Tensor b = bin.unsqueeze(1);
    at::Tensor c = (start.unsqueeze(1) + p.unsqueeze(0) * b) + (i.unsqueeze(0) * b) / (double)sr;
    at::Tensor sz = size.unsqueeze(1);
    Axis a;
    a.valid = (c >= -1.0).logical_and(c <= sz.to(c.scalar_type()));
    c = c.clamp_min(0);
    at::Tensor lo = c.to(at::kLong);
    at::Tensor last = (sz - 1).expand_as(lo);
    at::Tensor top = lo >= last;
    lo = at::where(top, last, lo);
    a.hi = at::where(top, lo, lo + 1);
    c = at::where(top, lo.to(c.scalar_type()), c);
    a.l = c - lo.to(c.scalar_type());
    a.h = 1.0 - a.l;
    a.lo = lo;
    return a;
}

// The gather behind both RoIAlign entry points. table [N,C]: the feature
// maps channels-last, concatenated; per RoI: scale [K] (float), H, W, base
// [K] (int64, base = first row of the RoI's image in table).
at::Tensor roi_align_rows(const at::Tensor &table, const at::Tensor &rois, const at::Tensor &scale,
                          const at::Tensor &H, const at::Tensor &W, const at::Tensor &base,
                          int64_t PH, int64_t PW, int64_t sr, bool aligned) {
    const int64_t K = rois.size(0), C = table.size(1);
    if (K == 0) return at::zeros({0, C, PH, PW}, table.options());
    const double off = aligned ? 0.5 : 0.0;
    at::Tensor x1 = rois.select(1, 1) * scale - off, y1 = rois.select(1, 2) * scale - off;
    at::Tensor x2 = rois.select(1, 3) * scale - off, y2 = rois.select(1, 4) * scale - off;
    at::Tensor rw = x2 - x1, rh = y2 - y1;
    if (!aligned) {
        rw = rw.clamp_min(1.0);
        rh = rh.clamp_min(1.0);
    }
    Axis ay = grid_axis(y1, rh / (double)PH, PH, sr, H);
    Axis ax = grid_axis(x1, rw / (double)PW, PW, sr, W);
    // y factors as [K,PH,sr,1,1,1], x factors as [K,1,1,PW,sr,1].
    auto Y = [&](const at::Tensor &t) { return t.view({K, PH, sr, 1, 1, 1}); };
    auto X = [&](const at::Tensor &t) { return t.view({K, 1, 1, PW, sr, 1}); };
    at::Tensor w = at::cat({Y(ay.h) * X(ax.h), Y(ay.h) * X(ax.l), Y(ay.l) * X(ax.h),
                            Y(ay.l) * X(ax.l)},
                           5);
    w = w * Y(ay.valid).logical_and(X(ax.valid)).to(w.scalar_type());
    w = w / (double)(sr * sr);
    at::Tensor Wk = W.view({K, 1, 1, 1, 1, 1});
    at::Tensor ylo = Y(ay.lo) * Wk, yhi = Y(ay.hi) * Wk;
    at::Tensor idx = at::cat({ylo + X(ax.lo), ylo + X(ax.hi), yhi + X(ax.lo), yhi + X(ax.hi)}, 5) +
                     base.view({K, 1, 1, 1, 1, 1});
    // Bags: one per output cell (k, ph, pw), of sr*sr*4 weighted rows.
    w = w.permute({0, 1, 3, 2, 4, 5}).reshape({-1});
    idx = idx.permute({0, 1, 3, 2, 4, 5}).reshape({-1});
    const int64_t per_bag = sr * sr * 4;
    at::Tensor offsets = at::arange(K * PH * PW, idx.options()) * per_bag;
    at::Tensor out = std::get<0>(at::embedding_bag(table, idx, offsets, false, /*mode sum*/ 0,
                                                   false, w, false));
    return out.view({K, PH, PW, C}).permute({0, 3, 1, 2}).contiguous();
}

void check_rois(const at::Tensor &rois) {
    if (rois.dim() != 2 || rois.size(1) != 5)
        raise("rois must be [K,5] (batch index, x1, y1, x2, y2), got " + shape_str(rois.sizes()));
}

// One greedy NMS pass over boxes already in decreasing score order, as
// structure-of-arrays: for each box not yet suppressed, suppress every later
// one whose IoU exceeds thr. The same arithmetic as torchvision's CPU kernel
// for every pair; the inner loop also visits suppressed boxes (they stay
// suppressed), so it runs branch-free over contiguous memory.
template <class T>
void greedy_sorted(const T *x1, const T *y1, const T *x2, const T *y2, const T *areas, int64_t m, double thr,
                   std::vector<char> &sup, std::vector<int64_t> &kept) {
    for (int64_t i = 0; i < m; i++) {
        if (sup[(size_t)i]) continue;
        kept.push_back(i);
        const T ix1 = x1[i], iy1 = y1[i], ix2 = x2[i], iy2 = y2[i], iarea = areas[i];
        char *sp = sup.data();
        for (int64_t j = i + 1; j < m; j++) {
            const T xx1 = std::max(ix1, x1[j]);
            const T yy1 = std::max(iy1, y1[j]);
            const T xx2 = std::min(ix2, x2[j]);
            const T yy2 = std::min(iy2, y2[j]);
            const T w = std::max(static_cast<T>(0), xx2 - xx1);
            const T h = std::max(static_cast<T>(0), yy2 - yy1);
            const T inter = w * h;
            const T ovr = inter / (iarea + areas[j] - inter);
            sp[j] |= (char)(ovr > thr);
        }
    }
}

// The greedy NMS of torchvision's CPU kernel. b: [N,4] contiguous CPU,
// order: indices by decreasing score, cls: categories or nullptr (then all
// boxes are one category). Returns kept indices in the order they were kept
// (decreasing score). With categories each one is its own pass: a box only
// ever suppresses boxes of its category, so the kept set is the single
// pass's, at a fraction of the comparisons (the RPN's 5 levels in training:
// a fifth; NMS was 6% of a demo teacher step before).
template <class T>
std::vector<int64_t> greedy_nms(const at::Tensor &boxes, const at::Tensor &areas_t,
                                const int64_t *order, const int64_t *cls, double thr) {
    const int64_t n = boxes.size(0);
    const T *b = boxes.data_ptr<T>();
    const T *areas = areas_t.data_ptr<T>();
    // positions in order, grouped by category (stable: score order within one)
    std::vector<int64_t> pos((size_t)n);
    for (int64_t k = 0; k < n; k++) pos[(size_t)k] = k;
    if (cls)
        std::stable_sort(pos.begin(), pos.end(),
                         [&](int64_t a, int64_t c) { return cls[order[a]] < cls[order[c]]; });
    std::vector<T> x1((size_t)n), y1((size_t)n), x2((size_t)n), y2((size_t)n), ar((size_t)n);
    for (int64_t k = 0; k < n; k++) {
        const int64_t i = order[pos[(size_t)k]];
        x1[(size_t)k] = b[4 * i], y1[(size_t)k] = b[4 * i + 1];
        x2[(size_t)k] = b[4 * i + 2], y2[(size_t)k] = b[4 * i + 3];
        ar[(size_t)k] = areas[i];
    }
    std::vector<char> sup((size_t)n, 0);
    std::vector<int64_t> kept, kept_pos;
    for (int64_t g0 = 0; g0 < n;) {
        int64_t g1 = g0 + 1;
        if (cls)
            while (g1 < n && cls[order[pos[(size_t)g1]]] == cls[order[pos[(size_t)g0]]]) g1++;
        else
            g1 = n;
        kept.clear();
        greedy_sorted<T>(x1.data() + g0, y1.data() + g0, x2.data() + g0, y2.data() + g0, ar.data() + g0, g1 - g0,
                         thr, sup, kept);
        // sup is indexed from the group's start: clear what this group used
        for (int64_t k : kept) kept_pos.push_back(pos[(size_t)(g0 + k)]);
        std::fill(sup.begin(), sup.begin() + (g1 - g0), 0);
        g0 = g1;
    }
    std::sort(kept_pos.begin(), kept_pos.end());   // back to decreasing score
    std::vector<int64_t> keep;
    keep.reserve(kept_pos.size());
    for (int64_t p : kept_pos) keep.push_back(order[p]);
    return keep;
}

at::Tensor area_of(const at::Tensor &b) {
    return (b.select(-1, 2) - b.select(-1, 0)) * (b.select(-1, 3) - b.select(-1, 1));
}

void check_boxes(const at::Tensor &boxes, const at::Tensor &scores) {
    if (boxes.dim() != 2 || boxes.size(1) != 4)
        raise("boxes must be [N,4], got " + shape_str(boxes.sizes()));
    if (scores.dim() != 1 || scores.size(0) != boxes.size(0))
        raise("scores must be [N] with N = boxes.size(0), got " + shape_str(scores.sizes()));
    if (!boxes.is_floating_point()) raise("boxes must be a floating-point tensor");
}

// NMS on the CPU copies of boxes/scores (cls optional). Returns kept indices
// (int64, CPU) in decreasing score order.
at::Tensor nms_impl(const at::Tensor &boxes_in, const at::Tensor &scores_in,
                    const at::Tensor *cls_in, double thr) {
    at::Tensor boxes = boxes_in.detach().to(at::kCPU).contiguous();
    at::Tensor scores = scores_in.detach().to(at::kCPU);
    const int64_t n = boxes.size(0);
    if (n == 0) return at::empty({0}, at::kLong);
    if (boxes.scalar_type() != at::kFloat && boxes.scalar_type() != at::kDouble)
        boxes = boxes.to(at::kFloat);
    at::Tensor areas = area_of(boxes).contiguous();
    at::Tensor order = std::get<1>(scores.sort(/*stable=*/true, 0, /*descending=*/true)).contiguous();
    at::Tensor cls;
    if (cls_in) cls = cls_in->detach().to(at::kCPU).to(at::kLong).contiguous();
    const int64_t *cp = cls_in ? cls.data_ptr<int64_t>() : nullptr;
    std::vector<int64_t> keep;
    if (boxes.scalar_type() == at::kDouble)
        keep = greedy_nms<double>(boxes, areas, order.data_ptr<int64_t>(), cp, thr);
    else
        keep = greedy_nms<float>(boxes, areas, order.data_ptr<int64_t>(), cp, thr);
    return at::tensor(keep, at::kLong);
}

}  // namespace

extern "C" {

ct_tensor *ct_roi_align(const ct_tensor *input, const ct_tensor *rois, double spatial_scale,
                        int64_t out_h, int64_t out_w, int sampling_ratio, int aligned) {
    return guard("roi_align", {A("input", input), A("rois", rois)}, (ct_tensor *)nullptr, [&] {
        const at::Tensor &x = input->t;
        if (x.dim() != 4) raise("input must be [B,C,H,W]");
        check_rois(rois->t);
        if (out_h <= 0 || out_w <= 0) raise("output size must be positive");
        if (sampling_ratio <= 0) raise("sampling_ratio must be > 0 (adaptive sampling is not supported)");
        const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
        at::Tensor r = rois->t.to(x.scalar_type());
        const int64_t K = r.size(0);
        auto lopt = x.options().dtype(at::kLong);
        at::Tensor table = x.permute({0, 2, 3, 1}).reshape({B * H * W, C});
        at::Tensor base = r.select(1, 0).to(at::kLong) * (H * W);
        at::Tensor scale = at::full({K}, spatial_scale, x.options());
        return wrap(roi_align_rows(table, r, scale, at::full({K}, H, lopt), at::full({K}, W, lopt),
                                   base, out_h, out_w, sampling_ratio, aligned != 0));
    });
}

ct_tensor *ct_roi_align_multilevel(const ct_tensor *const *features, int n, const ct_tensor *rois,
                                   const ct_tensor *levels, const double *scales, int64_t out_h,
                                   int64_t out_w, int sampling_ratio, int aligned) {
    return guard("roi_align_multilevel", {A("rois", rois), A("levels", levels)},
                 (ct_tensor *)nullptr, [&] {
        if (!features || n <= 0) raise("no feature maps");
        if (!scales) raise("scales is NULL");
        check_rois(rois->t);
        if (sampling_ratio <= 0) raise("sampling_ratio must be > 0 (adaptive sampling is not supported)");
        if (out_h <= 0 || out_w <= 0) raise("output size must be positive");
        std::vector<at::Tensor> rows;
        std::vector<int64_t> hs, ws, starts;
        int64_t B = -1, C = -1, start = 0;
        for (int l = 0; l < n; l++) {
            if (!features[l]) raise(null_arg("feature map " + std::to_string(l) + " is NULL"));
            const at::Tensor &f = features[l]->t;
            if (f.dim() != 4) raise("feature map " + std::to_string(l) + " must be [B,C,H,W], got " +
                                    shape_str(f.sizes()));
            if (l == 0) {
                B = f.size(0);
                C = f.size(1);
            } else if (f.size(0) != B || f.size(1) != C) {
                raise("feature map " + std::to_string(l) + " " + shape_str(f.sizes()) +
                      " does not match feature map 0 in batch or channels");
            }
            rows.push_back(f.permute({0, 2, 3, 1}).reshape({-1, C}));
            hs.push_back(f.size(2));
            ws.push_back(f.size(3));
            starts.push_back(start);
            start += f.size(0) * f.size(2) * f.size(3);
        }
        const at::Tensor &f0 = features[0]->t;
        at::Tensor table = n == 1 ? rows[0] : at::cat(rows, 0);
        at::Tensor r = rois->t.to(f0.scalar_type());
        at::Tensor lv = levels->t.to(f0.device()).to(at::kLong);
        if (lv.dim() != 1 || lv.size(0) != r.size(0))
            raise("levels must be [K] with K = rois.size(0), got " + shape_str(lv.sizes()));
        if (lv.numel() > 0) {
            int64_t lmin = lv.min().item<int64_t>(), lmax = lv.max().item<int64_t>();
            if (lmin < 0 || lmax >= n) raise("levels out of range [0, " + std::to_string(n) + ")");
        }
        auto lopt = f0.options().dtype(at::kLong);
        at::Tensor Hl = at::tensor(hs, at::kLong).to(f0.device());
        at::Tensor Wl = at::tensor(ws, at::kLong).to(f0.device());
        at::Tensor Sl = at::tensor(starts, at::kLong).to(f0.device());
        at::Tensor scl = at::tensor(std::vector<double>(scales, scales + n), at::kDouble)
                             .to(f0.scalar_type()).to(f0.device());
        at::Tensor H = Hl.index_select(0, lv), W = Wl.index_select(0, lv);
        at::Tensor base = Sl.index_select(0, lv) + r.select(1, 0).to(at::kLong) * H * W;
        (void)lopt;
        return wrap(roi_align_rows(table, r, scl.index_select(0, lv), H, W, base, out_h, out_w,
                                   sampling_ratio, aligned != 0));
    });
}

ct_tensor *ct_nms(const ct_tensor *boxes, const ct_tensor *scores, double iou_threshold) {
    return guard("nms", {A("boxes", boxes), A("scores", scores)}, (ct_tensor *)nullptr, [&] {
        check_boxes(boxes->t, scores->t);
        return wrap(nms_impl(boxes->t, scores->t, nullptr, iou_threshold).to(boxes->t.device()));
    });
}

ct_tensor *ct_batched_nms(const ct_tensor *boxes, const ct_tensor *scores, const ct_tensor *idxs,
                          double iou_threshold) {
    return guard("batched_nms", {A("boxes", boxes), A("scores", scores), A("idxs", idxs)},
                 (ct_tensor *)nullptr, [&] {
        const at::Tensor &b = boxes->t, &s = scores->t, &c = idxs->t;
        check_boxes(b, s);
        if (c.dim() != 1 || c.size(0) != b.size(0))
            raise("idxs must be [N] with N = boxes.size(0)");
        if (b.numel() == 0) return wrap(at::empty({0}, b.options().dtype(at::kLong)));
        const int64_t limit = b.device().is_cpu() ? 4000 : 20000;
        at::Tensor keep;
        if (b.numel() > limit) {
            // torchvision's per-category loop: the kept set of a single
            // greedy pass that only compares boxes of the same category,
            // returned in index order, then sorted by decreasing score.
            keep = nms_impl(b, s, &c, iou_threshold);
            keep = std::get<0>(keep.sort());
            at::Tensor ks = s.detach().to(at::kCPU).index_select(0, keep);
            at::Tensor ord = std::get<1>(ks.sort(/*stable=*/true, 0, /*descending=*/true));
            keep = keep.index_select(0, ord);
        } else {
            // The coordinate trick, with torchvision's arithmetic.
            at::Tensor bd = b.detach();
            at::Tensor maxc = bd.max();
            at::Tensor offsets = c.to(bd.scalar_type()) * (maxc + at::ones({}, bd.options()));
            keep = nms_impl(bd + offsets.unsqueeze(1), s, nullptr, iou_threshold);
        }
        return wrap(keep.to(b.device()));
    });
}

ct_tensor *ct_box_area(const ct_tensor *boxes) {
    return guard("box_area", {A("boxes", boxes)}, (ct_tensor *)nullptr, [&] {
        if (boxes->t.size(-1) != 4) raise("boxes must be [...,4]");
        return wrap(area_of(boxes->t));
    });
}

ct_tensor *ct_box_iou(const ct_tensor *boxes1, const ct_tensor *boxes2) {
    return guard("box_iou", {A("boxes1", boxes1), A("boxes2", boxes2)}, (ct_tensor *)nullptr, [&] {
        const at::Tensor &a = boxes1->t, &b = boxes2->t;
        if (a.dim() != 2 || a.size(1) != 4 || b.dim() != 2 || b.size(1) != 4)
            raise("boxes must be [N,4] and [M,4]");
        at::Tensor area1 = area_of(a), area2 = area_of(b);
        at::Tensor lt = at::max(a.unsqueeze(1).narrow(2, 0, 2), b.narrow(1, 0, 2));
        at::Tensor rb = at::min(a.unsqueeze(1).narrow(2, 2, 2), b.narrow(1, 2, 2));
        at::Tensor wh = (rb - lt).clamp_min(0);
        at::Tensor inter = wh.select(2, 0) * wh.select(2, 1);
        at::Tensor uni = area1.unsqueeze(1) + area2 - inter;
        return wrap(inter / uni);
    });
}

ct_tensor *ct_clip_boxes_to_image(const ct_tensor *boxes, int64_t height, int64_t width) {
    return guard("clip_boxes_to_image", {A("boxes", boxes)}, (ct_tensor *)nullptr, [&] {
        const at::Tensor &b = boxes->t;
        if (b.dim() < 1 || b.size(-1) != 4) raise("boxes must be [...,4]");
        const int64_t d = b.dim();
        at::Tensor bx = b.slice(d - 1, 0, 4, 2).clamp(0, width);
        at::Tensor by = b.slice(d - 1, 1, 4, 2).clamp(0, height);
        return wrap(at::stack({bx, by}, d).reshape(b.sizes()));
    });
}

ct_tensor *ct_remove_small_boxes(const ct_tensor *boxes, double min_size) {
    return guard("remove_small_boxes", {A("boxes", boxes)}, (ct_tensor *)nullptr, [&] {
        const at::Tensor &b = boxes->t;
        if (b.dim() != 2 || b.size(1) != 4) raise("boxes must be [N,4]");
        at::Tensor ws = b.select(1, 2) - b.select(1, 0), hs = b.select(1, 3) - b.select(1, 1);
        at::Tensor keep = (ws >= min_size).logical_and(hs >= min_size);
        return wrap(at::where(keep)[0]);
    });
}

int ct_move_to_device_(ct_tensor *t, ct_device dev) {
    return guard("move_to_device_", {A("tensor", t)}, -1, [&] {
        c10::Device d = to_device(dev);
        if (t->t.device() == d) return 0;
        at::Tensor moved = t->t.detach().to(d);
        t->t.set_data(moved);
        return 0;
    });
}

}  // extern "C"
