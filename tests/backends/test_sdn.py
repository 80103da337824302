"""The SDN backend: the shipped network's agreement with the exact LIF, its loader, training."""

from __future__ import annotations

import pytest
import torch

from spikessm_snn import BackendUnavailableError, ResetLIFNeuron, checkpoints
from spikessm_snn.backends.sdn import (
    SHIPPED,
    SDNTrainingConfig,
    SurrogateDynamicNetwork,
    load_sdn,
    save_sdn,
    sdn_agreement,
    train_sdn,
)  # fmt: skip
from spikessm_snn.backends.sdn.training import sample_inputs

TINY = SDNTrainingConfig(steps=128, sequences=600, test_sequences=50, epochs=3, batch=32)


def test_the_shipped_sdn_agrees_with_the_exact_lif_on_fresh_inputs() -> None:
    """The agreement we reached (record in spikessm_snn/backends/sdn/weights/README.md),
    on inputs drawn from a seed never used in training: tau 0.125, T 1024, N(0, 1)."""
    model, metadata = load_sdn(SHIPPED)
    assert metadata["tau"] == 0.125 and metadata["train_steps"] == 1024
    x = sample_inputs(200, 1024, seed=123_456)
    scores = sdn_agreement(model, 0.125, x)
    assert scores["spike_agreement"] >= 0.99965, scores  # reached 99.972% on 2000 sequences; published 99.976%
    assert scores["sequences_all_correct"] >= 0.70, scores  # reached 75.1%; published 79.1%
    assert scores["mae_m"] <= 0.0013, scores  # reached 0.0011; published 0.0010


def test_the_backend_gives_the_networks_spikes_with_any_threshold(randn) -> None:
    x = randn(300, 4, 8, dtype=torch.float32)
    unit = ResetLIFNeuron(tau=0.125, v_threshold=1.0, backend="sdn")(x)
    scaled = ResetLIFNeuron(tau=0.125, v_threshold=2.5, backend="sdn")(2.5 * x)
    assert torch.equal(unit.spikes, scaled.spikes)
    exact = ResetLIFNeuron(tau=0.125, v_threshold=1.0)(x)
    assert (unit.spikes == exact.spikes).float().mean() > 0.999


def test_gradient_reaches_the_input_through_the_surrogate_at_the_same_step(randn) -> None:
    x = randn(200, 2, 5, dtype=torch.float32).requires_grad_()
    neuron = ResetLIFNeuron(tau=0.125, backend="sdn", learn_threshold=True)
    result = neuron(x, record=True)
    g = randn(200, 2, 5, dtype=torch.float32)
    (result.spikes * g).sum().backward()
    model, _ = load_sdn(SHIPPED)
    with torch.no_grad():
        m = model(x.detach().permute(1, 2, 0).reshape(-1, 1, 200)).reshape(2, 5, 200).permute(2, 0, 1)
    expected = g * neuron.spike_fn.derivative(m + x.detach() - 1.0)
    assert torch.allclose(x.grad, expected, atol=1e-6)
    assert neuron.threshold.raw.grad is not None


def test_settings_it_was_not_trained_for_are_refused(randn) -> None:
    x = randn(100, 2, dtype=torch.float32)
    with pytest.raises(BackendUnavailableError, match=r"no SDN is trained for tau=0\.2.*spikessm sdn-train --tau 0\.2"):
        ResetLIFNeuron(tau=0.2, backend="sdn")(x)
    with pytest.raises(BackendUnavailableError, match="hard-reset LIF"):
        ResetLIFNeuron(tau=0.125, reset="soft", backend="sdn")(x)
    with pytest.raises(BackendUnavailableError, match="beyond the"):
        ResetLIFNeuron(tau=0.125, backend="sdn")(randn(70_000, 1, dtype=torch.float32))
    neuron = ResetLIFNeuron(tau=0.125, backend="sdn")
    with pytest.raises(ValueError, match="predicts from rest"):
        neuron(x, ResetLIFNeuron(tau=0.125)(x).state)


def test_a_tiny_sdn_trains_on_cpu_and_its_loss_falls(tmp_path) -> None:
    _, metadata = train_sdn(TINY, tmp_path / "sdn.pt", progress=False)
    losses = [h["val_loss"] for h in metadata["history"]]
    assert losses[-1] < 0.7 * losses[0], losses
    assert metadata["test"]["spike_agreement"] > 0.9


def test_an_interrupted_training_resumes_to_the_same_weights(tmp_path, monkeypatch) -> None:
    straight, _ = train_sdn(TINY, tmp_path / "a.pt", progress=False)
    real_save = checkpoints.atomic_save

    def save_then_stop(obj, path):  # the process dies right after the checkpoint of epoch 2
        real_save(obj, path)
        if isinstance(obj, dict) and obj.get("epoch") == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints, "atomic_save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        train_sdn(TINY, tmp_path / "b.pt", progress=False)
    monkeypatch.setattr(checkpoints, "atomic_save", real_save)
    resumed, metadata = train_sdn(TINY, tmp_path / "b.pt", resume=True, progress=False)
    assert [h["epoch"] for h in metadata["history"]] == [1, 2, 3]
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_the_loader_refuses_tampered_and_mismatched_files(tmp_path) -> None:
    model, metadata = SurrogateDynamicNetwork(), {"tau": 0.125, "train_steps": 1024}
    save_sdn(model, metadata, tmp_path / "ok.pt")
    assert load_sdn(tmp_path / "ok.pt")[1] == metadata
    blob = torch.load(tmp_path / "ok.pt", weights_only=True)
    blob["state_dict"]["decode.bias"] += 0.01
    torch.save(blob, tmp_path / "tampered.pt")
    with pytest.raises(ValueError, match="checksum mismatch"):
        load_sdn(tmp_path / "tampered.pt")
    blob = torch.load(tmp_path / "ok.pt", weights_only=True)
    blob["metadata"]["tau"] = 0.2
    torch.save(blob, tmp_path / "relabelled.pt")
    with pytest.raises(ValueError, match="checksum mismatch"):
        load_sdn(tmp_path / "relabelled.pt")
    wider = torch.nn.Conv1d(1, 9, 1, bias=False)
    model.encode = wider
    save_sdn(model, metadata, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="does not hold this SDN architecture"):
        load_sdn(tmp_path / "other.pt")
    torch.save({"format": "something-else"}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="not an SDN weights file"):
        load_sdn(tmp_path / "foreign.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="not a loadable SDN weights file"):
        load_sdn(tmp_path / "junk.pt")


@pytest.mark.gpu
def test_the_sdn_backend_on_the_gpu_matches_the_cpu(randn) -> None:
    x = randn(1024, 4, 16, dtype=torch.float32)
    cpu = ResetLIFNeuron(tau=0.125, backend="sdn")(x)
    gpu = ResetLIFNeuron(tau=0.125, backend="sdn").cuda()(x.cuda())
    assert (gpu.spikes.cpu() == cpu.spikes).float().mean() > 0.9999  # conv kernels may round differently
