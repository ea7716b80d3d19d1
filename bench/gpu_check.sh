#!/usr/bin/env bash
# GPU check (issue #20): on a machine with CUDA and a PyTorch installation,
# build hnd against that PyTorch's libtorch, run the CUDA parity checks and
# the benchmarks with --device cuda, and write a summary file.
#
# usage: bench/gpu_check.sh [OUT_DIR] [--dry-run]
#   OUT_DIR   where the summary (gpu_summary.txt) and the logs go
#             (default $OUT, else ./gpu-check)
#   --dry-run print the plan and the environment checks, run nothing
#             (works without CUDA: the way this script is tested on CPUs)
# Environment: PYTHON (default python3; the one with torch + torchvision),
#   GPU_BUILD (build dir, default build-gpu), GPU_JOBS (default nproc).
#
# Steps, each timed, PASS / FAIL / SKIP in the summary, each under a
# timeout so that the whole run stays under 8 minutes:
#   env       nvidia-smi, torch.cuda.is_available(), torchvision
#   build     cmake -DTorch_DIR=<torch.utils.cmake_prefix_path>/Torch, Release
#   info      `hnd info` reports CUDA
#   detect    Faster and Mask R-CNN R50-FPN (torchvision's init, seed 0,
#             imported with hnd import-torchvision): hnd detect --device cuda
#             against hnd on the CPU and torchvision on CUDA (boxes, scores;
#             RoIAlign, NMS and mask pasting run inside)
#   teacher   hnd train-teacher --set device=cuda, 1 short epoch of the demo
#             teacher on hnd synth data (losses finite), then
#   eval      hnd eval-model --device cuda vs the CPU on that checkpoint
#             (the same mAP to 1e-3) and the hnd eval of the results
#   bench     hnd bench-latency --device cuda (head / tail / whole) and the
#             detect time against torchvision on CUDA: RATIO lines
# Exit status: 0 when every step that ran passed, 1 otherwise, 2 without
# CUDA (the summary says why).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
dry=0; out=""
for a in "$@"; do
  case $a in
    --dry-run) dry=1 ;;
    -h|--help) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "gpu_check: unknown option $a (see --help)" >&2; exit 2 ;;
    *) out=$a ;;
  esac
done
out=${out:-${OUT:-./gpu-check}}
PY=${PYTHON:-python3}
build=${GPU_BUILD:-$src/build-gpu}
jobs=${GPU_JOBS:-$(nproc)}
mkdir -p "$out/logs" || { echo "gpu_check: cannot create $out" >&2; exit 2; }
out=$(cd "$out" && pwd)
work="$out/work"; mkdir -p "$work"
summary="$out/gpu_summary.txt"
t_start=$(date +%s)
: > "$summary.part"
say() { echo "$*" | tee -a "$summary.part"; }
finish() {
  say "total: $(( $(date +%s) - t_start )) s"
  mv "$summary.part" "$summary"
  echo "gpu_check: summary in $summary"
  exit "$1"
}
failed=0
# step NAME TIMEOUT_S CMD...: runs CMD (a shell function or command) with a
# timeout, its output in logs/NAME.log; records PASS/FAIL and the seconds.
step() {
  local name=$1 limit=$2; shift 2
  if [ $dry = 1 ]; then say "would run: $name (timeout ${limit}s): $*"; return 0; fi
  local t0=$(date +%s) rc
  timeout --kill-after=10 "$limit" bash -c "$(declare -f); $*" > "$out/logs/$name.log" 2>&1
  rc=$?
  local dt=$(( $(date +%s) - t0 ))
  if [ $rc = 0 ]; then
    say "PASS $name (${dt} s)"
  else
    [ $rc = 124 ] && say "FAIL $name: timed out after ${limit} s" || say "FAIL $name (exit $rc, ${dt} s)"
    tail -5 "$out/logs/$name.log" | sed 's/^/    /' | tee -a "$summary.part"
    failed=1
  fi
  # figures a step reports: lines "FIGURE ..." and "RATIO ..." of its log
  grep -E "^(FIGURE|RATIO) " "$out/logs/$name.log" 2>/dev/null | sed 's/^FIGURE /    /' | tee -a "$summary.part"
  return $rc
}

say "gpu_check: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname), source $src"
# ---- env -------------------------------------------------------------------
cuda_ok=1; why=""
if ! command -v nvidia-smi >/dev/null 2>&1; then cuda_ok=0; why="no nvidia-smi (no NVIDIA driver)"; fi
if [ $cuda_ok = 1 ]; then
  say "gpu: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)"
fi
torch_info=$("$PY" -c 'import torch, torchvision; print(torch.__version__, torchvision.__version__, int(torch.cuda.is_available()), torch.utils.cmake_prefix_path)' 2>&1)
if [ $? != 0 ]; then
  cuda_ok=0; why="${why:+$why; }$PY cannot import torch and torchvision: $(echo "$torch_info" | tail -1)"
