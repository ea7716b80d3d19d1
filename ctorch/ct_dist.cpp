// ct_dist.cpp: see ct_dist.h. c10d's TCPStore for the rendezvous,
// ProcessGroupGloo (and ProcessGroupNCCL when built with HND_DIST_NCCL) for
// the collectives. Its own translation unit: the c10d and Gloo headers are
// slow to compile and nothing else needs them.
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO   // the c10d headers hide their Gloo classes without it
#endif
#include "ct_dist.h"

#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/utils/lambda_post_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ct_internal.hpp"

using namespace ct;

// ct_ops.cpp's ct_batch_norm calls it in training mode when set.
extern at::Tensor (*ct_sync_batch_norm_hook)(const at::Tensor &x, const c10::optional<at::Tensor> &w,
                                             const c10::optional<at::Tensor> &b, const c10::optional<at::Tensor> &rm,
                                             const c10::optional<at::Tensor> &rv, double momentum, double eps);

struct ct_dist {
    int rank = 0, world = 1;
    std::string backend, master_addr;
    std::chrono::milliseconds timeout{0};
    c10::intrusive_ptr<c10d::Store> store;   // the raw store: failure marks
    c10::intrusive_ptr<c10d::ProcessGroup> pg;
    // a second group for the gradient buckets launched during the backward
    // (ct_dist_grad_sync): its own sequence of collectives, so that they
    // never interleave with the main group's (SyncBatchNorm's all-reduces
    // run inside the same backward); made by the first ct_dist_grad_sync_new
    c10::intrusive_ptr<c10d::ProcessGroup> pg_grad;
    std::string broken;                      // set after a failed collective
};

