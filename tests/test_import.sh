#!/usr/bin/env bash
# hnd import-torchvision against torch itself: make_pth.py writes state dicts
# (real Faster/Mask R-CNN key sets, both torch.save formats, awkward views and
# dtypes, checkpoints); check_import.py converts each and compares with
# torch.load, then checks the failure paths.
set -eu
py="${HND_PYTHON:-/usr/bin/python3}"
dir="${HND_TEST_TMP:-$PWD}/pth_import"
rm -rf "$dir"
mkdir -p "$dir"
"$py" "$HND_SRC_DIR/tests/py/make_pth.py" "$dir" ${HND_PTH_SMALL:+--small}
"$py" "$HND_SRC_DIR/tests/py/check_import.py" "$dir"
rc=$?
[ $rc = 0 ] && rm -rf "$dir"   # ~700 MB of fixtures: keep them only on failure
exit $rc
