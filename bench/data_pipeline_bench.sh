#!/usr/bin/env bash
# Image pipeline: JPEG decode + to float + normalize + bilinear resize to the
# R-CNN input size (shorter side 800, longer at most 1333), images/s of hnd
# (libjpeg-turbo + our own kernels) vs PIL + torchvision transforms, on the
# same 640x480 JPEGs, one thread each, then hnd with all cores. Target >= 2x
# (single thread).
# usage: bench/data_pipeline_bench.sh [BUILD_DIR] [N_IMAGES]
set -euo pipefail
build=${1:-build}; n=${2:-200}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$build/hnd" synth --out "$tmp/syn" --train 50 --val 0 --size 640x480 --seed 1 --quiet
imgs="$tmp/syn/train"
best() { sort -g | tail -1; }
py=$(for r in 1 2 3; do /usr/bin/python3 "$here/data_pipeline_ref.py" "$imgs" "$n" 1 2>/dev/null; done | best)
c1=$(for r in 1 2 3; do "$build/bench/bench_data" pipeline "$imgs" "$n" 1 2>/dev/null; done | best)
nt=$(nproc)
cn=$(for r in 1 2 3; do "$build/bench/bench_data" pipeline "$imgs" "$n" "$nt" 2>/dev/null; done | best)
printf "image pipeline 640x480 JPEG -> 3x800x1066 normalized, %s images, best of 3: PIL+torchvision %.1f img/s, hnd %.1f img/s (1 thread), ratio %.2fx (target >= 2x); hnd with %s threads %.1f img/s\n" \
  "$n" "$py" "$c1" "$(awk -v a="$c1" -v b="$py" 'BEGIN{print a/b}')" "$nt" "$cn"
