"""Two live CUDA graphs of torch's FFT and its backward: replaying the first after the second was
captured fails with an illegal address (torch 2.11.0+cu130, CUDA 13.0, one H100). Nothing of this
package runs here. The forward FFT alone, a bmm and a complex einsum pass.

    python two_fft_graphs.py fft_grad   # CUDA error: an illegal memory access was encountered
    python two_fft_graphs.py fft        # OK (also bmm, einsum)
"""

import sys

import torch

device = torch.device("cuda")


def make(mode: str):
    if mode == "fft":
        u = torch.randn(16, 256, 1024, device=device)
        return lambda: torch.fft.irfft(torch.fft.rfft(u, n=2048) * 2.0, n=2048)
    if mode == "bmm":
        a, b = torch.randn(256, 32, 64, device=device), torch.randn(256, 64, 1024, device=device)
        return lambda: torch.bmm(a, b)
    if mode == "einsum":
        c = torch.randn(256, 32, dtype=torch.cfloat, device=device)
        p = torch.randn(256, 32, 1024, dtype=torch.cfloat, device=device)
        return lambda: torch.einsum("hn,hnl->hl", c, p).real
    u = torch.randn(16, 256, 1024, device=device, requires_grad=True)
    g = torch.randn(16, 256, 2048, device=device)
    return lambda: torch.fft.irfft(torch.fft.rfft(u, n=2048) * 2.0, n=2048).backward(g)


def captured(fn) -> torch.cuda.CUDAGraph:
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


mode = sys.argv[1] if len(sys.argv) > 1 else "fft_grad"
graphs = [captured(make(mode)) for _ in range(2)]
for _ in range(5):
    for graph in graphs:
        graph.replay()
torch.cuda.synchronize()
print(mode, "OK")
