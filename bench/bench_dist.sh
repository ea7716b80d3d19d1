#!/usr/bin/env bash
# Data-parallel hnd train on this machine (issue 15): images/s of the HND
# student step for 1 process and for 2 processes (hnd launch, Gloo on the
# loopback), each process with 1 thread and batch 2 (2 processes: 4 images a
# step), and the scaling efficiency = (images/s with 2) / (2 x images/s with 1).
# Time: the epochs' wall time from train.log ("epoch N done: ... (X s)"),
# the first epoch left out (warm-up); images = steps x per-step batch.
# usage: bench/bench_dist.sh [BUILD_DIR] [TRAIN_IMAGES] [SIZE]
set -euo pipefail
build=${1:-build}; n=${2:-32}; size=${3:-160x128}
build=$(cd "$build" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
py=${HND_PYTHON:-/usr/bin/python3}
hnd="$build/hnd"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
"$hnd" synth --out synth --train "$n" --val 2 --size "$size" --seed 1 --quiet
(cd "$here/../tests/py" && "$py" make_teacher.py "$tmp/teacher.h5" --depth 18 --num-classes 22 >/dev/null)
w=${size%x*}; h=${size#*x}; lo=$(( w < h ? w : h )); hi=$(( w > h ? w : h ))
args=(--quiet --no-val --set dataset.root=synth --set teacher_model.ckpt=teacher.h5 --set train.num_epochs=3
      --set train.log_freq=1000 --set threads=1 --set dataset.num_workers=1 --set train.batch_size=2
      --set teacher_model.params.min_size=$lo --set teacher_model.params.max_size=$hi
      --set student_model.params.min_size=$lo --set student_model.params.max_size=$hi)
cfg="$here/../configs/demo/hnd_faster_rcnn_r18_synth.json"
rate() {   # run dir, images per step -> images/s over epochs 1..
  "$py" - "$1/train.log" "$2" <<'PY'
import re, sys
secs = [float(m.group(2)) for m in (re.search(r"epoch (\d+) done: .*\(([0-9.]+) s\)", l) for l in open(sys.argv[1])) if m]
steps = [int(m.group(1)) for m in (re.search(r"(\d+) iterations/epoch", l) for l in open(sys.argv[1])) if m][0]
print("%.3f" % (steps * int(sys.argv[2]) * (len(secs) - 1) / sum(secs[1:])))
PY
}
"$hnd" train "$cfg" "${args[@]}" --set output_dir=P1
# 2 processes: the gradient all-reduce after the backward (HND_DIST_OVERLAP=0,
# before) and overlapped with it (the default, after)
HND_DIST_OVERLAP=0 "$hnd" launch --nproc 2 -- train "$cfg" "${args[@]}" --set output_dir=P2s 2>/dev/null
"$hnd" launch --nproc 2 -- train "$cfg" "${args[@]}" --set output_dir=P2 2>/dev/null
r1=$(rate P1 2); r2s=$(rate P2s 4); r2=$(rate P2 4)
echo "bench_dist: HND student step (r18 teacher, C=3), $n images of $size, batch 2 per process, 1 thread each"
echo "  1 process : $r1 images/s"
echo "  2 processes (gloo, loopback), all-reduce after the backward: $r2s images/s"
echo "  2 processes (gloo, loopback), all-reduce overlapped with it:  $r2 images/s"
"$py" -c "print('  scaling efficiency: %.0f%% (%.2fx of one process; %.0f%% without the overlap)' % (100 * $r2 / (2 * $r1), $r2 / $r1, 100 * $r2s / (2 * $r1)))"