namespace {

std::string rank_str(const ct_dist *d) {
    return "rank " + std::to_string(d->rank) + " of " + std::to_string(d->world);
}

bool is_loopback(const std::string &a) {
    return a == "localhost" || a == "::1" || a.rfind("127.", 0) == 0;
}

// Which ranks are gone, asked after a collective failed here: this rank
// marks itself in the store, then waits a little for the other survivors'
// marks (their collective failed too, or will at the timeout). A store that
// does not answer means its host, rank 0, is gone.
std::string lost_ranks(ct_dist *d) {
    const std::string me = "hnd_dist_failed/" + std::to_string(d->rank);
    try {
        d->store->set(me, std::vector<uint8_t>{1});
    } catch (...) {
        return "rank 0 (the rendezvous host) lost";
    }
    auto grace = std::min<std::chrono::milliseconds>(d->timeout, std::chrono::milliseconds(1500));
    auto end = std::chrono::steady_clock::now() + grace;
    std::vector<int> missing;
    for (;;) {
        missing.clear();
        try {
            for (int r = 0; r < d->world; r++)
                if (r != d->rank && !d->store->check({"hnd_dist_failed/" + std::to_string(r)})) missing.push_back(r);
        } catch (...) {
            return "rank 0 (the rendezvous host) lost";
        }
        if (missing.empty() || std::chrono::steady_clock::now() >= end) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (missing.empty()) return "every rank failed";
    std::string s = missing.size() == 1 ? "rank " : "ranks ";
    for (size_t i = 0; i < missing.size(); i++) s += (i ? "," : "") + std::to_string(missing[i]);
    return s + " of " + std::to_string(d->world) + " lost (no answer)";
}

// Runs one collective; a failure becomes "<what>: rank 1 of 2 lost (no
// answer) (seen by rank 0 of 2): <Gloo's message>", and the group is marked
// broken so that later calls fail at once instead of waiting again.
void collective(ct_dist *d, const char *what, const std::function<void()> &fn) {
    if (!d->broken.empty()) raise(std::string(what) + ": the group failed earlier: " + d->broken);
    try {
        fn();
    } catch (const UserError &) {
        throw;
    } catch (const std::exception &e) {
        const char *m = e.what();
        if (auto *ce = dynamic_cast<const c10::Error *>(&e)) m = ce->what_without_backtrace();
        d->broken = lost_ranks(d) + " (seen by " + rank_str(d) + "): " + first_lines(m);
        raise(std::string(what) + ": " + d->broken);
    }
}

void check_list(ct_tensor *const *ts, int n, const char *what) {
    if (n < 0 || (n > 0 && !ts)) raise(std::string(what) + ": no tensor list");
    for (int i = 0; i < n; i++)
        if (!ts[i]) raise(null_arg(std::string(what) + ": tensor " + std::to_string(i) + " is NULL"));
}

// The tensors split into buckets: runs of the same dtype and device up to
// `cap` bytes (one tensor larger than cap is a bucket of its own).
std::vector<std::vector<at::Tensor>> buckets(const std::vector<at::Tensor> &ts, int64_t cap) {
    std::vector<std::vector<at::Tensor>> out;
    int64_t bytes = 0;
    for (const at::Tensor &t : ts) {
        int64_t b = t.numel() * (int64_t)t.element_size();
        bool fresh = out.empty() || bytes + b > cap || out.back()[0].scalar_type() != t.scalar_type() ||
                     out.back()[0].device() != t.device();
        if (fresh) {
            out.emplace_back();
            bytes = 0;
        }
        out.back().push_back(t);
        bytes += b;
    }
    return out;
}

at::Tensor flat(const std::vector<at::Tensor> &b) {
    std::vector<at::Tensor> v;
    v.reserve(b.size());
    for (const at::Tensor &t : b) v.push_back(t.reshape({-1}));
    return at::cat(v);
}

void unflat(const at::Tensor &f, const std::vector<at::Tensor> &b) {
    int64_t o = 0;
    for (const at::Tensor &t : b) {
        const_cast<at::Tensor &>(t).copy_(f.narrow(0, o, t.numel()).view(t.sizes()));
        o += t.numel();
    }
}

// All-reduce or broadcast of whole buckets: every bucket's collective is
// started before the first is waited for.
void bucketed(ct_dist *d, const std::vector<at::Tensor> &ts, int64_t cap, bool bcast, int root, ct_dist_op op) {
    at::NoGradGuard ng;
    auto bs = buckets(ts, cap > 0 ? cap : (int64_t)25 << 20);
    std::vector<std::vector<at::Tensor>> flats(bs.size());
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (size_t i = 0; i < bs.size(); i++) {
        flats[i] = {flat(bs[i])};
        if (bcast) {
            c10d::BroadcastOptions o;
            o.rootRank = root;
            o.timeout = d->timeout;
            works.push_back(d->pg->broadcast(flats[i], o));
        } else {
            c10d::AllreduceOptions o;
            o.reduceOp = op == CT_DIST_MAX ? c10d::ReduceOp::MAX : c10d::ReduceOp::SUM;
            o.timeout = d->timeout;
            works.push_back(d->pg->allreduce(flats[i], o));
        }
    }
    for (auto &w : works) w->wait(d->timeout);
    for (size_t i = 0; i < bs.size(); i++) {
        if (!bcast && op == CT_DIST_AVG) flats[i][0].div_((double)d->world);
        unflat(flats[i][0], bs[i]);
    }
}

// The gradients' buckets, as PyTorch DDP lays them out: the parameters in
// REVERSE order (the backward reaches the last layers first), runs of the
// same dtype and device up to cap bytes. Both gradient paths (after the
// backward, and overlapped with it) use this layout, so that Gloo reduces
// the same flat buffers and their results are bit-identical.
std::vector<std::vector<int>> grad_layout(const std::vector<at::Tensor> &ps, int64_t cap) {
    if (cap <= 0) cap = (int64_t)25 << 20;
    std::vector<std::vector<int>> out;
    int64_t bytes = 0;
    for (int i = (int)ps.size() - 1; i >= 0; i--) {
        const at::Tensor &t = ps[(size_t)i];
        int64_t b = t.numel() * (int64_t)t.element_size();
        bool fresh = out.empty() || bytes + b > cap || ps[(size_t)out.back()[0]].scalar_type() != t.scalar_type() ||
                     ps[(size_t)out.back()[0]].device() != t.device();
        if (fresh) {
            out.emplace_back();
            bytes = 0;
        }
        out.back().push_back(i);
        bytes += b;
    }
    return out;
}

// One bucket's gradients flattened and its all-reduce started (sum). A
// parameter without a .grad gets zeros first (every rank reduces the same list).
c10::intrusive_ptr<c10d::Work> launch_bucket(ct_dist *d, c10d::ProcessGroup &pg, std::vector<at::Tensor> &ps,
                                             const std::vector<int> &idx, at::Tensor &flat_out) {
    at::NoGradGuard ng;
    std::vector<at::Tensor> v;
    v.reserve(idx.size());
    for (int i : idx) {
        at::Tensor &p = ps[(size_t)i];
        if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
        v.push_back(p.grad().reshape({-1}));
    }
    flat_out = at::cat(v);
    std::vector<at::Tensor> one{flat_out};
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::SUM;
    o.timeout = d->timeout;
    return pg.allreduce(one, o);
}

// The reduced bucket back into the gradients (divided by the world for AVG).
void land_bucket(ct_dist *d, std::vector<at::Tensor> &ps, const std::vector<int> &idx, at::Tensor &flat,
                 ct_dist_op op) {
    at::NoGradGuard ng;
    if (op == CT_DIST_AVG) flat.div_((double)d->world);
    int64_t o = 0;
    for (int i : idx) {
        at::Tensor g = ps[(size_t)i].grad();
        g.copy_(flat.narrow(0, o, g.numel()).view(g.sizes()));
        o += g.numel();
    }
}

int env_int(const char *name, int lo, int hi) {
    const char *v = std::getenv(name);
    if (!v || !*v) raise(std::string(name) + " is not set (the torchrun variables MASTER_ADDR, MASTER_PORT, RANK, "
                                             "WORLD_SIZE are needed)");
    char *end = nullptr;
    long x = std::strtol(v, &end, 10);
    if (*end || x < lo || x > hi)
        raise(std::string(name) + "=" + v + ": expected an integer in " + std::to_string(lo) + ".." + std::to_string(hi));
    return (int)x;
}

// y = x, all-reduced (sum) on the forward and on the backward.
struct AllReduceSum : public torch::autograd::Function<AllReduceSum> {
    static at::Tensor forward(torch::autograd::AutogradContext *ctx, const at::Tensor &x, int64_t handle) {
        ctx->saved_data["d"] = handle;
        ct_dist *d = reinterpret_cast<ct_dist *>(handle);
        at::Tensor y = x.clone(at::MemoryFormat::Contiguous);
        collective(d, "all-reduce (autograd forward)", [&] { bucketed(d, {y}, 0, false, 0, CT_DIST_SUM); });
        return y;
    }
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                   torch::autograd::variable_list g) {
        ct_dist *d = reinterpret_cast<ct_dist *>(ctx->saved_data["d"].toInt());
        at::Tensor y = g[0].clone(at::MemoryFormat::Contiguous);
        collective(d, "all-reduce (autograd backward)", [&] { bucketed(d, {y}, 0, false, 0, CT_DIST_SUM); });
        return {y, at::Tensor()};
    }
};

// A process group of d's ranks on d's store under `prefix` (every rank must
// make it at the same point: its rendezvous goes through the store).
c10::intrusive_ptr<c10d::ProcessGroup> make_group(ct_dist *d, const std::string &prefix, const char *master_addr) {
    auto ps = c10::make_intrusive<c10d::PrefixStore>(prefix, d->store);
#ifdef USE_C10D_NCCL
    if (d->backend == "nccl") {
        auto opts = c10d::ProcessGroupNCCL::Options::create();
        opts->timeout = d->timeout;
        return c10::make_intrusive<c10d::ProcessGroupNCCL>(ps, d->rank, d->world, opts);
    }
#endif
    auto opts = c10d::ProcessGroupGloo::Options::create(d->timeout);
    const char *ifname = std::getenv("GLOO_SOCKET_IFNAME");
    if (ifname && *ifname)
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    else if (is_loopback(master_addr))
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else
        opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    opts->threads = 2;
    return c10::make_intrusive<c10d::ProcessGroupGloo>(ps, d->rank, d->world, opts);
}

ct_dist *g_sync_bn = nullptr;

// SyncBatchNorm: the per-channel count and sum all-reduced (autograd), the
// mean; the sum of squared deviations from it all-reduced, the biased
// variance; y = (x - mean) / sqrt(var + eps) * w + b. Gradients flow through
// both all-reduces to every rank's share. Running stats as PyTorch (the
// variance unbiased with the global count).
at::Tensor sync_batch_norm(const at::Tensor &x, const c10::optional<at::Tensor> &w, const c10::optional<at::Tensor> &b,
                           const c10::optional<at::Tensor> &rm, const c10::optional<at::Tensor> &rv, double momentum,
                           double eps) {
    ct_dist *d = g_sync_bn;
    if (x.dim() < 2) raise("sync batch norm: input " + shape_str(x.sizes()) + " has no channel dimension");
    const int64_t C = x.size(1);
    std::vector<int64_t> red, shape(x.dim(), 1);
    for (int64_t i = 0; i < x.dim(); i++)
        if (i != 1) red.push_back(i);
    shape[1] = C;
    const int64_t h = reinterpret_cast<int64_t>(d);
    at::Tensor cnt = at::full({1}, (double)(x.numel() / std::max<int64_t>(C, 1)), x.options());
    at::Tensor tot = AllReduceSum::apply(at::cat({x.sum(red), cnt}), h);
    at::Tensor n = tot.narrow(0, C, 1);
    at::Tensor mean = tot.narrow(0, 0, C) / n;
    at::Tensor xc = x - mean.view(shape);
    at::Tensor var = AllReduceSum::apply(xc.mul(xc).sum(red), h) / n;
    at::Tensor y = xc * (var + eps).rsqrt().view(shape);
    if (w && w->defined()) y = y * w->view(shape);
    if (b && b->defined()) y = y + b->view(shape);
    if (rm && rm->defined() && rv && rv->defined()) {
        at::NoGradGuard ng;
        const double N = n.item<double>();
        rm->mul_(1 - momentum).add_(mean.detach() * momentum);
        rv->mul_(1 - momentum).add_(var.detach() * (N > 1 ? N / (N - 1) : 1.0) * momentum);
    }
    return y;
}

}  // namespace

