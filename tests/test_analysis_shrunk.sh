#!/bin/bash
# Issue 19 item 5: hnd analyze and hnd bench-latency on a demo-like shrunk
# model (configs/demo: 64 FPN channels, representation size 256, 64 mask head
# channels, anchors 8..128). Weights are written by torchvision
# (tests/py/make_teacher.py, which also counts torchvision's parameters):
# a bare teacher file, a bare student file (C=3 bottleneck) and a config
# whose model.params describe them must all be analysed and timed, and the
# cumulative parameters after the RoI heads must be torchvision's count.
set -euo pipefail
# The sanitizer pass (HND_TEST_SCOPE=short) skips it (exit 77: "skipped"): the
# same analyze / bench-latency / detect code runs under ASan in
# test_analysis, test_analysis_cli and test_detect_cli; what this test adds is
# the shrunk model's parameter counts, checked by the plain pass (and it
# cost 220 s of the sanitizer pass).
if [ "${HND_TEST_SCOPE:-}" = short ]; then echo "test_analysis_shrunk: skipped (short scope)"; exit 77; fi
BIN=${HND_BIN_DIR:?}
SRC=${HND_SRC_DIR:?}
PY=${HND_PYTHON:-/usr/bin/python3}
T=${HND_TEST_TMP:-.}/analysis_shrunk
rm -rf "$T"
mkdir -p "$T"
fail() { echo "FAIL: $*" >&2; exit 1; }
SHRINK="--depth 18 --num-classes 22 --mask --fpn-channels 64 --representation-size 256 --mask-channels 64
        --anchor-sizes 8,16,32,64,128"
# shellcheck disable=SC2086
"$PY" "$SRC/tests/py/make_teacher.py" "$T/teacher.h5" $SHRINK --counts "$T/teacher.json" > /dev/null
# shellcheck disable=SC2086
"$PY" "$SRC/tests/py/make_teacher.py" "$T/student.h5" $SHRINK --student 3 --counts "$T/student.json" > /dev/null
# torchvision's "params,buffers" of a model; the same from analysis.csv $1 for model $2 (roi_heads row)
count() { "$PY" -c 'import json,sys; d = json.load(open(sys.argv[1])); print("%d,%d" % (d["params"], d["buffers"]))' "$1"; }
cum() { awk -F, -v m="$2" '$1 == m && $2 == "roi_heads" { print $10 "," $11 }' "$1"; }
"$BIN/hnd" synth --out "$T/syn" --train 1 --val 2 --size 160x120 --quiet

# a config as the demo's: the teacher file and the student file
"$PY" - "$SRC/configs/demo/hnd_demo_mask_rcnn_r18_synth.json" "$T" <<'PYEOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["teacher_model"]["ckpt"] = sys.argv[2] + "/teacher.h5"
c["student_model"]["ckpt"] = sys.argv[2] + "/student.h5"
c["output_dir"] = sys.argv[2] + "/run"
json.dump(c, open(sys.argv[2] + "/config.json", "w"), indent=1)
PYEOF

# analyze: the bare teacher file (widths from its shapes), then the config
"$BIN/hnd" analyze --arch mask_rcnn_resnet18_fpn --weights "$T/teacher.h5" --no-student --input 3x120x160 \
    --out "$T/an_w" > /dev/null 2> "$T/an_w.err" || { cat "$T/an_w.err"; fail "analyze --weights"; }
[ "$(cum "$T/an_w/analysis.csv" mask_rcnn_resnet18_fpn)" = "$(count "$T/teacher.json")" ] \
    || fail "analyze --weights: parameters $(cum "$T/an_w/analysis.csv" mask_rcnn_resnet18_fpn) != torchvision's"
grep -q "in no weight file" "$T/an_w.err" && fail "analyze --weights: tensors missing from the file"
"$BIN/hnd" analyze --config "$T/config.json" --input 3x120x160 --out "$T/an_c" > /dev/null 2> "$T/an_c.err" \
    || { cat "$T/an_c.err"; fail "analyze --config"; }
[ "$(cum "$T/an_c/analysis.csv" mask_rcnn_resnet18_fpn)" = "$(count "$T/teacher.json")" ] || fail "config teacher"
[ "$(cum "$T/an_c/analysis.csv" 'mask_rcnn_resnet18_fpn+bottleneck(C=3)')" = "$(count "$T/student.json")" ] \
    || fail "config student: $(cum "$T/an_c/analysis.csv" 'mask_rcnn_resnet18_fpn+bottleneck(C=3)') parameters"
grep -q "in no weight file" "$T/an_c.err" && fail "analyze --config: tensors missing from the files"

# bench-latency: the bare teacher and student files, and the config
for src in teacher.h5 student.h5 config.json; do
    "$BIN/hnd" bench-latency "$T/$src" --images "$T/syn/val" --runs 1 --warmup 1 --rates 1 \
        --out "$T/lat_$src" > /dev/null 2> "$T/lat.err" || { cat "$T/lat.err"; fail "bench-latency $src"; }
    grep -q '^head,1,' "$T/lat_$src/latency_parts.csv" || fail "bench-latency $src: parts"
    grep -q "in no weight file" "$T/lat.err" && fail "bench-latency $src: tensors missing from the file"
done
grep -q '^bottleneck_8bit,' "$T/lat_student.h5/latency_sizes.csv" || fail "student file not timed as a student"
grep -q '^bottleneck_8bit,' "$T/lat_config.json/latency_sizes.csv" || fail "config not timed as its student"
grep -q '^bottleneck_8bit,' "$T/lat_teacher.h5/latency_sizes.csv" && fail "teacher file timed as a student"

# detect: a config's student_model runs a student file (its bottleneck read from the file)
"$BIN/hnd" detect --config "$T/config.json" --weights "$T/student.h5" --out "$T/det_student.json" --quiet \
    "$T/syn/val" 2> "$T/det.err" || { cat "$T/det.err"; fail "detect with a student file"; }
[ "$(head -c 1 "$T/det_student.json")" = "[" ] || fail "detect: results"
echo "ok"
