#!/bin/bash
# hnd analyze and hnd bench-latency end to end on a tiny synthetic set:
# outputs exist (CSV columns, PNG magic), bad input gives a message and a
# non-zero exit, nothing half-written is left behind.
set -euo pipefail
BIN=${HND_BIN_DIR:-.}
T=${HND_TEST_TMP:-.}/analysis_cli
rm -rf "$T"
mkdir -p "$T"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$BIN/hnd" synth --out "$T/syn" --train 1 --val 2 --size 96x64 --quiet

# analyze: a small input keeps it quick; teacher + two students
"$BIN/hnd" analyze --arch faster_rcnn_resnet18_fpn --input 3x128x160 --min-size 128 --student-channels 2,4 \
    --out "$T/an" --quiet > "$T/an.txt"
head -1 "$T/an/analysis.csv" | grep -q '^model,point,index,shapes,elements' || fail "analysis.csv header"
[ "$(grep -c '^faster_rcnn_resnet18_fpn,' "$T/an/analysis.csv")" = 12 ] || fail "teacher rows"
grep -q '^faster_rcnn_resnet18_fpn+bottleneck(C=2),bottleneck,5,2x36x44,3168,' "$T/an/analysis.csv" \
    || fail "bottleneck row"
for p in tensor_sizes params; do
    [ "$(head -c 4 "$T/an/$p.png" | od -An -c | tr -d ' ')" = '211PNG' ] || fail "$p.png"
done
grep -q 'smallest split point before layer2: maxpool' "$T/an.txt" || fail "conclusion line"
ls "$T/an" | grep -q tmp && fail "temporary files left"

# bench-latency: a student with random weights, CPU
"$BIN/hnd" bench-latency --arch faster_rcnn_resnet18_fpn --student-channels 3 --images "$T/syn/val" \
    --input 64x96 --min-size 64 --runs 2 --warmup 1 --rates 1,10 --out "$T/lat" --quiet
grep -q '^head,2,' "$T/lat/latency_parts.csv" || fail "parts csv"
grep -q '^bottleneck_8bit,' "$T/lat/latency_sizes.csv" || fail "bytes rows"
grep -q 'bytes_per_image' "$T/lat/latency_parts.csv" && fail "latency_parts.csv holds one table only"
head -1 "$T/lat/latency_model.csv" | grep -q '^rate_mbps,mobile_ms,edge-jpeg95_ms,edge-rgb_ms,split-8bit_ms' \
    || fail "model csv header"
[ "$(wc -l < "$T/lat/latency_model.csv")" = 3 ] || fail "model csv rows"
[ "$(head -c 4 "$T/lat/latency_model.png" | od -An -c | tr -d ' ')" = '211PNG' ] || fail "latency png"

# errors: clear message, non-zero exit
if "$BIN/hnd" analyze --arch yolo --out "$T/bad" 2> "$T/err.txt"; then fail "bad arch accepted"; fi
grep -q 'yolo' "$T/err.txt" || fail "bad arch message"
if "$BIN/hnd" analyze --arch faster_rcnn_resnet18_fpn --input 3x0x5 2> "$T/err.txt"; then fail "bad input"; fi
grep -q -- '--input' "$T/err.txt" || fail "bad input message"
if "$BIN/hnd" bench-latency --arch faster_rcnn_resnet18_fpn --images "$T/nope" 2> "$T/err.txt"; then
    fail "missing images accepted"; fi
grep -q 'nope' "$T/err.txt" || fail "missing images message"
if "$BIN/hnd" bench-latency --arch faster_rcnn_resnet18_fpn --images "$T/syn/val" --rates 1,x 2> "$T/err.txt"; then
    fail "bad rates accepted"; fi
grep -q 'rates' "$T/err.txt" || fail "bad rates message"
"$BIN/hnd" analyze --help | grep -q 'usage: hnd analyze' || fail "help"
"$BIN/hnd" bench-latency --help | grep -q 'usage: hnd bench-latency' || fail "help"
echo "ok"
