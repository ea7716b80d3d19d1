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
#     Mask R-CNN (configs/demo/hnd_demo_mask_rcnn_r18_synth.json), trained;
#  4. the Faster R-CNN sweep evaluates those students with the box teacher
#     (--students-from: a Mask student's backbone is the Faster student's; no
#     training), and the teacher on JPEG inputs (the edge baseline);
#  5. the GHND sweep (configs/demo/ghnd_demo_mask_rcnn_r18_synth.json: MSE on
#     layer1..layer4), trained once for the Mask R-CNN, evaluated for both;
#  6. one figure (HND vs GHND, Faster bbox and Mask segm AP, 8-bit and
#     float32) and one table of every sweep.
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
# (a run that reuses an earlier one's checkpoints, fresh=0, does not time the demo)
fresh=1
if [ -d checkpoints/demo ]; then
  if [ "$(cat checkpoints/demo/VERSION 2>/dev/null)" = "$version" ]; then
    fresh=0
  else
    echo "demo: checkpoints/demo was made by another version of the demo: starting afresh"
    rm -rf checkpoints/demo "$teacher" "$box_teacher"
  fi
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
say "1/6 synthetic dataset: $data (training: teacher and students; validation: every evaluation)"
synth "$data" 400 100 0

say "2/6 teacher: Mask R-CNN ResNet-18 FPN from scratch ($teacher_cfg)"
echo "one Mask R-CNN teacher serves both sweeps: its box branch is the Faster R-CNN teacher ($box_teacher)"
# --resume: continues an interrupted run; a finished one is reused as it is.
# --no-val: the teacher is its last epoch (after the learning-rate drop; it
# was the best epoch in every validated run) and step 3 evaluates it anyway:
# validating each of the 8 epochs took ~28 s of the demo's 10 minutes.
"$hnd" train-teacher "$teacher_cfg" --resume --no-val --box-teacher "$box_teacher"

sweep() {   # step name config out [hnd sweep options]: the sweep's table also to out.table.txt
  local step=$1 name=$2 cfg=$3 out=$4
  shift 4
  say "$step $name, C = $channels ($cfg -> $out)"
  "$hnd" sweep "$cfg" --channels "$channels" --out "$out" "$@" | tee "$out.table.txt"
}
mask_cfg=configs/demo/hnd_demo_mask_rcnn_r18_synth.json
faster_cfg=configs/demo/hnd_demo_faster_rcnn_r18_synth.json
ghnd_cfg=configs/demo/ghnd_demo_mask_rcnn_r18_synth.json
d=checkpoints/demo
# each student is trained once, for the Mask R-CNN; the Faster R-CNN sweeps
# take them (--students-from checks that their frozen tensors are the box
# teacher's, bit for bit). The GHND sweeps leave the teacher out: the HND
# sweeps' rows have it.
sweep 3/6 "HND sweep, Mask R-CNN (trained)" "$mask_cfg" "$d/sweep_mask_rcnn"
sweep 4/6 "HND, Faster R-CNN: the Mask students with the box teacher (no training), JPEG baseline" "$faster_cfg" \
  "$d/sweep_faster_rcnn" --students-from "$d/sweep_mask_rcnn" --jpeg 10,50
sweep 5/6 "GHND sweep, Mask R-CNN (trained)" "$ghnd_cfg" "$d/sweep_ghnd_mask_rcnn" --no-teacher
sweep 6/6 "GHND, Faster R-CNN: the GHND Mask students with the box teacher (no training)" "$faster_cfg" \
  "$d/sweep_ghnd_faster_rcnn" --students-from "$d/sweep_ghnd_mask_rcnn" --no-teacher

say "results: HND and GHND, Faster R-CNN bbox AP and Mask R-CNN segm AP (8-bit and float32 bottleneck)"
echo "teachers: $teacher (Mask R-CNN), $box_teacher (Faster R-CNN: its box branch)"
"$hnd" plot "$d/sweep_faster_rcnn/results.json:HND Faster:bbox" "$d/sweep_ghnd_faster_rcnn/results.json:GHND Faster:bbox" \
  "$d/sweep_mask_rcnn/results.json:HND Mask:segm" "$d/sweep_ghnd_mask_rcnn/results.json:GHND Mask:segm" \
  --title "HND vs GHND on the demo set: mAP vs bytes sent per image" --out "$d/hnd_vs_ghnd.png" |
  tee "$d/hnd_vs_ghnd.table.txt"
echo
echo "demo: done in $(elapsed) (m:ss)."
# make bench's summary reads this line (bench/run_all.sh): the demo's minutes
# when it ran from nothing, else "skip"
. "$(dirname "$0")/../bench/ratio.sh"
if [ "$fresh" = 1 ]; then
  bench_ratio demo_minutes "$(awk -v s=$(($(date +%s) - t0)) 'BEGIN { printf "%.2f", s / 60 }')" "<=10" \
    "make demo from nothing, $(date -u +%Y-%m-%d)"
else
  bench_ratio demo_minutes skip "<=10" "the last make demo reused an earlier run's checkpoints"
fi > checkpoints/demo/RATIO.txt
echo "demo: figure: $d/hnd_vs_ghnd.png (each sweep's own: $d/sweep_*/curve.png)"
echo "demo: tables: $d/sweep_{mask,faster,ghnd_mask,ghnd_faster}_rcnn/results.{csv,json} (and .table.txt); teacher log: $d/teacher_mask_rcnn_r18_synth/train.log"
