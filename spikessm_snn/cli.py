"""The ``spikessm`` command. With no arguments: the main job, a report on the embedded default.

The report folder (default ``./spikessm-report/``) holds ``summary.md`` and its figures: SRR and
reset-LIF dynamics, a spike raster, our neurons beside SpikingJelly's LIF/PLIF/PSN and
snnTorch's Leaky on one input (figure and table), f-I curves, every backend available here
checked against the exact reference, and the per-layer spike rates of a small SPikE-SSM and
SpikingSSM trained for a few seconds on the embedded sequential digits. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
from tqdm import tqdm

from .backends.registry import BACKENDS, available_backends
from .data.listops import generate_files as generate_listops
from .neuron_modules import ResetLIFNeuron, SpikingNeuron, SRRNeuron
from .plots import (
    compare_neurons,
    firing_rates,
    plot_comparison,
    plot_fi_curves,
    plot_layer_rates,
    plot_neuron_dynamics,
    plot_raster,
    save_figure,
)  # fmt: skip
from .training import TrainConfig
from .training import train as train_model
from .training.commands import add_evaluate_parser, add_train_parser
from .zoo import comparison_neurons


def default_input(steps: int = 200, batch: int = 64, seed: int = 0) -> torch.Tensor:
    """Embedded default current ``[T, B]``: N(0.35, 0.6) noise plus a slow sine, seeded."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(steps, dtype=torch.float32)[:, None]
    return 0.35 + 0.5 * torch.sin(2 * math.pi * t / 80) + 0.6 * torch.randn(steps, batch, generator=g)


