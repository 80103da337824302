"""After a fresh cudaMalloc, is the device's memory busy for a while (the half-precision forward slower)?
One graph of the forward kernel alone (T=4096, N=16384, bf16 LIF), replayed in windows of 5 replays timed by events,
40 windows back to back: before, after torch allocated a new 2 GiB segment, after it was freed (empty_cache: cudaFree),
after free_cached_memory (that, then a wait), and again. ``python3 transient.py`` from the repository root."""

import torch

from analysis.bench_backends import free_cached_memory
from spikessm_snn.backends.fused.autograd import SAVE_NOTHING, _launch_forward
from spikessm_snn.backends.fused.source import KernelSpec
from spikessm_snn.neurons.surrogate import Surrogate

dev = torch.device("cuda")
T, N = 4096, 16384


def windows_of(dtype: torch.dtype) -> None:
    x = (torch.randn(T, N, device=dev) + 0.3).to(dtype)
    constants = torch.tensor([0.125, 1.0, 0.0, 0.0], device=dev).repeat_interleave(N).view(4, N).contiguous()
    spec = KernelSpec(str(dtype).removeprefix("torch."), Surrogate("triangle", 1.0), True, False)

    def fwd():
        _launch_forward(spec, x, constants, None, None, 0.0, SAVE_NOTHING, None)

    for _ in range(3):
        fwd()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fwd()
    for _ in range(20):
        graph.replay()

    def windows(label, count=40, per=5):
        events = [torch.cuda.Event(enable_timing=True) for _ in range(count + 1)]
        events[0].record()
        for w in range(count):
            for _ in range(per):
                graph.replay()
            events[w + 1].record()
        torch.cuda.synchronize()
        us = [events[w].elapsed_time(events[w + 1]) * 1e3 / per for w in range(count)]
        print(f"{dtype!s:15s} {label:28s} " + " ".join(f"{u:.0f}" for u in us), flush=True)

    windows("before")
    torch.cuda.synchronize()
    r0 = torch.cuda.memory_reserved()
    big = torch.empty(2 * 2**30, dtype=torch.uint8, device=dev)
    print(f"  reserved +{(torch.cuda.memory_reserved() - r0) / 2**30:.2f} GiB", flush=True)
    windows("after a new 2 GiB segment")
    windows("and again")
    del big
    torch.cuda.empty_cache()
    windows("after freeing it")
    big = torch.empty(2 * 2**30, dtype=torch.uint8, device=dev)
    windows("after another new segment")
    del big
    free_cached_memory(dev)
    windows("freed, then free_cached_memory")
    big = torch.empty(2 * 2**30, dtype=torch.uint8, device=dev)
    del big
    torch.cuda.empty_cache()
    windows("freed once more, no wait")
    big = torch.empty(2 * 2**30, dtype=torch.uint8, device=dev)
    big.fill_(1)
    torch.cuda.synchronize()
    windows("after writing it")


for dtype in (torch.bfloat16, torch.float32):
    windows_of(dtype)
    torch.cuda.empty_cache()
