"""refcache.py: a content-addressed cache of the reference files that the
test generators write (random-init torchvision models, torchvision's outputs
on them), so that the sanitizer pass of CI (`make test SANITIZE=1` after
`make test`) and tests that ask for the same files do not compute them again.

Why it is safe: a generator's output depends only on its own code, its
arguments (less the output path) and the versions of Python, torch and
torchvision; all of that is the key (every tests/py/*.py is hashed, so a
change to any helper invalidates everything). The files are torchvision's
output either way: a hit replays what the generator wrote and printed.

Used as the first lines of a generator, before its heavy imports:

    import refcache
    refcache.run_cached(__file__, "dir")    # or "file": argv[1] is the output

Without HND_REF_CACHE in the environment (tests/CMakeLists.txt sets it) the
call returns at once and the script runs as before. On a miss the script runs
as a child with argv[1] pointed into a staging directory of the cache; only
a run that exits 0 is kept (staged, then renamed: concurrent tests never see
half an entry), then its files are copied to the real output.

The cache is bounded: HND_REF_CACHE_MAX_MB (default 2048; 0: no bound).
After storing an entry the least recently used others are removed until the
rest fits (a hit touches its entry). Unbounded, the two CI passes left
4.7 GB of ResNet-50 references, and a CI machine's disk ran out. An entry
removed while another test replays it makes that test run the generator
itself.
"""
import glob
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time

_CHILD = "HND_REF_CACHE_CHILD"
_OUT_MARK = b"\0OUT\0"   # the output path in a stored stdout
_MAX_MB = "HND_REF_CACHE_MAX_MB"
_DEFAULT_MAX_MB = 2048


def _versions():
    # without importing torch (that is most of a hit's saving): the installed
    # packages' version files
    out = [sys.version]
    for mod in ("torch", "torchvision"):
        spec = importlib.util.find_spec(mod)
        if spec is None or not spec.origin:
            out.append(mod + ":none")
            continue
        vf = os.path.join(os.path.dirname(spec.origin), "version.py")
        try:
            with open(vf, "rb") as f:
                out.append(mod + ":" + hashlib.sha256(f.read()).hexdigest())
        except OSError:
            st = os.stat(spec.origin)
            out.append("%s:%s:%d:%d" % (mod, spec.origin, st.st_size, int(st.st_mtime)))
    return out


def _key(script, args):
    h = hashlib.sha256()
    here = os.path.dirname(os.path.abspath(script))
    for p in sorted(glob.glob(os.path.join(here, "*.py"))):
        with open(p, "rb") as f:
            h.update(os.path.basename(p).encode() + b"\0" + f.read() + b"\0")
    h.update(os.path.basename(script).encode() + b"\0")
    for a in args:
        h.update(a.encode() + b"\0")
    for v in _versions():
        h.update(v.encode() + b"\0")
    return h.hexdigest()[:32]


def _copy_file(src, dst):
    tmp = dst + ".refcache.tmp"
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def _replay(entry, out, kind):
    # the files first, the printed lines last: an entry evicted half-way
    # raises OSError before anything was printed
    with open(os.path.join(entry, ".stdout"), "rb") as f:
        printed = f.read().replace(_OUT_MARK, out.encode())
    files = os.path.join(entry, "files")
    if kind == "file":
        _copy_file(os.path.join(files, "out"), out)
    else:
        for root, _, names in os.walk(files):
            rel = os.path.relpath(root, files)
            dst_dir = os.path.normpath(os.path.join(out, rel))
            os.makedirs(dst_dir, exist_ok=True)
            for n in names:
                _copy_file(os.path.join(root, n), os.path.join(dst_dir, n))
    sys.stdout.buffer.write(printed)
    sys.stdout.flush()


def _tree_bytes(path):
    total = 0
    for root, _, names in os.walk(path):
        for n in names:
            try:
                total += os.lstat(os.path.join(root, n)).st_size
            except OSError:
                pass
    return total


