"""Reference detections of torchvision 0.14's Faster/Mask R-CNN for
tests/test_rcnn.c (and bench/detect_bench.sh).

usage: ref_rcnn.py OUT_DIR [CASE...]      (default: every case)

For each case it builds the architecture with a fixed seed, FrozenBatchNorm2d
in the backbone as in the pretrained detectors, and weights that make the
random network behave like a trained one rather than degenerate:
  - each frozen BN gets the statistics of its input on a calibration image
    (so activations stay O(1) through the 50 layers), weight in [0.5, 1]
    and a small bias;
  - the RPN objectness and the class scores are scaled so that scores are
    decisive and spread (random init gives every RoI ~1/91 otherwise).
It saves the state dict as OUT_DIR/<case>.pth, runs the images of the case
(several sizes and aspect ratios, batches of 1 and 2) and writes
OUT_DIR/<case>.h5:
  /case attrs: arch, min_size, max_size, n
  /img<i>            float32 [3,H,W] in [0,1]
  /det<i>/boxes, scores, labels     torchvision's detections
  /det<i>/masks      uint8 [K,H,W], pasted masks > 0.5 (Mask R-CNN)
  /prop<i>           RPN proposals [P,4] (resized image coordinates)
  /feat/<name>       FPN features of the batch
"""
import refcache  # noqa: E402  (tests/py/refcache.py: reused across the plain and sanitizer passes)
refcache.run_cached(__file__, "dir", per_case=["faster_r50_small", "faster_r18_small", "mask_r50_small",
                                                "mask_r18_small", "faster_r50_800"])
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from torchvision.models import resnet18, resnet50
from torchvision.models.detection import FasterRCNN, KeypointRCNN, MaskRCNN
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.ops import FrozenBatchNorm2d

torch.set_num_threads(int(os.environ.get("HND_THREADS", "0")) or os.cpu_count())

# name: (kind, depth, min_size, max_size, image sizes (h, w) of one batch)
CASES = {
    "faster_r50_small": ("faster", 50, 320, 512, [(300, 400), (360, 280)]),
    "faster_r18_small": ("faster", 18, 320, 512, [(240, 330)]),
    "mask_r50_small": ("mask", 50, 320, 512, [(280, 420), (330, 250)]),
    "mask_r18_small": ("mask", 18, 320, 512, [(250, 250), (200, 380)]),
    "faster_r50_800": ("faster", 50, 800, 1333, [(480, 640)]),
}


assert refcache.__name__ and sorted(CASES) == sorted(["faster_r50_small", "faster_r18_small", "mask_r50_small",
                                                       "mask_r18_small", "faster_r50_800"]), "refcache per_case list"


