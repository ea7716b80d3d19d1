#!/usr/bin/env python3
"""`hnd split-detect` against `hnd serve` on the loopback (test_split_e2e).

A small student (C=3, the demo's widths and anchors), its teacher-shaped
original model, a bundle (`hnd export --config`), images of several sizes
(JPEG and PNG), and `hnd serve --bundle B --port 0 --original T.h5`. Then:
 1. the libtorch head (the student .h5, same config and sizes) gives a
    results file byte-identical to `hnd detect` of the same student;
 2. the bundle's plain-C head gives the same detections within a tolerance
    (boxes 1 px, scores 0.01, labels equal);
 3. `hnd eval` accepts a results file made with --ann on `hnd synth` images;
 4. --original (JPEG files sent as they are) equals `hnd detect` of the
    original model; a dropped connection (a proxy that cuts the first one) is
    retried and the results are unchanged; --timings writes the CSV;
 5. errors: connection refused, a bundle whose manifest differs (HELLO
    refused), a missing and a corrupt image, a server ERROR; each a one-line
    message, exit 1, no results file; Ctrl-C during a slow send: exit 130,
    no results file.
Everything is bounded by timeouts; the server is stopped with SIGINT."""
import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

from serve_proc import ServeProc

BIN = os.environ.get("HND_BIN_DIR", "build")
SRC = os.environ.get("HND_SRC_DIR", ".")
TMP = os.path.join(os.environ.get("HND_TEST_TMP", "."), "split_e2e")
PY = os.environ.get("HND_PYTHON", sys.executable)
HND = os.path.join(BIN, "hnd")
SIZE = ["--min-size", "128", "--max-size", "256"]
TIMEOUT = 300
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)
    return cond


