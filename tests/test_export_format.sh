#!/usr/bin/env bash
# hnd export --format FORMAT against an independent reader: a small student
# (C = 3) is exported at 8, 16 and 32 bits and each head is run on the images
# export_head_ref dumps (in_k.npy -> hnd's own f_k / h_k / q_k.npy):
#   onnx         tests/py/check_export_onnx.py: onnx.checker + OpenCV's DNN module
#   torchscript  tests/py/check_export_ts.py: torch.jit.load (python3-torch)
# usage: test_export_format.sh onnx|torchscript
set -euo pipefail
fmt=${1:?usage: test_export_format.sh onnx|torchscript}
case $fmt in
  onnx) file=head.onnx; check=check_export_onnx.py ;;
  torchscript) file=head.pt; check=check_export_ts.py ;;
  *) echo "unknown format $fmt" >&2; exit 2 ;;
esac
py=${HND_PYTHON:-/usr/bin/python3}
src=${HND_SRC_DIR:?}; bin=${HND_BIN_DIR:?}; tmp=${HND_TEST_TMP:?}
work=$tmp/export_$fmt; rm -rf "$work"; mkdir -p "$work"
(cd "$src/tests/py" && "$py" make_teacher.py "$work/student.h5" --student 3 --fpn-channels 64 \
   --representation-size 256 --mask-channels 64 --anchor-sizes 8,16,32,64,128)
"$bin/tests/export_head_ref" "$work/student.h5" "$work/ref" 120x160,97x203,64x64 --min-size 128 --max-size 256
for b in 8 16 32; do
  "$bin/hnd" export "$work/student.h5" --out "$work/b$b" --format "$fmt" --bits $b --quiet
  test -s "$work/b$b/$file"
done
if ls "$work"/b*/ | grep -q '\.tmp'; then echo "temporary file left behind"; exit 1; fi
# OpenCV logs every layer it imports at INFO; keep the figures readable
OPENCV_LOG_LEVEL=ERROR "$py" "$src/tests/py/$check" "$work/ref" --b8 "$work/b8/$file" --b16 "$work/b16/$file" \
  --b32 "$work/b32/$file"
echo "hnd export --format $fmt: OK"
[ -n "${HND_KEEP_TEST_FILES:-}" ] || rm -rf "$work"
