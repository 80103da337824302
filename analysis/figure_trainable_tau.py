"""Fixed against trainable decays (as SPikE-SSM's Figure 5): SPikE-SSM-SRR with U_th = v_th = 1
and tau, tau_r either fixed or trained, test accuracy per epoch on the embedded sequential digits.

    python analysis/figure_trainable_tau.py --epochs 15 --out figures/trainable_tau.png
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spikessm_snn.plots import plot_curves, save_figure
from spikessm_snn.training import TrainConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("figures/trainable_tau.png"))
    args = parser.parse_args()
    curves = {}
    for label, learn in (("fixed tau, tau_r", False), ("trainable tau, tau_r", True)):
        config = TrainConfig(task="digits", model="spike-ssm", d_model=64, d_state=16, layers=4, epochs=args.epochs,
                             seed=args.seed, fixed_thresholds=True, learn_decays=learn)  # fmt: skip
        history = train(config, Path(tempfile.mkdtemp()), progress=False)
        accuracy = [h["test_accuracy"] for h in history]
        curves[f"{label} (final {accuracy[-1]:.3f})"] = (range(1, len(accuracy) + 1), accuracy)
        print(label, [round(a, 3) for a in accuracy])
    fig = plot_curves(curves, "epoch", "test accuracy", "SPikE-SSM-SRR, U_th = v_th = 1: fixed vs trainable decays")
    print("wrote", save_figure(fig, args.out))


if __name__ == "__main__":
    main()
