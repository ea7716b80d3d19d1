#!/usr/bin/env bash
# Faster and Mask R-CNN R50-FPN inference on 480x640 images (resized to
# 800x1067): `hnd detect` vs python3-torchvision, same weights, same thread
# count, ROUNDS alternating runs of each over N images (the machine's load
# hits both sides alike). Prints the median seconds per image of each (hnd:
# the median of its per-run medians) and the ratio hnd/torchvision (target <= 0.6).
# usage: bench/detect_bench.sh [BUILD_DIR] [IMAGES] [ROUNDS]
set -euo pipefail
build=${1:-build}; n=${2:-3}; rounds=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/blas_env.sh"   # both sides on the OpenBLAS kernels hnd picks (run alone, not only from run_all.sh)
threads=${HND_THREADS:-$(nproc)}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
. "$here/ratio.sh"
median() { sort -g "$1" | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
for kind in faster mask; do
  case $kind in
    faster) pth=frcnn; arch=faster_rcnn_resnet50_fpn; title="Faster R-CNN" ;;
    mask) pth=mask; arch=mask_rcnn_resnet50_fpn; title="Mask R-CNN" ;;
  esac
  /usr/bin/python3 "$here/detect_bench_ref.py" prepare "$tmp" "$n" "$kind"
  "$build/hnd" import-torchvision "$tmp/$pth.pth" "$tmp/$pth.h5" --quiet
  : > "$tmp/torch_$kind.txt"; : > "$tmp/hnd_$kind.txt"
  for r in $(seq "$rounds"); do
    /usr/bin/python3 "$here/detect_bench_ref.py" time "$tmp" "$threads" "$kind" >> "$tmp/torch_$kind.txt"
    "$build/hnd" detect --weights "$tmp/$pth.h5" --arch "$arch" --threads "$threads" \
      --out "$tmp/res.json" "$tmp/img" 2> "$tmp/hnd.txt"
    grep "per image" "$tmp/hnd.txt" >&2 || { cat "$tmp/hnd.txt" >&2; exit 1; }
    sed -n 's/.*per image: median \([0-9.]*\) ms.*/\1/p' "$tmp/hnd.txt" | awk '{print $1/1000}' >> "$tmp/hnd_$kind.txt"
  done
  mt=$(median "$tmp/torch_$kind.txt"); mh=$(median "$tmp/hnd_$kind.txt")
  printf "detect %s R50-FPN 480x640->800, %s threads, %s images x %s rounds: torchvision median %.3f s, hnd median %.3f s, ratio hnd/torchvision %.3f (target <= 0.6)\n" \
    "$title" "$threads" "$n" "$rounds" "$mt" "$mh" "$(awk -v a="$mh" -v b="$mt" 'BEGIN{print a/b}')"
  bench_ratio "detect_${kind}_r50" "$(ratio_of "$mh" "$mt")" "<=0.6" "480x640 images resized to 800"
done
