"""The README's SpikingJelly and snnTorch snippets (its "Use" section) run as written, each on its own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _use_section_snippets() -> dict[str, str]:
    """Framework -> the one Python snippet of the "Use" section that imports it."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Use\n", 1)[1].split("\n## ", 1)[0]
    snippets: dict[str, str] = {}
    for code in re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL):
        for framework in ("spikingjelly", "snntorch"):
            if re.search(rf"^from {framework}\b|^import {framework}\b", code, flags=re.MULTILINE):
                assert framework not in snippets, f"two {framework} snippets in the README's Use section"
                snippets[framework] = code
    return snippets


def test_the_use_section_has_a_snippet_for_each_framework() -> None:
    assert sorted(_use_section_snippets()) == ["snntorch", "spikingjelly"]


@pytest.mark.parametrize("framework", ["spikingjelly", "snntorch"])
def test_readme_snippet_runs_as_written(framework) -> None:
    pytest.importorskip(framework)
    code = _use_section_snippets()[framework]
    namespace: dict[str, object] = {"__name__": f"readme_{framework}"}  # nothing given: its imports must be there
    exec(compile(code, f"README.md ({framework} snippet)", "exec"), namespace)
    net = namespace["net"]
    assert any(type(m).__module__.startswith("spikessm_snn.adapters") for m in net.modules())


def _framework_free_snippets() -> list[str]:
    """Every Python snippet of the README that needs neither SpikingJelly nor snnTorch."""
    snippets = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    return [code for code in snippets if not re.search(r"spikingjelly|snntorch", code)]


def test_every_other_readme_snippet_runs_as_written(tmp_path, monkeypatch) -> None:
    snippets = _framework_free_snippets()
    assert len(snippets) >= 2
    monkeypatch.chdir(tmp_path)  # a snippet may write a figure
    for i, code in enumerate(snippets):
        namespace: dict[str, object] = {"__name__": f"readme_{i}"}
        exec(compile(code, f"README.md (snippet {i})", "exec"), namespace)
        if "result" in namespace:  # the neuron snippet: its spikes and recorded membrane
            assert namespace["result"].v_seq.shape == namespace["result"].spikes.shape == (1024, 32, 256)
    assert (tmp_path / "layer_rates.png").stat().st_size > 1000  # the plotting snippet's figure
