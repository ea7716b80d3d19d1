// ct_core.cpp: errors, scopes, creation, buffers, views and indexing, dtypes
// and devices, autograd, seeds, threads, build information.
#include "ct_internal.hpp"

#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/core/GradMode.h>
#include <torch/version.h>

#include <algorithm>
#include <cstdlib>
#include <dlfcn.h>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <sstream>
#include <thread>
#include <unordered_set>

namespace ct {

// ---------------------------------------------------------------- errors --

static thread_local std::string tl_error;
// Whether tl_error comes from the latest guarded call on this thread. The
// message itself outlives successful calls (like errno, see ctorch.h); this
// flag does not, so that a NULL passed long after an unrelated, handled
// failure is not blamed on it.
static thread_local bool tl_pending = false;

void set_error(const std::string &msg) {
    tl_error = msg;
    tl_pending = true;
}
void clear_error() {
    tl_error.clear();
    tl_pending = false;
}
void mark_success() { tl_pending = false; }

std::string null_arg(const std::string &msg) {
    if (!tl_pending || tl_error.empty()) return msg;
    return msg + " (after: " + tl_error + ")";
}

void raise(const std::string &msg) { throw UserError(msg); }

std::string shape_str(at::IntArrayRef sizes) {
    std::string s = "[";
    for (size_t i = 0; i < sizes.size(); ++i) {
        if (i) s += ",";
        s += std::to_string(sizes[i]);
    }
    return s + "]";
}

std::string first_lines(const char *what) {
    // libtorch messages: the message, then (sometimes) "Exception raised
    // from ..." and a stack. Keep at most 3 lines before that marker.
    std::string in = what ? what : "";
    std::string out;
    std::istringstream ss(in);
    std::string line;
    int n = 0;
    while (std::getline(ss, line) && n < 3) {
        if (line.rfind("Exception raised from", 0) == 0 || line.rfind("frame #", 0) == 0) break;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        if (n) out += " | ";
        out += line;
        ++n;
    }
    return out;
}

std::string describe_args(std::initializer_list<Arg> args) {
    bool mixed = false;
    const ct_tensor *first = nullptr;
    for (const Arg &a : args) {
        if (!a.t || !a.t->t.defined()) continue;
        if (!first) first = a.t;
        else if (a.t->t.scalar_type() != first->t.scalar_type()) mixed = true;
    }
    std::string s;
    int k = 0;
    for (const Arg &a : args) {
        if (!a.t) continue;
        if (k++) s += " vs ";
        s += a.name;
        s += " ";
        if (!a.t->t.defined()) {
            s += "<undefined>";
            continue;
        }
        if (mixed) {
            int d = from_scalar_type(a.t->t.scalar_type());
            s += d >= 0 ? ct_dtype_name((ct_dtype)d) : c10::toString(a.t->t.scalar_type());
        }
        s += shape_str(a.t->t.sizes());
    }
    return s;
}

void fail_with(const char *op, std::initializer_list<Arg> args, const char *what) {
    std::string msg = op;
    std::string d = describe_args(args);
    if (!d.empty()) msg += ": " + d;
    msg += ": " + first_lines(what);
    set_error(msg);
}

// ---------------------------------------------------------------- scopes --

static std::atomic<int64_t> g_live{0};

struct Scope {
    std::unordered_set<ct_tensor *> members;
};

// Innermost scope last. Scopes left open at thread exit leak their handles on
// purpose: freeing tensors during static destruction could outlive libtorch.
static thread_local std::vector<Scope *> tl_scopes;

ct_tensor *wrap(at::Tensor t) {
    std::unique_ptr<ct_tensor> h(new ct_tensor());
    h->t = std::move(t);
    if (!tl_scopes.empty()) {
        Scope *s = tl_scopes.back();
        s->members.insert(h.get());
        h->scope = s;
    }
    g_live.fetch_add(1, std::memory_order_relaxed);
    return h.release();
}

// ----------------------------------------------------------- conversions --

at::ScalarType to_scalar_type(const ct_dtype &d) { return to_scalar_type_int(enum_int(d)); }

at::ScalarType to_scalar_type_int(int d) {
    switch (d) {
    case CT_F32: return at::kFloat;
    case CT_F16: return at::kHalf;
    case CT_F64: return at::kDouble;
    case CT_I64: return at::kLong;
    case CT_I32: return at::kInt;
    case CT_U8: return at::kByte;
    case CT_BOOL: return at::kBool;
    case CT_I8: return at::kChar;
    case CT_I16: return at::kShort;
    default: break;
    }
    raise("invalid dtype " + std::to_string((int)d));
}

int from_scalar_type(at::ScalarType s) {
    switch (s) {
    case at::kFloat: return CT_F32;
    case at::kHalf: return CT_F16;
    case at::kDouble: return CT_F64;
    case at::kLong: return CT_I64;
    case at::kInt: return CT_I32;
    case at::kByte: return CT_U8;
    case at::kBool: return CT_BOOL;
    case at::kChar: return CT_I8;
    case at::kShort: return CT_I16;
    default: return -1;
    }
}

c10::Device to_device(ct_device d) {
    if (d.type == CT_CPU) return c10::Device(c10::DeviceType::CPU);
    if (d.type == CT_CUDA) {
        if (d.index < 0) return c10::Device(c10::DeviceType::CUDA);
        return c10::Device(c10::DeviceType::CUDA, (c10::DeviceIndex)d.index);
    }
    raise("invalid device type " + std::to_string(d.type));
}

ct_device from_device(const c10::Device &d) {
    ct_device r;
    if (d.is_cpu()) {
        r.type = CT_CPU;
        r.index = 0;
    } else if (d.is_cuda()) {
        r.type = CT_CUDA;
        r.index = d.has_index() ? d.index() : -1;
    } else {
        r.type = -1;
        r.index = -1;
    }
    return r;
}

at::TensorOptions options(const ct_dtype &d, ct_device dev) {
    return at::TensorOptions().dtype(to_scalar_type(d)).device(to_device(dev));
}

std::vector<int64_t> dims_vec(const int64_t *p, int n, const char *what) {
    if (n < 0 || n > 64) raise(std::string("bad ") + what + " count " + std::to_string(n));
    if (n > 0 && !p) raise(std::string(what) + " array is NULL");
    return std::vector<int64_t>(p, p + n);
}

at::Reduction::Reduction to_reduction(const ct_reduction &red) {
    int r = enum_int(red);
    switch (r) {
    case CT_REDUCE_NONE: return at::Reduction::None;
    case CT_REDUCE_MEAN: return at::Reduction::Mean;
    case CT_REDUCE_SUM: return at::Reduction::Sum;
    }
    raise("invalid reduction " + std::to_string(r));
}

}  // namespace ct

