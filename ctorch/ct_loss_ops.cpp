// ct_loss_ops.cpp: operators of the detection training losses (see
// ct_loss_ops.h): RoIAlign with adaptive sampling, computed separably, and
// randperm.
#include "ct_loss_ops.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "ct_internal.hpp"

using namespace ct;

namespace {

// One axis of RoIAlign for K RoIs as a dense weight matrix [K, P, size]:
// row p of RoI k holds, for each position 0..size-1 of the axis, the summed
// bilinear weights of the n_k samples of bin p, divided by max(n_k, 1).
// start/bin: [K] floats (torchvision's roi_start and bin_size), n: [K] int64
// sample counts (S = their maximum, > 0). Sample positions, the validity
// test (-1 <= c <= size), the clamp to 0 and the border rule are those of
// torchvision's bilinear_interpolate, in its float order.
at::Tensor axis_weights(const at::Tensor &start, const at::Tensor &bin, const at::Tensor &n,
                        int64_t S, int64_t P, int64_t size) {
    const int64_t K = start.size(0);
    auto opts = start.options();
    at::Tensor p = at::arange(P, opts).view({1, P, 1});
    at::Tensor i = at::arange(S, opts).add(0.5).view({1, 1, S});
    at::Tensor nf = n.to(start.scalar_type()).view({K, 1, 1});
    at::Tensor b = bin.view({K, 1, 1});
    // roi_start + p * bin + ((i + .5) * bin) / n
    at::Tensor c = (start.view({K, 1, 1}) + p * b) + (i * b) / nf.clamp_min(1.0);
    at::Tensor valid = (c >= -1.0).logical_and(c <= (double)size).logical_and(i < nf);
    c = c.clamp_min(0);
    at::Tensor lo = c.to(at::kLong);
    at::Tensor top = lo >= size - 1;
    at::Tensor last = at::full_like(lo, size - 1);
    lo = at::where(top, last, lo);
    at::Tensor hi = at::where(top, lo, lo + 1);
    c = at::where(top, lo.to(c.scalar_type()), c);
    at::Tensor l = c - lo.to(c.scalar_type());
    at::Tensor h = 1.0 - l;
    at::Tensor zero = at::zeros_like(l);
    at::Tensor w_lo = at::where(valid, h, zero), w_hi = at::where(valid, l, zero);
    at::Tensor A = at::zeros({K, P, size}, opts);
    A = A.scatter_add(2, lo.expand({K, P, S}).contiguous(), w_lo.expand({K, P, S}).contiguous());
    A = A.scatter_add(2, hi.expand({K, P, S}).contiguous(), w_hi.expand({K, P, S}).contiguous());
    return A / nf.clamp_min(1.0);
}

// First and one-past-last index of the non-zero entries of a 1-D bool
// tensor (on any device); {0, 0} when none.
std::pair<int64_t, int64_t> support(const at::Tensor &any) {
    at::Tensor nz = any.nonzero().view({-1}).to(at::kCPU);
    if (nz.numel() == 0) return {0, 0};
    const int64_t *v = nz.data_ptr<int64_t>();
    return {v[0], v[nz.numel() - 1] + 1};
}

}  // namespace