def make_image(h, w, g):
    """Smooth colour fields with a few rectangles and discs: structured
    enough that the network's features are not noise."""
    low = torch.rand(3, max(2, h // 24), max(2, w // 24), generator=g)
    img = F.interpolate(low[None], size=(h, w), mode="bilinear", align_corners=False)[0]
    yy, xx = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    for _ in range(6):
        c = torch.rand(3, 1, 1, generator=g)
        x0, y0 = float(torch.rand(1, generator=g)) * w, float(torch.rand(1, generator=g)) * h
        s = 15 + float(torch.rand(1, generator=g)) * min(h, w) * 0.4
        if float(torch.rand(1, generator=g)) < 0.5:
            m = ((xx - x0).abs() < s / 2) & ((yy - y0).abs() < s / 3)
        else:
            m = (xx - x0) ** 2 + (yy - y0) ** 2 < (s / 2) ** 2
        img = torch.where(m[None], c.expand(3, h, w), img)
    return img.clamp(0, 1).contiguous()


def build(kind, depth, min_size, max_size, seed, **kwargs):
    """kind: faster, mask or keypoint (ref_keypoint_rcnn.py); kwargs go to
    the detector's constructor."""
    torch.manual_seed(seed)
    body = (resnet50 if depth == 50 else resnet18)(weights=None, norm_layer=FrozenBatchNorm2d)
    backbone = _resnet_fpn_extractor(body, 3)
    cls = {"faster": FasterRCNN, "mask": MaskRCNN, "keypoint": KeypointRCNN}[kind]
    kwargs.setdefault("num_classes", 2 if kind == "keypoint" else 91)
    model = cls(backbone, min_size=min_size, max_size=max_size, **kwargs).eval()
    # frozen BN statistics from a calibration image
    hooks = []

    def calibrate(mod, inp):
        x = inp[0]
        mod.running_mean.copy_(x.mean(dim=(0, 2, 3)))
        mod.running_var.copy_(x.var(dim=(0, 2, 3)) + 1e-3)
        mod.weight.copy_(torch.rand_like(mod.weight) * 0.5 + 0.5)
        mod.bias.copy_(torch.randn_like(mod.bias) * 0.1)

    for m in model.backbone.body.modules():
        if isinstance(m, FrozenBatchNorm2d):
            hooks.append(m.register_forward_pre_hook(calibrate))
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        x = model.transform([make_image(256, 320, g)])[0].tensors
        model.backbone.body(x)
    for h in hooks:
        h.remove()
    with torch.no_grad():
        head = model.rpn.head
        head.bbox_pred.weight.normal_(0, 0.005)
        head.cls_logits.bias.normal_(0, 0.5)
        pred = model.roi_heads.box_predictor
        pred.cls_score.bias.normal_(0, 1.0)
        pred.bbox_pred.weight.mul_(3.0)
        if kind == "mask":
            model.roi_heads.mask_predictor.mask_fcn_logits.weight.mul_(8.0)
        # scale the objectness and class logits to a fixed spread (std 1.5
        # and 2.5 on the calibration image): decisive, yet no saturated ties
        outs = {}
        def keep(key):
            def hook(m, i, o):
                outs.setdefault(key, []).append(o.flatten())
            return hook

        hk = [head.cls_logits.register_forward_hook(keep("rpn")),
              pred.cls_score.register_forward_hook(keep("cls"))]
        model([make_image(256, 320, g)])
        for h in hk:
            h.remove()
        for mod, key, target in ((head.cls_logits, "rpn", 1.5), (pred.cls_score, "cls", 2.5)):
            k = target / float(torch.cat(outs[key]).std())
            mod.weight.mul_(k)
            mod.bias.mul_(k)
    return model


def legacy_key(k):
    """torchvision < 0.13 state_dict key of k (RPNHead, MaskRCNNHeads and FPN
    blocks before Conv2dNormActivation)."""
    for a, b in (("rpn.head.conv.0.0.", "rpn.head.conv."),):
        if k.startswith(a):
            return b + k[len(a):]
    parts = k.split(".")
    if k.startswith("roi_heads.mask_head.") and parts[3] == "0":
        return f"roi_heads.mask_head.mask_fcn{int(parts[2]) + 1}.{parts[4]}"
    if k.startswith("backbone.fpn.") and parts[2] in ("inner_blocks", "layer_blocks") and parts[4] == "0":
        return ".".join(parts[:4] + parts[5:])
    return k


def run_case(name, out_dir):
    kind, depth, min_size, max_size, sizes = CASES[name]
    seed = sum(map(ord, name))
    model = build(kind, depth, min_size, max_size, seed)
    torch.save(model.state_dict(), os.path.join(out_dir, name + ".pth"))
    if kind == "mask" and depth == 18:
        # the same weights under torchvision < 0.13 names, as in the COCO
        # checkpoints (legacy zip-less format too)
        legacy = {legacy_key(k): v for k, v in model.state_dict().items()}
        torch.save(legacy, os.path.join(out_dir, name + "_legacy.pth"), _use_new_zipfile_serialization=False)
    g = torch.Generator().manual_seed(seed + 2)
    images = [make_image(h, w, g) for h, w in sizes]
    feats = {}
    props = []
    model.backbone.register_forward_hook(lambda m, i, o: feats.update(o))
    model.rpn.register_forward_hook(lambda m, i, o: props.extend(o[0]))
    with torch.no_grad():
        dets = model(images)
    with h5py.File(os.path.join(out_dir, name + ".h5"), "w") as f:
        c = f.create_group("case")
        c.attrs["arch"] = f"{kind}_rcnn_resnet{depth}_fpn"
        c.attrs["min_size"] = min_size
        c.attrs["max_size"] = max_size
        c.attrs["n"] = len(images)
        for i, (img, d) in enumerate(zip(images, dets)):
            f.create_dataset(f"img{i}", data=img.numpy())
            f.create_dataset(f"det{i}/boxes", data=d["boxes"].numpy())
            f.create_dataset(f"det{i}/scores", data=d["scores"].numpy())
            f.create_dataset(f"det{i}/labels", data=d["labels"].numpy())
            if "masks" in d:
                m = (d["masks"][:, 0] > 0.5).to(torch.uint8).numpy()
                f.create_dataset(f"det{i}/masks", data=m, compression="gzip")
            f.create_dataset(f"prop{i}", data=props[i].numpy())
            print(f"{name}: image {i} {tuple(img.shape)}: {len(d['boxes'])} detections, "
                  f"{len(props[i])} proposals, scores {d['scores'][:3].tolist()}")
        for k, v in feats.items():
            f.create_dataset(f"feat/{k}", data=v.numpy())


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    for name in sys.argv[2:] or list(CASES):
        run_case(name, out_dir)


if __name__ == "__main__":
    main()
