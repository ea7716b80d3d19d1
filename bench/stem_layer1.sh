#!/usr/bin/env bash
# ResNet-50 stem + layer1 forward on 1x3x800x1067: ctorch vs python3-torch,
# same weights, same thread count, interleaved rounds on this machine.
# Prints the median time of each and the ratio ctorch/torch (target <= 0.9).
# usage: bench/stem_layer1.sh [BUILD_DIR] [RUNS_PER_ROUND] [ROUNDS]
set -euo pipefail
build=${1:-build}; runs=${2:-5}; rounds=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/blas_env.sh"   # both sides on the OpenBLAS kernels hnd picks (run alone, not only from run_all.sh)
threads=${HND_THREADS:-$(nproc)}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 "$here/stem_layer1_ref.py" prepare "$tmp/w.h5"
for r in $(seq "$rounds"); do
  /usr/bin/python3 "$here/stem_layer1_ref.py" time "$tmp/w.h5" "$runs" "$threads" >> "$tmp/torch.txt"
  "$build/bench/bench_stem_layer1" "$tmp/w.h5" "$runs" "$threads" >> "$tmp/ctorch.txt" 2>"$tmp/parity.txt"
done
median() { sort -g "$1" | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
cat "$tmp/parity.txt" >&2
mt=$(median "$tmp/torch.txt"); mc=$(median "$tmp/ctorch.txt")
printf "stem+layer1 R50 1x3x800x1067, %s threads, %s runs each: python3-torch median %.4f s, ctorch median %.4f s, ratio ctorch/torch %.3f (target <= 0.9)\n" \
  "$threads" "$((runs*rounds))" "$mt" "$mc" "$(awk -v a="$mc" -v b="$mt" 'BEGIN{print a/b}')"
. "$here/ratio.sh"
bench_ratio stem_layer1 "$(ratio_of "$mc" "$mt")" "<=0.9"
