#!/usr/bin/env bash
# SpikingJelly 2.0.0's native CUDA LIF op, built from its sdist on a GPU machine (nvcc and a CUDA
# build of torch there), for analysis/bench_fused.py to compare with (SJ_LIF_CUDA_IMPLEMENTATION=cuda).
#
#   bash analysis/build_spikingjelly_native.sh .whl/spikingjelly-2.0.0.tar.gz /tmp/site
#
# Builds only ops/lif (every other op keeps SpikingJelly's torch fallback) for SJ_CUDA_ARCH (default
# 9.0: the loader accepts code=sm_90 on an H100/H200) and installs it into the target folder (default
# /tmp/site), replacing a pure-Python install there. The machine's own TORCH_CUDA_ARCH_LIST is not
# used: the lent H100s set it to 9.0a, whose arch-specific sm_90a code SpikingJelly's loader refuses.
#
# SpikingJelly's loader (ops/native_loader.py, _check_native_device) accepts the op on a GPU only where
# cuda_arch_flags in the installed _native_build.json holds code=sm_NN or code=compute_NN for it; the
# flags its setup.py recorded had none on an H100 (torch 2.11.0+cu130: "no supported binary/PTX target
# for sm_90"), so after the install analysis/spikingjelly_native_arch.py adds
# -gencode=arch=compute_NN,code=sm_NN for each arch of SJ_CUDA_ARCH that lacks one.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -lt 1 ] || [ ! -f "$1" ]; then
  echo "usage: bash analysis/build_spikingjelly_native.sh SDIST.tar.gz [TARGET]: the SpikingJelly sdist file is missing" >&2
  exit 2
fi
sdist=$1
mkdir -p "${2:-/tmp/site}"
target=$(cd "${2:-/tmp/site}" && pwd)
arch_list=${SJ_CUDA_ARCH:-9.0}
work=$(mktemp -d)
tar xzf "$sdist" -C "$work"
src=$(echo "$work"/spikingjelly-*)
find "$src/ops" -name native.cu ! -path "*/ops/lif/*" -delete
cd "$src"
SJ_BUILD_NATIVE_CUDA=1 TORCH_CUDA_ARCH_LIST="$arch_list" MAX_JOBS=${MAX_JOBS:-8} \
  python3 -m pip install -q --no-deps --no-build-isolation --no-index --upgrade --target "$target" .
python3 "$here/spikingjelly_native_arch.py" "$target" "$arch_list"
ls "$target"/spikingjelly/_ops/lif/
