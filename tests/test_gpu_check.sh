#!/usr/bin/env bash
# bench/gpu_check.sh on a machine without CUDA (this one, CI): --dry-run
# lists every step and exits 0; a real run refuses with exit 2 and a summary
# that says why, having built and run nothing. The Python it is given has no
# torch (a stand-in: importing torch twice would cost the test most of its time).
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "test_gpu_check: $*" >&2; exit 1; }
if command -v nvidia-smi >/dev/null 2>&1 && /usr/bin/python3 -c 'import torch,sys; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
  echo "test_gpu_check: a CUDA machine: run bench/gpu_check.sh itself"; exit 0
fi
printf '#!/bin/sh\necho "ModuleNotFoundError: No module named torch" >&2\nexit 1\n' > "$tmp/python"
chmod +x "$tmp/python"
PYTHON="$tmp/python" GPU_BUILD="$tmp/build" bash "$src/bench/gpu_check.sh" "$tmp/dry" --dry-run > "$tmp/dry.out" 2>&1 ||
  fail "--dry-run exited $?: $(cat "$tmp/dry.out")"
for s in build info data weights detect teacher eval bench; do
  grep -q "^would run: $s " "$tmp/dry/gpu_summary.txt" || fail "--dry-run does not list step $s"
done
PYTHON="$tmp/python" GPU_BUILD="$tmp/build" bash "$src/bench/gpu_check.sh" "$tmp/real" > "$tmp/real.out" 2>&1
rc=$?
[ $rc = 2 ] || fail "without CUDA: exit $rc, expected 2"
grep -q "no CUDA here: .*cannot import torch" "$tmp/real/gpu_summary.txt" || fail "the summary does not say why: $(cat "$tmp/real/gpu_summary.txt")"
[ ! -e "$tmp/build" ] || fail "without CUDA it configured a build"
echo "test_gpu_check: dry run lists the 8 steps; without CUDA: exit 2, reason in the summary"
