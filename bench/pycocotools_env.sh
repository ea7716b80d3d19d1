# Sourced by bench/eval_bench.sh: makes pycocotools importable by
# /usr/bin/python3, building it from source when it is not installed.
# Sets PYCOCO_OK=1 (and PYTHONPATH) or PYCOCO_OK=0 with PYCOCO_WHY.
#   $PYCOCOTOOLS_SRC: a checkout of cocodataset/cocoapi (a work tree with
#     PythonAPI/setup.py, or a git directory: its HEAD is exported);
#     default: a mirror under /work/.mirror/cocodataset+cocoapi if present.
#   $cache: where the build goes (one build per source, reused).
# pycocotools is a reference only, never part of hnd: its code is built in
# the cache, not copied into this tree. Needs cython3, python3-dev, numpy.
PYCOCO_OK=0; PYCOCO_WHY=""
pycoco_try() { /usr/bin/python3 -c "import pycocotools.cocoeval, pycocotools.mask" 2>/dev/null; }
if pycoco_try; then
  PYCOCO_OK=1
else
  src=${PYCOCOTOOLS_SRC:-}
  if [ -z "$src" ]; then
    for d in /work/.mirror/cocodataset+cocoapi/repo /work/.mirror/cocodataset+cocoapi; do
      if [ -d "$d" ]; then src=$d; break; fi
    done
  fi
  out="$cache/pycocotools"
  if [ -f "$out/PythonAPI/pycocotools/cocoeval.py" ] && ls "$out"/PythonAPI/pycocotools/_mask*.so >/dev/null 2>&1; then
    export PYTHONPATH="$out/PythonAPI${PYTHONPATH:+:$PYTHONPATH}"
    pycoco_try && PYCOCO_OK=1 || PYCOCO_WHY="the build in $out does not import"
  elif [ -z "$src" ]; then
    PYCOCO_WHY="not importable and no source (set PYCOCOTOOLS_SRC to a cocodataset/cocoapi checkout)"
  elif ! command -v cython3 >/dev/null 2>&1 && ! /usr/bin/python3 -c "import Cython" 2>/dev/null; then
    PYCOCO_WHY="not importable; building it from $src needs cython3 (apt-get install cython3 python3-dev)"
  else
    echo "eval_bench: building pycocotools from $src into $out (once)"
    rm -rf "$out.part"; mkdir -p "$out.part"
    if [ -f "$src/PythonAPI/setup.py" ]; then
      cp -r "$src/PythonAPI" "$src/common" "$out.part/"
    elif git --git-dir="$src" rev-parse HEAD >/dev/null 2>&1; then
      git --git-dir="$src" archive HEAD PythonAPI common | tar -x -C "$out.part"
    fi
    if [ -f "$out.part/PythonAPI/setup.py" ] &&
       (cd "$out.part/PythonAPI" && /usr/bin/python3 setup.py build_ext --inplace) > "$out.part/build.log" 2>&1; then
      rm -rf "$out"; mv "$out.part" "$out"
      export PYTHONPATH="$out/PythonAPI${PYTHONPATH:+:$PYTHONPATH}"
      pycoco_try && PYCOCO_OK=1 || PYCOCO_WHY="built in $out but it does not import"
    else
      PYCOCO_WHY="building it from $src failed (see $out.part/build.log)"
    fi
  fi
fi
