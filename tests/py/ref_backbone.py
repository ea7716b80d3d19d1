#!/usr/bin/env python3
"""Reference values for tests/test_backbone.c, computed with torchvision 0.14.

Usage: ref_backbone.py OUTDIR

Builds ResNet-FPN backbones exactly as the pretrained torchvision detectors do
(FrozenBatchNorm2d, _resnet_fpn_extractor with trainable_layers 3), gives the
frozen BNs plausible statistics (random init is degenerate), saves the state
dicts as the detector names them (backbone.body.*, backbone.fpn.*) and runs
GeneralizedRCNNTransform + the backbone on images of several sizes, writing
inputs and outputs to OUTDIR/ref_backbone.h5 (group "ref"):

  <case>.in<i>     input image i (float32 CHW in [0,1])
  <case>.batch     the padded, normalized batch
  <case>.sizes     int64 [n,2] image_sizes
  <case>.feat<k>   FPN output k ("0","1","2","3","pool")
  meta.cases       (see CASES below, mirrored in the C test)

Weight files (OUTDIR/*.pth):
  r18.pth       ResNet-18-FPN, written from a BatchNorm2d twin of the frozen
                model (so it has num_batches_tracked keys, like
                fasterrcnn_resnet50_fpn(weights=None) state dicts)
  r50.pth       ResNet-50-FPN in the legacy torch.save format with the old FPN
                key layout (inner_blocks.N.weight), like the COCO checkpoints
  r18_bn.pth    ResNet-18-FPN with trainable BatchNorm2d, trainable_layers 5,
                before one train-mode forward ("bntrain" outputs)
"""
import refcache  # noqa: E402  (tests/py/refcache.py: reused across the plain and sanitizer passes)
refcache.run_cached(__file__, "dir")
import os
import sys

import h5py
import numpy as np
import torch
import torchvision
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.models.detection.transform import GeneralizedRCNNTransform, resize_boxes, _resize_image_and_masks
from torchvision.ops.misc import FrozenBatchNorm2d

OUT = sys.argv[1] if len(sys.argv) > 1 else "ref_backbone"
os.makedirs(OUT, exist_ok=True)
torch.set_num_threads(max(1, os.cpu_count() or 1))
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]

h5 = h5py.File(os.path.join(OUT, "ref_backbone.h5.tmp"), "w")
ref = h5.create_group("ref")


def put(name, t):
    if isinstance(t, torch.Tensor):
        t = t.detach().contiguous().cpu().numpy()
    ref.create_dataset(name, data=t)


