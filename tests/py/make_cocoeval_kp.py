"""Writes the keypoint-evaluation fixtures of tests/fixtures/cocoeval_kp/seedN
(see its README): a COCO keypoint ground truth, keypoint results and
pycocotools' 10 stats for them.

usage: make_cocoeval_kp.py OUT_DIR SEED
Needs pycocotools on the path (built from source: cocodataset/cocoapi,
PythonAPI, `python3 setup.py build_ext --inplace`, PYTHONPATH=that dir).

Seeds choose the layout, so that the fixtures cover each rule of sigmas:
  1: one category "person" with COCO's 17 keypoint names, no "sigmas"
     (pycocotools' default sigmas); results without bbox (torchvision's
     prepare_for_coco_keypoint), area from the keypoints' extent;
  2: two categories of 5 keypoints ("star" names) with "sigmas" in the file;
     results with a bbox (loadRes then takes area = w*h);
  3: one category of 5 keypoints without sigmas (hnd's uniform 0.07).
Every case has crowd regions, objects without visible keypoints
(num_keypoints 0, and a few with num_keypoints > 0 but every v = 0, which
take the box-extension path of computeOks without being ignored), objects
of every area range, duplicate detections, tied scores, false positives,
images with more than 20 detections and a category absent from the ground
truth."""
import json
import os
import sys

import numpy as np

# cocoapi's source (2020) uses np.float, the alias of float that numpy 1.24
# removed; putting it back changes nothing in what it computes
if "float" not in np.__dict__:
    np.float = float

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

COCO_NAMES = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
              "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
              "right_knee", "left_ankle", "right_ankle"]
COCO_SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8], [7, 9],
                 [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]
STAR_NAMES = ["top", "right_upper", "right_lower", "left_lower", "left_upper"]
STAR_SKELETON = [[1, 2], [2, 3], [3, 4], [4, 5], [5, 1]]


