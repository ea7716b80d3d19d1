/* ctorch.h: the C API over libtorch, the only header C code includes to use
 * tensors. Everything behind it (ct_core.cpp, ct_ops.cpp, ct_optim.cpp) is C++;
 * nothing of C++ leaks through: no exception, no libtorch type, no libtorch enum.
 *
 * Conventions (the same for every function, so callers need not look them up):
 *
 *  - One prefix, `ct_`. Functions ending in `_` modify their first argument in
 *    place (PyTorch's convention) and return 0 / -1.
 *  - Handles are opaque (`ct_tensor *`). Tensor arguments are BORROWED: the
 *    call never frees or keeps them (optimizers keep their own reference to the
 *    parameters, see ct_optim_*). Every returned `ct_tensor *` is a NEW handle
 *    OWNED by the caller, released with ct_destroy() or by the enclosing scope.
 *    Views (reshape, narrow, permute, ...) return new handles that share
 *    storage with their input, exactly like torch views.
 *  - Failure is reported by the return value: NULL for functions returning a
 *    handle, -1 for functions returning int / int64_t (they return 0 or a
 *    non-negative count on success). The reason is left in a thread-local
 *    message, ct_last_error(), which names the operation and the shapes of its
 *    arguments, e.g.
 *        "conv2d: input [1,3,8,8] vs weight [4,2,3,3]: Given groups=1, ..."
 *    A successful call does NOT clear the message (like errno); read it right
 *    after a failure. libtorch's C++ backtraces are stripped.
 *  - A NULL tensor argument is an error, not a crash ("add: argument 2 (b) is
 *    NULL"), unless the documentation says the argument is optional (biases,
 *    weights of losses, ...). When the previous ct_ call on this thread
 *    failed, its message is kept after the new one, so nesting calls loses
 *    nothing: ct_flatten(ct_nonzero(x), 0, -1) after a failing nonzero says
 *    "flatten: argument 1 (input) is NULL (after: nonzero: ...)". A
 *    successful call ends that link (the message itself stays, see above).
 *  - Shapes are `const int64_t *shape, int ndim` (ndim <= CT_MAX_DIMS for the
 *    functions that fill caller arrays). Negative dims count from the end.
 *  - Scalars are passed as double; they are converted to the tensor's dtype the
 *    way PyTorch converts Python numbers.
 *
 * Memory: scopes (arenas). A network forward creates hundreds of temporaries;
 * freeing each by hand is error-prone in C. ct_scope_begin() opens a
 * thread-local scope; every handle created on this thread while it is open is
 * registered in the innermost scope; ct_scope_end() frees every handle still
 * registered. ct_scope_keep(t) moves t one scope outwards (or makes it
 * unscoped when the scope is the outermost), which is how a forward returns its
 * result:
 *
 *     ct_scope_begin();
 *     ct_tensor *h = ct_conv2d(x, w, NULL, s, p, d, 1);   // temporary
 *     ct_tensor *y = ct_scope_keep(ct_relu(h));            // survives
 *     ct_scope_end();                                      // frees h
 *
 * ct_destroy() on a scoped handle unregisters it (no double free). Freeing a
 * handle releases the handle only; the storage lives as long as any other
 * handle (or the autograd graph, or an optimizer) references it. Scopes are
 * per thread: do not ct_destroy() on thread B a handle registered in a scope that
 * thread A has open. Close every scope you open; handles of scopes left open
 * at thread exit are leaked.
 */
#ifndef CTORCH_H
#define CTORCH_H

#include <stddef.h>
#include <stdint.h>

#include "ct_types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_tensor ct_tensor;
typedef struct ct_optim ct_optim;

/* ------------------------------------------------------------------------ */
/* Devices: our own numbering, independent of c10::DeviceType.               */

enum { CT_CPU = 0, CT_CUDA = 1 };

/* type: CT_CPU or CT_CUDA; index: the CUDA ordinal (ignored for the CPU; -1
 * means "the current CUDA device"). */
typedef struct {
    int type;
    int index;
} ct_device;

static inline ct_device ct_cpu(void) { ct_device d = {CT_CPU, 0}; return d; }
static inline ct_device ct_cuda(int index) { ct_device d = {CT_CUDA, index}; return d; }

