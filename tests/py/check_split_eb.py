#!/usr/bin/env python3
"""A learned entropy bottleneck on the split link (test_split_eb, issue 18).

A random C=3 student of the EB demo's Faster R-CNN with a density
(CompressAI's EntropyBottleneck keys, medians moved off 0), small images,
then:
 1. `hnd serve --weights S.h5` (tables made from the student) and
    `hnd split-detect --head S.h5`: WF_EB_RANS frames (the rounded symbols
    rANS-coded with the 16-bit tables), results byte-identical to
    `hnd detect` of the same student, fewer bytes than the float32 link;
    `--codec raw` (float32 rounded values) gives the same results too;
 2. `hnd serve --bundle B` (hnd export: the tables from eb_tables.bin, the
    tail without the density): the same results from the same .h5 head (the
    tables' CRC in each frame agrees);
 4. the exported plain-C head codes itself: `hnd_head_run --eb-tables`
    (the bundle's sources built with make) writes the byte stream that
    `hnd split-detect --head B` sends for the same image, and so does the
    same head cross-built for aarch64 and run under qemu-user (skipped
    without aarch64-linux-gnu-gcc / qemu-aarch64);
 3. robustness: the captured EB frame with its stream cut, bytes flipped or
    random, a wrong tables CRC, each with valid frame CRCs (so that the EB
    decoder sees it): an ERROR reply (malformed / mismatch) or, for a flip
    that still decodes, DETECTIONS; never a crash; the same connection then
    answers the untouched frame with the original detections.
HND_TEST_SCOPE=short: one image, fewer mutations, no bundle (2 and 4)."""
import json
import math
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib

import h5py
import numpy as np

from serve_proc import ServeProc

BIN = os.environ.get("HND_BIN_DIR", "build")
SRC = os.environ.get("HND_SRC_DIR", ".")
TMP = os.path.join(os.environ.get("HND_TEST_TMP", "."), "split_eb")
PY = os.environ.get("HND_PYTHON", sys.executable)
HND = os.path.join(BIN, "hnd")
SHORT = os.environ.get("HND_TEST_SCOPE") == "short"
C = 3
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)
    return cond


def run(*args, timeout=300):
    t0 = time.time()
    p = subprocess.run([HND, *args], capture_output=True, text=True, timeout=timeout)
    if os.environ.get("HND_TEST_VERBOSE"):
        print("  hnd %s: %.1f s" % (args[0], time.time() - t0), flush=True)
    return p.returncode, p.stdout, p.stderr


def Server(*args):
    """hnd serve --quiet on port 0 (tests/py/serve_proc.py)."""
    return ServeProc(HND, "--quiet", *args)

class Recorder:
    """Relays one client to a server and keeps what the client sent."""

    def __init__(self, target):
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(1)
        self.port = self.ls.getsockname()[1]
        self.target, self.sent = target, bytearray()
        self.t = threading.Thread(target=self.relay, daemon=True)
        self.t.start()

    def relay(self):
        c, _ = self.ls.accept()
        s = socket.create_connection(("127.0.0.1", self.target))

        def back():
            try:
                while (b := s.recv(65536)):
                    c.sendall(b)
            except OSError:
                pass
            c.close()

        threading.Thread(target=back, daemon=True).start()
        try:
            while (b := c.recv(65536)):
                self.sent += b
                s.sendall(b)
        except OSError:
            pass
        s.close()


# ---- wire.h frames (an independent codec of the header) ----
HELLO, HELLO_OK, BOTTLENECK, DETECTIONS, ERROR, BYE = 1, 2, 3, 5, 6, 7


def frame(ftype, rid, payload):
    h = b"HNDL" + struct.pack("<HHQIII", 1, ftype, rid, 0, len(payload), zlib.crc32(payload))
    return h + struct.pack("<I", zlib.crc32(h)) + payload


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        x = s.recv(n - len(b))
        if not x:
            raise ConnectionError("closed")
        b += x
    return b


def read_frame(s):
    h = recv_exact(s, 32)
    ftype, rid, n = struct.unpack("<H", h[6:8])[0], struct.unpack("<Q", h[8:16])[0], struct.unpack("<I", h[20:24])[0]
    return ftype, rid, recv_exact(s, n)


def frames_of(buf):
    out, pos = [], 0
    while pos + 32 <= len(buf):
        ftype, n = struct.unpack("<H", buf[pos + 6:pos + 8])[0], struct.unpack("<I", buf[pos + 20:pos + 24])[0]
        out.append((ftype, bytes(buf[pos + 32:pos + 32 + n])))
        pos += 32 + n
    return out