extern "C" {

ct_tensor *ct_roi_align_adaptive(const ct_tensor *input, const ct_tensor *rois, double spatial_scale,
                                 int64_t out_h, int64_t out_w, int sampling_ratio, int aligned) {
    return guard("roi_align_adaptive", {A("input", input), A("rois", rois)}, (ct_tensor *)nullptr, [&] {
        const at::Tensor &x = input->t;
        if (x.dim() != 4) raise("input must be [B,C,H,W], got " + shape_str(x.sizes()));
        if (!x.is_floating_point()) raise("input must be a floating-point tensor");
        if (rois->t.dim() != 2 || rois->t.size(1) != 5)
            raise("rois must be [K,5] (batch index, x1, y1, x2, y2), got " + shape_str(rois->t.sizes()));
        if (out_h <= 0 || out_w <= 0) raise("output size must be positive");
        const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
        at::Tensor r = rois->t.to(x.device()).to(x.scalar_type());
        const int64_t K = r.size(0);
        if (K == 0) return wrap(at::zeros({0, C, out_h, out_w}, x.options()));
        const double off = aligned ? 0.5 : 0.0;
        at::Tensor x1 = r.select(1, 1) * spatial_scale - off, y1 = r.select(1, 2) * spatial_scale - off;
        at::Tensor x2 = r.select(1, 3) * spatial_scale - off, y2 = r.select(1, 4) * spatial_scale - off;
        at::Tensor rw = x2 - x1, rh = y2 - y1;
        if (!aligned) {
            rw = rw.clamp_min(1.0);
            rh = rh.clamp_min(1.0);
        }
        at::Tensor bh = rh / (double)out_h, bw = rw / (double)out_w;
        auto lopt = x.options().dtype(at::kLong);
        at::Tensor ny, nx;
        if (sampling_ratio > 0) {
            ny = at::full({K}, sampling_ratio, lopt);
            nx = ny;
        } else {   // ceil(roi_height / pooled_height), float division as torchvision
            ny = at::ceil(bh).to(at::kLong);
            nx = at::ceil(bw).to(at::kLong);
        }
        const int64_t Sy = ny.max().item<int64_t>(), Sx = nx.max().item<int64_t>();
        at::Tensor batch = r.select(1, 0).to(at::kLong).to(at::kCPU).contiguous();
        const int64_t *bp = batch.data_ptr<int64_t>();
        std::map<int64_t, std::vector<int64_t>> groups;
        for (int64_t k = 0; k < K; k++) {
            if (bp[k] < 0 || bp[k] >= B)
                raise("roi " + std::to_string(k) + ": batch index " + std::to_string(bp[k]) +
                      " outside [0, " + std::to_string(B) + ")");
            groups[bp[k]].push_back(k);
        }
        if (Sy <= 0 || Sx <= 0) return wrap(at::zeros({K, C, out_h, out_w}, x.options()));
        at::Tensor Ay = axis_weights(y1, bh, ny, Sy, out_h, H);   // [K,out_h,H]
        at::Tensor Ax = axis_weights(x1, bw, nx, Sx, out_w, W);   // [K,out_w,W]
        std::vector<at::Tensor> parts;
        std::vector<int64_t> order;
        order.reserve((size_t)K);
        for (auto &g : groups) {
            const int64_t b = g.first;
            at::Tensor sel = at::tensor(g.second, at::kLong).to(x.device());
            at::Tensor ay = Ay.index_select(0, sel), ax = Ax.index_select(0, sel);
            auto ry = support(ay.ne(0).any(0).any(0));
            auto rx = support(ax.ne(0).any(0).any(0));
            const int64_t Kg = sel.size(0), h = ry.second - ry.first, w = rx.second - rx.first;
            order.insert(order.end(), g.second.begin(), g.second.end());
            if (h == 0 || w == 0) {
                parts.push_back(at::zeros({Kg, C, out_h, out_w}, x.options()));
                continue;
            }
            ay = ay.narrow(2, ry.first, h);                       // [Kg,out_h,h]
            ax = ax.narrow(2, rx.first, w).transpose(1, 2);       // [Kg,w,out_w]
            at::Tensor f = x.select(0, b).narrow(1, ry.first, h).narrow(2, rx.first, w);
            at::Tensor fm = f.permute({1, 0, 2}).reshape({h, C * w});   // [h, C*w]
            // chunks of RoIs keep the [chunk*out_h, C*w] intermediate bounded
            const int64_t per = std::max<int64_t>(1, (int64_t)(1 << 24) / std::max<int64_t>(1, out_h * C * w));
            for (int64_t s = 0; s < Kg; s += per) {
                const int64_t kc = std::min(per, Kg - s);
                at::Tensor t = at::matmul(ay.narrow(0, s, kc).reshape({kc * out_h, h}), fm);
                t = t.view({kc, out_h, C, w}).permute({0, 2, 1, 3});             // [kc,C,out_h,w]
                parts.push_back(at::matmul(t, ax.narrow(0, s, kc).unsqueeze(1))); // [kc,C,out_h,out_w]
            }
        }
        at::Tensor out = at::cat(parts, 0);
        at::Tensor ord = at::tensor(order, at::kLong).to(x.device());
        at::Tensor inv = at::empty_like(ord).scatter_(0, ord, at::arange(K, ord.options()));
        return wrap(out.index_select(0, inv).contiguous());
    });
}

ct_tensor *ct_randperm(int64_t n, ct_device dev) {
    return guard("randperm", {}, (ct_tensor *)nullptr, [&] {
        if (n < 0) raise("n must be >= 0, got " + std::to_string(n));
        return wrap(at::randperm(n, at::TensorOptions().dtype(at::kLong).device(to_device(dev))));
    });
}

}  // extern "C"
