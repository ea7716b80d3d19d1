#!/bin/sh
# test_dist_train.sh: data-parallel hnd train over c10d/Gloo on the loopback
# (hnd launch, free ports). Tiny synthetic set (16 images of 64x64, a random
# ResNet-18 FPN teacher):
#  - S: 1 process x batch 4, 2 epochs of 4 steps (the reference);
#  - D: hnd launch --nproc 2 x batch 2 --sync-bn: the same images per step
#    (sharded sampler), BN statistics of the global batch, gradients summed
#    (MSE sum): the trainable tensors equal to S's within 1e-5 (relative L2
#    norm over all of them, h5py), the same per-step losses, both ranks
#    bit-identical (logged hash check), rank 0 alone wrote files.
#    SGD with a small lr: with the demo's Adam at lr 1e-3 the run itself is
#    chaotic at float rounding level (one process with 1 thread vs 2 threads
#    ends 1.2e-3 apart after 8 steps; 2 x 2 vs 1 x 4 ends just as far), so
#    1e-5 would measure Adam's amplification of rounding, not data-parallelism;
#  - sharded eval-model (2 ranks) == one process: results byte-identical, 12 stats;
#  - "teacher": hnd train-teacher (a small frozen-BN Mask R-CNN, SGD, 3 steps):
#    2 ranks x batch 2 (sharded validation) == 1 x batch 4 within 1e-5, ranks
#    identical (short scope: 2 steps, no validation);
#  - "fail": C: Ctrl-C on hnd launch stops both
#    ranks after the same iteration (exit 130, last.h5); K: rank 1 killed (SIGKILL) in epoch 1:
#    rank 0 exits non-zero within the timeout naming rank 1, hnd launch names
#    the rank that failed; then --resume with 1 process x batch 4 finishes.
# usage: test_dist_train.sh [equal|teacher|fail]
set -eu
MODE=${1:-equal}
BIN=${HND_BIN_DIR:?}
SRC=${HND_SRC_DIR:?}
PY=${HND_PYTHON:-/usr/bin/python3}
T=${HND_TEST_TMP:-.}/dist_train_$MODE
rm -rf "$T"
mkdir -p "$T"
cd "$T"
fail() { echo "FAIL: $*" >&2; exit 1; }
# the sanitizer pass: test_dist covers the collectives and a lost rank,
# "equal" and "teacher" the training paths; the failure runs are plain-only
if [ "${HND_TEST_SCOPE:-}" = short ] && [ "$MODE" = fail ]; then echo "test_dist_train $MODE: skipped (short scope)"; exit 0; fi

# teacher: 12 images (3 steps of 4; 8 = 2 steps in the short scope)
NTRAIN=10
[ "$MODE" != teacher ] || { NTRAIN=12; [ "${HND_TEST_SCOPE:-}" != short ] || NTRAIN=8; }
"$BIN/hnd" synth --out synth --train $NTRAIN --val 5 --size 64x64 --seed 3 --quiet
[ "$MODE" = teacher ] || "$PY" "$SRC/tests/py/make_teacher.py" teacher.h5 --depth 18 --num-classes 22 >/dev/null
# S vs D: last.h5's trainable tensors (relative L2) and the per-step losses
cat > cmp.py <<'PYEOF'
import json, sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1] + "/last.h5", "r"), h5py.File(sys.argv[2] + "/last.h5", "r")
names = a.attrs["trainable"]
names = (names.decode() if isinstance(names, bytes) else names).split()
num = den = 0.0
for n in names:
    x, y = a["weights"][n][()].astype(np.float64), b["weights"][n][()].astype(np.float64)
    assert x.shape == y.shape, n
    num += ((x - y) ** 2).sum()
    den += (x ** 2).sum()
rel = np.sqrt(num / den)
la = [json.loads(l)["loss"] for l in open(sys.argv[1] + "/metrics.jsonl") if '"train"' in l]
lb = [json.loads(l)["loss"] for l in open(sys.argv[2] + "/metrics.jsonl") if '"train"' in l]
lrel = [abs(x - y) / abs(x) for x, y in zip(la, lb)]
print("%s vs %s: %d trainable tensors, relative L2 difference %.2e; per-step loss relative differences %s"
      % (sys.argv[1], sys.argv[2], len(names), rel, " ".join("%.0e" % v for v in lrel)))
