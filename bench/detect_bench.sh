#!/usr/bin/env bash
# Faster R-CNN R50-FPN inference on 480x640 images (resized to 800x1067):
# `hnd detect` vs python3-torchvision, same weights, same thread count, one
# run of each over N images. Prints the median seconds per image of each and
# the ratio hnd/torchvision (target <= 1.0).
# usage: bench/detect_bench.sh [BUILD_DIR] [IMAGES]
set -euo pipefail
build=${1:-build}; n=${2:-5}
here=$(cd "$(dirname "$0")" && pwd)
threads=${HND_THREADS:-$(nproc)}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 "$here/detect_bench_ref.py" prepare "$tmp" "$n"
"$build/hnd" import-torchvision "$tmp/frcnn.pth" "$tmp/frcnn.h5" --quiet
/usr/bin/python3 "$here/detect_bench_ref.py" time "$tmp" "$threads" > "$tmp/torch.txt"
"$build/hnd" detect --weights "$tmp/frcnn.h5" --arch faster_rcnn_resnet50_fpn --threads "$threads" \
  --out "$tmp/res.json" "$tmp/img" 2> "$tmp/hnd.txt"
grep "per image" "$tmp/hnd.txt" >&2 || { cat "$tmp/hnd.txt" >&2; exit 1; }
median() { sort -g "$1" | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mt=$(median "$tmp/torch.txt")
mh=$(sed -n 's/.*per image: median \([0-9.]*\) ms.*/\1/p' "$tmp/hnd.txt" | awk '{print $1/1000}')
printf "detect Faster R-CNN R50-FPN 480x640->800, %s threads, %s images: torchvision median %.3f s, hnd median %.3f s, ratio hnd/torchvision %.3f (target <= 1.0)\n" \
  "$threads" "$n" "$mt" "$mh" "$(awk -v a="$mh" -v b="$mt" 'BEGIN{print a/b}')"
. "$here/ratio.sh"
bench_ratio detect_faster_r50 "$(ratio_of "$mh" "$mt")" "<=0.6" "480x640 images resized to 800"
