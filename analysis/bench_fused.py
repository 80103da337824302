"""The fused kernels against the bandwidth floor, SpikingJelly's LIF and the S4D block, in one run.

    python analysis/bench_fused.py --out gpu-results/fused

Neurons (``neurons.csv``): the hard-reset LIF (tau 0.5, threshold 1) and SRR (tau 0.5, tau_r 0.8,
U_th 1, v_th 0.5) on ``'cupy'`` with ``check_finite=False``, ``x [T, B, D]`` from N(0.3, 1) (never
zeros), T = 1024 ... 65536, B·D = 64·256, float32 / bfloat16 / float16: forward (no gradient)
and forward+backward (``spikes.backward(g)``, g from N(0, 1)) in ms, each call alone (the
device idle before it: the host's time to queue the call counts), in a stream of ``--repeats``
calls back to back (the host queues a call while the device runs the last, as in training:
``*_stream_*``) and replayed from a CUDA graph that captured one call, replays back to back (the
device's time alone, no host work: ``*_graph_*``); x-floor; peak memory of
forward+backward above what existed before (x and g) over the input's bytes; the forward with
``check_finite=True`` (its one synchronisation); in half precision, the spikes that differ from
float32 on the upcast input. SpikingJelly 2.0.0's ``LIFNode`` (same LIF, float32) with each of
its CUDA implementations (``SJ_LIF_CUDA_IMPLEMENTATION`` = ``cuda``: the native op, when built;
``triton``), each in a subprocess.

The floor is the bytes that must move over the device-to-device copy bandwidth measured in the
same run: the forward reads x and writes the spikes (2 passes in the input dtype); the
forward+backward also writes the saved h (and r, SRR) in float32 and reads them back, reads
dL/ds and writes dL/dx (LIF: 4 passes in the input dtype + 2 in float32; SRR: 4 + 4). That is the
floor of a backward over saved states, kept as the reference; the kernels' backward recomputes the
states from checkpoints instead and moves less (x, dL/ds and dL/dx: 5 passes in the input dtype).

Blocks (``blocks.csv``): one training step (forward, backward of ``y.backward(g)``, Adam) of the
S4D, SpikingSSM and SPikE-SSM blocks (B 16, d_model 256, d_state 64, L 1024 / 4096), neurons on
``'cupy'`` with ``check_finite`` off and on and on ``'auto'`` (the backend it ran in ``ran``), each
step alone, in a stream of steps and the device's busy time (its kernels' own time), timed in
interleaved rounds, and the median ratio to S4D's step in the same round; and S4D's and the
``'cupy'`` blocks' step replayed from a CUDA graph (Adam ``capturable``), one graph at a time.

CUDA events, one warm-up, median of ``--repeats`` (>= 10) runs; ``x_floor.png`` plots x-floor
against T; a summary is printed at the end.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.bench_backends import (
    copy_bandwidth,
    device_busy_ms,
    free_cached_memory,
    make_neuron,
    replayed,
    streamed,
    timed,
)
from analysis.tables import write_csv
from spikessm_snn.ssm import s4d_block, spike_ssm_block, spiking_ssm_block

TAU = 0.5
NEURONS = ("lif", "srr")
DTYPES = ("float32", "bfloat16", "float16")
SPIKINGJELLY = ("cuda", "triton")


def floor_bytes(neuron: str, steps: int, n: int, io_bytes: int) -> tuple[int, int]:
    """Bytes the forward and the forward+backward must move (see the module docstring)."""
    saved = 1 if neuron == "lif" else 2
    return steps * n * 2 * io_bytes, steps * n * (4 * io_bytes + 2 * 4 * saved)


def peak_ratio(run: Callable[[], None], x: torch.Tensor) -> float:
    """Peak memory ``run`` allocates above what was allocated before, over ``x``'s bytes."""
    if x.device.type != "cuda":
        return float("nan")
    torch.cuda.synchronize(x.device)
    torch.cuda.reset_peak_memory_stats(x.device)
    base = torch.cuda.memory_allocated(x.device)
    run()
    torch.cuda.synchronize(x.device)
    return (torch.cuda.max_memory_allocated(x.device) - base) / (x.numel() * x.element_size())


