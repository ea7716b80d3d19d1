#!/usr/bin/env python3
"""The same HND training step as bench_hnd_step in PyTorch (python3-torch):
ResNet-50 (FrozenBatchNorm2d) teacher stem + layer1 without grad, student
stem (conv1 trains, bn1 frozen) + Bottleneck4LargeResNet(3) with grad,
MSELoss(sum), Adam, batch 2 at 800x1088. Prints one time per measured step.
usage: hnd_step_bench_ref.py STEPS THREADS [channels_last]"""
import os
import sys
import time

import torch
import torchvision
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "py"))
from ref_bottleneck import Student  # noqa: E402  (the reference's module)

steps, threads = int(sys.argv[1]), int(sys.argv[2])
cl = len(sys.argv) > 3 and sys.argv[3] == "channels_last"
torch.set_num_threads(threads)
torch.manual_seed(0)
t = torchvision.models.resnet50(weights=None, norm_layer=FrozenBatchNorm2d)
s = torchvision.models.resnet50(weights=None, norm_layer=FrozenBatchNorm2d)
teacher = nn.Sequential(t.conv1, t.bn1, t.relu, t.maxpool, t.layer1).eval()
student = nn.Sequential(s.conv1, s.bn1, s.relu, s.maxpool, Student(3, True)).train()
for p in teacher.parameters():
    p.requires_grad_(False)
params = [s.conv1.weight] + list(student[4].parameters())
opt = torch.optim.Adam(params, lr=1e-3)
crit = nn.MSELoss(reduction="sum")
x = torch.rand(2, 3, 800, 1088)
if cl:
    teacher = teacher.to(memory_format=torch.channels_last)
    student = student.to(memory_format=torch.channels_last)
    x = x.contiguous(memory_format=torch.channels_last)
for k in range(steps + 1):
    t0 = time.perf_counter()
    with torch.no_grad():
        yt = teacher(x)
    ys = student(x)
    loss = crit(ys, yt)
    opt.zero_grad()
    loss.backward()
    opt.step()
    dt = time.perf_counter() - t0
    if k:
        print("%.4f" % dt, flush=True)
    else:
        print("torch step 0 (warm-up): %.2f s, loss %.6g" % (dt, loss.item()), file=sys.stderr)
