#!/usr/bin/env python3
"""Reference values for tests/test_ctorch.c, computed with PyTorch.

Usage: ref_ctorch.py OUTDIR

Writes one pair of files per tensor into OUTDIR:
  NAME.bin    raw little-endian data, C order
  NAME.shape  one text line: dtype name (as ct_dtype_name) then the dims
Inputs are written as well as outputs, so the C side never has to reproduce
Python's random generator.
"""
import refcache  # noqa: E402  (tests/py/refcache.py: reused across the plain and sanitizer passes)
refcache.run_cached(__file__, "dir")
import math
import os
import sys

import torch
import torch.nn.functional as F

OUT = sys.argv[1] if len(sys.argv) > 1 else "ctorch_ref"
os.makedirs(OUT, exist_ok=True)

NAMES = {torch.float32: "float32", torch.float64: "float64", torch.int64: "int64",
         torch.bool: "bool", torch.uint8: "uint8", torch.int32: "int32"}


def save(name, t):
    t = t.detach().contiguous().cpu()
    with open(os.path.join(OUT, name + ".shape"), "w") as f:
        f.write(" ".join([NAMES[t.dtype]] + [str(d) for d in t.shape]) + "\n")
    data = t.numpy().astype(t.numpy().dtype.newbyteorder("<"), copy=False).tobytes()
    with open(os.path.join(OUT, name + ".bin"), "wb") as f:
        f.write(data)


torch.manual_seed(1234)
torch.set_num_threads(1)


def rnd(*shape):
    return torch.randn(*shape, dtype=torch.float32)


# ---- conv2d: stride, padding, dilation, groups, bias ----
x = rnd(2, 4, 9, 11); w = rnd(6, 2, 3, 3); b = rnd(6)
save("conv_x", x); save("conv_w", w); save("conv_b", b)
save("conv_y", F.conv2d(x, w, b, stride=(2, 1), padding=(1, 2), dilation=(2, 1), groups=2))

# ---- conv_transpose2d ----
x = rnd(1, 4, 5, 6); w = rnd(4, 3, 3, 3); b = rnd(6)
save("convt_x", x); save("convt_w", w); save("convt_b", b)
save("convt_y", F.conv_transpose2d(x, w, b, stride=(2, 2), padding=(1, 0), output_padding=(1, 0),
                                   groups=2, dilation=(1, 2)))

# ---- batch_norm in training mode: output and updated running stats ----
x = rnd(4, 3, 5, 5) * 2 + 1; w = rnd(3); b = rnd(3)
rm = rnd(3); rv = torch.rand(3) + 0.5
save("bn_x", x); save("bn_w", w); save("bn_b", b); save("bn_rm0", rm); save("bn_rv0", rv)
rm2, rv2 = rm.clone(), rv.clone()
save("bn_y", F.batch_norm(x, rm2, rv2, w, b, training=True, momentum=0.1, eps=1e-5))
save("bn_rm1", rm2); save("bn_rv1", rv2)
save("bn_eval_y", F.batch_norm(x, rm, rv, w, b, training=False, eps=1e-5))

# ---- frozen batch norm, as torchvision.ops.FrozenBatchNorm2d ----
rv_f = torch.rand(3) + 0.1
save("fbn_rv", rv_f)
try:
    from torchvision.ops.misc import FrozenBatchNorm2d
    m = FrozenBatchNorm2d(3, eps=1e-5)
    m.weight.copy_(w); m.bias.copy_(b); m.running_mean.copy_(rm); m.running_var.copy_(rv_f)
    save("fbn_y", m(x))
except ImportError:  # the same arithmetic, written out
    sh = (1, -1, 1, 1)
    scale = w.reshape(sh) * (rv_f.reshape(sh) + 1e-5).rsqrt()
    save("fbn_y", x * scale + (b.reshape(sh) - rm.reshape(sh) * scale))

# ---- interpolate ----
x = rnd(1, 2, 5, 7)
save("interp_x", x)
save("interp_bl_size", F.interpolate(x, size=(8, 3), mode="bilinear", align_corners=False))
save("interp_bl_size_ac", F.interpolate(x, size=(9, 13), mode="bilinear", align_corners=True))
save("interp_bl_scale", F.interpolate(x, scale_factor=(1.7, 0.55), mode="bilinear",
                                      align_corners=False))
save("interp_bl_scale_rc", F.interpolate(x, scale_factor=(1.7, 0.55), mode="bilinear",
                                         align_corners=False, recompute_scale_factor=True))
