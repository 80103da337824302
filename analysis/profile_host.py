"""Where a neuron call's time goes: the host's work to queue it, against the GPU's work to run it.

    python analysis/profile_host.py --out analysis/results/host_profile.md   # one GPU, about a minute

For SRR (tau 0.5, tau_r 0.8, U_th 1, v_th 0.5) and the hard-reset LIF (tau 0.125), ``check_finite=False``,
on ``[T, 1, N]`` float32 from N(0.3, 1.2) (never zeros), ``'cupy'`` and ``'chunked'``, forward (no
gradients) and forward+backward of ``sum(spikes * g)``, per call, each the median of ``--repeats``
batches of 10 calls after a warm-up:

- *host*: ``perf_counter`` over the 10 calls without waiting for the GPU (what queuing them costs);
- *wall*: the same, up to the GPU's end (``synchronize``);
- *GPU*: the kernels' own time (``torch.profiler``'s CUDA time over 10 calls).

Where *host* is about *wall*, the call is bound by the host: the GPU waits for launches.

With ``--ops K`` (and ``--out``) it also writes ``<out>_ops.md``: per row, what queuing a call is made
of (``torch.profiler`` over 10 calls, CPU and CUDA activity): the profiled operations' own host time
(aten operations, CUDA runtime and driver calls such as the launches) against the call's host time,
the rest being Python, and the ``K`` operations with the most own host time, with their calls a call.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.bench_backends import device_busy_ms
from analysis.bench_chunked import NEURONS, passes

CALLS = 10


def per_call_ms(fn: Callable[[], None], repeats: int) -> tuple[float, float, float]:
    """(host, wall, GPU) milliseconds per call of ``fn``."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    host, wall = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(CALLS):
            fn()
        host.append(time.perf_counter() - t0)
        torch.cuda.synchronize()
        wall.append(time.perf_counter() - t0)
    gpu = device_busy_ms(fn, torch.device("cuda"), CALLS)
    return 1e3 * statistics.median(host) / CALLS, 1e3 * statistics.median(wall) / CALLS, gpu


GPU_ACTIVITIES = (ProfilerActivity.CPU, ProfilerActivity.CUDA)  # CUDA: the runtime and driver calls too


def host_breakdown(
    fn: Callable[[], None], top: int, activities: tuple[ProfilerActivity, ...] = GPU_ACTIVITIES
) -> tuple[float, list[tuple[str, float, float]]]:
    """Per call of ``fn``: the profiled operations' own host microseconds, and the ``top`` operations by
    own host time as (name, calls a call, microseconds a call). Synchronisation itself is left out."""
    fn()
    with profile(activities=list(activities)) as prof:
        for _ in range(CALLS):
            fn()
    events = [e for e in prof.key_averages() if "Synchronize" not in e.key]
    total = sum(e.self_cpu_time_total for e in events) / CALLS
    ranked = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    return total, [(e.key, e.count / CALLS, e.self_cpu_time_total / CALLS) for e in ranked]


def ops_section(row: str, host_ms: float, total_us: float, ops: list[tuple[str, float, float]]) -> list[str]:
    """The markdown of one row's ``host_breakdown``."""
    summary = (f"host {1e3 * host_ms:.0f} us a call: profiled operations' own time {total_us:.0f} us, "
               f"the rest (Python) {1e3 * host_ms - total_us:.0f} us")  # fmt: skip
    table = [f"| {name} | {calls:g} | {us:.1f} |" for name, calls, us in ops]
    return [
        f"### {row}",
        "",
        summary,
        "",
        "| operation | calls a call | own host us a call |",
        "|---|---|---|",
        *table,
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--steps", type=int, nargs="+", default=[1024, 16384, 65536])
    parser.add_argument("--backends", nargs="+", default=["cupy", "chunked"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, help="write the markdown table here too")
    parser.add_argument("--ops", type=int, default=0, help="with --out: the K costliest host operations a row")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("profile_host.py: needs a CUDA GPU (the host time is measured against the GPU's)", file=sys.stderr)
        raise SystemExit(2)
    device = torch.device("cuda")
    title = f"{torch.cuda.get_device_name()}; torch {torch.__version__}; ms a call, median of {args.repeats} x {CALLS}"
    lines = [title, "", "| neuron | N | T | backend | pass | host | wall | GPU |", "|---|---|---|---|---|---|---|---|"]
    breakdowns = [title, ""]
    print(title, flush=True)
    for name in ("srr", "lif"):
        for n in args.neurons:
            for steps in args.steps:
                x = torch.randn(steps, 1, n, device=device) * 1.2 + 0.3
                g = torch.randn_like(x)
                for backend in args.backends:
                    for label, fn in passes(NEURONS[name](backend).to(device), x, g).items():
                        measured = per_call_ms(fn, args.repeats)
                        times = " | ".join(f"{ms:.3f}" for ms in measured)
                        lines.append(f"| {name} | {n} | {steps} | {backend} | {label} | {times} |")
                        print(lines[-1], flush=True)
                        if args.ops:
                            row = f"{name}, N {n}, T {steps}, {backend}, {label}"
                            breakdowns += ops_section(row, measured[0], *host_breakdown(fn, args.ops))
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
        if args.ops:
            args.out.with_name(args.out.stem + "_ops.md").write_text("\n".join(breakdowns))


if __name__ == "__main__":
    main()
