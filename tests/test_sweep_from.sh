#!/bin/sh
# test_sweep_from.sh (issue 16 item 6): hnd sweep --students-from evaluates a
# Mask R-CNN student as the Faster R-CNN student of the Mask teacher's box
# branch, without training; hnd plot draws several sweeps on one figure.
# References: the sweep's 8-bit and float32 stats equal hnd eval-model's of a
# Faster student file that h5py extracted from the Mask student (every key
# but roi_heads.mask_*: an extraction independent of sweep_from.c); a student
# whose frozen tensors differ from the config's teacher by one ulp in one
# tensor is refused, naming that tensor; plot's table prints the values of
# the results.json files and its PNG has each sweep's colour (and not the
# colour of a sweep it was not given).
set -eu
BIN=${HND_BIN_DIR:?}
SRC=${HND_SRC_DIR:?}
PY=${HND_PYTHON:-/usr/bin/python3}
T=${HND_TEST_TMP:-.}/sweep_from
rm -rf "$T"
mkdir -p "$T"
cd "$T"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$BIN/hnd" synth --out synth --train 2 --val 3 --size 64x64 --seed 5 --quiet
W="--fpn-channels 64 --representation-size 256 --mask-channels 64 --anchor-sizes 8,16,32,64,128"
# shellcheck disable=SC2086
"$PY" "$SRC/tests/py/make_teacher.py" teacher_mask.h5 --mask --num-classes 22 $W >/dev/null
# shellcheck disable=SC2086
"$PY" "$SRC/tests/py/make_teacher.py" stu_src.h5 --mask --num-classes 22 --student 3 --seed 1 $W >/dev/null
mkdir -p MS/b3ch
"$PY" - <<'PYEOF'
import h5py, numpy as np
# a teacher that detects something (AP > 0 makes the comparisons count):
# proposals are its anchors, each scored alike for classes 1..13
with h5py.File("teacher_mask.h5", "r+") as f:
    for k in ("roi_heads.box_predictor.bbox_pred", "rpn.head.bbox_pred"):
        for s in ("weight", "bias"):
            f["weights/%s.%s" % (k, s)][...] = 0
    f["weights/roi_heads.box_predictor.cls_score.weight"][...] = 0
    b = np.full(22, -10.0, np.float32)
    b[1:14] = 0
    f["weights/roi_heads.box_predictor.cls_score.bias"][...] = b
def write(path, items):
    with h5py.File(path, "w") as f:
        g = f.create_group("weights")
        for k, v in items:
            g.create_dataset(k, data=v)
tea = h5py.File("teacher_mask.h5", "r")["weights"]
src = h5py.File("stu_src.h5", "r")["weights"]
mine = lambda k: k.startswith(("backbone.body.conv1.", "backbone.body.bn1.", "backbone.body.layer1."))
# the Mask student as hnd train writes it: its own stem and bottleneck, the
# rest the teacher's (frozen)
stu = [(k, src[k][()]) for k in src if mine(k)] + [(k, tea[k][()]) for k in tea if not mine(k)]
write("MS/b3ch/best.h5", stu)
# the box teacher (as train-teacher --box-teacher) and the reference Faster student
write("box_teacher.h5", [(k, tea[k][()]) for k in tea if not k.startswith("roi_heads.mask_")])
write("faster_student.h5", [(k, v) for k, v in stu if not k.startswith("roi_heads.mask_")])
# another teacher: one value of one frozen tensor one ulp away
bad = [(k, tea[k][()].copy()) for k in tea if not k.startswith("roi_heads.mask_")]
for k, v in bad:
    if k == "backbone.fpn.layer_blocks.2.0.weight":
        v.flat[7] = np.nextafter(v.flat[7], np.float32(np.inf))
write("other_teacher.h5", bad)
PYEOF

CFG="$SRC/configs/demo/hnd_demo_faster_rcnn_r18_synth.json"
# anchors of one size near the objects', and every proposal kept: random
# features rank the proposals by position alone, and without these the
# reference stats would all be 0 (the equalities below must compare AP > 0)
SIZES=""
for m in teacher_model student_model; do
    SIZES="$SIZES --set $m.params.min_size=64 --set $m.params.max_size=64
 --set $m.params.anchor_sizes=[20,20,20,20,20] --set $m.params.box_detections_per_img=1000"
