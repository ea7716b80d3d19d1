"""Oracle for tests/test_data_kp.c: a COCO person-keypoints file and what
torchvision makes of it, computed with torch on the same numbers.

usage: ref_kp_data.py OUT_DIR
Writes OUT_DIR/kp.json (ground truth) and OUT_DIR/kp_expected.json: per
image (in file order) the target keypoints [N, 17, 3] after
references/detection's ConvertCocoPolysToMask (crowd dropped, boxes clamped,
degenerate boxes dropped with their keypoints), after its
RandomHorizontalFlip (_flip_coco_person_keypoints with torchvision's flip
indices), and after torchvision.models.detection.transform.resize_keypoints
to a new size; all float32 values written as exact decimals."""
import json
import os
import random
import sys

import torch
from torchvision.models.detection.transform import resize_keypoints

NAMES = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
         "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee",
         "left_ankle", "right_ankle"]
# torchvision references/detection/transforms.py
FLIP_INDS = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]


def flip_coco_person_keypoints(kps, width):
    # the reference's _flip_coco_person_keypoints, operation for operation
    flipped_data = kps[:, FLIP_INDS]
    flipped_data[..., 0] = width - flipped_data[..., 0]
    inds = flipped_data[..., 2] == 0
    flipped_data[inds] = 0
    return flipped_data


def target_keypoints(anns, w, h):
    # ConvertCocoPolysToMask: crowd out, boxes xywh -> xyxy clamped, keep w, h > 0
    anno = [a for a in anns if a.get("iscrowd", 0) == 0]
    boxes = torch.as_tensor([a["bbox"] for a in anno], dtype=torch.float32).reshape(-1, 4)
    boxes[:, 2:] += boxes[:, :2]
    boxes[:, 0::2].clamp_(min=0, max=w)
    boxes[:, 1::2].clamp_(min=0, max=h)
    kps = torch.as_tensor([a["keypoints"] for a in anno], dtype=torch.float32)
    kps = kps.view(kps.shape[0], -1, 3) if kps.shape[0] else kps.reshape(0, 17, 3)
    keep = (boxes[:, 3] > boxes[:, 1]) & (boxes[:, 2] > boxes[:, 0])
    return kps[keep]


def main():
    out = sys.argv[1]
    rng = random.Random(17)
    images, anns = [], []
    aid = 1
    sizes = [(100, 50), (333, 251), (640, 427), (64, 97)]
    for i, (w, h) in enumerate(sizes):
        images.append({"id": 10 + i, "file_name": "%d.jpg" % i, "width": w, "height": h})
        for j in range(0 if i == 3 else rng.randint(1, 4) + (1 if i == 1 else 0)):
            x, y = rng.uniform(-5, w * 0.6), rng.uniform(0, h * 0.6)
            bw, bh = rng.uniform(2, w * 0.5), rng.uniform(2, h * 0.5)
            if i == 1 and j == 0:
                bw = 0  # degenerate: dropped with its keypoints
            kp = []
            for k in range(17):
                v = rng.choice([0, 1, 2, 2])
                kx, ky = round(rng.uniform(0, w), 3), round(rng.uniform(0, h), 3)
                if v == 0 and rng.random() < 0.7:
                    kx = ky = 0  # COCO's convention; the others keep a position the flip must zero
                kp += [kx, ky, v]
            anns.append({"id": aid, "image_id": 10 + i, "category_id": 1, "bbox": [x, y, bw, bh],
                         "area": bw * bh, "iscrowd": 1 if (i == 2 and j == 1) else 0, "keypoints": kp,
                         "num_keypoints": sum(1 for v in kp[2::3] if v > 0)})
            aid += 1
    gt = {"images": images, "annotations": anns,
          "categories": [{"id": 1, "name": "person", "supercategory": "person", "keypoints": NAMES,
                          "skeleton": [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13]]}]}
    exp = []
    for i, im in enumerate(images):
        w, h = im["width"], im["height"]
        kps = target_keypoints([a for a in anns if a["image_id"] == im["id"]], w, h)
        flipped = flip_coco_person_keypoints(kps.clone(), w)
        nh, nw = [(800, 1600), (800, 1062), (799, 1199), (1188, 785)][i]
        resized = resize_keypoints(kps.clone(), (h, w), (nh, nw))
        exp.append({"n": int(kps.shape[0]), "target": [float(v) for v in kps.flatten()],
                    "flipped": [float(v) for v in flipped.flatten()], "new_hw": [nh, nw],
                    "resized": [float(v) for v in resized.flatten()]})
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "kp.json"), "w") as f:
        json.dump(gt, f)
    with open(os.path.join(out, "kp_expected.json"), "w") as f:
        json.dump(exp, f)


if __name__ == "__main__":
    main()