class NeuronTimes(NamedTuple):
    """Forward and forward+backward ms, each call alone (the device idle before it), in a stream of
    calls back to back and replayed from a CUDA graph; the peak memory of forward+backward over the
    input's bytes."""

    forward: float
    fwd_bwd: float
    forward_stream: float
    fwd_bwd_stream: float
    forward_graph: float
    fwd_bwd_graph: float
    peak: float

    def row(self, floor_fwd: float, floor_fb: float) -> dict:
        """The times in ms and over the floors, as ``neurons.csv`` has them."""
        return {
            "forward_ms": round(self.forward, 4), "fwd_bwd_ms": round(self.fwd_bwd, 4),
            "floor_forward_ms": round(floor_fwd, 4), "floor_fwd_bwd_ms": round(floor_fb, 4),
            "forward_x_floor": round(self.forward / floor_fwd, 2), "fwd_bwd_x_floor": round(self.fwd_bwd / floor_fb, 2),
            "forward_stream_ms": round(self.forward_stream, 4), "fwd_bwd_stream_ms": round(self.fwd_bwd_stream, 4),
            "forward_stream_x_floor": round(self.forward_stream / floor_fwd, 2),
            "fwd_bwd_stream_x_floor": round(self.fwd_bwd_stream / floor_fb, 2),
            "forward_graph_ms": round(self.forward_graph, 4), "fwd_bwd_graph_ms": round(self.fwd_bwd_graph, 4),
            "forward_graph_x_floor": round(self.forward_graph / floor_fwd, 2),
            "fwd_bwd_graph_x_floor": round(self.fwd_bwd_graph / floor_fb, 2),
            "peak_memory_x_input": round(self.peak, 2),
        }  # fmt: skip


def measure_neuron(
    run: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, g: torch.Tensor, repeats: int
) -> NeuronTimes:
    """``NeuronTimes`` of ``run(x) -> spikes`` (backward: ``spikes.backward(g)``)."""

    def forward() -> None:
        with torch.no_grad():
            run(x)

    def forward_backward() -> None:
        run(x.detach().requires_grad_()).backward(g)

    return NeuronTimes(
        timed(forward, x.device, repeats),
        timed(forward_backward, x.device, repeats),
        streamed(forward, x.device, repeats),
        streamed(forward_backward, x.device, repeats),
        replayed(forward, x.device, repeats),
        replayed(forward_backward, x.device, repeats),
        peak_ratio(forward_backward, x),
    )


def bench_ours(args: argparse.Namespace, device: torch.device, bandwidth: float) -> list[dict]:
    rows = []
    for steps in args.steps:
        base = torch.randn(steps, args.batch, args.features, device=device) + 0.3
        n = base[0].numel()
        for dtype_name in DTYPES:
            x = base.to(getattr(torch, dtype_name))
            g = torch.randn_like(x)
            for kind in NEURONS:
                neuron = make_neuron(kind, "cupy", TAU).to(device)
                neuron.check_finite = False
                times = measure_neuron(lambda xi, neuron=neuron: neuron(xi).spikes, x, g, args.repeats)
                neuron.check_finite = True
                checked = timed(lambda neuron=neuron, x=x: neuron(x), device, args.repeats)
                neuron.check_finite = False
                mismatches = 0
                if dtype_name != "float32":
                    with torch.no_grad():
                        mismatches = int((neuron(x).spikes.float() != neuron(x.float()).spikes).sum())
                floor_fwd, floor_fb = (b / bandwidth * 1e3 for b in floor_bytes(kind, steps, n, x.element_size()))
                rows.append({
                    "neuron": kind, "implementation": "ours (cupy)", "dtype": dtype_name, "T": steps, "N": n,
                    **times.row(floor_fwd, floor_fb), "forward_checked_ms": round(checked, 4),
                    "spike_mismatches_vs_float32": mismatches,
                })  # fmt: skip
                print("  " + ", ".join(f"{k}={v}" for k, v in rows[-1].items()), flush=True)
            del x, g
        del base
        if device.type == "cuda":
            free_cached_memory(device)
    return rows


