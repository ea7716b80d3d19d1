#!/usr/bin/env python3
"""Write the .pth fixtures of the import test into OUTDIR.

Real key sets and shapes (torchvision's Faster and Mask R-CNN, random init
with a fixed seed) in both torch.save formats, plus a small dict with the
awkward cases: shared storages, storage offsets, non-contiguous and
broadcast (stride 0) views, every supported dtype, 0-dim and zero-size
tensors, a Parameter, non-tensor entries; and checkpoint-shaped files.

usage: make_pth.py OUTDIR [--small]   (--small: skip the two R-CNN models)
"""
import refcache  # noqa: E402  (tests/py/refcache.py: reused across the plain and sanitizer passes)
refcache.run_cached(__file__, "dir")
import os
import sys
import zipfile

import torch
import torchvision


def save_both(obj, outdir, stem):
    torch.save(obj, os.path.join(outdir, stem + "_zip.pth"))
    torch.save(obj, os.path.join(outdir, stem + "_legacy.pth"), _use_new_zipfile_serialization=False)


def special_dict():
    g = torch.Generator().manual_seed(1)
    base = torch.randn(100, generator=g)
    sd = {}
    sd["shared.full"] = base
    sd["shared.offset"] = base[10:30]                 # storage offset 10
    sd["shared.matrix"] = base.view(10, 10)
    sd["shared.tail"] = base[50:].view(5, 10)          # offset 50, 2-d
    sd["shared.step"] = base[1::3]                     # stride 3
    sd["transposed"] = torch.randn(3, 5, generator=g).t()  # non-contiguous
    sd["permuted"] = torch.randn(2, 3, 4, generator=g).permute(2, 0, 1)
    sd["expanded"] = torch.randn(3, 1, generator=g).expand(3, 4)  # stride 0
    sd["half"] = torch.randn(4, 6, generator=g).half()
    sd["double"] = torch.randn(3, generator=g).double()
    sd["scalar.num_batches_tracked"] = torch.tensor(7, dtype=torch.int64)
    sd["scalar.float"] = torch.tensor(-2.5)
    sd["empty"] = torch.empty(0, 3)
    sd["empty.offset"] = base[100:]                    # zero-size at the end
    sd["int32"] = torch.arange(-5, 7, dtype=torch.int32).view(3, 4)
    sd["int16"] = torch.arange(-3, 3, dtype=torch.int16)
    sd["int8"] = torch.arange(-4, 4, dtype=torch.int8)
    sd["uint8"] = torch.arange(0, 250, 10, dtype=torch.uint8)
    sd["bool"] = torch.tensor([True, False, True])
    sd["param"] = torch.nn.Parameter(torch.randn(2, 2, generator=g))
    sd["int64.big"] = torch.tensor([2**62, -(2**62), 1], dtype=torch.int64)
    sd["note"] = "not a tensor"                        # skipped
    sd["epoch_like"] = 5                               # skipped
    return sd


def rezip(src, dst, prefix):
    """The same archive under another top-level folder, deflated."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            rest = info.filename.split("/", 1)[1]
            zout.writestr(prefix + "/" + rest, zin.read(info.filename))


def main():
    outdir = sys.argv[1]
    small = "--small" in sys.argv
    os.makedirs(outdir, exist_ok=True)
    torch.manual_seed(0)

    sd = special_dict()
    save_both(sd, outdir, "special")
    rezip(os.path.join(outdir, "special_zip.pth"), os.path.join(outdir, "special_rezip.pth"), "other_name")

    model_sd = {"layer.weight": torch.randn(4, 3), "layer.bias": torch.zeros(4),
                "bn.num_batches_tracked": torch.tensor(3)}
    opt = {"state": {0: {"step": torch.tensor(10.0), "exp_avg": torch.randn(4, 3)}},
           "param_groups": [{"lr": 0.001, "betas": (0.9, 0.999), "params": [0, 1]}]}
    save_both({"model": model_sd, "epoch": 3, "optimizer": opt, "args": {"lr": 0.02}}, outdir, "checkpoint")
    save_both({"state_dict": model_sd, "epoch": 1}, outdir, "statedict")
    save_both({"module." + k: v for k, v in model_sd.items()}, outdir, "dataparallel")

    if not small:
        from torchvision.models.detection import fasterrcnn_resnet50_fpn, maskrcnn_resnet50_fpn
        for stem, ctor in (("fasterrcnn", fasterrcnn_resnet50_fpn), ("maskrcnn", maskrcnn_resnet50_fpn)):
            torch.manual_seed(0)
            m = ctor(weights=None, weights_backbone=None)
            save_both(m.state_dict(), outdir, stem)
    print("wrote fixtures to", outdir, "(torch %s, torchvision %s)" % (torch.__version__, torchvision.__version__))


if __name__ == "__main__":
    main()
