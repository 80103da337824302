"""A training run's best-on-validation weights as a shippable weights file.

    python analysis/export_weights.py .runs/listops/spike-ssm/checkpoint.pt spikessm_snn/pretrained/listops_spike_ssm.pt

Keeps the configuration, the best epoch's tensors, what that epoch measured (``metrics``: the
epoch's record, validation and test accuracy, per-layer spike rates), the task's ``d_input`` and
``classes``, and a SHA-256 of the tensors that ``spikessm evaluate`` verifies (``checkpoints.export_weights``).
The optimizer state and the history stay behind.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spikessm_snn.checkpoints import CheckpointError, export_weights, read_checkpoint
from spikessm_snn.training.config import TrainConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "checkpoint", type=Path, help="a training checkpoint (spikessm train --out DIR: DIR/checkpoint.pt)"
    )
    parser.add_argument("out", type=Path, help="the weights file to write")
    parser.add_argument("--trained-on", default="", help="the machine and backend, recorded in the metrics")
    parser.add_argument("--data", default="", help="where the data came from, recorded in the metrics")
    args = parser.parse_args()
    saved = read_checkpoint(args.checkpoint, ("config", "model", "history", "best", "d_input", "classes"))
    best = saved["best"]
    metrics = next(record for record in saved["history"] if record["epoch"] == best["epoch"])
    metrics = {**metrics, "epochs": len(saved["history"]), "trained_on": args.trained_on, "data": args.data}
    export_weights(args.out, TrainConfig.from_dict(saved["config"]), best["model"], metrics,
                   d_input=saved["d_input"], classes=saved["classes"])  # fmt: skip
    print(f"{args.out}: epoch {best['epoch']}, validation {metrics['val_accuracy']}, test {metrics['test_accuracy']}")


if __name__ == "__main__":
    try:
        main()
    except CheckpointError as error:  # a user's mistake: one line, exit code 2, as the CLI answers
        print(f"export_weights: {error}", file=sys.stderr)
        sys.exit(2)