done
ARGS="--set dataset.root=synth --set threads=2 --set dataset.num_workers=2 $SIZES"
# shellcheck disable=SC2086
"$BIN/hnd" sweep "$CFG" --channels 3 --students-from MS --out FS --set teacher_model.ckpt=box_teacher.h5 \
    --no-teacher $ARGS > out.txt 2>err.txt || fail "sweep --students-from: $(cat err.txt)"
grep -q "C=3: evaluating MS/b3ch/best.h5 (no training)" err.txt || fail "log: $(cat err.txt)"
[ ! -e FS/b3ch/last.h5 ] || fail "--students-from trained"

ev() {  # ev OUT.json [args]: hnd eval-model of the h5py-extracted Faster student
    o=$1; shift
    # shellcheck disable=SC2086
    "$BIN/hnd" eval-model faster_student.h5 --config "$CFG" --quiet --set teacher_model.ckpt=box_teacher.h5 \
        $ARGS --json "$o" "$@" >/dev/null || fail "eval-model $*"
}
ev q8.json --bits 8
# the float32 reference in the plain pass only (the same code path as 8 bits)
if [ "${HND_TEST_SCOPE:-}" = short ]; then cp q8.json f32.json; else ev f32.json --no-transform; fi
"$PY" - <<'PYEOF'
import json, os
js = json.load(open("FS/results.json"))["rows"]
q8, f32 = json.load(open("q8.json")), json.load(open("f32.json"))
same12 = lambda a, b: len(a) == len(b) == 12 and all(abs(x - y) <= 1e-6 for x, y in zip(a, b))
assert len(js) == 1 and js[0]["model"] == "student" and js[0]["channels"] == 3, js
assert js[0]["checkpoint"] == "MS/b3ch/best.h5", js[0]["checkpoint"]
assert same12(js[0]["bbox"], q8["bbox"]), (js[0]["bbox"], q8["bbox"])
if os.environ.get("HND_TEST_SCOPE") != "short":
    assert same12(js[0]["bbox_float32"], f32["bbox"]), (js[0]["bbox_float32"], f32["bbox"])
assert js[0]["segm"] is None, js[0]   # the Faster R-CNN: no mask head ran
assert max(q8["bbox"]) > 0 and max(f32["bbox"]) > 0, (q8, f32)   # the equalities compare non-zero stats
print("students-from: bbox AP %.4f (8-bit) %.4f (float32) = eval-model of the h5py-extracted Faster student"
      % (js[0]["bbox"][0], js[0]["bbox_float32"][0]))
PYEOF

# a student distilled from another teacher, and a C the other sweep lacks
rc=0
# shellcheck disable=SC2086
"$BIN/hnd" sweep "$CFG" --channels 3 --students-from MS --out BAD --set teacher_model.ckpt=other_teacher.h5 \
    --no-teacher --quiet $ARGS 2>err.txt || rc=$?
[ "$rc" = 1 ] && grep -q "MS/b3ch/best.h5: frozen tensor backbone.fpn.layer_blocks.2.0.weight differs from the teacher's (other_teacher.h5)" err.txt ||
  fail "other teacher: exit $rc: $(cat err.txt)"
[ ! -e BAD/results.json ] || fail "other teacher: results written"
rc=0
# shellcheck disable=SC2086
"$BIN/hnd" sweep "$CFG" --channels 3,6 --students-from MS --out BAD --set teacher_model.ckpt=box_teacher.h5 \
    --no-teacher --quiet $ARGS 2>err.txt || rc=$?
[ "$rc" = 1 ] && grep -q "no student for C=6 (MS/b6ch/best.h5 is missing" err.txt ||
  fail "missing C: exit $rc: $(cat err.txt)"
