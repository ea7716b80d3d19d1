#!/usr/bin/env bash
# hnd synth: files as documented (checked with json + PIL), byte-identical
# for a seed whatever the thread count, different for another seed, fast,
# and usage errors exit 2.
set -euo pipefail
hnd="$HND_BIN_DIR/hnd"
py="${HND_PYTHON:-/usr/bin/python3}"
t="$HND_TEST_TMP/data_synth"
rm -rf "$t"; mkdir -p "$t"
start=$(date +%s.%N)
"$hnd" synth --out "$t/a" --train 200 --val 30 --seed 7 --threads 1 --quiet
end=$(date +%s.%N)
awk -v a="$start" -v b="$end" 'BEGIN { printf "synth 230 images: %.2f s\n", b - a }'
awk -v a="$start" -v b="$end" 'BEGIN { exit !(b - a < 20) }'
"$hnd" synth --out "$t/b" --train 200 --val 30 --seed 7 --threads 4 --quiet
diff -r "$t/a" "$t/b"
"$hnd" synth --out "$t/c" --train 200 --val 30 --seed 8 --quiet
if cmp -s "$t/a/annotations/instances_train.json" "$t/c/annotations/instances_train.json"; then
  echo "seed 8 gave the same annotations as seed 7"; exit 1
fi
"$py" "$HND_SRC_DIR/tests/py/data_check_synth.py" "$t/a" 200 30 320 240
"$hnd" synth --out "$t/d" --train 12 --val 3 --size 200x100 --seed 1 | grep -q "train 12 images"
"$py" "$HND_SRC_DIR/tests/py/data_check_synth.py" "$t/d" 12 3 200 100
"$hnd" synth --help | grep -q -- "--size WxH"
for args in "--train 1 --val 1" "--out $t/e --train x --val 1" "--out $t/e --train 1 --val 1 --size 10x10" \
            "--out $t/e --train 1 --val 1 --bogus" "--out $t/e --val 1"; do
  set +e; "$hnd" synth $args 2>"$t/err"; rc=$?; set -e
  [ "$rc" = 2 ] || { echo "hnd synth $args: exit $rc, expected 2"; cat "$t/err"; exit 1; }
done
set +e; "$hnd" synth --out /proc/nope --train 1 --val 1 --quiet 2>"$t/err"; rc=$?; set -e
[ "$rc" = 1 ] && grep -q "/proc/nope" "$t/err"
echo "test_data_synth: ok"
