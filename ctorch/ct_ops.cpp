// ct_ops.cpp: arithmetic, comparisons, reductions, nn operations, losses,
// sorting and selection. Each entry point is a thin guard around one ATen
// call; only interpolate and frozen_batch_norm carry logic of their own.
#include "ct_internal.hpp"

#include <cmath>

using namespace ct;

namespace {

#define CT_BINARY(name, opname, expr)                                                   \
    ct_tensor *name(const ct_tensor *a_, const ct_tensor *b_) {                         \
        return guard(opname, {A("a", a_), A("b", b_)}, (ct_tensor *)nullptr, [&] {      \
            const at::Tensor &a = a_->t;                                                \
            const at::Tensor &b = b_->t;                                                \
            return wrap(expr);                                                          \
        });                                                                             \
    }

#define CT_SCALAR(name, opname, expr)                                                   \
    ct_tensor *name(const ct_tensor *a_, double s) {                                    \
        return guard(opname, {A("input", a_)}, (ct_tensor *)nullptr, [&] {              \
            const at::Tensor &a = a_->t;                                                \
            return wrap(expr);                                                          \
        });                                                                             \
    }

at::IntArrayRef pair(const int64_t *p, const char *what) {
    if (!p) raise(std::string(what) + " is NULL");
    return at::IntArrayRef(p, 2);
}

c10::optional<at::Scalar> bound(double v) {
    if (std::isnan(v)) return c10::nullopt;
    return at::Scalar(v);
}

// Two outputs (values, indices) into optional out-pointers.
int put2(std::tuple<at::Tensor, at::Tensor> r, ct_tensor **values, ct_tensor **indices) {
    ct_tensor *v = nullptr;
    if (values) v = wrap(std::get<0>(std::move(r)));
    if (indices) {
        try {
            *indices = wrap(std::get<1>(std::move(r)));
        } catch (...) {
            ct_destroy(v);
            throw;
        }
    }
    if (values) *values = v;
    return 0;
}

}  // namespace

