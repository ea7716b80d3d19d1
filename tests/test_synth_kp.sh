#!/usr/bin/env bash
# hnd synth --keypoints: the files as documented (tests/py/check_synth_kp.py:
# tips, order, occlusion by later shapes, the category), byte-identical for
# any thread count; and hnd eval --iou keypoints on them: the ground truth's
# own keypoints as results score AP 1 (objects without visible tips ignored,
# as pycocotools does), every tip moved by 3 px scores less.
set -euo pipefail
hnd="$HND_BIN_DIR/hnd"
py="${HND_PYTHON:-/usr/bin/python3}"
t="$HND_TEST_TMP/synth_kp"
rm -rf "$t"; mkdir -p "$t"
"$hnd" synth --out "$t/a" --train 40 --val 12 --size 160x120 --seed 5 --keypoints --threads 1 --quiet
"$hnd" synth --out "$t/b" --train 40 --val 12 --size 160x120 --seed 5 --keypoints --threads 3 --quiet
diff -r "$t/a" "$t/b"
"$py" "$HND_SRC_DIR/tests/py/check_synth_kp.py" "$t/a"
"$hnd" synth --help | grep -q -- "--keypoints"
gt="$t/a/annotations/instances_val.json"
"$py" - "$gt" "$t" <<'PY'
import json, sys
gt = json.load(open(sys.argv[1]))
for name, d in (("same", 0.0), ("moved", 3.0)):
    res = [{"image_id": a["image_id"], "category_id": 1, "score": 1.0,
            "keypoints": [v + d if j % 3 == 0 and a["keypoints"][j + 2] else v for j, v in enumerate(a["keypoints"])]}
           for a in gt["annotations"]]
    json.dump(res, open("%s/%s.json" % (sys.argv[2], name), "w"))
PY
"$hnd" eval --gt "$gt" --dt "$t/same.json" --iou keypoints --json "$t/same_stats.json" --quiet > "$t/same.txt"
"$hnd" eval --gt "$gt" --dt "$t/moved.json" --iou keypoints --json "$t/moved_stats.json" --quiet > "$t/moved.txt"
cat "$t/same.txt"
[ "$(wc -l < "$t/same.txt")" = 10 ]
grep -q "Average Precision  (AP) @\[ IoU=0.50:0.95 | area=   all | maxDets= 20 \] = 1.000" "$t/same.txt"
"$py" - "$t/same_stats.json" "$t/moved_stats.json" <<'PY'
import json, sys
a, b = (json.load(open(p))["keypoints"] for p in sys.argv[1:3])
assert len(a) == 10 and a[0] == 1.0 and a[5] == 1.0, a
assert 0 <= b[0] < 1.0, b  # 3 px off: OKS below 1 at the strict thresholds
print("keypoint AP: same %.3f, moved 3 px %.3f" % (a[0], b[0]))
PY
echo "test_synth_kp: ok"
