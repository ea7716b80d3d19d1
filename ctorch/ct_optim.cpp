// ct_optim.cpp: SGD and Adam written with ATen ops under no-grad, following
// PyTorch 1.13's single-tensor implementations (torch/optim/sgd.py,
// torch/optim/adam.py) line by line, so that a C training run and a Python one
// agree to float rounding, and the state is a list of named tensors that a
// checkpoint can write and read back.
#include "ct_internal.hpp"

#include <c10/core/GradMode.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <utility>

using namespace ct;

namespace {

enum Kind { SGD = 0, ADAM = 1 };

// Field order = the order of the state list (stable across steps).
enum Field { MOMENTUM_BUFFER = 0, STEP, EXP_AVG, EXP_AVG_SQ, MAX_EXP_AVG_SQ, NFIELDS };
const char *const field_names[NFIELDS] = {"momentum_buffer", "step", "exp_avg", "exp_avg_sq",
                                          "max_exp_avg_sq"};

struct ParamState {
    at::Tensor f[NFIELDS];  // undefined = absent
};

}  // namespace

struct ct_optim {
    Kind kind;
    std::vector<at::Tensor> params;
    std::vector<ParamState> state;
    double lr = 0, momentum = 0, dampening = 0, weight_decay = 0;
    bool nesterov = false;
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    bool amsgrad = false;
    // The enumerated state, rebuilt lazily after a step or a set.
    mutable bool dirty = true;
    mutable std::vector<std::pair<int, int>> entries;  // (param, field)
    mutable std::vector<std::string> names;

    void refresh() const {
        if (!dirty) return;
        entries.clear();
        names.clear();
        for (size_t i = 0; i < state.size(); ++i)
            for (int k = 0; k < NFIELDS; ++k)
                if (state[i].f[k].defined()) {
                    entries.emplace_back((int)i, k);
                    names.push_back("param." + std::to_string(i) + "." + field_names[k]);
                }
        dirty = false;
    }
};

namespace {

std::vector<at::Tensor> take_params(ct_tensor *const *params, int n) {
    if (n <= 0) raise("needs at least one parameter");
    if (!params) raise("params array is NULL");
    std::vector<at::Tensor> v;
    v.reserve(n);
    for (int i = 0; i < n; ++i) {
        if (!params[i]) raise(null_arg("params[" + std::to_string(i) + "] is NULL"));
        if (!at::isFloatingType(params[i]->t.scalar_type()))
            raise("params[" + std::to_string(i) + "] is not floating point");
        v.push_back(params[i]->t);
    }
    return v;
}

void sgd_step(ct_optim *o) {
    for (size_t i = 0; i < o->params.size(); ++i) {
        at::Tensor &p = o->params[i];
        const at::Tensor &g = p.grad();
        if (!g.defined()) continue;
        at::Tensor d_p = g;
        if (o->weight_decay != 0) d_p = d_p.add(p, o->weight_decay);
        if (o->momentum != 0) {
            at::Tensor &buf = o->state[i].f[MOMENTUM_BUFFER];
            if (!buf.defined()) {
                buf = d_p.clone().detach();
                o->dirty = true;
            } else {
                buf.mul_(o->momentum).add_(d_p, 1 - o->dampening);
            }
            if (o->nesterov) d_p = d_p.add(buf, o->momentum);
            else d_p = buf;
        }
        p.add_(d_p, -o->lr);
    }
}

void adam_step(ct_optim *o) {
    for (size_t i = 0; i < o->params.size(); ++i) {
        at::Tensor &p = o->params[i];
        const at::Tensor &g0 = p.grad();
        if (!g0.defined()) continue;
        ParamState &s = o->state[i];
        // torch 1.13: state['step'] = torch.tensor(0.), moments zeros_like(p).
        // Fields are created one by one so that a partly restored state is kept.
        auto init = [&](int k, bool want) {
            if (want && !s.f[k].defined()) {
                s.f[k] = k == STEP ? at::zeros({}, at::TensorOptions().dtype(at::kFloat))
                                   : at::zeros_like(p, at::TensorOptions(), at::MemoryFormat::Preserve);
                o->dirty = true;
            }
        };
        init(STEP, true);
        init(EXP_AVG, true);
        init(EXP_AVG_SQ, true);
        init(MAX_EXP_AVG_SQ, o->amsgrad);
        at::Tensor &exp_avg = s.f[EXP_AVG];
        at::Tensor &exp_avg_sq = s.f[EXP_AVG_SQ];
        s.f[STEP].add_(1);
        at::Tensor grad = g0;
        if (o->weight_decay != 0) grad = grad.add(p, o->weight_decay);
        exp_avg.mul_(o->beta1).add_(grad, 1 - o->beta1);
        exp_avg_sq.mul_(o->beta2).addcmul_(grad, grad, 1 - o->beta2);
        double step = s.f[STEP].item<double>();
        double bias_correction1 = 1 - std::pow(o->beta1, step);
        double bias_correction2 = 1 - std::pow(o->beta2, step);
        double step_size = o->lr / bias_correction1;
        double bias_correction2_sqrt = std::sqrt(bias_correction2);
        at::Tensor denom;
        if (o->amsgrad) {
            at::Tensor &mx = s.f[MAX_EXP_AVG_SQ];
            at::maximum_out(mx, mx, exp_avg_sq);
            denom = (mx.sqrt() / bias_correction2_sqrt).add_(o->eps);
        } else {
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(o->eps);
        }
        p.addcdiv_(exp_avg, denom, -step_size);
    }
}

ct_optim *make(Kind kind, ct_tensor *const *params, int n) {
    std::unique_ptr<ct_optim> o(new ct_optim());
    o->kind = kind;
    o->params = take_params(params, n);
    o->state.resize(o->params.size());
    return o.release();
}

void check_nonneg(double v, const char *what) {
    if (!(v >= 0)) raise(std::string("invalid ") + what + " " + std::to_string(v));
}

}  // namespace

