#!/usr/bin/env python3
"""Run `hnd import-torchvision` on every fixture of make_pth.py and compare
the HDF5 output with torch.load's view of the same file: same keys (no
extra, none missing), same dtype, shape and exact values. Then check the
failure paths: truncated/garbage/missing inputs exit 1 naming the file and
leave no OUT.h5 (nor temporary file) behind; bad usage exits 2.

usage: check_import.py FIXDIR   (env HND_BIN_DIR: where `hnd` is)
"""
import glob
import os
import subprocess
import sys

import h5py
import numpy as np
import torch

HND = os.path.join(os.environ.get("HND_BIN_DIR", "."), "hnd")
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


def run(*args):
    p = subprocess.run([HND, "import-torchvision", *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def expected_tensors(path):
    obj = torch.load(path, map_location="cpu")
    for k in ("model", "state_dict"):
        if isinstance(obj.get(k), dict):
            obj = obj[k]
            break
    return {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}


def compare(pth, h5, strip=None):
    want = expected_tensors(pth)
    if strip:
        want = {(k[len(strip):] if k.startswith(strip) else k): v for k, v in want.items()}
    with h5py.File(h5, "r") as f:
        src = f.attrs.get("source")
        if isinstance(src, bytes):
            src = src.decode()
        if src != os.path.basename(pth):
            fail(f"{h5}: source attribute {src!r}, wanted {os.path.basename(pth)!r}")
        g = f["weights"]
        got = set(g.keys())
        for k in sorted(set(want) - got):
            fail(f"{h5}: missing key {k}")
        for k in sorted(got - set(want)):
            fail(f"{h5}: extra key {k}")
        for k in sorted(set(want) & got):
            t = want[k].detach().contiguous()
            ref = t.numpy()
            arr = np.array(g[k][()])  # 0-dim datasets come back as numpy scalars
            if ref.dtype == np.bool_ and arr.dtype == np.uint8 and "ct_bool" in g[k].attrs:
                arr = arr.astype(np.bool_)  # wstore's bool: uint8 marked with ct_bool
            if arr.dtype != ref.dtype:
                fail(f"{h5}: {k}: dtype {arr.dtype}, wanted {ref.dtype}")
                continue
            if arr.shape != ref.shape:
                fail(f"{h5}: {k}: shape {arr.shape}, wanted {ref.shape}")
                continue
            if not torch.equal(torch.from_numpy(arr), t):
                fail(f"{h5}: {k}: values differ")
    return len(want)


def check_good(fixdir, outdir):
    n = 0
    for pth in sorted(glob.glob(os.path.join(fixdir, "*.pth"))):
        stem = os.path.basename(pth)[:-4]
        out = os.path.join(outdir, stem + ".h5")
        strip = "module." if stem.startswith("dataparallel") else None
        args = [pth, out, "--quiet"] + (["--prefix-strip", strip] if strip else [])
        rc, so, se = run(*args)
        if rc != 0:
            fail(f"{pth}: exit {rc}: {se.strip()}")
            continue
        if so.strip():
            fail(f"{pth}: --quiet printed {so!r}")
        k = compare(pth, out, strip)
        print(f"ok {stem}: {k} tensors")
        os.remove(out)
        n += 1
    if n < 8:
        fail(f"only {n} fixtures found in {fixdir}")
    # the summary (without --quiet) names counts and skipped entries
    pth = os.path.join(fixdir, "special_zip.pth")
    out = os.path.join(outdir, "summary.h5")
    rc, so, se = run(pth, out)
    if rc != 0 or "tensors: 21" not in so or "skipped non-tensor entries: 2" not in so or "float16 1" not in so:
        fail(f"summary: exit {rc}, output {so!r} {se!r}")
    if os.path.exists(out):
        os.remove(out)


def check_bad(fixdir, outdir):
    bad = os.path.join(outdir, "bad")
    os.makedirs(bad, exist_ok=True)
    cases = {}
    for fmt in ("legacy", "zip"):
        data = open(os.path.join(fixdir, f"special_{fmt}.pth"), "rb").read()
        for cut in (len(data) // 2, len(data) - 1, 40):
            p = os.path.join(bad, f"trunc_{fmt}_{cut}.pth")
            open(p, "wb").write(data[:cut])
            cases[p] = None
    # a zip whose storage record is gone, and one with no data.pkl
    import zipfile
    with zipfile.ZipFile(os.path.join(fixdir, "special_zip.pth")) as zin:
        names = zin.namelist()
        for stem, drop in (("norecord", [n for n in names if n.endswith("/data/0")]),
                           ("nopickle", [n for n in names if n.endswith("/data.pkl")])):
            p = os.path.join(bad, stem + ".pth")
            with zipfile.ZipFile(p, "w") as zout:
                for n in names:
                    if n not in drop:
                        zout.writestr(n, zin.read(n))
            cases[p] = "missing storage record" if stem == "norecord" else "data.pkl"
    p = os.path.join(bad, "garbage.pth")
    open(p, "wb").write(b"this is not a pytorch file\n" * 10)
    cases[p] = "not a PyTorch file"
    p = os.path.join(bad, "empty.pth")
    open(p, "wb").close()
    cases[p] = "empty"
    cases[os.path.join(bad, "missing.pth")] = "No such file"
    for p, needle in cases.items():
        out = os.path.join(bad, "out.h5")
        rc, so, se = run(p, out)
        if rc != 1:
            fail(f"{p}: exit {rc}, wanted 1 ({se.strip()})")
        if p not in se or not se.startswith("hnd import-torchvision: "):
            fail(f"{p}: message does not name the file: {se.strip()!r}")
        if needle and needle not in se:
            fail(f"{p}: message lacks {needle!r}: {se.strip()!r}")
        left = [f for f in os.listdir(bad) if f.startswith("out.h5")]
        if left:
            fail(f"{p}: left {left} behind")
        print(f"ok bad input {os.path.basename(p)}: {se.strip()}")
    for args, want in (([], 2), (["only-one"], 2), (["a", "b", "c"], 2), (["a", "b", "--bogus"], 2),
                       (["a", "b", "--prefix-strip"], 2), (["--help"], 0), (["-h"], 0)):
        rc, so, se = run(*args)
        if rc != want:
            fail(f"usage {args}: exit {rc}, wanted {want}")
        if want == 2 and "usage:" not in se:
            fail(f"usage {args}: no usage on stderr")


def main():
    fixdir = sys.argv[1]
    outdir = os.path.join(fixdir, "out")
    os.makedirs(outdir, exist_ok=True)
    check_good(fixdir, outdir)
    check_bad(fixdir, outdir)
    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    print("import ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