/* Loss reductions; the same meaning as PyTorch's reduction="none"/"mean"/"sum". */
typedef enum { CT_REDUCE_NONE = 0, CT_REDUCE_MEAN = 1, CT_REDUCE_SUM = 2 } ct_reduction;

/* Interpolation modes of ct_interpolate. */
typedef enum { CT_INTERP_NEAREST = 0, CT_INTERP_BILINEAR = 1, CT_INTERP_BICUBIC = 2 } ct_interp_mode;

/* ------------------------------------------------------------------------ */
/* Errors, runtime, build information                                        */

/* The message of the last failure on this thread, "" if none since the last
 * ct_clear_error(). Valid until the next failing ct_ call on this thread. */
const char *ct_last_error(void);
void ct_clear_error(void);

/* One line describing the libtorch we run on: version, CUDA compiled in or
 * not and how many devices, intra-op threads, BLAS. Valid until the next call
 * on this thread. Meant for logs and `hnd info`. */
const char *ct_build_info(void);

int ct_cuda_available(void);     /* 1 if CUDA is compiled in and a GPU is usable */
int ct_cuda_device_count(void);  /* 0 without CUDA */
/* Waits for all queued work on a device: no-op on the CPU, cudaDeviceSynchronize
 * on CUDA (index -1: every CUDA device). Needed before taking wall-clock times
 * of GPU work. 0 / -1. */
int ct_device_synchronize(ct_device dev);

/* Seeds the CPU generator (and the CUDA ones when present) like torch.manual_seed. */
void ct_manual_seed(uint64_t seed);

/* Intra-op threads. Debian's libtorch starts with ONE thread; n <= 0 means
 * "all cores" (std::thread::hardware_concurrency). Returns the count now in
 * effect, or -1. */
int ct_set_num_threads(int n);
int ct_get_num_threads(void);

/* Large CPU tensors (256 KB and more) come from a cache of freed blocks
 * (ct_alloc.cpp): without it every one is a fresh mmap, page-faulted in at
 * each forward. At most HND_CPU_CACHE_MB megabytes (default 2048) are kept,
 * the oldest freed go first; HND_CPU_CACHE_MB=0 disables it. */
typedef struct {
    size_t cached_bytes;   /* parked now, ready for reuse */
    size_t limit_bytes;
    uint64_t hits, misses; /* large requests served from the cache / not */
} ct_cpu_cache_stats;
/* 1 and *s filled; 0 (and zeros) when the cache is off; -1 for s NULL. */
int ct_cpu_cache_get_stats(ct_cpu_cache_stats *s);
/* Free every parked block (e.g. before a long idle phase). 1, or 0 if off. */
int ct_cpu_cache_trim(void);

/* Number of ct_tensor handles alive in the process (all threads). A debugging
 * aid: tests use it to prove that scopes free what they should. */
int64_t ct_live_tensor_count(void);

/* ------------------------------------------------------------------------ */
/* Lifetime and scopes (see the top of this file)                            */

/* Releases a handle; NULL-safe; unregisters it from its scope. */
void ct_destroy(ct_tensor *t);
/* A second handle to the same tensor (same storage, same autograd identity);
 * e.g. to keep a parameter alive in a struct while the original handle is
 * scoped. Registered in the current scope like any new handle. */
ct_tensor *ct_share(const ct_tensor *t);

/* Opens a scope; returns the new depth (1 for the outermost). */
int ct_scope_begin(void);
/* Frees every handle still registered in the innermost scope and closes it.
 * Returns the number of handles freed, -1 if no scope is open. */
int ct_scope_end(void);
/* Moves t to the scope enclosing the one it is registered in (unscoped if
 * none); returns t (NULL passes through as NULL, so ct_scope_keep(ct_op(...))
 * is safe). An unscoped t is returned unchanged. */
ct_tensor *ct_scope_keep(ct_tensor *t);
int ct_scope_depth(void);

/* ------------------------------------------------------------------------ */
/* Creation                                                                  */