def run(*args, timeout=TIMEOUT):
    p = subprocess.run([HND, *args], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def make(out, *extra):
    subprocess.run([PY, os.path.join(SRC, "tests", "py", "make_teacher.py"), out, "--fpn-channels", "64",
                    "--representation-size", "256", "--mask-channels", "64", "--anchor-sizes", "8,16,32,64,128",
                    "--mask", *extra], check=True, cwd=os.path.join(SRC, "tests", "py"), stdout=subprocess.DEVNULL)


def one_line_error(rc, err, want, what, out=None):
    check(rc == 1, f"{what}: exit {rc}, expected 1 ({err.strip()!r})")
    lines = [l for l in err.strip().splitlines() if l]
    check(len(lines) == 1, f"{what}: expected one error line, got {lines}")
    check(lines and re.search(want, lines[0]), f"{what}: '{want}' not in {err.strip()!r}")
    if out:
        check(not os.path.exists(out), f"{what}: {out} written")


def Server(*args):
    """hnd serve on port 0 (tests/py/serve_proc.py)."""
    return ServeProc(HND, *args)

class DropProxy:
    """Relays to a server; the first connection is cut after the HELLO
    exchange, as soon as the client starts its first request."""

    def __init__(self, target_port):
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(8)
        self.port = self.ls.getsockname()[1]
        self.target = target_port
        self.n = 0
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            self.n += 1
            threading.Thread(target=self.relay, args=(c, self.n == 1), daemon=True).start()

    def relay(self, c, cut):
        s = socket.create_connection(("127.0.0.1", self.target))

        def back():
            try:
                while True:
                    b = s.recv(65536)
                    if not b:
                        break
                    c.sendall(b)
            except OSError:
                pass
            for x in (c, s):
                try:
                    x.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        threading.Thread(target=back, daemon=True).start()
        sent = 0
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                if cut and sent >= 72:   # HELLO (32 + 40 bytes) went through: cut at the request
                    break
                s.sendall(b)
                sent += len(b)
        except OSError:
            pass
        for x in (c, s):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            x.close()


def detections(path):
    by = {}
    for r in json.load(open(path)):
        by.setdefault(r["image_id"], []).append(r)
    return by


def close_enough(a, b, what):
    """The same detections per image within 1 px and 0.01 in score."""
    da, db = detections(a), detections(b)
    check(sorted(da) == sorted(db), f"{what}: image ids {sorted(da)} vs {sorted(db)}")
    worst_box = worst_score = 0.0
    for iid in da:
        ra, rb = da[iid], list(db.get(iid, []))
        if not check(len(ra) == len(rb), f"{what}: image {iid}: {len(ra)} vs {len(rb)} detections"):
            continue
        for r in ra:
            best = None
            for j, q in enumerate(rb):
                if q["category_id"] != r["category_id"]:
                    continue
                d = max(abs(x - y) for x, y in zip(r["bbox"], q["bbox"]))
                if best is None or d < best[0]:
                    best = (d, j)
            if not check(best is not None, f"{what}: image {iid}: no label {r['category_id']} match"):
                continue
            q = rb.pop(best[1])
            worst_box = max(worst_box, best[0])
            worst_score = max(worst_score, abs(r["score"] - q["score"]))
            check("segmentation" in q, f"{what}: image {iid}: no mask")
    check(worst_box <= 1.0, f"{what}: boxes differ by {worst_box:.3f} px")
    check(worst_score <= 0.01, f"{what}: scores differ by {worst_score:.4f}")
    return worst_box, worst_score


def main():
    shutil.rmtree(TMP, ignore_errors=True)
    os.makedirs(TMP)
    t = lambda *p: os.path.join(TMP, *p)
    make(t("S.h5"), "--student", "3")
    make(t("T.h5"))
    cfg = json.load(open(os.path.join(SRC, "configs", "demo", "hnd_demo_mask_rcnn_r18_synth.json")))
    cfg["teacher_model"]["ckpt"] = t("T.h5")
    cfg["student_model"]["ckpt"] = t("S.h5")
    cfg["output_dir"] = t("run")
    # a random model keeps the most detections it may: 10 per image (with
    # masks) keep the server's tail, and so this test, short
    for m in ("teacher_model", "student_model"):
        cfg[m]["params"].update(box_detections_per_img=10, rpn_pre_nms_top_n_test=200, rpn_post_nms_top_n_test=100)
    json.dump(cfg, open(t("config.json"), "w"), indent=1)
    # images: several sizes, JPEG and PNG, numeric stems (hnd detect's ids)
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    os.makedirs(t("img"))
    os.makedirs(t("jpg"))
    sizes = [(160, 120), (200, 150), (97, 131), (256, 64), (120, 160)]
    if os.environ.get("HND_TEST_SCOPE") == "short":   # the sanitizer pass: every path, fewer images
        sizes = sizes[:2]
    for i, (w, h) in enumerate(sizes):
        a = (rng.random((h, w, 3)) * 80).astype(np.uint8)
        for k in range(3):   # a few solid shapes
            y, x = rng.integers(0, h - h // 3), rng.integers(0, w - w // 3)
            a[y:y + h // 3, x:x + w // 3] = rng.integers(100, 255, 3)
        ext = "png" if i % 2 else "jpg"
        Image.fromarray(a).save(t("img", f"{i + 1}.{ext}"), **({"quality": 90} if ext == "jpg" else {}))
        if ext == "jpg":
            shutil.copy(t("img", f"{i + 1}.jpg"), t("jpg"))
    rc, out, err = run("synth", "--out", t("syn"), "--train", "0", "--val", "3", "--size", "160x120", "--quiet")
    check(rc == 0, f"synth: {err}")
    rc, out, err = run("export", t("S.h5"), "--config", t("config.json"), "--out", t("B"), "--format", "c", *SIZE)
    if not check(rc == 0, f"export: {err}"):
        return
    # another bundle of the same student (other sizes: another manifest digest, same bits and C)
    rc, out, err = run("export", t("S.h5"), "--config", t("config.json"), "--out", t("B2"), "--format", "c",
                       "--min-size", "160", "--max-size", "256")
    check(rc == 0, f"export B2: {err}")

    srv = Server("--bundle", t("B"), "--original", t("T.h5"), "--original-config", t("config.json"), "--quiet")
    try:
        tests(t, srv)
    finally:
        srv.stop()
    check(srv.p.returncode == 0, f"hnd serve exit {srv.p.returncode}: {''.join(srv.lines)[-2000:]}")


def tests(t, srv):
    sd = lambda *a: run("split-detect", "--server", srv.addr, *a)
    # 1. the libtorch head == hnd detect, byte for byte
    rc, out, err = run("detect", "--config", t("config.json"), "--weights", t("S.h5"), *SIZE, "--out", t("det.json"),
                       "--quiet", t("img"))
    check(rc == 0, f"detect: {err}")
    rc, out, err = sd("--head", t("S.h5"), "--config", t("config.json"), *SIZE, "--out", t("split_torch.json"),
                      "--timings", t("timings.csv"), t("img"))
    if check(rc == 0, f"split-detect (torch head): {err}"):
        a, b = open(t("det.json"), "rb").read(), open(t("split_torch.json"), "rb").read()
        check(a == b, "split-detect with the libtorch head != hnd detect")
        n = len(json.loads(a))
        check(n > 0, "hnd detect found nothing: the comparison is empty")
        print(f"libtorch head: {n} detections, identical to hnd detect", flush=True)
        check(re.search(r"head [\d.]+ ms, encode [\d.]+ ms, \d+ bytes, network\+server [\d.]+ ms, tail [\d.]+ ms, "
                        r"total [\d.]+ ms", err), f"per-image line: {err}")
        check("images/s" in err and "median" in err and "p95" in err, f"summary: {err}")
        rows = list(csv.DictReader(open(t("timings.csv"))))
        check(len(rows) == len(os.listdir(t("img"))), f"timings.csv: {len(rows)} rows")
        for r in rows:
            check(int(r["bytes_sent"]) > 52 and float(r["tail_ms"]) > 0 and float(r["head_ms"]) > 0 and
                  float(r["total_ms"]) >= float(r["net_ms"]), f"timings row {r}")
    # 2. the bundle's plain-C head: the same detections within a tolerance
    rc, out, err = sd("--head", t("B"), "--out", t("split_c.json"), "--quiet", t("img"))
    if check(rc == 0, f"split-detect (C head): {err}"):
        wb, ws = close_enough(t("det.json"), t("split_c.json"), "C head")
        print(f"C head: boxes within {wb:.4f} px, scores within {ws:.5f} of hnd detect", flush=True)
    # 2b. --codec rans: the 8-bit bottleneck coded losslessly (MED + rANS):
    # the same results byte for byte, fewer bytes on the link
    rc, out, err = sd("--head", t("S.h5"), "--config", t("config.json"), *SIZE, "--codec", "rans", "--out",
                      t("split_rans.json"), "--timings", t("timings_rans.csv"), "--quiet", t("img"))
    if check(rc == 0, f"split-detect --codec rans: {err}"):
        check(open(t("split_rans.json"), "rb").read() == open(t("det.json"), "rb").read(),
              "--codec rans: results differ from hnd detect (the coding must be lossless)")
        raw = sum(int(r["bytes_sent"]) for r in csv.DictReader(open(t("timings.csv"))))
        coded = sum(int(r["bytes_sent"]) for r in csv.DictReader(open(t("timings_rans.csv"))))
        check(coded < raw, f"--codec rans sent {coded} bytes, raw {raw}")
        print(f"--codec rans: identical results, {coded} bytes sent instead of {raw}", flush=True)
    # 3. hnd eval accepts a results file (--ann ids) on synth's images
    ann = t("syn", "annotations", "instances_val.json")
    rc, out, err = sd("--head", t("B"), "--ann", ann, "--out", t("split_syn.json"), "--quiet", t("syn", "val"))
    if check(rc == 0, f"split-detect on synth: {err}"):
        ids = {im["id"] for im in json.load(open(ann))["images"]}
        got = {r["image_id"] for r in json.load(open(t("split_syn.json")))}
        check(got <= ids, f"synth: image ids {got} not in the GT's {ids}")
        for iou in ("bbox", "segm"):
            rc, out, err = run("eval", "--gt", ann, "--dt", t("split_syn.json"), "--iou", iou, "--quiet")
            check(rc == 0 and "Average Precision" in out, f"hnd eval --iou {iou}: {rc} {out} {err}")
    # 4. --original: JPEG files go as they are; the server's original model == hnd detect of it
    rc, out, err = sd("--head", t("B"), "--original", "--out", t("split_orig.json"), "--quiet", t("jpg"))
    rc2, out2, err2 = run("detect", "--config", t("config.json"), "--weights", t("T.h5"), "--out", t("det_orig.json"),
                          "--quiet", t("jpg"))
    if check(rc == 0 and rc2 == 0, f"--original: {err} / detect: {err2}"):
        check(open(t("det_orig.json"), "rb").read() == open(t("split_orig.json"), "rb").read(),
              "--original != hnd detect of the original model")
    rc, out, err = sd("--head", t("B"), "--original", "--out", t("split_orig_png.json"), "--quiet", t("img"))
    check(rc == 0, f"--original with PNG images (re-encoded): {err}")
    #    a dropped connection: reconnect, resend, the same results
    px = DropProxy(srv.port)
    rc, out, err = run("split-detect", "--server", f"127.0.0.1:{px.port}", "--head", t("B"), "--out",
                       t("split_retry.json"), t("img"))
    if check(rc == 0, f"split-detect through a cutting proxy: {err}"):
        check(open(t("split_retry.json"), "rb").read() == open(t("split_c.json"), "rb").read(),
              "results after a reconnection differ")
        check("(resent)" in err and "1 reconnects" in err, f"the retry is not reported: {err}")
        check(px.n == 2, f"proxy saw {px.n} connections")
    px = DropProxy(srv.port)
    rc, out, err = run("split-detect", "--server", f"127.0.0.1:{px.port}", "--head", t("B"), "--retries", "0",
                       "--out", t("x_retry0.json"), "--quiet", t("img"))
    one_line_error(rc, err, r"1\.jpg: .*closed.*gave up after 1 attempt", "--retries 0, dropped", t("x_retry0.json"))
    # 5. errors
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    free_port = s.getsockname()[1]
    s.close()
    rc, out, err = run("split-detect", "--server", f"127.0.0.1:{free_port}", "--head", t("B"), "--out",
                       t("x_refused.json"), t("img"))
    one_line_error(rc, err, "onnection refused", "no server", t("x_refused.json"))
    rc, out, err = sd("--head", t("B2"), "--out", t("x_hello.json"), t("img"))
    one_line_error(rc, err, r"HELLO refused.*mismatch.*digest", "another bundle", t("x_hello.json"))
    rc, out, err = sd("--head", t("S.h5"), "--config", t("config.json"), "--out", t("x_bits.json"),
                      "--min-size", "128", t("img"))   # a .h5 head sends no digest: bits and C match, so it runs
    check(rc == 0, f".h5 head without a digest: {err}")
    rc, out, err = sd("--head", t("B"), "--out", t("x_missing.json"), t("img", "1.jpg"), t("img", "nope.jpg"))
    one_line_error(rc, err, r"nope\.jpg", "a missing image", t("x_missing.json"))
    os.makedirs(t("bad"))
    shutil.copy(t("img", "1.jpg"), t("bad", "1.jpg"))
    open(t("bad", "2.jpg"), "wb").write(open(t("img", "1.jpg"), "rb").read()[:200])
    rc, out, err = sd("--head", t("B"), "--out", t("x_corrupt.json"), "--quiet", t("bad"))
    one_line_error(rc, err, r"2\.jpg", "a corrupt image", t("x_corrupt.json"))
    rc, out, err = run("split-detect", "--server", srv.addr, "--head", t("B"), "--out", t("x_fmt.json"),
                       "--head-format", "torch", t("img"))
    check(rc == 2 and "--head-format" in err, f"bundle with --head-format torch: {rc} {err}")
    # Ctrl-C during a slow send (50 kbit/s: about a second per frame), sent
    # once the first image's line is out: the handler is installed by then
    # (a fixed sleep loses the race when libtorch loads slowly, as under ASan)
    p = subprocess.Popen([HND, "split-detect", "--server", srv.addr, "--head", t("B"), "--rate-mbps", "0.05",
                          "--out", t("x_int.json"), t("img")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(iter(p.stderr.readline, "")), daemon=True)
    reader.start()
    deadline = time.time() + 120
    while not lines and p.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=30)
        reader.join(timeout=5)
        err = "".join(lines)
        check(p.returncode == 130, f"Ctrl-C: exit {p.returncode}: {err}")
        check("interrupted" in err, f"Ctrl-C: {err}")
        check(not os.path.exists(t("x_int.json")), "Ctrl-C: results written")
    except subprocess.TimeoutExpired:
        p.kill()
        check(False, "Ctrl-C: split-detect did not stop within 30 s")

if __name__ == "__main__":
    main()
    if failures:
        print(f"{len(failures)} failure(s)")
        sys.exit(1)
    print("ok")
