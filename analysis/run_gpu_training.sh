#!/usr/bin/env bash
# SPikE-SSM on the embedded sequential digits, on one GPU; metrics under ${OUT:-gpu-training}.
# The ListOps comparison (three models, several GPUs) is analysis/listops_runs.py.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-training}
mkdir -p "$OUT"
python3 -m spikessm_snn.cli train --task digits --model spike-ssm --backend cupy --d-model 64 --layers 4 \
  --epochs "${DIGITS_EPOCHS:-40}" --lr 0.005 --out /tmp/digits_spike_ssm --resume 2>&1 | grep '^{' | tail -2 || true
cp /tmp/digits_spike_ssm/metrics.jsonl "$OUT/train_digits_spike_ssm_gpu.jsonl"