ct_tensor *ct_empty(const int64_t *shape, int ndim, ct_dtype dtype, ct_device dev);
ct_tensor *ct_zeros(const int64_t *shape, int ndim, ct_dtype dtype, ct_device dev);
ct_tensor *ct_ones(const int64_t *shape, int ndim, ct_dtype dtype, ct_device dev);
ct_tensor *ct_full(const int64_t *shape, int ndim, double value, ct_dtype dtype, ct_device dev);
/* Same shape, dtype and device as t. */
ct_tensor *ct_zeros_like(const ct_tensor *t);
ct_tensor *ct_ones_like(const ct_tensor *t);
ct_tensor *ct_full_like(const ct_tensor *t, double value);
/* A 0-dim tensor. */
ct_tensor *ct_scalar_tensor(double value, ct_dtype dtype, ct_device dev);
/* [start, end) by step, like torch.arange (float steps allowed for float dtypes). */
ct_tensor *ct_arange(double start, double end, double step, ct_dtype dtype, ct_device dev);
/* Uniform [0,1) and standard normal, from the global generator (ct_manual_seed). */
ct_tensor *ct_rand(const int64_t *shape, int ndim, ct_dtype dtype, ct_device dev);
ct_tensor *ct_randn(const int64_t *shape, int ndim, ct_dtype dtype, ct_device dev);
/* Uniform integers in [low, high). */
ct_tensor *ct_randint(int64_t low, int64_t high, const int64_t *shape, int ndim, ct_dtype dtype,
                      ct_device dev);
/* A CPU tensor holding a COPY of ndim/shape elements of dtype at data (native
 * byte order, C order). data may be NULL only when the shape has 0 elements. */
ct_tensor *ct_from_buffer(const void *data, ct_dtype dtype, int ndim, const int64_t *shape);
/* Copies t (any device, any strides) in C order into dst, which must be
 * exactly numel*ct_dtype_size(dtype) bytes: a size mismatch is an error, as it
 * nearly always means the caller has the wrong shape or dtype in mind. */
int ct_to_buffer(const ct_tensor *t, void *dst, size_t nbytes);
/* Pointer to the first element of a CPU tensor's storage, or NULL on error
 * (not a CPU tensor). Valid while a handle to t lives and t is not resized.
 * Only meaningful for contiguous tensors: fast bulk access for data loaders. */
void *ct_data_ptr(const ct_tensor *t);

/* The value of a one-element tensor (any dtype/device). 0 / -1. */
int ct_item_f64(const ct_tensor *t, double *out);
int ct_item_i64(const ct_tensor *t, int64_t *out);

/* ------------------------------------------------------------------------ */
/* Queries                                                                   */

int ct_ndim(const ct_tensor *t);
/* Writes up to max dims into out; returns ndim (which may exceed max) or -1. */
int ct_shape(const ct_tensor *t, int64_t *out, int max);
int64_t ct_size(const ct_tensor *t, int dim);
int64_t ct_numel(const ct_tensor *t);
/* A ct_dtype value, or -1 for NULL or a libtorch dtype we do not name (an int,
 * not ct_dtype, so that -1 is a legal value in C++ callers too). */
int ct_dtype_of(const ct_tensor *t);
/* {-1,-1} on error. */
ct_device ct_device_of(const ct_tensor *t);
int ct_requires_grad(const ct_tensor *t);   /* 1, 0, or -1 */
int ct_is_contiguous(const ct_tensor *t);   /* 1, 0, or -1 */
/* Writes e.g. "float32[1,3,800,1067] cpu" (or "... cuda:0", with " grad" when
 * it requires grad) into buf (always NUL-terminated when n > 0). Returns the
 * length it wanted (snprintf style) or -1. */
int ct_tensor_describe(const ct_tensor *t, char *buf, size_t n);
/* Debug: prints label, the description and (small tensors) the values to stderr. */
void ct_print(const ct_tensor *t, const char *label);

/* ------------------------------------------------------------------------ */
/* Views, indexing, copies                                                   */

/* reshape may copy; view never copies (fails on incompatible strides). One
 * dim may be -1. */
ct_tensor *ct_reshape(const ct_tensor *t, const int64_t *shape, int ndim);
ct_tensor *ct_view(const ct_tensor *t, const int64_t *shape, int ndim);
ct_tensor *ct_permute(const ct_tensor *t, const int64_t *dims, int ndim);
ct_tensor *ct_transpose(const ct_tensor *t, int dim0, int dim1);
/* Elements [start, start+length) of dim. */
ct_tensor *ct_narrow(const ct_tensor *t, int dim, int64_t start, int64_t length);
/* t[..., start:end:step, ...] with Python clamping of start/end (end may be
 * INT64_MAX for "to the end"); step >= 1. */
