#!/usr/bin/env python3
"""hnd import-torchvision on the reference project's student checkpoints
(make_ref_ckpt.py): every tensor of torch.load(f)['model'] must be in the
.h5 with its exact value under hnd's name (layer1.encoder.encoder.N ->
layer1.encoder.N, the ExtEncoder's ext_classifier dropped, the rest as is),
and models/'s probe (ref_probe) must call the result a student with the
right C, kind and architecture. Then the failure paths: a file holding both
namings, and a Namespace pickled through the copyreg extension registry
(EXT1: unsupported) exit 1 naming the file (and the keys / the opcode) and
leave no OUT.h5.

usage: check_ref_ckpt.py FIXDIR   (env HND_BIN_DIR: where hnd and ref_probe are)
"""
import argparse
import copyreg
import os
import subprocess
import sys

import h5py
import numpy as np
import torch

BIN = os.environ.get("HND_BIN_DIR", ".")
HND = os.path.join(BIN, "hnd")
PROBE = os.path.join(BIN, "tests", "ref_probe")
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


def hnd_name(k):
    """The renaming, written independently of the C code: dotted components."""
    parts = k.split(".")
    for i in range(len(parts) - 2):
        if parts[i:i + 3] == ["layer1", "encoder", "ext_classifier"]:
            return None
        if parts[i:i + 3] == ["layer1", "encoder", "encoder"]:
            return ".".join(parts[:i + 2] + parts[i + 3:])
    return k


def import_file(pth, h5):
    p = subprocess.run([HND, "import-torchvision", pth, h5], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def check_student(fix, stem, want_c, want_kind, want_arch, want_mask):
    pth = os.path.join(fix, stem + ".pth")
    h5 = os.path.join(fix, stem + ".h5")
    rc, out = import_file(pth, h5)
    print(out, end="")
    if rc != 0:
        return fail(f"{stem}: import exited {rc}")
    ck = torch.load(pth, map_location="cpu")
    if not isinstance(ck.get("args"), argparse.Namespace) or "optimizer" not in ck:
        fail(f"{stem}: fixture is not in the reference's format")
    want = {}
    for k, v in ck["model"].items():
        n = hnd_name(k)
        if n is not None:
            want[n] = v
    n_ext = sum(1 for k in ck["model"] if ".encoder.encoder." in k)
    n_drop = sum(1 for k in ck["model"] if hnd_name(k) is None)
    if n_ext == 0 or n_drop == 0:
        fail(f"{stem}: fixture lacks ExtEncoder keys ({n_ext} encoder, {n_drop} ext_classifier)")
    if f"{n_ext} keys layer1.encoder.encoder.* -> layer1.encoder.*, {n_drop} ext_classifier" not in out:
        fail(f"{stem}: summary does not report {n_ext} renamed / {n_drop} dropped")
    if f"student: bottleneck C={want_c}" not in out:
        fail(f"{stem}: summary does not report C={want_c}")
    with h5py.File(h5, "r") as f:
        g = f["weights"]
        got = set(g.keys())
        for k in sorted(set(want) - got):
            fail(f"{stem}: missing {k}")
        for k in sorted(got - set(want)):
            fail(f"{stem}: extra {k}")
        for k in sorted(set(want) & got):
            ref = want[k].detach().contiguous().numpy()
            val = g[k][()]
            if val.dtype != ref.dtype or val.shape != ref.shape or not np.array_equal(val, ref):
                fail(f"{stem}: {k}: {val.dtype}{val.shape} differs from torch's {ref.dtype}{ref.shape}")
        print(f"{stem}: {len(want)} tensors equal to torch.load's, {n_ext} renamed, {n_drop} dropped")
    p = subprocess.run([PROBE, h5], capture_output=True, text=True)
    line = p.stdout.strip()
    print("probe:", line or p.stderr.strip())
    expect = f"kind=student C={want_c} stu={want_kind} arch={want_arch} mask={want_mask}"
    if p.returncode != 0 or not line.endswith(expect):
        fail(f"{stem}: probe says {line!r}, wanted {expect!r}")


def check_errors(fix):
    # both namings in one file: the renamed key would collide
    both = os.path.join(fix, "both.pth")
    w = torch.arange(6.0).view(6, 1, 1, 1)
    sd = {"backbone.body.layer1.encoder.encoder.7.weight": w, "backbone.body.layer1.encoder.7.weight": w + 1}
    torch.save({"model": sd, "args": argparse.Namespace(a=1)}, both, _use_new_zipfile_serialization=False)
    out_h5 = os.path.join(fix, "both.h5")
    rc, out = import_file(both, out_h5)
    if rc != 1 or "both.pth" not in out or "backbone.body.layer1.encoder.encoder.7.weight" not in out \
            or os.path.exists(out_h5):
        fail(f"collision: rc {rc}, {out!r}, exists {os.path.exists(out_h5)}")
    # the Namespace through the extension registry: pickle's EXT1 opcode
    ext = os.path.join(fix, "ext.pth")
    copyreg.add_extension("argparse", "Namespace", 201)
    try:
        torch.save({"model": {"x": w}, "args": argparse.Namespace(a=1)}, ext, _use_new_zipfile_serialization=False)
    finally:
        copyreg.remove_extension("argparse", "Namespace", 201)
    with open(ext, "rb") as f:
        if b"\x82\xc9" not in f.read():   # EXT1 201
            fail("ext fixture has no EXT1 opcode")
    out_h5 = os.path.join(fix, "ext.h5")
    rc, out = import_file(ext, out_h5)
    print("unsupported:", out.strip())
    if rc != 1 or "ext.pth" not in out or "EXT1" not in out or "offset" not in out or os.path.exists(out_h5):
        fail(f"EXT1: rc {rc}, {out!r}")


def main():
    fix = sys.argv[1]
    check_student(fix, "faster_ref_student", 3, "Bottleneck4LargeResNet", "faster_rcnn_resnet50_fpn", 0)
    if os.path.exists(os.path.join(fix, "mask_ref_student.pth")):
        check_student(fix, "mask_ref_student", 6, "Bottleneck4SmallResNet", "mask_rcnn_resnet18_fpn", 1)
    check_errors(fix)
    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