// The gradient all-reduce overlapped with the backward (ct_dist.h). Each
// parameter's AccumulateGrad node carries a post hook (as DDP's reducer):
// when the backward has written a parameter's .grad, its bucket counts one
// less pending; buckets are launched strictly in layout order (a ready
// bucket waits for the earlier ones), because the ranks must issue their
// collectives in the same order while their backwards may finish the
// buckets in different orders.
struct ct_dist_grad_sync {
    ct_dist *d = nullptr;
    ct_dist_op op = CT_DIST_SUM;
    std::vector<at::Tensor> params;
    std::vector<std::vector<int>> layout;     // bucket -> parameter indices
    std::vector<int> bucket_of;               // parameter -> bucket
    std::vector<std::shared_ptr<torch::autograd::Node>> accs;   // kept alive: the hooks live on them
    std::vector<uintptr_t> keys;
    std::mutex mu;
    bool armed = false;
    std::vector<char> ready;                  // per parameter, this backward
    std::vector<int> pending;                 // per bucket
    size_t next = 0;                          // buckets launched, in order
    int launched_in_backward = 0;
    std::vector<at::Tensor> flats;
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    std::string error;                        // a launch that failed inside a hook

    void reset() {
        ready.assign(params.size(), 0);
        pending.clear();
        for (const auto &b : layout) pending.push_back((int)b.size());
        next = 0;
        launched_in_backward = 0;
        flats.assign(layout.size(), at::Tensor());
        works.clear();
        error.clear();
    }
    // with mu held
    void launch_ready(bool in_backward) {
        while (next < layout.size() && pending[next] == 0 && error.empty()) {
            try {
                works.push_back(launch_bucket(d, *d->pg_grad, params, layout[next], flats[next]));
            } catch (const std::exception &e) {
                const char *m = e.what();
                if (auto *ce = dynamic_cast<const c10::Error *>(&e)) m = ce->what_without_backtrace();
                error = m;
                return;
            }
            next++;
            if (in_backward) launched_in_backward++;
        }
    }
    void on_ready(int i) {
        std::lock_guard<std::mutex> lk(mu);
        if (!armed || ready[(size_t)i]) return;
        ready[(size_t)i] = 1;
        pending[(size_t)bucket_of[(size_t)i]]--;
        launch_ready(true);
    }
    // waits for whatever an interrupted step left in flight (with mu held)
    void drain() {
        for (auto &w : works) {
            try {
                w->wait(d->timeout);
            } catch (...) {
            }
        }
        works.clear();
    }
};

