#!/usr/bin/env bash
# run_in_scratch.sh NAME CMD [ARG...]: run one test in a scratch directory of
# its own, $HND_TEST_TMP/NAME, emptied first and removed when the test passes.
# Why: the tests write random teachers, students and their checkpoints
# (100-200 MB each); kept, the two CI passes held ~7 GB of them and a CI
# machine's disk ran out. A failing test keeps its directory for a look;
# HND_KEEP_TEST_TMP=1 keeps every one.
set -u
name=${1:?usage: run_in_scratch.sh NAME CMD [ARG...]}
shift
root=${HND_TEST_TMP:?HND_TEST_TMP is not set}
dir=$root/$name
rm -rf "$dir"
mkdir -p "$dir" || exit 1
cd "$dir" || exit 1
export HND_TEST_TMP="$dir"
"$@"
rc=$?
if [ "$rc" -eq 0 ] && [ -z "${HND_KEEP_TEST_TMP:-}" ]; then
    cd "$root" && rm -rf "$dir"
fi
exit "$rc"
