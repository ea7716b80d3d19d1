"""Reference for bench/detect_bench.sh: torchvision 0.14's Faster / Mask
R-CNN R50-FPN (weights as in tests/py/ref_rcnn.py: frozen BN with calibrated
statistics, decisive class scores) on 480x640 images resized to 800.

  detect_bench_ref.py prepare DIR N [KIND]     DIR/<KIND>.pth and DIR/img/<i>.png
  detect_bench_ref.py time DIR THREADS [KIND]  seconds per image, one per line
KIND: faster (default; DIR/frcnn.pth) or mask (DIR/mask.pth).
"""
import glob
import os
import sys
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "py"))
import ref_rcnn  # noqa: E402


def main():
    cmd, d = sys.argv[1], sys.argv[2]
    kind = sys.argv[4] if len(sys.argv) > 4 else "faster"
    pth = os.path.join(d, "frcnn.pth" if kind == "faster" else kind + ".pth")
    if cmd == "prepare":
        n = int(sys.argv[3])
        model = ref_rcnn.build(kind, 50, 800, 1333, seed=42)
        torch.save(model.state_dict(), pth)
        os.makedirs(os.path.join(d, "img"), exist_ok=True)
        g = torch.Generator().manual_seed(7)
        for i in range(n):
            im = ref_rcnn.make_image(480, 640, g)
            a = (im.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
            Image.fromarray(a).save(os.path.join(d, "img", f"{i + 1}.png"))
    elif cmd == "time":
        torch.set_num_threads(int(sys.argv[3]))
        model = ref_rcnn.build(kind, 50, 800, 1333, seed=42)
        model.load_state_dict(torch.load(pth))
        for p in sorted(glob.glob(os.path.join(d, "img", "*.png"))):
            x = torch.from_numpy(np.array(Image.open(p).convert("RGB"))).permute(2, 0, 1).float() / 255
            with torch.no_grad():
                t = time.perf_counter()
                model([x])
                print(f"{time.perf_counter() - t:.4f}", flush=True)
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