else
  read -r tv tvv tcuda tprefix <<< "$torch_info"
  say "torch $tv, torchvision $tvv, cuda available $tcuda, cmake prefix $tprefix"
  [ "$tcuda" = 1 ] || { cuda_ok=0; why="${why:+$why; }torch.cuda.is_available() is False"; }
fi
for p in cmake pkg-config; do command -v $p >/dev/null || say "missing tool: $p (scripts/install-deps.sh)"; done
if [ $cuda_ok = 0 ]; then
  say "gpu_check: no CUDA here: $why"
  if [ $dry = 0 ]; then say "gpu_check: nothing run (needs a CUDA GPU and a CUDA build of PyTorch)"; finish 2; fi
  say "gpu_check: --dry-run: the plan on a CUDA machine would be:"
  tprefix=${tprefix:-'<torch.utils.cmake_prefix_path>'}
fi

# ---- the steps ---------------------------------------------------------------
hnd="$build/hnd"
do_build() {
  cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTorch_DIR="$tprefix/Torch" &&
    cmake --build "$build" -j "$jobs" --target hnd hnd-torch
}
do_info() {
  "$hnd" info && "$hnd" info | grep -q "^cuda: available"
}
do_data() {
  "$hnd" synth --out "$work/syn" --train 48 --val 8 --size 320x240 --class-colors --quiet
}
# torchvision's model with its own initialisation (seed 0), saved and imported
do_weights() {
  "$PY" - "$work" <<'EOF'
import sys, torch, torchvision
w = sys.argv[1]
for name, fn in (("faster", torchvision.models.detection.fasterrcnn_resnet50_fpn),
                 ("mask", torchvision.models.detection.maskrcnn_resnet50_fpn)):
    torch.manual_seed(0)
    m = fn(weights=None, weights_backbone=None)
    torch.save(m.state_dict(), "%s/%s.pth" % (w, name))
EOF
  for n in faster mask; do "$hnd" import-torchvision "$work/$n.pth" "$work/$n.h5" --quiet || return 1; done
}
# hnd detect on cuda vs the CPU vs torchvision on cuda; score threshold 0.05
do_detect() {
  local rc=0
  for n in faster mask; do
    local arch=${n}_rcnn_resnet50_fpn
    "$hnd" detect --weights "$work/$n.h5" --arch "$arch" --device cuda --out "$work/det_${n}_cuda.json" --quiet "$work/syn/val" &&
      "$hnd" detect --weights "$work/$n.h5" --arch "$arch" --device cpu --out "$work/det_${n}_cpu.json" --quiet "$work/syn/val" &&
      "$PY" - "$work" "$n" <<'EOF' || rc=1
import glob, json, os, sys, torch, torchvision
from PIL import Image
w, n = sys.argv[1], sys.argv[2]
fn = {"faster": torchvision.models.detection.fasterrcnn_resnet50_fpn,
      "mask": torchvision.models.detection.maskrcnn_resnet50_fpn}[n]
m = fn(weights=None, weights_backbone=None)
m.load_state_dict(torch.load("%s/%s.pth" % (w, n)))
m = m.cuda().eval()
files = sorted(glob.glob(w + "/syn/val/*.jpg"))
ref = {}
with torch.no_grad():
    for f in files:
        img_id = int(os.path.splitext(os.path.basename(f))[0])
        x = torchvision.transforms.functional.to_tensor(Image.open(f).convert("RGB")).cuda()
        o = m([x])[0]
        ref[img_id] = [(b, s) for b, s in zip(o["boxes"].tolist(), o["scores"].tolist())]
def load(p):
    d = {}
    for r in json.load(open(p)):
        x, y, bw, bh = r["bbox"]
        d.setdefault(r["image_id"], []).append(([x, y, x + bw, y + bh], r["score"]))
    return {k: sorted(v, key=lambda t: -t[1]) for k, v in d.items()}
def cmp(a, b, k=10):
    worst_b = worst_s = 0.0
    for img in set(a) | set(b):
        for (ba, sa), (bb, sb) in zip(a.get(img, [])[:k], b.get(img, [])[:k]):
            worst_b = max(worst_b, max(abs(u - v) for u, v in zip(ba, bb)))
            worst_s = max(worst_s, abs(sa - sb))
    return worst_b, worst_s
cu, cp = load("%s/det_%s_cuda.json" % (w, n)), load("%s/det_%s_cpu.json" % (w, n))
ref = {k: sorted(v, key=lambda t: -t[1]) for k, v in ref.items()}
b1, s1 = cmp(cu, cp)
b2, s2 = cmp(cu, ref)
ncu, ncp, nref = (sum(len(v) for v in d.values()) for d in (cu, cp, ref))
print("FIGURE detect %s: %d detections on cuda, %d on the cpu, torchvision cuda %d; top-10 per image: "
      "max |box diff| cuda-cpu %.3g px, cuda-torchvision %.3g px; max |score diff| %.3g, %.3g"
      % (n, ncu, ncp, nref, b1, b2, s1, s2))
sys.exit(0 if b2 < 0.5 and s2 < 1e-2 and b1 < 0.5 else 1)
EOF
  done
  return $rc
}
do_teacher() {
  "$hnd" train-teacher "$src/configs/demo/teacher_mask_rcnn_r18_synth.json" --set device=cuda \
    --set dataset.root="\"$work/syn\"" --set output_dir="\"$work/teacher\"" --set model.ckpt="\"$work/teacher/best.h5\"" \
    --set train.num_epochs=1 --set dataset.num_workers=2 --overwrite --no-val &&
    grep -q '"loss"' "$work/teacher/metrics.jsonl" &&
    "$PY" -c "
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
v = [r['loss'] for r in rows if 'loss' in r]
print('FIGURE teacher on cuda: %d loss records, last %.4f' % (len(v), v[-1]))
sys.exit(0 if v and all(math.isfinite(x) for x in v) else 1)" "$work/teacher/metrics.jsonl"
}
do_eval() {
  local c="$src/configs/demo/teacher_mask_rcnn_r18_synth.json"
  "$hnd" eval-model "$work/teacher/best.h5" --config "$c" --split val --set dataset.root="\"$work/syn\"" \
    --set device=cuda --json "$work/eval_cuda.json" --out "$work/res_cuda.json" --quiet &&
    "$hnd" eval-model "$work/teacher/best.h5" --config "$c" --split val --set dataset.root="\"$work/syn\"" \
      --set device=cpu --json "$work/eval_cpu.json" --quiet &&
    "$hnd" eval --gt "$work/syn/annotations/instances_val.json" --dt "$work/res_cuda.json" --iou segm &&
    "$PY" -c "
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
d = max(abs(x - y) for k in a if isinstance(a[k], list) for x, y in zip(a[k], b.get(k, [])))
print('FIGURE eval-model cuda vs cpu: max |stat diff| %.3g' % d)
sys.exit(0 if d <= 1e-3 else 1)" "$work/eval_cuda.json" "$work/eval_cpu.json"
}
do_bench() {
  "$hnd" bench-latency --arch faster_rcnn_resnet50_fpn --student-channels 3 --images "$work/syn/val" \
    --device cuda --runs 20 --out "$work/latency" 2>&1 | tail -20
  "$PY" - "$work" "$hnd" <<'EOF'
import glob, subprocess, sys, time, torch, torchvision
from PIL import Image
w, hnd = sys.argv[1], sys.argv[2]
files = sorted(glob.glob(w + "/syn/val/*.jpg"))
m = torchvision.models.detection.fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None)
m.load_state_dict(torch.load(w + "/faster.pth"))
m = m.cuda().eval()
xs = [torchvision.transforms.functional.to_tensor(Image.open(f).convert("RGB")).cuda() for f in files]
with torch.no_grad():
    for x in xs[:2]:
        m([x])
    torch.cuda.synchronize()
    t = []
    for r in range(3):
        t0 = time.perf_counter()
        for x in xs:
            m([x])
        torch.cuda.synchronize()
        t.append((time.perf_counter() - t0) / len(xs))
