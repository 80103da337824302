"""Sweep the fused kernels' tile and segment sizes and time forward / forward+backward.

    python analysis/profile_fused.py --steps 16384 --dtype bfloat16 --chunks 32,16 16,16 32,8

Each configuration ``forward_chunk,backward_chunk`` is timed (CUDA events, median of 10) on
``[T, 64, 256]`` from N(0.3, 1) for SRR and the hard-reset LIF. ``--once`` runs one forward
only (for ``ncu``).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.bench_backends import make_neuron, measure
from spikessm_snn.backends.fused import autograd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=16384)
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    parser.add_argument("--chunks", nargs="+", default=["32,16", "16,16", "32,8", "16,8"])
    parser.add_argument("--once", action="store_true")
    args = parser.parse_args()
    device = torch.device("cuda")
    x = (torch.randn(args.steps, 64, 256, device=device) + 0.3).to(getattr(torch, args.dtype))
    g = torch.randn_like(x)
    original = autograd.KernelSpec
    print(f"device {torch.cuda.get_device_name()}, T={args.steps}, N=64*256, {args.dtype}, median of 10")
    for chunks in args.chunks:
        forward_chunk, backward_chunk = (int(c) for c in chunks.split(","))

        def spec(*a, fc=forward_chunk, bc=backward_chunk, **k):
            return replace(original(*a, **k), forward_chunk=fc, backward_chunk=bc)

        autograd.KernelSpec = spec
        for kind in ("srr", "lif"):
            neuron = make_neuron(kind, "cupy").to(device)
            neuron.check_finite = False
            if args.once:
                with torch.no_grad():
                    neuron(x)
                torch.cuda.synchronize()
                continue
            fwd, fb = measure(lambda xi, neuron=neuron: neuron(xi).spikes, x, g, device, 10)
            print(f"chunks {chunks:>6} {kind:>4}: forward {fwd:8.3f} ms, forward+backward {fb:8.3f} ms", flush=True)
    autograd.KernelSpec = original


if __name__ == "__main__":
    main()
