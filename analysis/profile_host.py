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
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(CALLS):
            fn()
        torch.cuda.synchronize()
    gpu_us = sum(event.self_device_time_total for event in prof.key_averages())
    return (1e3 * statistics.median(host) / CALLS, 1e3 * statistics.median(wall) / CALLS, gpu_us / 1e3 / CALLS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--steps", type=int, nargs="+", default=[1024, 16384, 65536])
    parser.add_argument("--backends", nargs="+", default=["cupy", "chunked"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, help="write the markdown table here too")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("profile_host.py: needs a CUDA GPU (the host time is measured against the GPU's)", file=sys.stderr)
        raise SystemExit(2)
    device = torch.device("cuda")
    title = f"{torch.cuda.get_device_name()}; torch {torch.__version__}; ms a call, median of {args.repeats} x {CALLS}"
    lines = [title, "", "| neuron | N | T | backend | pass | host | wall | GPU |", "|---|---|---|---|---|---|---|---|"]
    print(title, flush=True)
    for name in ("srr", "lif"):
        for n in args.neurons:
            for steps in args.steps:
                x = torch.randn(steps, 1, n, device=device) * 1.2 + 0.3
                g = torch.randn_like(x)
                for backend in args.backends:
                    for label, fn in passes(NEURONS[name](backend).to(device), x, g).items():
                        times = " | ".join(f"{ms:.3f}" for ms in per_call_ms(fn, args.repeats))
                        lines.append(f"| {name} | {n} | {steps} | {backend} | {label} | {times} |")
                        print(lines[-1], flush=True)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
