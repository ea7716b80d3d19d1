#!/bin/sh
# test_train_teacher.sh: hnd train-teacher on a tiny synthetic set (64x64
# images, a shrunk Mask R-CNN R18-FPN from scratch with trainable BN): the loss
# falls; a run stopped mid-epoch (test hook) and resumed with --resume ends
# bit-identical to an uninterrupted one (weights, BN statistics, optimizer
# state; the uninterrupted run is validated, which changes nothing); a
# finished run is reused by --resume; validation writes model.ckpt and
# metrics; the teacher and its box branch (--box-teacher) load into
# hnd eval-model; a config typo is rejected.
set -eu
BIN=${HND_BIN_DIR:?}
SRC=${HND_SRC_DIR:?}
PY=${HND_PYTHON:-/usr/bin/python3}
T=${HND_TEST_TMP:-.}/train_teacher
rm -rf "$T"
mkdir -p "$T"
cd "$T"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$BIN/hnd" synth --out synth --train 16 --val 3 --size 64x64 --seed 5 --quiet
CFG="$SRC/configs/demo/teacher_mask_rcnn_r18_synth.json"
ARGS="--quiet --set dataset.root=synth --set train.num_epochs=2 --set train.batch_size=4
 --set train.log_freq=1 --set threads=2 --set dataset.num_workers=2 --set test.batch_size=3
 --set model.params.min_size=64 --set model.params.max_size=64
 --set model.params.fpn_out_channels=32 --set model.params.representation_size=64
 --set model.params.mask_head_channels=16 --set model.params.anchor_sizes=[8,16,32,64,128]
 --set train.optimizer.params.lr=0.01 --set train.scheduler.params.milestones=[1]"
tt() {
    # shellcheck disable=SC2086
    "$BIN/hnd" train-teacher "$CFG" $ARGS "$@"
}

# a typo is rejected with its path
if tt --set output_dir=X --set model.params.fpn_out_chanels=8 2>err.txt; then fail "typo accepted"; fi
grep -q "model.params.fpn_out_chanels: unknown key" err.txt || fail "typo message: $(cat err.txt)"

# checked before anything is written (issue 19): categories beyond the
# model's classes (synth's ids reach 21), --box-teacher with a Faster R-CNN
# or into a missing directory; none of them leaves a directory behind
rc=0; tt --set output_dir=N --set model.params.num_classes=10 2>err.txt || rc=$?
[ "$rc" = 1 ] && grep -Eq "category (13|21) \('[a-z]+'\) is outside the model's classes 1..9" err.txt ||
  fail "categories beyond num_classes: exit $rc: $(cat err.txt)"
rc=0; tt --set output_dir=N --set model.name=faster_rcnn --box-teacher box.h5 2>err.txt || rc=$?
[ "$rc" = 1 ] && grep -q "not a Mask R-CNN" err.txt || fail "--box-teacher with Faster R-CNN: $(cat err.txt)"
rc=0; tt --set output_dir=N --box-teacher nodir/box.h5 2>err.txt || rc=$?
[ "$rc" = 1 ] && grep -q "directory nodir does not exist" err.txt || fail "--box-teacher dir: $(cat err.txt)"
[ ! -e N ] || fail "a refused run left N behind"

# A: uninterrupted, 2 epochs of 3-4 iterations, validated after each (the
# best bbox AP checkpoint goes to model.ckpt; validation changes no weight)
tt --set output_dir=A --set model.ckpt=A/teacher.h5
[ -f A/teacher.h5 ] || fail "no teacher file"
grep -q '"type": "val"' A/metrics.jsonl || fail "no validation metrics"
grep -q '"segm_ap"' A/metrics.jsonl || fail "no segm AP"
"$PY" - <<'PYEOF'
import json
rows = [json.loads(l) for l in open("A/metrics.jsonl")]
ep = [r["train_loss"] for r in rows if r["type"] in ("epoch", "val")]
tr = [r for r in rows if r["type"] == "train"]
n = len(tr) // 2
assert len(ep) == 2 and n >= 3 and len(tr) == 2 * n, (ep, len(tr))
for k in ("loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg"):
    assert k in tr[0], (k, tr[0])
assert tr[0]["lr"] < 1e-4 and abs(tr[n - 1]["lr"] - 0.01) < 1e-12, [r["lr"] for r in tr]   # warm-up
assert abs(tr[n]["lr"] - 0.001) < 1e-12, tr[n]["lr"]                                       # milestone 1
assert tr[-1]["loss"] < 0.7 * tr[0]["loss"], "loss did not fall: %s" % [r["loss"] for r in tr]
print("loss per iteration:", ["%.2f" % r["loss"] for r in tr])
PYEOF

