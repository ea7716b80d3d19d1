#!/usr/bin/env bash
# Fuzz the link codec's decoders (coded bottlenecks: infer/link_codec.h,
# infer/rans.h) with libFuzzer (clang, ASan + UBSan).
#
# usage: tests/fuzz/run_fuzz_codec.sh [SECONDS]   (default 60)
# Built straight from the sources; corpus in $HND_FUZZ_WORK (default
# /tmp/hnd_fuzz_codec), seeded from tests/fuzz/regress_codec/ (valid coded
# tensors). Crashing inputs land in tests/fuzz/regress_codec/: fix the bug,
# keep the file (codec_fuzz_regress replays it in every ctest run).
set -eu
secs=${1:-60}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
work=${HND_FUZZ_WORK:-/tmp/hnd_fuzz_codec}
mkdir -p "$work/corpus"
clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$src/infer" -I"$src/util" -I"$src/ctorch" "$here/fuzz_codec.c" "$src/infer/link_codec.c" "$src/infer/rans.c" \
    "$src/util/hnd_error.c" "$src/util/err_buf.c" $(pkg-config --cflags --libs libzstd) -o "$work/fuzz_codec"
cp "$here"/regress_codec/* "$work/corpus/" 2>/dev/null || true
"$work/fuzz_codec" "$work/corpus" -max_total_time="$secs" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$here/regress_codec/"
# the entropy bottleneck's tables and streams (issue 18, parts 2-3)
bash "$here/run_fuzz_eb.sh" "$secs"
