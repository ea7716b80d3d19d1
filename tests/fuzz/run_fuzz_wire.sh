#!/usr/bin/env bash
# Fuzz the split link's parser and frame reader (infer/wire.c,
# infer/net_io.c) with libFuzzer (clang, ASan + UBSan).
#
# usage: tests/fuzz/run_fuzz_wire.sh [SECONDS]   (default 60)
# Built straight from the sources (no CMake); corpus in $HND_FUZZ_WORK
# (default /tmp/hnd_fuzz_wire), seeded from tests/fuzz/regress_wire/ (valid
# frames of every type from make_wire_seeds.py, plus saved crashers).
# Crashing inputs land in tests/fuzz/regress_wire/ as crash-*/leak-*/oom-*/
# timeout-*: fix the bug, keep the file (wire_fuzz_regress replays it in
# every ctest run).
set -eu
secs=${1:-60}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
work=${HND_FUZZ_WORK:-/tmp/hnd_fuzz_wire}
mkdir -p "$work/corpus"
clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$src/infer" -I"$src/util" \
    "$here/fuzz_wire.c" "$src/infer/wire.c" "$src/infer/net_io.c" "$src/util/hnd_error.c" "$src/util/err_buf.c" -lm -pthread \
    -o "$work/fuzz_wire"
cp "$here"/regress_wire/* "$work/corpus/" 2>/dev/null || true
# the header's constants: magic, version 1, each type, the RLE alphabet's ends
cat >"$work/wire.dict" <<'DICT'
"HNDL"
"HNDL\x01\x00"
"\x01\x00\x01\x00"
"\x01\x00\x02\x00"
"\x01\x00\x03\x00"
"\x01\x00\x04\x00"
"\x01\x00\x05\x00"
"\x01\x00\x06\x00"
"\x01\x00\x07\x00"
"\x00\x00\x01\x00"
"\xff\xff\xff\xff"
"\x00\x00\x00\x3e"
"0o"
DICT
"$work/fuzz_wire" "$work/corpus" -dict="$work/wire.dict" -max_total_time="$secs" -max_len=16384 \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$here/regress_wire/"