tv = sorted(t)[1]
h = []
for r in range(3):
    t0 = time.perf_counter()
    subprocess.run([hnd, "detect", "--weights", w + "/faster.h5", "--arch", "faster_rcnn_resnet50_fpn", "--device",
                    "cuda", "--out", w + "/bench_det.json", "--quiet"] + files, check=True)
    h.append((time.perf_counter() - t0) / len(files))
hd = sorted(h)[1]
print("FIGURE detect Faster R-CNN R50-FPN on cuda, %d images 320x240->800: torchvision %.1f ms/image (model only), "
      "hnd detect %.1f ms/image (whole process: load, JPEG decode, write)" % (len(files), tv * 1e3, hd * 1e3))
print("RATIO gpu_detect_faster_r50 %.3f <=0.6 whole hnd process vs torchvision's forward alone" % (hd / tv))
EOF
}

step build 300 do_build || { say "gpu_check: the build failed: nothing else can run"; [ $dry = 1 ] || finish 1; }
step info 30 do_info
step data 60 do_data
step weights 90 do_weights && step detect 120 do_detect
step teacher 150 do_teacher && step eval 90 do_eval
step bench 150 do_bench
if [ $dry = 1 ]; then
  say "gpu_check: --dry-run: CUDA $([ $cuda_ok = 1 ] && echo present || echo "absent ($why)"); the steps above are what a run does"
  finish 0
fi
finish $failed
