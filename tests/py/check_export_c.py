"""test_export_c: the plain-C head of `hnd export --format c` against hnd's
own head (sr_head, libtorch), built with cc on this machine and, when the
cross compiler is there, for aarch64 under qemu (outputs byte-identical).

  float32: max |c - ref| / max |ref| <= 1e-4
  uint8:   scale within 1e-5 relative, zero point equal, codes equal or off
           by one on at most 0.1% of the elements
  float16: within one half ulp-step of the reference's rounding
Also: the loader refuses a truncated and a corrupted head.bin (non-zero
exit, a message naming the cause), and a PPM input goes through the
runtime's R-CNN transform like torchvision's (within 1e-4: libtorch's
bilinear kernel rounds its weights differently, ~1e-5 on values ~2).

Environment: HND_BIN_DIR, HND_SRC_DIR, HND_TEST_TMP (set by ctest).
HND_EXPORT_C_DRIVER=PROG overrides the exporter: PROG STUDENT.h5 DIR BITS
writes DIR/head.bin and the sources (for checks before `hnd export`)."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np

BIN = os.environ.get("HND_BIN_DIR", "build")
SRC = os.environ.get("HND_SRC_DIR", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TMP = os.path.join(os.environ.get("HND_TEST_TMP", "/tmp"), "export_c")
SIZES = "120x160,97x203,64x64"
failures = []


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if r.returncode != 0:
        print("FAILED:", " ".join(cmd), "\n" + r.stdout)
        sys.exit(1)
    return r.stdout


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def export(student, bits):
    """DIR with head.bin + the runtime's sources for bits."""
    out = os.path.join(TMP, "exp%d" % bits)
    shutil.rmtree(out, ignore_errors=True)
    drv = os.environ.get("HND_EXPORT_C_DRIVER")
    if drv:
        os.makedirs(out)
        run([drv, student, out, str(bits)])
        return out
    hnd = os.path.join(BIN, "hnd")
    run([hnd, "export", student, "--out", out, "--format", "c", "--bits", str(bits)])
    return os.path.join(out, "head_c")


def build(src, dest, cc, ldflags=""):
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(src, dest)
    run(["make", "-s", "-C", dest, "CC=" + cc] + (["LDFLAGS=" + ldflags] if ldflags else []))
    return os.path.join(dest, "hnd_head_run")