def _table(rows: list[dict[str, object]]) -> list[str]:
    keys = list(rows[0])
    return ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys),
            *("| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows), ""]  # fmt: skip


def _backend_rows(neuron: SpikingNeuron, x: torch.Tensor) -> list[dict[str, object]]:
    rows, reference = [], neuron(x)
    for name, reason in available_backends().items():
        row: dict[str, object] = {"backend": name, "kind": "exact" if BACKENDS[name].exact else "approximate"}
        if reason is not None:
            rows.append({**row, "spikes equal to 'torch'": f"not available here: {reason}", "time": ""})
            continue
        neuron.backend = name
        start = time.perf_counter()
        try:
            result = neuron(x)
            equal = f"{int((result.spikes == reference.spikes).sum())}/{reference.spikes.numel()}"
        except RuntimeError as error:  # a backend that cannot take this neuron says why
            equal = str(error)
        finally:
            neuron.backend = "torch"
        rows.append({**row, "spikes equal to 'torch'": equal, "time": f"{1e3 * (time.perf_counter() - start):.1f} ms"})
    return rows


def _trained_spike_rates(seconds_per_model: float) -> tuple[dict[str, list[float]], list[dict[str, object]]]:
    import tempfile

    rates, rows = {}, []
    for name, model in (("SPikE-SSM", "spike-ssm"), ("SpikingSSM", "spikingssm")):
        config = TrainConfig(task="digits", model=model, d_model=32, d_state=16, layers=3, epochs=1)
        start = time.perf_counter()
        last = train_model(config, Path(tempfile.mkdtemp()), progress=False)[-1]
        rates[name] = list(last["spike_rates"].values())
        rows.append({"model": name, "epochs": 1, "test accuracy": f"{last['test_accuracy']:.3f}",
                     "mean spike rate": f"{sum(rates[name]) / len(rates[name]):.3f}",
                     "seconds": f"{time.perf_counter() - start:.1f}"})  # fmt: skip
    return rates, rows


def run_report(out_dir: Path, train_seconds: float = 6.0) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    x = default_input()
    srr, lif = SRRNeuron(), ResetLIFNeuron()
    lines = ["# spikessm report", "", f"Embedded default input: T = {x.shape[0]} steps, {x.shape[1]} neurons, "
             "N(0.35, 0.6) noise on a slow sine.", ""]  # fmt: skip
    stages = tqdm(total=6, desc="spikessm report", unit="stage")

    shown = {"SRR (SPikE-SSM): tau=0.5, tau_r=0.5, U_th=1, v_th=1": srr,
             "ResetLIF (SpikingSSMs): tau=0.125, threshold 1, hard reset": lif}  # fmt: skip
    fig = plot_neuron_dynamics(shown, x[:, 0])
    save_figure(fig, out_dir / "neuron_dynamics.png")
    lines += ["## Neuron dynamics", "", "![neuron dynamics](neuron_dynamics.png)", ""]
    stages.update()

    save_figure(plot_raster(srr(x).spikes, title="SRR, 64 neurons on the default input"), out_dir / "raster.png")
    lines += ["## Spike raster", "", "![raster](raster.png)", ""]
    stages.update()

    rows, spikes = compare_neurons(comparison_neurons(x.shape[0]), x[:, None, :])
    save_figure(plot_comparison(spikes), out_dir / "neuron_comparison.png")
    lines += ["## Our neurons beside SpikingJelly's and snnTorch's", "", "Same input; time is CPU wall clock.", "",
              *_table(rows), "![comparison](neuron_comparison.png)", ""]  # fmt: skip
    stages.update()

    currents = torch.linspace(-0.5, 3.0, 71)
    zoo = comparison_neurons(200)
    curves = {name: (currents, firing_rates(run, currents)) for name, run in zoo.items() if "PSN" not in name}
    save_figure(plot_fi_curves(curves), out_dir / "fi_curves.png")
    lines += ["## f-I curves", "", "![f-I curves](fi_curves.png)", ""]
    stages.update()

    lines += ["## Backends", "", "SRR on the default input, each backend against the exact loop:", "",
              *_table(_backend_rows(SRRNeuron(), x)), "ResetLIF (tau 0.125, hard reset):", "",
              *_table(_backend_rows(ResetLIFNeuron(), x))]  # fmt: skip
    stages.update()

    rates, rows = _trained_spike_rates(train_seconds / 2)
    save_figure(plot_layer_rates(rates, title="spike rate per layer after a few seconds on sequential digits"),
                out_dir / "layer_spike_rates.png")  # fmt: skip
    lines += ["## Per-layer spike rates of small trained models", "",
              "3 blocks, d_model 32, d_state 16, BatchNorm, trained on the embedded sequential digits (64 pixels a "
              "sequence) for a few seconds each.", "",
              *_table(rows), "![layer spike rates](layer_spike_rates.png)", ""]  # fmt: skip
    stages.update()
    stages.close()
    summary = out_dir / "summary.md"
    summary.write_text("\n".join(lines))
    return summary


def _train_sdn(args: argparse.Namespace) -> None:
    from .backends.sdn import SDNTrainingConfig, train_sdn

    config = SDNTrainingConfig(
        tau=args.tau, steps=args.steps, sequences=args.sequences, test_sequences=args.test_sequences,
        epochs=args.epochs, batch=args.batch, lr=args.lr, seed=args.seed,
    )  # fmt: skip
    _, metadata = train_sdn(config, args.out, resume=args.resume, device=args.device)
    print(f"SDN for tau={args.tau} written to {args.out}; test agreement: {metadata['test']}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="spikessm", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command")
    report = commands.add_parser("report", help="the main job (also what 'spikessm' alone runs)")
    report.add_argument("--out", type=Path, default=Path("spikessm-report"), help="report folder")
    sdn = commands.add_parser("sdn-train", help="train a surrogate dynamic network for the 'sdn' backend")
    sdn.add_argument("--tau", type=float, default=0.125, help="decay of the hard-reset LIF to imitate")
    sdn.add_argument("--steps", type=int, default=1024, help="sequence length T of the training data")
    sdn.add_argument("--sequences", type=int, default=50_000, help="training + validation sequences")
    sdn.add_argument("--test-sequences", type=int, default=2_000)
    sdn.add_argument("--epochs", type=int, default=100)
    sdn.add_argument("--batch", type=int, default=64)
    sdn.add_argument("--lr", type=float, default=0.01)
    sdn.add_argument("--seed", type=int, default=0)
    sdn.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    sdn.add_argument("--out", type=Path, default=Path("sdn.pt"), help="weights file (a checkpoint goes beside it)")
    sdn.add_argument("--resume", action="store_true", help="continue from the checkpoint beside --out")
    add_train_parser(commands)
    add_evaluate_parser(commands)
    generate = commands.add_parser("listops-generate", help="write LRA ListOps files (seeded, deterministic)")
    generate.add_argument("--out", type=Path, required=True)
    for name, default in (("train", 96_000), ("val", 2_000), ("test", 2_000), ("seed", 0)):
        generate.add_argument(f"--{name}", type=int, default=default)
    args = parser.parse_args(argv)
    if args.command == "sdn-train":
        _train_sdn(args)
        return
    if args.command in ("train", "evaluate"):
        args.run(args)
        return
    if args.command == "listops-generate":
        for path in generate_listops(args.out, args.train, args.val, args.test, args.seed):
            print("wrote", path)
        return
    out = args.out if args.command == "report" else Path("spikessm-report")
    summary = run_report(out)
    print(summary.read_text())
    print(f"report written to {out.resolve()}/")


if __name__ == "__main__":
    main()
