#!/usr/bin/env python3
"""torchvision 0.14's side of `hnd train-teacher` on an `hnd synth` set, for
comparing training curves (not a benchmark of speed): the demo teacher's
model (Mask R-CNN, ResNet-18 FPN with trainable BatchNorm, 64 FPN channels,
representation size 256, mask head 64, torchvision's initialisation), SGD
momentum 0.9 / weight decay 1e-4, the reference's linear warm-up over the
first epoch, lr x0.1 at a milestone, batch 4, flips with p 0.5. Prints the
mean of each loss over every 12 iterations, as `hnd train-teacher` logs them
with log_freq 12, and writes the validation detections as COCO results
(evaluate them with `hnd eval`).

usage: teacher_train_ref.py SYNTH_DIR ITERATIONS RESULTS.json
         [--min-size 120] [--max-size 160] [--anchors 8,16,32,64,128]
         [--lr 0.02] [--milestone ITER] [--threads N]"""
import argparse
import json
import random

import numpy as np
import torch
import torchvision
from PIL import Image, ImageDraw
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor

ap = argparse.ArgumentParser()
ap.add_argument("root")
ap.add_argument("iterations", type=int)
ap.add_argument("results")
ap.add_argument("--min-size", type=int, default=120)
ap.add_argument("--max-size", type=int, default=160)
ap.add_argument("--anchors", default="8,16,32,64,128")
ap.add_argument("--lr", type=float, default=0.02)
ap.add_argument("--milestone", type=int, default=None, help="iteration of the x0.1 drop")
ap.add_argument("--threads", type=int, default=torch.get_num_threads())
a = ap.parse_args()
torch.manual_seed(0)
random.seed(0)
torch.set_num_threads(a.threads)

r18 = torchvision.models.resnet18(weights=None, norm_layer=torch.nn.BatchNorm2d)
body = {"layer1": "0", "layer2": "1", "layer3": "2", "layer4": "3"}
bb = BackboneWithFPN(r18, body, [64, 128, 256, 512], 64)
ag = AnchorGenerator(tuple((int(s),) for s in a.anchors.split(",")), ((0.5, 1.0, 2.0),) * 5)
m = MaskRCNN(bb, num_classes=None, min_size=a.min_size, max_size=a.max_size, rpn_anchor_generator=ag,
             box_head=TwoMLPHead(64 * 49, 256), box_predictor=FastRCNNPredictor(256, 22),
             mask_head=MaskRCNNHeads(64, (64,) * 4, 1), mask_predictor=MaskRCNNPredictor(64, 64, 22),
             rpn_pre_nms_top_n_train=1000, rpn_post_nms_top_n_train=500, box_batch_size_per_image=128,
             rpn_pre_nms_top_n_test=500, rpn_post_nms_top_n_test=300, box_detections_per_img=50)

tr = json.load(open(a.root + "/annotations/instances_train.json"))
anns = {}
for x in tr["annotations"]:
    anns.setdefault(x["image_id"], []).append(x)
imgs = [i for i in tr["images"] if i["id"] in anns]
opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=a.lr, momentum=0.9, weight_decay=1e-4)
per_epoch = len(imgs) // 4
warm = min(1000, per_epoch - 1)


def sample(i):
    im = torchvision.transforms.functional.to_tensor(Image.open(a.root + "/train/" + i["file_name"]).convert("RGB"))
    boxes, labels, masks = [], [], []
    for x in anns[i["id"]]:
        b = x["bbox"]
        boxes.append([b[0], b[1], b[0] + b[2], b[1] + b[3]])
        labels.append(x["category_id"])
        mk = Image.new("L", (i["width"], i["height"]), 0)
        for poly in x["segmentation"]:
            ImageDraw.Draw(mk).polygon(poly, fill=1)
        masks.append(torch.from_numpy(np.array(mk)))
    t = {"boxes": torch.tensor(boxes, dtype=torch.float32), "labels": torch.tensor(labels),
         "masks": torch.stack(masks)}
    if random.random() < 0.5:
        im = im.flip(-1)
        w = im.shape[-1]
        fb = t["boxes"].clone()
        fb[:, 0], fb[:, 2] = w - t["boxes"][:, 2], w - t["boxes"][:, 0]
        t["boxes"], t["masks"] = fb, t["masks"].flip(-1)
    return im, t


m.train()
acc = []
for it in range(a.iterations):
    if it % per_epoch == 0:
        random.shuffle(imgs)
    f = 1.0 if it >= warm else 0.001 * (1 - it / warm) + it / warm
    lr = a.lr * (0.1 if a.milestone is not None and it >= a.milestone else 1.0) * f
    for g in opt.param_groups:
        g["lr"] = lr
    k = (it % per_epoch) * 4
    batch = [sample(i) for i in imgs[k:k + 4]]
    losses = m([b[0] for b in batch], [b[1] for b in batch])
    loss = sum(losses.values())
    opt.zero_grad()
    loss.backward()
    opt.step()
    acc.append({k.replace("loss_", ""): v.item() for k, v in losses.items()} | {"loss": loss.item()})
    if (it + 1) % 12 == 0:
        mean = {k: sum(d[k] for d in acc) / len(acc) for k in acc[0]}
        print(it + 1, " ".join("%s %.4f" % kv for kv in mean.items()), "lr %.3g" % lr, flush=True)
        acc = []

m.eval()
val = json.load(open(a.root + "/annotations/instances_val.json"))
res = []
with torch.no_grad():
    for i in val["images"]:
        im = torchvision.transforms.functional.to_tensor(Image.open(a.root + "/val/" + i["file_name"]).convert("RGB"))
        o = m([im])[0]
        for b, s, l in zip(o["boxes"].tolist(), o["scores"].tolist(), o["labels"].tolist()):
            res.append({"image_id": i["id"], "category_id": l, "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                        "score": s})
json.dump(res, open(a.results, "w"))
print("wrote %d detections to %s" % (len(res), a.results))
