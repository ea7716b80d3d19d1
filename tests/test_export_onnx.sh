#!/usr/bin/env bash
# hnd export --format onnx against independent readers: a small student
# (C = 3) is exported at 8, 16 and 32 bits; tests/py/check_export_onnx.py
# validates each head.onnx with onnx.checker and runs it with OpenCV's DNN
# module on the images export_head_ref dumps (in_k.npy -> f_k / h_k / q_k.npy).
set -euo pipefail
py=${HND_PYTHON:-/usr/bin/python3}
src=${HND_SRC_DIR:?}; bin=${HND_BIN_DIR:?}; tmp=${HND_TEST_TMP:?}
work=$tmp/export_onnx; rm -rf "$work"; mkdir -p "$work"
(cd "$src/tests/py" && "$py" make_teacher.py "$work/student.h5" --student 3 --fpn-channels 64 \
   --representation-size 256 --mask-channels 64 --anchor-sizes 8,16,32,64,128)
"$bin/tests/export_head_ref" "$work/student.h5" "$work/ref" 120x160,97x203,64x64 --min-size 128 --max-size 256
for b in 8 16 32; do
  "$bin/hnd" export "$work/student.h5" --out "$work/b$b" --format onnx --bits $b --quiet
  test -s "$work/b$b/head.onnx"
done
if ls "$work"/b*/ | grep -q '\.tmp'; then echo "temporary file left behind"; exit 1; fi
# OpenCV logs every layer it imports at INFO; keep the figures readable
OPENCV_LOG_LEVEL=ERROR "$py" "$src/tests/py/check_export_onnx.py" "$work/ref" --b8 "$work/b8/head.onnx" \
  --b16 "$work/b16/head.onnx" --b32 "$work/b32/head.onnx"
echo "hnd export --format onnx: OK"
[ -n "${HND_KEEP_TEST_FILES:-}" ] || rm -rf "$work"