def bench_spikingjelly(args: argparse.Namespace, device: torch.device, bandwidth: float) -> list[dict]:
    """Run in a subprocess with ``SJ_LIF_CUDA_IMPLEMENTATION`` set: SpikingJelly's LIFNode."""
    from spikingjelly.activation_based import neuron as sj_neuron

    node = sj_neuron.LIFNode(tau=1 / (1 - TAU), decay_input=False, v_reset=0.0, step_mode="m").to(device)

    def run(x: torch.Tensor) -> torch.Tensor:
        node.reset()
        return node(x)

    implementation = args.spikingjelly_only
    rows = []
    for steps in args.steps:
        x = torch.randn(steps, args.batch, args.features, device=device) + 0.3
        g = torch.randn_like(x)
        times = measure_neuron(run, x, g, args.repeats)
        floor_fwd, floor_fb = (b / bandwidth * 1e3 for b in floor_bytes("lif", steps, x[0].numel(), 4))
        try:
            from spikingjelly._ops.lif import _selection

            implementation = _selection.diagnostics(device)["implementation"]
        except (ImportError, AttributeError, KeyError, RuntimeError, ValueError):
            pass  # the name it was asked for
        rows.append({
            "neuron": "lif", "implementation": f"SpikingJelly {implementation}", "dtype": "float32", "T": steps,
            "N": x[0].numel(), **times.row(floor_fwd, floor_fb),
        })  # fmt: skip
        del x, g
        if device.type == "cuda":
            free_cached_memory(device)
    return rows


