"""When should PMBC stop bounding and finish sequentially? Time the policies on a GPU.

    python analysis/pmbc_policy_sweep.py --csv pmbc_policy_sweep.csv

For each shape (SRR, tau 0.5, tau_r 0.8, U_th 1, v_th 0.5; input N(0.3, 1) float32, never zeros),
each ``(MIN_PASSES, FUSED_FINISH_ROWS)``: the forward time (``bench_backends.timed``: CUDA events,
median of ``--repeats`` after a warm-up) and PMBC's stats. ``(1, 0)`` is the paper's compression run to the end;
``(0, inf)`` skips compression (the finish alone).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.bench_backends import timed
from analysis.tables import write_csv
from spikessm_snn import SRRNeuron
from spikessm_snn.backends.pmbc import compression

POLICIES = [(1, 0), (1, 64), (1, 256), (1, 1024), (1, math.inf), (2, math.inf), (0, math.inf)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["4096x64", "16384x64", "4096x1", "65536x1"],
                        help="TxB, with D = 256")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--csv", type=Path, default=Path("pmbc_policy_sweep.csv"))
    args = parser.parse_args()
    print(f"device: {torch.cuda.get_device_name()}; torch {torch.__version__}; median of {args.repeats} runs")
    rows = []
    for shape in args.shapes:
        steps, batch = map(int, shape.split("x"))
        torch.manual_seed(0)
        x = torch.randn(steps, batch, 256, device="cuda") + 0.3
        neuron = SRRNeuron(tau=0.5, tau_r=0.8, u_th=1.0, v_th=0.5, backend="pmbc").cuda()
        for min_passes, finish_rows in POLICIES:
            compression.MIN_PASSES, compression.FUSED_FINISH_ROWS = min_passes, finish_rows
            with torch.no_grad():
                ms = timed(lambda neuron=neuron, x=x: neuron(x), x.device, args.repeats)
                stats = neuron(x).stats
            rows.append({"T": steps, "B*D": f"{batch}*256", "min_passes": min_passes, "finish_rows": finish_rows,
                         "forward_ms": round(ms, 2), **stats})  # fmt: skip
            print(", ".join(f"{k}={v}" for k, v in rows[-1].items()), flush=True)
    write_csv(args.csv, rows)


if __name__ == "__main__":
    main()
