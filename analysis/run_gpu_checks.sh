#!/usr/bin/env bash
# The GPU checks of the fast backends, as run on the lent H100/H200 (see README, "GPU").
# Installs carried wheels from .whl/ if present, runs the GPU tests and the benchmarks, and
# writes logs and CSV files to ${OUT:-gpu-results}.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1
python3 - <<'PY' 2>&1 | tee "$OUT/environment.txt"
import torch, cupy, numpy
print("GPU:", torch.cuda.get_device_name(0), "| torch", torch.__version__, "CUDA", torch.version.cuda,
      "| CuPy", cupy.__version__, "| numpy", numpy.__version__)
PY
timeout 330 python3 -m pytest -q -p no:cacheprovider "${@:-tests}" 2>&1 | tee "$OUT/tests.log" | tail -25
bench() { timeout 240 python3 analysis/bench_backends.py "$@" 2>&1 | grep -v "Triton not available" | tee -a "$OUT/bench.log"; }
bench --neuron srr --steps 256 1024 4096 16384 --backends torch pmbc cupy --reference-max-steps 16384 \
  --csv "$OUT/bench_srr_wide.csv"
bench --neuron srr --steps 65536 --backends pmbc cupy --repeats 5 --csv "$OUT/bench_srr_wide_long.csv"
bench --neuron srr --batch 1 --steps 4096 16384 65536 --backends torch pmbc cupy --repeats 5 \
  --reference-max-steps 16384 --csv "$OUT/bench_srr_narrow.csv"
