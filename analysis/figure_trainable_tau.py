"""Fixed against trainable decays (as SPikE-SSM's Figure 5): SPikE-SSM-SRR with U_th = v_th = 1
and tau, tau_r either fixed or trained, test accuracy per epoch on the embedded sequential digits.

    python analysis/figure_trainable_tau.py --epochs 15 --out figures/trainable_tau.png
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spikessm_snn.data import sequential_digits
from spikessm_snn.models import SequenceClassifier
from spikessm_snn.plots import save_figure
from spikessm_snn.plots.style import new_figure
from spikessm_snn.ssm import spike_ssm_block
from spikessm_snn.training import train_classifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("figures/trainable_tau.png"))
    args = parser.parse_args()
    train, test = sequential_digits(seed=args.seed)
    fig, axes = new_figure(1, 1, 6.0, 3.8)
    ax = axes[0, 0]
    for label, learn in (("fixed tau, tau_r", False), ("trainable tau, tau_r", True)):
        torch.manual_seed(args.seed)
        block = partial(spike_ssm_block, d_state=16, learn_thresholds=False, learn_decays=learn)
        model = SequenceClassifier(1, 10, block, d_model=64, layers=4, norm="batch")
        history = train_classifier(model, train, test, epochs=args.epochs, seed=args.seed)
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
