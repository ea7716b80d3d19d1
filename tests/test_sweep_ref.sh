#!/bin/sh
# test_sweep_ref.sh (issue 16, items 2 and 3): hnd sweep reports a student on
# the float32 and on the 8-bit bottleneck and the teacher on JPEG inputs.
# References: the float32 / 8-bit rows equal hnd eval-model --no-transform /
# --bits 8 of the same checkpoint; the JPEG rows' mean bytes equal PIL's
# sizes of Image.save(buf, "JPEG", quality=Q) of each image (the reference's
# ExtCocoDetection), and their AP equals the teacher's on a copy of the split
# whose files PIL re-encoded; training validates on the float32 bottleneck
# (the reference's default) unless train.transform_bottleneck; the paper's
# ratio is the bottleneck's values over 3x874x1044.
set -eu
BIN=${HND_BIN_DIR:?}
SRC=${HND_SRC_DIR:?}
PY=${HND_PYTHON:-/usr/bin/python3}
T=${HND_TEST_TMP:-.}/sweep_ref
rm -rf "$T"
mkdir -p "$T"
cd "$T"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$BIN/hnd" synth --out synth --train 8 --val 3 --size 64x64 --seed 5 --quiet
# a random teacher that detects something (AP > 0 makes the comparisons
# count): proposals are its anchors (8..128, no regression), each scored
# alike for classes 1..13, so the ones that overlap an object match
"$PY" "$SRC/tests/py/make_teacher.py" teacher.h5 --depth 18 --num-classes 22 --fpn-channels 64 \
    --representation-size 256 --anchor-sizes 8,16,32,64,128 >/dev/null
"$PY" - <<'PYEOF'
import h5py, numpy as np
with h5py.File("teacher.h5", "r+") as f:
    for k in ("roi_heads.box_predictor.bbox_pred", "rpn.head.bbox_pred"):
        for s in ("weight", "bias"):
            f["weights/%s.%s" % (k, s)][...] = 0
    f["weights/roi_heads.box_predictor.cls_score.weight"][...] = 0
    b = np.full(22, -10.0, np.float32)
    b[1:14] = 0
    f["weights/roi_heads.box_predictor.cls_score.bias"][...] = b
PYEOF
CFG="$SRC/configs/demo/hnd_faster_rcnn_r18_synth.json"
SIZES=""
for m in teacher_model student_model; do
    SIZES="$SIZES --set $m.params.min_size=64 --set $m.params.max_size=64 --set $m.params.fpn_out_channels=64
 --set $m.params.representation_size=256 --set $m.params.anchor_sizes=[8,16,32,64,128]"
done
ARGS="--set dataset.root=synth --set teacher_model.ckpt=teacher.h5 --set train.num_epochs=1
 --set threads=2 --set dataset.num_workers=2 $SIZES"

# one epoch of 2 iterations for C=3, the teacher, and the teacher at JPEG Q 10
# and 50 (Q 10 only in the sanitizer pass)
JPEG=10,50
[ "${HND_TEST_SCOPE:-}" = short ] && JPEG=10
# shellcheck disable=SC2086
"$BIN/hnd" sweep "$CFG" --channels 3 --jpeg $JPEG --out SW $ARGS > out.txt 2>err.txt ||
  fail "sweep: $(cat err.txt)"
cat out.txt

# the split re-encoded by PIL, for the reference evaluation of the teacher
"$PY" - <<'PYEOF'
import io, json, os
from PIL import Image
ann = json.load(open("synth/annotations/instances_val.json"))
sizes = {}
for q in (10, 50):   # the files for Q10 only; the sizes for both
    os.makedirs("pil_q%d/val" % q, exist_ok=True)
    os.makedirs("pil_q%d/annotations" % q, exist_ok=True)
    tot = 0
    for im in ann["images"]:
        buf = io.BytesIO()
        Image.open(os.path.join("synth/val", im["file_name"])).convert("RGB").save(buf, "JPEG", quality=q)
        tot += buf.tell()
        open(os.path.join("pil_q%d/val" % q, im["file_name"]), "wb").write(buf.getvalue())
    json.dump(ann, open("pil_q%d/annotations/instances_val.json" % q, "w"))
    sizes[q] = tot / len(ann["images"])
json.dump(sizes, open("pil_sizes.json", "w"))
PYEOF
ev() {  # ev CKPT OUT.json [args]: hnd eval-model on the test split
    c=$1; o=$2; shift 2
    # shellcheck disable=SC2086
    "$BIN/hnd" eval-model "$c" --config "$CFG" --quiet --set dataset.root=synth $SIZES --json "$o" "$@" >/dev/null ||
      fail "eval-model $c $*"
}
ev SW/b3ch/best.h5 f32.json --no-transform
ev SW/b3ch/best.h5 q8.json --bits 8
ev teacher.h5 q10.json --set dataset.root=pil_q10

