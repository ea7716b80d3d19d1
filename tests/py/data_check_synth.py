"""Checks a `hnd synth` output directory with json and PIL alone.

usage: data_check_synth.py DIR N_TRAIN N_VAL WIDTH HEIGHT
Every image listed exists, decodes to WIDTHxHEIGHT; ids unique; categories
sparse; each annotation's bbox lies in its image and inside its polygon's
extent; its area is positive, at most the bbox area, and within the
polygon's shoelace area +- its perimeter (the rasterisation differs from the
exact area by at most a one-pixel band along the border)."""
import json
import math
import os
import sys

from PIL import Image

d, ntr, nva, W, H = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
ann_ids = set()
for split, n in (("train", ntr), ("val", nva)):
    with open(os.path.join(d, "annotations", "instances_%s.json" % split)) as f:
        js = json.load(f)
    assert len(js["images"]) == n, (split, len(js["images"]))
    cats = {c["id"]: c["name"] for c in js["categories"]}
    assert len(cats) >= 5 and max(cats) > len(cats), cats  # several classes, sparse ids
    imgs = {im["id"]: im for im in js["images"]}
    assert len(imgs) == n
    for im in js["images"][: min(n, 25)]:
        p = Image.open(os.path.join(d, split, im["file_name"]))
        assert p.format == "JPEG" and p.size == (W, H) and (im["width"], im["height"]) == (W, H)
        p.convert("RGB").load()
    per_img = {}
    for a in js["annotations"]:
        assert a["id"] not in ann_ids
        ann_ids.add(a["id"])
        assert a["image_id"] in imgs and a["category_id"] in cats and a["iscrowd"] == 0
        x, y, w, h = a["bbox"]
        assert 0 <= x and 0 <= y and x + w <= W and y + h <= H and w > 0 and h > 0, a["bbox"]
        assert 0 < a["area"] <= w * h
        assert len(a["segmentation"]) == 1
        p = a["segmentation"][0]
        xs, ys = p[0::2], p[1::2]
        assert len(xs) >= 3
        shoelace = 0.5 * abs(sum(xs[i] * ys[(i + 1) % len(xs)] - xs[(i + 1) % len(xs)] * ys[i] for i in range(len(xs))))
        perim = sum(math.hypot(xs[(i + 1) % len(xs)] - xs[i], ys[(i + 1) % len(xs)] - ys[i]) for i in range(len(xs)))
        assert abs(a["area"] - shoelace) <= perim + 4, (a["area"], shoelace, perim)
        assert min(xs) - 1 <= x and x + w <= max(xs) + 1 and min(ys) - 1 <= y and y + h <= max(ys) + 1
        per_img[a["image_id"]] = per_img.get(a["image_id"], 0) + 1
    if n >= 50:
        counts = [per_img.get(i, 0) for i in imgs]
        assert 0 in counts and max(counts) >= 4, counts  # some empty images, some crowded ones
        assert len({a["category_id"] for a in js["annotations"]}) == len(cats)
print("synth ok:", d)
