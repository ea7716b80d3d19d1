#!/usr/bin/env bash
# Fuzz the COCO results reader (infer/coco_eval_load.c: fast reader, cJSON
# path, ranges on threads, merge) and the evaluation after it with
# libFuzzer (clang, ASan + UBSan).
#
# usage: tests/fuzz/run_fuzz_eval.sh [SECONDS]   (default 60)
# Built straight from the sources; corpus in $HND_FUZZ_WORK (default
# /tmp/hnd_fuzz_eval), seeded from tests/fuzz/regress_eval/ (results files).
# Crashing inputs land in tests/fuzz/regress_eval/: fix the bug, keep the
# file (eval_fuzz_regress replays it in every ctest run).
set -eu
secs=${1:-60}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
work=${HND_FUZZ_WORK:-/tmp/hnd_fuzz_eval}
mkdir -p "$work/corpus"
clang -std=gnu11 -g -O1 -ffp-contract=off -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$src/infer" -I"$src/data" -I"$src/util" "$here/fuzz_eval.c" \
    "$src/infer/coco_eval.c" "$src/infer/coco_eval_load.c" "$src/infer/coco_eval_gt.c" \
    "$src/data/json_scan.c" "$src/data/mask_rle.c" "$src/data/coco_ann.c" "$src/data/coco_ann_read.c" \
    "$src/data/progress.c" "$src/util/hnd_error.c" "$src/util/mono_clock.c" "$src/util/str_util.c" "$src/util/atomic_file.c" $(pkg-config --cflags --libs libcjson) -lpthread -lm -o "$work/fuzz_eval"
cp "$here"/regress_eval/* "$work/corpus/" 2>/dev/null || true
"$work/fuzz_eval" "$work/corpus" -max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$here/regress_eval/"
