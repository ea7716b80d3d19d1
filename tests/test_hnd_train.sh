#!/bin/sh
# test_hnd_train.sh: hnd train on a tiny synthetic set (64x64 images, a random
# ResNet-18 FPN Faster R-CNN teacher): the loss falls, frozen weights stay
# bit-identical to the teacher's, interrupted runs (a test hook mid-epoch, a
# real SIGINT, a run of fewer epochs with validation) resumed with --resume
# end bit-identical to an uninterrupted one, validation writes best.h5 and
# metrics, eval-model reads a student checkpoint, a config typo is rejected.
set -eu
BIN=${HND_BIN_DIR:?}
SRC=${HND_SRC_DIR:?}
PY=${HND_PYTHON:-/usr/bin/python3}
T=${HND_TEST_TMP:-.}/hnd_train
rm -rf "$T"
mkdir -p "$T"
cd "$T"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$BIN/hnd" synth --out synth --train 16 --val 3 --size 64x64 --seed 3 --quiet
"$PY" "$SRC/tests/py/make_teacher.py" teacher.h5 --depth 18 --num-classes 22 >/dev/null
CFG="$SRC/configs/demo/hnd_faster_rcnn_r18_synth.json"
ARGS="--quiet --set dataset.root=synth --set teacher_model.ckpt=teacher.h5 --set train.num_epochs=3
 --set train.log_freq=1 --set threads=2 --set dataset.num_workers=2 --set teacher_model.params.min_size=64
 --set teacher_model.params.max_size=64 --set student_model.params.min_size=64 --set student_model.params.max_size=64"
train() {
    # shellcheck disable=SC2086
    "$BIN/hnd" train "$CFG" $ARGS "$@"
}

# a typo is rejected with its path
if train --set output_dir=X --set train.optimizer.parms.lr=1 2>err.txt; then fail "typo accepted"; fi
grep -q "train.optimizer.parms: unknown key" err.txt || fail "typo message: $(cat err.txt)"

# A: uninterrupted, 3 epochs of 4 iterations
train --no-val --set output_dir=A
"$PY" - <<'PYEOF'
import json
rows = [json.loads(l) for l in open("A/metrics.jsonl")]
ep = [r["train_loss"] for r in rows if r["type"] == "epoch"]
assert len(ep) == 3, ep
assert ep[2] < 0.8 * ep[0], "loss did not fall: %s" % ep
tr = [r for r in rows if r["type"] == "train"]
assert len(tr) == 12 and tr[0]["lr"] == 1e-6 and tr[3]["lr"] == 1e-3, [r["lr"] for r in tr]
assert abs(tr[8]["lr"] - 1e-4) < 1e-18, tr[8]["lr"]   # milestone 2 of [2, 3]
print("loss per epoch:", ["%.1f" % x for x in ep])
PYEOF

# B: stopped after 6 iterations (epoch 1, iteration 2), then resumed
rc=0; train --no-val --set output_dir=B --stop-after 6 || rc=$?
[ "$rc" = 130 ] || fail "stop hook: exit $rc"
train --no-val --set output_dir=B --resume

# D: a real SIGINT in the middle of the run, then --resume (the plain pass:
# under the sanitizers, B's stop hook covers the same checkpoint path and a
# third full run costs a minute)
RESUMED="B E"
if [ "${HND_TEST_SCOPE:-}" != short ]; then
RESUMED="B D E"
# (exec: $! must be hnd itself; a background subshell would ignore SIGINT)
# shellcheck disable=SC2086
(exec "$BIN/hnd" train "$CFG" $ARGS --no-val --set output_dir=D) &
pid=$!
n=0
lines() { c=$(grep -c '"type": "train"' D/metrics.jsonl 2>/dev/null) || c=0; echo "$c"; }
while [ "$(lines)" -lt 2 ] && [ $n -lt 1200 ]; do
    sleep 0.05; n=$((n + 1))
done
kill -INT $pid
rc=0; wait $pid || rc=$?
[ "$rc" = 130 ] || fail "SIGINT: exit $rc (expected 130)"
grep -q "interrupted a[tf]" D/train.log || fail "SIGINT not logged"
grep "interrupted a[tf]" D/train.log | sed 's/^/  /'
train --no-val --set output_dir=D --resume
fi

