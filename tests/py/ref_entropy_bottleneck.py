#!/usr/bin/env python3
"""Reference values for tests/test_entropy_bottleneck.c, with PyTorch 1.13.

Usage: ref_entropy_bottleneck.py OUTDIR

A factorized-prior density written here from the equations of Balle et al.,
"Variational image compression with a scale hyperprior" (ICLR 2018), appendix
6.1 (not from our C code, nor CompressAI's): per channel, a cumulative logit
g = f_3 o f_2 o f_1 o f_0 with f_k(x) = softplus(H_k) @ x + b_k and, for
k < 3, x + tanh(a_k) * tanh(x); filters 1 -> 3 -> 3 -> 3 -> 1. The
likelihood of y is sigmoid(g(y + 1/2)) - sigmoid(g(y - 1/2)), evaluated on
the side of the sigmoid where it is accurate, bounded below by 1e-9; the
rate is sum(-log2 p); the quantile (aux) loss is sum |g(q) - (-t, 0, t)|
with t = log(2 / 1e-9 - 1) and the density's parameters detached.

Writes OUTDIR/eb.h5: /weights/entropy_bottleneck.* (non-trivial values:
random matrices, biases, factors and quantiles around trained-looking
values), and group "ref":
  y        the input [2,C,5,7]
  lik      likelihoods of y
  bits     sum(-log2 lik)
  g_y      d bits / d y
  g_<key>  d bits / d parameter (matrices, biases, factors)
  aux      the aux loss; g_quantiles its gradient
  deq      round(y - median) + median
  pmf      the pmf of each channel's symbols [C, max_len] (0 past the
           channel's length), offset [C] and length [C] (int32), tail [C]
  init_matrix0 / init_matrix3  the initial softplus^-1 values
"""
import math
import os
import sys

import h5py
import numpy as np
import torch

C = 3
FILTERS = (1, 3, 3, 3, 1)


def softplus(x):
    return torch.log1p(torch.exp(-x.abs())) + x.clamp(min=0)


def logits_cumulative(p, x, detach=False):
    """x [C,1,N] -> [C,1,N]"""
    for k in range(4):
        h, b = p[f"_matrix{k}"], p[f"_bias{k}"]
        if detach:
            h, b = h.detach(), b.detach()
        x = torch.einsum("coi,cin->con", softplus(h), x) + b
        if k < 3:
            a = p[f"_factor{k}"].detach() if detach else p[f"_factor{k}"]
            x = x + torch.tanh(a) * torch.tanh(x)
    return x


def mass(lo, up):
    # sigma(u) - sigma(l) = sigma(-l) - sigma(-u): use the side whose
    # arguments are negative (the flat tail), then the absolute value
    s = torch.where(lo + up > 0, -torch.ones_like(lo), torch.ones_like(lo))
    s = torch.where(lo + up == 0, torch.zeros_like(lo), s)
    return (torch.sigmoid(s * up) - torch.sigmoid(s * lo)).abs()


class PassLowerBound(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, bound):
        return x.clamp(min=bound)

    @staticmethod
    def backward(ctx, g):
        return g, None


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(7)
    p = {}
    for k in range(4):
        o, i = FILTERS[k + 1], FILTERS[k]
        p[f"_matrix{k}"] = (torch.randn(C, o, i) * 0.5 - 0.3).double()
        p[f"_bias{k}"] = (torch.rand(C, o, 1) - 0.5).double()
        if k < 3:
            p[f"_factor{k}"] = (torch.randn(C, o, 1) * 0.4).double()
    med = torch.tensor([0.3, -1.2, 2.05])
    p["quantiles"] = torch.stack([med - torch.tensor([3.1, 5.6, 2.2]), med, med + torch.tensor([4.4, 2.9, 6.3])],
                                 1).view(C, 1, 3).double()
    for v in p.values():
        v.requires_grad_(True)
    # float32 for the file: the C side computes in float32; the reference
    # itself runs in float64 from the same float32 values
    for k in p:
        p[k] = p[k].detach().float().double().requires_grad_(True)

    y = (torch.randn(2, C, 5, 7) * 2.5).float().double().requires_grad_(True)
    cols = y.permute(1, 0, 2, 3).reshape(C, 1, -1)
    lo = logits_cumulative(p, cols - 0.5)
    up = logits_cumulative(p, cols + 0.5)
    lik = PassLowerBound.apply(mass(lo, up), 1e-9)
    lik4 = lik.reshape(C, 2, 5, 7).permute(1, 0, 2, 3)
    bits = -(torch.log(lik4) / math.log(2.0)).sum()
    main_keys = [k for k in p if k != "quantiles"]
    grads = torch.autograd.grad(bits, [y] + [p[k] for k in main_keys])

    t = math.log(2 / 1e-9 - 1)
    target = torch.tensor([-t, 0.0, t], dtype=torch.float64).view(1, 1, 3)
    aux = (logits_cumulative(p, p["quantiles"], detach=True) - target).abs().sum()
    (g_q,) = torch.autograd.grad(aux, [p["quantiles"]])

    with torch.no_grad():
        m = p["quantiles"][:, 0, 1].float()
        deq = (torch.round(y.float() - m.view(1, C, 1, 1)) + m.view(1, C, 1, 1))
        q = p["quantiles"].float()
        minima = torch.clamp(torch.ceil(m - q[:, 0, 0]), min=0).int()
        maxima = torch.clamp(torch.ceil(q[:, 0, 2] - m), min=0).int()
        length = minima + maxima + 1
        L = int(length.max())
        pmf = torch.zeros(C, L, dtype=torch.float64)
        tail = torch.zeros(C, dtype=torch.float64)
        for c in range(C):
            n = int(length[c])
            s = (torch.arange(n, dtype=torch.float64) + (float(m[c]) - float(minima[c]))).view(1, 1, n)
            pc = {k: v[c:c + 1] for k, v in p.items()}
            lo_c = logits_cumulative(pc, s - 0.5)
            up_c = logits_cumulative(pc, s + 0.5)
            pmf[c, :n] = mass(lo_c, up_c)[0, 0]
            tail[c] = torch.sigmoid(lo_c[0, 0, 0]) + torch.sigmoid(-up_c[0, 0, -1])

    scale = 10.0 ** (1 / 4)
    with h5py.File(os.path.join(out, "eb.h5"), "w") as f:
        for k, v in p.items():
            f.create_dataset("weights/entropy_bottleneck." + k, data=v.detach().float().numpy())
        r = f.create_group("ref")
        r["y"] = y.detach().float().numpy()
        r["lik"] = lik4.detach().numpy()
        r["bits"] = np.array(bits.item())
        r["g_y"] = grads[0].numpy()
        for k, g in zip(main_keys, grads[1:]):
            r["g_" + k] = g.numpy()
        r["aux"] = np.array(aux.item())
        r["g_quantiles"] = g_q.numpy()
        r["deq"] = deq.numpy()
        r["pmf"] = pmf.numpy()
        r["tail"] = tail.numpy()
        r["offset"] = (-minima).numpy().astype(np.int32)
        r["length"] = length.numpy().astype(np.int32)
        r["init_matrix0"] = np.array(math.log(math.expm1(1 / scale / 3)))
        r["init_matrix3"] = np.array(math.log(math.expm1(1 / scale / 1)))
    print("bits %.6f aux %.6f" % (bits.item(), aux.item()))


if __name__ == "__main__":
    main()
