#!/usr/bin/env python3
"""The b-bit bottleneck quantizer (models/bottleneck_quant.h, b = 2..8)
against the reference's quantize_tensor / dequantize_tensor, written here
in torch from its formula (myutils tensor_util, after eladhoffer's
utils.pytorch quantize.py):

    qmin, qmax = 0., 2.**num_bits - 1.
    scale = (max - min) / (qmax - qmin)
    initial_zero_point = qmin - min / scale
    zero_point = clamp to [qmin, qmax], then int()
    q_x = (zero_point + x / scale).clamp_(qmin, qmax).round_().byte()
    x^  = scale * (q_x.float() - zero_point)

Inputs: activations-like tensors (ReLU'd, signed, all negative, tiny and
large ranges, exact .5 ties). Every q, scale, zero point and x^ must be
equal bit for bit, and the reported size must be ceil(n * b / 8) + 5.

usage: check_quant_bits.py WORKDIR   (env HND_BIN_DIR: where tests/quant_bits_dump is)
"""
import math
import os
import subprocess
import sys

import h5py
import numpy as np
import torch

DUMP = os.path.join(os.environ.get("HND_BIN_DIR", "."), "tests", "quant_bits_dump")


def quantize_tensor(x, num_bits):
    qmin = 0.
    qmax = 2. ** num_bits - 1.
    min_val, max_val = x.min(), x.max()
    scale = (max_val - min_val) / (qmax - qmin)
    initial_zero_point = qmin - min_val / scale
    if initial_zero_point < qmin:
        zero_point = qmin
    elif initial_zero_point > qmax:
        zero_point = qmax
    else:
        zero_point = initial_zero_point
    zero_point = int(zero_point)
    q_x = zero_point + x / scale
    q_x.clamp_(qmin, qmax).round_()
    return q_x.round().byte(), scale, zero_point


def inputs():
    g = torch.Generator().manual_seed(16)
    return {
        "relu": torch.relu(torch.randn(1, 3, 13, 17, generator=g) * 2.5),
        "signed": torch.randn(1, 6, 9, 11, generator=g) * 7 - 1,
        "negative": -torch.rand(2, 5, 7, generator=g) - 0.25,
        "tiny": torch.randn(3, 40, generator=g) * 1e-4 + 3e-4,
        "large": torch.randn(500, generator=g) * 3e3,
        "ties": torch.arange(0, 64, dtype=torch.float32) / 4.0,   # many exact .5 steps at b = 8
    }


def main():
    work = sys.argv[1]
    os.makedirs(work, exist_ok=True)
    src, out = os.path.join(work, "q_in.h5"), os.path.join(work, "q_out.h5")
    xs = inputs()
    with h5py.File(src, "w") as f:
        g = f.create_group("weights")
        for k, v in xs.items():
            g[k] = v.numpy()
    p = subprocess.run([DUMP, src, out], capture_output=True, text=True)
    if p.returncode != 0:
        print("FAIL: quant_bits_dump:", p.stderr)
        return 1
    bad = 0
    with h5py.File(out, "r") as f:
        g = f["weights"]
        for k, x in xs.items():
            for b in range(2, 9):
                q, scale, zp = quantize_tensor(x.clone(), b)
                xhat = scale * (q.float() - zp)
                got_q = g[f"{k}.b{b}.q"][()]
                got_s = g[f"{k}.b{b}.scale"][0]
                got_zp = int(g[f"{k}.b{b}.zp"][0])
                got_x = g[f"{k}.b{b}.xhat"][()]
                wire = int(g[f"{k}.b{b}.wire"][0])
                errs = []
                if got_s != np.float32(scale.item()):
                    errs.append(f"scale {got_s!r} != {scale.item()!r}")
                if got_zp != zp:
                    errs.append(f"zero point {got_zp} != {zp}")
                if got_q.dtype != np.uint8 or not np.array_equal(got_q, q.numpy()):
                    n = int((got_q != q.numpy()).sum()) if got_q.shape == tuple(q.shape) else -1
                    errs.append(f"q differs in {n} of {q.numel()} values")
                if got_q.max() > 2 ** b - 1:
                    errs.append(f"q max {got_q.max()} > {2 ** b - 1}")
                if not np.array_equal(got_x, xhat.numpy()):
                    errs.append(f"x^ differs (max |d| {np.abs(got_x - xhat.numpy()).max():.3g})")
                if wire != math.ceil(x.numel() * b / 8) + 5:
                    errs.append(f"wire bytes {wire} != ceil({x.numel()}*{b}/8)+5")
                if errs:
                    bad += 1
                    print(f"FAIL {k} b={b}: " + "; ".join(errs))
            print(f"{k}: b=2..8 equal to quantize_tensor (zp at 8 bits: {int(g[k + '.b8.zp'][0])})")
    if bad:
        print(f"{bad} failure(s)")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
