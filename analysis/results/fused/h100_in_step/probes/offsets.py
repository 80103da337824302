"""Is the half-precision forward's graph-replay time at T=4096 a matter of where the spikes lie relative to x?
A: kernel alone (SAVE_NOTHING), spikes at chosen offsets inside one big buffer, graph replays and a stream.
B: module forward graphs built repeatedly, with the spikes' address recorded."""

import sys

import torch

from analysis.bench_backends import replayed, streamed
from spikessm_snn import ResetLIFNeuron, SRRNeuron
from spikessm_snn.backends.fused.launch import launch
from spikessm_snn.backends.fused.source import KernelSpec
from spikessm_snn.neurons.surrogate import Surrogate

dev = torch.device("cuda")
T, N = 4096, 16384
MB = 2**20
part = sys.argv[1] if len(sys.argv) > 1 else "AB"


def kernel_case(dtype, neuron, offsets):
    x = (torch.randn(T, N, device=dev) + 0.3).to(dtype)
    nbytes = x.numel() * x.element_size()
    buf = torch.empty(nbytes + 40 * MB, dtype=torch.uint8, device=dev)
    final = torch.empty(2, N, dtype=dtype, device=dev)
    values = [0.125, 1.0, 0.0, 0.0] if neuron == "LIF" else [0.5, 1.0, 0.8, 0.5]
    constants = torch.tensor(values, device=dev).repeat_interleave(N).view(4, N).contiguous()
    spec = KernelSpec(str(dtype).removeprefix("torch."), Surrogate("triangle", 1.0), neuron == "LIF", False)
    apart = (buf.data_ptr() - x.data_ptr()) / MB
    print(f"x ptr mod 2MB = {x.data_ptr() % (2 * MB)}, buf ptr mod 2MB = {buf.data_ptr() % (2 * MB)}, "
          f"buf-x = {apart:.3f} MB")  # fmt: skip
    for off in offsets:
        spikes = buf[off : off + nbytes].view(dtype).view(T, N)

        def fwd(spikes=spikes):
            launch(
                spec,
                "neuron_forward",
                N,
                dev,
                [x, spikes, None, None, None, constants, None, None, final, T, N, 0.0, 0, None],
            )

        g = [replayed(fwd, dev, 20) * 1e3 for _ in range(2)]
        s = streamed(fwd, dev, 20) * 1e3
        kb = (spikes.data_ptr() - x.data_ptr()) % (2 * MB) / 1024
        print(f"A {dtype!s:15s} {neuron} off {off / MB:7.3f} MB  (s-x) mod 2MB {kb:7.0f} KB  "
              f"graph {g[0]:6.1f} {g[1]:6.1f}  stream {s:6.1f} us", flush=True)  # fmt: skip


if "A" in part:
    offs = [
        0,
        4096,
        65536,
        131072,
        262144,
        524288,
        MB,
        MB + MB // 2,
        2 * MB,
        3 * MB,
        5 * MB,
        8 * MB + 12345 * 16,
        16 * MB,
        33 * MB,
    ]
    kernel_case(torch.bfloat16, "LIF", offs)
    kernel_case(torch.float16, "SRR", offs[:8])
    kernel_case(torch.float32, "LIF", offs[:8])

if "B" in part:
    for Neuron in (ResetLIFNeuron, SRRNeuron):
        for dtype in (torch.float32, torch.bfloat16):
            for trial in range(6):
                pad = torch.empty(int(torch.randint(1, 64, ()).item()) * MB, dtype=torch.uint8, device=dev)
                neuron = Neuron(backend="cupy", check_finite=False).to(dev)
                x = (torch.randn(T, 64, 256, device=dev) + 0.3).to(dtype)
                seen = {}

                def forward(neuron=neuron, x=x, seen=seen):
                    with torch.no_grad():
                        seen["s"] = neuron(x).spikes.data_ptr()

                g = replayed(forward, dev, 20) * 1e3
                s = streamed(forward, dev, 20) * 1e3
                d = seen["s"] - x.data_ptr()
                print(f"B {Neuron.__name__:15s} {dtype!s:15s} trial {trial} graph {g:6.1f} stream {s:6.1f} us  "
                      f"s-x {d / MB:10.3f} MB  mod2MB {(d % (2 * MB)) / 1024:6.0f} KB "
                      f"x mod 2MB {x.data_ptr() % (2 * MB) / 1024:6.0f} KB", flush=True)  # fmt: skip
                del pad, neuron
                torch.cuda.empty_cache()
