"""Reference training losses of torchvision 0.14's Faster/Mask R-CNN for
tests/test_rcnn_loss.c.

usage: ref_rcnn_loss.py OUT_DIR [CASE...]      (default: every case)

For each case it builds a small ResNet-18 FPN detector like the demo's
teachers (FPN 64 channels, representation size 256, mask head 4 x 64
channels, keypoint head 8 x 64 channels with 17 keypoints, 11 classes, trainable_backbone_layers 3, FrozenBatchNorm2d with
the statistics of its input on a calibration image, so activations stay
O(1); objectness logits spread to std 1.5), puts it in training mode and runs model(images, targets) on two
images of different sizes with a few boxes (and masks) each. The
transform's size draw is deterministic (one min_size), and
torch.manual_seed(SEED) comes right before the forward, so that hnd's
default sampler, seeded the same, can draw the same indices.
BalancedPositiveNegativeSampler.__call__ is wrapped to record, per stage
and image, the labels it was given and the indices it chose. Then one SGD
step (lr 0.01, momentum 0.9, weight decay 1e-4) over the trainable
parameters on the sum of the losses.

OUT_DIR/<case>.h5:
  /weights/<key>          the state dict before the step (hnd weight file layout)
  /case attrs             arch, min_size, max_size, n, seed, num_classes,
                          fpn_channels, representation_size, mask_channels
  /img<i>                 float32 [3,H,W] in [0,1]
  /tgt<i>/boxes, labels, masks, keypoints   the targets (original pixels; masks uint8)
  /samp/rpn<i>/labels, pos, neg   the RPN sampler's input and choice
  /samp/roi<i>/labels, pos, neg   the same for the RoI heads
  /samp/roi<i>/boxes      the RoI heads' candidates (proposals + GT boxes)
  /prop<i>                RPN proposals (training mode; resized coordinates)
  /loss/<name>            each loss (float64 scalars)
  /step/<key>             parameters after the SGD step (those <= 1.1M values)
  /n_trainable            number of trainable parameter tensors
OUT_DIR/roi_align.h5: torchvision's roi_align with adaptive and fixed sampling
  /x [2,2,37,53], /rois [K,5]; /out<j> and attrs of /case<j>: out_h, out_w,
  scale, sampling_ratio, aligned
"""
import refcache  # noqa: E402  (tests/py/refcache.py: reused across the plain and sanitizer passes)
refcache.run_cached(__file__, "dir")
import os
import sys

import h5py
import numpy as np
import torch
from torchvision.models import resnet18
from torchvision.models.detection import FasterRCNN, KeypointRCNN, MaskRCNN
from torchvision.models.detection import _utils as det_utils
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.keypoint_rcnn import KeypointRCNNHeads, KeypointRCNNPredictor
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.ops import FrozenBatchNorm2d, roi_align
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ref_rcnn import make_image  # noqa: E402

torch.set_num_threads(int(os.environ.get("HND_THREADS", "0")) or os.cpu_count())

SEED = 1234
NUM_CLASSES = 11
FPN_CHANNELS = 64
REPRESENTATION = 256
MASK_CHANNELS = 64
KEYPOINT_CHANNELS = 64
NUM_KEYPOINTS = 17
# name: (kind, min_size, max_size, image sizes (h, w))
CASES = {
    "faster_r18": ("faster", 160, 256, [(200, 260), (240, 180)]),
    "mask_r18": ("mask", 160, 256, [(190, 250), (230, 170)]),
    "keypoint_r18": ("keypoint", 160, 256, [(210, 240), (200, 190)]),
}


