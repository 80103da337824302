"""The ListOps comparison's figures and table, from the per-epoch metrics in ``analysis/results/listops/``.

    python analysis/figure_listops.py

Writes ``validation_accuracy.png`` (validation accuracy against epoch, the three runs of the comparison),
``training_loss.png`` and ``gradient_norm.png`` (their training loss and mean gradient norm against epoch),
``accuracy_vs_spike_rate.png`` (test accuracy at the best validation epoch against the network's
mean spike rate; the S4D control's GELU activations are dense), ``layer_spike_rates.png`` (per-layer
spike rates of the spiking models at their best epoch, on the validation split) and ``summary.md``
(the table the README quotes).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spikessm_snn.plots import plot_curves, plot_layer_rates, save_figure
from spikessm_snn.plots.style import new_figure
from spikessm_snn.training.trainer import best_epoch

RESULTS = Path(__file__).resolve().parent / "results" / "listops"
# file -> (label, what it is). The first three: the comparison (40 epochs at batch 128, one H100 each);
# then the same recipe over 14 epochs (with the published wiring as a fourth run), the earlier, shorter
# runs at batch 32 on H200s, and the two that diverged.
RUNS = {
    "s4d_40_epochs.jsonl": ("S4D", "control, GELU"),
    "spikingssm_40_epochs.jsonl": ("SpikingSSM", "reset-LIF, tau 0.125, learnable threshold"),
    "spike_ssm_40_epochs.jsonl": ("SPikE-SSM", "SRR, trainable U_th and v_th per channel"),
    "s4d_14_epochs.jsonl": ("S4D, 14 epochs", "control, GELU"),
    "spikingssm_14_epochs.jsonl": ("SpikingSSM, 14 epochs", "reset-LIF"),
    "spike_ssm_14_epochs.jsonl": ("SPikE-SSM, 14 epochs", "SRR"),
    "spikingssm_published_wiring_14_epochs.jsonl": (
        "SpikingSSM, published wiring, 14 epochs",
        "no norm of the residual stream",
    ),
    "s4d.jsonl": ("S4D, 7 epochs at batch 32", "earlier control"),
    "s4d_2_epochs.jsonl": ("S4D, 2 epochs at batch 32", "earlier control"),
    "spikingssm_2_epochs.jsonl": ("SpikingSSM, 2 epochs at batch 32", "earlier run"),
    "spike_ssm_2_epochs.jsonl": ("SPikE-SSM, 2 epochs at batch 32", "earlier run"),
    "spikingssm_thresholds_at_full_lr.jsonl": ("SpikingSSM, thresholds at lr 0.01", "diverged, stopped"),
    "spike_ssm_thresholds_at_full_lr.jsonl": ("SPikE-SSM, thresholds at lr 0.01", "unstable, stopped"),
}
COMPARISON = list(RUNS)[:3]
MACHINES = (
    "The 40- and 14-epoch runs: one NVIDIA H100 80GB HBM3 each, three (four) side by side on a 4 x H100 "
    "machine, no DDP, global batch 128; the batch-32 runs: one NVIDIA H200 each. Test accuracy at the "
    "best validation epoch; spike rates on the validation split at that epoch; s / epoch: training, "
    "mean over the run."
)
PLOTTED = list(RUNS)[:7]  # the accuracy-against-rate figure: the runs of the recipe, 40 and 14 epochs
LABEL_OFFSETS = {"spikingssm_40_epochs.jsonl": (8, -6), "spikingssm_14_epochs.jsonl": (6, 3),
                 "spike_ssm_14_epochs.jsonl": (6, -10), "spikingssm_published_wiring_14_epochs.jsonl": (4, -24),
                 "s4d_14_epochs.jsonl": (-40, -14)}  # fmt: skip  # where labels would overlap


def runs() -> dict[str, list[dict]]:
    return {name: [json.loads(line) for line in (RESULTS / name).read_text().splitlines()] for name in RUNS}


def mean_rate(record: dict) -> float | None:
    rates = list(record["spike_rates"].values())
    return sum(rates) / len(rates) if rates else None


def main() -> None:
    histories = runs()
    curves = {RUNS[name][0]: ([r["epoch"] for r in histories[name]], [r["val_accuracy"] for r in histories[name]])
              for name in COMPARISON}  # fmt: skip
    title = "ListOps (generated, 96 000 training sequences), 6 x 256, batch 128, 40 epochs"
    fig = plot_curves(curves, "epoch", "validation accuracy", title, chance=0.1)
    save_figure(fig, RESULTS / "validation_accuracy.png")
    for key, ylabel, png in (
        ("loss", "training loss", "training_loss.png"),
        ("grad_norm", "mean gradient norm (before clipping at 1.0)", "gradient_norm.png"),
    ):
        curves = {RUNS[name][0]: ([r["epoch"] for r in histories[name]], [r[key] for r in histories[name]])
                  for name in COMPARISON}  # fmt: skip
        save_figure(plot_curves(curves, "epoch", ylabel, "ListOps, the three runs of the comparison"), RESULTS / png)

    fig, axes = new_figure(1, 1, 6.0, 4.0)
    ax = axes[0, 0]
    rows = []
    for name, history in histories.items():
        best = best_epoch(history)
        rate = mean_rate(best)
        rows.append((name, best, rate))
        if name not in PLOTTED:
            continue
        ax.scatter([1.0 if rate is None else rate], [best["test_accuracy"]], s=40 if name in COMPARISON else 12,
                   alpha=1.0 if name in COMPARISON else 0.5)  # fmt: skip
        ax.annotate(RUNS[name][0] + (" (dense)" if rate is None else ""), (1.0 if rate is None else rate,
                    best["test_accuracy"]), fontsize=7, xytext=LABEL_OFFSETS.get(name, (4, 4)),
                    textcoords="offset points")  # fmt: skip
    control = best_epoch(histories[COMPARISON[0]])["test_accuracy"]
    ax.axhline(control - 0.02, color="gray", linestyle="--", linewidth=0.8, label="control - 2 points")
    ax.axvline(0.15, color="gray", linestyle=":", linewidth=0.8, label="spike rate 0.15 (85% sparsity)")
    ax.axhline(0.57, color="tab:red", linestyle="-.", linewidth=0.8, label="spiking target, 57%")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_xlim(0, 1.35)
    ax.set_xlabel("network spike rate (spikes per neuron per step; S4D: dense activations)")
    ax.set_ylabel("test accuracy at the best validation epoch")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, RESULTS / "accuracy_vs_spike_rate.png")

    spiking = {RUNS[name][0]: list(best["spike_rates"].values()) for name, best, rate in rows
               if rate is not None and name in COMPARISON}  # fmt: skip
    save_figure(plot_layer_rates(spiking, title="ListOps: spike rate per layer (validation, best epoch)"),
                RESULTS / "layer_spike_rates.png")  # fmt: skip

    columns = ["run", "epochs run", "best epoch", "val accuracy", "test accuracy", "mean spike rate", "rate per layer",
               "s / epoch"]  # fmt: skip
    lines = [MACHINES, "", "| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    for name, best, rate in rows:
        history = histories[name]
        per_layer = " / ".join(f"{r:.2f}" for r in best["spike_rates"].values()) or "dense"
        seconds = sum(r["seconds"] for r in history) / len(history)
        lines.append(f"| {RUNS[name][0]} ({RUNS[name][1]}) | {len(history)} | {best['epoch']} | "
                     f"{best['val_accuracy']:.4f} | {best['test_accuracy']:.4f} | "
                     f"{'dense' if rate is None else f'{rate:.3f}'} | {per_layer} | {seconds:.0f} |")  # fmt: skip
    (RESULTS / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