extern "C" {

ct_dist_grad_sync *ct_dist_grad_sync_new(ct_dist *d, ct_tensor *const *params, int n, ct_dist_op op,
                                         int64_t bucket_bytes) {
    return guard("dist_grad_sync_new", {}, (ct_dist_grad_sync *)nullptr, [&]() -> ct_dist_grad_sync * {
        if (!d) raise("dist_grad_sync_new: no group");
        int o = enum_int(op);
        if (o != CT_DIST_SUM && o != CT_DIST_AVG) raise("dist_grad_sync_new: op must be sum or average");
        check_list(params, n, "dist_grad_sync_new");
        auto s = std::make_unique<ct_dist_grad_sync>();
        s->d = d;
        s->op = (ct_dist_op)o;
        for (int i = 0; i < n; i++) {
            const at::Tensor &p = params[i]->t;
            if (!p.requires_grad() || !p.is_leaf())
                raise("dist_grad_sync_new: tensor " + std::to_string(i) + " " + shape_str(p.sizes()) +
                      " is not a leaf that requires grad");
            s->params.push_back(p);
        }
        s->layout = grad_layout(s->params, bucket_bytes);
        s->bucket_of.assign((size_t)n, 0);
        for (size_t b = 0; b < s->layout.size(); b++)
            for (int i : s->layout[b]) s->bucket_of[(size_t)i] = (int)b;
        s->reset();
        // the second group: every rank gets here at the same point (a collective)
        if (!d->pg_grad) collective(d, "gradient group", [&] { d->pg_grad = make_group(d, "hnd_pg_grad", d->master_addr.c_str()); });
        ct_dist_grad_sync *raw = s.get();
        for (int i = 0; i < n; i++) {
            std::shared_ptr<torch::autograd::Node> acc = torch::autograd::impl::grad_accumulator(s->params[(size_t)i]);
            if (!acc) raise("dist_grad_sync_new: tensor " + std::to_string(i) + " has no gradient accumulator");
            s->keys.push_back(acc->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
                [raw, i](const torch::autograd::variable_list &outs, const torch::autograd::variable_list &) {
                    raw->on_ready(i);
                    return outs;
                })));
            s->accs.push_back(std::move(acc));
        }
        return s.release();
    });
}