ct_tensor *ct_slice(const ct_tensor *t, int dim, int64_t start, int64_t end, int64_t step);
/* Removes dim, taking element index (negative counts from the end). */
ct_tensor *ct_select(const ct_tensor *t, int dim, int64_t index);
/* index: 1-D int64 (or int32) tensor. */
ct_tensor *ct_index_select(const ct_tensor *t, int dim, const ct_tensor *index);
/* Advanced indexing t[i0, i1, ...] with n index tensors (int64 or bool);
 * a NULL entry means ":" for that dim. E.g. boxes[keep] with a bool keep,
 * or scores[arange(N), labels]. */
ct_tensor *ct_index(const ct_tensor *t, const ct_tensor *const *indices, int n);
/* In place t[indices] = values (accumulate != 0: +=, duplicates summed). */
int ct_index_put_(ct_tensor *t, const ct_tensor *const *indices, int n, const ct_tensor *values,
                  int accumulate);
/* 1-D tensor of the elements of t where mask (broadcast) is true. */
ct_tensor *ct_masked_select(const ct_tensor *t, const ct_tensor *mask);
ct_tensor *ct_masked_fill(const ct_tensor *t, const ct_tensor *mask, double value);
int ct_masked_fill_(ct_tensor *t, const ct_tensor *mask, double value);
/* cond ? a : b elementwise, broadcast. */
ct_tensor *ct_where(const ct_tensor *cond, const ct_tensor *a, const ct_tensor *b);
ct_tensor *ct_unsqueeze(const ct_tensor *t, int dim);
ct_tensor *ct_squeeze(const ct_tensor *t);            /* all size-1 dims */
ct_tensor *ct_squeeze_dim(const ct_tensor *t, int dim);
ct_tensor *ct_flatten(const ct_tensor *t, int start_dim, int end_dim);
/* Broadcast view; -1 keeps a dim. */
ct_tensor *ct_expand(const ct_tensor *t, const int64_t *shape, int ndim);
ct_tensor *ct_repeat(const ct_tensor *t, const int64_t *repeats, int n);
ct_tensor *ct_flip(const ct_tensor *t, const int64_t *dims, int n);
ct_tensor *ct_contiguous(const ct_tensor *t);
/* Memory format (4-d tensors). ct_channels_last: the values in NHWC order
 * (x.contiguous(memory_format=torch.channels_last)), in the autograd graph;
 * convolutions, batch norm and pooling on such tensors take oneDNN's NHWC
 * paths and return NHWC tensors, which skips the NCHW<->blocked reorders.
 * ct_to_channels_last_: re-lays a leaf (a parameter) out in place, like
 * `p.data = p.contiguous(memory_format=torch.channels_last)`: the handle,
 * requires_grad and every alias stay valid. ct_is_channels_last: 1/0, -1 on error. */
ct_tensor *ct_channels_last(const ct_tensor *t);
int ct_to_channels_last_(ct_tensor *t);
int ct_is_channels_last(const ct_tensor *t);
/* clone: a copy that stays in the autograd graph; detach: shares storage, out
 * of the graph. */
ct_tensor *ct_clone(const ct_tensor *t);
ct_tensor *ct_detach(const ct_tensor *t);
/* In place dst.copy_(src) with broadcasting and dtype/device conversion; runs
 * under no-grad, so it can load weights into leaf parameters that require grad. */
int ct_copy_(ct_tensor *dst, const ct_tensor *src);
int ct_fill_(ct_tensor *t, double value);   /* under no-grad as well */
int ct_zero_(ct_tensor *t);
ct_tensor *ct_to_dtype(const ct_tensor *t, ct_dtype dtype);
ct_tensor *ct_to_device(const ct_tensor *t, ct_device dev);
ct_tensor *ct_cat(const ct_tensor *const *ts, int n, int dim);
ct_tensor *ct_stack(const ct_tensor *const *ts, int n, int dim);

/* ------------------------------------------------------------------------ */
/* Elementwise arithmetic (broadcasting like PyTorch)                        */

