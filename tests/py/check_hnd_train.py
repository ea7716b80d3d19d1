#!/usr/bin/env python3
"""Checks of tests/test_hnd_train.sh on the checkpoints it wrote.

Usage: check_hnd_train.py TEACHER.h5 REF_DIR OTHER_DIR...

- REF_DIR/last.h5 (an uninterrupted run): every tensor outside conv1 and
  layer1 is bit-identical to the teacher's (frozen modules never change);
  the bottleneck is there, the teacher's layer1 is not; conv1 changed;
  the optimizer state, epoch and config are stored;
- each OTHER_DIR/last.h5 (interrupted + resumed runs) equals REF_DIR/last.h5
  bit for bit: weights, BN running statistics and optimizer state;
- the student loads into torchvision's detector (with the reference's
  layer1 module) with load_state_dict(strict=True).
"""
import sys

import h5py
import numpy as np

teacher, ref, others = sys.argv[1], sys.argv[2], sys.argv[3:]


def load(path, group):
    with h5py.File(path, "r") as f:
        return {k: v[()] for k, v in f[group].items()}


t = load(teacher, "weights")
a = load(ref + "/last.h5", "weights")
L1 = "backbone.body.layer1."
n_frozen = 0
for k, v in t.items():
    if k.startswith(L1):
        assert k not in a, "teacher's %s in the student" % k
        continue
    assert k in a, "missing %s" % k
    if k == "backbone.body.conv1.weight":
        assert not np.array_equal(v, a[k]), "conv1 did not train"
        continue
    assert v.dtype == a[k].dtype and np.array_equal(v, a[k]), "frozen %s changed" % k
    n_frozen += 1
stu = [k for k in a if k.startswith(L1)]
assert len(stu) == 40, stu
print("frozen tensors bit-identical to the teacher: %d; bottleneck tensors: %d" % (n_frozen, len(stu)))
tr = load(ref + "/last.h5", "train")
assert any(k.startswith("optim.") for k in tr), list(tr)
with h5py.File(ref + "/last.h5", "r") as f:
    assert "config" in f.attrs and "Bottleneck4SmallResNet" in f.attrs["config"]
    print("epoch", int(tr["epoch"]), "iteration", int(tr["iteration"]), "steps", int(tr["global_step"]))

for o in others:
    b = load(o + "/last.h5", "weights")
    assert sorted(a) == sorted(b)
    diff = [k for k in a if not np.array_equal(a[k], b[k])]
    assert not diff, "%s differs from %s in %d tensors, e.g. %s" % (o, ref, len(diff), diff[:3])
    tb = load(o + "/last.h5", "train")
    for k, v in tr.items():
        if k in ("loss_sum", "loss_count"):
            continue
        assert k in tb and np.array_equal(v, tb[k]), "%s: /train/%s differs" % (o, k)
    print("%s: identical to %s (weights, BN statistics, optimizer state)" % (o, ref))

# the student is a complete torchvision state dict with the reference's layer1
import torch
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from ref_bottleneck import Student  # noqa: E402  (the reference's module, Small: large=False)

bb = resnet_fpn_backbone(backbone_name="resnet18", weights=None, trainable_layers=3)
bb.body.layer1 = Student(3, False)
m = FasterRCNN(bb, num_classes=22)
m.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in a.items()}, strict=True)
print("loads into torchvision (strict)")