int ct_dist_grad_sync_arm(ct_dist_grad_sync *s) {
    return guard("dist_grad_sync_arm", {}, -1, [&] {
        if (!s) raise("dist_grad_sync_arm: NULL");
        std::lock_guard<std::mutex> lk(s->mu);
        s->drain();
        s->reset();
        s->armed = true;
        return 0;
    });
}

int ct_dist_grad_sync_finish(ct_dist_grad_sync *s, int *overlapped) {
    if (overlapped) *overlapped = 0;
    return guard("dist_grad_sync_finish", {}, -1, [&] {
        if (!s) raise("dist_grad_sync_finish: NULL");
        std::lock_guard<std::mutex> lk(s->mu);
        if (!s->armed) {   // no backward armed: every gradient as it is (the zero-grad step)
            s->drain();
            s->reset();
        }
        s->armed = false;
        ct_dist *d = s->d;
        collective(d, "gradient all-reduce", [&] {
            if (!s->error.empty()) throw std::runtime_error(s->error);
            // the parameters the graph did not reach: their .grad as it is (zeros if none)
            for (size_t i = 0; i < s->params.size(); i++)
                if (!s->ready[i]) {
                    s->ready[i] = 1;
                    s->pending[(size_t)s->bucket_of[i]]--;
                }
            s->launch_ready(false);
            if (!s->error.empty()) throw std::runtime_error(s->error);
            for (auto &w : s->works) w->wait(d->timeout);
            for (size_t b = 0; b < s->layout.size(); b++) land_bucket(d, s->params, s->layout[b], s->flats[b], s->op);
        });
        if (overlapped) *overlapped = s->launched_in_backward;
        s->works.clear();
        s->flats.assign(s->layout.size(), at::Tensor());
        return 0;
    });
}