def build(kind, min_size, max_size, seed):
    """torchvision's resnet_fpn_backbone/_resnet_fpn_extractor with 64 FPN
    channels (trainable layers 3), small heads, calibrated frozen BN."""
    torch.manual_seed(seed)
    body = resnet18(weights=None, norm_layer=FrozenBatchNorm2d)
    layers_to_train = ["layer4", "layer3", "layer2", "layer1", "conv1"][:3]
    for name, p in body.named_parameters():
        if all(not name.startswith(layer) for layer in layers_to_train):
            p.requires_grad_(False)
    backbone = BackboneWithFPN(body, {"layer1": "0", "layer2": "1", "layer3": "2", "layer4": "3"},
                               [64, 128, 256, 512], FPN_CHANNELS, extra_blocks=LastLevelMaxPool())
    heads = dict(box_head=TwoMLPHead(FPN_CHANNELS * 7 * 7, REPRESENTATION),
                 box_predictor=FastRCNNPredictor(REPRESENTATION, NUM_CLASSES))
    if kind == "mask":
        heads.update(mask_head=MaskRCNNHeads(FPN_CHANNELS, (MASK_CHANNELS,) * 4, 1),
                     mask_predictor=MaskRCNNPredictor(MASK_CHANNELS, MASK_CHANNELS, NUM_CLASSES))
    if kind == "keypoint":
        heads.update(keypoint_head=KeypointRCNNHeads(FPN_CHANNELS, (KEYPOINT_CHANNELS,) * 8),
                     keypoint_predictor=KeypointRCNNPredictor(KEYPOINT_CHANNELS, NUM_KEYPOINTS))
    cls = {"faster": FasterRCNN, "mask": MaskRCNN, "keypoint": KeypointRCNN}[kind]
    model = cls(backbone, num_classes=None, min_size=min_size, max_size=max_size, **heads).eval()

    def calibrate(mod, inp):
        x = inp[0]
        mod.running_mean.copy_(x.mean(dim=(0, 2, 3)))
        mod.running_var.copy_(x.var(dim=(0, 2, 3)) + 1e-3)
        mod.weight.copy_(torch.rand_like(mod.weight) * 0.5 + 0.5)
        mod.bias.copy_(torch.randn_like(mod.bias) * 0.1)

    hooks = [m.register_forward_pre_hook(calibrate) for m in model.backbone.body.modules()
             if isinstance(m, FrozenBatchNorm2d)]
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        model.backbone.body(model.transform([make_image(192, 256, g)])[0].tensors)
    for h in hooks:
        h.remove()
    # objectness logits with a spread (std 1.5 on the calibration image):
    # near-tied scores would make the proposals' order fragile
    outs = []
    head = model.rpn.head
    hk = head.cls_logits.register_forward_hook(lambda m, i, o: outs.append(o.flatten()))
    with torch.no_grad():
        model([make_image(192, 256, g)])
        hk.remove()
        k = 1.5 / float(torch.cat(outs).std())
        head.cls_logits.weight.mul_(k)
        head.cls_logits.bias.normal_(0, 0.5)
    return model


def make_targets(h, w, g, k, keypoints=False):
    """k objects: boxes of varied sizes (one small, one touching the border),
    labels in 1..NUM_CLASSES-1, masks = the ellipse inscribed in each box."""
    boxes, masks = [], []
    yy, xx = torch.meshgrid(torch.arange(h).float() + 0.5, torch.arange(w).float() + 0.5, indexing="ij")
    for j in range(k):
        if j == 0:
            bw, bh = 14 + 6 * float(torch.rand(1, generator=g)), 12 + 6 * float(torch.rand(1, generator=g))
        else:
            bw = 25 + float(torch.rand(1, generator=g)) * w * 0.55
            bh = 25 + float(torch.rand(1, generator=g)) * h * 0.55
        x1 = float(torch.rand(1, generator=g)) * (w - bw)
        y1 = float(torch.rand(1, generator=g)) * (h - bh)
        if j == 1:
            x1 = 0.0
        boxes.append([x1, y1, x1 + bw, y1 + bh])
        cx, cy = x1 + bw / 2, y1 + bh / 2
        masks.append((((xx - cx) / (bw / 2)) ** 2 + ((yy - cy) / (bh / 2)) ** 2 <= 1).to(torch.uint8))
    labels = torch.randint(1, NUM_CLASSES, (k,), generator=g)
    bt = torch.tensor(boxes, dtype=torch.float32)
    if not keypoints:   # (the other cases' draws stay as they were)
        return {"boxes": bt, "labels": labels, "masks": torch.stack(masks)}
    # keypoints: mostly inside their box, a few outside, one on the right
    # edge, visibility 0/1/2
    u = torch.rand(k, NUM_KEYPOINTS, 2, generator=g) * 1.2 - 0.1
    kx = bt[:, 0:1] + u[..., 0] * (bt[:, 2:3] - bt[:, 0:1])
    ky = bt[:, 1:2] + u[..., 1] * (bt[:, 3:4] - bt[:, 1:2])
    kx[:, 0] = bt[:, 2]
    v = torch.randint(0, 3, (k, NUM_KEYPOINTS), generator=g).float()
    return {"boxes": bt, "labels": labels, "masks": torch.stack(masks), "keypoints": torch.stack([kx, ky, v], 2)}