save("interp_nn_size", F.interpolate(x, size=(11, 4), mode="nearest"))
save("interp_nn_scale", F.interpolate(x, scale_factor=(2.3, 0.6), mode="nearest"))
save("interp_nn_scale_rc", F.interpolate(x, scale_factor=(2.3, 0.6), mode="nearest",
                                         recompute_scale_factor=True))

# ---- max_pool2d with ceil_mode ----
x = rnd(1, 2, 7, 8)
save("pool_x", x)
save("pool_y", F.max_pool2d(x, kernel_size=(3, 2), stride=(2, 2), padding=(1, 0), dilation=1,
                            ceil_mode=True))

# ---- softmax family and losses ----
x = rnd(3, 5)
save("lsm_x", x); save("lsm_y", F.log_softmax(x, dim=1))

logits = rnd(6, 5); target = torch.tensor([0, 4, 2, -100, 1, 4], dtype=torch.int64)
cw = torch.rand(5) + 0.5
save("ce_logits", logits); save("ce_target", target); save("ce_w", cw)
save("ce_mean", F.cross_entropy(logits, target))
save("ce_sum", F.cross_entropy(logits, target, reduction="sum"))
save("ce_none", F.cross_entropy(logits, target, reduction="none"))
save("ce_w_mean", F.cross_entropy(logits, target, weight=cw))

a = rnd(4, 7); t = rnd(4, 7) * 0.2 + a
save("sl1_a", a); save("sl1_t", t)
save("sl1_sum", F.smooth_l1_loss(a, t, beta=1.0 / 9, reduction="sum"))
save("sl1_mean", F.smooth_l1_loss(a, t, beta=1.0 / 9))
save("sl1_none", F.smooth_l1_loss(a, t, beta=0.5, reduction="none"))

z = rnd(3, 4); y = (torch.rand(3, 4) > 0.5).float(); pw = torch.rand(4) + 0.5
save("bce_z", z); save("bce_y", y); save("bce_pw", pw)
save("bce_mean", F.binary_cross_entropy_with_logits(z, y))
save("bce_sum_pw", F.binary_cross_entropy_with_logits(z, y, pos_weight=pw, reduction="sum"))

# ---- autograd: grads of mse_sum(relu(conv2d(x, w, b)), target) ----
x = rnd(1, 2, 6, 6).requires_grad_()
w = (rnd(3, 2, 3, 3) * 0.5).requires_grad_()
b = rnd(3).requires_grad_()
tg = rnd(1, 3, 6, 6)
save("ag_x", x); save("ag_w", w); save("ag_b", b); save("ag_t", tg)
loss = F.mse_loss(F.relu(F.conv2d(x, w, b, padding=1)), tg, reduction="sum")
loss.backward()
save("ag_loss", loss); save("ag_gx", x.grad); save("ag_gw", w.grad); save("ag_gb", b.grad)

# ---- optimizers: 3 steps on a small quadratic ----
p1 = rnd(3, 4); p2 = rnd(5); c1 = rnd(3, 4); c2 = rnd(5); a1 = torch.rand(3, 4) + 0.5
save("opt_p1", p1); save("opt_p2", p2); save("opt_c1", c1); save("opt_c2", c2); save("opt_a1", a1)


def quad(q1, q2):
    # sum(a1 * (q1 - c1)^2) + 0.5 * sum((q2 - c2)^2 * (q2 - c2)^2)
    d2 = q2 - c2
    return (a1 * (q1 - c1) * (q1 - c1)).sum() + (d2 * d2 * d2 * d2).sum() * 0.5


def run(name, make):
    q1 = p1.clone().requires_grad_(); q2 = p2.clone().requires_grad_()
    opt = make([q1, q2])
    for _ in range(3):
        opt.zero_grad()
        quad(q1, q2).backward()
        opt.step()
    save(name + "_p1", q1); save(name + "_p2", q2)


run("sgd", lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=1e-4))
run("sgdn", lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True,
                                         weight_decay=1e-3))
run("adam", lambda ps: torch.optim.Adam(ps, lr=1e-3))
run("adamw", lambda ps: torch.optim.Adam(ps, lr=1e-2, betas=(0.8, 0.99), eps=1e-6,
                                           weight_decay=0.1, amsgrad=True))

with open(os.path.join(OUT, "DONE"), "w") as f:
    f.write(torch.__version__ + "\n")
