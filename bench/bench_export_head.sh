#!/usr/bin/env bash
# The exported plain-C head (hnd export --format c) against libtorch's head
# (hnd's sr_head) and OpenCV DNN running head.onnx, on one transformed
# 800x1088 image, R18 and R50 students (C=3, 8 bits), same run, same machine.
# Prints the median milliseconds of each and the ratios C/libtorch and C/onnx
# (below 1: the C head is faster), and both against the same head in
# PyTorch (bench/head_ref.py: stem + encoder + quantizer; issue #20's target
# <= 0.5, RATIO lines head_r<depth>_t<threads>). The libtorch time includes its R-CNN
# transform (an identity resize, normalisation, padding: a few ms); the C
# and ONNX times are the head alone on the transformed input.
# usage: bench/bench_export_head.sh [BUILD_DIR] [RUNS]
# HND_EXPORT_C_DRIVER=PROG: exporter override (PROG STUDENT.h5 DIR BITS).
set -euo pipefail
build=${1:-build}; runs=${2:-5}
build=$(cd "$build" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/blas_env.sh"   # both sides on the OpenBLAS kernels hnd picks (run alone, not only from run_all.sh)
py=${HND_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
. "$here/ratio.sh"
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
jget() { "$py" -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$1" "$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.3f", a/b; else print "-" }'; }

head_cflags=${HND_HEAD_CFLAGS:--O3 -march=native}
echo "C head built with CFLAGS='$head_cflags' (HND_HEAD_CFLAGS), checked byte-identical to the portable -O3 build"
for depth in 18 50; do
  d="$tmp/r$depth"; mkdir -p "$d"
  (cd "$here/../tests/py" && "$py" make_teacher.py "$d/S.h5" --depth "$depth" --student 3 >/dev/null)
  # the C head (and head.onnx when this hnd can write it)
  exp="$d/exp"; cdir=""
  if [ -n "${HND_EXPORT_C_DRIVER:-}" ]; then
    mkdir -p "$exp"; "$HND_EXPORT_C_DRIVER" "$d/S.h5" "$exp" 8; cdir="$exp"
  elif "$build/hnd" export "$d/S.h5" --out "$exp" --format c --bits 8 >/dev/null 2>"$d/export_c.err"; then
    cdir="$exp/head_c"
  else
    echo "hnd export --format c failed:" >&2; cat "$d/export_c.err" >&2; exit 1
  fi
  onnx=""
  if "$build/hnd" export "$d/S.h5" --out "$d/exp_onnx" --format onnx --bits 8 >/dev/null 2>&1 &&
     [ -f "$d/exp_onnx/head.onnx" ]; then onnx="$d/exp_onnx/head.onnx"; fi
  # built for this CPU, as a user builds it for the device (the Makefile's
  # default is portable -O3: SSE2 on x86-64); the portable build's output
  # must be byte-identical (no FMA either way: -ffp-contract=off)
  cp -r "$cdir" "$d/head_c_portable"
  make -s -C "$d/head_c_portable" >/dev/null
  make -s -C "$cdir" CFLAGS="$head_cflags" >/dev/null
  declare -A ms=()
  for t in 1 2; do
    "$build/tests/export_head_ref" "$d/S.h5" "$d/ref$t" 800x1088 --repeat "$runs" --threads "$t" 2>/dev/null
    ms[torch$t]=$(jget "$d/ref$t/meta.json" "d['images'][0]['ms']")
    "$cdir/hnd_head_run" "$cdir/head.bin" "$d/ref1/in_0.npy" "$d/c$t" --threads "$t" --repeat "$runs"
    ms[c$t]=$(jget "$d/c$t.json" "d['ms_median']")
    if [ "$t" = 1 ]; then
      "$d/head_c_portable/hnd_head_run" "$d/head_c_portable/head.bin" "$d/ref1/in_0.npy" "$d/p1" --threads 1 >/dev/null
      cmp -s "$d/c1.npy" "$d/p1.npy" ||
        { echo "C head built with '$head_cflags' differs from the portable build (R$depth)" >&2; exit 1; }
      [ "$(jget "$d/c1.json" "(d['scale'], d['zero_point'])")" = "$(jget "$d/p1.json" "(d['scale'], d['zero_point'])")" ] ||
        { echo "C head built with '$head_cflags': another scale / zero point than the portable build" >&2; exit 1; }
    fi
    # the same head in PyTorch (issue #20's reference: stem + encoder + 8-bit quantizer)
    ms[py$t]=$("$py" "$here/head_ref.py" "$d/S.h5" "$d/ref1/in_0.npy" "$runs" "$t")
    ms[onnx$t]=0
    if [ -n "$onnx" ]; then
      ms[onnx$t]=$("$py" - "$onnx" "$d/ref1/in_0.npy" "$runs" "$t" <<'PY'
import sys, time, numpy as np, cv2
cv2.setNumThreads(int(sys.argv[4]))
net = cv2.dnn.readNetFromONNX(sys.argv[1]); x = np.load(sys.argv[2]); ts = []
for _ in range(int(sys.argv[3])):
    t0 = time.perf_counter(); net.setInput(x); net.forward(); ts.append((time.perf_counter() - t0) * 1e3)
print(sorted(ts)[len(ts) // 2] if len(ts) % 2 else sum(sorted(ts)[len(ts) // 2 - 1:len(ts) // 2 + 1]) / 2)
PY
)
    fi
  done
  for t in 1 2; do
    on=${ms[onnx$t]}
    printf "export head R%s 1x3x800x1088 C=3 8 bits, %s thread(s), %s runs: C %.1f ms, libtorch %.1f ms, " \
      "$depth" "$t" "$runs" "${ms[c$t]}" "${ms[torch$t]}"
    if [ -n "$onnx" ]; then printf "OpenCV DNN (head.onnx) %.1f ms, " "$on"; else printf "OpenCV DNN: no head.onnx (skipped), "; fi
    printf "ratio C/libtorch %s, C/onnx %s\n" "$(ratio "${ms[c$t]}" "${ms[torch$t]}")" \
      "$([ -n "$onnx" ] && ratio "${ms[c$t]}" "$on" || echo -)"
    printf "  vs the same head in PyTorch (bench/head_ref.py) %.1f ms: hnd (libtorch) %s, C head %s (target <= 0.5)\n" \
      "${ms[py$t]}" "$(ratio "${ms[torch$t]}" "${ms[py$t]}")" "$(ratio "${ms[c$t]}" "${ms[py$t]}")"
    bench_ratio "head_r${depth}_t$t" "$(ratio_of "${ms[torch$t]}" "${ms[py$t]}")" "<=0.5" "hnd head (libtorch) / PyTorch"
    bench_ratio "head_c_r${depth}_t$t" "$(ratio_of "${ms[c$t]}" "${ms[py$t]}")" "<=0.5" "exported C head / PyTorch"
  done
  unset ms
done
