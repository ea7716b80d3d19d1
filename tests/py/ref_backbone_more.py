#!/usr/bin/env python3
"""Reference values for tests/test_backbone_more.c (torchvision 0.14): the
backbones of issue 16 built exactly as torchvision's detectors build theirs
(FrozenBatchNorm2d body, _resnet_fpn_extractor, trainable_layers 3), with
plausible frozen BN statistics, on a small normalised batch.

usage: ref_backbone_more.py OUTDIR [--short]
  OUTDIR/<m>.pth            backbone state dict under the detector's names
                            (backbone.body.*, backbone.fpn.*), zip format
  OUTDIR/ref_more.h5 "ref"  <m>.batch [1,3,64,96] and <m>.feat0..4 (FPN "0".."3","pool")
  OUTDIR/{r152,wr101}.shapes  "key d0 d1 ..." of resnet152's / wide_resnet101_2's
                            detector backbone state dict, unless --short (names
                            and shapes only: their blocks are ResNet-50's and
                            Wide-50-2's, whose numbers are checked)
  m: wr50 (wide_resnet50_2)
"""
import refcache  # noqa: E402  (tests/py/refcache.py: reused across the plain and sanitizer passes)
refcache.run_cached(__file__, "dir")
import os
import sys

import h5py
import torch
import torchvision
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.ops.misc import FrozenBatchNorm2d

OUT = sys.argv[1]
SHORT = "--short" in sys.argv
os.makedirs(OUT, exist_ok=True)
torch.set_num_threads(max(1, os.cpu_count() or 1))


def plausible_bn(model, gen):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, FrozenBatchNorm2d):
                c = m.weight.shape[0]
                m.weight.copy_(torch.rand(c, generator=gen) * 0.4 + 0.2)   # keeps 50 blocks' outputs finite and moderate
                m.bias.copy_(torch.randn(c, generator=gen) * 0.1)
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
            if isinstance(m, torch.nn.Conv2d) and m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)


def build(ctor):
    return _resnet_fpn_extractor(ctor(weights=None, norm_layer=FrozenBatchNorm2d), 3)


torch.manual_seed(0)
gen = torch.Generator().manual_seed(3)
models = [("wr50", torchvision.models.wide_resnet50_2)]
with h5py.File(os.path.join(OUT, "ref_more.h5.tmp"), "w") as h5:
    ref = h5.create_group("ref")
    for name, ctor in models:
        bb = build(ctor).eval()
        plausible_bn(bb, gen)
        torch.save({"backbone." + k: v for k, v in bb.state_dict().items()}, os.path.join(OUT, name + ".pth"))
        x = torch.randn(1, 3, 64, 96, generator=gen)
        with torch.no_grad():
            feats = bb(x)
        assert list(feats.keys()) == ["0", "1", "2", "3", "pool"]
        ref[name + ".batch"] = x.numpy()
        for k, v in enumerate(feats.values()):
            ref[f"{name}.feat{k}"] = v.contiguous().numpy()
        print(name, ["%s %.3g" % (tuple(v.shape), v.abs().max().item()) for v in feats.values()])
        del bb
os.replace(os.path.join(OUT, "ref_more.h5.tmp"), os.path.join(OUT, "ref_more.h5"))
if not SHORT:
    # names and shapes only: skip the initialisation of 60M / 127M parameters
    torch.nn.init.kaiming_normal_ = lambda t, *a, **k: t
    torch.nn.Conv2d.reset_parameters = lambda self: None
    for name, ctor in (("r152", torchvision.models.resnet152), ("wr101", torchvision.models.wide_resnet101_2)):
        bb = build(ctor)
        with open(os.path.join(OUT, name + ".shapes"), "w") as f:
            for k, v in bb.state_dict().items():
                f.write("backbone.%s %s\n" % (k, " ".join(str(d) for d in v.shape)))
        del bb
