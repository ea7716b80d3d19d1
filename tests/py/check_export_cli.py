#!/usr/bin/env python3
"""`hnd export` end to end (test_export_cli): the bundle's files and
manifest (SHA-256 by hashlib, sizes, model facts from the student file read
by h5py), tail.h5 against the student's tensors (h5py), the halves giving
the student's detections (export_split_check), and bad input: a teacher, a
truncated file, an unwritable or existing --out, an unknown format — each a
one-line error, a non-zero exit and nothing left behind."""
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np

BIN = os.environ.get("HND_BIN_DIR", "build")
SRC = os.environ.get("HND_SRC_DIR", ".")
TMP = os.path.join(os.environ.get("HND_TEST_TMP", "."), "export_cli")
PY = os.environ.get("HND_PYTHON", sys.executable)
HND = os.path.join(BIN, "hnd")
SIZE = ["--min-size", "128", "--max-size", "256"]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(*args):
    p = subprocess.run([HND, *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def make(out, *extra):
    subprocess.run([PY, os.path.join(SRC, "tests", "py", "make_teacher.py"), out, "--fpn-channels", "64",
                    "--representation-size", "256", "--mask-channels", "64", "--anchor-sizes", "8,16,32,64,128",
                    *extra], check=True, cwd=os.path.join(SRC, "tests", "py"), stdout=subprocess.DEVNULL)


def leftovers(parent):
    return [p for p in os.listdir(parent) if ".tmp." in p or ".old." in p]


def one_line_error(rc, err, want, what, usage=False):
    """A run error is one line; a usage error (exit 2) one line, then the synopsis."""
    check(rc != 0, f"{what}: exit {rc}, expected non-zero")
    lines = [l for l in err.strip().splitlines() if l]
    check(len(lines) == 1 or (usage and lines[1].startswith("usage:")), f"{what}: expected one error line, got {lines}")
    check(lines and want in lines[0], f"{what}: '{want}' not in {err.strip()!r}")


def main():
    shutil.rmtree(TMP, ignore_errors=True)
    os.makedirs(TMP)
    student, teacher = os.path.join(TMP, "student.h5"), os.path.join(TMP, "teacher.h5")
    make(student, "--student", "6", "--mask")
    make(teacher)

    rc, out, err = run("export", "--help")
    check(rc == 0 and "--format" in out and "manifest.json" in out, "export --help")

    bundle = os.path.join(TMP, "bundle")
    rc, out, err = run("export", student, "--out", bundle, *SIZE)
    print(out, err)
    check(rc == 0, f"export: exit {rc}: {err}")
    if rc != 0:
        return
    man = json.load(open(os.path.join(bundle, "manifest.json")))
    names = {f["name"] for f in man["files"]}
    for want in ["head.onnx", "head.pt", "head_c/head.bin", "head_c/hnd_head.c", "head_c/hnd_head.h", "tail.h5"]:
        check(want in names, f"manifest lists {want}")
    on_disk = {os.path.relpath(p, bundle) for p in glob.glob(os.path.join(bundle, "**"), recursive=True)
               if os.path.isfile(p)} - {"manifest.json"}
    check(on_disk == names, f"manifest lists exactly the files: {sorted(on_disk ^ names)}")
    for f in man["files"]:
        data = open(os.path.join(bundle, f["name"]), "rb").read()
        check(hashlib.sha256(data).hexdigest() == f["sha256"], f"sha256 of {f['name']}")
        check(len(data) == f["bytes"], f"bytes of {f['name']}")
    # the model facts, from the student file itself
    with h5py.File(student, "r") as s:
        w = s["weights"]
        C = w["backbone.body.layer1.encoder.7.weight"].shape[0]
        classes = w["roi_heads.box_predictor.cls_score.weight"].shape[0]
        keys = set(w.keys())
        check(man["model"]["num_classes"] == classes, "manifest num_classes")
        check(man["bottleneck"]["channels"] == C == 6, "manifest C")
        check(man["bottleneck"]["bits"] == 8 and man["bottleneck"]["dtype"] == "uint8", "manifest bits 8 by default")
        check(man["model"]["arch"] == "mask_rcnn_resnet18_fpn", f"arch {man['model']['arch']}")
        check(man["input"]["resize"]["min_size"] == 128 and man["input"]["resize"]["max_size"] == 256,
              "manifest input rule sizes")
        check(np.allclose(man["input"]["normalize"]["mean"], [0.485, 0.456, 0.406]), "manifest mean")
        check(man["input"]["pad"]["size_divisible"] == 32, "manifest size_divisible")
        check(man["wire_format"]["version"] >= 1, "wire format version")
        # tail.h5: every tensor but the head's, values unchanged
        head = {k for k in keys if k.startswith(("backbone.body.conv1.", "backbone.body.bn1.",
                                                 "backbone.body.layer1.encoder."))}
        with h5py.File(os.path.join(bundle, "tail.h5"), "r") as t:
            tk = set(t["weights"].keys())
            expect = {k for k in keys - head if not k.endswith("num_batches_tracked")}
            check(tk == expect, f"tail.h5 keys: {sorted(tk ^ expect)[:6]}")
            diff = [k for k in tk & expect if not np.array_equal(t["weights"][k][()], w[k][()])]
            check(not diff, f"tail.h5 values differ: {diff[:4]}")
    check(not leftovers(TMP), f"temporary directories left: {leftovers(TMP)}")

    # the halves: hnd's head + tail.h5 == whole; the C head + tail.h5 ~ whole
    if os.environ.get("HND_TEST_SCOPE") != "short":   # the sanitizer pass: the image-dir run below only
        p = subprocess.run([os.path.join(BIN, "tests", "export_split_check"), student, bundle, *SIZE, "--images",
                            "3"], capture_output=True, text=True)
        print(p.stdout, p.stderr)
        check(p.returncode == 0, "export_split_check")
    # real 8-bit images that need resizing: the C runtime's own transform too
    from PIL import Image
    imgs = os.path.join(TMP, "images")
    os.makedirs(imgs)
    rng = np.random.default_rng(5)
    for i, (h, w) in enumerate([(97, 203), (240, 180), (300, 410)]):
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) % 256], -1)
        noise = rng.integers(0, 64, size=(h, w, 3))
        Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(os.path.join(imgs, f"{i}.png"))
    p = subprocess.run([os.path.join(BIN, "tests", "export_split_check"), student, bundle, *SIZE, "--image-dir", imgs],
                       capture_output=True, text=True)
    print(p.stdout, p.stderr)
    check(p.returncode == 0, "export_split_check --image-dir")

    # an existing bundle: refused, then replaced with --overwrite (16 bits, onnx only)
    before = open(os.path.join(bundle, "manifest.json")).read()
    rc, out, err = run("export", student, "--out", bundle, *SIZE)
    one_line_error(rc, err, "exists", "existing --out")
    check(open(os.path.join(bundle, "manifest.json")).read() == before, "existing bundle untouched")
    rc, out, err = run("export", student, "--out", bundle, "--overwrite", "--format", "onnx", "--bits", "16", *SIZE)
    check(rc == 0, f"--overwrite: {err}")
    man = json.load(open(os.path.join(bundle, "manifest.json")))
    check(man["bottleneck"]["bits"] == 16 and {f["name"] for f in man["files"]} == {"head.onnx", "tail.h5"},
          "--overwrite wrote the new bundle only")
    check(not os.path.exists(os.path.join(bundle, "head.pt")), "old files gone after --overwrite")
    check(not leftovers(TMP), f"leftovers after --overwrite: {leftovers(TMP)}")

    # bad input: nothing written
    bad = os.path.join(TMP, "bad")
    rc, out, err = run("export", teacher, "--out", bad, *SIZE)
    one_line_error(rc, err, "teacher", "a teacher")
    trunc = os.path.join(TMP, "truncated.h5")
    data = open(student, "rb").read()
    open(trunc, "wb").write(data[: len(data) // 2])
    rc, out, err = run("export", trunc, "--out", bad, *SIZE)
    one_line_error(rc, err, "truncated.h5", "a truncated student")
    rc, out, err = run("export", student, "--out", bad, "--format", "onnx,tflite", *SIZE)
    one_line_error(rc, err, "tflite", "an unknown format", usage=True)
    check(rc == 2, "unknown format is a usage error (exit 2)")
    blocker = os.path.join(TMP, "a_file")
    open(blocker, "w").write("x")
    rc, out, err = run("export", student, "--out", os.path.join(blocker, "bundle"), *SIZE)
    one_line_error(rc, err, "a_file", "an unwritable --out")
    check(not os.path.exists(bad), "nothing written for bad input")
    check(not leftovers(TMP), f"leftovers after errors: {leftovers(TMP)}")


main()
if failures:
    print(f"{len(failures)} failure(s)")
    sys.exit(1)
print("ok")
