#!/usr/bin/env python3
"""Write student checkpoints exactly as the reference project
(hnd-ghnd-object-detectors, mimic_runner.py's save_ckpt) saves them:
torch.save in the LEGACY format of a dict {model, optimizer, best_value,
lr_scheduler, config, args}, `args` an argparse.Namespace, the optimizer an
Adam that has taken a step (so its state holds tensors), the scheduler a
MultiStepLR (its milestones a collections.Counter).

The students are torchvision's Faster R-CNN (ResNet-50 FPN, C=3,
Bottleneck4LargeResNet) and Mask R-CNN (ResNet-18 FPN, C=6,
Bottleneck4SmallResNet), random init with a fixed seed, FrozenBN backbones
as the reference's pretrained teachers have, small box heads (fc6 of 256
rows) to keep the files small; backbone.body.layer1 is the reference's
bottleneck with its encoder wrapped in an ExtEncoder (keys
layer1.encoder.encoder.N.*) that carries an early-exit classifier
(layer1.encoder.ext_classifier.*), as its ext configs build it.

usage: make_ref_ckpt.py OUTDIR [--faster-only]   -> OUTDIR/{faster,mask}_ref_student.pth
"""
import refcache  # noqa: E402  (tests/py/refcache.py: reused across the plain and sanitizer passes)
refcache.run_cached(__file__, "dir")
import argparse
import os
import sys

import torch
from torch import nn
import torchvision
from torchvision.models.detection import FasterRCNN, MaskRCNN
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNPredictor


def conv(i, o, pad):
    return nn.Conv2d(i, o, kernel_size=2, padding=pad, bias=False)


class ExtEncoder(nn.Module):
    """The reference's wrapper: the encoder plus an early-exit classifier."""

    def __init__(self, encoder, ext_classifier):
        super().__init__()
        self.encoder = encoder
        self.ext_classifier = ext_classifier


class Bottleneck4ResNet(nn.Module):
    """Large (ResNet-50/101/152: decoder ends with 256 channels) or Small (64)."""

    def __init__(self, c, large):
        super().__init__()
        out = 256 if large else 64
        enc = nn.Sequential(conv(64, 64, 1), nn.BatchNorm2d(64), conv(64, 256, 1), nn.BatchNorm2d(256),
                            nn.ReLU(inplace=True), conv(256, 64, 1), nn.BatchNorm2d(64), conv(64, c, 1))
        self.decoder = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True), conv(c, 64, 0), nn.BatchNorm2d(64),
                                     conv(64, 128, 0), nn.BatchNorm2d(128), nn.ReLU(inplace=True),
                                     conv(128, out, 0), nn.BatchNorm2d(out), conv(out, out, 0),
                                     nn.BatchNorm2d(out), nn.ReLU(inplace=True))
        ch = (2048 if large else 512) // 8   # Ext4ResNet: inplanes // 8
        ext = nn.Module()
        ext.extractor = nn.Sequential(nn.AdaptiveAvgPool2d((64, 64)), nn.Conv2d(ch, ch // 4, 4, 2),
                                      nn.BatchNorm2d(ch // 4), nn.ReLU(inplace=True))
        ext.linear = nn.Linear(ch // 8 * 16, 2)
        self.encoder = ExtEncoder(enc, ext)


def student(mask, depth, c, seed):
    torch.manual_seed(seed)
    backbone = resnet_fpn_backbone(backbone_name='resnet%d' % depth, weights=None, trainable_layers=5)
    heads = dict(num_classes=None, box_head=TwoMLPHead(256 * 7 * 7, 256), box_predictor=FastRCNNPredictor(256, 91))
    if mask:
        heads['mask_predictor'] = MaskRCNNPredictor(256, 256, 91)
    m = (MaskRCNN if mask else FasterRCNN)(backbone, **heads)
    m.backbone.body.layer1 = Bottleneck4ResNet(c, depth >= 50)
    # BN buffers that differ from their init, so a renamed-but-wrong tensor shows
    for mod in m.backbone.body.layer1.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.normal_()
            mod.running_var.uniform_(0.5, 2.0)
            mod.num_batches_tracked.fill_(seed * 10 + 7)
    return m


def save_reference_ckpt(m, c, path, name):
    layer1 = m.backbone.body.layer1
    params = [p for p in layer1.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[5, 15], gamma=0.1)
    loss = sum((p * p).sum() for p in params)
    loss.backward()
    opt.step()
    sched.step()
    config = {
        'dataset': {'name': 'coco2017', 'root': './resource/dataset/coco2017/'},
        'teacher_model': {'name': name, 'params': {'pretrained': True, 'num_classes': 91}},
        'student_model': {'name': name, 'distill_backbone_only': True,
                          'backbone': {'name': 'custom_resnet50',
                                       'params': {'layer1': {'name': 'Bottleneck4LargeResNet',
                                                             'bottleneck_channel': c}},
                                       'ext_config': {'threshold': 0.0}},
                          'ckpt': 'resource/ckpt/student.pt'},
        'train': {'num_epochs': 20, 'batch_size': 4,
                  'optimizer': {'type': 'Adam', 'params': {'lr': 0.001}},
                  'scheduler': {'type': 'MultiStepLR', 'params': {'milestones': [5, 15], 'gamma': 0.1}}},
    }
    args = argparse.Namespace(config='config/hnd/%s-b%dch.yaml' % (name, c), device='cuda', json=None,
                              distill=True, world_size=1, dist_url='env://')
    obj = {'model': m.state_dict(), 'optimizer': opt.state_dict(), 'best_value': 0.3512,
           'lr_scheduler': sched.state_dict(), 'config': config, 'args': args}
    torch.save(obj, path, _use_new_zipfile_serialization=False)


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    save_reference_ckpt(student(False, 50, 3, 1), 3, os.path.join(outdir, 'faster_ref_student.pth'), 'faster_rcnn')
    if '--faster-only' not in sys.argv:
        save_reference_ckpt(student(True, 18, 6, 2), 6, os.path.join(outdir, 'mask_ref_student.pth'), 'mask_rcnn')
    print('wrote reference-format students to', outdir, '(torch %s, torchvision %s)'
          % (torch.__version__, torchvision.__version__))


if __name__ == '__main__':
    main()
