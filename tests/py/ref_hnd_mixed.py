"""Reference for tests/test_hnd_mixed.c: one batch of the reference's HND
with org_loss_factor > 0 and distill_backbone_only false
(hnd-ghnd-object-detectors: DistillationBox.forward + GeneralizedCustomLoss),
computed with torchvision 0.14.

usage: ref_hnd_mixed.py OUT_DIR [faster|mask ...]

Per case, a small ResNet-18 FPN detector (FPN 64, representation 256, mask
head 4 x 64, anchors 8..128, 22 classes; plausible frozen BN statistics) as
the teacher, and a student: the same detector with backbone.body.layer1 the
reference's Bottleneck4SmallResNet (C=3, trainable BatchNorm2d), frozen as
HND freezes it (layer2..4, FPN, RPN, RoI heads). Both samplers take every
candidate (batch_size_per_image 100000), so the losses do not depend on
randperm. teacher.eval(); student.train(); teacher(images) and
student(images, targets) with forward hooks on layer1 and layer4 of both;
loss = MSE_sum(layer1) + MSE_sum(layer4) + 5000 * sum(student's loss dict);
loss.backward().

OUT_DIR/<case>_teacher.h5, <case>_student.h5: /weights/<key> (hnd's layout)
OUT_DIR/<case>_ref.h5: /img<i> float32 [3,H,W]; /tgt<i>/boxes, labels,
  masks; /loss/total, /loss/distill, /loss/<torchvision name>;
  /grad/<key> of every trainable student parameter."""
import refcache  # noqa: E402  (tests/py/refcache.py: reused across the plain and sanitizer passes)
refcache.run_cached(__file__, "dir")
import os
import sys

import h5py
import torch
import torchvision
from torchvision.models.detection import FasterRCNN, MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.ops.misc import FrozenBatchNorm2d

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ref_bottleneck import Student  # noqa: E402

torch.set_num_threads(int(os.environ.get("HND_THREADS", "0")) or os.cpu_count())
F, R, M, K = 64, 256, 64, 22
ORG = 5000.0   # the detection losses weigh as much as the terms: both gradients count
BIG = 100000


def build(mask, student, gen):
    body = torchvision.models.resnet18(weights=None, norm_layer=FrozenBatchNorm2d)
    bb = BackboneWithFPN(body, {"layer%d" % i: str(i - 1) for i in range(1, 5)}, [64, 128, 256, 512], F)
    kw = dict(rpn_anchor_generator=AnchorGenerator(((8,), (16,), (32,), (64,), (128,)), ((0.5, 1.0, 2.0),) * 5),
              box_head=TwoMLPHead(F * 49, R), box_predictor=FastRCNNPredictor(R, K), min_size=64, max_size=96,
              rpn_batch_size_per_image=BIG, box_batch_size_per_image=BIG)
    if mask:
        kw.update(mask_head=MaskRCNNHeads(F, (M,) * 4, 1), mask_predictor=MaskRCNNPredictor(M, M, K))
    model = (MaskRCNN if mask else FasterRCNN)(bb, num_classes=None, **kw)
    if student:
        model.backbone.body.layer1 = Student(3, False)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (FrozenBatchNorm2d, torch.nn.BatchNorm2d)):
                c = m.weight.shape[0]
                m.weight.copy_(torch.rand(c, generator=gen) * 0.5 + 0.5)
                m.bias.copy_(torch.randn(c, generator=gen) * 0.1)
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
    return model


def save_weights(model, path):
    with h5py.File(path, "w") as f:
        g = f.create_group("weights")
        for k, v in model.state_dict().items():
            if not k.endswith("num_batches_tracked"):
                g.create_dataset(k, data=v.detach().numpy())


def smooth_image(h, w, gen):
    base = torch.rand(3, (h + 7) // 8, (w + 7) // 8, generator=gen)
    img = torch.nn.functional.interpolate(base[None], size=(h, w), mode="bilinear", align_corners=False)[0]
    return (img + 0.05 * torch.rand(3, h, w, generator=gen)).clamp(0, 1)


def run(out, case):
    mask = case == "mask"
    torch.manual_seed(16)
    gen = torch.Generator().manual_seed(160)
    teacher = build(mask, False, gen)
    student = build(mask, True, gen)
    # HND's student shares every tensor outside layer1 with the teacher
    sd = {k: v for k, v in teacher.state_dict().items() if not k.startswith("backbone.body.layer1.")}
    student.load_state_dict(sd, strict=False)
    save_weights(teacher, os.path.join(out, case + "_teacher.h5"))
    save_weights(student, os.path.join(out, case + "_student.h5"))
    frozen = ("backbone.body.layer2", "backbone.body.layer3", "backbone.body.layer4", "backbone.fpn", "rpn",
              "roi_heads")
    for n, p in teacher.named_parameters():
        p.requires_grad_(False)
    for n, p in student.named_parameters():
        p.requires_grad_(not n.startswith(frozen))
    images = [smooth_image(60, 80, gen), smooth_image(72, 64, gen)]
    targets = []
    for (h, w), boxes, labels in (((60, 80), [[4, 6, 40, 50], [30, 10, 76, 44], [50, 30, 70, 58]], [3, 7, 12]),
                                  ((72, 64), [[8, 12, 56, 60], [2, 40, 30, 70]], [5, 21])):
        t = {"boxes": torch.tensor(boxes, dtype=torch.float32), "labels": torch.tensor(labels, dtype=torch.int64)}
        if mask:
            mk = torch.zeros(len(boxes), h, w, dtype=torch.uint8)
            for i, (x1, y1, x2, y2) in enumerate(boxes):
                mk[i, y1 + 2:y2 - 2, x1 + 3:x2 - 1] = 1
            t["masks"] = mk
        targets.append(t)
    outs = {}

    def hook(name):
        def f(mod, inp, output):
            outs[name] = output
        return f

    for who, m in (("t", teacher), ("s", student)):
        m.backbone.body.layer1.register_forward_hook(hook(who + "1"))
        m.backbone.body.layer4.register_forward_hook(hook(who + "4"))
    teacher.eval()
    student.train()
    with torch.no_grad():
        teacher(images)
    loss_dict = student(images, targets)
    mse = torch.nn.MSELoss(reduction="sum")
    distill = mse(outs["s1"], outs["t1"]) + mse(outs["s4"], outs["t4"])
    total = distill + ORG * sum(loss for loss in loss_dict.values())
    total.backward()
    with h5py.File(os.path.join(out, case + "_ref.h5"), "w") as f:
        for i, (im, t) in enumerate(zip(images, targets)):
            f.create_dataset("img%d" % i, data=im.numpy())
            for k, v in t.items():
                f.create_dataset("tgt%d/%s" % (i, k), data=v.numpy())
        f.create_dataset("loss/total", data=total.double().item())
        f.create_dataset("loss/distill", data=distill.double().item())
        for k, v in loss_dict.items():
            f.create_dataset("loss/" + k, data=v.double().item())
        for n, p in student.named_parameters():
            if p.requires_grad:
                f.create_dataset("grad/" + n, data=p.grad.numpy())
    print("%s: total %.6f distill %.6f %s" % (case, total.item(), distill.item(),
                                               {k: round(v.item(), 6) for k, v in loss_dict.items()}))


out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for case in sys.argv[2:] or ["faster", "mask"]:
    run(out, case)
