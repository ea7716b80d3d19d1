"""Oracle for tests/test_data_ann.c: writes a COCO instances file with every
kind of segmentation and its expected summary as Python's json reads it.

usage: data_make_ann.py OUT.json SUMMARY.txt [N_IMAGES]
The summary has one "key value" per line (counts, sums, chosen fields)."""
import json
import random
import sys

out, summ = sys.argv[1], sys.argv[2]
n_img = int(sys.argv[3]) if len(sys.argv) > 3 else 200
rng = random.Random(1234)
cat_ids = [1, 3, 7, 18, 90]
cats = [{"id": c, "name": "cat\u00e9%d \"q\"" % c, "supercategory": "s%d" % (c % 3)} for c in cat_ids]
img_ids = rng.sample(range(1, 10 * n_img), n_img)  # sparse, unsorted
images = [{"id": i, "file_name": "%012d.jpg" % i, "width": rng.randint(20, 640), "height": rng.randint(20, 480),
           "license": 1} for i in img_ids]
anns = []
aid = 1000
for im in images:
    for _ in range(rng.randint(0, 5)):
        aid += rng.randint(1, 3)
        w, h = im["width"], im["height"]
        x, y = rng.uniform(0, w - 2), rng.uniform(0, h - 2)
        bw, bh = rng.uniform(0.5, w - x), rng.uniform(0.5, h - y)
        kind = rng.random()
        a = {"id": aid, "image_id": im["id"], "category_id": rng.choice(cat_ids),
             "bbox": [round(x, 2), round(y, 2), round(bw, 2), round(bh, 2)], "area": round(bw * bh * 0.7, 3)}
        if kind < 0.7:
            polys = []
            for _ in range(rng.randint(1, 3)):
                k = rng.randint(3, 12)
                polys.append([round(rng.uniform(0, w), 2) if j % 2 == 0 else round(rng.uniform(0, h), 2)
                              for j in range(2 * k)])
            a["segmentation"] = polys
            a["iscrowd"] = 0
        elif kind < 0.85:
            total = w * h
            counts = []
            left = total
            while left > 0:
                c = min(left, rng.randint(0, 2000))
                counts.append(c)
                left -= c
            a["segmentation"] = {"counts": counts, "size": [h, w]}
            a["iscrowd"] = 1
        else:
            a["segmentation"] = {"counts": "PPYo0", "size": [h, w]}
            a["iscrowd"] = 1
        anns.append(a)
rng.shuffle(anns)
# numbers that need care (exponents, many digits, -0.0, integers as floats):
# the loader must give what Python's float() gives
tricky = ["0.1", "1e-7", "123456789.123456789", "5e300", "-0.0", "1E2", "2.5e-3", "0.30000000000000004",
          "9007199254740993", "1.7976931348623157e308", "4.9e-324", "3.14159265358979323846264338327950288",
          "100000000000000000000000", "0.000001234", "-12.5", "7"]
aid += 1
anns.append({"id": aid, "image_id": images[0]["id"], "category_id": cat_ids[0], "bbox": [0, 0, 1.5, 2.5],
             "area": 1, "iscrowd": 0, "segmentation": "TRICKY"})
# annotations before images, extra keys: the loader must not care about order
doc = {"info": {"year": 2017, "nested": [1, {"a": [2, 3]}]}, "licenses": [{"id": 1, "name": "x"}],
       "annotations": anns, "images": images, "categories": cats}
text = json.dumps(doc, indent=None if n_img > 50 else 1)
text = text.replace('"TRICKY"', "[[" + ", ".join(tricky) + "]]")
with open(out, "w") as f:
    f.write(text)

# the reference: read the file back with json and index it (pycocotools-style)
with open(out) as f:
    d = json.load(f)
imgs = {im["id"]: im for im in d["images"]}
img_to_anns = {}
for a in d["annotations"]:
    img_to_anns.setdefault(a["image_id"], []).append(a)
lines = []
lines.append("n_images %d" % len(d["images"]))
lines.append("n_anns %d" % len(d["annotations"]))
lines.append("n_cats %d" % len(d["categories"]))
n_poly = sum(len(a["segmentation"]) for a in d["annotations"] if isinstance(a["segmentation"], list))
n_coords = sum(len(p) for a in d["annotations"] if isinstance(a["segmentation"], list) for p in a["segmentation"])
lines.append("n_polys %d" % n_poly)
lines.append("n_coords %d" % n_coords)
lines.append("n_crowd %d" % sum(a["iscrowd"] for a in d["annotations"]))
lines.append("sum_area %.17g" % sum(a["area"] for a in d["annotations"]))
lines.append("sum_bbox %.17g" % sum(sum(a["bbox"]) for a in d["annotations"]))
lines.append("sum_coords %.17g" % sum(v for a in d["annotations"] if isinstance(a["segmentation"], list)
                                       for p in a["segmentation"] for v in p))
lines.append("sum_counts %d" % sum(sum(a["segmentation"]["counts"]) for a in d["annotations"]
                                   if isinstance(a["segmentation"], dict) and isinstance(a["segmentation"]["counts"], list)))
lines.append("max_anns_per_image %d" % max(len(v) for v in img_to_anns.values()))
# a few images: id, number of annotations, their ids in file order
for im in d["images"][:5]:
    ids = [a["id"] for a in img_to_anns.get(im["id"], [])]
    lines.append("image %d %d %d %s %d %s" % (im["id"], im["width"], im["height"], im["file_name"], len(ids),
                                              " ".join(map(str, ids))))
a = d["annotations"][7]
lines.append("ann7 %d %d %d %.17g %.17g %.17g %.17g %.17g" % (a["id"], a["image_id"], a["category_id"], a["area"],
                                                              *a["bbox"]))
c = d["categories"][2]
lines.append("cat2 %d %s" % (c["id"], c["supercategory"]))
tr = [a for a in d["annotations"] if a["id"] == aid][0]["segmentation"][0]
lines.append("tricky_id %d" % aid)
lines.append("tricky " + " ".join(repr(float(v)) for v in tr))
with open(summ, "w") as f:
    f.write("\n".join(lines) + "\n")
with open(summ + ".catname", "w", encoding="utf-8") as f:
    f.write(c["name"])
