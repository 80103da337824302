"""How much of ``'chunked'`` stays sequential, as a function of the neuron constants (on the CPU).

    python3 analysis/chunked_meeting.py --out analysis/results/chunked     # a few minutes on 2 cores

``'chunked'`` speculates chunks of ``C`` steps from a guessed start, repairs them, then walks the
chunks still wrong in order, one neuron at a time (``speculation.py``): where a rerun never meets
its speculated trajectory the walk is the sequential loop. The torch algorithm is the kernels'
float arithmetic step for step, so what it walks is what the kernels walk, on any device. For each
neuron and constants, input ``[T, N]`` drawn afresh from N(0.3, 1.2) (never zeros), zero initial
state, the default ``C`` and repairs: ``walked`` (the share of the ``T * N`` steps the finish
reran), ``worst`` (the share of ``T`` the most-walked neuron reran: the kernels' finish is one
thread per neuron, so its time follows the worst), the share of chunks the finish reran for some
neuron, the repairs that changed something and the spike rate. ``decay`` is the largest decay of
the state (``tau``, and ``tau_r`` where the refractory trace moves). Writes ``meeting.csv`` and
``meeting.md`` (the table and, per dtype, the largest soft-reset decay whose runs all stay under
``--worst-bound``) into ``--out``.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.tables import write_csv
from spikessm_snn import ResetLIFNeuron, SRRNeuron
from spikessm_snn.backends.auto import MEETING_DECAY
from spikessm_snn.backends.chunked import speculation
from spikessm_snn.backends.chunked.speculation import speculate_and_repair
from spikessm_snn.neuron_modules import SpikingNeuron
from spikessm_snn.neurons.dynamics import NeuronParameters

TAUS = (0.1, 0.3, 0.5, 0.7, 0.75, 0.8, 0.85, 0.88, 0.9, 0.93, 0.95, 0.97, 0.99, 1.0)
TAU_RS = (0.0, 0.5, 0.9, 0.99)  # SRR's refractory decay (v_th = 0.5, so the trace moves)
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def neurons() -> list[tuple[str, dict[str, float], SpikingNeuron]]:
    """(name, constants, neuron) of every measured case: both LIF resets over ``TAUS``, SRR over
    ``TAUS`` x ``TAU_RS`` (U_th 1, v_th 0.5)."""
    cases = []
    for reset, tau in itertools.product(("hard", "soft"), TAUS):
        cases.append((f"lif_{reset}", {"tau": tau, "tau_r": 0.0}, ResetLIFNeuron(tau=tau, reset=reset)))
    for tau, tau_r in itertools.product(TAUS, TAU_RS):
        cases.append(("srr", {"tau": tau, "tau_r": tau_r}, SRRNeuron(tau=tau, tau_r=tau_r, u_th=1.0, v_th=0.5)))
    return cases


def finish_walk(neuron: SpikingNeuron, steps: int, width: int, dtype: torch.dtype, seed: int) -> dict[str, float]:
    """What ``speculate_and_repair`` leaves to its sequential finish for ``neuron`` on input
    ``[steps, width]`` of ``dtype`` from N(0.3, 1.2) (seeded by ``seed``), from the zero state:
    ``walked`` (share of all steps), ``worst`` (share of ``steps``, the most-walked neuron),
    ``finish_chunks`` (share of chunks), ``passes`` and the spike ``rate``."""
    generator = torch.Generator().manual_seed(seed)
    x = (1.2 * torch.randn(steps, width, generator=generator, dtype=torch.float64) + 0.3).to(dtype)
    p = neuron.parameters_for(x[0], dtype)
    p = NeuronParameters(*(c.expand(width).contiguous() for c in p[:4]), p.hard_reset, p.v_reset)
    zeros = torch.zeros(width, dtype=dtype)
    run = speculate_and_repair(x, p, zeros, zeros.clone())
    stats = run.stats
    return {
        "walked": stats["finish_steps"] / (steps * width),
        "worst": stats["finish_steps_worst"] / steps,
        "finish_chunks": stats["finish_chunks"] / stats["chunks"],
        "passes": stats["passes"],
        "rate": float(run.spikes.mean()),
    }


def largest_meeting_decay(rows: list[dict[str, object]], dtype: str, worst_bound: float) -> float:
    """The largest soft-reset ``decay`` below which every measured ``dtype`` run's ``worst`` stays
    within ``worst_bound`` (0 if none)."""
    soft = [r for r in rows if r["dtype"] == dtype and r["reset"] == "soft"]
    failing = [float(r["decay"]) for r in soft if float(r["worst"]) > worst_bound]
    below = [float(r["decay"]) for r in soft if float(r["decay"]) < min(failing, default=2.0)]
    return max(below, default=0.0)


def markdown(rows: list[dict[str, object]], bounds: dict[str, float], worst_bound: float, width: int) -> str:
    """The method, the bounds and one line per decay: the largest ``walked`` / ``worst`` over the
    runs of each reset and dtype at that decay (every run: ``meeting.csv``)."""
    columns = list(itertools.product(("soft", "hard"), DTYPES))
    lines = [
        "# How much of `'chunked'` stays sequential, by the neuron constants",
        "",
        f"`python3 analysis/chunked_meeting.py`: the torch algorithm (`speculation.py`, the kernels' arithmetic) "
        f"with C = {speculation.CHUNK_STEPS}, {speculation.REPAIR_PASSES} repairs, on `[T, {width}]` input "
        "drawn afresh from N(0.3, 1.2) per run, zero initial state; T = "
        + ", ".join(str(t) for t in dict.fromkeys(r["steps"] for r in rows))
        + "; the LIF with each reset over tau, SRR (U_th 1, v_th 0.5) over tau and tau_r. `walked`: share of the "
        "T * N steps the finish reran; `worst`: share of T the most-walked neuron reran (the kernels' finish is "
        "one thread per neuron). `decay`: tau, and tau_r where SRR's trace moves. Each cell: the largest "
        "`walked` / `worst` over the runs at that decay (every run, with the spike rate: `meeting.csv`).",
        "",
        f"Largest soft-reset decay whose runs all keep the worst neuron's walk within {worst_bound:.0%} of T "
        f"(`auto.MEETING_DECAY` in brackets): "
        + ", ".join(f"{d} {b} ({MEETING_DECAY[DTYPES[d]]})" for d, b in bounds.items()),
        "",
        "| decay | " + " | ".join(f"{reset} reset, {dtype}" for reset, dtype in columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for decay in sorted({float(r["decay"]) for r in rows}):
        cells = []
        for reset, dtype in columns:
            runs = [r for r in rows if (r["reset"], r["dtype"], float(r["decay"])) == (reset, dtype, decay)]
            walked, worst = (max(float(r[key]) for r in runs) for key in ("walked", "worst"))
            cells.append(f"{walked:.4f} / {worst:.4f}")
        lines.append(f"| {decay} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("analysis/results/chunked"), help="output directory")
    parser.add_argument("--steps", type=int, nargs="+", default=[4096, 16384], help="T values")
    parser.add_argument("--width", type=int, default=64, help="N, neurons side by side")
    parser.add_argument("--worst-bound", type=float, default=0.05, help="share of T the worst neuron may walk")
    args = parser.parse_args()
    rows = []
    cases = itertools.product(args.steps, DTYPES.items(), neurons())
    for seed, (steps, (dtype_name, dtype), (name, constants, neuron)) in enumerate(cases):
        reset = "hard" if neuron.hard_reset else "soft"
        decay = max(constants["tau"], constants["tau_r"] if name == "srr" else 0.0)
        row = {"steps": steps, "dtype": dtype_name, "neuron": name, "reset": reset, **constants, "decay": decay}
        rows.append({**row, **finish_walk(neuron, steps, args.width, dtype, seed)})
        print(rows[-1], flush=True)
    bounds = {d: largest_meeting_decay(rows, d, args.worst_bound) for d in DTYPES}
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "meeting.csv", rows)
    (args.out / "meeting.md").write_text(markdown(rows, bounds, args.worst_bound, args.width))
    print(bounds)


if __name__ == "__main__":
    main()
