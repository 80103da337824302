#!/usr/bin/env bash
# The training figures of the models issue, on one GPU: SPikE-SSM on the embedded sequential
# digits, and on LRA ListOps generated here (seeded; 16 000 training sequences of the published
# generator, fewer than the release's 96 000, to fit a device session). One run at a time: runs
# sharing a GPU slow each other down many times over. Writes metrics under ${OUT:-gpu-training}.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-training}
mkdir -p "$OUT"
python3 -m spikessm_snn.cli listops-generate --out /tmp/listops --train "${LISTOPS_TRAIN:-16000}" --val 200 \
  --test 1000 --seed 0 > /tmp/listops-generate.log 2>&1 &
run() { python3 -m spikessm_snn.cli "$@" 2>&1 | tr '\r' '\n' | grep '^{' || true; }
run train --task digits --model spike-ssm --backend cupy --d-model 64 --layers 4 --epochs "${DIGITS_EPOCHS:-40}" --lr 0.005 \
  --out /tmp/digits_spike_ssm | tail -2
cp /tmp/digits_spike_ssm/metrics.jsonl "$OUT/train_digits_spike_ssm_gpu.jsonl"
wait
timeout "${LISTOPS_SECONDS:-330}" python3 -m spikessm_snn.cli train --task listops --data-dir /tmp/listops \
  --model spike-ssm --backend cupy --d-model 128 --d-state 4 --layers 4 --bidirectional --trainable-b --detach-reset \
  --batch 32 --epochs "${LISTOPS_EPOCHS:-14}" --lr 0.004 --schedule cosine --warmup 200 --grad-clip 1.0 \
  --out /tmp/listops_spike_ssm 2>&1 | tr '\r' '\n' | grep '^{' || true
cp /tmp/listops_spike_ssm/metrics.jsonl "$OUT/train_listops_spike_ssm_gpu.jsonl"
python3 - /tmp/listops/basic_test.tsv <<'PY'
import collections, csv, sys
labels = [row[1] for row in csv.reader(open(sys.argv[1]), delimiter="\t")][1:]
label, count = collections.Counter(labels).most_common(1)[0]
print(f"ListOps test set: majority class {label} is {count / len(labels):.3f} of {len(labels)} (chance 0.100)")
PY
