"""Checks hnd's TorchScript head (hnd export --format torchscript) against hnd's
own head, in PyTorch.

usage: check_export_ts.py REF_DIR [--b8 HEAD.pt] [--b16 HEAD.pt] [--b32 HEAD.pt]

REF_DIR is export_head_ref's output (tests/export_head_ref.c): in_k.npy the
transformed images, f_k/h_k/q_k.npy hnd's head at 32/16/8 bits, meta.json
the scale and zero point of each image. Each given head.pt is loaded with
torch.jit.load and run on every in_k.npy:
  32 bits: max |z - f| / max |f| <= 1e-4
  16 bits: |z - h| <= one float16 ulp (of the larger of the two) everywhere
   8 bits: z off from q by at most 1, on at most 0.1% of the elements;
           scale within 1e-5 relative; zero point equal.
With both --b8 and --b32, the 8-bit head's output must also be exactly
bottleneck_quant.h's formulas applied (here, in PyTorch) to the 32-bit
head's output: the quantizer itself is bit-exact, only the convolutions
(BN folded here, not in hnd's head) differ by rounding.
Also checks the archive's hnd.json, the module's parameters, eval mode and
its errors, and reports (without requiring) whether torch.jit.freeze and
optimize_for_mobile accept the module. Prints the measured figures.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch


def quantize_ref(z):
    """bottleneck_quant.h in float32 PyTorch ops (the reference project's
    quantize_tensor with the max == min guard)."""
    mn, mx = z.min(), z.max()
    if mx == mn:
        scale = torch.ones_like(mx) if mx == 0 else mx.abs()
    else:
        scale = (mx - mn) / 255.0
    zp = int(torch.clamp(0.0 - mn / scale, 0.0, 255.0).item())
    q = torch.round(torch.clamp(z / scale + zp, 0.0, 255.0)).to(torch.uint8)
    return q, scale, zp


def load(path, bits, failures):
    extra = {"hnd.json": ""}
    m = torch.jit.load(path, _extra_files=extra)
    meta = json.loads(extra["hnd.json"])
    if meta.get("bits") != bits or meta.get("format") != "hnd-head":
        failures.append(f"{path}: hnd.json says format {meta.get('format')} bits {meta.get('bits')}, want {bits}")
    for key in ("mean", "std", "min_size", "max_size", "size_divisible"):
        if key not in meta.get("input", {}):
            failures.append(f"{path}: hnd.json input lacks {key}")
    if m.training:
        failures.append(f"{path}: module is in training mode")
    params = dict(m.named_parameters())
    nparam = sum(p.numel() for p in params.values())
    if not params or any(p.requires_grad for p in params.values()) or any(p.dtype != torch.float32 for p in params.values()):
        failures.append(f"{path}: parameters {[(k, p.dtype, p.requires_grad) for k, p in params.items()]}")
    print(f"{os.path.basename(os.path.dirname(path)) or path}: {len(params)} parameter tensors, {nparam} floats, "
          f"arch {meta.get('arch')}, C = {meta.get('channels')}")
    return m, meta


def check_errors(m, path, failures):
    for bad, what in ((torch.zeros(1, 4, 32, 32), "4 channels"), (torch.zeros(3, 32, 32), "3-d input"),
                      (torch.zeros(1, 3, 32, 32, dtype=torch.float64), "float64")):
        try:
            m(bad)
            failures.append(f"{path}: {what} accepted")
        except Exception as e:  # torch.jit.Error
            if "hnd head" not in str(e):
                failures.append(f"{path}: {what}: unexpected message {str(e)[:200]}")


def report_tools(m, path):
    try:
        f = torch.jit.freeze(m.eval())
        print(f"  torch.jit.freeze: ok ({len(list(f.named_parameters()))} parameters left)")
    except Exception as e:
        print(f"  torch.jit.freeze: failed: {str(e).splitlines()[0][:200]}")
        f = None
    try:
        from torch.utils.mobile_optimizer import optimize_for_mobile
        o = optimize_for_mobile(m)
        print(f"  optimize_for_mobile: ok")
        return o
    except Exception as e:
        print(f"  optimize_for_mobile: failed: {str(e).splitlines()[0][:200]}")
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ref")
    ap.add_argument("--b8")
    ap.add_argument("--b16")
    ap.add_argument("--b32")
    a = ap.parse_args()
    torch.set_grad_enabled(False)
    with open(os.path.join(a.ref, "meta.json")) as f:
        images = json.load(f)["images"]
    failures = []
    heads = {}
    for bits, path in ((32, a.b32), (16, a.b16), (8, a.b8)):
        if path:
            m, _ = load(path, bits, failures)
            check_errors(m, path, failures)
            heads[bits] = (m, path, report_tools(m, path))
    if not heads:
        sys.exit("check_export_ts: no head given")

    for k, im in enumerate(images):
        x = torch.from_numpy(np.load(os.path.join(a.ref, f"in_{k}.npy")))
        line = f"image {k} in {list(x.shape)}:"
        z32 = None
        if 32 in heads:
            m, path, mob = heads[32]
            ref = np.load(os.path.join(a.ref, f"f_{k}.npy"))
            z = m(x)
            z32 = z
            if z.dtype != torch.float32 or list(z.shape) != list(ref.shape):
                failures.append(f"{path} image {k}: {z.dtype} {list(z.shape)} vs float32 {list(ref.shape)}")
            else:
                rel = float(np.abs(z.numpy() - ref).max() / max(np.abs(ref).max(), 1e-30))
                line += f" f32 rel {rel:.2e}"
                if rel > 1e-4:
                    failures.append(f"{path} image {k}: float32 rel diff {rel:.3e} > 1e-4")
            if mob is not None and not torch.equal(mob(x), z):
                d = float((mob(x) - z).abs().max())
                line += f" (mobile max diff {d:.1e})"
        if 16 in heads:
            m, path, _ = heads[16]
            ref = np.load(os.path.join(a.ref, f"h_{k}.npy"))
            z = m(x)
            if z.dtype != torch.float16 or list(z.shape) != list(ref.shape):
                failures.append(f"{path} image {k}: {z.dtype} {list(z.shape)} vs float16 {list(ref.shape)}")
            else:
                zn = z.numpy()
                ulp = np.spacing(np.maximum(np.abs(zn), np.abs(ref)).astype(np.float16)).astype(np.float32)
                d = np.abs(zn.astype(np.float32) - ref.astype(np.float32))
                worst = float((d / ulp).max())
                nd = int((d > 0).sum())
                line += f" f16 max {worst:.0f} ulp ({nd}/{d.size} differ)"
                if worst > 1:
                    failures.append(f"{path} image {k}: float16 off by {worst} ulp")
        if 8 in heads:
            m, path, _ = heads[8]
            ref = np.load(os.path.join(a.ref, f"q_{k}.npy"))
            out = m(x)
            if not isinstance(out, tuple) or len(out) != 3:
                failures.append(f"{path} image {k}: returned {type(out)}, want (z, scale, zero_point)")
                continue
            q, scale, zp = out
            ok = (q.dtype == torch.uint8 and list(q.shape) == list(ref.shape) and scale.dtype == torch.float32
                  and scale.dim() == 0 and zp.dtype == torch.uint8 and zp.dim() == 0)
            if not ok:
                failures.append(f"{path} image {k}: {q.dtype} {list(q.shape)}, scale {scale.dtype} {list(scale.shape)}, "
                                f"zp {zp.dtype} {list(zp.shape)}")
                continue
            d = np.abs(q.numpy().astype(np.int16) - ref.astype(np.int16))
            frac = float((d > 0).mean())
            srel = abs(float(scale) - im["scale"]) / abs(im["scale"])
            line += (f" u8 max |dq| {int(d.max())}, {int((d > 0).sum())}/{d.size} ({100 * frac:.3f}%) off,"
                     f" scale rel {srel:.1e}, zp {int(zp)} vs {im['zero_point']}")
            if d.max() > 1 or frac > 1e-3:
                failures.append(f"{path} image {k}: uint8 max diff {d.max()}, {100 * frac:.3f}% differ")
            if srel > 1e-5:
                failures.append(f"{path} image {k}: scale {float(scale)} vs {im['scale']} (rel {srel:.2e})")
            if int(zp) != im["zero_point"]:
                failures.append(f"{path} image {k}: zero point {int(zp)} vs {im['zero_point']}")
            if z32 is not None:
                q2, s2, zp2 = quantize_ref(z32)
                if not (torch.equal(q, q2) and float(scale) == float(s2) and int(zp) == zp2):
                    failures.append(f"{path} image {k}: 8-bit output is not the quantizer applied to the 32-bit "
                                    f"head's output ({int((q != q2).sum())} elements, scale {float(scale)} vs "
                                    f"{float(s2)}, zp {int(zp)} vs {zp2})")
                else:
                    line += ", = quantize(f32 head) exactly"
        print(line)

    if 32 in heads and len(images) > 1:
        # a batch of two equal-size images gives the per-image results
        x = torch.from_numpy(np.load(os.path.join(a.ref, "in_0.npy")))
        m, path, _ = heads[32]
        zb = m(torch.cat([x, x]))
        if not torch.allclose(zb[0:1], zb[1:2]) or not torch.allclose(zb[0:1], m(x), rtol=1e-5, atol=1e-6):
            failures.append(f"{path}: batch of 2 differs from single images")
    if 8 in heads:
        m, path, _ = heads[8]
        try:
            m(torch.zeros(2, 3, 32, 32))
            failures.append(f"{path}: 8 bits accepted a batch of 2")
        except Exception as e:
            if "N = 1" not in str(e):
                failures.append(f"{path}: batch of 2: unexpected message {str(e)[:200]}")

    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("check_export_ts: OK")


if __name__ == "__main__":
    main()
