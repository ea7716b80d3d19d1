#!/usr/bin/env bash
# COCO evaluation: `hnd eval` against pycocotools, whole processes as a user
# runs them (wall time, CPU time, peak RSS), alternating runs, medians.
# Two cases (issue #20's targets):
#   val2017   5000 images, ~33k objects, 100 detections each (500k results,
#             ~120 MB of JSON): bbox and segm, hnd >= 40x faster;
#   1000      1000 images, 16 detections each (16k results): segm >= 20x
#             (bbox printed for information).
# Prints the ratios as "RATIO name value target" lines (bench/ratio.sh) and
# checks that hnd's 12 stats equal pycocotools' (max |diff| printed).
#
# usage: bench/eval_bench.sh [BUILD_DIR] [ROUNDS]     (default build, 3)
#   EVAL_CASES="1000" runs the 1000-image case alone (default "1000 val2017")
#   ROUNDS: runs of each side on the 1000-image case (1 on val2017: a
#   pycocotools run there takes minutes)
#
# The cases are generated once by bench/eval_gen.py into
# $HND_BENCH_CACHE (default BUILD_DIR/bench-cache) and reused.
# pycocotools (not a dependency of hnd, not packaged by Debian 12) is
# imported if /usr/bin/python3 has it, else built from source into the
# cache (bench/pycocotools_env.sh: $PYCOCOTOOLS_SRC, cython3); without it
# the ratios print as skipped, with the reason.
set -euo pipefail
build=${1:-build}
rounds=${2:-3}
here=$(cd "$(dirname "$0")" && pwd)
hnd="$build/hnd"
. "$here/ratio.sh"
[ -x "$hnd" ] || { echo "eval_bench: $hnd not built (make build)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "eval_bench: needs GNU time (/usr/bin/time, Debian package 'time')" >&2; exit 1; }
cache=${HND_BENCH_CACHE:-$build/bench-cache}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
. "$here/pycocotools_env.sh"
[ "$PYCOCO_OK" = 1 ] || echo "eval_bench: pycocotools: $PYCOCO_WHY; timing hnd eval only"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

gen() { # DIR IMAGES DETS
  if [ ! -s "$1/dt_segm.json" ]; then
    echo "eval_bench: generating $1 (once)"
    /usr/bin/python3 "$here/eval_gen.py" "$1" --images "$2" --dets "$3"
  fi
}
# measure NAME CMD...: appends "wall cpu kb" to $tmp/NAME.t; stats JSON in $tmp/NAME.json
measure() {
  local name=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$tmp/time" "$@" > "$tmp/$name.out" 2> "$tmp/$name.err" || {
    echo "eval_bench: $name failed:" >&2; cat "$tmp/$name.err" >&2; exit 1; }
  tail -1 "$tmp/time" | awk '{print $1, $2 + $3, $4}' >> "$tmp/$name.t"
}
med() { # FILE COLUMN
  awk -v c="$2" '{print $c}' "$1" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'
}
# one case: NAME DIR IOU ROUNDS RATIO_NAME TARGET
run_case() {
  local name=$1 dir=$2 iou=$3 n=$4 rname=$5 target=$6 k key=$1_$3
  for k in $(seq "$n"); do
    measure "hnd_$key" "$hnd" eval --gt "$dir/gt.json" --dt "$dir/dt_$iou.json" --iou "$iou" --json "$tmp/hnd_$key.json"
    if [ "$PYCOCO_OK" = 1 ]; then
      measure "ref_$key" /usr/bin/python3 "$here/eval_ref.py" "$dir/gt.json" "$dir/dt_$iou.json" "$iou" "$tmp/ref_$key.json"
    fi
  done
  local hs hc hk; hs=$(med "$tmp/hnd_$key.t" 1); hc=$(med "$tmp/hnd_$key.t" 2); hk=$(med "$tmp/hnd_$key.t" 3)
  if [ "$PYCOCO_OK" = 1 ]; then
    local rs rc rk diff; rs=$(med "$tmp/ref_$key.t" 1); rc=$(med "$tmp/ref_$key.t" 2); rk=$(med "$tmp/ref_$key.t" 3)
    diff=$(/usr/bin/python3 -c "
import json,sys
a=json.load(open(sys.argv[1]))[sys.argv[3]]; b=json.load(open(sys.argv[2]))[sys.argv[3]]
print('%.3g' % max(abs(x-y) for x,y in zip(a,b)))" "$tmp/hnd_$key.json" "$tmp/ref_$key.json" "$iou")
    printf "%s %s: pycocotools %.2f s (cpu %.2f s), %.0f MB | hnd eval %.2f s (cpu %.2f s), %.0f MB | %.1fx faster (target %s), cpu %.1fx, memory %.2fx | stats max |diff| %s | %s run(s) each\n" \
      "$name" "$iou" "$rs" "$rc" "$(awk -v k="$rk" 'BEGIN{print k/1024}')" "$hs" "$hc" "$(awk -v k="$hk" 'BEGIN{print k/1024}')" \
      "$(ratio_of "$rs" "$hs")" "$target" "$(ratio_of "$rc" "$hc")" "$(ratio_of "$hk" "$rk")" "$diff" "$n"
    [ -z "$rname" ] || bench_ratio "$rname" "$(ratio_of "$rs" "$hs")" "$target"
  else
    printf "%s %s: hnd eval %.2f s (cpu %.2f s), %.0f MB peak RSS (no pycocotools to compare)\n" \
      "$name" "$iou" "$hs" "$hc" "$(awk -v k="$hk" 'BEGIN{print k/1024}')"
    [ -z "$rname" ] || bench_ratio "$rname" skip "$target" "pycocotools: $PYCOCO_WHY"
  fi
  sed 's/^/    /' "$tmp/hnd_$key.err"
}

big="$cache/eval-5000"; small="$cache/eval-1000-d16"
cases=${EVAL_CASES:-1000 val2017}
[[ " $cases " != *" val2017 "* ]] || gen "$big" 5000 100
[[ " $cases " != *" 1000 "* ]] || gen "$small" 1000 16
echo "eval_bench: $(nproc) cores; val2017 case $big, 1000-image case $small"
if [[ " $cases " == *" 1000 "* ]]; then
  run_case 1000 "$small" segm "$rounds" eval_segm_1000 ">=20"
  run_case 1000 "$small" bbox "$rounds" "" ">=20"
fi
if [[ " $cases " == *" val2017 "* ]]; then
  run_case val2017 "$big" bbox 1 eval_bbox_val2017 ">=40"
  run_case val2017 "$big" segm 1 eval_segm_val2017 ">=40"
fi
