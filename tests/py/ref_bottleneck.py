#!/usr/bin/env python3
"""Reference values for tests/test_bottleneck.c, computed with PyTorch 1.13.

Usage: ref_bottleneck.py OUTDIR

Builds the reference project's Bottleneck4LargeResNet / Bottleneck4SmallResNet
(hnd-ghnd-object-detectors, src/models/mimic/resnet_layer.py: an encoder and a
decoder nn.Sequential; the Small decoder ends with 64 channels as ResNet-18/34
need), and writes:

  OUTDIR/shapes.json   for each kind and C: every state_dict key of the
                       module under "backbone.body.layer1." with its shape,
                       and the number of parameter elements
  OUTDIR/<case>.h5     /weights/<key> (plausible BN statistics) and group
                       "ref": x (input), z (encoder, eval), y (decoder, eval),
                       y8 (8-bit quantize/dequantize in between, the
                       reference's quantize_tensor), y16 (half in between),
                       q8 (the uint8 bottleneck), q8_scale, q8_zp,
                       ytrain (train-mode forward), rm_enc1 / rv_enc1 (running
                       stats of encoder.1 after it), g_enc0 (grad of
                       encoder.0.weight of sum(ytrain^2)).
Cases: large3 (Large, C=3, x [2,64,13,17]) and small6 (Small, C=6, x [1,64,9,8]).
"""
import json
import os
import sys

import h5py
import torch
from torch import nn



class Student(nn.Module):
    def __init__(self, c, large):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(64, 64, kernel_size=2, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.Conv2d(64, 256, kernel_size=2, padding=1, bias=False),
            nn.BatchNorm2d(256),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 64, kernel_size=2, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.Conv2d(64, c, kernel_size=2, padding=1, bias=False))
        d = 256 if large else 64
        self.decoder = nn.Sequential(
            nn.BatchNorm2d(c),
            nn.ReLU(inplace=True),
            nn.Conv2d(c, 64, kernel_size=2, bias=False),
            nn.BatchNorm2d(64),
            nn.Conv2d(64, 128, kernel_size=2, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, d, kernel_size=2, bias=False),
            nn.BatchNorm2d(d),
            nn.Conv2d(d, d, kernel_size=2, bias=False),
            nn.BatchNorm2d(d),
            nn.ReLU(inplace=True))

    def forward(self, x, bits=0):
        z = self.encoder(x)
        if bits == 8:
            z = dequantize(*quantize(z))
        elif bits == 16:
            z = z.half().float()
        return self.decoder(z)


# the reference's myutils.pytorch.tensor_util.quantize_tensor / dequantize_tensor
def quantize(x, num_bits=8):
    qmin = 0.
    qmax = 2. ** num_bits - 1.
    min_val, max_val = x.min(), x.max()
    scale = (max_val - min_val) / (qmax - qmin)
    initial_zero_point = qmin - min_val / scale
    if initial_zero_point < qmin:
        zero_point = qmin
    elif initial_zero_point > qmax:
        zero_point = qmax
    else:
        zero_point = initial_zero_point
    zero_point = int(zero_point)
    qx = zero_point + x / scale
    qx.clamp_(qmin, qmax).round_()
    qx = qx.round().byte()
    return qx, scale, zero_point


def dequantize(qx, scale, zero_point):
    return scale * (qx.float() - zero_point)


def main():
    OUT = sys.argv[1] if len(sys.argv) > 1 else "ref_bottleneck"
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    PREFIX = "backbone.body.layer1."
    shapes = {}
    for large in (True, False):
        for c in (1, 2, 3, 6, 9, 12, 15, 24, 64):
            m = Student(c, large)
            sd = m.state_dict()
            kind = "large" if large else "small"
            shapes["%s%d" % (kind, c)] = {
                "keys": [[PREFIX + k, list(v.shape)] for k, v in sd.items()
                         if not k.endswith("num_batches_tracked")],
                "params": sum(p.numel() for p in m.parameters()),
            }
    with open(os.path.join(OUT, "shapes.json"), "w") as f:
        json.dump(shapes, f)


    def plausible(m, gen):
        with torch.no_grad():
            for mod in m.modules():
                if isinstance(mod, nn.BatchNorm2d):
                    c = mod.weight.shape[0]
                    mod.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                    mod.bias.copy_(torch.randn(c, generator=gen) * 0.1)
                    mod.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
                    mod.running_var.copy_(torch.rand(c, generator=gen) + 0.5)


    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    for name, large, c, xshape in (("large3", True, 3, (2, 64, 13, 17)), ("small6", False, 6, (1, 64, 9, 8))):
        m = Student(c, large)
        plausible(m, gen)
        x = torch.randn(*xshape, generator=gen)
        path = os.path.join(OUT, name + ".h5")
        with h5py.File(path + ".tmp", "w") as h5:
            w = h5.create_group("weights")
            for k, v in m.state_dict().items():
                if not k.endswith("num_batches_tracked"):
                    w.create_dataset(PREFIX + k, data=v.numpy())
            ref = h5.create_group("ref")
            m.eval()
            with torch.no_grad():
                z = m.encoder(x)
                ref.create_dataset("x", data=x.numpy())
                ref.create_dataset("z", data=z.numpy())
                ref.create_dataset("y", data=m.decoder(z.clone()).numpy())
                ref.create_dataset("y8", data=m(x, 8).numpy())
                ref.create_dataset("y16", data=m(x, 16).numpy())
                q, s, zp = quantize(z)
                ref.create_dataset("q8", data=q.numpy())
                ref.create_dataset("q8_scale", data=s.numpy())
                ref.create_dataset("q8_zp", data=zp)
            m.train()
            yt = m(x)
            (yt * yt).sum().backward()
            ref.create_dataset("ytrain", data=yt.detach().numpy())
            ref.create_dataset("rm_enc1", data=m.encoder[1].running_mean.numpy())
            ref.create_dataset("rv_enc1", data=m.encoder[1].running_var.numpy())
            ref.create_dataset("g_enc0", data=m.encoder[0].weight.grad.numpy())
        os.replace(path + ".tmp", path)
    print("ref_bottleneck: wrote", OUT)


if __name__ == "__main__":
    main()
