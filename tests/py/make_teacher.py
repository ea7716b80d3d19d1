#!/usr/bin/env python3
"""A small random teacher for HND tests and demos, as an hnd weight file.

Usage: make_teacher.py OUT.h5 [--depth 18] [--num-classes 22] [--mask] [--seed 0]

torchvision 0.14's Faster (or Mask) R-CNN with a ResNet-FPN backbone
(FrozenBatchNorm2d, as the pretrained detectors), random weights, frozen BN
statistics a trained network could have (random init is degenerate: var 1,
mean 0 everywhere), written as /weights/<state_dict key> with h5py (the layout
of hnd's weight store), atomically."""
import argparse
import os

import h5py
import torch
import torchvision
from torchvision.models.detection import FasterRCNN, MaskRCNN
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
from torchvision.ops.misc import FrozenBatchNorm2d

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--depth", type=int, default=18)
ap.add_argument("--num-classes", type=int, default=22)
ap.add_argument("--mask", action="store_true")
ap.add_argument("--seed", type=int, default=0)
a = ap.parse_args()

torch.manual_seed(a.seed)
gen = torch.Generator().manual_seed(a.seed + 1)
bb = resnet_fpn_backbone(backbone_name="resnet%d" % a.depth, weights=None, trainable_layers=3)
ctor = MaskRCNN if a.mask else FasterRCNN
model = ctor(bb, num_classes=a.num_classes)
with torch.no_grad():
    for m in model.modules():
        if isinstance(m, (FrozenBatchNorm2d, torch.nn.BatchNorm2d)):
            c = m.weight.shape[0]
            m.weight.copy_(torch.rand(c, generator=gen) * 0.5 + 0.5)
            m.bias.copy_(torch.randn(c, generator=gen) * 0.1)
            m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
tmp = a.out + ".tmp"
with h5py.File(tmp, "w") as f:
    g = f.create_group("weights")
    for k, v in model.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue
        g.create_dataset(k, data=v.detach().numpy())
os.replace(tmp, a.out)
print("make_teacher: %s (%s R%d-FPN, %d classes)" % (a.out, ctor.__name__, a.depth, a.num_classes))