assert len(la) == len(lb) > 0, (la, lb)
assert rel <= 1e-5, rel
assert lrel[0] <= 1e-6 and max(lrel) <= 1e-4, lrel
PYEOF
CFG="$SRC/configs/demo/hnd_faster_rcnn_r18_synth.json"
ARGS="--quiet --no-val --set dataset.root=synth --set teacher_model.ckpt=teacher.h5 --set train.num_epochs=2
 --set train.log_freq=1 --set threads=1 --set dataset.num_workers=1 --set teacher_model.params.min_size=64
 --set teacher_model.params.max_size=64 --set student_model.params.min_size=64 --set student_model.params.max_size=64
 --set train.optimizer.type=SGD --set train.optimizer.params.lr=1e-7"
if [ "$MODE" = equal ]; then
# shellcheck disable=SC2086
"$BIN/hnd" train "$CFG" $ARGS --set train.batch_size=4 --set output_dir=S
# shellcheck disable=SC2086
"$BIN/hnd" launch --nproc 2 --timeout 20 -- train "$CFG" $ARGS --set train.batch_size=2 --sync-bn --set output_dir=D 2>D.err ||
  fail "launch: $(cat D.err)"
grep -q "data-parallel: 2 processes (gloo), batch 2 per process = 4 per step, gradients summed" D/train.log ||
  fail "no data-parallel line: $(cat D/train.log)"
grep -q "parameters identical on all 2 ranks" D/train.log || fail "no identity check in D/train.log"
[ "$(grep -c '"type": "train"' D/metrics.jsonl)" = "$(grep -c '"type": "train"' S/metrics.jsonl)" ] ||
  fail "rank 0 should log each step once: $(cat D/metrics.jsonl)"
"$PY" cmp.py S D || fail "2 x batch 2 differs from 1 x batch 4"

# sharded evaluation (2 ranks, 5 images: 3 + 2) == one process: the same
# results file byte for byte (merged in single-process order) and 12 stats
EV="--config $CFG --quiet --set dataset.root=synth --set student_model.params.min_size=64
 --set student_model.params.max_size=64 --set test.batch_size=1"
# shellcheck disable=SC2086
"$BIN/hnd" eval-model D/last.h5 $EV --out E1.json --json S1.json > E1.txt
# shellcheck disable=SC2086
"$BIN/hnd" launch --nproc 2 -- eval-model D/last.h5 $EV --out E2.json --json S2.json > E2.txt 2>E2.err ||
  fail "sharded eval-model: $(cat E2.err)"
cmp E1.json E2.json || fail "sharded detections differ from one process's"
"$PY" - <<'PYEOF'
import json
a, b = json.load(open("S1.json")), json.load(open("S2.json"))
dets = json.load(open("E1.json"))
assert len(dets) > 0, "no detections: nothing compared"
def stats(d): return [d[k] for k in sorted(d) if isinstance(d[k], list) and len(d[k]) == 12]
assert stats(a) and stats(a) == stats(b), (a, b)
print("sharded eval == single: %d detections, bbox AP %s" % (len(dets), stats(a)[0][0]))
PYEOF
[ "$(grep -c 'images' E2.txt)" -ge 1 ] && [ "$(grep -c 'bbox:' E2.txt)" = 1 ] || fail "rank 0 alone reports: $(cat E2.txt)"

elif [ "$MODE" = teacher ]; then
# a small Mask R-CNN teacher (frozen BN: no batch statistics; 64x64 images,
# so every batch pads alike), SGD: S = 1 process x batch 4, D = 2 ranks x
# batch 2 (with sharded validation in the plain pass). The samplers draw
# per image (seeded by step and image), each rank's losses are its share of
# the global batch's means (counts all-reduced), gradients summed: D's
# tensors equal S's within 1e-5 (relative L2), ranks identical. Short
# scope: 2 steps, no validation.
TCFG="$SRC/configs/demo/teacher_mask_rcnn_r18_synth.json"
TARGS="--quiet --set dataset.root=synth --set train.num_epochs=1 --set train.log_freq=1 --set threads=1
 --set dataset.num_workers=1 --set test.batch_size=2 --set model.params.min_size=64 --set model.params.max_size=64
 --set model.params.fpn_out_channels=32 --set model.params.representation_size=64 --set model.params.frozen_bn=true
 --set model.params.mask_head_channels=16 --set model.params.anchor_sizes=[8,16,32,64,128] --set train.optimizer.params.lr=0.002"
