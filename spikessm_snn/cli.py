"""The ``spikessm`` command. With no arguments: the main job, a report on the embedded default.

The embedded default is a generated input (seeded noise around a slow sine), so nothing is
downloaded. The report folder (default ``./spikessm-report/``) holds ``summary.md`` and
``neuron_dynamics.png``: SRR and reset-LIF traces, spike counts, every backend available here
checked against the exact reference, and SpikingJelly's LIF as an external check.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
from tqdm import tqdm

from .backends.registry import BACKENDS, available_backends
from .neuron_modules import ResetLIFNeuron, SpikingNeuron, SRRNeuron
from .plots.dynamics import plot_neuron_dynamics


def default_input(steps: int = 200, batch: int = 64, seed: int = 0) -> torch.Tensor:
    """Embedded default current ``[T, B]``: N(0.35, 0.6) noise plus a slow sine, seeded."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(steps, dtype=torch.float32)[:, None]
    return 0.35 + 0.5 * torch.sin(2 * math.pi * t / 80) + 0.6 * torch.randn(steps, batch, generator=g)


def _check_backends(neuron: SpikingNeuron, x: torch.Tensor) -> list[str]:
    rows, reference = [], neuron(x, record=True)
    for name, reason in available_backends().items():
        if reason is not None:
            rows.append(f"| {name} | not available here: {reason} | |")
            continue
        neuron.backend = name
        start = time.perf_counter()
        try:
            result = neuron(x)
        except RuntimeError as error:  # a backend that cannot take this neuron says why
            rows.append(f"| {name} | {error} | |")
            continue
        finally:
            neuron.backend = "torch"
        ms = 1e3 * (time.perf_counter() - start)
        equal = int((result.spikes == reference.spikes).sum())
        kind = "exact" if BACKENDS[name].exact else "approximate"
        rows.append(f"| {name} ({kind}) | {equal}/{reference.spikes.numel()} spikes equal | {ms:.1f} ms |")
    return rows


def run_report(out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    x = default_input()
    neurons = {
        "SRR (SPikE-SSM): tau=0.5, tau_r=0.5, U_th=1, v_th=1": (SRRNeuron(), 1.0),
        "ResetLIF (SpikingSSMs): tau=0.125, v_th=1, hard reset": (ResetLIFNeuron(), 1.0),
    }
    lines = ["# spikessm report", "", f"Input: embedded default, T={x.shape[0]}, B={x.shape[1]} (seeded).", ""]
    runs = {}
    for label, (neuron, threshold) in tqdm(neurons.items(), desc="spikessm report", unit="neuron"):
        result = neuron(x, record=True)
        runs[label] = (result.__class__(*(None if v is None else _first(v) for v in result)), threshold)
        rate = result.spikes.mean().item()
        lines += [
            f"## {label}",
            "",
            f"spike rate {rate:.3f} (spikes per neuron per step)",
            "",
            "| backend | agreement with 'torch' | time |",
            "|---|---|---|",
            *_check_backends(neuron, x),
            "",
        ]
    lines += _spikingjelly_check(x)
    fig = plot_neuron_dynamics(x[:, 0], runs)
    fig.savefig(out_dir / "neuron_dynamics.png", dpi=120)
    lines += ["![neuron dynamics](neuron_dynamics.png)", ""]
    summary = out_dir / "summary.md"
    summary.write_text("\n".join(lines))
    return summary


def _first(value: object) -> object:
    """Neuron 0 of a recorded ``[T, B]`` tensor (or of each tensor of a state)."""
    if isinstance(value, torch.Tensor):
        return value[:, 0] if value.dim() == 2 else value[0]
    return type(value)(*(_first(v) for v in value))


def _spikingjelly_check(x: torch.Tensor) -> list[str]:
    try:
        from spikingjelly.activation_based import neuron as sj_neuron
    except ImportError:
        return ["SpikingJelly is not installed: external check skipped.", ""]
    theirs = sj_neuron.LIFNode(tau=1 / (1 - 0.125), decay_input=False, v_reset=0.0, step_mode="m")
    ours = ResetLIFNeuron(tau=0.125)
    equal = bool(torch.equal(theirs(x.double()), ours.double()(x.double()).spikes))
    return [
        "## External check",
        "",
        f"ResetLIF equals SpikingJelly's `LIFNode(tau=1/(1-0.125), decay_input=False, v_reset=0)` "
        f"spike for spike on this input: **{equal}**.",
        "",
    ]


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
    args = parser.parse_args(argv)
    if args.command == "sdn-train":
        _train_sdn(args)
        return
    out = args.out if args.command == "report" else Path("spikessm-report")
    summary = run_report(out)
    print(summary.read_text())
    print(f"report written to {out.resolve()}/")


if __name__ == "__main__":
    main()
