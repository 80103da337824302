"""Make SpikingJelly 2.0.0's loader accept a native op built for TORCH_CUDA_ARCH_LIST.

    python3 analysis/spikingjelly_native_arch.py TARGET [ARCH_LIST]   # ARCH_LIST: "9.0", "8.0;9.0+PTX"

SpikingJelly's ``ops/native_loader.py`` (``_check_native_device``) accepts its built op on a GPU
only where ``cuda_arch_flags`` in the ``_native_build.json`` beside ``_C*.so`` holds a
``code=sm_NN`` or ``code=compute_NN`` target for it; the flags its ``setup.py`` records were
found without one on an H100 (torch 2.11.0+cu130: "Native operators have no supported
binary/PTX target for sm_90"), though the op was built for that arch. For each arch of the list
(``9.0`` -> ``90``) without such an entry, ``-gencode=arch=compute_NN,code=sm_NN`` (the flag nvcc
was given for it) is added to the installed file.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

DEFAULT_ARCH_LIST = "9.0"
ARCH = re.compile(r"(\d+)\.(\d+)(\+PTX)?")


def arch_numbers(arch_list: str) -> list[str]:
    """``"8.0;9.0+PTX"`` (``;`` or space separated) -> ``["80", "90"]``; ValueError on an unknown entry."""
    numbers = []
    for entry in arch_list.replace(" ", ";").split(";"):
        if not entry:
            continue
        match = ARCH.fullmatch(entry)
        if match is None:
            raise ValueError(f"TORCH_CUDA_ARCH_LIST entry {entry!r} is not MAJOR.MINOR[+PTX] (e.g. 9.0)")
        numbers.append(match[1] + match[2])
    if not numbers:
        raise ValueError("TORCH_CUDA_ARCH_LIST names no arch")
    return numbers


def has_target(flags: list[str], number: str) -> bool:
    """Whether ``flags`` hold ``code=sm_NN`` or ``code=compute_NN``, matched as the loader does."""
    return re.search(rf"code=(sm|compute)_{number}(?![\da-z])", " ".join(flags)) is not None


def with_arch_targets(flags: list[str], arch_list: str) -> list[str]:
    """``flags`` with ``-gencode=arch=compute_NN,code=sm_NN`` added for each arch lacking a target."""
    added = [
        f"-gencode=arch=compute_{number},code=sm_{number}"
        for number in arch_numbers(arch_list)
        if not has_target(flags, number)
    ]
    return [*flags, *added]


def build_metadata(target: Path) -> Path:
    """The installed LIF op's ``_native_build.json`` under ``target``; FileNotFoundError if absent."""
    folder = target / "spikingjelly" / "_ops" / "lif"
    metadata = folder / "_native_build.json"
    if not any(folder.glob("_C*.so")) or not metadata.is_file():
        raise FileNotFoundError(
            f"{metadata} or the _C*.so beside it is missing: the native LIF op was not installed there"
        )
    return metadata


def patch(target: Path, arch_list: str) -> list[str]:
    """Rewrite ``cuda_arch_flags`` of the installed metadata; returns the flags it added."""
    metadata = build_metadata(target)
    try:
        info = json.loads(metadata.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{metadata}: not JSON ({error})") from error
    flags = info.get("cuda_arch_flags") if isinstance(info, dict) else None
    if not isinstance(flags, list) or not all(isinstance(flag, str) for flag in flags):
        raise ValueError(f"{metadata}: cuda_arch_flags is not a list of strings")
    info["cuda_arch_flags"] = with_arch_targets(flags, arch_list)
    metadata.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info["cuda_arch_flags"][len(flags) :]


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print("usage: spikingjelly_native_arch.py TARGET [ARCH_LIST]", file=sys.stderr)
        return 2
    arch_list = argv[1] if len(argv) == 2 else DEFAULT_ARCH_LIST
    try:
        added = patch(Path(argv[0]), arch_list)
    except (OSError, ValueError) as error:
        print(f"spikingjelly_native_arch: {error}", file=sys.stderr)
        return 2
    print("cuda_arch_flags: added " + (" ".join(added) if added else "nothing (targets present)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
