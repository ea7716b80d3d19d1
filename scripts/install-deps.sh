#!/usr/bin/env bash
# Install what hnd needs from Debian 12's archive. Idempotent and quiet when
# everything is there already: only missing packages reach apt-get.
# Usage: scripts/install-deps.sh [extra packages...]
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config
  libtorch-dev libopenblas0-pthread        # torch; OpenBLAS: Debian's reference BLAS is ~9x slower
  libgloo-dev                              # distributed training: Gloo headers for c10d (ctorch/ct_dist.cpp)
  libhdf5-dev libcjson-dev libpng-dev libjpeg62-turbo-dev libzip-dev
  libcairo2-dev fonts-dejavu-core          # figures: cairo (PNG/SVG/PDF), the font they use
  libcmocka-dev
  libzstd-dev                              # link codec: the zstd baseline next to our rANS
  libprotobuf-c-dev protobuf-c-compiler libonnx-dev   # hnd export: head.onnx from onnx.proto
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user   # export test: the C head built for and run on ARM
  python3-torchvision python3-h5py python3-pil   # test oracles (/usr/bin/python3)
  python3-onnx python3-opencv                     # export oracles: onnx.checker, OpenCV's DNN runs head.onnx
  cython3 python3-dev python3-matplotlib time     # make bench: pycocotools built from source (bench/pycocotools_env.sh), GNU time
  "$@"
)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
