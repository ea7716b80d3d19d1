#!/usr/bin/env python3
"""pycocotools reference for bench/eval_bench.sh (and a dev-time oracle).

usage: eval_ref.py GT.json RESULTS.json bbox|segm [OUT.json]
Runs COCO(GT), loadRes, COCOeval evaluate/accumulate/summarize exactly as a
user would, prints summarize()'s 12 lines and optionally writes the stats.
pycocotools is not a dependency of hnd: it is imported from the environment
(PYTHONPATH may point at a source build of cocodataset/cocoapi). Two shims
for Debian 12, neither of which changes a number: matplotlib is only imported
by coco.py for showAnns (a stub is installed when it is missing), and numpy
>= 1.24 removed the np.float alias that pycocotools 2.0's accumulate() uses.
Exit 3 when pycocotools cannot be imported."""
import contextlib, io, json, sys, types

import numpy as np

if not hasattr(np, "float"):
    np.float = float  # alias removed in numpy 1.24; pycocotools 2.0 uses it
try:
    import matplotlib  # noqa: F401
except ImportError:
    for name in ("matplotlib", "matplotlib.pyplot", "matplotlib.collections", "matplotlib.patches"):
        mod = types.ModuleType(name)
        mod.__getattr__ = lambda attr: None
        sys.modules[name] = mod
    sys.modules["matplotlib"].use = lambda *a, **k: None
try:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
except ImportError as e:
    print(f"eval_ref: pycocotools not importable: {e}", file=sys.stderr)
    sys.exit(3)


def main():
    gt_path, dt_path, iou = sys.argv[1:4]
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):
        gt = COCO(gt_path)
        dt = gt.loadRes(dt_path)
        ev = COCOeval(gt, dt, iou)
        ev.evaluate()
        ev.accumulate()
    ev.summarize()
    if len(sys.argv) > 4:
        with open(sys.argv[4], "w") as f:
            json.dump({iou: [float(x) for x in ev.stats]}, f)


if __name__ == "__main__":
    main()