ct_tensor *ct_add(const ct_tensor *a, const ct_tensor *b);
ct_tensor *ct_sub(const ct_tensor *a, const ct_tensor *b);
ct_tensor *ct_mul(const ct_tensor *a, const ct_tensor *b);
ct_tensor *ct_div(const ct_tensor *a, const ct_tensor *b);   /* true division */
ct_tensor *ct_add_scalar(const ct_tensor *a, double s);
ct_tensor *ct_sub_scalar(const ct_tensor *a, double s);
ct_tensor *ct_mul_scalar(const ct_tensor *a, double s);
ct_tensor *ct_div_scalar(const ct_tensor *a, double s);
/* In place a += alpha * b (e.g. accumulating losses or features). */
int ct_add_(ct_tensor *a, const ct_tensor *b, double alpha);
int ct_mul_scalar_(ct_tensor *a, double s);
ct_tensor *ct_neg(const ct_tensor *a);
ct_tensor *ct_exp(const ct_tensor *a);
ct_tensor *ct_log(const ct_tensor *a);
ct_tensor *ct_log2(const ct_tensor *a);
ct_tensor *ct_sqrt(const ct_tensor *a);
ct_tensor *ct_rsqrt(const ct_tensor *a);
ct_tensor *ct_abs(const ct_tensor *a);
ct_tensor *ct_floor(const ct_tensor *a);
ct_tensor *ct_ceil(const ct_tensor *a);
ct_tensor *ct_round(const ct_tensor *a);    /* half to even, like torch.round */
ct_tensor *ct_trunc(const ct_tensor *a);
ct_tensor *ct_sigmoid(const ct_tensor *a);
ct_tensor *ct_tanh(const ct_tensor *a);
ct_tensor *ct_pow_scalar(const ct_tensor *a, double exponent);
/* Clamp with an optional bound: pass NAN for "no bound" (at least one of
 * lo/hi must be a number). clamp_min/clamp_max are the one-sided forms. */
ct_tensor *ct_clamp(const ct_tensor *a, double lo, double hi);
ct_tensor *ct_clamp_min(const ct_tensor *a, double lo);
ct_tensor *ct_clamp_max(const ct_tensor *a, double hi);
ct_tensor *ct_minimum(const ct_tensor *a, const ct_tensor *b);
ct_tensor *ct_maximum(const ct_tensor *a, const ct_tensor *b);

/* Comparisons return bool tensors. */
ct_tensor *ct_gt(const ct_tensor *a, const ct_tensor *b);
ct_tensor *ct_lt(const ct_tensor *a, const ct_tensor *b);
ct_tensor *ct_ge(const ct_tensor *a, const ct_tensor *b);
ct_tensor *ct_le(const ct_tensor *a, const ct_tensor *b);
ct_tensor *ct_eq(const ct_tensor *a, const ct_tensor *b);
ct_tensor *ct_ne(const ct_tensor *a, const ct_tensor *b);
ct_tensor *ct_gt_scalar(const ct_tensor *a, double s);
ct_tensor *ct_lt_scalar(const ct_tensor *a, double s);
ct_tensor *ct_ge_scalar(const ct_tensor *a, double s);
ct_tensor *ct_le_scalar(const ct_tensor *a, double s);
ct_tensor *ct_eq_scalar(const ct_tensor *a, double s);
ct_tensor *ct_ne_scalar(const ct_tensor *a, double s);
ct_tensor *ct_logical_and(const ct_tensor *a, const ct_tensor *b);
ct_tensor *ct_logical_or(const ct_tensor *a, const ct_tensor *b);
ct_tensor *ct_logical_not(const ct_tensor *a);

/* ------------------------------------------------------------------------ */
/* Reductions                                                                */

ct_tensor *ct_sum(const ct_tensor *t);                      /* 0-dim */
ct_tensor *ct_mean(const ct_tensor *t);
ct_tensor *ct_sum_dim(const ct_tensor *t, int dim, int keepdim);
ct_tensor *ct_mean_dim(const ct_tensor *t, int dim, int keepdim);
/* Over several dims at once (e.g. {2,3} for a global average pool). */
ct_tensor *ct_sum_dims(const ct_tensor *t, const int64_t *dims, int n, int keepdim);
ct_tensor *ct_mean_dims(const ct_tensor *t, const int64_t *dims, int n, int keepdim);
ct_tensor *ct_max(const ct_tensor *t);                      /* 0-dim */
ct_tensor *ct_min(const ct_tensor *t);
/* Values and (int64) indices along dim; either out pointer may be NULL when
 * not wanted. Ties: the index libtorch returns (the first on the CPU). 0 / -1. */
