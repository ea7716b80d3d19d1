#!/usr/bin/env bash
# COCO annotation loading at train2017 scale: hnd's streaming loader vs
# pycocotools-style loading (Python json.load + index), same file, same run.
# Generates a ~450 MB instances file (118287 images, 860001 annotations,
# polygons of 8..32 points, 1% crowd RLEs), then measures wall time and peak
# RSS of each with /usr/bin/time -v. Targets: hnd < 30 s and < 2 GB.
# usage: bench/data_ann_bench.sh [BUILD_DIR] [N_IMAGES] [N_ANNS]
set -euo pipefail
build=${1:-build}; nimg=${2:-118287}; nann=${3:-860001}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
json="$tmp/instances_bench.json"
"$build/bench/bench_data" gen "$json" "$nimg" "$nann"
echo "generated $(du -m "$json" | cut -f1) MB: $nimg images, $nann annotations"
measure() { # label, command...
  local label=$1; shift
  /usr/bin/time -v "$@" >"$tmp/$label.out" 2>"$tmp/$label.time"
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$tmp/$label.time")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2/1024}' "$tmp/$label.time")
  echo "$wall $rss"
}
read -r cw cr < <(measure hnd env HND_NO_PROGRESS=1 "$build/bench/bench_data" ann "$json")
read -r pw pr < <(measure py /usr/bin/python3 -c '
import json, sys
from collections import defaultdict
d = json.load(open(sys.argv[1]))
anns, imgs, cats = {}, {}, {}
img_to_anns, cat_to_imgs = defaultdict(list), defaultdict(list)
for a in d["annotations"]:
    img_to_anns[a["image_id"]].append(a); anns[a["id"]] = a
for i in d["images"]: imgs[i["id"]] = i
for c in d["categories"]: cats[c["id"]] = c
for a in d["annotations"]: cat_to_imgs[a["category_id"]].append(a["image_id"])
print(len(imgs), len(anns), len(cats))
' "$json")
echo "hnd:    $(cat "$tmp/hnd.out")"
echo "python: $(cat "$tmp/py.out") (images annotations categories)"
printf "annotation load %s images/%s anns: hnd %.2f s, %.0f MiB peak RSS; python json.load+index %.2f s, %.0f MiB; time ratio python/hnd %.1fx, memory ratio %.1fx (targets: < 30 s, < 2048 MiB)\n" \
  "$nimg" "$nann" "$cw" "$cr" "$pw" "$pr" "$(awk -v a="$pw" -v b="$cw" 'BEGIN{print a/b}')" "$(awk -v a="$pr" -v b="$cr" 'BEGIN{print a/b}')"
awk -v w="$cw" -v r="$cr" 'BEGIN { exit !(w < 30 && r < 2048) }' || { echo "data_ann_bench: target missed"; exit 1; }