def plausible_bn(model, gen):
    """Frozen/BatchNorm statistics a trained network could have."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (FrozenBatchNorm2d, torch.nn.BatchNorm2d)):
                c = m.weight.shape[0]
                m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(c, generator=gen) * 0.1)
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
            if isinstance(m, torch.nn.Conv2d) and m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)


def build(depth, frozen=True, trainable_layers=3):
    ctor = {18: torchvision.models.resnet18, 50: torchvision.models.resnet50}[depth]
    body = ctor(weights=None, norm_layer=FrozenBatchNorm2d) if frozen else ctor(weights=None)
    return _resnet_fpn_extractor(body, trainable_layers)


def detector_sd(bb):
    return {"backbone." + k: v.clone() for k, v in bb.state_dict().items()}


# ---- models ----
torch.manual_seed(0)
gen = torch.Generator().manual_seed(1)
r18 = build(18).eval()
plausible_bn(r18, gen)
# the same values in a BatchNorm2d twin: its state dict has num_batches_tracked
twin = build(18, frozen=False)
missing, unexpected = twin.load_state_dict(r18.state_dict(), strict=False)
assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
sd = detector_sd(twin)
assert any(k.endswith("num_batches_tracked") for k in sd)
torch.save(sd, os.path.join(OUT, "r18.pth"))

r50 = build(50).eval()
plausible_bn(r50, gen)
sd = {}
for k, v in detector_sd(r50).items():
    parts = k.split(".")
    if parts[1] == "fpn" and len(parts) == 6 and parts[4] == "0":
        k = ".".join(parts[:4] + parts[5:])   # backbone.fpn.inner_blocks.N.weight
    sd[k] = v
assert "backbone.fpn.inner_blocks.0.weight" in sd
torch.save(sd, os.path.join(OUT, "r50.pth"), _use_new_zipfile_serialization=False)

# ---- transform + backbone cases (mirrored in test_backbone.c) ----
CASES = [
    # name, model, min_size, max_size, image sizes (C,H,W)
    ("r18_b2", r18, 64, 100, [(3, 40, 60), (3, 30, 120)]),   # 2nd: max_size binds
    ("r18_b1", r18, 64, 100, [(3, 57, 43)]),
    ("r50_b1", r50, 96, 160, [(3, 50, 90)]),
    ("r50_b2", r50, 96, 160, [(3, 61, 47), (3, 90, 33)]),    # 2nd: max_size binds
    ("r50_800", r50, 800, 1333, [(3, 120, 160)]),
]
img_gen = torch.Generator().manual_seed(2)
with torch.no_grad():
    for name, model, mn, mx, shapes in CASES:
        tr = GeneralizedRCNNTransform(mn, mx, MEAN, STD).eval()
        imgs = [torch.rand(s, generator=img_gen) for s in shapes]
        il, _ = tr(imgs)
        feats = model(il.tensors)
        assert list(feats.keys()) == ["0", "1", "2", "3", "pool"]
        for i, im in enumerate(imgs):
            put(f"{name}.in{i}", im)
        put(f"{name}.batch", il.tensors)
        put(f"{name}.sizes", torch.tensor(il.image_sizes, dtype=torch.int64))
        for k, v in enumerate(feats.values()):
            put(f"{name}.feat{k}", v)
        print(name, list(il.tensors.shape), il.image_sizes,
              ["%.3g" % v.abs().max().item() for v in feats.values()])

# ---- training transform: boxes and masks ----
tr = GeneralizedRCNNTransform(64, 100, MEAN, STD).train()
imgs = [torch.rand(3, 37, 52, generator=img_gen), torch.rand(3, 25, 90, generator=img_gen)]
targets = []
for i, im in enumerate(imgs):
    h, w = im.shape[-2:]
    xy = torch.rand(4, 2, generator=img_gen) * torch.tensor([w, h])
    wh = torch.rand(4, 2, generator=img_gen) * torch.tensor([w, h]) / 2
    boxes = torch.cat([xy, xy + wh], 1)
    masks = (torch.rand(4, h, w, generator=img_gen) > 0.5).to(torch.uint8)
    labels = torch.arange(1, 5, dtype=torch.int64) + i
    targets.append({"boxes": boxes, "labels": labels, "masks": masks})
    put(f"train.in{i}", im)
    put(f"train.boxes{i}", boxes)
    put(f"train.masks{i}", masks)
torch.manual_seed(5)
il, tout = tr(imgs, [dict(t) for t in targets])
put("train.batch", il.tensors)
put("train.sizes", torch.tensor(il.image_sizes, dtype=torch.int64))
for i, t in enumerate(tout):
    put(f"train.boxes_out{i}", t["boxes"])
    put(f"train.masks_out{i}", t["masks"])
put("train.rand_after", torch.rand(1))   # the generator after the transform's draws

# ---- postprocess: boxes back to the original size ----
boxes = torch.rand(6, 4, generator=img_gen) * 700
put("post.boxes", boxes)
put("post.out", resize_boxes(boxes, (800, 1066), (480, 640)))

# ---- resize arithmetic on many sizes ----
sz_gen = torch.Generator().manual_seed(3)
rows = []
for i in range(120):
    mn, mx = [(800, 1333), (64, 100), (96, 160), (600, 1000), (512, 512)][i % 5]
    h, w = (torch.randint(1, 2100, (2,), generator=sz_gen)).tolist()
    if i % 7 == 0:
        h = w * 3 + 1   # very tall: max_size binds
    out, _ = _resize_image_and_masks(torch.zeros(1, h, w), float(mn), float(mx))
    rows.append([h, w, mn, mx, out.shape[-2], out.shape[-1]])
put("resize.table", torch.tensor(rows, dtype=torch.int64))

# ---- trainable BatchNorm in train mode, every layer trainable ----
bnm = build(18, frozen=False, trainable_layers=5)
plausible_bn(bnm, gen)
torch.save(detector_sd(bnm), os.path.join(OUT, "r18_bn.pth"))
bnm.train()
x = torch.randn(2, 3, 64, 96, generator=img_gen)
with torch.no_grad():
    feats = bnm(x)
put("bntrain.x", x)
for k, v in enumerate(feats.values()):
    put(f"bntrain.feat{k}", v)
put("bntrain.bn1_rm", bnm.body.bn1.running_mean)
put("bntrain.bn1_rv", bnm.body.bn1.running_var)
put("bntrain.l4_rv", bnm.body.layer4[1].bn2.running_var)

# requires_grad after torchvision's freezing rule, per trainable_layers
for tl in range(6):
    m = build(18, frozen=False, trainable_layers=tl)
    names = [n for n, p in m.body.named_parameters() if p.requires_grad]
    put(f"grad.tl{tl}", np.array(len(names), dtype=np.int64))
    h5.attrs[f"grad_tl{tl}"] = ",".join(names)

h5.close()
os.replace(os.path.join(OUT, "ref_backbone.h5.tmp"), os.path.join(OUT, "ref_backbone.h5"))
print("ok")
