#!/usr/bin/env bash
# make bench: every benchmark, one after the other.
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/blas_env.sh"
bash "$here/stem_layer1.sh" "$build"
bash "$here/eval_bench.sh" "$build"
bash "$here/data_ann_bench.sh" "$build" && bash "$here/data_pipeline_bench.sh" "$build"
bash "$here/detect_bench.sh" "$build"
bash "$here/hnd_step_bench.sh" "$build"
bash "$here/bench_export_head.sh" "$build"
bash "$here/bench_split.sh" "$build"
bash "$here/bench_dist.sh" "$build"
