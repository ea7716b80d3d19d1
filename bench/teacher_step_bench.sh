#!/usr/bin/env bash
# The teacher training step (`hnd train-teacher`'s: forward in training mode
# with torchvision's losses, backward, SGD) against torchvision's, same
# thread count, same BLAS kernels, alternating runs, medians:
#   mask_r18   the demo's Mask R-CNN R18 teacher, batch 4 at 120x160
#   faster_r50 Faster R-CNN R50-FPN, batch 2 at 800x1067
# Prints "RATIO teacher_step_<model> hnd/torch <=0.8" (bench/ratio.sh) for
# hnd as train-teacher runs it against torchvision's default step, and for
# information both with channels-last weights (HND_TEACHER_NHWC=1).
# usage: bench/teacher_step_bench.sh [BUILD_DIR] [STEPS_PER_RUN] [ROUNDS]
#   TEACHER_MODELS="mask_r18" measures one model (default both)
set -euo pipefail
build=${1:-build}; steps=${2:-2}; rounds=${3:-1}
here=$(cd "$(dirname "$0")" && pwd)
threads=${HND_THREADS:-$(nproc)}
bin="$build/bench/bench_teacher_step"
[ -x "$bin" ] || { echo "teacher_step_bench: $bin not built (cmake --build $build --target bench_teacher_step)" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
. "$here/blas_env.sh"
. "$here/ratio.sh"
export HND_SOURCE_DIR=${HND_SOURCE_DIR:-$(cd "$here/.." && pwd)}
median() { sort -g "$1" | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
for model in ${TEACHER_MODELS:-mask_r18 faster_r50}; do
  for r in $(seq "$rounds"); do
    /usr/bin/python3 "$here/teacher_step_ref.py" "$model" "$steps" "$threads" >> "$tmp/$model.torch"
    "$bin" "$model" "$steps" "$threads" >> "$tmp/$model.hnd"
    "$bin" "$model" "$steps" "$threads" channels_last >> "$tmp/$model.hnd_cl"
    /usr/bin/python3 "$here/teacher_step_ref.py" "$model" "$steps" "$threads" channels_last >> "$tmp/$model.torch_cl"
  done
  mt=$(median "$tmp/$model.torch"); mh=$(median "$tmp/$model.hnd")
  mhc=$(median "$tmp/$model.hnd_cl"); mtc=$(median "$tmp/$model.torch_cl")
  printf "teacher step %s, %s threads, %s steps each: torchvision median %.3f s, hnd median %.3f s, ratio %s (target <= 0.8); channels-last weights (HND_TEACHER_NHWC=1): hnd %.3f s (%s of torchvision), torchvision %.3f s\n" \
    "$model" "$threads" "$((steps * rounds))" "$mt" "$mh" "$(ratio_of "$mh" "$mt")" "$mhc" "$(ratio_of "$mhc" "$mt")" "$mtc"
  bench_ratio "teacher_step_$model" "$(ratio_of "$mh" "$mt")" "<=0.8" "hnd train-teacher's step as it runs now"
done