int ct_dist_grad_sync_buckets(const ct_dist_grad_sync *s) { return s ? (int)s->layout.size() : -1; }

void ct_dist_grad_sync_destroy(ct_dist_grad_sync *s) {
    if (!s) return;
    try {
        std::lock_guard<std::mutex> lk(s->mu);
        s->armed = false;
        // after a failure the works may never complete (a lost peer): they
        // hold their buffers themselves, so they are left to Gloo
        if (s->d->broken.empty()) s->drain();
        s->works.clear();
        for (size_t i = 0; i < s->accs.size(); i++) s->accs[i]->del_post_hook(s->keys[i]);
    } catch (...) {
    }
    delete s;
}

int ct_dist_set_sync_batch_norm(ct_dist *d) {
    g_sync_bn = d;
    ct_sync_batch_norm_hook = d ? sync_batch_norm : nullptr;
    return 0;
}

ct_dist *ct_dist_init(const char *master_addr, int master_port, int rank, int world, double timeout_s,
                      const char *backend) {
    return guard("dist_init", {}, (ct_dist *)nullptr, [&]() -> ct_dist * {
        if (!master_addr || !*master_addr) raise("no master address");
        if (master_port <= 0 || master_port > 65535) raise("master port " + std::to_string(master_port) + " out of 1..65535");
        if (world < 1 || rank < 0 || rank >= world)
            raise("rank " + std::to_string(rank) + " of world size " + std::to_string(world) + ": need 0 <= rank < world");
        if (!(timeout_s > 0)) raise("timeout must be > 0 seconds");
        std::string be = backend && *backend ? backend : "gloo";
        if (be != "gloo" && be != "nccl") raise("backend '" + be + "': expected gloo or nccl");
#ifndef USE_C10D_NCCL
        if (be == "nccl")
            raise("backend nccl: this build has no NCCL (needs a CUDA libtorch and cmake -DHND_DIST_NCCL=ON); use gloo");
#endif
        auto d = std::make_unique<ct_dist>();
        d->rank = rank;
        d->world = world;
        d->backend = be;
        d->timeout = std::chrono::milliseconds((int64_t)(timeout_s * 1000.0));
        std::string where = std::string(master_addr) + ":" + std::to_string(master_port);
        try {
            c10d::TCPStoreOptions so;
            so.port = (uint16_t)master_port;
            so.isServer = rank == 0;
            so.numWorkers = (size_t)world;
            so.waitWorkers = true;
            so.timeout = d->timeout;
            d->store = c10::make_intrusive<c10d::TCPStore>(std::string(master_addr), so);
            d->master_addr = master_addr;
            d->pg = make_group(d.get(), "hnd_pg", master_addr);
        } catch (const UserError &) {
            throw;
        } catch (const std::exception &e) {
            const char *m = e.what();
            if (auto *ce = dynamic_cast<const c10::Error *>(&e)) m = ce->what_without_backtrace();
            raise("rendezvous at " + where + " as rank " + std::to_string(rank) + " of " + std::to_string(world) +
                  " (timeout " + std::to_string(timeout_s) + " s): " + first_lines(m));
        }
        return d.release();
    });
}