int ct_max_dim(const ct_tensor *t, int dim, int keepdim, ct_tensor **values, ct_tensor **indices);
int ct_min_dim(const ct_tensor *t, int dim, int keepdim, ct_tensor **values, ct_tensor **indices);
ct_tensor *ct_argmax(const ct_tensor *t, int dim, int keepdim);
ct_tensor *ct_argmax_all(const ct_tensor *t);               /* index into the flattened t */
ct_tensor *ct_any(const ct_tensor *t);                      /* 0-dim bool */
ct_tensor *ct_all(const ct_tensor *t);
ct_tensor *ct_cumsum(const ct_tensor *t, int dim);

/* ------------------------------------------------------------------------ */
/* Neural-network operations (NCHW)                                          */

/* bias may be NULL. stride/padding/dilation: {h, w}. */
ct_tensor *ct_conv2d(const ct_tensor *x, const ct_tensor *w, const ct_tensor *b,
                     const int64_t stride[2], const int64_t padding[2],
                     const int64_t dilation[2], int64_t groups);
/* weight [C_in, C_out/groups, kh, kw] like torch; bias may be NULL. */
ct_tensor *ct_conv_transpose2d(const ct_tensor *x, const ct_tensor *w, const ct_tensor *b,
                               const int64_t stride[2], const int64_t padding[2],
                               const int64_t output_padding[2], int64_t groups,
                               const int64_t dilation[2]);
/* torch.nn.functional.batch_norm. w, b may be NULL (affine=False). In training
 * mode the batch statistics normalise x and running_mean/var (if not NULL) are
 * updated in place: r = (1-momentum)*r + momentum*batch_stat, the variance
 * unbiased, exactly like PyTorch. In eval mode running stats are required. */
ct_tensor *ct_batch_norm(const ct_tensor *x, const ct_tensor *w, const ct_tensor *b,
                         ct_tensor *running_mean, ct_tensor *running_var, int training,
                         double momentum, double eps);
/* torchvision.ops.FrozenBatchNorm2d: scale = w * rsqrt(rv + eps),
 * shift = b - rm * scale, y = x * scale + shift with both as [1,C,1,1]. The
 * same arithmetic order as torchvision, so results match bit for bit. All
 * four statistics are required. torchvision's default eps is 1e-5. */
ct_tensor *ct_frozen_batch_norm(const ct_tensor *x, const ct_tensor *w, const ct_tensor *b,
                                const ct_tensor *running_mean, const ct_tensor *running_var,
                                double eps);
ct_tensor *ct_relu(const ct_tensor *x);
/* Inference: the frozen BN after a bias-free convolution folded into it,
 * *w_out = conv_w * scale[o] (NHWC when channels_last), *b_out = b - rm * scale,
 * scale = w / sqrt(rv + eps); conv2d(x, *w_out, *b_out) equals the frozen BN
 * of conv2d(x, conv_w) up to float rounding. Outside autograd. 0 or -1. */
int ct_fold_frozen_bn(const ct_tensor *conv_w, const ct_tensor *w, const ct_tensor *b,
                      const ct_tensor *running_mean, const ct_tensor *running_var, double eps,
                      int channels_last, ct_tensor **w_out, ct_tensor **b_out);
/* The tensor's in-place version counter (bumped by every in-place write:
 * optimizer steps, loads): caches of derived tensors compare it. -1 on error. */
int64_t ct_version(const ct_tensor *t);
int ct_relu_(ct_tensor *x);
ct_tensor *ct_max_pool2d(const ct_tensor *x, const int64_t kernel[2], const int64_t stride[2],
                         const int64_t padding[2], const int64_t dilation[2], int ceil_mode);
/* torch.nn.functional.interpolate for 4-D input, mode nearest, bilinear or
 * bicubic (Keypoint R-CNN's heatmaps_to_keypoints).
 * Give EITHER an output size (out_h, out_w > 0; the scales are then ignored)
 * OR scale factors (out_h = out_w = 0, scale_h, scale_w > 0):
 *   - output size = floor(in * scale) computed in double, as Python does;
 *   - recompute_scale_factor = 0 (PyTorch's default None/False): the kernel
 *     maps coordinates with the given scale factors;
 *   - recompute_scale_factor = 1 (what torchvision's GeneralizedRCNNTransform
 *     uses): the kernel maps with in/out sizes, as if size had been given.
 * align_corners applies to bilinear and bicubic (it must be 0 for nearest, as in torch). */
