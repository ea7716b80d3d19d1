#!/usr/bin/env bash
# make demo: the whole head-network-distillation curve on the embedded
# synthetic default, with nothing downloaded (`make demo` passes the build
# directory as $1):
#  1. hnd synth: a COCO-format set of class-coloured shapes at 160x120,
#     checkpoints/demo/data (400 training images: the teacher's and the
#     students' training set; 100 validation images: every evaluation);
#  2. hnd train-teacher: a small Mask R-CNN ResNet-18 FPN teacher trained from
#     scratch (configs/demo/teacher_mask_rcnn_r18_synth.json); its box branch
#     (--box-teacher) is the Faster R-CNN teacher;
#  3. hnd sweep: one HND student per bottleneck size C = 3,6,9,12,15 for the
#     Faster and for the Mask R-CNN (configs/demo/hnd_demo_*_rcnn_r18_synth.json);
#  4. the tables, results.csv/json and curve.png of both sweeps.
# Everything is kept under checkpoints/: a second run reuses what exists (an
# interrupted one continues where it stopped).
set -euo pipefail
# the cores may be shared: OpenMP threads that sleep instead of spinning at
# barriers keep an oversubscribed machine from slowing down several-fold
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
build=${1:-build}
hnd="$build/hnd"
[ -x "$hnd" ] || { echo "demo: $hnd not found (run make build first)" >&2; exit 1; }
t0=$(date +%s)
elapsed() { local s=$(($(date +%s) - t0)); printf '%d:%02d' $((s / 60)) $((s % 60)); }
say() { printf '\n== [%s] %s\n' "$(elapsed)" "$*"; }

data=checkpoints/demo/data
teacher_cfg=configs/demo/teacher_mask_rcnn_r18_synth.json
teacher=checkpoints/demo_mrcnn_r18_synth_teacher.h5
box_teacher=checkpoints/demo_mrcnn_r18_synth_teacher_box.h5
channels=3,6,9,12,15
# what an earlier demo left is reused only if it was made by this version of
# the demo (data, teacher and students all change with it)
version="2: 160x120 class-coloured shapes, teacher 8 epochs"
if [ -d checkpoints/demo ] && [ "$(cat checkpoints/demo/VERSION 2>/dev/null)" != "$version" ]; then
  echo "demo: checkpoints/demo was made by another version of the demo: starting afresh"
  rm -rf checkpoints/demo "$teacher" "$box_teacher"
fi
mkdir -p checkpoints/demo
echo "$version" > checkpoints/demo/VERSION

"$hnd" info

synth() {   # dir train val seed
  if [ -f "$1/annotations/instances_val.json" ] && [ -f "$1/annotations/instances_train.json" ]; then
    echo "reusing $1"
  else
    rm -rf "$1"
    "$hnd" synth --out "$1" --train "$2" --val "$3" --size 160x120 --class-colors --seed "$4"
  fi
}
say "1/4 synthetic dataset: $data (training: teacher and students; validation: every evaluation)"
synth "$data" 400 100 0

say "2/4 teacher: Mask R-CNN ResNet-18 FPN from scratch ($teacher_cfg)"
echo "one Mask R-CNN teacher serves both sweeps: its box branch is the Faster R-CNN teacher ($box_teacher)"
# --resume: continues an interrupted run; a finished one is reused as it is
"$hnd" train-teacher "$teacher_cfg" --resume --box-teacher "$box_teacher"

sweep() {   # kind
  local cfg=configs/demo/hnd_demo_$1_rcnn_r18_synth.json out=checkpoints/demo/sweep_$1_rcnn
  say "3/4 HND sweep, $1 R-CNN, C = $channels ($cfg -> $out)"
  "$hnd" sweep "$cfg" --channels "$channels" --out "$out" | tee "$out.table.txt"
}
sweep faster
sweep mask

say "4/4 results"
for k in faster mask; do
  out=checkpoints/demo/sweep_${k}_rcnn
  echo "-- $k R-CNN (teacher $([ $k = faster ] && echo "$box_teacher, the box branch of the Mask R-CNN teacher" || echo "$teacher")):"
  cat "$out.table.txt"
done
echo
echo "demo: done in $(elapsed) (m:ss)."
echo "demo: curves: checkpoints/demo/sweep_faster_rcnn/curve.png, checkpoints/demo/sweep_mask_rcnn/curve.png"
echo "demo: tables: checkpoints/demo/sweep_{faster,mask}_rcnn/results.{csv,json}; teacher log: checkpoints/demo/teacher_mask_rcnn_r18_synth/train.log"
