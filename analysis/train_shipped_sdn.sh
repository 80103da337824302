#!/usr/bin/env bash
# How the shipped SDN (spikessm_snn/backends/sdn/weights/sdn_tau0.125.pt) was made, on the lent
# GPU: the published recipe (50 000 sequences of T=1024 from N(0,1), batch 64,
# AdamW lr 0.01 wd 0.01, cosine) but 250 epochs instead of 100, seed 0; then its agreement
# table. Resumable: run again.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-sdn-results}
mkdir -p "$OUT"
python3 -m spikessm_snn.cli sdn-train --tau 0.125 --steps 1024 --sequences 50000 --epochs ${EPOCHS:-250} --batch 64 \
  --seed 0 --out "$OUT/sdn_tau0.125.pt" --resume 2>&1 | tr '\r' '\n' | grep -v "it/s" | tee "$OUT/sdn_train.log"
python3 analysis/sdn_agreement.py --weights "$OUT/sdn_tau0.125.pt" --csv "$OUT/sdn_agreement.csv" \
  | tee "$OUT/sdn_agreement.md"