"$PY" - <<'PYEOF'
import csv, json, os
rows = list(csv.DictReader(open("SW/results.csv")))
n_ok = len(rows) == 4 - (os.environ.get("HND_TEST_SCOPE") == "short")
assert n_ok and [r["model"] for r in rows] == ["student", "teacher"] + ["teacher_jpeg"] * (len(rows) - 2), rows
st, te, j10, j50 = (rows + [None])[:4]
f32, q8 = json.load(open("f32.json")), json.load(open("q8.json"))
js = json.load(open("SW/results.json"))["rows"]
close = lambda a, b: abs(float(a) - float(b)) <= 1e-6
same12 = lambda a, b: len(a) == len(b) == 12 and all(close(x, y) for x, y in zip(a, b))
assert st["bits"] == "8", st
assert close(st["bbox_ap_float32"], f32["bbox"][0]), (st["bbox_ap_float32"], f32["bbox"][0])
assert close(st["bbox_ap"], q8["bbox"][0]), (st["bbox_ap"], q8["bbox"][0])
assert same12(js[0]["bbox_float32"], f32["bbox"]) and same12(js[0]["bbox"], q8["bbox"]), (js[0], f32, q8)
# the paper's normalisation: C x h x w values over COCO val2017's 3x874x1044
rel = lambda a, b: abs(float(a) / b - 1) < 1e-5
assert rel(st["ratio_paper"], 3 * 20 * 20 / (3 * 874 * 1044)), st["ratio_paper"]
assert rel(te["ratio_paper"], 3 * 64 * 64 / (3 * 874 * 1044)), te["ratio_paper"]
sizes = json.load(open("pil_sizes.json"))
for r, q, row in ((j10, 10, js[2]), (j50, 50, js[3] if j50 else None))[:len(rows) - 2]:
    assert r["jpeg_quality"] == str(q), r
    assert abs(float(r["bytes_jpeg"]) - sizes[str(q)]) < 0.051, (r["bytes_jpeg"], sizes[str(q)])
    if q == 10:   # (one evaluation on PIL's files is enough: the path is the same for every Q)
        ref = json.load(open("q10.json"))
        assert same12(row["bbox"], ref["bbox"]), (q, row["bbox"], ref["bbox"])
    assert close(r["bytes_8bit"], r["bytes_jpeg"]) and rel(r["ratio_8bit"], sizes[str(q)] / 12288), r
assert float(j10["bytes_jpeg"]) < (float(j50["bytes_jpeg"]) if j50 else 12287) < 12288, (j10, j50)
# the teacher detects: the equalities above compare non-zero stats
assert max(js[1]["bbox"]) > 0 and max(js[2]["bbox"]) > 0, js
assert len(js) == len(rows) and len(js[0]["bbox_float32"]) == 12 and js[0]["bits"] == 8 and js[2]["jpeg_quality"] == 10
assert js[1]["bits"] is None and js[1]["bytes_jpeg"] is None
# training validated on the float32 bottleneck (best.h5 is that epoch)
val = [json.loads(l) for l in open("SW/b3ch/metrics.jsonl") if '"val"' in l]
assert len(val) == 1 and close(val[0]["bbox_ap"], f32["bbox"][0]), (val, f32["bbox"][0])
print("float32 bbox AP %.4f, 8-bit %.4f; teacher %.4f; JPEG Q10 %.1f bytes (PIL %.1f) AP %.4f" % (
    f32["bbox"][0], q8["bbox"][0], float(te["bbox_ap"]), float(j10["bytes_jpeg"]), sizes["10"],
    float(j10["bbox_ap"])))
if j50:
    print("JPEG Q50 %.1f bytes (PIL %.1f) AP %.4f" % (float(j50["bytes_jpeg"]), sizes["50"], float(j50["bbox_ap"])))
PYEOF
grep -Eq "^teacher_jpeg +- \(JPEG Q10\) " out.txt || fail "table: $(cat out.txt)"
head -c 8 SW/curve.png | od -An -tx1 | grep -q "89 50 4e 47" || fail "curve.png is not a PNG"
# bad --jpeg lists are usage errors
rc=0; "$BIN/hnd" sweep "$CFG" --channels 3 --jpeg 10,96 2>err.txt || rc=$?
[ "$rc" = 2 ] && grep -q -- "--jpeg '10,96': expected a comma-separated list of integers 1..95" err.txt ||
  fail "--jpeg 96: exit $rc: $(cat err.txt)"
echo "test_sweep_ref: ok"
