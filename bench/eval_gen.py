#!/usr/bin/env python3
"""Generate a val2017-scale COCO evaluation case for bench/eval_bench.sh.

usage: eval_gen.py OUTDIR [--images 5000] [--dets 100] [--seed 0]

Writes OUTDIR/gt.json (80 COCO category ids, ~7 objects per image as 16-gon
polygons, ~1% crowd regions as uncompressed RLE, every area range),
OUTDIR/dt_bbox.json and OUTDIR/dt_segm.json (100 detections per image:
jittered copies of the objects, some with the wrong class, and random boxes;
segm results are ellipses inscribed in the boxes as compressed RLE strings).
Standard library only. Mask strings are assembled from per-shape templates
(the runs inside a shape do not depend on where it sits), which keeps the
generation of 500k masks to seconds."""
import json
import math
import os
import random
import sys

CATS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28,
        31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55,
        56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84,
        85, 86, 87, 88, 89, 90]
SIZES = [(480, 640), (640, 480), (427, 640), (640, 427), (512, 512), (375, 500)]  # (h, w)
LEVELS = sorted({max(4, int(round(4 * 1.12 ** i))) for i in range(40)})  # quantised shape sides


def enc_value(x):
    """One number of the COCO compressed-RLE alphabet (signed, 5 bits/char)."""
    out = []
    more = True
    while more:
        c = x & 0x1F
        x >>= 5
        more = (x != -1) if (c & 0x10) else (x != 0)
        if more:
            c |= 0x20
        out.append(chr(c + 48))
    return "".join(out)


def runs(sw, sh):
    """Column runs (top, bottom) of an ellipse inscribed in sw x sh."""
    cx, cy, rx, ry = sw / 2, sh / 2, sw / 2, sh / 2
    out = []
    for i in range(sw):
        dx = (i + 0.5 - cx) / rx
        hh = ry * math.sqrt(max(0.0, 1 - dx * dx))
        top, bot = int(round(cy - hh)), int(round(cy + hh))
        if bot <= top:
            top = min(int(cy), sh - 1)
            bot = top + 1
        out.append((top, bot))
    return out


_templates = {}


def template(H, sw, sh):
    """(first-row offset, middle counts, middle string) for a shape in an image of height H."""
    key = (H, sw, sh)
    t = _templates.get(key)
    if t is None:
        r = runs(sw, sh)
        mid = []
        for i, (top, bot) in enumerate(r):
            mid.append(bot - top)
            if i + 1 < len(r):
                mid.append(H - bot + r[i + 1][0])
        cnts = [0] + mid  # index 0 is a placeholder: deltas start at index 3
        s = []
        for i in range(1, len(cnts)):
            x = cnts[i] - cnts[i - 2] if i > 2 else cnts[i]
            s.append(enc_value(x))
        t = (r[0][0], mid, "".join(s), sum(mid))
        _templates[key] = t
    return t


def mask_string(H, W, x0, y0, sw, sh):
    top0, mid, mid_s, mid_sum = template(H, sw, sh)
    c0 = x0 * H + y0 + top0
    last = H * W - c0 - mid_sum
    m = 1 + len(mid)  # index of the last count
    prev2 = mid[-2] if len(mid) >= 2 else c0
    x = last - prev2 if m > 2 else last
    return enc_value(c0) + mid_s + enc_value(x)


def level(v):
    return min(LEVELS, key=lambda s: abs(s - v))


