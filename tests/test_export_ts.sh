#!/usr/bin/env bash
# hnd export --format torchscript against PyTorch: a small student (C = 3) is
# exported at 8, 16 and 32 bits; tests/py/check_export_ts.py loads each
# head.pt with torch.jit.load and compares it with hnd's own head on the
# images export_head_ref dumps (in_k.npy -> f_k / h_k / q_k.npy).
set -euo pipefail
py=${HND_PYTHON:-/usr/bin/python3}
src=${HND_SRC_DIR:?}; bin=${HND_BIN_DIR:?}; tmp=${HND_TEST_TMP:?}
work=$tmp/export_ts; rm -rf "$work"; mkdir -p "$work"
(cd "$src/tests/py" && "$py" make_teacher.py "$work/student.h5" --student 3 --fpn-channels 64 \
   --representation-size 256 --mask-channels 64 --anchor-sizes 8,16,32,64,128)
"$bin/tests/export_head_ref" "$work/student.h5" "$work/ref" 120x160,97x203,64x64 --min-size 128 --max-size 256
for b in 8 16 32; do
  "$bin/hnd" export "$work/student.h5" --out "$work/b$b" --format torchscript --bits $b --quiet
  test -s "$work/b$b/head.pt"
done
if ls "$work"/b*/ | grep -q '\.tmp'; then echo "temporary file left behind"; exit 1; fi
"$py" "$src/tests/py/check_export_ts.py" "$work/ref" --b8 "$work/b8/head.pt" --b16 "$work/b16/head.pt" \
  --b32 "$work/b32/head.pt"
echo "hnd export --format torchscript: OK"
[ -n "${HND_KEEP_TEST_FILES:-}" ] || rm -rf "$work"
