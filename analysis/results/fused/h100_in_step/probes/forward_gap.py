"""The half-precision forward through the module, replayed from a CUDA
graph at T = 4096, B*D = 64*256: (a) as the benchmark does it; (b) with a tiny kernel after each forward inside
the graph (the gap the final state's copy used to leave); (c) with the graph pool shifted by a dummy allocation
of 0..3 MB before the call (the output's offset from the input). Prints ms and x float32 for each.
python3 forward_gap.py from the repository root"""

import torch

from analysis.bench_backends import replayed, streamed
from spikessm_snn import ResetLIFNeuron, SRRNeuron

device = torch.device("cuda")
T, B, D = 4096, 64, 256
small = torch.zeros(1024, device=device)
for Neuron in (ResetLIFNeuron, SRRNeuron):
    base = {}
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        neuron = Neuron(backend="cupy", check_finite=False).to(device)
        x = (torch.randn(T, B, D, device=device) + 0.3).to(dtype)

        def forward(neuron=neuron, x=x):
            with torch.no_grad():
                neuron(x)

        def forward_then_tiny(forward=forward):
            forward()
            small.add_(1.0)

        cases = {
            "graph": lambda: replayed(forward, device, 20),
            "stream": lambda: streamed(forward, device, 20),
            "graph+tiny": lambda: replayed(forward_then_tiny, device, 20),
        }
        for shift_mb in (0, 1, 2, 3):

            def shifted(forward=forward, shift_mb=shift_mb):
                pad = torch.empty(shift_mb * 2**20 + 512, dtype=torch.uint8, device=device)
                forward()
                del pad

            cases[f"graph shift {shift_mb} MB"] = lambda shifted=shifted: replayed(shifted, device, 20)
        for name, run in cases.items():
            ms = run()
            if dtype == torch.float32:
                base[name] = ms
            print(
                f"{Neuron.__name__} {dtype!s:15s} {name:18s} {ms * 1e3:7.1f} us  x{ms / base[name]:.2f} of float32",
                flush=True,
            )
