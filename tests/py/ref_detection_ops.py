"""Reference values of torchvision.ops for tests/test_detection_ops.c.

usage: ref_detection_ops.py OUT.h5
Writes random inputs and torchvision's outputs under /ops/<case>.<name>:
roi_align (forward and the gradient w.r.t. the features for a given output
gradient), a multi-level RoIAlign composed like MultiScaleRoIAlign, nms,
batched_nms on both of its code paths, box_iou, clip, remove_small_boxes.
"""
import refcache  # noqa: E402  (tests/py/refcache.py: reused across the plain and sanitizer passes)
refcache.run_cached(__file__, "file")
import sys

import h5py
import numpy as np
import torch
import torchvision.ops as ops

torch.manual_seed(1234)
out = {}


def put(name, t):
    out[name] = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def random_rois(K, B, W, H, scale):
    """Boxes in image coordinates, some of them partly or wholly outside."""
    iw, ih = W / scale, H / scale
    xy = torch.rand(K, 2) * torch.tensor([iw * 1.1, ih * 1.1]) - torch.tensor([iw * 0.05, ih * 0.05])
    wh = torch.rand(K, 2) * torch.tensor([iw * 0.6, ih * 0.6])
    b = torch.randint(0, B, (K, 1)).float()
    rois = torch.cat([b, xy, xy + wh], 1)
    special = torch.tensor([[0, 0, 0, 0.5, 0.5], [0, -20, -20, -5, -5], [0, iw - 3, ih - 3, iw + 40, ih + 40],
                            [B - 1, 0, 0, iw, ih], [0, 10, 10, 10, 10], [B - 1, -3, 2, 1.5, ih + 2]])
    rois[: len(special)] = special
    return rois


# roi_align: (B, C, H, W, K, out, scale, sampling, aligned)
cases = [
    (2, 8, 13, 17, 60, (7, 7), 0.25, 2, False),
    (1, 5, 20, 11, 40, (14, 14), 0.125, 2, False),
    (2, 3, 9, 9, 30, (3, 5), 1.0, 3, True),
    (1, 4, 16, 24, 25, (7, 7), 0.0625, 1, False),
]
for i, (B, C, H, W, K, os_, sc, sr, al) in enumerate(cases):
    x = torch.randn(B, C, H, W, requires_grad=True)
    rois = random_rois(K, B, W, H, sc)
    y = ops.roi_align(x, rois, os_, sc, sr, al)
    g = torch.randn_like(y)
    (gx,) = torch.autograd.grad(y, x, g)
    p = f"ra{i}."
    put(p + "x", x)
    put(p + "rois", rois)
    put(p + "params", np.array([sc, os_[0], os_[1], sr, int(al)], dtype=np.float64))
    put(p + "y", y)
    put(p + "gy", g)
    put(p + "gx", gx)

# multi-level: 4 levels of an image 2x(64x96), strides 4..32, level mapper
B, C = 2, 6
feats = [torch.randn(B, C, 64 // s, 96 // s, requires_grad=True) for s in (4, 8, 16, 32)]
scales = [0.25, 0.125, 0.0625, 0.03125]
rois = random_rois(50, B, 96 * 0.25, 64 * 0.25, 0.25)
area = (rois[:, 3] - rois[:, 1]) * (rois[:, 4] - rois[:, 2])
lv = torch.floor(4 + torch.log2(torch.sqrt(area) / 224) + torch.tensor(1e-6)).clamp(2, 5).long() - 2
lv = (lv + torch.randint(0, 4, lv.shape)) % 4  # use all levels, whatever the sizes
y = torch.zeros(50, C, 7, 7)
for l in range(4):
    idx = torch.where(lv == l)[0]
    y[idx] = ops.roi_align(feats[l], rois[idx], (7, 7), scales[l], 2, False)
g = torch.randn_like(y)
grads = torch.autograd.grad(y, feats, g)
for l in range(4):
    put(f"ml.x{l}", feats[l])
    put(f"ml.gx{l}", grads[l])
put("ml.rois", rois)
put("ml.levels", lv)
put("ml.scales", np.array(scales))
put("ml.y", y)
put("ml.gy", g)


def random_boxes(n, size=100.0):
    xy = torch.rand(n, 2) * size
    wh = torch.rand(n, 2) * size * 0.3 + 0.5
    return torch.cat([xy, xy + wh], 1)


# nms
for i, (n, thr) in enumerate([(200, 0.5), (1500, 0.7), (50, 0.3)]):
    boxes = random_boxes(n)
    scores = torch.rand(n)
    put(f"nms{i}.boxes", boxes)
    put(f"nms{i}.scores", scores)
    put(f"nms{i}.thr", np.array(thr))
    put(f"nms{i}.keep", ops.nms(boxes, scores, thr))
# batched_nms: 600 boxes (coordinate trick) and 3000 (per-category loop)
for i, (n, ncls, thr) in enumerate([(600, 5, 0.5), (3000, 12, 0.5), (1200, 3, 0.7)]):
    boxes = random_boxes(n, 300.0)
    scores = torch.rand(n)
    idxs = torch.randint(0, ncls, (n,))
    put(f"bnms{i}.boxes", boxes)
    put(f"bnms{i}.scores", scores)
    put(f"bnms{i}.idxs", idxs)
    put(f"bnms{i}.thr", np.array(thr))
    put(f"bnms{i}.keep", ops.batched_nms(boxes, scores, idxs, thr))
# box helpers
a, b = random_boxes(30), random_boxes(20)
put("iou.a", a)
put("iou.b", b)
put("iou.iou", ops.box_iou(a, b))
c = random_boxes(40, 120.0) - 10.0
c[:5, 2] = c[:5, 0] + 0.005
put("clip.boxes", c)
put("clip.out", ops.clip_boxes_to_image(c, (90, 70)))
put("small.keep", ops.remove_small_boxes(c, 0.01))

with h5py.File(sys.argv[1], "w") as f:
    g = f.create_group("ops")
    for k, v in out.items():
        g.create_dataset(k, data=v)