# a run stopped half-way (its last.h5 says so): its best.h5 is refused
mkdir -p HALF/b3ch
cp MS/b3ch/best.h5 HALF/b3ch/best.h5
"$PY" - <<'PYEOF'
import h5py, numpy as np
with h5py.File("HALF/b3ch/last.h5", "w") as f:   # ckpt.c's state scalars
    for k, v in (("epoch", 1), ("iteration", 5), ("global_step", 53), ("seed", 0), ("best_epoch", 0),
                 ("loss_count", 5)):
        f.create_dataset("train/" + k, data=np.int64(v))
    for k, v in (("best_map", 0.1), ("loss_sum", 1.0)):
        f.create_dataset("train/" + k, data=np.float64(v))
PYEOF
rc=0
# shellcheck disable=SC2086
"$BIN/hnd" sweep "$CFG" --channels 3 --students-from HALF --out BAD --set teacher_model.ckpt=box_teacher.h5 \
    --no-teacher --quiet $ARGS 2>err.txt || rc=$?
[ "$rc" = 1 ] && grep -q "the run of C=3 stopped after 1 epochs and part of the next (HALF/b3ch/last.h5)" err.txt ||
  fail "half-way run: exit $rc: $(cat err.txt)"

# hnd plot: the sweep above and a hand-made one (known values)
"$PY" - <<'PYEOF'
import json
row = lambda m, c, b8, b32, ap, ap32, q=None: {
    "model": m, "channels": c, "bytes_8bit": b8, "bytes_float32": b32, "bytes_jpeg": b8 if q else None,
    "jpeg_quality": q, "bbox": [ap] + [0.0] * 11, "bbox_float32": [ap32] + [0.0] * 11, "segm": None,
    "segm_float32": None}
json.dump({"rows": [row("student", 3, 300.0, 1200.0, 0.25, 0.3), row("student", 6, 600.0, 2400.0, 0.5, 0.625),
                    row("teacher", 0, 12288.0, 49152.0, 0.75, 0.75),
                    row("teacher_jpeg", 0, 900.0, 900.0, 0.375, 0.375, 10)]}, open("hand.json", "w"))
PYEOF
# (torch-free: it runs without hnd-torch)
HND_TORCH_EXE=/nonexistent/hnd-torch "$BIN/hnd" plot FS/results.json:FROM hand.json:HAND --out both.png > plot.txt 2>err.txt ||
  fail "plot: $(cat err.txt)"
"$BIN/hnd" plot FS/results.json --out one.png --quiet 2>err.txt || fail "plot one: $(cat err.txt)"
"$PY" - <<'PYEOF'
import json
from PIL import Image
lines = open("plot.txt").read().split("\n")
fs = json.load(open("FS/results.json"))["rows"][0]
want = ["HAND   bbox   student         3         300        1200    0.2500    0.3000",
        "HAND   bbox   student         6         600        2400    0.5000    0.6250",
        "HAND   bbox   teacher         -       12288       49152    0.7500         -",
        "HAND   bbox   teacher_jpeg  Q10         900         900    0.3750         -",
        "FROM   bbox   student         3 %11.0f %11.0f %9.4f %9.4f" % (fs["bytes_8bit"], fs["bytes_float32"],
                                                                    fs["bbox"][0], fs["bbox_float32"][0])]
for w in want:
    assert w in lines, (w, lines)
def count(path, rgb):   # pixels of one series' colour (within 8 per channel)
    im = Image.open(path).convert("RGB")
    return sum(1 for p in im.getdata() if all(abs(a - b) <= 8 for a, b in zip(p, rgb)))
blue, red = (0x1F, 0x77, 0xB4), (0xD6, 0x27, 0x28)   # the first and second sweep's colours
nb, nr, nr1 = count("both.png", blue), count("both.png", red), count("one.png", red)
assert nb > 50 and nr > 50 and nr1 == 0, (nb, nr, nr1)
print("plot: %d / %d pixels of the two sweeps' colours (0 of the second with one sweep)" % (nb, nr))
PYEOF
rc=0; "$BIN/hnd" plot synth/annotations/instances_val.json --out x.png 2>err.txt || rc=$?
[ "$rc" = 1 ] && grep -q 'instances_val.json: not a results.json of hnd sweep (no "rows" array)' err.txt ||
  fail "plot of a non-results file: exit $rc: $(cat err.txt)"
[ ! -e x.png ] || fail "plot wrote a figure on error"
echo "test_sweep_from: ok"
