"""check_refcache.py: the bound of the reference cache (refcache.py), on a
generator of its own in a temporary directory: a miss runs it and stores the
entry, a hit replays the files and the printed line without running it, and
storing past HND_REF_CACHE_MAX_MB removes the least recently used entry
(one touched by a hit survives), never the one just stored."""
import os
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
work = tempfile.mkdtemp(prefix="refcache-", dir=os.environ.get("HND_TEST_TMP") or None)
gen = os.path.join(work, "gen.py")
with open(gen, "w") as f:
    f.write("""import sys
sys.path.insert(0, %r)
import refcache
refcache.run_cached(__file__, "file")
import os
n = int(sys.argv[2])
with open(sys.argv[1], "wb") as f:
    f.write(bytes([n %% 256]) * (n * 1024 * 1024))
with open(os.path.join(os.path.dirname(__file__), "runs.txt"), "a") as f:
    f.write("%%d\\n" %% n)
print("wrote", sys.argv[1])
""" % here)
cache = os.path.join(work, "cache")
env = dict(os.environ, HND_REF_CACHE=cache, HND_REF_CACHE_MAX_MB="5")
env.pop("HND_REF_CACHE_CHILD", None)


def run(n):
    out = os.path.join(work, "out%d.bin" % n)
    p = subprocess.run([sys.executable, gen, out, str(n)], env=env, stdout=subprocess.PIPE, check=True)
    assert p.stdout.decode() == "wrote %s\n" % out, p.stdout
    data = open(out, "rb").read()
    assert data == bytes([n]) * (n * 1024 * 1024), (n, len(data))


def runs():
    return [int(x) for x in open(os.path.join(work, "runs.txt")).read().split()]


def entries():
    return sorted(os.listdir(cache))


run(1)
run(2)                      # 3 MB stored: within the 5 MB bound
assert runs() == [1, 2] and len(entries()) == 2, (runs(), entries())
run(1)                      # a hit: not run again, and now the most recent
assert runs() == [1, 2], runs()
run(3)                      # 6 MB: the least recently used (2) goes
assert runs() == [1, 2, 3] and len(entries()) == 2, (runs(), entries())
run(1)                      # still cached
assert runs() == [1, 2, 3], runs()
run(2)                      # evicted: computed again; 3 (used before 1's hit) goes
assert runs() == [1, 2, 3, 2] and len(entries()) == 2, (runs(), entries())
run(1)
assert runs() == [1, 2, 3, 2], runs()
run(6)                      # larger than the bound alone: kept, the others go
assert runs() == [1, 2, 3, 2, 6] and len(entries()) == 1, entries()
print("refcache: hits replayed, least recently used evicted at 5 MB:", runs())