extern "C" {

ct_optim *ct_optim_sgd(ct_tensor *const *params, int n, double lr, double momentum,
                       double dampening, double weight_decay, int nesterov) {
    return guard("optim_sgd", {}, (ct_optim *)nullptr, [&] {
        check_nonneg(lr, "learning rate");
        check_nonneg(momentum, "momentum");
        check_nonneg(weight_decay, "weight_decay");
        if (nesterov && (momentum <= 0 || dampening != 0))
            raise("Nesterov momentum requires a momentum and zero dampening");
        ct_optim *o = make(SGD, params, n);
        o->lr = lr;
        o->momentum = momentum;
        o->dampening = dampening;
        o->weight_decay = weight_decay;
        o->nesterov = nesterov != 0;
        return o;
    });
}

ct_optim *ct_optim_adam(ct_tensor *const *params, int n, double lr, double beta1, double beta2,
                        double eps, double weight_decay, int amsgrad) {
    return guard("optim_adam", {}, (ct_optim *)nullptr, [&] {
        check_nonneg(lr, "learning rate");
        check_nonneg(eps, "epsilon");
        check_nonneg(weight_decay, "weight_decay");
        if (!(beta1 >= 0 && beta1 < 1)) raise("invalid beta1 " + std::to_string(beta1));
        if (!(beta2 >= 0 && beta2 < 1)) raise("invalid beta2 " + std::to_string(beta2));
        ct_optim *o = make(ADAM, params, n);
        o->lr = lr;
        o->beta1 = beta1;
        o->beta2 = beta2;
        o->eps = eps;
        o->weight_decay = weight_decay;
        o->amsgrad = amsgrad != 0;
        return o;
    });
}

int ct_optim_step(ct_optim *o) {
    return guard("optim_step", {}, -1, [&] {
        if (!o) raise(null_arg("optimizer is NULL"));
        c10::AutoGradMode no_grad(false);
        if (o->kind == SGD) sgd_step(o);
        else adam_step(o);
        return 0;
    });
}

int ct_optim_zero_grad(ct_optim *o, int set_to_none) {
    return guard("optim_zero_grad", {}, -1, [&] {
        if (!o) raise(null_arg("optimizer is NULL"));
        c10::AutoGradMode no_grad(false);
        for (at::Tensor &p : o->params) {
            at::Tensor &g = p.mutable_grad();
            if (!g.defined()) continue;
            if (set_to_none) {
                g.reset();
            } else {
                if (g.grad_fn()) g = g.detach();
                g.zero_();
            }
        }
        return 0;
    });
}

int ct_optim_set_lr(ct_optim *o, double lr) {
    return guard("optim_set_lr", {}, -1, [&] {
        if (!o) raise(null_arg("optimizer is NULL"));
        check_nonneg(lr, "learning rate");
        o->lr = lr;
        return 0;
    });
}

double ct_optim_get_lr(const ct_optim *o) {
    if (!o) {
        set_error(null_arg("optim_get_lr: optimizer is NULL"));
        return NAN;
    }
    return o->lr;
}

int ct_optim_param_count(const ct_optim *o) {
    if (!o) {
        set_error(null_arg("optim_param_count: optimizer is NULL"));
        return -1;
    }
    return (int)o->params.size();
}

void ct_optim_destroy(ct_optim *o) { delete o; }

int ct_optim_state_count(const ct_optim *o) {
    return guard("optim_state_count", {}, -1, [&] {
        if (!o) raise(null_arg("optimizer is NULL"));
        o->refresh();
        return (int)o->entries.size();
    });
}

const char *ct_optim_state_name(const ct_optim *o, int i) {
    return guard("optim_state_name", {}, (const char *)nullptr, [&] {
        if (!o) raise(null_arg("optimizer is NULL"));
        o->refresh();
        if (i < 0 || (size_t)i >= o->names.size())
            raise("index " + std::to_string(i) + " out of range [0," +
                  std::to_string(o->names.size()) + ")");
        return o->names[i].c_str();
    });
}

ct_tensor *ct_optim_state_get(const ct_optim *o, int i) {
    return guard("optim_state_get", {}, (ct_tensor *)nullptr, [&] {
        if (!o) raise(null_arg("optimizer is NULL"));
        o->refresh();
        if (i < 0 || (size_t)i >= o->entries.size())
            raise("index " + std::to_string(i) + " out of range [0," +
                  std::to_string(o->entries.size()) + ")");
        auto e = o->entries[i];
        return wrap(o->state[e.first].f[e.second]);
    });
}

int ct_optim_state_set(ct_optim *o, const char *name, const ct_tensor *value) {
    return guard("optim_state_set", {A("value", value, 3)}, -1, [&] {
        if (!o) raise(null_arg("optimizer is NULL"));
        if (!name) raise("name is NULL");
        int idx = -1, used = 0;
        char field[32] = {0};
        if (std::sscanf(name, "param.%d.%31[a-z_]%n", &idx, field, &used) != 2 ||
            name[used] != '\0')
            raise(std::string("bad state name '") + name + "'");
        if (idx < 0 || (size_t)idx >= o->params.size())
            raise(std::string("'") + name + "': parameter index out of range");
        int k = -1;
        for (int j = 0; j < NFIELDS; ++j)
            if (std::strcmp(field, field_names[j]) == 0) k = j;
        bool ok = k >= 0 && (o->kind == SGD ? k == MOMENTUM_BUFFER
                                            : (k != MOMENTUM_BUFFER &&
                                               (k != MAX_EXP_AVG_SQ || o->amsgrad)));
        if (!ok)
            raise(std::string("'") + name + "' is not a state of this " +
                  (o->kind == SGD ? "SGD" : "Adam") + " optimizer");
        const at::Tensor &p = o->params[idx];
        c10::AutoGradMode no_grad(false);
        at::Tensor v = value->t.detach();
        at::Tensor stored;
        if (k == STEP) {
            if (v.numel() != 1) raise("step must have one element");
            stored = at::scalar_tensor(v.item<double>(), at::TensorOptions().dtype(at::kFloat));
        } else {
            if (!v.sizes().equals(p.sizes()))
                raise(std::string("'") + name + "' has shape " + shape_str(v.sizes()) +
                      ", the parameter " + shape_str(p.sizes()));
            stored = v.to(p.options(), /*non_blocking=*/false, /*copy=*/true);
        }
        o->state[idx].f[k] = stored;
        o->dirty = true;
        return 0;
    });
}

}  // extern "C"
