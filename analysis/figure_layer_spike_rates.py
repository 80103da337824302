"""Per-layer spike rates of a trained SPikE-SSM and SpikingSSM (as SPikE-SSM's Figure 4), with
their test accuracy, on the embedded sequential digits.

    python analysis/figure_layer_spike_rates.py --epochs 20 --layers 4 --out figures/layer_rates.png
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spikessm_snn.data import sequential_digits
from spikessm_snn.models import SequenceClassifier
from spikessm_snn.plots import plot_layer_rates, save_figure
from spikessm_snn.ssm import spike_ssm_block, spiking_ssm_block
from spikessm_snn.training import train_classifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("figures/layer_spike_rates.png"))
    args = parser.parse_args()
    train, test = sequential_digits(seed=args.seed)
    rates, summary = {}, {}
    for name, block in (("SPikE-SSM", spike_ssm_block), ("SpikingSSM", spiking_ssm_block)):
        torch.manual_seed(args.seed)
        model = SequenceClassifier(1, 10, partial(block, d_state=16), d_model=args.d_model, layers=args.layers,
                                   norm="batch")  # fmt: skip
        last = train_classifier(model, train, test, epochs=args.epochs, seed=args.seed)[-1]
        rates[name] = list(last["spike_rates"].values())
        summary[name] = {"test_accuracy": last["test_accuracy"], "spike_rates": rates[name]}
        print(name, json.dumps(summary[name]))
    title = (
        "spike rate per layer, sequential digits ("
        + ", ".join(f"{n}: acc {s['test_accuracy']:.3f}" for n, s in summary.items())
        + ")"
    )
    print("wrote", save_figure(plot_layer_rates(rates, title=title), args.out))


if __name__ == "__main__":
    main()
