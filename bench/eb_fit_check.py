#!/usr/bin/python3
"""How well does a trained entropy bottleneck's density fit its latent?

usage: /usr/bin/python3 bench/eb_fit_check.py STUDENT.h5 HEAD.pt IMAGES_DIR [N]

HEAD.pt: `hnd export STUDENT.h5 --format torchscript --bits 32` of the same
checkpoint (its float32 output is the encoder's latent y). For N images
(default 100) of IMAGES_DIR, transformed as the export manifest says
(resize by min(120/min(h,w), 160/max(h,w)) for the demo sizes, normalise,
pad to 32), the symbols are round(y - m) with the learned medians m. Prints,
per image: the bits the learned factorized prior charges for them (an
independent numpy re-implementation of Balle et al. 2018's density, the
same formula as models/entropy_bottleneck.h), and the empirical entropy of
the symbols (one histogram per channel over all N images: what a static
per-channel table fitted to this latent would cost). A prior that charges
several times the empirical entropy is badly fitted (issue 18).
"""
import glob
import math
import os
import sys

import cv2
import h5py
import numpy as np
import torch

MIN_SIZE, MAX_SIZE = 120.0, 160.0   # the demo configs'
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def load_density(path):
    f = h5py.File(path, "r")
    key = [k for k in f["weights"].keys() if k.endswith("entropy_bottleneck.quantiles")][0]
    pre = key[: -len("quantiles")]
    g = lambda n: np.asarray(f["weights"][pre + n], np.float64)
    mats = [g("_matrix%d" % i) for i in range(4)]
    biases = [g("_bias%d" % i) for i in range(4)]
    factors = [g("_factor%d" % i) for i in range(3)]
    return mats, biases, factors, g("quantiles")


def softplus(x):
    return np.logaddexp(0.0, x)


def logits_cumulative(d, x):
    """g(x) for x [C,1,N] -> [C,1,N]."""
    mats, biases, factors, _ = d
    v = x
    for i in range(4):
        v = np.einsum("cij,cjn->cin", softplus(mats[i]), v) + biases[i]
        if i < 3:
            v = v + np.tanh(factors[i]) * np.tanh(v)
    return v


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def likelihood(d, v):
    """p(v) for v [C,1,N] (values on the integer grid around the medians)."""
    lo = logits_cumulative(d, v - 0.5)
    up = logits_cumulative(d, v + 0.5)
    s = -np.sign(lo + up)
    return np.maximum(np.abs(sigmoid(s * up) - sigmoid(s * lo)), 1e-9)


def transform(path):
    img = cv2.imread(path)[:, :, ::-1].astype(np.float32) / 255.0
    h, w = img.shape[:2]
    s = min(MIN_SIZE / min(h, w), MAX_SIZE / max(h, w))
    t = torch.from_numpy(img.copy()).permute(2, 0, 1)[None]
    t = torch.nn.functional.interpolate(t, scale_factor=s, mode="bilinear", align_corners=False,
                                        recompute_scale_factor=True)
    t = (t - torch.from_numpy(MEAN)[None, :, None, None]) / torch.from_numpy(STD)[None, :, None, None]
    H, W = t.shape[2], t.shape[3]
    Hp, Wp = int(math.ceil(H / 32) * 32), int(math.ceil(W / 32) * 32)
    return torch.nn.functional.pad(t, (0, Wp - W, 0, Hp - H))


def main():
    ckpt, head, images = sys.argv[1], sys.argv[2], sys.argv[3]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 100
    d = load_density(ckpt)
    med = d[3][:, 0, 1]
    C = med.shape[0]
    net = torch.jit.load(head).eval()
    paths = sorted(glob.glob(os.path.join(images, "*.jpg")))[:n]
    syms = [[] for _ in range(C)]
    learned = 0.0
    with torch.no_grad():
        for p in paths:
            y = net(transform(p))
            y = (y[0] if isinstance(y, (tuple, list)) else y)[0].double().numpy()   # [C,h,w]
            q = np.round(y - med[:, None, None])
            for c in range(C):
                syms[c].append(q[c].ravel())
            v = (q + med[:, None, None]).reshape(C, 1, -1)
            learned += -np.log2(likelihood(d, v)).sum()
    emp = 0.0
    print("%3s %8s %8s %12s %12s %9s" % ("c", "median", "width", "emp bits/sym", "prior b/sym", "support"))
    for c in range(C):
        s = np.concatenate(syms[c])
        vals, cnt = np.unique(s, return_counts=True)
        pr = cnt / cnt.sum()
        h = -(pr * np.log2(pr)).sum()
        emp += h * s.size
        lp = -np.log2(likelihood((d[0], d[1], d[2], None),
                                 (s + med[c])[None, None, :].repeat(C, 0))[c, 0]).mean()
        print("%3d %8.3f %8.2f %12.3f %12.3f %5d..%d" % (c, med[c], d[3][c, 0, 2] - d[3][c, 0, 0], h, lp,
                                                         vals.min(), vals.max()))
    k = len(paths)
    print("%d images: learned prior %.0f bits/image (%.1f bytes), empirical entropy %.0f bits/image (%.1f bytes): "
          "prior / entropy = %.2f" % (k, learned / k, learned / k / 8, emp / k, emp / k / 8, learned / emp))


if __name__ == "__main__":
    main()