ct_dist *ct_dist_init_env(double timeout_s, const char *backend) {
    std::string addr;
    int port = 0, rank = 0, world = 0;
    bool ok = guard("dist_init", {}, false, [&] {
        const char *a = std::getenv("MASTER_ADDR");
        if (!a || !*a) raise("MASTER_ADDR is not set (the torchrun variables MASTER_ADDR, MASTER_PORT, RANK, "
                             "WORLD_SIZE are needed)");
        addr = a;
        port = env_int("MASTER_PORT", 1, 65535);
        world = env_int("WORLD_SIZE", 1, 1 << 20);
        rank = env_int("RANK", 0, world - 1);
        return true;
    });
    if (!ok) return nullptr;
    return ct_dist_init(addr.c_str(), port, rank, world, timeout_s, backend);
}

void ct_dist_destroy(ct_dist *d) {
    if (!d) return;
    if (g_sync_bn == d) ct_dist_set_sync_batch_norm(nullptr);
    try {
        d->pg_grad.reset();
        d->pg.reset();
        d->store.reset();
    } catch (...) {
    }
    delete d;
}

int ct_dist_rank(const ct_dist *d) { return d ? d->rank : -1; }
int ct_dist_world(const ct_dist *d) { return d ? d->world : -1; }
const char *ct_dist_backend(const ct_dist *d) { return d ? d->backend.c_str() : ""; }

int ct_dist_allreduce(ct_dist *d, ct_tensor *const *ts, int n, ct_dist_op op, int64_t bucket_bytes) {
    return guard("dist_allreduce", {}, -1, [&] {
        if (!d) raise("dist_allreduce: no group");
        int o = enum_int(op);
        if (o < CT_DIST_SUM || o > CT_DIST_MAX) raise("dist_allreduce: unknown op " + std::to_string(o));
        check_list(ts, n, "dist_allreduce");
        std::vector<at::Tensor> v;
        for (int i = 0; i < n; i++) v.push_back(ts[i]->t);
        if (v.empty()) return 0;
        collective(d, "all-reduce", [&] { bucketed(d, v, bucket_bytes, false, 0, (ct_dist_op)o); });
        return 0;
    });
}

int ct_dist_allreduce_grads(ct_dist *d, ct_tensor *const *params, int n, ct_dist_op op, int64_t bucket_bytes) {
    return guard("dist_allreduce_grads", {}, -1, [&] {
        if (!d) raise("dist_allreduce_grads: no group");
        int o = enum_int(op);
        if (o < CT_DIST_SUM || o > CT_DIST_MAX) raise("dist_allreduce_grads: unknown op " + std::to_string(o));
        check_list(params, n, "dist_allreduce_grads");
        std::vector<at::Tensor> ps;
        for (int i = 0; i < n; i++) ps.push_back(params[i]->t);
        if (ps.empty()) return 0;
        collective(d, "gradient all-reduce", [&] {
            auto lay = grad_layout(ps, bucket_bytes);
            std::vector<at::Tensor> flats(lay.size());
            std::vector<c10::intrusive_ptr<c10d::Work>> works;
            for (size_t b = 0; b < lay.size(); b++) works.push_back(launch_bucket(d, *d->pg, ps, lay[b], flats[b]));
            for (auto &w : works) w->wait(d->timeout);
            for (size_t b = 0; b < lay.size(); b++) land_bucket(d, ps, lay[b], flats[b], (ct_dist_op)o);
        });
        return 0;
    });
}

