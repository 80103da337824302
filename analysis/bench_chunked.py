"""Where the time-parallel ``'chunked'`` backend beats the sequential ``'cupy'`` kernel: a winner map.

    python3 analysis/bench_chunked.py --out analysis/results/chunked          # one GPU, < 6 minutes
    python3 analysis/bench_chunked.py --quick --out /tmp/chunked             # CPU smoke test

SRR (tau 0.5, tau_r 0.8, U_th 1, v_th 0.5) and the hard-reset LIF (tau 0.125, threshold 1), and
the fallback (soft-reset LIF without decay, tau 1: chunks never meet) at B*D = 256, T = 16384 and
65536; input
``[T, B*D]`` float32 from N(0.3, 1.2) drawn afresh for each shape (never zeros), B*D in
{256, 4*256, 16*256, 64*256} and T in {1024 ... 262144} (shapes whose tensors would pass
``--memory-gib`` are skipped). Forward without gradients, and forward+backward of
``sum(spikes * g)``; both backends with ``check_finite=False`` (no host synchronisation inside
the timed region). Time: median of ``--repeats`` runs after a warm-up (fewer for the largest
shapes), CUDA events. ``--quick``: a tiny shape set on the CPU, the torch path of ``'chunked'``
against the ``'torch'`` loop, ``perf_counter``. Writes ``bench.csv``, ``bench.md`` (the table
with speed-ups) and ``winner_map.png`` into ``--out``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.bench_backends import free_cached_memory, timed
from analysis.tables import write_csv
from spikessm_snn import ResetLIFNeuron, SRRNeuron
from spikessm_snn.backends.chunked import speculation

NEURONS = {
    "srr": lambda backend: SRRNeuron(tau=0.5, tau_r=0.8, u_th=1.0, v_th=0.5, backend=backend, check_finite=False),
    "lif": lambda backend: ResetLIFNeuron(
        tau=0.125, v_threshold=1.0, reset="hard", backend=backend, check_finite=False
    ),
    # the fallback: soft reset without decay never meets, the finish walks the chunks sequentially
    "lif_soft_tau1": lambda backend: ResetLIFNeuron(tau=1.0, reset="soft", backend=backend, check_finite=False),
}
FALLBACK = {"lif_soft_tau1": {"neurons": [256], "steps": [16384, 65536]}}  # its shapes on the GPU (not --quick)
FULL = {"neurons": [256, 4 * 256, 16 * 256, 64 * 256], "steps": [1024, 4096, 16384, 65536, 262144]}
QUICK = {"neurons": [16, 64], "steps": [256, 2048]}
TENSORS_FORWARD, TENSORS_BACKWARD = 5, 11  # [T, N] float32 tensors alive at the peak (x, spikes, h, r, ...; + g, grads)


def passes(neuron: torch.nn.Module, x: torch.Tensor, g: torch.Tensor) -> dict[str, Callable[[], None]]:
    """The calls timed: the forward of ``neuron`` on ``x`` without gradients, and forward+backward
    of ``sum(spikes * g)``."""

    def forward() -> None:
        with torch.no_grad():
            neuron(x)

    def forward_backward() -> None:
        xi = x.detach().requires_grad_()
        (neuron(xi).spikes * g).sum().backward()

    return {"fwd": forward, "fwd+bwd": forward_backward}


def measure(neuron: torch.nn.Module, x: torch.Tensor, g: torch.Tensor, device: torch.device, repeats: int):
    """(forward ms, forward+backward ms) of ``neuron`` on ``x [T, 1, N]``."""
    calls = passes(neuron, x, g)
    return timed(calls["fwd"], device, repeats), timed(calls["fwd+bwd"], device, repeats)


def markdown(rows: list[dict[str, object]], baseline: str, contender: str) -> str:
    """The table: one line per neuron, N and T, both backends' times and the contender's speed-ups."""
    lines = [f"| neuron | B*D | T | {baseline} fwd ms | {contender} fwd ms | fwd speed-up | {baseline} fwd+bwd ms "
             f"| {contender} fwd+bwd ms | fwd+bwd speed-up |", "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for row in rows:
        cells = [row[k] for k in ("neuron", "N", "T", "base_fwd_ms", "fwd_ms")] + [f"{row['fwd_speedup']}x"]
        cells += [row["base_fb_ms"], row["fb_ms"], f"{row['fb_speedup']}x"]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def winner_map(rows: list[dict[str, object]], path: Path, baseline: str, contender: str) -> None:
    """Speed-up of ``contender`` over ``baseline`` per (N, T), forward and forward+backward, per neuron."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    neurons = sorted({r["N"] for r in rows})
    steps = sorted({r["T"] for r in rows})
    kinds = [kind for kind in NEURONS if any(r["neuron"] == kind for r in rows)]
    fig, axes = plt.subplots(len(kinds), 2, figsize=(11, 4 * len(kinds)), squeeze=False)
    for i, kind in enumerate(kinds):
        for j, (key, label) in enumerate([("fwd_speedup", "forward"), ("fb_speedup", "forward+backward")]):
            ax = axes[i][j]
            grid = torch.full((len(neurons), len(steps)), float("nan"))
            for r in rows:
                if r["neuron"] == kind:
                    grid[neurons.index(r["N"]), steps.index(r["T"])] = math.log2(float(r[key]))
            image = ax.imshow(grid.numpy(), cmap="RdBu", vmin=-4, vmax=4, origin="lower", aspect="auto")
            for a, b in zip(*torch.nonzero(~grid.isnan(), as_tuple=True), strict=True):
                ax.text(int(b), int(a), f"{2 ** float(grid[a, b]):.2g}x", ha="center", va="center", fontsize=8)
            ax.set_xticks(range(len(steps)), [str(t) for t in steps])
            ax.set_yticks(range(len(neurons)), [str(n) for n in neurons])
            ax.set_xlabel("T (steps)")
            ax.set_ylabel("B*D (neurons)")
            ax.set_title(f"{kind}, {label}")
            fig.colorbar(image, ax=ax, label="log2 speed-up")
    fig.suptitle(f"{contender} / {baseline} speed-up (blue: {contender} wins, red: {baseline} wins)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("analysis/results/chunked"), help="output directory")
    parser.add_argument("--quick", action="store_true", help="tiny shapes on the CPU: smoke test")
    parser.add_argument("--repeats", type=int, default=7, help="runs per measurement (fewer for the largest shapes)")
    parser.add_argument("--memory-gib", type=float, default=70.0, help="skip shapes whose tensors would pass this")
    parser.add_argument("--time-limit", type=float, default=330.0, help="seconds; later shapes are skipped past it")
    parser.add_argument("--neurons", type=int, nargs="+", help="B*D values instead of the default set")
    parser.add_argument("--steps", type=int, nargs="+", help="T values instead of the default set")
    parser.add_argument("--chunk-steps", type=int, default=speculation.CHUNK_STEPS, help="'chunked''s C")
    parser.add_argument("--repair-passes", type=int, default=speculation.REPAIR_PASSES, help="'chunked''s repairs")
    args = parser.parse_args()
    speculation.CHUNK_STEPS, speculation.REPAIR_PASSES = args.chunk_steps, args.repair_passes

    device = torch.device("cpu" if args.quick else "cuda")
    baseline = "torch" if args.quick else "cupy"
    shapes = {**(QUICK if args.quick else FULL)}
    shapes.update({k: v for k, v in (("neurons", args.neurons), ("steps", args.steps)) if v})
    name = "CPU" if args.quick else torch.cuda.get_device_name(device)
    print(f"device: {name}; torch {torch.__version__}; {baseline} vs chunked (C = {args.chunk_steps}, "
          f"{args.repair_passes} repairs); median of {args.repeats}", flush=True)  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    generator = torch.Generator(device).manual_seed(0)
    rows: list[dict[str, object]] = []
    cases = []  # (neuron, N, T): fewest neurons first, so that --time-limit drops the widest shapes
    for kind in NEURONS:
        sizes = shapes if args.quick or kind not in FALLBACK else FALLBACK[kind]
        cases += [(kind, n, steps) for n in sizes["neurons"] for steps in sizes["steps"]]
    for kind, n, steps in sorted(cases, key=lambda case: (case[0] in FALLBACK, case[1], case[2])):
        make = NEURONS[kind]
        gib = steps * n * 4 / 2**30
        if gib * TENSORS_BACKWARD > args.memory_gib:
            print(f"{kind} N={n} T={steps}: skipped ({gib * TENSORS_BACKWARD:.0f} GiB)", flush=True)
            continue
        if time.perf_counter() - began > args.time_limit:
            print(f"{kind} N={n} T={steps}: skipped (past --time-limit)", flush=True)
            continue
        x = 1.2 * torch.randn(steps, 1, n, device=device, generator=generator) + 0.3
        g = torch.randn(steps, 1, n, device=device, generator=generator)
        repeats = max(3, args.repeats // 2) if steps * n >= 2**30 else args.repeats
        times = {}
        for backend in (baseline, "chunked"):
            times[backend] = measure(make(backend).to(device), x, g, device, repeats)
        (base_fwd, base_fb), (fwd, fb) = times[baseline], times["chunked"]
        row = {"device": name, "neuron": kind, "N": n, "T": steps, "repeats": repeats,
               "base_fwd_ms": round(base_fwd, 4), "fwd_ms": round(fwd, 4),
               "fwd_speedup": round(base_fwd / fwd, 2), "base_fb_ms": round(base_fb, 4),
               "fb_ms": round(fb, 4), "fb_speedup": round(base_fb / fb, 2)}  # fmt: skip
        rows.append(row)
        print(f"{kind} N={n} T={steps}: {baseline} {base_fwd:.3f} / {base_fb:.3f} ms, chunked {fwd:.3f} / "
              f"{fb:.3f} ms (fwd / fwd+bwd); speed-up {row['fwd_speedup']}x / {row['fb_speedup']}x "
              f"[{time.perf_counter() - began:.0f} s]", flush=True)  # fmt: skip
        del x, g
        if device.type == "cuda":
            free_cached_memory(device)
    write_csv(args.out / "bench.csv", [{**r, "baseline": baseline} for r in rows])
    table = markdown(rows, baseline, "chunked")
    (args.out / "bench.md").write_text(f"{name}, torch {torch.__version__}; 'chunked' with C = {args.chunk_steps}, "
                                       f"{args.repair_passes} repairs; median of {args.repeats} runs "
                                       f"(fewer at T*N >= 2^30), after a warm-up\n\n{table}")  # fmt: skip
    winner_map(rows, args.out / "winner_map.png", baseline, "chunked")
    print(table)
    print(f"wrote {args.out}/bench.csv, bench.md, winner_map.png in {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
