#!/usr/bin/env bash
# test_cli_options.sh: the table-driven options (tools/cli_opt.h) and the
# input limits of issue 19. Every case: the command, its exit status, the
# message naming the option or file, and that nothing was written.
set -u
BIN=${HND_BIN_DIR:?}
SRC=${HND_SRC_DIR:?}
PY=${HND_PYTHON:-/usr/bin/python3}
T=${HND_TEST_TMP:-.}/cli_options
rm -rf "$T"
mkdir -p "$T"
cd "$T" || exit 1
hnd="$BIN/hnd"
fail=0
# expect RC PATTERN COMMAND...: exit status RC and PATTERN (grep -E) in the output
expect() {
    local want=$1 pat=$2; shift 2
    out=$("$@" 2>&1); rc=$?
    if [ "$rc" != "$want" ]; then echo "FAIL: $*: exit $rc, wanted $want: $out"; fail=1; return; fi
    if ! grep -Eq -- "$pat" <<< "$out"; then echo "FAIL: $*: no '$pat' in: $out"; fail=1; fi
}

# torch-free commands
expect 2 "--train: expected an integer, got 'abc'" "$hnd" synth --out s --train abc --val 1
expect 2 "--quality: expected an integer in 1..100, got '0'" "$hnd" synth --out s --train 1 --val 1 --quality 0
expect 2 "--seed: expected an unsigned integer, got '-1'" "$hnd" synth --out s --train 1 --val 1 --seed -1
expect 2 "--out needs a value" "$hnd" synth --train 1 --val 1 --out
expect 2 "unknown option '--bogus'" "$hnd" synth --bogus
expect 2 "--iou: expected one of bbox\|segm\|keypoints, got 'mask'" "$hnd" eval --gt a --dt b --iou mask
expect 2 "--quiet takes no value" "$hnd" eval --gt a --dt b --iou bbox --quiet=1
[ -e s ] && { echo "FAIL: a usage error wrote s"; fail=1; }
"$hnd" synth --out syn --train 6 --val 2 --size 64x64 --quiet || { echo "FAIL: synth"; fail=1; }
# inputs must be regular files
expect 1 "/dev/zero: not a regular file" "$hnd" eval --gt syn/annotations/instances_val.json --dt /dev/zero --iou bbox
expect 1 "syn: is a directory" "$hnd" eval --gt syn --dt x.json --iou bbox
# synth: a set of its own is replaced (no stale images), anything else refused
"$hnd" synth --out syn --train 2 --val 1 --size 64x64 --quiet || { echo "FAIL: synth again"; fail=1; }
[ "$(ls syn/train | wc -l)" = 2 ] || { echo "FAIL: stale images: $(ls syn/train)"; fail=1; }
mkdir other && echo keep > other/notes.txt
expect 1 "not empty and holds no set written by hnd synth" "$hnd" synth --out other --train 1 --val 1
[ "$(ls other)" = notes.txt ] || { echo "FAIL: synth touched other/"; fail=1; }

if [ -x "$BIN/hnd-torch" ]; then
    "$PY" "$SRC/tests/py/make_teacher.py" w.h5 --depth 18 --num-classes 22 > /dev/null
    D=(--weights w.h5 --arch faster_rcnn_resnet18_fpn --num-classes 22 --min-size 64 --max-size 64 --out r.json)
    for v in abc -1 2; do
        expect 2 "--score-thresh: expected (a number|a number in 0..1), got '$v'" "$hnd" detect "${D[@]}" --score-thresh "$v" syn/val
    done
    expect 2 "--min-size: expected a number, got 'abc'" "$hnd" detect "${D[@]}" --min-size abc syn/val
    expect 2 "--min-size: expected a number in 32..8192, got '0'" "$hnd" detect "${D[@]}" --min-size 0 syn/val
    expect 2 "--min-size: expected a number in 32..8192, got '100000'" "$hnd" detect "${D[@]}" --min-size 100000 syn/val
    expect 2 "--num-classes: expected an integer, got 'abc'" "$hnd" detect "${D[@]}" --num-classes abc syn/val
    expect 2 "--threads: expected an integer, got 'x'" "$hnd" detect "${D[@]}" --threads x syn/val
    expect 2 "--threads: expected an integer in 0\.\.[0-9]+, got '-3'" "$hnd" detect "${D[@]}" --threads -3 syn/val
    expect 2 "--batch: expected an integer in 1..1024, got '0'" "$hnd" detect "${D[@]}" --batch 0 syn/val
    expect 2 "--device: device 'gpu': expected cpu, cuda or cuda:N" "$hnd" detect "${D[@]}" --device gpu syn/val
    expect 2 "--seed: expected an unsigned integer, got 'abc'" "$hnd" analyze --arch faster_rcnn_resnet18_fpn --seed abc
    expect 2 "--runs: expected an integer in 1..1000000, got 'x'|--runs: expected an integer, got 'x'" \
        "$hnd" bench-latency --arch faster_rcnn_resnet18_fpn --images syn/val --runs x
    expect 2 "--threads 100000: at most [0-9]+ threads" "$hnd" info --threads 100000
    expect 2 "HND_THREADS='x'" env HND_THREADS=x "$hnd" info
    [ -e r.json ] && { echo "FAIL: a usage error wrote r.json"; fail=1; }
    # figures in the format asked for; a failed run leaves no directory
    expect 2 "--format: expected one of png\|svg\|pdf, got 'bmp'" "$hnd" analyze --arch faster_rcnn_resnet18_fpn --format bmp
    A=(--arch faster_rcnn_resnet18_fpn --input 3x96x96 --min-size 96 --max-size 96 --quiet --no-student)
    "$hnd" analyze "${A[@]}" --out an_svg --format svg > /dev/null && "$hnd" analyze "${A[@]}" --out an_pdf --format pdf > /dev/null ||
        { echo "FAIL: analyze --format"; fail=1; }
    head -c 5 an_svg/params.svg | grep -q '<?xml' && head -c 4 an_pdf/tensor_sizes.pdf | grep -q '%PDF' ||
        { echo "FAIL: analyze --format svg/pdf: $(ls an_svg an_pdf)"; fail=1; }
    expect 1 "nope.h5" "$hnd" analyze "${A[@]}" --weights nope.h5 --out an_failed
    [ -e an_failed ] && { echo "FAIL: a failed analyze left an_failed/"; fail=1; }
    # a corrupt image is skipped and counted; --strict-images makes it fatal
    mkdir imgs && cp syn/val/*.jpg imgs/ && head -c 100 syn/train/$(ls syn/train | head -1) > imgs/000000009999.jpg
    expect 0 "1 unreadable images skipped" "$hnd" detect "${D[@]}" imgs
    "$PY" -c "import json; r = json.load(open('r.json')); assert all(d['image_id'] != 9999 for d in r)" ||
        { echo "FAIL: results of the corrupt image"; fail=1; }
    rm r.json
    expect 1 "000000009999.jpg" "$hnd" detect "${D[@]}" --strict-images imgs
    [ -e r.json ] && { echo "FAIL: --strict-images wrote r.json"; fail=1; }
    # an image whose resized side would be 0
    mkdir -p thin && "$PY" -c "from PIL import Image; Image.new('RGB', (4000, 2)).save('thin/000000000001.png')"
    expect 1 "image 4000x2: resized to min/max size 64/64 it would be 64x0 \(aspect ratio too extreme\)" \
        "$hnd" detect "${D[@]}" thin
fi
[ $fail = 0 ] && echo "cli options ok"
exit $fail