def main():
    out = sys.argv[1]
    n_img = int(sys.argv[sys.argv.index("--images") + 1]) if "--images" in sys.argv else 5000
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 0
    # detections per image (100: val2017 scale; 16: a trained detector's
    # output after a score threshold, the 1000-image case of issue #20)
    n_det = int(sys.argv[sys.argv.index("--dets") + 1]) if "--dets" in sys.argv else 100
    rng = random.Random(seed)
    pick = random.Random(seed + 1)
    os.makedirs(out, exist_ok=True)
    images, anns, dts_b, dts_s = [], [], [], []
    aid = 0
    for ii in range(n_img):
        img_id = 100000 + 7 * ii
        H, W = SIZES[rng.randrange(len(SIZES))]
        images.append({"id": img_id, "width": W, "height": H, "file_name": "%012d.jpg" % img_id})
        objs = []
        for _ in range(max(0, int(rng.gauss(7, 3)))):
            side = math.exp(rng.uniform(math.log(6), math.log(min(H, W) * 0.9)))
            rx = side / 2 * rng.uniform(0.6, 1.0)
            ry = side / 2 * rng.uniform(0.6, 1.0)
            cx, cy = rng.uniform(rx, W - rx), rng.uniform(ry, H - ry)
            cat = rng.choice(CATS)
            aid += 1
            if rng.random() < 0.01:  # crowd: a rectangle, uncompressed RLE
                x0, y0 = int(cx - rx), int(cy - ry)
                w, h = max(1, int(2 * rx)), max(1, int(2 * ry))
                cnts = [x0 * H + y0]
                for c in range(w):
                    cnts.append(h)
                    if c + 1 < w:
                        cnts.append(H - h)
                cnts.append(H * W - sum(cnts))
                anns.append({"id": aid, "image_id": img_id, "category_id": cat, "iscrowd": 1,
                             "segmentation": {"counts": cnts, "size": [H, W]},
                             "area": float(w * h), "bbox": [x0, y0, w, h]})
            else:
                poly = []
                for k in range(16):
                    a = 2 * math.pi * k / 16
                    poly += [round(cx + rx * math.cos(a), 2), round(cy + ry * math.sin(a), 2)]
                xs, ys = poly[0::2], poly[1::2]
                area = 0.5 * abs(sum(xs[i] * ys[(i + 1) % 16] - xs[(i + 1) % 16] * ys[i] for i in range(16)))
                anns.append({"id": aid, "image_id": img_id, "category_id": cat, "iscrowd": 0,
                             "segmentation": [poly], "area": round(area, 2),
                             "bbox": [min(xs), min(ys), round(max(xs) - min(xs), 2), round(max(ys) - min(ys), 2)]})
            objs.append((cx, cy, rx, ry, cat))
        dets = []
        for (cx, cy, rx, ry, cat) in objs:
            for _ in range(rng.randint(3, 6)):
                j = rng.uniform(0.0, 0.25)
                sw = level(2 * rx * rng.uniform(1 - j, 1 + j))
                sh = level(2 * ry * rng.uniform(1 - j, 1 + j))
                c = cat if rng.random() < 0.8 else rng.choice(CATS)
                dets.append((cx + rng.uniform(-j, j) * rx, cy + rng.uniform(-j, j) * ry, sw, sh, c))
        while len(dets) < n_det:
            sw = level(math.exp(rng.uniform(math.log(6), math.log(W * 0.8))))
            sh = level(math.exp(rng.uniform(math.log(6), math.log(H * 0.8))))
            dets.append((rng.uniform(0, W), rng.uniform(0, H), sw, sh, rng.choice(CATS)))
        if n_det < 100:  # a short list keeps true and false positives alike
            pick.shuffle(dets)  # (own generator: the 100 case stays as it was)
        for (cx, cy, sw, sh, c) in dets[:n_det]:
            sw, sh = min(sw, W), min(sh, H)
            x0 = min(max(0, int(cx - sw / 2)), W - sw)
            y0 = min(max(0, int(cy - sh / 2)), H - sh)
            score = round(rng.random(), 4)
            dts_b.append({"image_id": img_id, "category_id": c, "bbox": [x0, y0, sw, sh], "score": score})
            dts_s.append({"image_id": img_id, "category_id": c, "score": score,
                          "segmentation": {"size": [H, W], "counts": mask_string(H, W, x0, y0, sw, sh)}})
    gt = {"info": {"description": "hnd eval benchmark, seed %d" % seed}, "images": images,
          "annotations": anns, "categories": [{"id": c, "name": "class%d" % c, "supercategory": "x"} for c in CATS]}
    for name, obj in (("gt.json", gt), ("dt_bbox.json", dts_b), ("dt_segm.json", dts_s)):
        with open(os.path.join(out, name + ".tmp"), "w") as f:
            json.dump(obj, f, separators=(",", ":"))
        os.replace(os.path.join(out, name + ".tmp"), os.path.join(out, name))
    print("eval_gen: %d images, %d annotations, %d detections -> %s" % (len(images), len(anns), len(dts_b), out))


if __name__ == "__main__":
    main()
