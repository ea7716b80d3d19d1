#!/usr/bin/env python3
"""The student's head in PyTorch, the reference of issue #20's head target:
ResNet stem (conv1, frozen BN, ReLU, max-pool) + the bottleneck's encoder
(tests/py/ref_bottleneck.Student, the reference project's module) + the
reference's 8-bit quantizer, on the same transformed input as the C head
(bench/bench_export_head.sh). Weights from the student's hnd weight file.

usage: head_ref.py STUDENT.h5 INPUT.npy RUNS THREADS   -> median ms on stdout
"""
import os
import sys
import time

import h5py
import numpy as np
import torch
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "py"))
from ref_bottleneck import Student, quantize  # noqa: E402


class Head(nn.Module):
    def __init__(self, c, large):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = FrozenBatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = Student(c, large)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return quantize(self.layer1.encoder(x))


def main():
    path, inp, runs, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    pre = "backbone.body."
    with h5py.File(path, "r") as f:   # hnd's layout: flat /weights/<state_dict key>
        sd = {k[len(pre):]: torch.from_numpy(v[()]) for k, v in f["weights"].items()
              if k.startswith(pre) and k[len(pre):].split(".")[0] in ("conv1", "bn1", "layer1")}
    c = sd["layer1.encoder.7.weight"].shape[0]
    large = sd["layer1.decoder.7.weight"].shape[0] == 256
    head = Head(c, large).eval()
    missing, unexpected = head.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    assert not missing and not unexpected, (missing, unexpected)
    x = torch.from_numpy(np.load(inp)).float()
    ts = []
    with torch.no_grad():
        for _ in range(2):
            head(x)
        for _ in range(runs):
            t0 = time.perf_counter()
            head(x)
            ts.append((time.perf_counter() - t0) * 1e3)
    print("%.3f" % float(np.median(ts)))


if __name__ == "__main__":
    main()