def run_case(name, out_dir):
    kind, min_size, max_size, sizes = CASES[name]
    seed = sum(map(ord, name))
    model = build(kind, min_size, max_size, seed)
    model.train()
    g = torch.Generator().manual_seed(seed + 2)
    images = [make_image(h, w, g) for h, w in sizes]
    targets = [make_targets(h, w, g, 3 + i, kind == "keypoint") for i, (h, w) in enumerate(sizes)]
    drop = {"faster": ("masks", "keypoints"), "mask": ("keypoints",), "keypoint": ("masks",)}[kind]
    targets = [{k: v for k, v in t.items() if k not in drop} for t in targets]
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}

    record = []
    orig_call = det_utils.BalancedPositiveNegativeSampler.__call__

    def recording_call(self, matched_idxs):
        pos, neg = orig_call(self, matched_idxs)
        stage = "rpn" if self is model.rpn.fg_bg_sampler else "roi"
        for i, (l, p, n) in enumerate(zip(matched_idxs, pos, neg)):
            record.append((stage, i, l.detach().clone(), torch.where(p)[0], torch.where(n)[0]))
        return pos, neg

    det_utils.BalancedPositiveNegativeSampler.__call__ = recording_call
    candidates = []   # the RoI heads' proposals + GT boxes, per image
    orig_add = model.roi_heads.add_gt_proposals

    def recording_add(proposals, gt_boxes):
        out = orig_add(proposals, gt_boxes)
        candidates.extend(p.detach().clone() for p in out)
        return out

    model.roi_heads.add_gt_proposals = recording_add
    props = []
    model.rpn.register_forward_hook(lambda m, i, o: props.extend(b.detach() for b in o[0]))
    torch.manual_seed(SEED)
    try:
        losses = model(images, targets)
    finally:
        det_utils.BalancedPositiveNegativeSampler.__call__ = orig_call
    total = sum(loss for loss in losses.values())
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=1e-4)
    opt.zero_grad()
    total.backward()
    opt.step()

    path = os.path.join(out_dir, name + ".h5")
    with h5py.File(path + ".tmp", "w") as f:
        c = f.create_group("case")
        c.attrs["arch"] = f"{kind}_rcnn_resnet18_fpn"
        c.attrs["min_size"] = min_size
        c.attrs["max_size"] = max_size
        c.attrs["n"] = len(images)
        c.attrs["seed"] = SEED
        c.attrs["num_classes"] = NUM_CLASSES
        c.attrs["fpn_channels"] = FPN_CHANNELS
        c.attrs["representation_size"] = REPRESENTATION
        c.attrs["mask_channels"] = MASK_CHANNELS
        w = f.create_group("weights")
        for k, v in before.items():
            if not k.endswith("num_batches_tracked"):
                w.create_dataset(k, data=v.numpy())
        for i, (img, t) in enumerate(zip(images, targets)):
            f.create_dataset(f"img{i}", data=img.numpy())
            for k, v in t.items():
                f.create_dataset(f"tgt{i}/{k}", data=v.numpy())
            f.create_dataset(f"prop{i}", data=props[i].numpy())
        for stage, i, l, p, n in record:
            f.create_dataset(f"samp/{stage}{i}/labels", data=l.numpy())
            f.create_dataset(f"samp/{stage}{i}/pos", data=p.numpy())
            f.create_dataset(f"samp/{stage}{i}/neg", data=n.numpy())
            if stage == "roi":
                f.create_dataset(f"samp/roi{i}/boxes", data=candidates[i].numpy())
        for k, v in losses.items():
            f.create_dataset(f"loss/{k}", data=np.float64(v.item()))
        f.create_dataset("n_trainable", data=np.int64(len(params)))
        for k, p in model.named_parameters():
            if p.requires_grad and p.numel() <= 1_100_000:
                f.create_dataset(f"step/{k}", data=p.detach().numpy())
    os.replace(path + ".tmp", path)
    counts = {f"{s}{i}": (len(p), len(n)) for s, i, _, p, n in record}
    print(f"{name}: losses " + ", ".join(f"{k} {v.item():.6f}" for k, v in losses.items()) +
          f"; sampled (pos, neg) {counts}; proposals {[len(p) for p in props]}")


ROI_ALIGN_CASES = [  # out_h, out_w, scale, sampling_ratio, aligned
    (7, 5, 0.5, -1, False), (28, 28, 1.0, -1, False), (6, 9, 0.25, -1, True), (4, 4, 1.0, 3, False),
]


def roi_align_cases(out_dir):
    g = torch.Generator().manual_seed(7)
    x = torch.randn(2, 2, 37, 53, generator=g)
    rois = [[0, 3.3, 4.1, 40.7, 30.2], [1, -8.0, -5.5, 20.0, 12.0], [0, 10.0, 10.0, 10.4, 10.2],
            [1, 0.0, 0.0, 106.0, 74.0], [1, 50.5, 2.25, 140.0, 90.0], [0, 30.0, 20.0, 33.0, 60.0]]
    rois += [[float(torch.randint(0, 2, (1,), generator=g))] +
             sorted((torch.rand(2, generator=g) * 110 - 5).tolist())[:1] +
             sorted((torch.rand(2, generator=g) * 80 - 5).tolist())[:1] for _ in range(10)]
    rois = torch.tensor([r[:3] + [r[1] + 3 + 40 * abs(np.sin(i)), r[2] + 2 + 30 * abs(np.cos(i))]
                         if len(r) == 3 else r for i, r in enumerate(rois)], dtype=torch.float32)
    with h5py.File(os.path.join(out_dir, "roi_align.h5"), "w") as f:
        f.create_dataset("x", data=x.numpy())
        f.create_dataset("rois", data=rois.numpy())
        for j, (oh, ow, sc, sr, al) in enumerate(ROI_ALIGN_CASES):
            y = roi_align(x, rois, (oh, ow), sc, sr, al)
            f.create_dataset(f"out{j}", data=y.numpy())
            c = f.create_group(f"case{j}")
            for k, v in zip(("out_h", "out_w", "scale", "sampling_ratio", "aligned"), (oh, ow, sc, sr, int(al))):
                c.attrs[k] = v


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    roi_align_cases(out_dir)
    for name in sys.argv[2:] or list(CASES):
        run_case(name, out_dir)


if __name__ == "__main__":
    main()