def add_density(path, seed):
    """CompressAI's EntropyBottleneck initialisation (init_scale 10, filters
    3,3,3) with random biases, medians moved off 0."""
    rng = np.random.default_rng(seed)
    pre = "weights/backbone.body.layer1.entropy_bottleneck."
    filters = (1, 3, 3, 3, 1)
    scale = 10.0 ** (1 / (len(filters) - 1))
    with h5py.File(path, "a") as f:
        for i in range(len(filters) - 1):
            init = math.log(math.expm1(1 / scale / filters[i + 1]))
            f[pre + "_matrix%d" % i] = np.full((C, filters[i + 1], filters[i]), init, np.float32)
            f[pre + "_bias%d" % i] = rng.uniform(-0.5, 0.5, (C, filters[i + 1], 1)).astype(np.float32)
            if i < len(filters) - 2:
                f[pre + "_factor%d" % i] = np.zeros((C, filters[i + 1], 1), np.float32)
        m = rng.uniform(-0.5, 0.5, C)
        f[pre + "quantiles"] = np.stack([m - 10, m, m + 10], 1).reshape(C, 1, 3).astype(np.float32)


def main():
    shutil.rmtree(TMP, ignore_errors=True)
    os.makedirs(TMP)
    t = lambda *p: os.path.join(TMP, *p)
    subprocess.run([PY, os.path.join(SRC, "tests", "py", "make_teacher.py"), t("S.h5"), "--fpn-channels", "64",
                    "--representation-size", "256", "--anchor-sizes", "8,16,32,64,128", "--student", str(C)],
                   check=True, cwd=os.path.join(SRC, "tests", "py"), stdout=subprocess.DEVNULL)
    add_density(t("S.h5"), 1)
    cfg = json.load(open(os.path.join(SRC, "configs", "demo", "hnd_demo_eb_faster_rcnn_r18_synth.json")))
    cfg["student_model"]["backbone"]["params"]["layer1"]["bottleneck_channel"] = C
    cfg["student_model"]["params"].update(box_detections_per_img=10, rpn_pre_nms_top_n_test=200,
                                          rpn_post_nms_top_n_test=100)
    cfg["output_dir"] = t("run")
    json.dump(cfg, open(t("config.json"), "w"), indent=1)
    from PIL import Image
    rng = np.random.default_rng(0)
    os.makedirs(t("img"))
    for i, (w, h) in enumerate([(160, 120), (97, 131)][:1 if SHORT else 2]):
        a = (rng.random((h, w, 3)) * 80).astype(np.uint8)
        for k in range(3):
            y, x = rng.integers(0, h - h // 3), rng.integers(0, w - w // 3)
            a[y:y + h // 3, x:x + w // 3] = rng.integers(100, 255, 3)
        Image.fromarray(a).save(t("img", "%d.png" % (i + 1)))
    head = ["--head", t("S.h5"), "--config", t("config.json")]
    rc, out, err = run("detect", "--config", t("config.json"), "--weights", t("S.h5"), "--out", t("det.json"),
                       "--quiet", t("img"))
    if not check(rc == 0, "detect: " + err):
        return
    det = open(t("det.json"), "rb").read()
    check(len(json.loads(det)) > 0, "hnd detect found nothing: the comparison is empty")

    # 1. the student's own tables on both ends
    srv = Server("--weights", t("S.h5"), "--config", t("config.json"))
    try:
        check("entropy-coded bottlenecks" in "".join(srv.lines), "serve start line: " + "".join(srv.lines))
        rec = Recorder(srv.port)
        rc, out, err = run("split-detect", "--server", "127.0.0.1:%d" % rec.port, *head, "--out", t("split.json"),
                           "--timings", t("eb.csv"), "--quiet", t("img"))
        rec.t.join(10)
        if check(rc == 0, "split-detect (EB): " + err):
            check(open(t("split.json"), "rb").read() == det, "split-detect with the EB stream != hnd detect")
        fr = [p for ty, p in frames_of(rec.sent) if ty == BOTTLENECK]
        check(len(fr) == len(os.listdir(t("img"))), "%d BOTTLENECK frames captured" % len(fr))
        for p in fr:
            dtype, zp, crc = p[8], p[9], struct.unpack("<I", p[12:16])[0]
            c, hh, ww = struct.unpack("<III", p[16:28])
            check(dtype == 5 and zp == 0 and c == C, "frame: dtype %d zp %d C %d" % (dtype, zp, c))
            # version 1 (the learned tables) or 2 (the context coder), whichever is shorter
            check(p[52] in (1, 2) and struct.unpack("<I", p[53:57])[0] == c * hh * ww, "EB stream header %r" % p[52:57])
            check(len(p) - 52 < 4 * c * hh * ww, "EB stream %d bytes >= float32's %d" % (len(p) - 52, 4 * c * hh * ww))
        rc, out, err = run("split-detect", "--server", srv.addr, *head, "--codec", "raw", "--out", t("raw.json"),
                           "--timings", t("raw.csv"), "--quiet", t("img"))
        if check(rc == 0, "split-detect --codec raw: " + err):
            check(open(t("raw.json"), "rb").read() == det, "--codec raw (float32) != hnd detect")
            b_eb, b_raw = bytes_sent(t("eb.csv")), bytes_sent(t("raw.csv"))
            check(b_eb < b_raw, "EB frames %d bytes, float32 %d" % (b_eb, b_raw))
            print("EB link: %d bytes sent for %d images (float32: %d), results identical to hnd detect"
                  % (b_eb, len(fr), b_raw), flush=True)
        rc, out, err = run("split-detect", "--server", srv.addr, *head, "--codec", "rans", "--out", t("x.json"),
                           t("img"))
        check(rc == 2 and "entropy bottleneck" in err and not os.path.exists(t("x.json")),
              "--codec rans on an EB head: %d %s" % (rc, err))
        if fr:
            fuzz(srv, fr[0])
    finally:
        code = srv.stop()
    check(code == 0, "hnd serve exit %s: %s" % (code, "".join(srv.lines)[-2000:]))
    if SHORT:
        return
    # 2. a bundle's server: tables from eb_tables.bin, the tail without the density
    rc, out, err = run("export", t("S.h5"), "--config", t("config.json"), "--out", t("B"), "--format", "c", "--quiet")
    if not check(rc == 0, "export: " + err):
        return
    srv = Server("--bundle", t("B"))
    try:
        rc, out, err = run("split-detect", "--server", srv.addr, *head, "--out", t("bundle.json"), "--quiet",
                           t("img"))
        if check(rc == 0, "split-detect to a bundle's server: " + err):
            check(open(t("bundle.json"), "rb").read() == det, "the bundle's server != hnd detect")
        # 4. the bundle's plain-C head codes its own output: hnd_head_run
        #    --eb-tables (the exported sources built with make) writes the
        #    stream hnd split-detect --head B sends for the same image
        rec = Recorder(srv.port)
        rc, out, err = run("split-detect", "--server", "127.0.0.1:%d" % rec.port, "--head", t("B"), "--out",
                           t("c.json"), "--quiet", t("img", "1.png"))
        rec.t.join(10)
        fr = [p for ty, p in frames_of(rec.sent) if ty == BOTTLENECK]
        if check(rc == 0 and len(fr) == 1 and fr[0][8] == 5, "split-detect --head B: %s" % err):
            shutil.copytree(t("B", "head_c"), t("hc"))
            subprocess.run(["make", "-s", "-C", t("hc")], check=True)
            from PIL import Image
            im = Image.open(t("img", "1.png")).convert("RGB")
            with open(t("1.ppm"), "wb") as f:
                f.write(b"P6\n%d %d\n255\n" % im.size + im.tobytes())
            r = subprocess.run([t("hc", "hnd_head_run"), t("B", "head_c", "head.bin"), t("1.ppm"), t("c1"), "--eb-tables",
                                t("B", "eb_tables.bin")], capture_output=True, text=True)
            if check(r.returncode == 0, "hnd_head_run --eb-tables: " + r.stderr):
                got = open(t("c1.eb"), "rb").read()
                check(got == fr[0][52:], "the C head's stream (%d bytes) != hnd's (%d bytes)" % (len(got), len(fr[0]) - 52))
                check(json.load(open(t("c1.json")))["eb_bytes"] == len(got), "eb_bytes in c1.json")
                print("C head: its own EB stream (%d bytes) byte-identical to hnd split-detect's" % len(got), flush=True)
                check_head_aarch64(t, got)
            r = subprocess.run([t("hc", "hnd_head_run"), t("B", "head_c", "head.bin"), t("1.ppm"), t("c2"), "--eb-tables",
                                t("B", "manifest.json")], capture_output=True, text=True)
            check(r.returncode == 1 and "manifest.json" in r.stderr, "bad tables file: %s" % r.stderr)
    finally:
        code = srv.stop()
    check(code == 0, "hnd serve --bundle exit %s" % code)


def check_head_aarch64(t, want):
    """The bundle's C head built for aarch64 (static, the bundle's Makefile)
    and run under qemu-user writes the same EB stream as on x86-64: the
    latent's float arithmetic, its rounding and the rANS coder are all
    platform-independent (issue 18, part 3)."""
    xcc, qemu = shutil.which("aarch64-linux-gnu-gcc"), shutil.which("qemu-aarch64")
    if not xcc or not qemu:
        print("SKIP aarch64 C head: %s not found" % ("aarch64-linux-gnu-gcc" if not xcc else "qemu-aarch64"))
        return
    shutil.copytree(t("B", "head_c"), t("hc_a64"))
    subprocess.run(["make", "-s", "-C", t("hc_a64"), "CC=" + xcc, "LDFLAGS=-static"], check=True)
    r = subprocess.run([qemu, t("hc_a64", "hnd_head_run"), t("B", "head_c", "head.bin"), t("1.ppm"), t("a64"),
                        "--eb-tables", t("B", "eb_tables.bin")], capture_output=True, text=True, timeout=600)
    if check(r.returncode == 0, "aarch64 hnd_head_run --eb-tables: " + r.stderr):
        got = open(t("a64.eb"), "rb").read()
        if check(got == want, "aarch64 (qemu) C head's stream (%d bytes) != x86-64's (%d bytes)" % (len(got), len(want))):
            print("C head on aarch64 (qemu): the same %d-byte EB stream as on x86-64" % len(got), flush=True)


def bytes_sent(csv_path):
    import csv
    return sum(int(r["bytes_sent"]) for r in csv.DictReader(open(csv_path)))


def fuzz(srv, payload):
    """Mutated EB payloads (frame CRCs valid) on one connection."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=60)
    s.sendall(frame(HELLO, 0, bytes(32) + struct.pack("<II", 32, C)))
    ty, _, p = read_frame(s)
    check(ty == HELLO_OK, "HELLO: reply type %d" % ty)
    s.sendall(frame(BOTTLENECK, 1, payload))
    ty, _, good = read_frame(s)
    if not check(ty == DETECTIONS, "the captured frame: reply type %d %r" % (ty, good[:80])):
        return
    rng = np.random.default_rng(5)
    head, stream = payload[:52], payload[52:]
    cases = [("cut to %d" % n, head + stream[:n]) for n in (9, 10, len(stream) // 2, len(stream) - 1)]
    cases.append(("a wrong tables CRC", head[:12] + struct.pack("<I", struct.unpack("<I", head[12:16])[0] ^ 1) +
                  head[16:] + stream))
    cases.append(("random stream", head + bytes(rng.integers(0, 256, len(stream), dtype=np.uint8))))
    cases.append(("a wrong symbol count", head + stream[:1] + struct.pack("<I", struct.unpack("<I", stream[1:5])[0] + 1)
                  + stream[5:]))
    for k in range(8 if SHORT else 40):
        b = bytearray(stream)
        for _ in range(1 + k % 3):
            i = int(rng.integers(0, len(b)))
            b[i] ^= 1 << int(rng.integers(0, 8))
        cases.append(("flipped #%d" % k, head + bytes(b)))
    errors = decoded = 0
    for i, (what, p) in enumerate(cases):
        s.sendall(frame(BOTTLENECK, 100 + i, p))
        try:
            ty, rid, r = read_frame(s)
        except (ConnectionError, socket.timeout) as e:
            check(False, "%s: no reply (%s)" % (what, e))
            return
        check(rid == 100 + i, "%s: reply id %d" % (what, rid))
        if ty == ERROR:
            code, n = struct.unpack("<II", r[:8])
            msg = r[8:8 + n].decode()
            errors += 1
            if "CRC" in what:
                check(code == 3 and "tables" in msg, "%s: code %d %s" % (what, code, msg))
            else:
                check(code in (1, 3) and msg, "%s: code %d %s" % (what, code, msg))
        else:
            check(ty == DETECTIONS and not what.startswith(("cut", "random", "a wrong")),
                  "%s: reply type %d" % (what, ty))
            decoded += 1
    s.sendall(frame(BOTTLENECK, 999, payload))
    ty, _, again = read_frame(s)
    check(ty == DETECTIONS and again[:16] + again[20:] == good[:16] + good[20:],   # all but the server's ms
          "the untouched frame after the mutations: other detections")
    s.sendall(frame(BYE, 0, b""))
    s.close()
    print("fuzz: %d mutated EB payloads, %d refused with an ERROR, %d decoded, server alive"
          % (len(cases), errors, decoded), flush=True)


if __name__ == "__main__":
    main()
    if failures:
        print("%d failure(s)" % len(failures))
        sys.exit(1)
    print("ok")