using namespace ct;

extern "C" {

// ---------------------------------------------------------------- errors --

const char *ct_last_error(void) { return tl_error.c_str(); }
void ct_clear_error(void) { clear_error(); }

static thread_local std::string tl_info;

const char *ct_build_info(void) {
    return guard("build_info", {}, (const char *)"(ct_build_info failed)", [&]() -> const char * {
        std::string s = "libtorch ";
        s += TORCH_VERSION;
        const auto &hooks = at::detail::getCUDAHooks();
        if (hooks.hasCUDA()) {
            s += ", CUDA available (" + std::to_string(hooks.getNumGPUs()) + " device(s))";
        } else {
            s += ", no CUDA";
        }
        s += ", " + std::to_string(at::get_num_threads()) + " thread(s)";
        std::string cfg = at::show_config();
        std::string blas = "unknown";
        size_t p = cfg.find("BLAS_INFO=");
        if (p != std::string::npos) {
            p += strlen("BLAS_INFO=");
            size_t e = cfg.find_first_of(", \n", p);
            blas = cfg.substr(p, e == std::string::npos ? std::string::npos : e - p);
        }
        s += ", BLAS " + blas;
        s += at::hasMKL() ? ", MKL" : "";
        s += at::hasMKLDNN() ? ", oneDNN" : "";
        tl_info = s;
        return tl_info.c_str();
    });
}

int ct_cuda_available(void) {
    return guard("cuda_available", {}, 0, [&] { return at::hasCUDA() ? 1 : 0; });
}

int ct_cuda_device_count(void) {
    return guard("cuda_device_count", {}, 0, [&] {
        return at::hasCUDA() ? (int)at::detail::getCUDAHooks().getNumGPUs() : 0;
    });
}

int ct_device_synchronize(ct_device dev) {
    return guard("device_synchronize", {}, -1, [&] {
        c10::Device d = to_device(dev);
        if (d.is_cpu()) return 0;
        if (!at::hasCUDA()) raise("CUDA is not available");
        const auto &hooks = at::detail::getCUDAHooks();
        // Without an index: every device (current_device() changed type and
        // place across libtorch versions; this needs only getNumGPUs).
        if (d.has_index()) {
            hooks.deviceSynchronize(d.index());
        } else {
            int n = (int)hooks.getNumGPUs();
            for (int i = 0; i < n; ++i) hooks.deviceSynchronize((c10::DeviceIndex)i);
        }
        return 0;
    });
}

void ct_manual_seed(uint64_t seed) {
    guard("manual_seed", {}, 0, [&] {
        at::manual_seed(seed);
        return 0;
    });
}

// The large-tensor cache (ct_alloc.cpp) goes in before main: every program
// that uses ctorch links this unit. libc10's own allocator registered itself
// earlier (shared libraries initialise first) with a lower priority.
extern "C" void ct_alloc_install(void);
[[maybe_unused]] static const int ct_alloc_installed = (ct_alloc_install(), 1);

int ct_set_num_threads(int n) {
    return guard("set_num_threads", {}, -1, [&] {
        if (n <= 0) {
            unsigned hc = std::thread::hardware_concurrency();
            n = hc ? (int)hc : 1;
        }
        at::set_num_threads(n);
        // OpenBLAS (Debian's pthread build) keeps a thread pool of its own
        // that spins after each call and takes the cores from libtorch's
        // OpenMP threads, which already parallelise around the BLAS calls.
        // One BLAS thread unless the user asked otherwise: measured at 2
        // threads, the demo's Mask R-CNN R18 teacher step 0.47 -> 0.30 s,
        // a ResNet-50 Mask R-CNN inference at 800 unchanged (1.83 s either way).
        if (!std::getenv("OPENBLAS_NUM_THREADS")) {
            using set_fn = void (*)(int);
            if (auto f = reinterpret_cast<set_fn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(1);
        }
        return (int)at::get_num_threads();
    });
}

int ct_get_num_threads(void) {
    return guard("get_num_threads", {}, -1, [&] { return (int)at::get_num_threads(); });
}

int64_t ct_live_tensor_count(void) { return g_live.load(); }

// ------------------------------------------------------- lifetime, scopes --

void ct_destroy(ct_tensor *t) {
    if (!t) return;
    if (t->scope) t->scope->members.erase(t);
    delete t;
    g_live.fetch_sub(1, std::memory_order_relaxed);
}

ct_tensor *ct_share(const ct_tensor *t) {
    return guard("share", {A("t", t)}, (ct_tensor *)nullptr, [&] { return wrap(t->t); });
}

int ct_scope_begin(void) {
    return guard("scope_begin", {}, -1, [&] {
        tl_scopes.push_back(new Scope());
        return (int)tl_scopes.size();
    });
}

int ct_scope_end(void) {
    if (tl_scopes.empty()) {
        set_error("scope_end: no scope is open");
        return -1;
    }
    Scope *s = tl_scopes.back();
    tl_scopes.pop_back();
    int n = 0;
    for (ct_tensor *h : s->members) {
        delete h;
        ++n;
    }
    g_live.fetch_sub(n, std::memory_order_relaxed);
    delete s;
    return n;
}

ct_tensor *ct_scope_keep(ct_tensor *t) {
    if (!t || !t->scope) return t;
    auto it = std::find(tl_scopes.begin(), tl_scopes.end(), t->scope);
    if (it == tl_scopes.end()) {
        // Registered in another thread's scope: leave it there.
        set_error("scope_keep: the handle belongs to a scope of another thread");
        return t;
    }
    t->scope->members.erase(t);
    if (it == tl_scopes.begin()) {
        t->scope = nullptr;
    } else {
        Scope *parent = *(it - 1);
        try {
            parent->members.insert(t);
            t->scope = parent;
        } catch (...) {
            t->scope = nullptr;  // out of memory: at least do not free it
        }
    }
    return t;
}

int ct_scope_depth(void) { return (int)tl_scopes.size(); }

// --------------------------------------------------------------- creation --

ct_tensor *ct_empty(const int64_t *shape, int ndim, ct_dtype dtype, ct_device dev) {
    return guard("empty", {}, (ct_tensor *)nullptr, [&] {
        return wrap(at::empty(dims_vec(shape, ndim, "shape"), options(dtype, dev)));
    });
}

ct_tensor *ct_zeros(const int64_t *shape, int ndim, ct_dtype dtype, ct_device dev) {
    return guard("zeros", {}, (ct_tensor *)nullptr, [&] {
        return wrap(at::zeros(dims_vec(shape, ndim, "shape"), options(dtype, dev)));
    });
}

ct_tensor *ct_ones(const int64_t *shape, int ndim, ct_dtype dtype, ct_device dev) {
    return guard("ones", {}, (ct_tensor *)nullptr, [&] {
        return wrap(at::ones(dims_vec(shape, ndim, "shape"), options(dtype, dev)));
    });
}

ct_tensor *ct_full(const int64_t *shape, int ndim, double value, ct_dtype dtype, ct_device dev) {
    return guard("full", {}, (ct_tensor *)nullptr, [&] {
        return wrap(at::full(dims_vec(shape, ndim, "shape"), value, options(dtype, dev)));
    });
}

CT_UNARY(ct_zeros_like, "zeros_like", at::zeros_like(x))
CT_UNARY(ct_ones_like, "ones_like", at::ones_like(x))

ct_tensor *ct_full_like(const ct_tensor *t, double value) {
    return guard("full_like", {A("t", t)}, (ct_tensor *)nullptr,
                 [&] { return wrap(at::full_like(t->t, value)); });
}

ct_tensor *ct_scalar_tensor(double value, ct_dtype dtype, ct_device dev) {
    return guard("scalar_tensor", {}, (ct_tensor *)nullptr,
                 [&] { return wrap(at::scalar_tensor(value, options(dtype, dev))); });
}

ct_tensor *ct_arange(double start, double end, double step, ct_dtype dtype, ct_device dev) {
    return guard("arange", {}, (ct_tensor *)nullptr,
                 [&] { return wrap(at::arange(start, end, step, options(dtype, dev))); });
}

ct_tensor *ct_rand(const int64_t *shape, int ndim, ct_dtype dtype, ct_device dev) {
    return guard("rand", {}, (ct_tensor *)nullptr, [&] {
        return wrap(at::rand(dims_vec(shape, ndim, "shape"), options(dtype, dev)));
    });
}

ct_tensor *ct_randn(const int64_t *shape, int ndim, ct_dtype dtype, ct_device dev) {
    return guard("randn", {}, (ct_tensor *)nullptr, [&] {
        return wrap(at::randn(dims_vec(shape, ndim, "shape"), options(dtype, dev)));
    });
}

ct_tensor *ct_randint(int64_t low, int64_t high, const int64_t *shape, int ndim, ct_dtype dtype,
                      ct_device dev) {
    return guard("randint", {}, (ct_tensor *)nullptr, [&] {
        return wrap(at::randint(low, high, dims_vec(shape, ndim, "shape"), options(dtype, dev)));
    });
}

ct_tensor *ct_from_buffer(const void *data, ct_dtype dtype, int ndim, const int64_t *shape) {
    return guard("from_buffer", {}, (ct_tensor *)nullptr, [&] {
        std::vector<int64_t> sh = dims_vec(shape, ndim, "shape");
        at::Tensor t = at::empty(sh, options(dtype, ct_cpu()));
        size_t nbytes = (size_t)t.numel() * t.element_size();
        if (nbytes) {
            if (!data) raise("data is NULL for shape " + shape_str(sh));
            std::memcpy(t.data_ptr(), data, nbytes);
        }
        return wrap(std::move(t));
    });
}

int ct_to_buffer(const ct_tensor *t, void *dst, size_t nbytes) {
    return guard("to_buffer", {A("t", t)}, -1, [&] {
        const at::Tensor &x = t->t;
        int d = from_scalar_type(x.scalar_type());
        if (d < 0) raise(std::string("unsupported dtype ") + c10::toString(x.scalar_type()));
        size_t want = (size_t)x.numel() * ct_dtype_size((ct_dtype)d);
        if (want != nbytes)
            raise(std::string(ct_dtype_name((ct_dtype)d)) + shape_str(x.sizes()) + " needs " +
                  std::to_string(want) + " bytes, buffer has " + std::to_string(nbytes));
        if (!want) return 0;
        if (!dst) raise("dst is NULL");
        at::Tensor c = x.detach().to(at::kCPU).contiguous();
        std::memcpy(dst, c.data_ptr(), want);
        return 0;
    });
}

void *ct_data_ptr(const ct_tensor *t) {
    return guard("data_ptr", {A("t", t)}, (void *)nullptr, [&]() -> void * {
        if (!t->t.device().is_cpu()) raise("not a CPU tensor");
        return t->t.data_ptr();
    });
}

int ct_item_f64(const ct_tensor *t, double *out) {
    return guard("item_f64", {A("t", t)}, -1, [&] {
        if (!out) raise("out is NULL");
        *out = t->t.item<double>();
        return 0;
    });
}

int ct_item_i64(const ct_tensor *t, int64_t *out) {
    return guard("item_i64", {A("t", t)}, -1, [&] {
        if (!out) raise("out is NULL");
        *out = t->t.item<int64_t>();
        return 0;
    });
}

// ---------------------------------------------------------------- queries --

int ct_ndim(const ct_tensor *t) {
    return guard("ndim", {A("t", t)}, -1, [&] { return (int)t->t.dim(); });
}

int ct_shape(const ct_tensor *t, int64_t *out, int max) {
    return guard("shape", {A("t", t)}, -1, [&] {
        int nd = (int)t->t.dim();
        if (max > 0 && !out) raise("out is NULL");
        for (int i = 0; i < nd && i < max; ++i) out[i] = t->t.size(i);
        return nd;
    });
}

int64_t ct_size(const ct_tensor *t, int dim) {
    return guard("size", {A("t", t)}, (int64_t)-1, [&] { return (int64_t)t->t.size(dim); });
}

int64_t ct_numel(const ct_tensor *t) {
    return guard("numel", {A("t", t)}, (int64_t)-1, [&] { return (int64_t)t->t.numel(); });
}

int ct_dtype_of(const ct_tensor *t) {
    return guard("dtype_of", {A("t", t)}, -1,
                 [&] { return from_scalar_type(t->t.scalar_type()); });
}

ct_device ct_device_of(const ct_tensor *t) {
    ct_device bad = {-1, -1};
    return guard("device_of", {A("t", t)}, bad, [&] { return from_device(t->t.device()); });
}

int ct_requires_grad(const ct_tensor *t) {
    return guard("requires_grad", {A("t", t)}, -1, [&] { return t->t.requires_grad() ? 1 : 0; });
}

int ct_is_contiguous(const ct_tensor *t) {
    return guard("is_contiguous", {A("t", t)}, -1, [&] { return t->t.is_contiguous() ? 1 : 0; });
}

static std::string describe(const at::Tensor &x) {
    if (!x.defined()) return "<undefined>";
    int d = from_scalar_type(x.scalar_type());
    std::string s = d >= 0 ? ct_dtype_name((ct_dtype)d) : c10::toString(x.scalar_type());
    s += shape_str(x.sizes());
    s += " ";
    s += x.device().str();
    if (x.requires_grad()) s += " grad";
    return s;
}

int ct_tensor_describe(const ct_tensor *t, char *buf, size_t n) {
    return guard("tensor_describe", {A("t", t)}, -1, [&] {
        std::string s = describe(t->t);
        if (buf && n > 0) {
            size_t k = std::min(n - 1, s.size());
            std::memcpy(buf, s.data(), k);
            buf[k] = '\0';
        }
        return (int)s.size();
    });
}

void ct_print(const ct_tensor *t, const char *label) {
    guard("print", {A("t", t)}, 0, [&] {
        std::ostringstream os;
        os << (label ? label : "tensor") << ": " << describe(t->t) << "\n";
        if (t->t.numel() <= 64) os << t->t.detach().to(at::kCPU) << "\n";
        std::string s = os.str();
        fputs(s.c_str(), stderr);
        return 0;
    });
}

// ------------------------------------------------------------------ views --

ct_tensor *ct_reshape(const ct_tensor *t, const int64_t *shape, int ndim) {
    return guard("reshape", {A("input", t)}, (ct_tensor *)nullptr, [&] {
        return wrap(t->t.reshape(dims_vec(shape, ndim, "shape")));
    });
}

ct_tensor *ct_view(const ct_tensor *t, const int64_t *shape, int ndim) {
    return guard("view", {A("input", t)}, (ct_tensor *)nullptr,
                 [&] { return wrap(t->t.view(dims_vec(shape, ndim, "shape"))); });
}

ct_tensor *ct_permute(const ct_tensor *t, const int64_t *dims, int ndim) {
    return guard("permute", {A("input", t)}, (ct_tensor *)nullptr,
                 [&] { return wrap(t->t.permute(dims_vec(dims, ndim, "dims"))); });
}

ct_tensor *ct_transpose(const ct_tensor *t, int dim0, int dim1) {
    return guard("transpose", {A("input", t)}, (ct_tensor *)nullptr,
                 [&] { return wrap(t->t.transpose(dim0, dim1)); });
}

ct_tensor *ct_narrow(const ct_tensor *t, int dim, int64_t start, int64_t length) {
    return guard("narrow", {A("input", t)}, (ct_tensor *)nullptr,
                 [&] { return wrap(t->t.narrow(dim, start, length)); });
}

ct_tensor *ct_slice(const ct_tensor *t, int dim, int64_t start, int64_t end, int64_t step) {
    return guard("slice", {A("input", t)}, (ct_tensor *)nullptr,
                 [&] { return wrap(t->t.slice(dim, start, end, step)); });
}

ct_tensor *ct_select(const ct_tensor *t, int dim, int64_t index) {
    return guard("select", {A("input", t)}, (ct_tensor *)nullptr,
                 [&] { return wrap(t->t.select(dim, index)); });
}

ct_tensor *ct_index_select(const ct_tensor *t, int dim, const ct_tensor *index) {
    return guard("index_select", {A("input", t), A("index", index, 3)}, (ct_tensor *)nullptr,
                 [&] { return wrap(at::index_select(t->t, dim, index->t)); });
}

static c10::List<c10::optional<at::Tensor>> index_list(const ct_tensor *const *idx, int n) {
    if (n <= 0) raise("at least one index is needed");
    if (!idx) raise("indices array is NULL");
    c10::List<c10::optional<at::Tensor>> l;
    l.reserve(n);
    for (int i = 0; i < n; ++i) {
        if (idx[i]) l.push_back(c10::optional<at::Tensor>(idx[i]->t));
        else l.push_back(c10::optional<at::Tensor>());
    }
    return l;
}

ct_tensor *ct_index(const ct_tensor *t, const ct_tensor *const *indices, int n) {
    return guard("index", {A("input", t)}, (ct_tensor *)nullptr, [&] {
        return wrap(at::index(t->t, index_list(indices, n)));
    });
}

int ct_index_put_(ct_tensor *t, const ct_tensor *const *indices, int n, const ct_tensor *values,
                  int accumulate) {
    return guard("index_put_", {A("input", t), A("values", values, 4)}, -1, [&] {
        auto l = index_list(indices, n);
        at::index_put_(t->t, l, values->t, accumulate != 0);
        return 0;
    });
}

ct_tensor *ct_masked_select(const ct_tensor *t, const ct_tensor *mask) {
    return guard("masked_select", {A("input", t), A("mask", mask)}, (ct_tensor *)nullptr,
                 [&] { return wrap(at::masked_select(t->t, mask->t)); });
}

ct_tensor *ct_masked_fill(const ct_tensor *t, const ct_tensor *mask, double value) {
    return guard("masked_fill", {A("input", t), A("mask", mask)}, (ct_tensor *)nullptr,
                 [&] { return wrap(at::masked_fill(t->t, mask->t, value)); });
}

int ct_masked_fill_(ct_tensor *t, const ct_tensor *mask, double value) {
    return guard("masked_fill_", {A("input", t), A("mask", mask)}, -1, [&] {
        t->t.masked_fill_(mask->t, value);
        return 0;
    });
}

ct_tensor *ct_where(const ct_tensor *cond, const ct_tensor *a, const ct_tensor *b) {
    return guard("where", {A("cond", cond), A("a", a), A("b", b)}, (ct_tensor *)nullptr,
                 [&] { return wrap(at::where(cond->t, a->t, b->t)); });
}

ct_tensor *ct_unsqueeze(const ct_tensor *t, int dim) {
    return guard("unsqueeze", {A("input", t)}, (ct_tensor *)nullptr,
                 [&] { return wrap(t->t.unsqueeze(dim)); });
}

CT_UNARY(ct_squeeze, "squeeze", x.squeeze())

ct_tensor *ct_squeeze_dim(const ct_tensor *t, int dim) {
    return guard("squeeze_dim", {A("input", t)}, (ct_tensor *)nullptr,
                 [&] { return wrap(t->t.squeeze(dim)); });
}

ct_tensor *ct_flatten(const ct_tensor *t, int start_dim, int end_dim) {
    return guard("flatten", {A("input", t)}, (ct_tensor *)nullptr,
                 [&] { return wrap(t->t.flatten(start_dim, end_dim)); });
}

ct_tensor *ct_expand(const ct_tensor *t, const int64_t *shape, int ndim) {
    return guard("expand", {A("input", t)}, (ct_tensor *)nullptr,
                 [&] { return wrap(t->t.expand(dims_vec(shape, ndim, "shape"))); });
}

ct_tensor *ct_repeat(const ct_tensor *t, const int64_t *repeats, int n) {
    return guard("repeat", {A("input", t)}, (ct_tensor *)nullptr,
                 [&] { return wrap(t->t.repeat(dims_vec(repeats, n, "repeats"))); });
}

ct_tensor *ct_flip(const ct_tensor *t, const int64_t *dims, int n) {
    return guard("flip", {A("input", t)}, (ct_tensor *)nullptr,
                 [&] { return wrap(at::flip(t->t, dims_vec(dims, n, "dims"))); });
}

CT_UNARY(ct_contiguous, "contiguous", x.contiguous())
CT_UNARY(ct_clone, "clone", x.clone())

ct_tensor *ct_channels_last(const ct_tensor *t) {
    return guard("channels_last", {A("input", t)}, (ct_tensor *)nullptr, [&] {
        if (t->t.dim() != 4) raise("needs a 4-d tensor");
        return wrap(t->t.contiguous(at::MemoryFormat::ChannelsLast));
    });
}

int ct_to_channels_last_(ct_tensor *t) {
    return guard("to_channels_last_", {A("input", t)}, -1, [&] {
        if (t->t.dim() != 4) raise("needs a 4-d tensor");
        c10::AutoGradMode no_grad(false);
        // set_data swaps the storage under the same TensorImpl: optimizers and
        // parameter registries holding this tensor see the new layout.
        t->t.set_data(t->t.contiguous(at::MemoryFormat::ChannelsLast));
        return 0;
    });
}

int ct_is_channels_last(const ct_tensor *t) {
    return guard("is_channels_last", {A("input", t)}, -1, [&] {
        return t->t.dim() == 4 && t->t.is_contiguous(at::MemoryFormat::ChannelsLast) ? 1 : 0;
    });
}
CT_UNARY(ct_detach, "detach", x.detach())

int ct_copy_(ct_tensor *dst, const ct_tensor *src) {
    return guard("copy_", {A("dst", dst), A("src", src)}, -1, [&] {
        c10::AutoGradMode no_grad(false);
        dst->t.copy_(src->t);
        return 0;
    });
}

int ct_fill_(ct_tensor *t, double value) {
    return guard("fill_", {A("input", t)}, -1, [&] {
        c10::AutoGradMode no_grad(false);
        t->t.fill_(value);
        return 0;
    });
}

int ct_zero_(ct_tensor *t) {
    return guard("zero_", {A("input", t)}, -1, [&] {
        c10::AutoGradMode no_grad(false);
        t->t.zero_();
        return 0;
    });
}

ct_tensor *ct_to_dtype(const ct_tensor *t, ct_dtype dtype) {
    return guard("to_dtype", {A("input", t)}, (ct_tensor *)nullptr,
                 [&] { return wrap(t->t.to(to_scalar_type(dtype))); });
}

ct_tensor *ct_to_device(const ct_tensor *t, ct_device dev) {
    return guard("to_device", {A("input", t)}, (ct_tensor *)nullptr,
                 [&] { return wrap(t->t.to(to_device(dev))); });
}

static std::vector<at::Tensor> tensor_list(const char *op, const ct_tensor *const *ts, int n) {
    if (n <= 0) raise("needs at least one tensor, got " + std::to_string(n));
    if (!ts) raise("tensor array is NULL");
    std::vector<at::Tensor> v;
    v.reserve(n);
    for (int i = 0; i < n; ++i) {
        if (!ts[i]) raise(null_arg("tensors[" + std::to_string(i) + "] is NULL"));
        v.push_back(ts[i]->t);
    }
    return v;
}

static std::string list_shapes(const ct_tensor *const *ts, int n) {
    std::string s;
    if (!ts) return s;
    for (int i = 0; i < n && i < 16; ++i) {
        if (i) s += " ";
        s += ts[i] ? shape_str(ts[i]->t.sizes()) : "NULL";
    }
    if (n > 16) s += " ...";
    return s;
}

ct_tensor *ct_cat(const ct_tensor *const *ts, int n, int dim) {
    ct_tensor *r = guard("cat", {}, (ct_tensor *)nullptr,
                         [&] { return wrap(at::cat(tensor_list("cat", ts, n), dim)); });
    if (!r) {
        try { set_error(std::string(tl_error) + " (inputs " + list_shapes(ts, n) + ")"); } catch (...) {}
    }
    return r;
}

ct_tensor *ct_stack(const ct_tensor *const *ts, int n, int dim) {
    ct_tensor *r = guard("stack", {}, (ct_tensor *)nullptr,
                         [&] { return wrap(at::stack(tensor_list("stack", ts, n), dim)); });
    if (!r) {
        try { set_error(std::string(tl_error) + " (inputs " + list_shapes(ts, n) + ")"); } catch (...) {}
    }
    return r;
}

// --------------------------------------------------------------- autograd --

int ct_set_requires_grad(ct_tensor *t, int on) {
    return guard("set_requires_grad", {A("t", t)}, -1, [&] {
        t->t.set_requires_grad(on != 0);
        return 0;
    });
}

int ct_backward(const ct_tensor *loss) {
    return guard("backward", {A("loss", loss)}, -1, [&] {
        if (loss->t.numel() != 1) raise("loss must have one element");
        loss->t.backward();
        return 0;
    });
}

int ct_has_grad(const ct_tensor *t) {
    return guard("has_grad", {A("t", t)}, -1, [&] { return t->t.grad().defined() ? 1 : 0; });
}

ct_tensor *ct_grad(const ct_tensor *t) {
    clear_error();
    return guard("grad", {A("t", t)}, (ct_tensor *)nullptr, [&]() -> ct_tensor * {
        const at::Tensor &g = t->t.grad();
        if (!g.defined()) return nullptr;
        return wrap(g);
    });
}

int ct_zero_grad(ct_tensor *t, int set_to_none) {
    return guard("zero_grad", {A("t", t)}, -1, [&] {
        at::Tensor &g = t->t.mutable_grad();
        if (!g.defined()) return 0;
        if (set_to_none) {
            g.reset();
        } else {
            c10::AutoGradMode no_grad(false);
            if (g.grad_fn()) g = g.detach();
            g.zero_();
        }
        return 0;
    });
}

int ct_grad_set_enabled(int on) {
    bool prev = c10::GradMode::is_enabled();
    c10::GradMode::set_enabled(on != 0);
    return prev ? 1 : 0;
}

int ct_grad_is_enabled(void) { return c10::GradMode::is_enabled() ? 1 : 0; }

}  // extern "C"
