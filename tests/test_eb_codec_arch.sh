#!/usr/bin/env bash
# The entropy bottleneck's tables and streams are the same bytes on every
# platform: tests/eb_codec_vectors.c built natively at -O0 and -O2 and
# cross-built for aarch64 (run under qemu-user) must print identical tables,
# streams and decoded symbols (and the context stream decodes, in an
# independent Python decoder, tests/py/ref_eb_ctx.py, to the encoder's
# symbols). Without aarch64-linux-gnu-gcc or qemu-aarch64
# the aarch64 half is skipped (the two native builds still count).
set -eu
src=${HND_SRC_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
work=${HND_TEST_TMP:-/tmp}/eb_codec_arch
mkdir -p "$work"
cc=${CC:-cc}
srcs="$src/tests/eb_codec_vectors.c $src/infer/eb_codec.c"
$cc -std=c11 -O0 -I"$src/infer" $srcs -lm -o "$work/v0"
$cc -std=c11 -O2 -I"$src/infer" $srcs -lm -o "$work/v2"
"$work/v0" >"$work/o0.txt"
"$work/v2" >"$work/o2.txt"
cmp "$work/o0.txt" "$work/o2.txt"
echo "ok: native -O0 and -O2 identical ($(wc -c <"$work/o2.txt") bytes of hex)"
# the context stream (version 2) read by an independent decoder in Python
py=${HND_PYTHON:-python3}
"$py" "$src/tests/py/ref_eb_ctx.py" 5 300 <"$work/o2.txt"
if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
    echo "SKIP aarch64: aarch64-linux-gnu-gcc or qemu-aarch64 not found"
    exit 0
fi
aarch64-linux-gnu-gcc -std=c11 -O2 -static -I"$src/infer" $srcs -lm -o "$work/va64"
qemu-aarch64 "$work/va64" >"$work/a64.txt"
cmp "$work/o2.txt" "$work/a64.txt"
echo "ok: aarch64 (qemu) identical to x86-64: $(grep -c . "$work/a64.txt") lines, stream $(awk '/^stream/{print $2}' "$work/a64.txt") bytes"