# E: one epoch with validation (best.h5, metrics), then --resume to 3 epochs
# without it: continues at epoch 1 and ends as A (validation changes nothing)
train --set output_dir=E --set train.num_epochs=1
[ -f E/best.h5 ] || fail "no best.h5"
grep -q '"type": "val"' E/metrics.jsonl || fail "no validation metrics"
cp E/best.h5 E1.h5
# more epochs is another config: refused without --allow-config-change
if train --no-val --set output_dir=E --resume 2>err.txt; then fail "resume under a changed config accepted"; fi
grep -q "train.num_epochs (1 -> 3)" err.txt || fail "changed-config message: $(cat err.txt)"
train --no-val --set output_dir=E --resume --allow-config-change
grep -q "resuming from E/last.h5: epoch 1, iteration 0" E/train.log || fail "E did not resume at epoch 1"
grep -q "config changed since the checkpoint (--allow-config-change): train.num_epochs (1 -> 3)" E/train.log ||
  fail "config change not logged"

# shellcheck disable=SC2086
"$PY" "$SRC/tests/py/check_hnd_train.py" teacher.h5 A $RESUMED

# eval-model on the 1-epoch student
"$BIN/hnd" eval-model E1.h5 --config "$CFG" --quiet --set dataset.root=synth \
    --set teacher_model.params.min_size=64 --set teacher_model.params.max_size=64 \
    --set student_model.params.min_size=64 --set student_model.params.max_size=64 \
    --json E/eval.json > E/eval.txt
