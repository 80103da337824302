"""Per-layer spike rates of a trained SPikE-SSM and SpikingSSM (as SPikE-SSM's Figure 4), with
their test accuracy, on the embedded sequential digits.

    python analysis/figure_layer_spike_rates.py --epochs 20 --layers 4 --out figures/layer_rates.png
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spikessm_snn.plots import plot_layer_rates, save_figure
from spikessm_snn.training import TrainConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("figures/layer_spike_rates.png"))
    args = parser.parse_args()
    rates, summary = {}, {}
    for name, model in (("SPikE-SSM", "spike-ssm"), ("SpikingSSM", "spikingssm")):
        config = TrainConfig(task="digits", model=model, d_model=args.d_model, d_state=16, layers=args.layers,
                             epochs=args.epochs, seed=args.seed)  # fmt: skip
        last = train(config, Path(tempfile.mkdtemp()), progress=False)[-1]
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
