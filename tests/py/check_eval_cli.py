#!/usr/bin/env python3
"""`hnd eval` end to end: the fixtures' stats as pycocotools prints them,
--json (atomic, exact numbers), --per-category, exit codes and messages,
and that hnd stays torch-free. Run by ctest (test_eval_cli)."""
import json
import os
import subprocess
import sys

BIN = os.environ.get("HND_BIN_DIR", "build")
SRC = os.environ.get("HND_SRC_DIR", ".")
TMP = os.environ.get("HND_TEST_TMP", ".")
FIX = os.environ.get("HND_COCOEVAL_FIXTURES", os.path.join(SRC, "tests", "fixtures", "cocoeval"))
HND = os.path.join(BIN, "hnd")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(*args, env=None):
    e = dict(os.environ)
    e["HND_TORCH_EXE"] = "/nonexistent/hnd-torch"  # eval must never need it
    if env:
        e.update(env)
    p = subprocess.run([HND, *args], capture_output=True, text=True, env=e)
    return p.returncode, p.stdout, p.stderr


def pycoco_lines(stats):
    """summarize()'s format, written from its format string."""
    rows = [(1, None, "all", 100), (1, .5, "all", 100), (1, .75, "all", 100), (1, None, "small", 100),
            (1, None, "medium", 100), (1, None, "large", 100), (0, None, "all", 1), (0, None, "all", 10),
            (0, None, "all", 100), (0, None, "small", 100), (0, None, "medium", 100), (0, None, "large", 100)]
    out = []
    for (ap, thr, area, md), s in zip(rows, stats):
        title = "Average Precision" if ap else "Average Recall"
        typ = "(AP)" if ap else "(AR)"
        iou = "0.50:0.95" if thr is None else "{:0.2f}".format(thr)
        out.append(" {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}".format(
            title, typ, iou, area, md, s))
    return out


for seed in ("seed1", "seed2"):
    d = os.path.join(FIX, seed)
    expected = json.load(open(os.path.join(d, "expected.json")))
    for iou in ("bbox", "segm"):
        out_json = os.path.join(TMP, "eval_%s_%s.json" % (seed, iou))
        if os.path.exists(out_json):
            os.remove(out_json)
        rc, out, err = run("eval", "--gt", os.path.join(d, "gt.json"), "--dt", os.path.join(d, "dt_%s.json" % iou),
                           "--iou", iou, "--json", out_json)
        check(rc == 0, "%s %s: exit %d (%s)" % (seed, iou, rc, err.strip()))
        check(out.splitlines() == pycoco_lines(expected[iou]),
              "%s %s: printed lines differ:\n%s\nwanted:\n%s" % (seed, iou, out, "\n".join(pycoco_lines(expected[iou]))))
        got = json.load(open(out_json))
        check(list(got) == [iou], "%s %s: json keys %s" % (seed, iou, list(got)))
        diff = max(abs(a - b) for a, b in zip(got[iou], expected[iou]))
        check(len(got[iou]) == 12 and diff <= 1e-9, "%s %s: json stats differ by %g" % (seed, iou, diff))
        check(not [f for f in os.listdir(TMP) if ".tmp." in f], "temporary files left in " + TMP)
        check("categories absent from the ground truth" in err, "%s %s: dropped results not reported" % (seed, iou))

# the number of threads does not change a bit
d = os.path.join(FIX, "seed1")
outs = []
for n in ("1", "3"):
    rc, out, err = run("eval", "--gt", os.path.join(d, "gt.json"), "--dt", os.path.join(d, "dt_segm.json"),
                       "--iou", "segm", "--json", os.path.join(TMP, "eval_thr%s.json" % n), "--quiet",
                       env={"HND_EVAL_THREADS": n})
    check(rc == 0 and err == "", "threads %s: rc %d, stderr %r" % (n, rc, err))
    outs.append(open(os.path.join(TMP, "eval_thr%s.json" % n)).read())
check(outs[0] == outs[1], "results depend on the thread count")

# per category
rc, out, err = run("eval", "--gt", os.path.join(d, "gt.json"), "--dt", os.path.join(d, "dt_bbox.json"),
                   "--iou", "bbox", "--per-category", "--json", os.path.join(TMP, "eval_pc.json"), "-q")
