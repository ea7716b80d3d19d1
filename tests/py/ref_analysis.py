"""Reference numbers for tests/test_analysis.c (hnd analyze): torchvision
0.14's fasterrcnn_resnet50_fpn built as the pretrained detector is
(FrozenBatchNorm2d in the backbone, trainable layers 3), random weights.

usage: ref_analysis.py OUT_DIR [SIZE]      (SIZE: the square input side, 800)

Writes
  OUT_DIR/ref_analysis.pth   the state dict (legacy format), for hnd import
  OUT_DIR/ref_analysis.h5    /ref/image float32 [3,S,S], the input
  OUT_DIR/ref_analysis.json  {"input": [3,S,S],
                              "points": {name: elements that must be sent},
                              "shapes": {name: [[shape], ...]},
                              "params": {module: parameters()}, "buffers": {...},
                              "total_params": n, "proposals": n}
Each point's elements are computed here from the shapes torchvision produced,
with the rule of infer/analysis.h: after layer k >= 2 the outputs of
layer1..k, after the FPN its five maps, after the RPN the proposals and
maps "0".."3"; roi_heads at capacity, 100 x (4 + 1 + 1).
"""
import refcache  # noqa: E402  (tests/py/refcache.py: reused across the plain and sanitizer passes)
refcache.run_cached(__file__, "dir")
import json
import os
import sys

import h5py
import torch
from torchvision.models import resnet50
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.ops import FrozenBatchNorm2d

torch.set_num_threads(int(os.environ.get("HND_THREADS", "0")) or os.cpu_count())


def main():
    out = sys.argv[1]
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 800
    torch.manual_seed(0)
    body = resnet50(weights=None, norm_layer=FrozenBatchNorm2d)
    model = FasterRCNN(_resnet_fpn_extractor(body, 3), num_classes=91).eval()
    g = torch.Generator().manual_seed(1)
    image = torch.rand(3, size, size, generator=g)

    shapes = {}

    def hook(name):
        def f(_m, _i, o):
            shapes[name] = [list(o.shape[1:])]
        return f

    b = model.backbone.body
    for name in ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]:
        getattr(b, name).register_forward_hook(hook(name))
    fpn_out = {}
    model.backbone.fpn.register_forward_hook(lambda _m, _i, o: fpn_out.update(o))
    rpn_out = {}
    model.rpn.register_forward_hook(lambda _m, _i, o: rpn_out.update(boxes=o[0]))
    with torch.no_grad():
        model([image])

    pts = {"input": 3 * size * size}
    for name in ["conv1", "bn1", "relu", "maxpool", "layer1"]:
        pts[name] = int(torch.Size(shapes[name][0]).numel())
    acc = pts["layer1"]
    for k in (2, 3, 4):
        acc += int(torch.Size(shapes["layer%d" % k][0]).numel())
        pts["layer%d" % k] = acc
    feats = [fpn_out[k] for k in ["0", "1", "2", "3", "pool"]]
    shapes["fpn"] = [list(f.shape[1:]) for f in feats]
    pts["fpn"] = sum(int(f[0].numel()) for f in feats)
    props = rpn_out["boxes"][0]
    shapes["rpn"] = [list(props.shape)] + shapes["fpn"][:4]
    pts["rpn"] = int(props.numel()) + sum(int(f[0].numel()) for f in feats[:4])
    pts["roi_heads"] = 100 * (4 + 1 + 1)

    def count(mod, what):
        return sum(int(t.numel()) for t in getattr(mod, what)())

    mods = {"conv1": b.conv1, "bn1": b.bn1, "layer1": b.layer1, "layer2": b.layer2,
            "layer3": b.layer3, "layer4": b.layer4, "fpn": model.backbone.fpn,
            "rpn": model.rpn, "roi_heads": model.roi_heads}
    ref = {
        "input": [3, size, size],
        "points": pts,
        "shapes": shapes,
        "params": {k: count(m, "parameters") for k, m in mods.items()},
        "buffers": {k: count(m, "buffers") for k, m in mods.items()},
        "total_params": count(model, "parameters"),
        "proposals": int(props.shape[0]),
    }
    os.makedirs(out, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(out, "ref_analysis.pth"),
               _use_new_zipfile_serialization=False)
    with h5py.File(os.path.join(out, "ref_analysis.h5"), "w") as f:
        f.create_dataset("ref/image", data=image.numpy())
    with open(os.path.join(out, "ref_analysis.json"), "w") as f:
        json.dump(ref, f, indent=1)


if __name__ == "__main__":
    main()
