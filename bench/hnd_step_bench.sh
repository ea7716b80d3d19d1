#!/usr/bin/env bash
# One HND training step (ResNet-50 teacher stem+layer1 without grad,
# Bottleneck4LargeResNet C=3 student stem+layer1 with grad, MSE(sum), Adam,
# batch 2 at 800x1088): hnd vs python3-torch, same thread count, same BLAS
# kernels, alternating runs on this machine. hnd runs the step as `hnd train`
# does on a CPU (backbone weights and batch channels-last); the reference is
# the plain PyTorch step (NCHW). Prints the medians and the ratio hnd/torch
# (target <= 0.8), and for information PyTorch's own channels-last time.
# usage: bench/hnd_step_bench.sh [BUILD_DIR] [STEPS_PER_RUN] [ROUNDS]
set -euo pipefail
build=${1:-build}; steps=${2:-2}; rounds=${3:-1}
here=$(cd "$(dirname "$0")" && pwd)
threads=${HND_THREADS:-$(nproc)}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
. "$here/blas_env.sh"
for r in $(seq "$rounds"); do
  /usr/bin/python3 "$here/hnd_step_bench_ref.py" "$steps" "$threads" >> "$tmp/torch.txt"
  "$build/bench/bench_hnd_step" "$steps" "$threads" channels_last >> "$tmp/hnd.txt"
  /usr/bin/python3 "$here/hnd_step_bench_ref.py" "$steps" "$threads" channels_last >> "$tmp/torch_cl.txt"
done
median() { sort -g "$1" | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mt=$(median "$tmp/torch.txt"); mh=$(median "$tmp/hnd.txt"); mc=$(median "$tmp/torch_cl.txt")
printf "HND step (R50 teacher stem+layer1, Bottleneck4LargeResNet C=3 student, MSE sum, Adam, 2x3x800x1088), %s threads, %s steps each: python3-torch median %.3f s, hnd median %.3f s, ratio hnd/torch %.3f (target <= 0.8)\n" \
  "$threads" "$((steps*rounds))" "$mt" "$mh" "$(awk -v a="$mh" -v b="$mt" 'BEGIN{print a/b}')"
printf "  (python3-torch with channels_last: median %.3f s; hnd/that %.3f)\n" "$mc" "$(awk -v a="$mh" -v b="$mc" 'BEGIN{print a/b}')"
. "$here/ratio.sh"
bench_ratio hnd_step "$(ratio_of "$mh" "$mt")" "<=0.8"
