#!/usr/bin/env bash
# The torch-free dispatcher: help, unknown commands, and that help of torch
# commands never starts hnd-torch (pointed at a path that does not exist).
set -u
hnd="$HND_BIN_DIR/hnd"
fail=0
check() { # check DESCRIPTION EXPECTED_RC COMMAND...
    local what=$1 want=$2; shift 2
    out=$("$@" 2>&1); rc=$?
    if [ "$rc" != "$want" ]; then echo "FAIL: $what: exit $rc, wanted $want; output: $out"; fail=1; fi
}
check "help" 0 "$hnd" help
"$hnd" help | grep -q "import-torchvision" || { echo "FAIL: help lists no import-torchvision"; fail=1; }
check "no args" 2 "$hnd"
check "unknown command" 2 "$hnd" frobnicate
"$hnd" frobnicate 2>&1 | grep -q "unknown command 'frobnicate'" || { echo "FAIL: unknown command message"; fail=1; }
check "help of unknown" 2 "$hnd" help frobnicate
check "version" 0 "$hnd" version
HND_TORCH_EXE=/nonexistent/hnd-torch check "torch command help without torch" 0 "$hnd" info --help
HND_TORCH_EXE=/nonexistent/hnd-torch "$hnd" info --help | grep -q "usage: hnd info" || { echo "FAIL: info usage"; fail=1; }
HND_TORCH_EXE=/nonexistent/hnd-torch check "missing hnd-torch" 1 "$hnd" info
HND_TORCH_EXE=/nonexistent/hnd-torch "$hnd" info 2>&1 | grep -q "/nonexistent/hnd-torch" || { echo "FAIL: missing hnd-torch message"; fail=1; }
# hnd itself must not link libtorch (it is what keeps torch-free commands fast)
if ldd "$hnd" | grep -q -E "libtorch|libc10"; then echo "FAIL: hnd links libtorch"; fail=1; fi
if [ -x "$HND_BIN_DIR/hnd-torch" ]; then
    check "info through hnd" 0 "$hnd" info --threads 2
    "$hnd" info --threads 2 | grep -q "threads: 2" || { echo "FAIL: info --threads 2"; fail=1; }
    check "info bad threads" 2 "$hnd" info --threads x
    # OpenBLAS kernels (util/blas_env.h): hnd picks them from the CPU's flags,
    # read here independently from /proc/cpuinfo; a user's choice wins
    if "$hnd" info | grep -q "^blas kernels:"; then
        flags=$(grep -m1 "^flags" /proc/cpuinfo)
        has() { for f in "$@"; do [[ " $flags " == *" $f "* ]] || return 1; done; }
        want=
        if has avx512f avx512cd avx512bw avx512dq avx512vl; then want=SkylakeX
        elif has avx2 fma; then want=Haswell; fi
        if [ -n "$want" ]; then
            env -u OPENBLAS_CORETYPE "$hnd" info | grep -qx "blas kernels: $want (OPENBLAS_CORETYPE=$want)" ||
                { echo "FAIL: blas kernels, wanted $want: $(env -u OPENBLAS_CORETYPE "$hnd" info)"; fail=1; }
            OPENBLAS_CORETYPE=Haswell "$hnd" info | grep -qx "blas kernels: Haswell (OPENBLAS_CORETYPE=Haswell)" ||
                { echo "FAIL: a user's OPENBLAS_CORETYPE is kept"; fail=1; }
        fi
    fi
fi
[ $fail = 0 ] && echo "cli ok"
exit $fail
