// ct_internal.hpp: what the three ctorch translation units share. C++ only;
// never included by C code.
#ifndef CT_INTERNAL_HPP
#define CT_INTERNAL_HPP

#include <ATen/ATen.h>
#include <ATen/core/Reduction.h>

#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "ctorch.h"

namespace ct {
struct Scope;
}

// A handle: one at::Tensor (a reference-counted pointer, so several handles
// may share one tensor) plus the scope it is registered in (NULL = unscoped).
struct ct_tensor {
    at::Tensor t;
    ct::Scope *scope = nullptr;
};

namespace ct {

// ---- errors ----
// set_error also marks the message "pending": the failure whose NULL result a
// caller may pass on to the next call. A successful guarded call unmarks it.
void set_error(const std::string &msg);
void clear_error();
void mark_success();
// msg + " (after: <pending message>)" when a failure is pending, else msg.
// For every "X is NULL" about a handle: C callers nest calls
// (ct_flatten(ct_nonzero(x))), and without this the inner failure's message
// would be overwritten by the outer "argument 1 is NULL".
std::string null_arg(const std::string &msg);
// "[1,3,8,8]"
std::string shape_str(at::IntArrayRef sizes);
// The useful part of a libtorch message: its first lines, no backtrace.
std::string first_lines(const char *what);

// One tensor argument of an entry point, for NULL checks and error messages.
// pos: its position among the C function's arguments, for "argument N is
// NULL"; 0 = its position in the guard's list (right when tensors come first).
struct Arg {
    const char *name;
    const ct_tensor *t;
    bool optional;
    int pos;
};
inline Arg A(const char *name, const ct_tensor *t, int pos = 0) { return Arg{name, t, false, pos}; }
inline Arg Opt(const char *name, const ct_tensor *t, int pos = 0) { return Arg{name, t, true, pos}; }

// "input [1,3,8,8] vs weight [4,2,3,3]" (dtypes shown when they differ).
std::string describe_args(std::initializer_list<Arg> args);
void fail_with(const char *op, std::initializer_list<Arg> args, const char *what);

// Runs body() with every C++ exception turned into (fail, ct_last_error()).
// Non-optional NULL args are reported as "op: argument i (name) is NULL",
// followed by " (after: ...)" when the previous call failed (see null_arg).
template <class R, class F>
R guard(const char *op, std::initializer_list<Arg> args, R fail, F &&body) noexcept {
    try {
        int i = 1;
        for (const Arg &a : args) {
            if (!a.t && !a.optional) {
                set_error(null_arg(std::string(op) + ": argument " +
                                   std::to_string(a.pos ? a.pos : i) + " (" + a.name +
                                   ") is NULL"));
                return fail;
            }
            ++i;
        }
        R r = body();
        // After the body, not before: its own NULL checks (tensor arrays,
        // optimizers) still see the failure pending from the previous call.
        mark_success();
        return r;
    } catch (const c10::Error &e) {
        try { fail_with(op, args, e.what_without_backtrace()); } catch (...) {}
    } catch (const std::exception &e) {
        try { fail_with(op, args, e.what()); } catch (...) {}
    } catch (...) {
        try { fail_with(op, args, "unknown C++ exception"); } catch (...) {}
    }
    return fail;
}

// An error raised by our own checks (caught by guard like libtorch's).
struct UserError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
[[noreturn]] void raise(const std::string &msg);

// ---- handles and scopes ----
// Wraps t into a new handle registered in the innermost scope of this thread.
ct_tensor *wrap(at::Tensor t);
inline const at::Tensor &T(const ct_tensor *h) { return h->t; }
// Optional tensor argument (NULL -> none).
inline c10::optional<at::Tensor> opt(const ct_tensor *h) {
    if (!h) return c10::nullopt;
    return h->t;
}

// ---- conversions ----
// C callers may pass any int as one of our enums; in C++ loading an enum
// object outside its enumerators' range is undefined (UBSan flags it). So
// enums from C are taken by reference and read as int bytes, never loaded.
template <class E>
inline int enum_int(const E &e) {
    static_assert(sizeof(E) == sizeof(int), "C enums are int-sized here");
    int v;
    std::memcpy(&v, &e, sizeof v);
    return v;
}
at::ScalarType to_scalar_type(const ct_dtype &d);
at::ScalarType to_scalar_type_int(int d);
int from_scalar_type(at::ScalarType s);  // a ct_dtype value, or -1 if unnamed
c10::Device to_device(ct_device d);
ct_device from_device(const c10::Device &d);
at::TensorOptions options(const ct_dtype &d, ct_device dev);
std::vector<int64_t> dims_vec(const int64_t *p, int n, const char *what);
at::Reduction::Reduction to_reduction(const ct_reduction &r);

}  // namespace ct

// Unary tensor -> tensor entry points are all alike.
#define CT_UNARY(name, opname, expr)                                                   \
    ct_tensor *name(const ct_tensor *t) {                                              \
        return guard(opname, {A("input", t)}, (ct_tensor *)nullptr, [&] {              \
            const at::Tensor &x = t->t;                                                \
            return wrap(expr);                                                         \
        });                                                                            \
    }

#endif