grep -q "bottleneck: 3 x 20.0 x 20.0" E/eval.txt || fail "eval-model: $(cat E/eval.txt)"
grep -q "Average Precision" E/eval.txt
# a sweep over C=3 reuses the finished run A (no training), evaluates it and
# the teacher, and writes results.csv/json and curve.png
mkdir -p SW && cp -r A SW/b3ch
# shellcheck disable=SC2086
"$BIN/hnd" sweep "$CFG" --channels 3 --out SW ${ARGS#--quiet} > SW/out.txt 2>SW/err.txt || fail "sweep: $(cat SW/err.txt)"
[ "$(grep -c 'hnd train:' SW/b3ch/train.log)" = 1 ] || fail "sweep retrained a finished run"
[ "$(wc -l < SW/results.csv)" = 3 ] || fail "results.csv: $(cat SW/results.csv)"
grep -q "^student,3,3x20.0x20.0,1200.0,4800.0,1205.0," SW/results.csv || fail "results.csv: $(cat SW/results.csv)"
# the teacher sends the 8-bit input: synth's 64x64 images at min/max size 64
# stay 64x64, so 3*64*64 = 12288 bytes (49152 at float32), ratio 1
# (and is not entropy-coded: empty rANS / zstd columns)
grep -q "^teacher,0,input,12288.0,49152.0,12288.0,,,0,0,12288.0,1,1," SW/results.csv ||
  fail "teacher row: $(cat SW/results.csv)"
# the printed table: one row per model, all columns on one line
# (then the paper's ratio, the bits, bbox / segm AP quantized and float32)
grep -Eq "^student +3 3x20.0x20.0 +4800 +1205 +[0-9]+ +[0-9]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +8 +[0-9.]+ +(-|[0-9.]+) +[0-9.]+ +(-|[0-9.]+)$" SW/out.txt ||
  fail "sweep table: $(cat SW/out.txt)"
grep -Eq "^teacher +- \(input\) +49152 +12288 +- +- +1.0000 +1.0000 +[0-9.]+ +- +[0-9.]+ +(-|[0-9.]+) +[0-9.]+ +(-|[0-9.]+)$" SW/out.txt ||
  fail "sweep table: $(cat SW/out.txt)"
"$PY" -c "import json; r = json.load(open('SW/results.json'))['rows']; assert len(r) == 2 and r[0]['ratio_8bit'] > 0"
# the coded sizes: below the raw 1205 bytes (1200 + 5), above the 5 side bytes; none for the teacher
"$PY" -c "import json; r = json.load(open('SW/results.json'))['rows']
assert 5 < r[0]['bytes_8bit_rans'] < 1205 and 5 < r[0]['bytes_8bit_zstd'] < 1300, r[0]
assert r[1]['bytes_8bit_rans'] is None and r[1]['bytes_8bit_zstd'] is None" || fail "coded sizes in results.json"
head -c 8 SW/curve.png | od -An -tx1 | grep -q "89 50 4e 47" || fail "curve.png is not a PNG"

# ---- run-directory safety (issue 19): nothing in a run directory changes
# when a command refuses or fails during setup
sums() { md5sum A/last.h5 A/best.h5 A/train.log A/metrics.jsonl A/config.json; }
sums > A.sum
# a fresh run into a directory that holds a run
rc=0; train --no-val --set output_dir=A 2>err.txt || rc=$?
[ "$rc" = 1 ] || fail "fresh run into a run dir: exit $rc"
grep -q "A holds a run (last.h5): use --resume to continue it or --overwrite to replace it" err.txt ||
  fail "run-dir message: $(cat err.txt)"
# a setup failure (missing teacher), fresh and resumed
rc=0; train --no-val --set output_dir=A --resume --set teacher_model.ckpt=missing.h5 2>err.txt || rc=$?
[ "$rc" = 1 ] && grep -q "missing.h5" err.txt || fail "missing teacher: exit $rc: $(cat err.txt)"
rc=0; train --no-val --set output_dir=F --set teacher_model.ckpt=missing.h5 2>/dev/null || rc=$?
[ "$rc" = 1 ] && [ ! -e F ] || fail "a failed setup left F behind (exit $rc)"
# resuming (or a sweep reusing) a run under another training config
rc=0; train --no-val --set output_dir=A --resume --set train.optimizer.params.lr=0.01 2>err.txt || rc=$?
[ "$rc" = 1 ] && grep -q "train.optimizer.params.lr (0.001 -> 0.01)" err.txt || fail "lr change: $(cat err.txt)"
rc=0; train --no-val --set output_dir=A --resume --set dataset.root=elsewhere 2>err.txt || rc=$?
[ "$rc" = 1 ] && grep -q 'dataset.root ("synth" -> "elsewhere")' err.txt || fail "root change: $(cat err.txt)"
mkdir -p SW2 && cp -r A SW2/b3ch
# shellcheck disable=SC2086
rc=0; "$BIN/hnd" sweep "$CFG" --channels 3 --out SW2 $ARGS --set train.optimizer.params.lr=0.01 2>err.txt || rc=$?
[ "$rc" = 1 ] && grep -q "C=3: SW2/b3ch/last.h5 was trained with another config" err.txt ||
  fail "sweep reuse under a changed config: exit $rc: $(cat err.txt)"
md5sum -c --quiet A.sum || fail "a refused or failed command changed run A"
# --overwrite replaces the run (one epoch: metrics of one epoch only)
cp -r A A2
train --no-val --set output_dir=A2 --overwrite --set train.num_epochs=1
[ "$(grep -c '"type": "epoch"' A2/metrics.jsonl)" = 1 ] || fail "--overwrite kept the old metrics"
rc=0; train --set output_dir=A2 --overwrite --resume 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "--overwrite with --resume: exit $rc"
# eval-model: strict numbers, an empty split is an error
EV="--config $CFG --quiet --set dataset.root=synth --set student_model.params.min_size=64 --set student_model.params.max_size=64"
for b in abc 0 8abc; do
  rc=0; "$BIN/hnd" eval-model E1.h5 $EV --bits "$b" 2>err.txt || rc=$?
  [ "$rc" = 2 ] && grep -q -- "--bits" err.txt || fail "--bits $b: exit $rc: $(cat err.txt)"
done
"$PY" -c "import json; d = json.load(open('synth/annotations/instances_val.json')); d['images'] = []; d['annotations'] = []; json.dump(d, open('synth/annotations/empty.json', 'w'))"
rc=0; "$BIN/hnd" eval-model E1.h5 $EV --set dataset.splits.test.annotations=annotations/empty.json 2>err.txt || rc=$?
[ "$rc" = 1 ] && grep -q "the test split has no images" err.txt || fail "empty split: exit $rc: $(cat err.txt)"
echo "test_hnd_train: ok"
# large files go on success (HND_KEEP_TEST_FILES=1 keeps them)
if [ -z "${HND_KEEP_TEST_FILES:-}" ]; then cd .. && rm -rf "$T"; fi