DVAL=""
[ "${HND_TEST_SCOPE:-}" != short ] || DVAL="--no-val"
# shellcheck disable=SC2086
"$BIN/hnd" train-teacher "$TCFG" $TARGS --no-val --set train.batch_size=4 --set output_dir=S \
  --set model.ckpt=S/teacher.h5 2>S.err || fail "teacher, one process: $(cat S.err)"
# shellcheck disable=SC2086
"$BIN/hnd" launch --nproc 2 --timeout 60 -- train-teacher "$TCFG" $TARGS $DVAL --set train.batch_size=2 \
  --set output_dir=TT --set model.ckpt=TT/teacher.h5 2>TT.err || fail "teacher: $(cat TT.err)"
grep -q "data-parallel: 2 processes (gloo), batch 2 per process = 4 per step, losses over the global batch, gradients summed" TT/train.log ||
  fail "teacher: $(cat TT/train.log)"
grep -q "parameters identical on all 2 ranks" TT/train.log || fail "teacher ranks differ: $(cat TT/train.log)"
if [ "${HND_TEST_SCOPE:-}" != short ]; then
  [ "$(grep -c 'validation bbox AP' TT/train.log)" = 1 ] || fail "teacher validation: $(cat TT/train.log)"
fi
"$PY" cmp.py S TT || fail "teacher: 2 x batch 2 differs from 1 x batch 4"
else
  # C: Ctrl-C on hnd launch: forwarded once to each rank, which agree on
  # the iteration to stop after; rank 0 writes last.h5, everyone exits 130
  # shellcheck disable=SC2086
  "$BIN/hnd" launch --nproc 2 --timeout 20 -- train "$CFG" $ARGS --set train.batch_size=2 --set output_dir=C \
    --set train.num_epochs=4 2>C.err &
  cpid=$!
  n=0
  while ! grep -q '"type": "train"' C/metrics.jsonl 2>/dev/null && [ $n -lt 2400 ]; do sleep 0.05; n=$((n + 1)); done
  kill -INT $cpid
  rc=0; wait $cpid || rc=$?
  [ "$rc" = 130 ] || fail "Ctrl-C on launch: exit $rc: $(cat C.err)"
  grep -q "interrupted a[tf]" C/train.log || fail "Ctrl-C: not logged: $(cat C/train.log)"
  [ -f C/last.h5 ] || fail "Ctrl-C: no last.h5"
  grep "interrupted a[tf]" C/train.log | sed 's/^/  /'
  # K: rank 1 killed in epoch 1 (after epoch 0's line), then resumed alone
  # shellcheck disable=SC2086
  (rc=0; "$BIN/hnd" launch --nproc 2 --timeout 10 -- train "$CFG" $ARGS --set train.batch_size=2 --sync-bn \
     --set output_dir=K --set train.num_epochs=4 2>K.err || rc=$?; echo $rc > K.rc) &
  lpid=$!
  n=0
  while ! grep -q '"type": "epoch"' K/metrics.jsonl 2>/dev/null && [ $n -lt 2400 ]; do sleep 0.05; n=$((n + 1)); done
  victim=""
  for p in $(ps -eo pid=,args= | awk '!/launch/ && / train / && /output_dir=K/ {print $1}'); do
    if tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx RANK=1; then victim=$p; fi
  done
  [ -n "$victim" ] || fail "rank 1 not found"
  t0=$(date +%s)
  kill -KILL "$victim"
  wait "$lpid" || true
  t1=$(date +%s)
  [ "$(cat K.rc)" = 1 ] || fail "launch after a killed rank: exit $(cat K.rc)"
  grep -q "rank 1 of 2 lost" K.err || fail "the lost rank is not named: $(cat K.err)"
  grep -q "hnd launch: rank 1 (pid $victim) failed: killed by signal 9" K.err || fail "launch message: $(cat K.err)"
  [ $((t1 - t0)) -lt 30 ] || fail "took $((t1 - t0)) s to notice"
  grep "lost" K.err | head -1 | sed 's/^/  /'
  # resume with one process: the same 4 images a step (batch 4)
  # shellcheck disable=SC2086
  "$BIN/hnd" train "$CFG" $ARGS --set train.batch_size=4 --set output_dir=K --set train.num_epochs=4 --resume \
    --allow-config-change
  grep -q "resuming from K/last.h5: epoch [123], iteration 0" K/train.log || fail "K did not resume"
  grep -q "finished 4 epochs" K/train.log || fail "K did not finish"
fi
echo "test_dist_train: ok"
if [ -z "${HND_KEEP_TEST_FILES:-}" ]; then cd .. && rm -rf "$T"; fi
