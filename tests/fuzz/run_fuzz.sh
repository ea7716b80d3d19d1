#!/usr/bin/env bash
# Fuzz the .pth reader and unpickler with libFuzzer (clang, ASan + UBSan).
#
# usage: tests/fuzz/run_fuzz.sh [SECONDS]   (default 60)
# The harness is built straight from the sources (no CMake), the corpus
# lives in $HND_FUZZ_WORK (default /tmp/hnd_fuzz) and is seeded from small
# generated .pth files, their data.pkl and tests/fuzz/regress/. Crashing
# inputs land in tests/fuzz/regress/ as crash-*/leak-*/oom-*/timeout-*:
# fix the bug, keep the file (regress_main.c replays it in every ctest run).
set -eu
secs=${1:-60}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
work=${HND_FUZZ_WORK:-/tmp/hnd_fuzz}
py=${HND_PYTHON:-/usr/bin/python3}
mkdir -p "$work/corpus" "$work/seeds"

clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$src/tools/pth" -I"$src/util" -I"$src/ctorch" \
    "$here/fuzz_pth.c" "$src/tools/pth/pickle.c" "$src/tools/pth/pth_reader.c" "$src/util/hnd_error.c" \
    $(pkg-config --cflags --libs libzip) -o "$work/fuzz_pth"

if [ -z "$(ls -A "$work/corpus")" ]; then
    if "$py" "$src/tests/py/make_pth.py" "$work/seeds" --small >/dev/null; then
        cp "$work"/seeds/*.pth "$work/corpus/"
        # the bare pickles of the zip files, so mutations reach the unpickler
        for z in "$work"/seeds/*_zip.pth; do
            unzip -p "$z" '*/data.pkl' >"$work/corpus/$(basename "$z" .pth).pkl" || true
        done
    else
        echo "warning: could not generate seeds with $py; using tests/fuzz/regress only" >&2
    fi
    cp "$here"/regress/* "$work/corpus/" 2>/dev/null || true
fi

# Tokens of torch's pickles help the mutator build valid structures.
cat >"$work/pickle.dict" <<'DICT'
"\x80\x02"
"\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
"ctorch._utils\x0a_rebuild_tensor_v2\x0a"
"ctorch._utils\x0a_rebuild_parameter\x0a"
"ccollections\x0aOrderedDict\x0a"
"ctorch\x0aFloatStorage\x0a"
"ctorch\x0aLongStorage\x0a"
"ctorch\x0aHalfStorage\x0a"
"storage"
"cpu"
"little_endian"
"model"
"state_dict"
"PK\x03\x04"
"/data.pkl"
DICT

"$work/fuzz_pth" "$work/corpus" -dict="$work/pickle.dict" -max_total_time="$secs" -max_len=65536 \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$here/regress/"
