#!/usr/bin/env bash
# hnd detect end to end: PNG files -> COCO results JSON (+ --visualize PNGs),
# compared with torchvision on the same files by tests/py/check_detect_cli.py.
# Uses the weights and images of test_rcnn's mask_r18_small case, generated
# here by tests/py/ref_rcnn.py (or taken from HND_RCNN_REF_DIR).
set -euo pipefail
py=${HND_PYTHON:-/usr/bin/python3}
src=${HND_SRC_DIR:?}; bin=${HND_BIN_DIR:?}; tmp=${HND_TEST_TMP:?}
case=mask_r18_small
work=$tmp/detect_cli; rm -rf "$work"; mkdir -p "$work"
ref=${HND_RCNN_REF_DIR:-$work/ref}
[ -f "$ref/$case.pth" ] || "$py" "$src/tests/py/ref_rcnn.py" "$ref" "$case"
"$py" "$src/tests/py/check_detect_cli.py" prepare "$ref" "$case" "$work/img"
"$bin/hnd" import-torchvision "$ref/$case.pth" "$work/w.h5" --quiet
"$bin/hnd" detect --weights "$work/w.h5" --arch mask_rcnn_resnet18_fpn --min-size 320 --max-size 512 \
  --visualize "$work/vis" --out "$work/results.json" "$work/img"
test -s "$work/vis/1000.png" && test -s "$work/vis/1001.png"
ls "$work" | grep -q tmp && { echo "temporary file left behind"; exit 1; }
"$py" "$src/tests/py/check_detect_cli.py" check "$ref" "$case" "$work/img" "$work/results.json"
# errors: exit status and message
if "$bin/hnd" detect --weights "$work/w.h5" --arch faster_rcnn_resnet18_fpn --out "$work/x.json" \
     "$work/img" 2> "$work/err.txt"; then echo "wrong architecture accepted"; exit 1; fi
grep -q "unexpected key" "$work/err.txt" || { cat "$work/err.txt"; exit 1; }
test ! -e "$work/x.json"
if "$bin/hnd" detect --weights "$work/w.h5" --arch mask_rcnn_resnet18_fpn --out "$work/x.json" \
     "$work/nonexistent" 2> "$work/err.txt"; then echo "missing input accepted"; exit 1; fi
grep -q "nonexistent" "$work/err.txt"
echo "hnd detect: OK"
# large files go on success (HND_KEEP_TEST_FILES=1 keeps them)
[ -n "${HND_KEEP_TEST_FILES:-}" ] || rm -rf "$work"
