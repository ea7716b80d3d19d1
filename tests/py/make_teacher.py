#!/usr/bin/env python3
"""A small random teacher for HND tests and demos, as an hnd weight file.

Usage: make_teacher.py OUT.h5 [--depth 18] [--num-classes 22] [--mask] [--seed 0]
           [--fpn-channels N --representation-size N --mask-channels N
            --anchor-sizes 8,16,32,64,128] [--student C] [--counts OUT.json]

The width options shrink the detector as a config's model.params do (the
demo's models: 64 FPN channels, representation size 256, 64 mask head
channels, anchors 8..128). --student C replaces backbone.body.layer1 by the
reference's bottleneck (ref_bottleneck.Student: Bottleneck4SmallResNet for
ResNet-18/34, Large for 50/101), as hnd train writes a student. --counts
writes torchvision's parameter and buffer counts of the model as JSON
({"params": N, "buffers": N}; num_batches_tracked not counted).

torchvision 0.14's Faster (or Mask) R-CNN with a ResNet-FPN backbone
(FrozenBatchNorm2d, as the pretrained detectors), random weights, frozen BN
statistics a trained network could have (random init is degenerate: var 1,
mean 0 everywhere), written as /weights/<state_dict key> with h5py (the layout
of hnd's weight store), atomically."""
import refcache  # noqa: E402  (tests/py/refcache.py: reused across the plain and sanitizer passes)
refcache.run_cached(__file__, "file", uncached_if=("--counts",))
import argparse
import json
import os

import h5py
import torch
import torchvision
from torchvision.models.detection import FasterRCNN, MaskRCNN
from torchvision.models.detection.backbone_utils import BackboneWithFPN, resnet_fpn_backbone
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.ops.misc import FrozenBatchNorm2d

from ref_bottleneck import Student

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--depth", type=int, default=18)
ap.add_argument("--num-classes", type=int, default=22)
ap.add_argument("--mask", action="store_true")
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--fpn-channels", type=int, default=256)
ap.add_argument("--representation-size", type=int, default=1024)
ap.add_argument("--mask-channels", type=int, default=256)
ap.add_argument("--anchor-sizes", default="32,64,128,256,512")
ap.add_argument("--student", type=int, default=0)
ap.add_argument("--counts", default="")
a = ap.parse_args()

torch.manual_seed(a.seed)
gen = torch.Generator().manual_seed(a.seed + 1)
ctor = MaskRCNN if a.mask else FasterRCNN
F, R, M = a.fpn_channels, a.representation_size, a.mask_channels
if (F, R, M, a.anchor_sizes) == (256, 1024, 256, "32,64,128,256,512"):
    # torchvision's own builders (the draws of earlier versions of this script)
    bb = resnet_fpn_backbone(backbone_name="resnet%d" % a.depth, weights=None, trainable_layers=3)
    model = ctor(bb, num_classes=a.num_classes)
else:
    # a shrunk detector as a config's model.params builds it
    body = getattr(torchvision.models, "resnet%d" % a.depth)(weights=None, norm_layer=FrozenBatchNorm2d)
    c2 = 256 if a.depth >= 50 else 64
    bb = BackboneWithFPN(body, {"layer%d" % i: str(i - 1) for i in range(1, 5)},
                         [c2, 2 * c2, 4 * c2, 8 * c2], F)
    kw = dict(rpn_anchor_generator=AnchorGenerator(tuple((int(s),) for s in a.anchor_sizes.split(",")),
                                                   ((0.5, 1.0, 2.0),) * 5),
              box_head=TwoMLPHead(F * 49, R), box_predictor=FastRCNNPredictor(R, a.num_classes))
    if a.mask:
        kw.update(mask_head=MaskRCNNHeads(F, (M,) * 4, 1), mask_predictor=MaskRCNNPredictor(M, M, a.num_classes))
    model = ctor(bb, num_classes=None, **kw)
if a.student:
    model.backbone.body.layer1 = Student(a.student, a.depth >= 50)
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
if a.counts:
    with open(a.counts, "w") as f:
        json.dump({"params": sum(p.numel() for p in model.parameters()),
                   "buffers": sum(b.numel() for n, b in model.named_buffers()
                                  if not n.endswith("num_batches_tracked"))}, f)
print("make_teacher: %s (%s R%d-FPN, %d classes%s)" % (a.out, ctor.__name__, a.depth, a.num_classes,
                                                       ", student C=%d" % a.student if a.student else ""))
