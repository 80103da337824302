"""Where a forward+backward pair's time goes, the fused kernels replayed from CUDA graphs (N = 16384): each
kernel's own duration (CUPTI, through torch.profiler) and the gaps between kernels, in the forward's graph, the
backward's, the pair's (forward then backward in one graph) and the two single graphs replayed alternately
("alt"), with each graph's replay time (``analysis.bench_backends.streamed``). Run from a checkout (its package
first on PYTHONPATH): ``python3 pair_breakdown.py TAG [T]``; environment ``DTYPES`` and ``NEURONS``."""

import itertools
import os
import statistics
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

import spikessm_snn
from analysis.bench_backends import captured, streamed
from spikessm_snn.backends.fused.autograd import SAVE_FOR_BACKWARD, _launch_backward, _launch_forward
from spikessm_snn.backends.fused.source import KernelSpec
from spikessm_snn.neurons.surrogate import Surrogate

DEVICE, N = torch.device("cuda"), 16384
CONSTANTS = {"LIF": [0.125, 1.0, 0.0, 0.0], "SRR": [0.5, 1.0, 0.8, 0.5]}  # tau, threshold, tau_r, refractory


def kernel_events(prof):
    """(name, start us, end us) of the neuron kernels the profiler saw, in time order."""
    try:
        found = [(e.name(), e.start_ns() / 1e3, (e.start_ns() + e.duration_ns()) / 1e3)
                 for e in prof.profiler.kineto_results.events()
                 if e.device_type() == torch.autograd.DeviceType.CUDA and "neuron_" in e.name()]  # fmt: skip
    except Exception as error:
        print("kineto events unreadable:", error)
        found = [(e.name, e.time_range.start, e.time_range.end) for e in prof.events()
                 if e.device_type == torch.autograd.DeviceType.CUDA and "neuron_" in e.name]  # fmt: skip
    return sorted(found, key=lambda event: event[1])


def profiled(replay, replays=30):
    """The kernels of ``replays`` calls of ``replay`` (after five unprofiled ones)."""
    for _ in range(5):
        replay()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(replays):
            replay()
        torch.cuda.synchronize()
    return kernel_events(prof)


def summary(events):
    """Each kernel's median duration and the median gap between each pair of kernel kinds."""
    durations, gaps = {}, {}
    for name, start, end in events:
        durations.setdefault(name.removeprefix("neuron_"), []).append(end - start)
    for (first, _, end), (second, start, _) in itertools.pairwise(events):
        gaps.setdefault(f"{first[7:10]}->{second[7:10]}", []).append(start - end)
    kernels = " ".join(f"{name} {statistics.median(v):6.1f}" for name, v in durations.items())
    return kernels + " | gaps " + " ".join(f"{name} {statistics.median(v):5.1f}" for name, v in gaps.items())


def measure(dtype, neuron, x, g):
    """The four lines of one dtype and neuron."""
    constants = torch.tensor(CONSTANTS[neuron], device=DEVICE).repeat_interleave(N).view(4, N).contiguous()
    spec = KernelSpec(dtype, Surrogate("triangle", 1.0), neuron == "LIF", False)

    def forward():
        return _launch_forward(spec, x, constants, None, None, 0.0, SAVE_FOR_BACKWARD, None)

    def backward(run):
        return _launch_backward(spec, (*run.kept, constants, None, None), {"g_spikes": g}, True, False, x.dtype, 0.0)

    saved = forward()
    lines = []
    for label, fn in (("fwd", forward), ("bwd", lambda: backward(saved)), ("pair", lambda: backward(forward()))):
        graph = captured(fn, DEVICE)
        ms = streamed(graph.replay, DEVICE, 20)
        lines.append(f"{label:4s} replay {ms * 1e3:6.1f}: {summary(profiled(graph.replay))}")
        del graph
    forward_graph, backward_graph = captured(forward, DEVICE), captured(lambda: backward(saved), DEVICE)

    def alternate():
        forward_graph.replay()
        backward_graph.replay()

    ms = streamed(alternate, DEVICE, 20)
    lines.append(f"alt  replay {ms * 1e3:6.1f}: {summary(profiled(alternate))}")
    return lines


def main():
    tag = sys.argv[1]
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
    print(f"[{tag}] package {Path(spikessm_snn.__file__).parent}", flush=True)
    for dtype in os.environ.get("DTYPES", "float32,bfloat16").split(","):
        x = (torch.randn(steps, N, device=DEVICE) + 0.3).to(getattr(torch, dtype))
        g = torch.randn_like(x)
        for neuron in os.environ.get("NEURONS", "LIF,SRR").split(","):
            for line in measure(dtype, neuron, x, g):
                print(f"[{tag}] T={steps} {dtype:8s} {neuron}: {line}", flush=True)


if __name__ == "__main__":
    main()