# B: stopped after 2 iterations (epoch 0, iteration 2), then resumed
rc=0; tt --no-val --set output_dir=B --set model.ckpt=B/teacher.h5 --stop-after 2 || rc=$?
[ "$rc" = 130 ] || fail "stop hook: exit $rc"
grep -q "interrupted at epoch 0, iteration 2/" B/train.log || fail "B: $(cat B/train.log)"
tt --no-val --set output_dir=B --set model.ckpt=B/teacher.h5 --resume
grep -q "resuming from B/last.h5: epoch 0, iteration 2" B/train.log || fail "B did not resume mid-epoch"

"$PY" - <<'PYEOF'
import h5py, numpy as np
def load(p):
    out = {}
    with h5py.File(p, "r") as f:
        f.visititems(lambda k, v: out.__setitem__(k, v[()]) if isinstance(v, h5py.Dataset) else None)
    return out
a, b = load("A/last.h5"), load("B/last.h5")
assert a.keys() == b.keys(), set(a) ^ set(b)
assert any(k.startswith("train/optim") for k in a), "no optimizer state"
assert "weights/roi_heads.mask_predictor.mask_fcn_logits.weight" in a
bad = [k for k in a if k not in ("train/best_map", "train/best_epoch") and not np.array_equal(a[k], b[k])]
assert not bad, "resumed run differs: %s" % bad[:5]
print("resume: %d datasets bit-identical" % len(a))
PYEOF

# a finished run is reused, not retrained
tt --no-val --set output_dir=A --set model.ckpt=A/teacher.h5 --resume --box-teacher A/box.h5 > reuse.txt 2>&1 ||
    fail "reuse: $(cat reuse.txt)"
[ "$(grep -c 'hnd train-teacher:' A/train.log)" = 1 ] || fail "a finished run was retrained"

# the teacher and its box branch load into hnd eval-model
EV="--quiet --set dataset.root=synth --set model.params.min_size=64 --set model.params.max_size=64
 --set model.params.fpn_out_channels=32 --set model.params.representation_size=64
 --set model.params.mask_head_channels=16 --set model.params.anchor_sizes=[8,16,32,64,128]"
# shellcheck disable=SC2086
"$BIN/hnd" eval-model A/teacher.h5 --config "$CFG" $EV > A/eval.txt || fail "eval-model: $(cat A/eval.txt)"
grep -q "Average Precision" A/eval.txt || fail "eval-model output: $(cat A/eval.txt)"
# shellcheck disable=SC2086
"$BIN/hnd" eval-model A/box.h5 --config "$CFG" $EV --set model.name=faster_rcnn > A/eval_box.txt ||
    fail "eval-model (box branch): $(cat A/eval_box.txt)"
grep -q "Average Precision" A/eval_box.txt || fail "eval-model output: $(cat A/eval_box.txt)"

# hnd detect --config builds the same shrunk model: its detections equal
# eval-model's results file on the same images
"$PY" - "$CFG" <<'PYEOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["dataset"]["root"] = "synth"
c["model"]["ckpt"] = "A/teacher.h5"
p = c["model"]["params"]
p.update(min_size=64, max_size=64, fpn_out_channels=32, representation_size=64, mask_head_channels=16,
         anchor_sizes=[8, 16, 32, 64, 128])
json.dump(c, open("small.json", "w"))
PYEOF
# shellcheck disable=SC2086
"$BIN/hnd" eval-model A/teacher.h5 --config small.json --split val --out A/ev.json > /dev/null ||
    fail "eval-model --out"
"$BIN/hnd" detect --config small.json --out A/det.json --ann synth/annotations/instances_val.json --quiet synth/val ||
    fail "detect --config"
if "$BIN/hnd" detect --config small.json --arch mask_rcnn_resnet18_fpn --out X.json synth/val 2>err.txt; then
    fail "--config with --arch accepted"; fi
grep -q "exclude each other" err.txt || fail "detect --config --arch: $(cat err.txt)"
"$PY" - <<'PYEOF'
import json
a, b = json.load(open("A/ev.json")), json.load(open("A/det.json"))
key = lambda d: (d["image_id"], d["category_id"], -d["score"])
a.sort(key=key); b.sort(key=key)
assert len(a) == len(b) and len(a) > 0, (len(a), len(b))
for x, y in zip(a, b):
    assert (x["image_id"], x["category_id"]) == (y["image_id"], y["category_id"]), (x, y)
    assert abs(x["score"] - y["score"]) < 1e-4 and max(abs(u - v) for u, v in zip(x["bbox"], y["bbox"])) < 1e-2, (x, y)
print("detect --config: %d detections equal eval-model's" % len(a))
PYEOF
# a fresh run into a directory holding a run is refused, A untouched
md5sum A/last.h5 A/train.log A/metrics.jsonl > A.sum
rc=0; tt --set output_dir=A --set model.ckpt=A/teacher.h5 2>err.txt || rc=$?
[ "$rc" = 1 ] && grep -q "A holds a run" err.txt || fail "fresh run into A: exit $rc: $(cat err.txt)"
md5sum -c --quiet A.sum || fail "a refused run changed A"
echo "test_train_teacher: ok"
