"""What the probes share: a graph captured as torch's recipe does (three warm-up calls on a side stream, then
``torch.cuda.graph``, whose ``empty_cache`` the probes ran with), and its replays timed while queued behind a
device sleep, so that the host is never what the device waits on."""

import statistics

import torch


def captured(fn, device: torch.device) -> torch.cuda.CUDAGraph:
    """A CUDA graph of one call of ``fn``, after three warm-up calls on a side stream."""
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph


def queued_ms(graph: torch.cuda.CUDAGraph, device: torch.device, repeats: int, sleep_cycles: int, rounds: int = 3):
    """Milliseconds a replay of ``graph`` takes, ``repeats`` replays queued behind a device sleep of
    ``sleep_cycles`` clock cycles: the median of ``rounds``."""
    out = []
    for _ in range(rounds):
        torch.cuda.synchronize(device)
        torch.cuda._sleep(sleep_cycles)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(repeats):
            graph.replay()
        end.record()
        torch.cuda.synchronize(device)
        out.append(start.elapsed_time(end) / repeats)
    return statistics.median(out)