check(rc == 0, "per-category: exit %d" % rc)
pc = json.load(open(os.path.join(TMP, "eval_pc.json")))["bbox_per_category"]
gt_cats = sorted(c["id"] for c in json.load(open(os.path.join(d, "gt.json")))["categories"])
check([c["id"] for c in pc] == gt_cats, "per-category ids")
valid = [c["AP"] for c in pc if c["AP"] > -1]
check(abs(sum(valid) / len(valid) - json.load(open(os.path.join(d, "expected.json")))["bbox"][0]) < 1e-9,
      "the mean of the per-category AP is not AP")
check(len(out.splitlines()) == 12 + 2 + len(gt_cats), "per-category table lines")

# errors and usage
bad = os.path.join(TMP, "eval_bad.json")
with open(bad, "w") as f:
    f.write('[{"image_id": 1000, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5},\n'
            ' {"image_id": 1000, "category_id": 1, "bbox": [1, 2, 3], "score": 0.5}]')
rc, out, err = run("eval", "--gt", os.path.join(d, "gt.json"), "--dt", bad, "--iou", "bbox", "--json",
                   os.path.join(TMP, "eval_never.json"))
check(rc == 1, "bad bbox: exit %d" % rc)
check(err.startswith("hnd eval: ") and "results[1].bbox: expected 4 numbers" in err and bad in err,
      "bad bbox message: %r" % err)
check(not os.path.exists(os.path.join(TMP, "eval_never.json")), "output written on error")
with open(bad, "w") as f:
    f.write('[{"image_id": 999, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5}]')
rc, out, err = run("eval", "--gt", os.path.join(d, "gt.json"), "--dt", bad, "--iou", "bbox")
check(rc == 1 and "results[0]: image_id 999 not in ground truth" in err, "unknown image: %d %r" % (rc, err))
# results of some images only: evaluated as pycocotools does, with a warning
gt_doc = json.load(open(os.path.join(d, "gt.json")))
first = gt_doc["images"][0]["id"]
with open(bad, "w") as f:
    json.dump([{"image_id": first, "category_id": gt_doc["categories"][0]["id"], "bbox": [1, 2, 3, 4],
                "score": 0.5}], f)
rc, out, err = run("eval", "--gt", os.path.join(d, "gt.json"), "--dt", bad, "--iou", "bbox", "-q")
want = "covers 1 of the %d ground-truth images" % len(gt_doc["images"])
check(rc == 0 and want in err, "partial results: %d %r" % (rc, err))
with open(bad, "w") as f:
    f.write("[]")
rc, out, err = run("eval", "--gt", os.path.join(d, "gt.json"), "--dt", bad, "--iou", "segm", "-q")
check(rc == 0 and out.splitlines() == pycoco_lines([-1] * 12), "empty results: %d %r" % (rc, out))
rc, out, err = run("eval", "--gt", "/nonexistent.json", "--dt", bad, "--iou", "bbox")
check(rc == 1 and "/nonexistent.json" in err, "missing gt: %d %r" % (rc, err))
for args in (["eval"], ["eval", "--gt", "a", "--dt", "b"], ["eval", "--gt", "a", "--dt", "b", "--iou", "mask"],
             ["eval", "--gt", "a", "--dt", "b", "--iou", "bbox", "--frob"], ["eval", "--gt"]):
    rc, out, err = run(*args)
    check(rc == 2 and "usage: hnd eval" in err, "usage %s: exit %d" % (args, rc))
rc, out, err = run("eval", "--help")
check(rc == 0 and "usage: hnd eval --gt GT.json --dt RESULTS.json --iou bbox|segm" in out, "--help")
rc, out, err = run("help")
check(rc == 0 and "eval" in out, "eval not listed in hnd help")
ldd = subprocess.run(["ldd", HND], capture_output=True, text=True).stdout
check("libtorch" not in ldd and "libc10" not in ldd, "hnd links libtorch")

print("eval cli: %d failure(s)" % len(failures))
sys.exit(1 if failures else 0)
