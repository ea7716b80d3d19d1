#!/usr/bin/env bash
# Fuzz the plain-C head's loader (head.bin of hnd export --format c) with
# libFuzzer (clang, ASan + UBSan).
#
# usage: tests/fuzz/run_fuzz_head.sh [SECONDS]   (default 60)
# Built straight from the sources; corpus in $HND_FUZZ_WORK (default
# /tmp/hnd_fuzz_head), seeded from tests/fuzz/regress_head/ (small valid
# heads). Crashing inputs land in tests/fuzz/regress_head/: fix the bug,
# keep the file (head_fuzz_regress replays it in every ctest run).
set -eu
secs=${1:-60}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
work=${HND_FUZZ_WORK:-/tmp/hnd_fuzz_head}
mkdir -p "$work/corpus"
clang -std=c99 -g -O1 -ffp-contract=off -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$src/tools/export/c_head" "$here/fuzz_head.c" "$src/tools/export/c_head/hnd_head.c" -lm -pthread \
    -o "$work/fuzz_head"
cp "$here"/regress_head/* "$work/corpus/" 2>/dev/null || true
printf '"HNDHEAD\\x00"\n"\\x01\\x00\\x00\\x00"\n"\\x08\\x00\\x00\\x00"\n"\\x10\\x00\\x00\\x00"\n' >"$work/head.dict"
"$work/fuzz_head" "$work/corpus" -dict="$work/head.dict" -max_total_time="$secs" -max_len=65536 \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$here/regress_head/"
