"""Checks the results JSON of `hnd detect` against torchvision 0.14.

usage: check_detect_cli.py prepare REF_DIR CASE IMG_DIR
           write the case's reference images as PNG files IMG_DIR/<1000+i>.png
       check_detect_cli.py check REF_DIR CASE IMG_DIR RESULTS.json
           run torchvision on the PNGs with the case's weights and compare:
           same detections per image (count, category, bbox within 0.01 px,
           score within 1e-4) and, for Mask R-CNN, the RLE masks equal to
           torchvision's masks > 0.5 at >= 99.9% of pixels.
"""
import glob
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_rcnn  # noqa: E402


def rle_decode(counts, h, w):
    """pycocotools' compressed RLE string -> row-major uint8 [h, w]."""
    cnts, p = [], 0
    while p < len(counts):
        x, k, more = 0, 0, True
        while more:
            c = ord(counts[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(cnts) > 2:
            x += cnts[-2]
        cnts.append(x)
    flat = np.zeros(h * w, np.uint8)
    pos, v = 0, 0
    for c in cnts:
        flat[pos:pos + c] = v
        pos += c
        v ^= 1
    return flat.reshape(w, h).T


def main():
    cmd, ref_dir, case, img_dir = sys.argv[1:5]
    kind, depth, min_size, max_size, _ = ref_rcnn.CASES[case]
    if cmd == "prepare":
        import h5py
        os.makedirs(img_dir, exist_ok=True)
        with h5py.File(os.path.join(ref_dir, case + ".h5")) as f:
            i = 0
            while f"img{i}" in f:
                a = (f[f"img{i}"][()].transpose(1, 2, 0) * 255).round().astype(np.uint8)
                Image.fromarray(a).save(os.path.join(img_dir, f"{1000 + i}.png"))
                i += 1
        return
    results = json.load(open(sys.argv[5]))
    model = ref_rcnn.build(kind, depth, min_size, max_size, 0)
    model.load_state_dict(torch.load(os.path.join(ref_dir, case + ".pth")))
    bad = 0
    for p in sorted(glob.glob(os.path.join(img_dir, "*.png"))):
        image_id = int(os.path.basename(p)[:-4])
        x = torch.from_numpy(np.array(Image.open(p).convert("RGB"))).permute(2, 0, 1).float() / 255
        with torch.no_grad():
            d = model([x])[0]
        mine = [r for r in results if r["image_id"] == image_id]
        mine.sort(key=lambda r: -r["score"])
        n = len(d["scores"])
        if len(mine) != n:
            print(f"{p}: {len(mine)} detections, torchvision {n}")
            bad += 1
            continue
        used = [False] * n
        agree = total = 0
        for k in range(n):
            b = d["boxes"][k].tolist()
            want = [b[0], b[1], b[2] - b[0], b[3] - b[1]]
            hit = None
            for j, r in enumerate(mine):
                if used[j] or r["category_id"] != int(d["labels"][k]):
                    continue
                if max(abs(u - v) for u, v in zip(r["bbox"], want)) <= 0.01 and abs(r["score"] - float(d["scores"][k])) <= 1e-4:
                    hit = j
                    break
            if hit is None:
                print(f"{p}: torchvision detection {k} {want} label {int(d['labels'][k])} unmatched")
                bad += 1
                total = -1
                break
            used[hit] = True
            if "masks" in d:
                seg = mine[hit]["segmentation"]
                h, w = seg["size"]
                m = rle_decode(seg["counts"], h, w)
                t = (d["masks"][k, 0] > 0.5).numpy().astype(np.uint8)
                agree += int((m == t).sum())
                total += m.size
        if total < 0:
            continue
        if total and agree / total < 0.999:
            print(f"{p}: masks agree at {agree / total:.6f}")
            bad += 1
        print(f"{p}: {n} detections match torchvision" + (f", masks agree at {agree / total:.6f}" if total else ""))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
