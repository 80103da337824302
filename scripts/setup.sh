#!/usr/bin/env bash
# Set up ./.venv on a fresh machine: the pinned torch, this package, SpikingJelly and snnTorch.
#   TORCH_SPEC  torch requirement to install first (default torch==2.13.0, the CPU build here;
#               on a GPU machine with a CUDA torch already in the interpreter, use
#               PYTHON=python3 VENV_ARGS=--system-site-packages to reuse it).
#   PYTHON      interpreter to build the venv from (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv ${VENV_ARGS:-} .venv
fi
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }
.venv/bin/python -c "import torch" 2>/dev/null || pip install "$TORCH_SPEC"
pip install -e ".[frameworks,dev]"
# spikingjelly's metadata pulls torchvision/torchaudio (and with them a CUDA torch): --no-deps.
pip install --no-deps "spikingjelly==2.0.0"
# The release most published code uses, kept apart for the adapter tests of both versions.
if [ ! -d .deps/spikingjelly-0.0.0.0.14/spikingjelly ]; then
  pip install --no-deps --target .deps/spikingjelly-0.0.0.0.14 "spikingjelly==0.0.0.0.14"
fi
# NVRTC and the CUDA headers, kept apart from the venv (a CUDA torch brings its own NVRTC): with them the
# tests compile the kernels for Hopper on a machine without a GPU too (no register spills, no flushing
# arithmetic). Optional: where no wheel installs, those tests skip.
if [ ! -d .deps/cuda-nvrtc/nvidia/cuda_nvrtc ]; then
  pip install --no-deps --target .deps/cuda-nvrtc "nvidia-cuda-nvrtc-cu12==12.9.86" "nvidia-cuda-runtime-cu12==12.9.79" \
    || echo "NVRTC not installed: the tests that compile the kernels for a GPU will skip"
fi
