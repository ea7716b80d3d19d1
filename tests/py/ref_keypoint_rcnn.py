"""Reference outputs of torchvision 0.14's Keypoint R-CNN for
tests/test_keypoint_rcnn.c.

usage: ref_keypoint_rcnn.py OUT_DIR [CASE...]      (default: every case)

OUT_DIR/ops.h5 (always): the keypoint functions on their own, inputs drawn
here, outputs from torchvision.models.detection.roi_heads:
  /h2k/maps [R,K,56,56], /h2k/rois [R,4] (small, fractional, sub-pixel and
      wide boxes), /h2k/keypoints [R,K,3], /h2k/scores [R,K]
      (heatmaps_to_keypoints)
  /k2h/keypoints [R,K,3], /k2h/rois [R,4] (points inside, outside, on the
      right/bottom edges, visibility 0/1/2), /k2h/heatmaps, /k2h/valid int64
      [R,K] (keypoints_to_heatmap, size 56)
  /loss/logits [R,K,56,56], /loss/prop<i>, /loss/midx<i>, /loss/gt<i> (two
      images), /loss/value (keypointrcnn_loss), /loss/grad (d value / d logits)
  /loss_none/...: the same with no visible keypoint (the 0 * sum branch)

For each detector case (ref_rcnn.build: fixed seed, calibrated frozen BN,
decisive scores), the state dict: OUT_DIR/<case>.pth (R-18), or for R-50
OUT_DIR/keypointrcnn_resnet50_fpn_coco-fc266e95.pth, under the COCO
checkpoint's name, with its torchvision < 0.13 key names and in the legacy
zip-less format (one 240 MB file, not two); and OUT_DIR/<case>.h5:
  /case attrs: arch, min_size, max_size, n, detections_per_img
  /img<i>, /det<i>/{boxes,scores,labels,keypoints,keypoints_scores}
"""
import refcache  # noqa: E402  (tests/py/refcache.py: reused across the plain and sanitizer passes)
refcache.run_cached(__file__, "dir")
import os
import sys

import h5py
import numpy as np
import torch
from torchvision.models.detection.roi_heads import (heatmaps_to_keypoints, keypointrcnn_loss,
                                                    keypoints_to_heatmap)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ref_rcnn import build, legacy_key, make_image  # noqa: E402

torch.set_num_threads(int(os.environ.get("HND_THREADS", "0")) or os.cpu_count())

DETS = 4   # box_detections_per_img: the 8 x 512 head (37 GMAC per 10 boxes) runs on each
# name: (depth, min_size, max_size, image sizes (h, w) of one batch, person
# logit bias: with two classes the calibrated scores are mostly background
# or saturate near 1; the bias spreads the kept ones)
CASES = {
    "keypoint_r18_small": (18, 320, 512, [(250, 330), (300, 220)], 3.0),
    "keypoint_r50_small": (50, 320, 512, [(280, 400)], -6.0),
}


def boxes_like(g, r, w=300.0, h=200.0):
    """r boxes: a few hand-picked shapes (sub-pixel, fractional, wide) then random ones."""
    fixed = [[10.0, 20.0, 10.4, 20.3], [3.25, 7.5, 60.75, 33.1], [0.0, 0.0, 299.0, 199.0], [50.0, 60.0, 51.0, 61.0]]
    out = fixed[:r]
    while len(out) < r:
        x1, y1 = float(torch.rand(1, generator=g)) * w * 0.7, float(torch.rand(1, generator=g)) * h * 0.7
        out.append([x1, y1, x1 + 2 + float(torch.rand(1, generator=g)) * w * 0.3,
                    y1 + 2 + float(torch.rand(1, generator=g)) * h * 0.3])
    return torch.tensor(out, dtype=torch.float32)


def keypoints_in(g, rois, k):
    """k keypoints per roi: inside, a few outside, some exactly on x2 / y2,
    visibility 0, 1 or 2."""
    r = len(rois)
    u = torch.rand(r, k, 2, generator=g) * 1.3 - 0.15
    x = rois[:, 0:1] + u[..., 0] * (rois[:, 2:3] - rois[:, 0:1])
    y = rois[:, 1:2] + u[..., 1] * (rois[:, 3:4] - rois[:, 1:2])
    x[:, 0] = rois[:, 2]
    y[:, 1] = rois[:, 3]
    x[:, 2], y[:, 2] = rois[:, 0], rois[:, 1]
    v = torch.randint(0, 3, (r, k), generator=g).float()
    return torch.stack([x, y, v], dim=2)