ct_tensor *ct_interpolate(const ct_tensor *x, ct_interp_mode mode, int64_t out_h, int64_t out_w,
                          double scale_h, double scale_w, int align_corners,
                          int recompute_scale_factor);
/* y = x w^T + b; b may be NULL. */
ct_tensor *ct_linear(const ct_tensor *x, const ct_tensor *w, const ct_tensor *b);
ct_tensor *ct_softmax(const ct_tensor *x, int dim);
ct_tensor *ct_log_softmax(const ct_tensor *x, int dim);

/* Losses. Same arguments and reductions as torch.nn.functional. */
ct_tensor *ct_mse_loss(const ct_tensor *input, const ct_tensor *target, ct_reduction red);
ct_tensor *ct_l1_loss(const ct_tensor *input, const ct_tensor *target, ct_reduction red);
/* beta > 0 (torchvision's detection heads use beta = 1/9). */
ct_tensor *ct_smooth_l1_loss(const ct_tensor *input, const ct_tensor *target, double beta,
                             ct_reduction red);
/* weight and pos_weight may be NULL. */
ct_tensor *ct_bce_with_logits(const ct_tensor *logits, const ct_tensor *target,
                              const ct_tensor *weight, const ct_tensor *pos_weight,
                              ct_reduction red);
/* logits [N,C] (or [N,C,d...]), target int64 class indices [N]; weight [C]
 * may be NULL; entries equal to ignore_index (PyTorch default -100) ignored. */
ct_tensor *ct_cross_entropy(const ct_tensor *logits, const ct_tensor *target,
                            const ct_tensor *weight, int64_t ignore_index, ct_reduction red);

/* ------------------------------------------------------------------------ */
/* Sorting and selection                                                     */

/* stable != 0 keeps the order of equal elements (needed for reproducible
 * NMS/top-k pipelines). values/indices may be NULL when not wanted. 0 / -1. */
int ct_sort(const ct_tensor *t, int dim, int descending, int stable, ct_tensor **values,
            ct_tensor **indices);
int ct_argsort(const ct_tensor *t, int dim, int descending, int stable, ct_tensor **indices);
int ct_topk(const ct_tensor *t, int64_t k, int dim, int largest, int sorted, ct_tensor **values,
            ct_tensor **indices);
/* Indices of non-zero elements as int64 [N, ndim]. */
ct_tensor *ct_nonzero(const ct_tensor *t);
ct_tensor *ct_gather(const ct_tensor *t, int dim, const ct_tensor *index);

/* ------------------------------------------------------------------------ */
/* Autograd                                                                  */

/* Marks a leaf tensor as a parameter (or not). 0 / -1. */
int ct_set_requires_grad(ct_tensor *t, int on);
/* Backpropagates from a one-element tensor (loss.backward()); grads
 * accumulate into the leaves' .grad as in PyTorch. 0 / -1. */
int ct_backward(const ct_tensor *loss);
/* 1 if t has a .grad, 0 if not, -1 on error. */
int ct_has_grad(const ct_tensor *t);
/* A new handle sharing t's .grad, or NULL. Because "no grad yet" is not an
 * error, ct_grad clears ct_last_error() first: NULL with an empty message
 * means "no grad", NULL with a message means failure. */
ct_tensor *ct_grad(const ct_tensor *t);
/* Zeroes t.grad in place (set_to_none = 0) or drops it (set_to_none != 0,
 * like PyTorch >= 2.0's default). No-op when there is no grad. 0 / -1. */
int ct_zero_grad(ct_tensor *t, int set_to_none);
/* Thread-local grad mode, torch.set_grad_enabled: returns the previous state,
 * so C code can write  int prev = ct_grad_set_enabled(0); ... ;
 * ct_grad_set_enabled(prev);  as its no_grad block. */
int ct_grad_set_enabled(int on);
int ct_grad_is_enabled(void);

