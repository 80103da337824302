#!/usr/bin/env bash
# The training figures of the models issue, on one GPU: SPikE-SSM on the embedded sequential
# digits, and on LRA ListOps generated here (seeded; smaller than the LRA release to fit the
# session). Writes metrics and checkpoints under ${OUT:-gpu-training}.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-training}
mkdir -p "$OUT"
run() { python3 -m spikessm_snn.cli "$@" 2>&1 | tr '\r' '\n' | grep -v "it/s" | grep -v "Triton"; }
run train --task digits --model spike-ssm --backend cupy --d-model 64 --layers 4 --epochs "${DIGITS_EPOCHS:-40}" --lr 0.005 \
  --out "$OUT/digits_spike_ssm" | tail -3
run listops-generate --out "$OUT/listops" --train "${LISTOPS_TRAIN:-8000}" --val 500 --test 1000 --seed 0
timeout "${LISTOPS_SECONDS:-300}" python3 -m spikessm_snn.cli train --task listops --data-dir "$OUT/listops" \
  --model spike-ssm --backend cupy --d-model 64 --d-state 4 --layers 4 --bidirectional --trainable-b --detach-reset \
  --batch 32 --epochs "${LISTOPS_EPOCHS:-6}" --out "$OUT/listops_spike_ssm" 2>&1 | tr '\r' '\n' \
  | grep -v "it/s" | grep -v Triton || true
python3 - "$OUT/listops/basic_test.tsv" <<'PY'
import collections, csv, sys
labels = [row[1] for row in csv.reader(open(sys.argv[1]), delimiter="\t")][1:]
label, count = collections.Counter(labels).most_common(1)[0]
print(f"ListOps test set: majority class {label} is {count / len(labels):.3f} of {len(labels)} (chance 0.100)")
PY
