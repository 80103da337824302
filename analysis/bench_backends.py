"""Time the multi-step backends against each other, SpikingJelly's LIF and the bandwidth floor.

    python analysis/bench_backends.py --device cuda --neuron srr --steps 1024 4096 16384 65536

For each T: input ``[T, B, D]`` float32 (``B*D = 64*256`` by default) from N(0.3, 1) (never
zeros); forward without gradients, and forward+backward of ``sum(spikes * g)`` with ``x``
requiring grad. Time = median of ``--repeats`` runs (``--reference-repeats`` for the ``'torch'``
loop) after a warm-up, CUDA events on GPU,
``perf_counter`` on CPU. The floor is the bytes a multi-step neuron must move over the
measured device-to-device copy bandwidth: forward reads ``x`` and writes the spikes (2
tensors); forward+backward also writes and reads back the saved potential ``h`` (and ``r`` for
SRR) and reads ``dL/ds``, writes ``dL/dx`` (6 tensors for the LIF, 8 for SRR). Prints a table
with the device, versions and bandwidth, and writes it as CSV.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.tables import write_csv
from spikessm_snn import ResetLIFNeuron, SRRNeuron
from spikessm_snn.backends.registry import available_backends

CLEARING_SECONDS = 0.5  # the driver's clearing of freed memory, waited for (free_cached_memory)


def elapsed_ms(run: Callable[[], object], device: torch.device) -> float:
    """Milliseconds of ``run()`` from an idle device: CUDA events around it, the device synchronised
    before and after (wall clock on the CPU)."""
    if device.type != "cuda":
        t0 = time.perf_counter()
        run()
        return 1e3 * (time.perf_counter() - t0)
    torch.cuda.synchronize(device)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    run()
    end.record()
    torch.cuda.synchronize(device)
    return start.elapsed_time(end)


def timed(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median milliseconds of ``fn`` over ``repeats`` runs after one warm-up, each run alone."""
    fn()
    return statistics.median(elapsed_ms(fn, device) for _ in range(repeats))


def streamed(fn: Callable[[], object], device: torch.device, repeats: int, rounds: int = 3) -> float:
    """Milliseconds a call of ``fn`` in a stream of ``repeats`` calls back to back (the host queues
    each while the device runs the last, as in a training loop), the median of ``rounds`` streams
    after one warm-up call."""

    def stream() -> None:
        for _ in range(repeats):
            fn()

    fn()
    return statistics.median(elapsed_ms(stream, device) / repeats for _ in range(rounds))


def free_cached_memory(device: torch.device) -> None:
    """Hand the memory torch's allocator caches back to the driver, and wait until the driver has
    cleared it: it zeroes freed memory in the background, taking the device's memory bandwidth for
    milliseconds (2 GiB freed made the half-precision forward at T = 4096 1.3x slower for 5 ms on an
    H100), which a timing begun at once would count as the call's."""
    torch.cuda.empty_cache()
    torch.cuda.synchronize(device)
    time.sleep(CLEARING_SECONDS)


def replayed(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Milliseconds a call of ``fn`` takes replayed from a CUDA graph that captured one call (after
    three warm-up calls on a side stream, torch's capture recipe), ``repeats`` replays back to back
    (``streamed``): the call's device time, with no host work in it and the device kept busy (a replay
    alone after an idle device measured up to 25% more, from one replay to the next, at 0.1 ms).
    Captured as ``torch.cuda.graph`` does, but the cached memory is freed (earlier graphs' too) before
    the warm-up, and the driver's clearing of it waited for (``free_cached_memory``), where
    ``torch.cuda.graph`` frees it just before the capture: cleared while the replays run, it made them
    up to 1.4x slower in half precision. The graph is freed before this returns: two
    live graphs of torch's FFT backward (the S4D convolution's) fail at replay with an illegal address
    (torch 2.11, CUDA 13; ``rfft``/``irfft`` and their backward alone, nothing of this package, show it)."""
    return streamed(captured(fn, device).replay, device, repeats)


def captured(fn: Callable[[], object], device: torch.device) -> torch.cuda.CUDAGraph:
    """A CUDA graph of one call of ``fn``, captured as ``replayed`` says (the cache freed and its clearing
    waited for, three warm-up calls on a side stream)."""
    free_cached_memory(device)
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
        torch.cuda.synchronize(device)
        graph = torch.cuda.CUDAGraph()
        graph.capture_begin()
        fn()
        graph.capture_end()
    torch.cuda.current_stream(device).wait_stream(side)
    return graph


def device_busy_ms(fn: Callable[[], object], device: torch.device, calls: int) -> float:
    """Milliseconds a call of ``fn`` keeps the device busy: its kernels' own time (``torch.profiler``'s
    CUDA time over ``calls`` calls), what a call costs once the host's queuing is out of the way."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            fn()
        torch.cuda.synchronize(device)
    return sum(event.self_device_time_total for event in prof.key_averages()) / 1e3 / calls


def copy_bandwidth(device: torch.device) -> float:
    """Device-to-device copy bandwidth in bytes/s, counting bytes read and written."""
    src = torch.randn(256 * 2**20, device=device)  # 1 GiB
    dst = torch.empty_like(src)
    ms = timed(lambda: dst.copy_(src), device, 10)
    return 2 * src.numel() * 4 / (ms * 1e-3)


