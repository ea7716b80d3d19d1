"""Checks a `hnd synth --keypoints` directory with json alone.

usage: check_synth_kp.py DIR
One category like COCO's person-keypoints file (id 1, "star", the five tip
names, a skeleton along the outline); every annotation's keypoints are its
polygon's tips (every other vertex) in the documented order: the top tip
highest and within 30 degrees (+ rounding) of upright, then clockwise on
screen 72 degrees apart; v is 2, or (0, 0, 0) where a later shape covers the
tip: checked where the tip is clearly (1.5 px) inside or outside the later
polygons, by our own point-in-polygon test; num_keypoints counts v > 0.
Prints the number of hidden tips (the caller wants some)."""
import json
import math
import os
import sys

NAMES = ["top", "right_upper", "right_lower", "left_lower", "left_upper"]


def inside(poly, x, y):
    # even-odd rule
    n, c = len(poly) // 2, False
    for i in range(n):
        x1, y1, x2, y2 = poly[2 * i], poly[2 * i + 1], poly[2 * ((i + 1) % n)], poly[2 * ((i + 1) % n) + 1]
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            c = not c
    return c


def edge_dist(poly, x, y):
    n, best = len(poly) // 2, 1e9
    for i in range(n):
        x1, y1, x2, y2 = poly[2 * i], poly[2 * i + 1], poly[2 * ((i + 1) % n)], poly[2 * ((i + 1) % n) + 1]
        dx, dy = x2 - x1, y2 - y1
        t = max(0.0, min(1.0, ((x - x1) * dx + (y - y1) * dy) / (dx * dx + dy * dy or 1)))
        best = min(best, math.hypot(x - x1 - t * dx, y - y1 - t * dy))
    return best


def main():
    d = sys.argv[1]
    hidden = checked = 0
    for split in ("train", "val"):
        with open(os.path.join(d, "annotations", "instances_%s.json" % split)) as f:
            js = json.load(f)
        assert len(js["categories"]) == 1, js["categories"]
        c = js["categories"][0]
        assert c["id"] == 1 and c["name"] == "star" and c["keypoints"] == NAMES, c
        assert c["skeleton"] == [[1, 2], [2, 3], [3, 4], [4, 5], [5, 1]], c
        by_img = {}
        for a in js["annotations"]:
            by_img.setdefault(a["image_id"], []).append(a)
        for anns in by_img.values():
            for k, a in enumerate(anns):
                assert a["category_id"] == 1
                poly = a["segmentation"][0]
                assert len(poly) == 20, len(poly)
                kp = a["keypoints"]
                assert len(kp) == 15
                tips = [(poly[4 * t], poly[4 * t + 1]) for t in range(5)]
                # order: the top tip highest, then clockwise (screen) 72 degrees apart
                assert min(range(5), key=lambda t: tips[t][1]) == 0, tips
                cx, cy = sum(p[0] for p in tips) / 5, sum(p[1] for p in tips) / 5
                ang = [math.degrees(math.atan2(p[1] - cy, p[0] - cx)) for p in tips]
                assert abs(ang[0] + 90) <= 31, ang
                for t in range(1, 5):
                    step = (ang[t] - ang[t - 1]) % 360
                    assert abs(step - 72) < 3, (ang, t)
                nv = 0
                for t in range(5):
                    x, y, v = kp[3 * t: 3 * t + 3]
                    assert v in (0, 2), v
                    if v == 0:
                        assert x == 0 and y == 0
                    else:
                        assert (x, y) == tips[t], (x, y, tips[t])
                        nv += 1
                    tx, ty = tips[t]
                    later = [b["segmentation"][0] for b in anns[k + 1:]]
                    cover = [inside(p, tx, ty) for p in later]
                    clear = all(edge_dist(p, tx, ty) > 1.5 for p in later)
                    if clear:
                        checked += 1
                        assert (v == 0) == any(cover), (a["id"], t, v, cover)
                    hidden += v == 0
                assert a["num_keypoints"] == nv, (a["num_keypoints"], nv)
    print("check_synth_kp: %d tips checked against the later shapes, %d hidden" % (checked, hidden))
    assert hidden > 0 and checked > 0


if __name__ == "__main__":
    main()
