"""The arch targets added to SpikingJelly's installed native build metadata, checked with its own loader.

``analysis/build_spikingjelly_native.sh`` runs ``analysis/spikingjelly_native_arch.py`` after the
install; here it runs on a fake installed tree (an empty ``_C*.so`` beside the metadata), and
SpikingJelly 2.0.0's ``_check_native_device`` decides whether an H100 (sm_90) is accepted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from analysis.spikingjelly_native_arch import arch_numbers, with_arch_targets

SCRIPT = Path(__file__).resolve().parents[2] / "analysis" / "spikingjelly_native_arch.py"
native_loader = pytest.importorskip("spikingjelly._ops.native_loader")

RECORDED = {
    "torch_version": "2.11.0+cu130",
    "operator_abi": 1,
    "cuda_version": "13.0",
    "cuda_arch_flags": ["-O3"],
    "torch_cuda_arch_list": "9.0",
}


def installed_tree(root: Path, info: dict | None) -> Path:
    """``root/spikingjelly/_ops/lif`` with an empty ``_C*.so`` and, unless None, the metadata."""
    folder = root / "spikingjelly" / "_ops" / "lif"
    folder.mkdir(parents=True)
    (folder / "_C.cpython-312-x86_64-linux-gnu.so").write_bytes(b"")
    if info is not None:
        (folder / "_native_build.json").write_text(json.dumps(info), encoding="utf-8")
    return folder / "_native_build.json"


def run_patch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False)


def accepted_on(info: dict, capability: tuple[int, int], monkeypatch) -> bool:
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index: capability)
    try:
        native_loader._check_native_device(info, 0)
    except ImportError:
        return False
    return True


@pytest.mark.parametrize(
    ("arch_list", "numbers"),
    [("9.0", ["90"]), ("8.0;9.0+PTX", ["80", "90"]), ("8.6 9.0", ["86", "90"]), ("10.0", ["100"])],
)
def test_arch_list_entries_become_target_numbers(arch_list, numbers):
    assert arch_numbers(arch_list) == numbers


@pytest.mark.parametrize("arch_list", ["Hopper", "9", "9.0a", "", ";"])
def test_unknown_arch_list_entries_are_refused(arch_list):
    with pytest.raises(ValueError, match="TORCH_CUDA_ARCH_LIST"):
        arch_numbers(arch_list)


def test_only_missing_targets_are_added():
    flags = ["-O3", "-gencode=arch=compute_80,code=sm_80", "-gencode=arch=compute_90a,code=sm_90a"]
    assert with_arch_targets(flags, "8.0;9.0") == [*flags, "-gencode=arch=compute_90,code=sm_90"]
    ptx = ["-gencode=arch=compute_90,code=compute_90"]
    assert with_arch_targets(ptx, "9.0") == ptx


def test_patched_metadata_is_accepted_by_spikingjelly_on_sm90(tmp_path, monkeypatch):
    metadata = installed_tree(tmp_path, RECORDED)
    assert not accepted_on(RECORDED, (9, 0), monkeypatch)

    result = run_patch(str(tmp_path), "9.0")
    assert result.returncode == 0, result.stderr
    assert "-gencode=arch=compute_90,code=sm_90" in result.stdout
    patched = json.loads(metadata.read_text(encoding="utf-8"))
    assert patched == {**RECORDED, "cuda_arch_flags": ["-O3", "-gencode=arch=compute_90,code=sm_90"]}
    assert accepted_on(patched, (9, 0), monkeypatch)
    assert not accepted_on(patched, (8, 0), monkeypatch)

    again = run_patch(str(tmp_path))
    assert again.returncode == 0, again.stderr
    assert json.loads(metadata.read_text(encoding="utf-8")) == patched


@pytest.mark.parametrize("text", [None, "{", json.dumps({**RECORDED, "cuda_arch_flags": "-O3"})])
def test_missing_or_malformed_metadata_fails_with_one_line(tmp_path, text):
    metadata = installed_tree(tmp_path, None)
    if text is not None:
        metadata.write_text(text, encoding="utf-8")
    result = run_patch(str(tmp_path), "9.0")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "_native_build.json" in result.stderr
