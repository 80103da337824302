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

from spikessm_snn.plots import save_figure
from spikessm_snn.plots.style import new_figure
from spikessm_snn.training import TrainConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("figures/trainable_tau.png"))
    args = parser.parse_args()
    fig, axes = new_figure(1, 1, 6.0, 3.8)
    ax = axes[0, 0]
    for label, learn in (("fixed tau, tau_r", False), ("trainable tau, tau_r", True)):
        config = TrainConfig(task="digits", model="spike-ssm", d_model=64, d_state=16, layers=4, epochs=args.epochs,
                             seed=args.seed, fixed_thresholds=True, learn_decays=learn)  # fmt: skip
        history = train(config, Path(tempfile.mkdtemp()), progress=False)
        accuracy = [h["test_accuracy"] for h in history]
        ax.plot(range(1, len(accuracy) + 1), accuracy, marker="o", label=f"{label} (final {accuracy[-1]:.3f})")
        print(label, [round(a, 3) for a in accuracy])
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy")
    ax.set_title("SPikE-SSM-SRR, U_th = v_th = 1: fixed vs trainable decays", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    print("wrote", save_figure(fig, args.out))


if __name__ == "__main__":
    main()
