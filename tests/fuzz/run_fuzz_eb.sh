#!/usr/bin/env bash
# Fuzz the entropy bottleneck's readers (tables and streams:
# infer/eb_codec.h) with libFuzzer (clang, ASan + UBSan).
#
# usage: tests/fuzz/run_fuzz_eb.sh [SECONDS]   (default 60; run_fuzz_codec.sh runs it)
# Built straight from the sources; corpus in $HND_FUZZ_WORK (default
# /tmp/hnd_fuzz_eb), seeded from tests/fuzz/regress_eb/ (valid tables +
# streams written by tests/eb_codec_vectors.c --seeds). Crashing inputs land
# in tests/fuzz/regress_eb/: fix the bug, keep the file (eb_fuzz_regress replays it in every ctest run).
set -eu
secs=${1:-60}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
work=${HND_FUZZ_WORK:-/tmp/hnd_fuzz_eb}
mkdir -p "$work/corpus"
clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$src/infer" "$here/fuzz_eb.c" "$src/infer/eb_codec.c" -lm -o "$work/fuzz_eb"
cp "$here"/regress_eb/* "$work/corpus/" 2>/dev/null || true
"$work/fuzz_eb" "$work/corpus" -max_total_time="$secs" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$here/regress_eb/"
