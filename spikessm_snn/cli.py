"""The spikessm command: the report (the main job, what spikessm alone runs), train, evaluate,
listops-generate and sdn-train. A user's mistake is answered with one line and exit code 2."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from . import argtypes
from .backends.result import BackendUnavailableError
from .training.commands import add_evaluate_parser, add_train_parser

DESCRIPTION = """\
Spiking state space model neurons (SPikE-SSM's SRR, SpikingSSMs' reset-LIF).

With no command, spikessm runs the main job: a report on the embedded default input
(summary.md and figures in ./spikessm-report/): neuron dynamics, our neurons beside
SpikingJelly's and snnTorch's, f-I curves, every backend checked against the exact loop and
the per-layer spike rates of small trained models. Nothing is downloaded.
"""

# What a user's mistake raises (a checkpoint that cannot be read raises a ValueError); anything
# else is a bug and keeps its traceback.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError,
               PermissionError, BackendUnavailableError)  # fmt: skip
REPORT_FOLDER = Path("spikessm-report")
FOLDER_OUT = ("report", "train", "listops-generate")  # commands whose --out is a folder


class UsageError(Exception):
    """A command line argparse refused; the message is one line."""


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each flag's help ends with its default (unless it names it, has none or is a switch); a
    description keeps its paragraphs (blank lines)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.nargs == 0 or action.default is None or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n\n".join(super(_HelpFormatter, self)._fill_text(p, width, indent) for p in text.split("\n\n"))


class _Parser(argparse.ArgumentParser):
    """An argument parser (and, through ``add_subparsers``, sub-parsers) whose errors are one line."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="spikessm", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    report = commands.add_parser("report", help="the main job (also what 'spikessm' alone runs)",
                                 description="Write summary.md and its figures into a folder.")  # fmt: skip
    report.add_argument("--out", type=Path, default=REPORT_FOLDER, help="report folder (created if missing)")
    add_train_parser(commands)
    add_evaluate_parser(commands)
    generate = commands.add_parser("listops-generate", help="write LRA ListOps files (seeded, deterministic)",
                                   description="Write basic_train.tsv, basic_val.tsv and basic_test.tsv of "
                                   "generated LRA ListOps expressions into a folder.")  # fmt: skip
    generate.add_argument("--out", type=Path, required=True, help="folder for the three .tsv files (created)")
    generate.add_argument("--train", type=argtypes.at_least(1), default=96_000, help="training expressions")
    generate.add_argument("--val", type=argtypes.at_least(1), default=2_000, help="validation expressions")
    generate.add_argument("--test", type=argtypes.at_least(1), default=2_000, help="test expressions")
    generate.add_argument("--seed", type=int, default=0, help="random seed (the same seed writes the same files)")
    generate.add_argument("--workers", type=argtypes.at_least(1), default=None,
                          help="processes generating (default: every core; the files do not depend on it)")  # fmt: skip
    sdn = commands.add_parser("sdn-train", help="train a surrogate dynamic network for the 'sdn' backend",
                              description="Train SpikingSSMs' surrogate dynamic network to predict the membrane "
                              "of a hard-reset LIF (threshold 1, reset 0) of one decay.")  # fmt: skip
    sdn.add_argument("--tau", type=argtypes.decay, default=0.125, help="decay a step of the LIF to imitate, in (0, 1]")
    sdn.add_argument("--steps", type=argtypes.at_least(1), default=1024, help="sequence length T of the data")
    sdn.add_argument("--sequences", type=argtypes.at_least(1), default=50_000,
                     help="training sequences (a tenth of them held out for validation)")  # fmt: skip
    sdn.add_argument("--test-sequences", type=argtypes.at_least(1), default=2_000, help="test sequences")
    sdn.add_argument("--epochs", type=argtypes.at_least(1), default=100, help="passes over the training sequences")
    sdn.add_argument("--batch", type=argtypes.at_least(1), default=64, help="sequences per optimizer step")
    sdn.add_argument("--lr", type=argtypes.positive_float, default=0.01, help="AdamW learning rate (cosine schedule)")
    sdn.add_argument("--seed", type=int, default=0, help="random seed of the data and the initial weights")
    sdn.add_argument("--device", type=argtypes.device, default="cuda" if torch.cuda.is_available() else "cpu",
                     help="torch device to train on")  # fmt: skip
    sdn.add_argument("--out", type=Path, default=Path("sdn.pt"),
                     help="weights file to write; its checkpoint goes beside it (<name>.checkpoint.pt)")  # fmt: skip
    sdn.add_argument("--resume", action="store_true", help="continue from the checkpoint beside --out")
    return parser


def _train_sdn(args: argparse.Namespace) -> None:
    from .backends.sdn import SDNTrainingConfig, train_sdn

    if args.out.is_dir():
        raise IsADirectoryError(f"--out {args.out} is a folder; give the weights file to write")
    if not args.out.parent.is_dir():
        raise FileNotFoundError(f"--out {args.out}: folder {args.out.parent} does not exist")
    config = SDNTrainingConfig(
        tau=args.tau, steps=args.steps, sequences=args.sequences, test_sequences=args.test_sequences,
        epochs=args.epochs, batch=args.batch, lr=args.lr, seed=args.seed,
    )  # fmt: skip
    _, metadata = train_sdn(config, args.out, resume=args.resume, device=args.device)
    print(f"SDN for tau={args.tau} written to {args.out}; test agreement: {metadata['test']}")


def _run(args: argparse.Namespace) -> None:
    if args.command == "sdn-train":
        _train_sdn(args)
    elif args.command in ("train", "evaluate"):
        args.run(args)
    elif args.command == "listops-generate":
        from .data.listops import generate_files

        for path in generate_files(args.out, args.train, args.val, args.test, args.seed, workers=args.workers,
                                   progress=True):  # fmt: skip
            print("wrote", path)
    else:
        from .report import run_report

        summary = run_report(args.out)
        print(summary.read_text())
        print(f"report written to {args.out.resolve()}/")


def _one_line(error: BaseException) -> str:
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        return f"{error.filename}: {error.strerror}"
    return " ".join(str(error).split()) or type(error).__name__


def _first_missing(folder: Path) -> Path | None:
    """The outermost folder of ``folder`` that does not exist yet (what running may create);
    raises if ``folder`` or the nearest of its parents that exists is not a folder."""
    missing = None
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            if not candidate.is_dir():
                raise NotADirectoryError(f"--out {folder}: {candidate} exists and is not a folder")
            return missing
        missing = candidate
    return missing


def _remove_empty_folders(path: Path, up_to: Path) -> None:
    """Remove ``path`` and its parents up to ``up_to`` (included) while they are empty folders."""
    for folder in (path, *path.parents):
        if not folder.is_dir() or any(folder.iterdir()):
            return
        folder.rmdir()
        if folder == up_to:
            return


def main(argv: list[str] | None = None) -> None:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); a user's mistake exits with code 2."""
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:  # spikessm alone: the report into its default folder
            args.command, args.out = "report", REPORT_FOLDER
        out = Path(args.out) if args.command in FOLDER_OUT else None
        created = _first_missing(out) if out is not None else None
        try:
            _run(args)
        except BaseException:
            if created is not None:  # a failed run leaves no empty folder behind
                _remove_empty_folders(out, created)
            raise
    except (UsageError, *USER_ERRORS) as error:
        print(f"spikessm: error: {_one_line(error)}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
