"""The SDN's agreement with the exact hard-reset LIF, in the table format of the notes.

    python analysis/sdn_agreement.py --weights spikessm_snn/backends/sdn/weights/sdn_tau0.125.pt

For each (T, input mean): fresh sequences ``x ~ N(mean, 1)`` from seeds never used in training;
spike agreement, share of sequences with every spike right, MAE of ``m``. Writes a CSV.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.tables import write_csv
from spikessm_snn.backends.sdn import SHIPPED, load_sdn, sdn_agreement
from spikessm_snn.backends.sdn.training import sample_inputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=SHIPPED)
    parser.add_argument("--sequences", type=int, default=2000)
    parser.add_argument("--steps", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--means", type=float, nargs="+", default=[0.0, 0.5])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--csv", type=Path, default=Path("sdn_agreement.csv"))
    args = parser.parse_args()
    model, metadata = load_sdn(args.weights)
    model = model.to(args.device)
    tau = metadata["tau"]
    rows = []
    print(f"SDN {args.weights} (tau={tau}), {args.sequences} fresh sequences each, {args.device}")
    print(
        "| tau | T | input | spike agreement | sequences with every spike right | MAE of m |\n|---|---|---|---|---|---|"
    )
    for steps in args.steps:
        for mean in args.means:
            x = sample_inputs(args.sequences, steps, seed=900_000 + steps + int(10 * mean), mean=mean).to(args.device)
            scores = sdn_agreement(model, tau, x)
            rows.append({"tau": tau, "T": steps, "mean": mean, **scores})
            print(f"| {tau} | {steps} | N({mean:g},1) | {100 * scores['spike_agreement']:.3f}% | "
                  f"{100 * scores['sequences_all_correct']:.1f}% | {scores['mae_m']:.4f} |", flush=True)  # fmt: skip
    write_csv(args.csv, rows)


if __name__ == "__main__":
    main()
