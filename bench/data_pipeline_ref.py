"""Reference for bench/data_pipeline_bench.sh: what torchvision's detection
pipeline does to an image before the backbone: PIL open + convert("RGB"),
to_tensor, normalize (ImageNet mean/std) and the bilinear resize of
GeneralizedRCNNTransform (800/1333). Prints images/s.
usage: data_pipeline_ref.py DIR N THREADS"""
import os
import sys
import time

import torch
import torchvision.transforms.functional as TF
from PIL import Image

d, n, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
files = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".jpg"))
mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def one(path):
    im = Image.open(path).convert("RGB")
    x = TF.normalize(TF.to_tensor(im), mean, std)
    h, w = x.shape[-2:]
    s = torch.tensor([h, w])
    mn, mx = torch.min(s).to(torch.float32), torch.max(s).to(torch.float32)
    scale = torch.min(800 / mn, 1333 / mx).item()
    y = torch.nn.functional.interpolate(x[None], scale_factor=scale, mode="bilinear", recompute_scale_factor=True,
                                        align_corners=False)[0]
    return float(y[0, y.shape[1] // 2, y.shape[2] // 2])


one(files[0])
t0 = time.perf_counter()
for i in range(n):
    one(files[i % len(files)])
t = time.perf_counter() - t0
print("%.3f" % (n / t))
print("python pipeline: %d images, %d torch threads, %.3f s" % (n, threads, t), file=sys.stderr)