/* ------------------------------------------------------------------------ */
/* Optimizers (ct_optim.cpp). Written with plain tensor ops under no-grad,
 * following torch.optim (PyTorch 1.13, single-tensor code paths) formula by
 * formula, so results match Python and the state is plain named tensors that
 * a checkpoint can store.
 *
 * The optimizer keeps its own reference to each parameter: the caller may free
 * its handles afterwards. Parameters are numbered 0..n-1 in the order given.
 * Parameters whose .grad is missing are skipped by a step, like PyTorch. One
 * learning rate for all parameters; schedules are computed by the caller and
 * applied with ct_optim_set_lr before a step. */

/* SGD: d = g + wd*p; buf = d on the first step, else buf = m*buf + (1-damp)*d;
 * d = nesterov ? d + m*buf : buf; p -= lr*d. */
ct_optim *ct_optim_sgd(ct_tensor *const *params, int n, double lr, double momentum,
                       double dampening, double weight_decay, int nesterov);
/* Adam (L2 weight decay added to the grad, NOT AdamW): per parameter step
 * count t; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
 * p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps) (max of v with amsgrad). */
ct_optim *ct_optim_adam(ct_tensor *const *params, int n, double lr, double beta1, double beta2,
                        double eps, double weight_decay, int amsgrad);
int ct_optim_step(ct_optim *o);
/* set_to_none != 0 drops the grads (PyTorch 2.x default, saves memory);
 * 0 zeroes them in place (PyTorch 1.13 default). */
int ct_optim_zero_grad(ct_optim *o, int set_to_none);
int ct_optim_set_lr(ct_optim *o, double lr);
double ct_optim_get_lr(const ct_optim *o);   /* NAN on error */
int ct_optim_param_count(const ct_optim *o);
void ct_optim_destroy(ct_optim *o);             /* NULL-safe */

/* Saveable state: a list of (name, tensor) pairs, in a stable order, for the
 * parameters that have state (after their first step). Names:
 *   "param.<i>.momentum_buffer"                               (SGD, momentum != 0)
 *   "param.<i>.step" (float32 0-dim, as torch 1.13 stores it), "param.<i>.exp_avg",
 *   "param.<i>.exp_avg_sq", "param.<i>.max_exp_avg_sq" (amsgrad)   (Adam)
 * ct_optim_state_get returns a new handle that ALIASES the live state (so
 * a checkpoint writer reads current values without a copy; do not modify it).
 * ct_optim_state_set copies a tensor into the named state, creating it if
 * needed: a fresh optimizer (same parameters, same hyper-parameters) given all
 * pairs of a saved one continues exactly like the uninterrupted one. */
int ct_optim_state_count(const ct_optim *o);
const char *ct_optim_state_name(const ct_optim *o, int i);   /* valid until the next step/set */
ct_tensor *ct_optim_state_get(const ct_optim *o, int i);
int ct_optim_state_set(ct_optim *o, const char *name, const ct_tensor *value);

/* ------------------------------------------------------------------------ */
/* TorchScript modules (ct_script.cpp)                                       */

/* Writes a TorchScript archive that torch.jit.load (Python) and
 * torch::jit::load (C++) read: a module of class `cls` (a dotted identifier,
 * put under "__torch__." unless it already is) holding the n tensors as
 * parameters named names[i] (identifiers; not "training", not "__x"), with
 * the methods defined by `source` — TorchScript that reads them as
 * self.<name> — compiled by libtorch's own script compiler. The module is in
 * eval mode (training = False). meta_json (optional, NULL = none) is stored
 * as the archive's extra file "hnd.json" (torch.jit.load(path,
 * _extra_files={"hnd.json": ""}) reads it back).
 *
 * Parameters, not buffers: they are learned weights, and a Python user
 * counting or fine-tuning them with module.parameters() finds them where a
 * scripted nn.Module keeps its conv weights. Each is a private contiguous CPU
 * copy with requires_grad off, so running the module builds no autograd
 * graph; torch.jit.freeze folds them like any parameter.
 *
 * The file is written to "<path>.tmp.<pid>" and renamed into place. 0 / -1
 * + ct_last_error() (a source that does not compile: the compiler's message,
 * on one line). */
int ct_script_save(const char *path, const char *cls, const char *source,
                   const char *const *names, const ct_tensor *const *tensors, int n,
                   const char *meta_json);

#ifdef __cplusplus
}
#endif
#endif