def make_neuron(kind: str, backend: str, tau: float = 0.5) -> torch.nn.Module:
    if kind == "srr":
        return SRRNeuron(tau=tau, tau_r=0.8, u_th=1.0, v_th=0.5, backend=backend)
    return ResetLIFNeuron(tau=tau, v_threshold=1.0, reset="hard" if kind == "lif" else "soft", backend=backend)


def spikingjelly_lif(kind: str, tau: float) -> torch.nn.Module | None:
    try:
        from spikingjelly.activation_based import neuron
    except ImportError:
        return None
    v_reset = 0.0 if kind == "lif" else None
    return neuron.LIFNode(tau=1 / (1 - tau), decay_input=False, v_reset=v_reset, step_mode="m")


def measure(run: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, g: torch.Tensor, device, repeats):
    def forward() -> None:
        with torch.no_grad():
            run(x)

    def forward_backward() -> None:
        xi = x.detach().requires_grad_()
        (run(xi) * g).sum().backward()

    return timed(forward, device, repeats), timed(forward_backward, device, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--neuron", choices=["srr", "lif", "lif_soft"], default="srr")
    parser.add_argument("--tau", type=float, default=0.5, help="membrane decay per step")
    parser.add_argument("--steps", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--features", type=int, default=256)
    parser.add_argument("--backends", nargs="+", default=["torch", "pmbc", "cupy"])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--reference-max-steps", type=int, default=4096, help="skip the 'torch' loop beyond this T")
    parser.add_argument("--reference-repeats", type=int, default=3, help="runs of the (slow) 'torch' loop")
    parser.add_argument("--no-spikingjelly", action="store_true")
    parser.add_argument("--csv", type=Path, default=Path("bench_backends.csv"))
    args = parser.parse_args()

    device = torch.device(args.device)
    torch.manual_seed(0)
    bandwidth = copy_bandwidth(device) if device.type == "cuda" else float("nan")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {name}; torch {torch.__version__}, CUDA {torch.version.cuda}; "
          f"copy bandwidth {bandwidth / 1e12:.2f} TB/s; neuron {args.neuron}, tau {args.tau}; "
          f"B*D = {args.batch}*{args.features}; "
          f"median of {args.repeats} runs")  # fmt: skip
    available = available_backends()
    rows = []
    for steps in args.steps:
        x = torch.randn(steps, args.batch, args.features, device=device) + 0.3
        g = torch.randn_like(x)
        n_tensors = 8 if args.neuron == "srr" else 6
        floor_fwd = steps * x[0].numel() * 8 / bandwidth * 1e3
        floor_fb = steps * x[0].numel() * 4 * n_tensors / bandwidth * 1e3
        contenders: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {}
        for backend in args.backends:
            if available.get(backend) is not None:
                print(f"  {backend}: not available here: {available[backend]}")
                continue
            if backend == "torch" and steps > args.reference_max_steps:
                continue
            neuron = make_neuron(args.neuron, backend, args.tau).to(device)
            contenders[backend] = lambda xi, neuron=neuron: neuron(xi).spikes
        sj = None if args.no_spikingjelly or args.neuron == "srr" else spikingjelly_lif(args.neuron, args.tau)
        if sj is not None:
            sj = sj.to(device)

            def run_sj(xi: torch.Tensor, sj=sj) -> torch.Tensor:
                sj.reset()
                return sj(xi)

            contenders["spikingjelly LIFNode"] = run_sj
        for label, run in contenders.items():
            try:
                fwd, fb = measure(run, x, g, device, args.reference_repeats if label == "torch" else args.repeats)
            except torch.OutOfMemoryError:
                torch.cuda.empty_cache()
                print(f"  T={steps} {label}: out of memory")
                continue
            row = {
                "device": name, "neuron": args.neuron, "T": steps, "N": x[0].numel(), "backend": label,
                "forward_ms": round(fwd, 4), "fwd_bwd_ms": round(fb, 4),
                "floor_forward_ms": round(floor_fwd, 4), "floor_fwd_bwd_ms": round(floor_fb, 4),
                "forward_x_floor": round(fwd / floor_fwd, 2), "fwd_bwd_x_floor": round(fb / floor_fb, 2),
            }  # fmt: skip
            if label == "pmbc":
                with torch.no_grad():
                    row.update(make_neuron(args.neuron, "pmbc", args.tau).to(device)(x).stats)
            loop = next((r for r in rows if r["T"] == steps and r["backend"] == "torch"), None)
            if loop is not None:
                row["forward_x_loop"] = round(loop["forward_ms"] / fwd, 1)
                row["fwd_bwd_x_loop"] = round(loop["fwd_bwd_ms"] / fb, 1)
            rows.append(row)
            print("  " + ", ".join(f"{k}={v}" for k, v in row.items() if k not in ("device", "neuron")), flush=True)
    if not rows:
        return
    write_csv(args.csv, rows)
    header = ["T", "backend", "forward_ms", "fwd_bwd_ms", "forward_x_loop", "fwd_bwd_x_loop", "forward_x_floor",
              "fwd_bwd_x_floor", "iterations", "finish_steps", "settled"]  # fmt: skip
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(row.get(k, "")) for k in header) + " |")
    print(f"\nwritten to {args.csv}")


if __name__ == "__main__":
    main()
