#!/usr/bin/env python3
"""The training step of bench_teacher_step in torchvision 0.14: the model in
training mode on fixed synthetic batches (three objects per image at fixed
fractions of its size, filled-box masks), the sum of the losses
backpropagated, SGD lr 0.02 momentum 0.9 weight decay 1e-4. Prints one time
per measured step (seconds); the first step warms up.

usage: teacher_step_ref.py mask_r18|faster_r50 STEPS THREADS [channels_last]
  mask_r18:   the demo teacher as bench/teacher_train_ref.py builds it
              (ResNet-18 FPN 64, trainable BN, 22 classes), batch 4 at 120x160
  faster_r50: Faster R-CNN R50-FPN as fasterrcnn_resnet50_fpn builds it for
              pretrained weights (FrozenBatchNorm2d, trainable_backbone_layers
              3, 91 classes), randomly initialised, batch 2 at 800x1067"""
import sys
import time

import torch
import torchvision
from torchvision.models.detection import FasterRCNN, MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN, _resnet_fpn_extractor
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.ops.misc import FrozenBatchNorm2d

name, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
cl = len(sys.argv) > 4 and sys.argv[4] == "channels_last"
torch.set_num_threads(threads)
torch.manual_seed(0)
if name == "mask_r18":
    r18 = torchvision.models.resnet18(weights=None, norm_layer=torch.nn.BatchNorm2d)
    bb = BackboneWithFPN(r18, {"layer1": "0", "layer2": "1", "layer3": "2", "layer4": "3"}, [64, 128, 256, 512], 64)
    ag = AnchorGenerator(((8,), (16,), (32,), (64,), (128,)), ((0.5, 1.0, 2.0),) * 5)
    m = MaskRCNN(bb, num_classes=None, min_size=120, max_size=160, rpn_anchor_generator=ag,
                 box_head=TwoMLPHead(64 * 49, 256), box_predictor=FastRCNNPredictor(256, 22),
                 mask_head=MaskRCNNHeads(64, (64,) * 4, 1), mask_predictor=MaskRCNNPredictor(64, 64, 22),
                 rpn_pre_nms_top_n_train=1000, rpn_post_nms_top_n_train=500, box_batch_size_per_image=128,
                 rpn_pre_nms_top_n_test=500, rpn_post_nms_top_n_test=300, box_detections_per_img=50)
    n, h, w, masks = 4, 120, 160, True
elif name == "faster_r50":
    # fasterrcnn_resnet50_fpn as with pretrained weights (FrozenBatchNorm2d,
    # layer2..4 trainable), the model hnd's default config builds; without
    # weights torchvision's builder would switch to BatchNorm2d and train all
    r50 = torchvision.models.resnet50(weights=None, norm_layer=FrozenBatchNorm2d)
    m = FasterRCNN(_resnet_fpn_extractor(r50, 3), num_classes=91)
    n, h, w, masks = 2, 800, 1067, False
else:
    sys.exit("teacher_step_ref: unknown model " + name)
if cl:
    m = m.to(memory_format=torch.channels_last)
m.train()
fr = [(.10, .15, .45, .60), (.50, .20, .90, .70), (.30, .55, .65, .95)]
imgs, tgts = [], []
for i in range(n):
    imgs.append(torch.rand(3, h, w))
    boxes = torch.tensor([[a * w, b * h, c * w, d * h] for a, b, c, d in fr], dtype=torch.float32)
    t = {"boxes": boxes, "labels": torch.tensor([1 + k + i % 3 for k in range(3)])}
    if masks:
        mk = torch.zeros(3, h, w, dtype=torch.uint8)
        for k, (x0, y0, x1, y1) in enumerate(boxes.tolist()):
            mk[k, int(y0):int(y1), int(x0):int(x1)] = 1
        t["masks"] = mk
    tgts.append(t)
opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.02, momentum=0.9, weight_decay=1e-4)
for k in range(steps + 1):
    t0 = time.perf_counter()
    losses = m(imgs, tgts)
    loss = sum(losses.values())
    opt.zero_grad()
    loss.backward()
    opt.step()
    dt = time.perf_counter() - t0
    if k:
        print("%.4f" % dt, flush=True)
    else:
        print("torch %s step 0 (warm-up): %.2f s, loss %.5g" % (name, dt, loss.item()), file=sys.stderr)
