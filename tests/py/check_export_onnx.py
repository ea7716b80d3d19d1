#!/usr/bin/env python3
"""hnd export --format onnx against independent readers: onnx.checker and
OpenCV's DNN module run each exported head.onnx on the images that
export_head_ref dumped (REF/in_k.npy) and compare with hnd's own head
(REF/f_k.npy float32, h_k.npy float16, q_k.npy uint8 + meta.json's scale and
zero point).

Usage: check_export_onnx.py REF [--b8 head.onnx] [--b16 head.onnx] [--b32 head.onnx]
A model's bits must match its metadata_props "bits".

Tolerances (OpenCV's convolutions are not libtorch's, so the float head
differs in the last bits; the quantizer itself is exact in the graph):
  32: max|onnx - ref| / max|ref| <= 1e-4
  16: every element within one float16 ulp of h_k (OpenCV ignores Cast, so
      its float32 output is rounded to float16 here)
   8: zero point equal, |scale - ref| / ref <= 1e-5, q equal or off by one
      on at most 0.1 % of the elements, never off by more.
Prints one line of figures per model and image; exits 1 on any failure."""
import argparse
import json
import os
import sys

import numpy as np

import cv2
import onnx
from onnx import TensorProto

REL_F32 = 1e-4
REL_SCALE = 1e-5
MAX_OFF_BY_ONE = 0.001  # fraction of elements
META_KEYS = ("mean", "std", "min_size", "max_size", "size_divisible", "bits", "C", "arch")
OUT_TYPES = {8: TensorProto.UINT8, 16: TensorProto.FLOAT16, 32: TensorProto.FLOAT}


def check_structure(path, bits):
    """The model as a file: valid, opset 13, documented, the declared I/O."""
    errs = []
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    if m.ir_version != 7 or m.producer_name != "hnd":
        errs.append("ir_version %d producer %r" % (m.ir_version, m.producer_name))
    if [(o.domain, o.version) for o in m.opset_import] != [("", 13)]:
        errs.append("opset %s" % [(o.domain, o.version) for o in m.opset_import])
    meta = {p.key: p.value for p in m.metadata_props}
    missing = [k for k in META_KEYS if k not in meta]
    if missing:
        errs.append("metadata lacks %s" % missing)
    elif int(meta["bits"]) != bits:
        errs.append("metadata bits %s, expected %d" % (meta["bits"], bits))
    elif not all(w in m.doc_string for w in ("mean", "std", "multiples of %s" % meta["size_divisible"])):
        errs.append("doc_string does not state the input rule: %r" % m.doc_string)
    ins = [(i.name, [d.dim_value or d.dim_param for d in i.type.tensor_type.shape.dim]) for i in m.graph.input]
    if len(ins) != 1 or ins[0][0] != "image" or ins[0][1][:2] != [1, 3] or ins[0][1][2:] != ["height", "width"]:
        errs.append("input %s" % ins)
    outs = {o.name: o.type.tensor_type for o in m.graph.output}
    want = ["z", "scale", "zero_point"] if bits == 8 else ["z"]
    if list(outs) != want:
        errs.append("outputs %s, expected %s" % (list(outs), want))
    elif outs["z"].elem_type != OUT_TYPES[bits]:
        errs.append("z elem_type %d" % outs["z"].elem_type)
    elif bits == 8 and (len(outs["scale"].shape.dim) != 0 or len(outs["zero_point"].shape.dim) != 0
                        or outs["zero_point"].elem_type != TensorProto.UINT8):
        errs.append("scale / zero_point are not scalars of float32 / uint8")
    return errs, meta


def run_cv(net, x, names):
    net.setInput(x, "image")
    return net.forward(names)


def compare(bits, outs, ref, k, meta_ref):
    """Figures and failures for image k."""
    z = outs[0]
    if bits == 32:
        f = np.load(os.path.join(ref, "f_%d.npy" % k))
        if z.shape != f.shape:
            return "shape %s vs %s" % (z.shape, f.shape), None
        rel = float(np.abs(z - f).max() / np.abs(f).max())
        return "max rel diff %.3g" % rel, (None if rel <= REL_F32 else "rel diff %.3g > %g" % (rel, REL_F32))
    if bits == 16:
        h = np.load(os.path.join(ref, "h_%d.npy" % k))
        if z.shape != h.shape:
            return "shape %s vs %s" % (z.shape, h.shape), None
        z16 = z.astype(np.float16)
        ulps = np.abs(z16.astype(np.float64) - h.astype(np.float64)) / np.spacing(np.abs(h)).astype(np.float64)
        worst = float(ulps.max())
        diff = float((z16 != h).mean())
        rel = float(np.abs(z16.astype(np.float32) - h.astype(np.float32)).max() / np.abs(h.astype(np.float32)).max())
        fig = "max %.3g float16 ulp, %.4f %% differ, max rel diff %.3g" % (worst, 100 * diff, rel)
        return fig, (None if worst <= 1 else "%.3g float16 ulp > 1" % worst)
    q = np.load(os.path.join(ref, "q_%d.npy" % k))
    if z.shape != q.shape:
        return "shape %s vs %s" % (z.shape, q.shape), None
    scale, zp = float(np.ravel(outs[1])[0]), int(np.ravel(outs[2])[0])
    d = np.abs(np.rint(z).astype(np.int64) - q.astype(np.int64))
    off1 = float((d == 1).mean())
    srel = abs(scale - meta_ref["scale"]) / meta_ref["scale"]
    fig = "scale rel diff %.3g, zero point %d vs %d, q off by one %.4f %%, max |dq| %d" % (
        srel, zp, meta_ref["zero_point"], 100 * off1, int(d.max()))
    bad = []
    if zp != meta_ref["zero_point"]:
        bad.append("zero point")
    if srel > REL_SCALE:
        bad.append("scale")
    if d.max() > 1 or off1 > MAX_OFF_BY_ONE:
        bad.append("q")
    return fig, (", ".join(bad) if bad else None)


def check_model(path, bits, ref, meta):
    errs, _ = check_structure(path, bits)
    for e in errs:
        print("FAIL %s (%d bits): %s" % (path, bits, e))
    net = cv2.dnn.readNetFromONNX(path)
    names = ["z", "scale", "zero_point"] if bits == 8 else ["z"]
    ok = not errs
    for k, img in enumerate(meta["images"]):
        x = np.load(os.path.join(ref, "in_%d.npy" % k))
        outs = run_cv(net, x, names)
        fig, bad = compare(bits, outs, ref, k, img)
        print("onnx %2d bits, image %d [%dx%d]: %s%s" % (bits, k, x.shape[2], x.shape[3], fig,
                                                        "  FAIL: " + bad if bad else ""))
        ok = ok and bad is None and "shape" not in fig
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ref")
    for b in (8, 16, 32):
        ap.add_argument("--b%d" % b, metavar="HEAD.onnx")
    a = ap.parse_args()
    with open(os.path.join(a.ref, "meta.json")) as f:
        meta = json.load(f)
    models = [(b, getattr(a, "b%d" % b)) for b in (8, 16, 32) if getattr(a, "b%d" % b)]
    if not models:
        ap.error("give at least one of --b8, --b16, --b32")
    ok = True
    for b, path in models:
        ok = check_model(path, b, a.ref, meta) and ok
    print("check_export_onnx: %s" % ("OK" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