def _limit_bytes():
    v = os.environ.get(_MAX_MB, "")
    try:
        mb = float(v) if v else _DEFAULT_MAX_MB
    except ValueError:
        sys.stderr.write("refcache: %s=%r is not a number; using %d\n" % (_MAX_MB, v, _DEFAULT_MAX_MB))
        mb = _DEFAULT_MAX_MB
    return int(mb * 1024 * 1024)


def _trim(cache, keep):
    """Remove the least recently used entries (not keep) until the cache fits
    its bound; also staging directories left by killed runs (over an hour)."""
    limit = _limit_bytes()
    if limit <= 0:
        return
    now = time.time()
    entries = []
    for name in os.listdir(cache):
        path = os.path.join(cache, name)
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            continue
        if name.startswith(".stage-"):
            if now - mtime > 3600:
                shutil.rmtree(path, ignore_errors=True)
            continue
        if name.startswith(".") or not os.path.isdir(path):
            continue
        entries.append((mtime, path, _tree_bytes(path)))
    total = sum(e[2] for e in entries)
    for mtime, path, size in sorted(entries):
        if total <= limit:
            break
        if os.path.abspath(path) == os.path.abspath(keep):
            continue
        # renamed first: a concurrent lookup sees the entry whole or not at all
        gone = os.path.join(cache, ".evict-%d-%s" % (os.getpid(), os.path.basename(path)))
        try:
            os.rename(path, gone)
        except OSError:
            continue
        shutil.rmtree(gone, ignore_errors=True)
        total -= size


def run_cached(script, kind, uncached_if=(), per_case=None):
    """kind "dir": argv[1] is the output directory; "file": the output file.
    uncached_if: options that name a second output (not cached: run as is).
    per_case: the script takes case names after the output (none: all of
    per_case) and writes each case's files on their own: each case is a
    cache entry of its own, so that a run of some cases reuses a run of all.
    Returns only when the caller should run itself (no cache, or the child)."""
    main = sys.modules.get("__main__")
    if os.path.abspath(getattr(main, "__file__", "") or "") != os.path.abspath(script):
        return   # imported by another script (a checker reusing its functions)
    cache = os.environ.get("HND_REF_CACHE")
    if not cache or os.environ.get(_CHILD) or len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        return
    if any(a == o or a.startswith(o + "=") for a in sys.argv for o in uncached_if):
        return
    if per_case is not None and len(sys.argv[2:]) != 1:
        for case in sys.argv[2:] or per_case:
            rc = subprocess.call([sys.executable, os.path.abspath(script), sys.argv[1], case])
            if rc != 0:
                sys.exit(rc)
        sys.exit(0)
    out, args = sys.argv[1], sys.argv[2:]
    entry = os.path.join(cache, "%s-%s" % (os.path.splitext(os.path.basename(script))[0], _key(script, args)))
    if not os.path.isdir(entry):
        os.makedirs(cache, exist_ok=True)
        stage = tempfile.mkdtemp(prefix=".stage-", dir=cache)
        files = os.path.join(stage, "files")
        os.makedirs(files)
        target = files if kind == "dir" else os.path.join(files, "out")
        env = dict(os.environ)
        env[_CHILD] = "1"
        p = subprocess.run([sys.executable, os.path.abspath(script), target] + args, env=env,
                           stdout=subprocess.PIPE)
        if p.returncode != 0:
            sys.stdout.buffer.write(p.stdout)
            shutil.rmtree(stage, ignore_errors=True)
            sys.exit(p.returncode)
        with open(os.path.join(stage, ".stdout"), "wb") as f:
            f.write(p.stdout.replace(target.encode(), _OUT_MARK))
        try:
            os.rename(stage, entry)
        except OSError:   # another test stored the same entry meanwhile: equal files
            shutil.rmtree(stage, ignore_errors=True)
        _trim(cache, entry)
    else:
        try:
            os.utime(entry)   # recently used: trimmed last
        except OSError:
            pass
    try:
        _replay(entry, out, kind)
    except OSError:
        # evicted by a concurrent test while being copied: compute it here
        env = dict(os.environ)
        env[_CHILD] = "1"
        sys.exit(subprocess.call([sys.executable, os.path.abspath(script), out] + args, env=env))
    sys.exit(0)
