#!/usr/bin/env bash
# make bench: every benchmark, one after the other, then one summary table
# of the ratios of issue #20 with their targets. Each benchmark prints
# "RATIO name value target [note]" lines (bench/ratio.sh); a benchmark that
# fails does not stop the others: its ratios show as missing.
#   usage: bench/run_all.sh [BUILD_DIR]
#   BENCH_ONLY="eval_bench teacher_step_bench" runs only those scripts.
set -uo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/blas_env.sh"
log=$(mktemp); trap 'rm -f "$log"' EXIT
scripts="stem_layer1 eval_bench data_ann_bench data_pipeline_bench detect_bench hnd_step_bench teacher_step_bench
bench_export_head bench_split bench_dist"
failed=""
for s in $scripts; do
  if [ -n "${BENCH_ONLY:-}" ] && ! [[ " $BENCH_ONLY " == *" $s "* ]]; then continue; fi
  echo "=== bench/$s.sh"
  bash "$here/$s.sh" "$build" 2>&1 | tee -a "$log"
  rc=${PIPESTATUS[0]}
  [ "$rc" = 0 ] || { failed="$failed $s"; echo "run_all: bench/$s.sh failed (exit $rc)"; }
done
# the demo and the entropy-bottleneck benchmark are too long for make bench:
# their last runs' lines (make demo; bash bench/eb_bench.sh) are reported
for f in checkpoints/demo/RATIO.txt checkpoints/demo/eb_bench/RATIO.txt; do
  [ -f "$here/../$f" ] && cat "$here/../$f" >> "$log"
done
bash "$here/summary.sh" "$log"
[ -z "$failed" ] || { echo "run_all: failed:$failed"; exit 1; }
