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
fi
[ $fail = 0 ] && echo "cli ok"
exit $fail
