#!/usr/bin/env bash
# make demo: what exists so far, end to end, with nothing downloaded.
#  1. the torch build hnd runs on (threads, BLAS, CUDA);
#  2. a torchvision Faster R-CNN R50-FPN state dict (random weights, saved by
#     python3-torch in the legacy format of the real COCO checkpoints) imported
#     into an hnd weight file in checkpoints/.
set -euo pipefail
build=${1:-build}
hnd="$build/hnd"
mkdir -p checkpoints
echo "== hnd info"
"$hnd" info
pth=checkpoints/demo_fasterrcnn_resnet50_fpn_random.pth
h5=checkpoints/demo_fasterrcnn_resnet50_fpn_random.h5
if [ ! -f "$pth" ]; then
  echo "== saving a random-init torchvision fasterrcnn_resnet50_fpn to $pth"
  /usr/bin/python3 - "$pth" <<'PY'
import sys, torch, torchvision
torch.manual_seed(0)
m = torchvision.models.detection.fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None)
torch.save(m.state_dict(), sys.argv[1], _use_new_zipfile_serialization=False)
PY
fi
echo "== hnd import-torchvision $pth $h5"
"$hnd" import-torchvision "$pth" "$h5"
echo "demo: weights written to $h5"
