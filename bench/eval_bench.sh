#!/usr/bin/env bash
# COCO evaluation at val2017 scale: `hnd eval` against pycocotools, bbox and
# segm, in the same run on this machine. Prints wall time and peak RSS of
# each whole process (as a user runs it) and the ratios (target: hnd >= 20x
# faster, lower peak memory), and checks that the 12 stats agree.
#
# usage: bench/eval_bench.sh [BUILD_DIR] [IMAGES]      (default build, 5000)
#
# The case (5000 images, ~7 objects and 100 detections each, ~180 MB of
# JSON) is generated once by bench/eval_gen.py into $HND_BENCH_CACHE
# (default BUILD_DIR/bench-cache/eval-IMAGES) and reused.
#
# pycocotools is not a dependency of hnd and Debian 12 does not package it.
# If `import pycocotools` fails for /usr/bin/python3, the comparison is
# skipped (and said so) and only hnd is timed. To compare, put a build of
# it on PYTHONPATH, e.g. from a checkout of cocodataset/cocoapi:
#   apt-get install cython3 python3-dev
#   (cd cocoapi/PythonAPI && python3 setup.py build_ext --inplace)
#   PYTHONPATH=$PWD/cocoapi/PythonAPI bench/eval_bench.sh build
set -euo pipefail
build=${1:-build}
images=${2:-5000}
here=$(cd "$(dirname "$0")" && pwd)
hnd="$build/hnd"
[ -x "$hnd" ] || { echo "eval_bench: $hnd not built (make build)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "eval_bench: needs GNU time (/usr/bin/time, Debian package 'time')" >&2; exit 1; }
case=${HND_BENCH_CACHE:-$build/bench-cache/eval-$images}
if [ ! -s "$case/dt_segm.json" ]; then
  echo "eval_bench: generating the case in $case (once)"
  /usr/bin/python3 "$here/eval_gen.py" "$case" --images "$images"
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

have_ref=1
if ! /usr/bin/python3 -c "import pycocotools" 2>/dev/null; then
  have_ref=0
  echo "eval_bench: pycocotools is not importable by /usr/bin/python3 (not in Debian 12, no PyPI here):"
  echo "eval_bench: timing hnd eval only, no comparison (see the header of this script to add one)"
fi

# measure NAME CMD...: wall seconds and peak RSS (KB) into $tmp/NAME.{s,kb}
measure() {
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$tmp/$name.time" "$@" > "$tmp/$name.out" 2> "$tmp/$name.err" || {
    echo "eval_bench: $name failed:" >&2; cat "$tmp/$name.err" >&2; exit 1; }
  read -r s kb < <(tail -1 "$tmp/$name.time")
  echo "$s" > "$tmp/$name.s"; echo "$kb" > "$tmp/$name.kb"
}

n_dt=$(/usr/bin/python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))))" "$case/dt_bbox.json")
echo "eval_bench: $images images, $n_dt detections per type, $(nproc) cores"
for iou in bbox segm; do
  measure "hnd_$iou" "$hnd" eval --gt "$case/gt.json" --dt "$case/dt_$iou.json" --iou "$iou" --json "$tmp/hnd_$iou.json"
  hs=$(cat "$tmp/hnd_$iou.s"); hk=$(cat "$tmp/hnd_$iou.kb")
  if [ $have_ref = 1 ]; then
    measure "ref_$iou" /usr/bin/python3 "$here/eval_ref.py" "$case/gt.json" "$case/dt_$iou.json" "$iou" "$tmp/ref_$iou.json"
    rs=$(cat "$tmp/ref_$iou.s"); rk=$(cat "$tmp/ref_$iou.kb")
    diff=$(/usr/bin/python3 -c "
import json,sys
a=json.load(open(sys.argv[1]))[sys.argv[3]]; b=json.load(open(sys.argv[2]))[sys.argv[3]]
print('%.3g' % max(abs(x-y) for x,y in zip(a,b)))" "$tmp/hnd_$iou.json" "$tmp/ref_$iou.json" "$iou")
    printf "%s: pycocotools %.2f s, %.0f MB | hnd eval %.2f s, %.0f MB | %.1fx faster (target >= 20), memory %.2fx of pycocotools | stats max |diff| %s\n" \
      "$iou" "$rs" "$(awk -v k="$rk" 'BEGIN{print k/1024}')" "$hs" "$(awk -v k="$hk" 'BEGIN{print k/1024}')" \
      "$(awk -v a="$rs" -v b="$hs" 'BEGIN{print a/b}')" "$(awk -v a="$hk" -v b="$rk" 'BEGIN{print a/b}')" "$diff"
  else
    printf "%s: hnd eval %.2f s, %.0f MB peak RSS (no pycocotools to compare)\n" \
      "$iou" "$hs" "$(awk -v k="$hk" 'BEGIN{print k/1024}')"
  fi
  sed 's/^/    /' "$tmp/hnd_$iou.err"
done