def ops(out_dir):
    g = torch.Generator().manual_seed(17)
    K = 17
    with h5py.File(os.path.join(out_dir, "ops.h5"), "w") as f:
        rois = boxes_like(g, 9)
        maps = torch.randn(9, K, 56, 56, generator=g)
        maps[3, 4] = 0.25   # a flat map: the first maximum wins
        kp, sc = heatmaps_to_keypoints(maps, rois)
        for k, v in (("maps", maps), ("rois", rois), ("keypoints", kp), ("scores", sc)):
            f.create_dataset(f"h2k/{k}", data=v.numpy())
        rois = boxes_like(g, 12)
        kps = keypoints_in(g, rois, K)
        hm, valid = keypoints_to_heatmap(kps, rois, 56)
        for k, v in (("keypoints", kps), ("rois", rois), ("heatmaps", hm), ("valid", valid)):
            f.create_dataset(f"k2h/{k}", data=v.numpy())
        for grp, visible in (("loss", True), ("loss_none", False)):
            props, midx, gts = [], [], []
            for i, (r, G) in enumerate(((5, 3), (4, 2))):
                p = boxes_like(g, r)
                gt = keypoints_in(g, p[:G], K)
                if not visible:
                    gt[..., 2] = 0
                props.append(p)
                midx.append(torch.randint(0, G, (r,), generator=g))
                gts.append(gt)
            logits = torch.randn(9, K, 56, 56, generator=g, requires_grad=True)
            loss = keypointrcnn_loss(logits, props, gts, midx)
            loss.backward()
            f.create_dataset(f"{grp}/logits", data=logits.detach().numpy())
            for i in range(2):
                f.create_dataset(f"{grp}/prop{i}", data=props[i].numpy())
                f.create_dataset(f"{grp}/midx{i}", data=midx[i].numpy())
                f.create_dataset(f"{grp}/gt{i}", data=gts[i].numpy())
            f.create_dataset(f"{grp}/value", data=np.float64(loss.item()))
            f.create_dataset(f"{grp}/grad", data=logits.grad.numpy())
            print(f"keypointrcnn_loss ({grp}): {loss.item():.7f}")


def run_case(name, out_dir):
    depth, min_size, max_size, sizes, person_bias = CASES[name]
    seed = sum(map(ord, name))
    model = build("keypoint", depth, min_size, max_size, seed, box_detections_per_img=DETS)
    with torch.no_grad():
        model.roi_heads.box_predictor.cls_score.bias[1] += person_bias
    sd = model.state_dict()
    if depth == 50:
        legacy = {legacy_key(k): v for k, v in sd.items()}
        torch.save(legacy, os.path.join(out_dir, "keypointrcnn_resnet50_fpn_coco-fc266e95.pth"),
                   _use_new_zipfile_serialization=False)
    else:
        torch.save(sd, os.path.join(out_dir, name + ".pth"))
    g = torch.Generator().manual_seed(seed + 2)
    images = [make_image(h, w, g) for h, w in sizes]
    with torch.no_grad():
        dets = model(images)
    with h5py.File(os.path.join(out_dir, name + ".h5"), "w") as f:
        c = f.create_group("case")
        c.attrs["arch"] = f"keypoint_rcnn_resnet{depth}_fpn"
        c.attrs["min_size"] = min_size
        c.attrs["max_size"] = max_size
        c.attrs["n"] = len(images)
        c.attrs["detections_per_img"] = DETS
        for i, (img, d) in enumerate(zip(images, dets)):
            f.create_dataset(f"img{i}", data=img.numpy())
            for k in ("boxes", "scores", "labels", "keypoints", "keypoints_scores"):
                f.create_dataset(f"det{i}/{k}", data=d[k].numpy())
            print(f"{name}: image {i} {tuple(img.shape)}: {len(d['boxes'])} detections, "
                  f"scores {d['scores'][:3].tolist()}, keypoint scores {d['keypoints_scores'][:1, :3].tolist()}")


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    ops(out_dir)
    for name in sys.argv[2:] or list(CASES):
        run_case(name, out_dir)


if __name__ == "__main__":
    main()