extern "C" {

// ------------------------------------------------------------- arithmetic --

CT_BINARY(ct_add, "add", at::add(a, b))
CT_BINARY(ct_sub, "sub", at::sub(a, b))
CT_BINARY(ct_mul, "mul", at::mul(a, b))
CT_BINARY(ct_div, "div", at::div(a, b))
CT_SCALAR(ct_add_scalar, "add_scalar", at::add(a, at::Scalar(s)))
CT_SCALAR(ct_sub_scalar, "sub_scalar", at::sub(a, at::Scalar(s)))
CT_SCALAR(ct_mul_scalar, "mul_scalar", at::mul(a, at::Scalar(s)))
CT_SCALAR(ct_div_scalar, "div_scalar", at::div(a, at::Scalar(s)))

int ct_add_(ct_tensor *a, const ct_tensor *b, double alpha) {
    return guard("add_", {A("a", a), A("b", b)}, -1, [&] {
        a->t.add_(b->t, alpha);
        return 0;
    });
}

int ct_mul_scalar_(ct_tensor *a, double s) {
    return guard("mul_scalar_", {A("a", a)}, -1, [&] {
        a->t.mul_(s);
        return 0;
    });
}

CT_UNARY(ct_neg, "neg", at::neg(x))
CT_UNARY(ct_exp, "exp", at::exp(x))
CT_UNARY(ct_log, "log", at::log(x))
CT_UNARY(ct_log2, "log2", at::log2(x))
CT_UNARY(ct_sqrt, "sqrt", at::sqrt(x))
CT_UNARY(ct_rsqrt, "rsqrt", at::rsqrt(x))
CT_UNARY(ct_abs, "abs", at::abs(x))
CT_UNARY(ct_floor, "floor", at::floor(x))
CT_UNARY(ct_ceil, "ceil", at::ceil(x))
CT_UNARY(ct_round, "round", at::round(x))
CT_UNARY(ct_trunc, "trunc", at::trunc(x))
CT_UNARY(ct_sigmoid, "sigmoid", at::sigmoid(x))
CT_UNARY(ct_tanh, "tanh", at::tanh(x))
CT_SCALAR(ct_pow_scalar, "pow_scalar", at::pow(a, at::Scalar(s)))

ct_tensor *ct_clamp(const ct_tensor *t, double lo, double hi) {
    return guard("clamp", {A("input", t)}, (ct_tensor *)nullptr, [&] {
        if (std::isnan(lo) && std::isnan(hi)) raise("at least one of min and max must be given");
        return wrap(at::clamp(t->t, bound(lo), bound(hi)));
    });
}

CT_SCALAR(ct_clamp_min, "clamp_min", at::clamp_min(a, at::Scalar(s)))
CT_SCALAR(ct_clamp_max, "clamp_max", at::clamp_max(a, at::Scalar(s)))
CT_BINARY(ct_minimum, "minimum", at::minimum(a, b))
CT_BINARY(ct_maximum, "maximum", at::maximum(a, b))

CT_BINARY(ct_gt, "gt", at::gt(a, b))
CT_BINARY(ct_lt, "lt", at::lt(a, b))
CT_BINARY(ct_ge, "ge", at::ge(a, b))
CT_BINARY(ct_le, "le", at::le(a, b))
CT_BINARY(ct_eq, "eq", at::eq(a, b))
CT_BINARY(ct_ne, "ne", at::ne(a, b))
CT_SCALAR(ct_gt_scalar, "gt_scalar", at::gt(a, at::Scalar(s)))
CT_SCALAR(ct_lt_scalar, "lt_scalar", at::lt(a, at::Scalar(s)))
CT_SCALAR(ct_ge_scalar, "ge_scalar", at::ge(a, at::Scalar(s)))
CT_SCALAR(ct_le_scalar, "le_scalar", at::le(a, at::Scalar(s)))
CT_SCALAR(ct_eq_scalar, "eq_scalar", at::eq(a, at::Scalar(s)))
CT_SCALAR(ct_ne_scalar, "ne_scalar", at::ne(a, at::Scalar(s)))
CT_BINARY(ct_logical_and, "logical_and", at::logical_and(a, b))
CT_BINARY(ct_logical_or, "logical_or", at::logical_or(a, b))
CT_UNARY(ct_logical_not, "logical_not", at::logical_not(x))

// ------------------------------------------------------------- reductions --

CT_UNARY(ct_sum, "sum", at::sum(x))
CT_UNARY(ct_mean, "mean", at::mean(x))
CT_UNARY(ct_max, "max", at::max(x))
CT_UNARY(ct_min, "min", at::min(x))
CT_UNARY(ct_argmax_all, "argmax_all", at::argmax(x))
CT_UNARY(ct_any, "any", at::any(x))
CT_UNARY(ct_all, "all", at::all(x))

ct_tensor *ct_sum_dim(const ct_tensor *t, int dim, int keepdim) {
    return guard("sum_dim", {A("input", t)}, (ct_tensor *)nullptr, [&] {
        int64_t d = dim;
        return wrap(at::sum(t->t, at::IntArrayRef(&d, 1), keepdim != 0));
    });
}

ct_tensor *ct_mean_dim(const ct_tensor *t, int dim, int keepdim) {
    return guard("mean_dim", {A("input", t)}, (ct_tensor *)nullptr, [&] {
        int64_t d = dim;
        return wrap(at::mean(t->t, at::IntArrayRef(&d, 1), keepdim != 0));
    });
}

ct_tensor *ct_sum_dims(const ct_tensor *t, const int64_t *dims, int n, int keepdim) {
    return guard("sum_dims", {A("input", t)}, (ct_tensor *)nullptr, [&] {
        std::vector<int64_t> v = dims_vec(dims, n, "dims");
        return wrap(at::sum(t->t, at::IntArrayRef(v), keepdim != 0));
    });
}

ct_tensor *ct_mean_dims(const ct_tensor *t, const int64_t *dims, int n, int keepdim) {
    return guard("mean_dims", {A("input", t)}, (ct_tensor *)nullptr, [&] {
        std::vector<int64_t> v = dims_vec(dims, n, "dims");
        return wrap(at::mean(t->t, at::IntArrayRef(v), keepdim != 0));
    });
}

int ct_max_dim(const ct_tensor *t, int dim, int keepdim, ct_tensor **values, ct_tensor **indices) {
    return guard("max_dim", {A("input", t)}, -1,
                 [&] { return put2(at::max(t->t, dim, keepdim != 0), values, indices); });
}

int ct_min_dim(const ct_tensor *t, int dim, int keepdim, ct_tensor **values, ct_tensor **indices) {
    return guard("min_dim", {A("input", t)}, -1,
                 [&] { return put2(at::min(t->t, dim, keepdim != 0), values, indices); });
}

ct_tensor *ct_argmax(const ct_tensor *t, int dim, int keepdim) {
    return guard("argmax", {A("input", t)}, (ct_tensor *)nullptr,
                 [&] { return wrap(at::argmax(t->t, (int64_t)dim, keepdim != 0)); });
}

ct_tensor *ct_cumsum(const ct_tensor *t, int dim) {
    return guard("cumsum", {A("input", t)}, (ct_tensor *)nullptr,
                 [&] { return wrap(at::cumsum(t->t, dim)); });
}

// --------------------------------------------------------------------- nn --

ct_tensor *ct_conv2d(const ct_tensor *x, const ct_tensor *w, const ct_tensor *b,
                     const int64_t stride[2], const int64_t padding[2],
                     const int64_t dilation[2], int64_t groups) {
    return guard("conv2d", {A("input", x), A("weight", w), Opt("bias", b)}, (ct_tensor *)nullptr,
                 [&] {
                     return wrap(at::conv2d(x->t, w->t, opt(b), pair(stride, "stride"),
                                            pair(padding, "padding"), pair(dilation, "dilation"),
                                            groups));
                 });
}

ct_tensor *ct_conv_transpose2d(const ct_tensor *x, const ct_tensor *w, const ct_tensor *b,
                               const int64_t stride[2], const int64_t padding[2],
                               const int64_t output_padding[2], int64_t groups,
                               const int64_t dilation[2]) {
    return guard("conv_transpose2d", {A("input", x), A("weight", w), Opt("bias", b)},
                 (ct_tensor *)nullptr, [&] {
                     return wrap(at::conv_transpose2d(
                         x->t, w->t, opt(b), pair(stride, "stride"), pair(padding, "padding"),
                         pair(output_padding, "output_padding"), groups,
                         pair(dilation, "dilation")));
                 });
}

// Data-parallel training sets it (ct_dist_set_sync_batch_norm): batch norm
// in training mode over the union of every rank's batch (SyncBatchNorm).
at::Tensor (*ct_sync_batch_norm_hook)(const at::Tensor &x, const c10::optional<at::Tensor> &w,
                                      const c10::optional<at::Tensor> &b, const c10::optional<at::Tensor> &rm,
                                      const c10::optional<at::Tensor> &rv, double momentum, double eps) = nullptr;

ct_tensor *ct_batch_norm(const ct_tensor *x, const ct_tensor *w, const ct_tensor *b,
                         ct_tensor *running_mean, ct_tensor *running_var, int training,
                         double momentum, double eps) {
    return guard("batch_norm",
                 {A("input", x), Opt("weight", w), Opt("bias", b), Opt("running_mean", running_mean),
                  Opt("running_var", running_var)},
                 (ct_tensor *)nullptr, [&] {
                     if (!training && (!running_mean || !running_var))
                         raise("eval mode needs running_mean and running_var");
                     if (training && ct_sync_batch_norm_hook)
                         return wrap(ct_sync_batch_norm_hook(x->t, opt(w), opt(b), opt(running_mean),
                                                             opt(running_var), momentum, eps));
                     // cudnn_enabled = true, what F.batch_norm passes by default.
                     return wrap(at::batch_norm(x->t, opt(w), opt(b), opt(running_mean),
                                                opt(running_var), training != 0, momentum, eps,
                                                true));
                 });
}

ct_tensor *ct_frozen_batch_norm(const ct_tensor *x, const ct_tensor *w, const ct_tensor *b,
                                const ct_tensor *running_mean, const ct_tensor *running_var,
                                double eps) {
    return guard("frozen_batch_norm",
                 {A("input", x), A("weight", w), A("bias", b), A("running_mean", running_mean),
                  A("running_var", running_var)},
                 (ct_tensor *)nullptr, [&] {
                     const int64_t s[4] = {1, -1, 1, 1};
                     at::IntArrayRef sh(s, 4);
                     at::Tensor ww = w->t.reshape(sh);
                     at::Tensor bb = b->t.reshape(sh);
                     at::Tensor rv = running_var->t.reshape(sh);
                     at::Tensor rm = running_mean->t.reshape(sh);
                     at::Tensor scale = ww * (rv + eps).rsqrt();
                     at::Tensor shift = bb - rm * scale;
                     return wrap(x->t * scale + shift);
                 });
}

// Frozen BN folded into the convolution before it, for inference:
// W' = W * scale[o], b' = b - rm * scale with scale = w / sqrt(rv + eps)
// (the arithmetic of ct_frozen_batch_norm). Plain tensors outside autograd.
int ct_fold_frozen_bn(const ct_tensor *conv_w, const ct_tensor *w, const ct_tensor *b,
                      const ct_tensor *running_mean, const ct_tensor *running_var, double eps,
                      int channels_last, ct_tensor **w_out, ct_tensor **b_out) {
    return guard("fold_frozen_bn",
                 {A("conv_weight", conv_w), A("weight", w), A("bias", b),
                  A("running_mean", running_mean), A("running_var", running_var)},
                 -1, [&] {
                     if (!w_out || !b_out) raise("NULL output");
                     if (conv_w->t.dim() != 4 || w->t.numel() != conv_w->t.size(0))
                         raise("needs a 4-d convolution weight with one BN channel per output");
                     c10::AutoGradMode no_grad(false);
                     at::Tensor scale = w->t * (running_var->t + eps).rsqrt();
                     at::Tensor wf = conv_w->t.detach() * scale.reshape({-1, 1, 1, 1});
                     wf = wf.contiguous(channels_last ? at::MemoryFormat::ChannelsLast
                                                      : at::MemoryFormat::Contiguous);
                     at::Tensor bf = (b->t - running_mean->t * scale).contiguous();
                     ct_tensor *wo = wrap(std::move(wf));
                     try {
                         *b_out = wrap(std::move(bf));
                     } catch (...) {
                         ct_destroy(wo);
                         throw;
                     }
                     *w_out = wo;
                     return 0;
                 });
}

int64_t ct_version(const ct_tensor *t) {
    return guard("version", {A("input", t)}, (int64_t)-1, [&] { return (int64_t)t->t._version(); });
}

CT_UNARY(ct_relu, "relu", at::relu(x))

int ct_relu_(ct_tensor *x) {
    return guard("relu_", {A("input", x)}, -1, [&] {
        at::relu_(x->t);
        return 0;
    });
}

ct_tensor *ct_max_pool2d(const ct_tensor *x, const int64_t kernel[2], const int64_t stride[2],
                         const int64_t padding[2], const int64_t dilation[2], int ceil_mode) {
    return guard("max_pool2d", {A("input", x)}, (ct_tensor *)nullptr, [&] {
        return wrap(at::max_pool2d(x->t, pair(kernel, "kernel"), pair(stride, "stride"),
                                   pair(padding, "padding"), pair(dilation, "dilation"),
                                   ceil_mode != 0));
    });
}

ct_tensor *ct_interpolate(const ct_tensor *x, ct_interp_mode mode, int64_t out_h, int64_t out_w,
                          double scale_h, double scale_w, int align_corners,
                          int recompute_scale_factor) {
    return guard("interpolate", {A("input", x)}, (ct_tensor *)nullptr, [&] {
        const at::Tensor &in = x->t;
        const int m = enum_int(mode);
        if (in.dim() != 4) raise("expects a 4-D input");
        if (m != CT_INTERP_NEAREST && m != CT_INTERP_BILINEAR && m != CT_INTERP_BICUBIC) raise("invalid mode");
        if (m == CT_INTERP_NEAREST && align_corners)
            raise("align_corners only applies to bilinear");
        std::vector<int64_t> size;
        std::vector<double> scales;
        if (out_h > 0 || out_w > 0) {
            if (out_h <= 0 || out_w <= 0) raise("both output sizes must be positive");
            if (recompute_scale_factor)
                raise("recompute_scale_factor is not meaningful with an explicit size");
            size = {out_h, out_w};
        } else {
            if (!(scale_h > 0) || !(scale_w > 0)) raise("give an output size or positive scales");
            if (recompute_scale_factor) {
                // Python: int(math.floor(float(in) * scale)), then no scales.
                size = {(int64_t)std::floor((double)in.size(2) * scale_h),
                        (int64_t)std::floor((double)in.size(3) * scale_w)};
            } else {
                scales = {scale_h, scale_w};
            }
        }
        // The ".vec" overloads, the ones torch.nn.functional.interpolate calls:
        // output size and scales are then derived exactly as in Python.
        at::OptionalIntArrayRef osize =
            size.empty() ? at::OptionalIntArrayRef() : at::OptionalIntArrayRef(at::IntArrayRef(size));
        c10::optional<at::ArrayRef<double>> oscale;
        if (!scales.empty()) oscale = at::ArrayRef<double>(scales);
        if (m == CT_INTERP_NEAREST) return wrap(at::upsample_nearest2d(in, osize, oscale));
        if (m == CT_INTERP_BICUBIC) return wrap(at::upsample_bicubic2d(in, osize, align_corners != 0, oscale));
        return wrap(at::upsample_bilinear2d(in, osize, align_corners != 0, oscale));
    });
}

ct_tensor *ct_linear(const ct_tensor *x, const ct_tensor *w, const ct_tensor *b) {
    return guard("linear", {A("input", x), A("weight", w), Opt("bias", b)}, (ct_tensor *)nullptr,
                 [&] { return wrap(at::linear(x->t, w->t, opt(b))); });
}

ct_tensor *ct_softmax(const ct_tensor *x, int dim) {
    return guard("softmax", {A("input", x)}, (ct_tensor *)nullptr,
                 [&] { return wrap(at::softmax(x->t, dim)); });
}

ct_tensor *ct_log_softmax(const ct_tensor *x, int dim) {
    return guard("log_softmax", {A("input", x)}, (ct_tensor *)nullptr,
                 [&] { return wrap(at::log_softmax(x->t, dim)); });
}

// ----------------------------------------------------------------- losses --

ct_tensor *ct_mse_loss(const ct_tensor *input, const ct_tensor *target, ct_reduction red) {
    return guard("mse_loss", {A("input", input), A("target", target)}, (ct_tensor *)nullptr,
                 [&] { return wrap(at::mse_loss(input->t, target->t, to_reduction(red))); });
}

ct_tensor *ct_l1_loss(const ct_tensor *input, const ct_tensor *target, ct_reduction red) {
    return guard("l1_loss", {A("input", input), A("target", target)}, (ct_tensor *)nullptr,
                 [&] { return wrap(at::l1_loss(input->t, target->t, to_reduction(red))); });
}

ct_tensor *ct_smooth_l1_loss(const ct_tensor *input, const ct_tensor *target, double beta,
                             ct_reduction red) {
    return guard("smooth_l1_loss", {A("input", input), A("target", target)}, (ct_tensor *)nullptr,
                 [&] {
                     if (!(beta >= 0)) raise("beta must be >= 0");
                     return wrap(
                         at::smooth_l1_loss(input->t, target->t, to_reduction(red), beta));
                 });
}

ct_tensor *ct_bce_with_logits(const ct_tensor *logits, const ct_tensor *target,
                              const ct_tensor *weight, const ct_tensor *pos_weight,
                              ct_reduction red) {
    return guard("bce_with_logits",
                 {A("logits", logits), A("target", target), Opt("weight", weight),
                  Opt("pos_weight", pos_weight)},
                 (ct_tensor *)nullptr, [&] {
                     return wrap(at::binary_cross_entropy_with_logits(
                         logits->t, target->t, opt(weight), opt(pos_weight), to_reduction(red)));
                 });
}

ct_tensor *ct_cross_entropy(const ct_tensor *logits, const ct_tensor *target,
                            const ct_tensor *weight, int64_t ignore_index, ct_reduction red) {
    return guard("cross_entropy", {A("logits", logits), A("target", target), Opt("weight", weight)},
                 (ct_tensor *)nullptr, [&] {
                     return wrap(at::cross_entropy_loss(logits->t, target->t, opt(weight),
                                                        to_reduction(red), ignore_index, 0.0));
                 });
}

// ------------------------------------------------------ sorting, selection --

int ct_sort(const ct_tensor *t, int dim, int descending, int stable, ct_tensor **values,
            ct_tensor **indices) {
    return guard("sort", {A("input", t)}, -1, [&] {
        return put2(at::sort(t->t, c10::optional<bool>(stable != 0), (int64_t)dim, descending != 0),
                    values, indices);
    });
}

int ct_argsort(const ct_tensor *t, int dim, int descending, int stable, ct_tensor **indices) {
    return guard("argsort", {A("input", t)}, -1, [&] {
        if (!indices) raise("indices is NULL");
        return put2(at::sort(t->t, c10::optional<bool>(stable != 0), (int64_t)dim, descending != 0),
                    nullptr, indices);
    });
}

int ct_topk(const ct_tensor *t, int64_t k, int dim, int largest, int sorted, ct_tensor **values,
            ct_tensor **indices) {
    return guard("topk", {A("input", t)}, -1, [&] {
        return put2(at::topk(t->t, k, dim, largest != 0, sorted != 0), values, indices);
    });
}

CT_UNARY(ct_nonzero, "nonzero", at::nonzero(x))

ct_tensor *ct_gather(const ct_tensor *t, int dim, const ct_tensor *index) {
    return guard("gather", {A("input", t), A("index", index, 3)}, (ct_tensor *)nullptr,
                 [&] { return wrap(at::gather(t->t, dim, index->t)); });
}

}  // extern "C"