def spikingjelly_rows(args: argparse.Namespace, bandwidth: float) -> list[dict]:
    if torch.cuda.is_available():
        free_cached_memory(torch.device("cuda"))  # the subprocess gets the device's memory
    rows = []
    for implementation in SPIKINGJELLY:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "rows.json"
            command = [sys.executable, __file__, "--spikingjelly-only", implementation, "--rows-json", str(out),
                       "--device", args.device,
                       "--bandwidth", str(bandwidth), "--repeats", str(args.repeats), "--batch", str(args.batch),
                       "--features", str(args.features), "--steps", *map(str, args.steps)]  # fmt: skip
            env = {**os.environ, "SJ_LIF_CUDA_IMPLEMENTATION": implementation}
            try:
                done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=args.sj_timeout)
                lines = done.stderr.strip().splitlines() or ["no output"]
                reason = next((line for line in reversed(lines) if "Error" in line), lines[-1])
            except subprocess.TimeoutExpired:
                reason = f"timed out after {args.sj_timeout} s"
            if not out.exists():
                print(f"  SpikingJelly {implementation}: not available ({reason})", flush=True)
                continue
            for row in json.loads(out.read_text()):
                rows.append(row)
                print("  " + ", ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    return rows


BLOCK_TIMINGS = ("step", "stream", "gpu")  # each step alone, in a stream of steps, the device's busy time
PROFILED_STEPS = 5  # steps a block's device busy time is taken over


def training_step(block: torch.nn.Module, u: torch.Tensor, g: torch.Tensor, capturable: bool) -> Callable[[], None]:
    """One training step of ``block``: forward on ``u``, ``backward(g)``, Adam (``capturable`` for a
    CUDA graph)."""
    optimizer = torch.optim.Adam(block.parameters(), lr=1e-3, capturable=capturable)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        block(u).backward(g)
        optimizer.step()

    return step


def bench_blocks(args: argparse.Namespace, device: torch.device) -> list[dict]:
    """One training step (forward, backward of ``y.backward(g)``, Adam) of each block, timed four ways:
    each step alone (``step_ms``: the device idle before it, so the host's time to queue the step
    counts), in a stream of ``--repeats`` steps back to back (``stream_ms``: as a training loop
    runs), the device's busy time (``gpu_ms``: ``device_busy_ms``) and, for S4D and the ``'cupy'``
    blocks without ``check_finite`` (whose read-back cannot be captured), replayed from a CUDA graph
    (``graph_ms``: ``replayed``, one block's graph at a time). The first three in ``--repeats``
    rounds in which every block is timed once in turn: what drifts with the host (its clock, other
    work) drifts for all of them alike. A row: the median of each timing and the median over rounds
    of its ratio to the S4D step's in the same round (``x_s4d_*``; the graph's, which no host work
    drifts, over S4D's median); ``ran``, the backend the neuron last ran (``'auto'`` resolved)."""
    width, state = args.block_width, args.block_state
    variants: dict[str, Callable[[], torch.nn.Module]] = {"S4D": lambda: s4d_block(width, d_state=state)}
    for label, make in (("SpikingSSM", spiking_ssm_block), ("SPikE-SSM", spike_ssm_block)):
        for backend, checked in (("cupy", False), ("cupy", True), ("auto", False)):

            def build(make=make, backend=backend, checked=checked) -> torch.nn.Module:
                block = make(width, backend=backend, d_state=state)
                block.activation.neuron.check_finite = checked
                return block

            variants[f"{label} {backend}{', check_finite' if checked else ''}"] = build
    rows = []
    for length in args.block_lengths:
        u = torch.randn(args.block_batch, width, length, device=device)
        g = torch.randn_like(u)
        runs: dict[str, dict[str, Callable[[], float]]] = {}
        blocks = {}
        for label, build in variants.items():
            torch.manual_seed(0)
            blocks[label] = block = build().to(device)
            step = training_step(block, u, g, capturable=False)
            runs[label] = {"step": lambda step=step: timed(step, device, 1),
                           "stream": lambda step=step: streamed(step, device, args.repeats, rounds=1),
                           "gpu": lambda step=step: device_busy_ms(step, device, PROFILED_STEPS)}  # fmt: skip
        rounds = {label: {timing: [] for timing in timings} for label, timings in runs.items()}
        for _ in range(args.repeats):
            for label, timings in runs.items():
                for timing, run in timings.items():
                    rounds[label][timing].append(run())
        graphed = {}
        for label, build in variants.items():
            if label == "S4D" or label.endswith(" cupy"):
                torch.manual_seed(0)
                graphed[label] = replayed(
                    training_step(build().to(device), u, g, capturable=True), device, args.repeats
                )
        for label, times in rounds.items():
            neuron = getattr(getattr(blocks[label], "activation", None), "neuron", None)
            row = {"block": label, "B": args.block_batch, "d_model": width, "d_state": state, "L": length}
            for timing, got in times.items():
                ratios = [t / s4d for t, s4d in zip(got, rounds["S4D"][timing], strict=True)]
                row[f"{timing}_ms"] = round(statistics.median(got), 4)
                row[f"x_s4d_{timing}"] = round(statistics.median(ratios), 3)
            row["graph_ms"] = round(graphed[label], 4) if label in graphed else "-"
            row["x_s4d_graph"] = round(graphed[label] / graphed["S4D"], 3) if label in graphed else "-"
            rows.append({**row, "ran": "-" if neuron is None else neuron.last_backend})
            print("  " + ", ".join(f"{k}={v}" for k, v in rows[-1].items()), flush=True)
    return rows


def figure(rows: list[dict], path: Path) -> None:
    from spikessm_snn.plots import save_figure
    from spikessm_snn.plots.style import new_figure

    fig, axes = new_figure(1, 2, 11, 4, sharey=True)
    styles = {"float32": "-", "bfloat16": "--", "float16": ":"}
    colors = {"ours (cupy) lif": "C0", "ours (cupy) srr": "C1", "SpikingJelly cuda lif": "0.3"}
    series = sorted({(r["implementation"], r["neuron"], r["dtype"]) for r in rows})
    steps = sorted({r["T"] for r in rows})
    panels = (("forward_x_floor", "forward"), ("fwd_bwd_x_floor", "forward+backward"))
    for ax, (key, title) in zip(axes[0], panels, strict=True):
        for implementation, neuron, dtype in series:
            mine = [
                r for r in rows if (r["implementation"], r["neuron"], r["dtype"]) == (implementation, neuron, dtype)
            ]
            ours = implementation.startswith("ours")
            label = f"{neuron} {dtype}" + ("" if ours else f" ({implementation})")
            color = colors.get(f"{implementation} {neuron}", "0.6")
            points = sorted((r["T"], r[key]) for r in mine)
            ax.plot(*zip(*points, strict=True), styles[dtype], marker="o" if ours else "s", label=label, color=color)
            if ours and dtype == "float32":  # the same calls replayed from a CUDA graph: the device's time alone
                replays = sorted((r["T"], r[key.replace("_x_floor", "_graph_x_floor")]) for r in mine)
                ax.plot(*zip(*replays, strict=True), "-.", marker="x", lw=0.8, color=color,
                        label=f"{label}, CUDA graph replay")  # fmt: skip
        for goal in (2, 3):
            ax.axhline(goal, color="0.8", lw=0.8)
        ax.set(xscale="log", yscale="log", xlabel="T", title=f"{title}: time / bandwidth floor")
        ax.set_xticks(steps, [str(t) for t in steps])
        ax.minorticks_off()
    axes[0][0].set_ylabel("x floor")
    axes[0][1].legend(fontsize=7)
    save_figure(fig, path)


def _table(header: list[str], lines: list[list[object]]) -> str:
    rows = [header, ["---"] * len(header), *lines]
    return "\n".join("| " + " | ".join(str(c) for c in row) + " |" for row in rows)


def summary(neuron_rows: list[dict], block_rows: list[dict], steps: list[int]) -> str:
    def floors(rows: list[dict], t: int, mode: str) -> str:
        """``forward / forward+backward`` x floor of the row at ``T = t`` (``mode``: "", "_stream", "_graph")."""
        hit = [r for r in rows if r["T"] == t]
        return f"{hit[0][f'forward{mode}_x_floor']} / {hit[0][f'fwd_bwd{mode}_x_floor']}" if hit else "-"

    groups: dict[tuple[str, str, str], list[dict]] = {}
    for r in neuron_rows:
        groups.setdefault((r["implementation"], r["neuron"], r["dtype"]), []).append(r)
    t_header = [f"T={t}" for t in steps]
    lines = [
        [impl, neuron, dtype, *(floors(rows, t, "") for t in steps)] for (impl, neuron, dtype), rows in groups.items()
    ]
    out = ["x floor, forward / forward+backward (each call alone)", _table(["", "neuron", "dtype", *t_header], lines)]
    for mode, how in (("_stream", "in a stream of calls back to back"),
                      ("_graph", "replayed from a CUDA graph (the device's time alone)")):  # fmt: skip
        lines = [[neuron, dtype, *(floors(rows, t, mode) for t in steps)]
                 for (impl, neuron, dtype), rows in groups.items() if impl.startswith("ours")]  # fmt: skip
        out += [f"ours: x floor, forward / forward+backward, {how}", _table(["neuron", "dtype", *t_header], lines)]
    ours = {(r["neuron"], r["dtype"], r["T"]): r for r in neuron_rows if r["implementation"].startswith("ours")}
    lines = []
    modes = [(f"forward{m}_ms", f"fwd_bwd{m}_ms") for m in ("", "_stream", "_graph")]
    for (neuron, dtype, t), r in sorted(ours.items()):
        f32 = ours.get((neuron, "float32", t))
        halves = ["-" if f32 is None else " / ".join(f"{r[k] / f32[k]:.2f}" for k in keys) for keys in modes]
        lines.append([neuron, dtype, t, f"{r['forward_ms']} / {r['fwd_bwd_ms']}", *halves,
                      r["peak_memory_x_input"], f"{r['forward_checked_ms'] / r['forward_ms']:.2f}",
                      r["spike_mismatches_vs_float32"]])  # fmt: skip
    out += ["ours: ms (each call alone); time over float32's, forward / forward+backward, each call alone, in a "
            "stream and replayed from a CUDA graph; peak memory of fwd+bwd over the input; forward with "
            "check_finite over without; spikes differing from float32 on the upcast input",
            _table(["neuron", "dtype", "T", "fwd / fwd+bwd ms", "x float32", "x float32, stream", "x float32, graph",
                    "peak x input", "check x", "mismatches"], lines)]  # fmt: skip
    native = {r["T"]: r for r in neuron_rows if r["implementation"] == "SpikingJelly cuda"}
    if native:
        keys = ("forward_ms", "fwd_bwd_ms", "forward_stream_ms", "fwd_bwd_stream_ms")
        lines = [[t, *(f"{native[t][k] / ours[('lif', 'float32', t)][k]:.2f}" for k in keys)]
                 for t in steps if t in native and ("lif", "float32", t) in ours]  # fmt: skip
        out += ["SpikingJelly native CUDA LIF time over ours (float32), each call alone and in a stream",
                _table(["T", "forward", "fwd+bwd", "forward, stream", "fwd+bwd, stream"], lines)]  # fmt: skip
    if block_rows:
        timings = (*BLOCK_TIMINGS, "graph")
        lines = [[r["block"], r["L"], *(f"{r[f'{t}_ms']} ({r[f'x_s4d_{t}']}x)" for t in timings), r["ran"]]
                 for r in block_rows]  # fmt: skip
        out += [
            "block training step (forward, backward, Adam), ms (x S4D: median of per-round ratios): each step "
            "alone, in a stream of steps, the device's busy time, replayed from a CUDA graph",
            _table(["block", "L", "alone", "stream", "device busy", "graph replay", "ran"], lines),
        ]
    return "\n\n".join(out)


def package_version(package: str) -> str:
    """The installed version of ``package``: its module's ``__version__``, else its distribution's (a
    SpikingJelly built from its sdist has no ``__version__``; CuPy's distribution is named for its CUDA)."""
    version = getattr(importlib.import_module(package), "__version__", None)
    return version if version is not None else importlib.metadata.version(package)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-fused"))
    parser.add_argument("--steps", type=int, nargs="+", default=[1024, 4096, 16384, 65536])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--features", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--block-batch", type=int, default=16)
    parser.add_argument("--block-width", type=int, default=256)
    parser.add_argument("--block-state", type=int, default=64)
    parser.add_argument("--block-lengths", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--no-spikingjelly", action="store_true")
    parser.add_argument("--no-blocks", action="store_true")
    parser.add_argument("--sj-timeout", type=int, default=100, help="seconds for each SpikingJelly subprocess")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--spikingjelly-only", choices=SPIKINGJELLY, help=argparse.SUPPRESS)
    parser.add_argument("--rows-json", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--bandwidth", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.repeats < 10:
        parser.error("--repeats must be at least 10 (the median of >= 10 runs)")
    device = torch.device(args.device)
    torch.manual_seed(0)
    if args.spikingjelly_only:
        args.rows_json.write_text(json.dumps(bench_spikingjelly(args, device, args.bandwidth)))
        return
    bandwidth = copy_bandwidth(device)
    versions = f"torch {torch.__version__}, CUDA {torch.version.cuda}"
    for package in ("cupy", "spikingjelly"):  # by module: CuPy's distribution is named for its CUDA (cupy-cuda13x)
        try:
            versions += f", {package} {package_version(package)}"
        except ImportError:
            versions += f", {package} not installed"
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {name}; {versions}; copy bandwidth {bandwidth / 1e12:.2f} TB/s; "
          f"B*D = {args.batch}*{args.features}; median of {args.repeats} runs; CUDA events", flush=True)  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    neuron_rows = bench_ours(args, device, bandwidth)
    write_csv(args.out / "neurons.csv", neuron_rows)
    block_rows = [] if args.no_blocks else bench_blocks(args, device)
    if block_rows:
        write_csv(args.out / "blocks.csv", block_rows)
    if not args.no_spikingjelly:
        neuron_rows += spikingjelly_rows(args, bandwidth)
        write_csv(args.out / "neurons.csv", neuron_rows)
    figure(neuron_rows, args.out / "x_floor.png")
    print(f"\n{summary(neuron_rows, block_rows, args.steps)}\n\nwritten to {args.out}/ (neurons.csv, blocks.csv, "
          f"x_floor.png)")  # fmt: skip


if __name__ == "__main__":
    main()