def main():
    shutil.rmtree(TMP, ignore_errors=True)
    os.makedirs(TMP)
    student = os.path.join(TMP, "S.h5")
    run([sys.executable, "make_teacher.py", student, "--student", "3", "--fpn-channels", "64",
         "--representation-size", "256", "--mask-channels", "64", "--anchor-sizes", "8,16,32,64,128"],
        cwd=os.path.join(SRC, "tests", "py"))
    ref = os.path.join(TMP, "ref")
    run([os.path.join(BIN, "tests", "export_head_ref"), student, ref, SIZES, "--min-size", "128", "--max-size", "256"])
    meta = json.load(open(os.path.join(ref, "meta.json")))["images"]
    n = len(meta)
    cc = os.environ.get("CC", "cc")
    bundles = {b: export(student, b) for b in (8, 16, 32)}
    outs = {}
    for bits, src in bundles.items():
        exe = build(src, os.path.join(TMP, "x86_%d" % bits), cc)
        for k in range(n):
            pre = os.path.join(TMP, "x86_%d" % bits, "out_%d" % k)
            run([exe, os.path.join(src, "head.bin"), os.path.join(ref, "in_%d.npy" % k), pre, "--threads", "2"])
            got = np.load(pre + ".npy")
            info = json.load(open(pre + ".json"))
            outs[(bits, k)] = pre + ".npy"
            if bits == 32:
                r = np.load(os.path.join(ref, "f_%d.npy" % k))
                rel = float(np.abs(got - r).max() / np.abs(r).max()) if got.shape == r.shape else float("inf")
                check(rel <= 1e-4, "f32 image %d %s: max abs diff / max abs ref %.3g (<= 1e-4), %.2f ms"
                      % (k, list(got.shape), rel, info["ms_median"]))
            elif bits == 16:
                r = np.load(os.path.join(ref, "h_%d.npy" % k))
                same = got.shape == r.shape
                d = np.abs(got.astype(np.float32) - r.astype(np.float32)) if same else None
                # an f32 difference of ~1e-6 may round to the neighbouring half
                ulp = np.abs(np.spacing(r.astype(np.float16))).astype(np.float32) if same else None
                ok = same and bool((d <= ulp).all())
                check(ok, "f16 image %d: %.4f%% differ, all within one half step" %
                      (k, 100.0 * float((d > 0).mean()) if same else 100.0))
            else:
                r = np.load(os.path.join(ref, "q_%d.npy" % k))
                same = got.shape == r.shape
                d = np.abs(got.astype(int) - r.astype(int)) if same else np.array([255])
                srel = abs(info["scale"] - meta[k]["scale"]) / meta[k]["scale"]
                frac = float((d > 0).mean())
                check(same and d.max() <= 1 and frac <= 1e-3,
                      "u8 image %d: max code diff %d, %.4f%% off by one (<= 0.1%%)" % (k, d.max(), 100 * frac))
                check(srel <= 1e-5, "u8 image %d: scale %.9g vs %.9g (rel %.2g)" % (k, info["scale"], meta[k]["scale"], srel))
                check(info["zero_point"] == meta[k]["zero_point"],
                      "u8 image %d: zero point %d vs %d" % (k, info["zero_point"], meta[k]["zero_point"]))
    # one thread gives the same bytes as two
    exe8 = os.path.join(TMP, "x86_8", "hnd_head_run")
    pre = os.path.join(TMP, "x86_8", "t1")
    run([exe8, os.path.join(bundles[8], "head.bin"), os.path.join(ref, "in_0.npy"), pre, "--threads", "1"])
    check(open(pre + ".npy", "rb").read() == open(outs[(8, 0)], "rb").read(), "1 thread == 2 threads (bytes)")

    # the loader refuses damaged files
    blob = open(os.path.join(bundles[8], "head.bin"), "rb").read()
    for name, data, word in (("truncated", blob[:-1000], "truncated"),
                             ("corrupted", blob[:5000] + bytes([blob[5000] ^ 0x10]) + blob[5001:], "checksum")):
        p = os.path.join(TMP, name + ".bin")
        open(p, "wb").write(data)
        r = subprocess.run([exe8, p, os.path.join(ref, "in_0.npy"), os.path.join(TMP, "bad")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        check(r.returncode != 0 and word in r.stdout and name + ".bin" in r.stdout,
              "%s head.bin refused: exit %d, %s" % (name, r.returncode, r.stdout.strip()))

    # a PPM through hnd_head_prepare vs torchvision's transform
    check_ppm(exe8, bundles[8])

    # aarch64, under qemu: byte-identical
    xcc = shutil.which("aarch64-linux-gnu-gcc")
    qemu = shutil.which("qemu-aarch64")
    if not xcc or not qemu:
        print("SKIP aarch64: %s not found (the x86-64 checks above still count)"
              % ("aarch64-linux-gnu-gcc" if not xcc else "qemu-aarch64"))
    elif os.environ.get("HND_TEST_SCOPE") == "short":
        # the sanitizer pass: the cross build does not involve hnd's sanitized code
        print("SKIP aarch64 in the short (sanitizer) scope: the plain suite runs it")
    else:
        for bits, src in bundles.items():
            exe = build(src, os.path.join(TMP, "arm_%d" % bits), xcc, "-static")
            for k in range(n):
                pre = os.path.join(TMP, "arm_%d" % bits, "out_%d" % k)
                run([qemu, exe, os.path.join(src, "head.bin"), os.path.join(ref, "in_%d.npy" % k), pre, "--threads", "2"])
                same = open(pre + ".npy", "rb").read() == open(outs[(bits, k)], "rb").read()
                extra = ""
                if bits == 8:
                    a, b = json.load(open(pre + ".json")), json.load(open(outs[(bits, k)][:-4] + ".json"))
                    same = same and a["scale"] == b["scale"] and a["zero_point"] == b["zero_point"]
                    extra = " (scale, zero point too)"
                check(same, "aarch64 (qemu) %d bits image %d byte-identical to x86-64%s" % (bits, k, extra))
    if failures:
        print("%d check(s) failed" % len(failures))
        sys.exit(1)
    print("all checks passed")


def check_ppm(exe, bundle):
    try:
        import torch
        from torchvision.models.detection.transform import GeneralizedRCNNTransform
    except ImportError:
        print("SKIP ppm: no torchvision")
        return
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, size=(45, 61, 3), dtype=np.uint8)
    p = os.path.join(TMP, "img.ppm")
    with open(p, "wb") as f:
        f.write(b"P6\n# test\n61 45\n255\n" + img.tobytes())
    saved = os.path.join(TMP, "prep.npy")
    run([exe, os.path.join(bundle, "head.bin"), p, os.path.join(TMP, "ppm_out"), "--save-input", saved])
    got = np.load(saved)
    t = GeneralizedRCNNTransform(800, 1333, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]).eval()
    x = torch.from_numpy(img).permute(2, 0, 1).float().div(255)
    with torch.no_grad():
        ref = t([x])[0].tensors.numpy()
    same = got.shape == ref.shape
    d = float(np.abs(got - ref).max()) if same else float("inf")
    check(same and d <= 1e-4, "ppm transform %s vs torchvision %s: max abs diff %.3g (<= 1e-4)"
          % (list(got.shape), list(ref.shape), d))


if __name__ == "__main__":
    main()