def main():
    out, seed = sys.argv[1], int(sys.argv[2])
    rng = np.random.RandomState(seed)
    if seed == 1:
        cats = [{"id": 1, "name": "person", "supercategory": "person", "keypoints": COCO_NAMES,
                 "skeleton": COCO_SKELETON}]
        sigmas = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89,
                           .89]) / 10.0
    elif seed == 2:
        sig = [0.031, 0.052, 0.052, 0.07, 0.07]
        cats = [{"id": c, "name": "star%d" % c, "supercategory": "shape", "keypoints": STAR_NAMES,
                 "skeleton": STAR_SKELETON, "sigmas": sig} for c in (3, 7)]
        sigmas = np.array(sig)
    else:
        cats = [{"id": 9, "name": "star", "supercategory": "shape", "keypoints": STAR_NAMES,
                 "skeleton": STAR_SKELETON}]
        sigmas = np.full(5, 0.07)
    K = len(sigmas)
    cat_ids = [c["id"] for c in cats]
    images, anns, dets = [], [], []
    aid = 100
    n_img = 14
    img_ids = rng.choice(np.arange(1, 500), n_img, replace=False)
    for ii, img_id in enumerate(img_ids):
        W, H = int(rng.randint(60, 640)), int(rng.randint(60, 480))
        images.append({"id": int(img_id), "width": W, "height": H, "file_name": "%06d.jpg" % img_id})
        n_obj = 0 if ii == 0 else int(rng.randint(1, 9))
        for j in range(n_obj):
            cat = int(rng.choice(cat_ids))
            # sizes across small / medium / large (area = 0.6 * w * h)
            s = [8, 30, 60, 150][rng.randint(4)] * (0.6 + 0.8 * rng.rand())
            bw, bh = min(s * (0.5 + rng.rand()), W - 2.0), min(s * (0.5 + rng.rand()), H - 2.0)
            x, y = rng.rand() * (W - bw), rng.rand() * (H - bh)
            bb = [round(x, 2), round(y, 2), round(bw, 2), round(bh, 2)]
            area = round(0.6 * bw * bh, 3)
            kind = rng.rand()
            crowd = kind < 0.06
            v = rng.choice([0, 1, 2], size=K, p=[0.25, 0.25, 0.5])
            if crowd or kind < 0.14:
                v[:] = 0
            kx = np.round(x + rng.rand(K) * bw, 2)
            ky = np.round(y + rng.rand(K) * bh, 2)
            kp = []
            for k in range(K):
                kp += [float(kx[k]), float(ky[k]), int(v[k])] if v[k] else [0, 0, 0]
            nk = int((v > 0).sum())
            if 0.14 <= kind < 0.18:  # every v = 0 but counted: computeOks's box-extension path, not ignored
                kp = [0, 0, 0] * K
                kx[:] = 0
                ky[:] = 0
                nk = int(rng.randint(1, K))
            a = {"id": aid, "image_id": int(img_id), "category_id": cat, "bbox": bb, "area": area,
                 "iscrowd": 1 if crowd else 0, "keypoints": kp, "num_keypoints": nk}
            if crowd:
                a["segmentation"] = {"size": [H, W], "counts": [W * H]}
            else:
                a["segmentation"] = [[bb[0], bb[1], bb[0] + bb[2], bb[1], bb[0] + bb[2], bb[1] + bb[3]]]
            anns.append(a)
            aid += int(rng.randint(1, 4))
            # detections of this object: 0..3 (duplicates), noise of varied size
            for _ in range(int(rng.choice([0, 1, 1, 1, 2, 3]))):
                scale = np.sqrt(max(area, 1.0)) * [0.02, 0.08, 0.2, 0.5][rng.randint(4)]
                cx = x + bw / 2 if nk == 0 or a["keypoints"][0::3] == [0] * K else None
                dx = rng.randn(K) * scale
                dy = rng.randn(K) * scale
                if cx is None:
                    px, py = kx + dx, ky + dy
                else:  # no keypoints to aim at: points around the box (some inside, some outside it)
                    px = x + rng.rand(K) * bw * 1.6 - 0.3 * bw
                    py = y + rng.rand(K) * bh * 1.6 - 0.3 * bh
                dets.append(make_det(rng, int(img_id), cat, px, py))
        # false positives; some images get more than 20 detections
        n_fp = int(rng.randint(0, 4)) + (22 if ii in (3, 7) else 0)
        for _ in range(n_fp):
            cat = int(rng.choice(cat_ids))
            px, py = rng.rand(K) * W, rng.rand(K) * H
            dets.append(make_det(rng, int(img_id), cat, px, py))
    # a category absent from the ground truth: dropped by loadRes/evaluate
    dets.append(make_det(rng, int(img_ids[1]), 999, rng.rand(K) * 50, rng.rand(K) * 50))
    rng.shuffle(dets)
    if seed == 2:  # results with a box: loadRes takes area = w*h from it
        for d in dets:
            xs, ys = d["keypoints"][0::3], d["keypoints"][1::3]
            d["bbox"] = [round(min(xs) - 3, 2), round(min(ys) - 2, 2), round(max(xs) - min(xs) + 6, 2),
                         round(max(ys) - min(ys) + 4, 2)]
    gt = {"info": {"description": "hnd keypoint evaluation fixture, seed %d" % seed}, "images": images,
          "annotations": anns, "categories": cats}
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "gt.json"), "w") as f:
        json.dump(gt, f)
    with open(os.path.join(out, "dt_keypoints.json"), "w") as f:
        json.dump(dets, f)
    coco = COCO(os.path.join(out, "gt.json"))
    res = coco.loadRes(os.path.join(out, "dt_keypoints.json"))
    ev = COCOeval(coco, res, "keypoints")
    ev.params.kpt_oks_sigmas = sigmas
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump({"keypoints": [float(s) for s in ev.stats],
                   "sigmas": [float(s) for s in sigmas]}, f, indent=1)


def make_det(rng, img_id, cat, px, py):
    kp = []
    for k in range(len(px)):
        kp += [round(float(px[k]), 2), round(float(py[k]), 2), 1]
    # scores on a coarse grid: ties within and across images
    return {"image_id": img_id, "category_id": cat, "keypoints": kp, "score": round(float(rng.rand()), 2)}


if __name__ == "__main__":
    main()