int ct_dist_broadcast(ct_dist *d, ct_tensor *const *ts, int n, int root) {
    return guard("dist_broadcast", {}, -1, [&] {
        if (!d) raise("dist_broadcast: no group");
        if (root < 0 || root >= d->world) raise("dist_broadcast: root " + std::to_string(root) + " is not a rank");
        check_list(ts, n, "dist_broadcast");
        std::vector<at::Tensor> v;
        for (int i = 0; i < n; i++) v.push_back(ts[i]->t);
        if (v.empty()) return 0;
        collective(d, "broadcast", [&] { bucketed(d, v, 0, true, root, CT_DIST_SUM); });
        return 0;
    });
}

int ct_dist_allgather_bytes(ct_dist *d, const void *buf, size_t len, void **out, size_t *lens) {
    if (out) *out = nullptr;
    return guard("dist_allgather_bytes", {}, -1, [&] {
        if (!d || !out || !lens || (len && !buf)) raise("dist_allgather_bytes: NULL argument");
        const int W = d->world;
        std::vector<int64_t> got(W);
        at::Tensor all;
        collective(d, "all-gather", [&] {
            // the lengths first, then every buffer padded to the longest
            std::vector<at::Tensor> in{at::full({1}, (int64_t)len, at::kLong)};
            std::vector<std::vector<at::Tensor>> outs(1);
            for (int r = 0; r < W; r++) outs[0].push_back(at::zeros({1}, at::kLong));
            d->pg->allgather(outs, in)->wait(d->timeout);
            int64_t mx = 0;
            for (int r = 0; r < W; r++) {
                got[r] = outs[0][r].item<int64_t>();
                mx = std::max(mx, got[r]);
            }
            std::vector<at::Tensor> bin{at::zeros({std::max<int64_t>(mx, 1)}, at::kByte)};
            if (len) std::memcpy(bin[0].data_ptr(), buf, len);
            std::vector<std::vector<at::Tensor>> bouts(1);
            for (int r = 0; r < W; r++) bouts[0].push_back(at::empty({std::max<int64_t>(mx, 1)}, at::kByte));
            d->pg->allgather(bouts, bin)->wait(d->timeout);
            all = at::cat(bouts[0]);
            (void)mx;
        });
        size_t total = 0;
        for (int r = 0; r < W; r++) total += (size_t)got[r];
        char *o = static_cast<char *>(std::malloc(total ? total : 1));
        if (!o) raise("dist_allgather_bytes: out of memory (" + std::to_string(total) + " bytes)");
        const int64_t stride = all.numel() / W;
        const char *src = static_cast<const char *>(all.data_ptr());
        size_t at_ = 0;
        for (int r = 0; r < W; r++) {
            if (got[r]) std::memcpy(o + at_, src + (size_t)r * (size_t)stride, (size_t)got[r]);
            at_ += (size_t)got[r];
            lens[r] = (size_t)got[r];
        }
        *out = o;
        return 0;
    });
}

int ct_dist_barrier(ct_dist *d) {
    return guard("dist_barrier", {}, -1, [&] {
        if (!d) raise("dist_barrier: no group");
        // an all-reduce of one number rather than pg->barrier(): Gloo's barrier
        // takes no timeout of its own and behaves alike for our purpose
        at::Tensor t = at::ones({1});
        collective(d, "barrier", [&] { bucketed(d, {t}, 0, false, 0, CT_DIST_SUM); });
        return 0;
    });
}

ct_tensor *ct_dist_allreduce_sum_autograd(ct_dist *d, const ct_tensor *x) {
    return guard("dist_allreduce_sum_autograd", {A("x", x, 2)}, (ct_tensor *)nullptr, [&] {
        if (!d) raise("no group");
        return wrap(AllReduceSum::apply(x->t, reinterpret_cast<int64_t>(d)));
    });
}

}  // extern "C"
