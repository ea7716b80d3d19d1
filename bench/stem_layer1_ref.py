"""Reference for bench/stem_layer1: torchvision's ResNet-50 stem + layer1
(FrozenBatchNorm2d, as in the R-CNN backbone) on a 1x3x800x1067 input.

  stem_layer1_ref.py prepare WEIGHTS.h5   write weights, input and output for the C side
  stem_layer1_ref.py time WEIGHTS.h5 RUNS THREADS   print per-run seconds, one per line
"""
import sys
import time

import h5py
import torch
import torchvision
from torchvision.ops.misc import FrozenBatchNorm2d


def build():
    torch.manual_seed(0)
    net = torchvision.models.resnet50(weights=None, norm_layer=FrozenBatchNorm2d)
    # Plausible BN statistics so activations neither explode nor vanish.
    g = torch.Generator().manual_seed(1)
    for m in net.modules():
        if isinstance(m, FrozenBatchNorm2d):
            n = m.weight.numel()
            m.weight.copy_(0.5 + torch.rand(n, generator=g))
            m.bias.copy_(0.1 * torch.randn(n, generator=g))
            m.running_mean.copy_(0.1 * torch.randn(n, generator=g))
            m.running_var.copy_(0.5 + torch.rand(n, generator=g))
    return torch.nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1).eval()


def main():
    mode, path = sys.argv[1], sys.argv[2]
    net = build()
    if mode == "prepare":
        x = torch.rand(1, 3, 800, 1067, generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            y = net(x)
        names = {"0": "conv1", "1": "bn1", "4": "layer1"}
        with h5py.File(path, "w") as f:
            w = f.create_group("weights")
            for k, v in net.state_dict().items():
                head, _, rest = k.partition(".")
                w[names[head] + "." + rest] = v.numpy()
            d = f.create_group("data")
            d["input"] = x.numpy()
            d["output"] = y.numpy()
        return
    runs, threads = int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    x = torch.rand(1, 3, 800, 1067)
    with torch.no_grad():
        for _ in range(2):
            net(x)
        for _ in range(runs):
            t = time.perf_counter()
            net(x)
            print(f"{time.perf_counter() - t:.6f}")


if __name__ == "__main__":
    main()
