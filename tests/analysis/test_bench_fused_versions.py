"""The fused benchmark names the packages it compared with, also a SpikingJelly built from its sdist."""

from __future__ import annotations

import importlib.metadata

import spikingjelly

from analysis.bench_fused import package_version


def test_a_package_without_a_version_attribute_is_named_by_its_distribution(monkeypatch) -> None:
    monkeypatch.delattr(spikingjelly, "__version__", raising=False)
    assert package_version("spikingjelly") == importlib.metadata.version("spikingjelly")


def test_a_module_version_is_read_first(monkeypatch) -> None:
    monkeypatch.setattr(spikingjelly, "__version__", "9.9.9-module", raising=False)
    assert package_version("spikingjelly") == "9.9.9-module"
