#!/usr/bin/env bash
# The reference project's student checkpoints (issue 16, item 1): written by
# python3-torch in its exact format, imported by hnd, compared with torch.load
# and probed. HND_TEST_SCOPE=short: the Faster R-CNN student only.
set -eu
py="${HND_PYTHON:-/usr/bin/python3}"
dir="${HND_TEST_TMP:-$PWD}/ref_ckpt"
rm -rf "$dir"
mkdir -p "$dir"
extra=""
[ "${HND_TEST_SCOPE:-}" = short ] && extra=--faster-only
"$py" "$HND_SRC_DIR/tests/py/make_ref_ckpt.py" "$dir" $extra
"$py" "$HND_SRC_DIR/tests/py/check_ref_ckpt.py" "$dir"
rc=$?
[ $rc = 0 ] && rm -rf "$dir"
exit $rc
