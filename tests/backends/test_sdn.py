"""The SDN backend: the shipped network's agreement with the exact LIF, its loader, training."""

from __future__ import annotations

import math

import numpy as np
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
from spikessm_snn.neurons.dynamics import NeuronState, neuron_step

TINY = SDNTrainingConfig(steps=128, sequences=600, test_sequences=50, epochs=3, batch=16)
SHORT = SDNTrainingConfig(steps=64, sequences=200, test_sequences=10, epochs=3, batch=32)  # to interrupt and resume
PUBLISHED = {"spike_agreement": 0.99976, "sequences_all_correct": 0.791, "mae_m": 0.0010}  # spikingssm-and-sdn.md


def _exact_lif(x: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """``(m, spikes)`` ``[S, T]`` of the hard-reset LIF (threshold 1, reset 0), a float64 loop written
    here from ``spikingssm-and-sdn.md``: ``m[t] = tau u[t-1]``, ``s = H(m + x - 1)``, ``u = (m + x)(1 - s)``."""
    u, m, spikes = np.zeros(x.shape[0]), np.zeros_like(x), np.zeros_like(x)
    for t in range(x.shape[1]):
        m[:, t] = tau * u
        spikes[:, t] = m[:, t] + x[:, t] >= 1.0
        u = (m[:, t] + x[:, t]) * (1.0 - spikes[:, t])
    return m, spikes


def test_the_shipped_sdn_matches_the_published_one_on_fresh_inputs() -> None:
    """The published SDN's figures (tau 0.125, T 1024, N(0, 1)), less three standard errors of a
    rate measured on this sample; inputs from a seed never used in training. Its MAE of m is not
    matched (0.0011 against 0.0010, weights/README.md): held within 20%."""
    model, metadata = load_sdn(SHIPPED)
    assert metadata["tau"] == 0.125 and metadata["train_steps"] == 1024
    sequences, steps = 200, 1024
    x = sample_inputs(sequences, steps, seed=123_456)
    scores = sdn_agreement(model, 0.125, x)

    def lowest(published: float, samples: int) -> float:
        return published - 3 * math.sqrt(published * (1 - published) / samples)

    assert scores["spike_agreement"] >= lowest(PUBLISHED["spike_agreement"], sequences * steps), scores
    assert scores["sequences_all_correct"] >= lowest(PUBLISHED["sequences_all_correct"], sequences), scores
    assert scores["mae_m"] <= 1.2 * PUBLISHED["mae_m"], scores


def test_the_backend_gives_the_networks_spikes_with_any_threshold(randn) -> None:
    x = randn(300, 4, 8, dtype=torch.float32)
    unit = ResetLIFNeuron(tau=0.125, v_threshold=1.0, backend="sdn")(x)
    scaled = ResetLIFNeuron(tau=0.125, v_threshold=2.5, backend="sdn")(2.5 * x)
    assert torch.equal(unit.spikes, scaled.spikes)
    exact = ResetLIFNeuron(tau=0.125, v_threshold=1.0)(x)
    assert (unit.spikes == exact.spikes).float().mean() > 0.999


def test_the_backward_is_the_loop_step_from_the_networks_membrane_held_constant(randn) -> None:
    """The paper's SDN gradient: each step of the reference loop (``neuron_step``, plain autograd),
    started from the membrane the network predicts (``m = U SDN(x / U)``) as a constant. Input,
    per-channel threshold, spikes and recorded membrane."""
    steps, shape = 200, (2, 5)
    x = randn(steps, *shape, dtype=torch.float32, scale=1.3)
    g_spikes, g_v = randn(steps, *shape, dtype=torch.float32), randn(steps, *shape, dtype=torch.float32)
    neuron = ResetLIFNeuron(tau=0.125, backend="sdn", learn_threshold=True, shape=(5,))
    with torch.no_grad():
        neuron.threshold.raw.copy_(randn(5, dtype=torch.float32, scale=0.3, mean=0.6))
    x_sdn = x.clone().requires_grad_()
    result = neuron(x_sdn, record=True)
    ((result.spikes * g_spikes).sum() + (result.v_seq * g_v).sum()).backward()

    reference = ResetLIFNeuron(tau=0.125, learn_threshold=True, shape=(5,))
    reference.load_state_dict(neuron.state_dict())
    threshold = reference.threshold().detach()
    model, _ = load_sdn(SHIPPED)
    with torch.no_grad():  # the network over each neuron's sequence [N, 1, T]
        m = model((x / threshold).permute(1, 2, 0).reshape(-1, 1, steps)).reshape(*shape, steps).permute(2, 0, 1)
        m = m * threshold
    x_ref = x.clone().requires_grad_()
    held = NeuronState(m / 0.125, torch.zeros_like(m))  # tau * v[t-1] = m[t]
    spikes, state = neuron_step(x_ref, held, reference.parameters_for(x_ref), reference.spike_fn)
    ((spikes * g_spikes).sum() + (state.v * g_v).sum()).backward()

    assert torch.equal(result.spikes, spikes) and torch.allclose(result.v_seq, state.v, atol=1e-6)
    assert x_ref.grad.abs().sum() > 0 and torch.allclose(x_sdn.grad, x_ref.grad, atol=1e-6)
    assert torch.allclose(neuron.threshold.raw.grad, reference.threshold.raw.grad, rtol=1e-5, atol=1e-5)


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


def test_a_tiny_sdn_trains_on_cpu_and_beats_the_trivial_predictor(tmp_path) -> None:
    """Its loss falls, and on the test inputs it beats predicting ``m = 0`` (spikes ``H(x - 1)``, 98.4%
    of them right), both scored here against a loop of our own, not the library's teacher."""
    model, metadata = train_sdn(TINY, tmp_path / "sdn.pt", progress=False)
    losses = [h["val_loss"] for h in metadata["history"]]
    assert losses[-1] < 0.7 * losses[0], losses
    x = sample_inputs(TINY.test_sequences, TINY.steps, TINY.seed + 10_000)  # the inputs train_sdn tests on
    m_true, s_true = _exact_lif(x.double().numpy(), TINY.tau)
    with torch.no_grad():
        m_pred = model(x[:, None]).double().numpy()
    agreement = ((m_pred + x.double().numpy() - 1.0 >= 0) == s_true).mean()
    trivial = ((x.double().numpy() >= 1.0) == s_true).mean()
    assert agreement == pytest.approx(metadata["test"]["spike_agreement"], abs=1e-6)
    assert agreement > trivial, (agreement, trivial)
    assert np.abs(m_pred - m_true).mean() < 0.8 * np.abs(m_true).mean()


@pytest.mark.parametrize(
    ("change", "message"),
    [({"tau": 1.5}, "tau must be in"), ({"tau": float("nan")}, "tau must be in"), ({"epochs": 0}, "epochs must be"),
     ({"batch": 0}, "batch must be"), ({"steps": 0}, "steps must be"), ({"sequences": 5}, "both need at least one"),
     ({"lr": float("inf")}, "lr must be"), ({"test_sequences": -1}, "test_sequences must be")],
)  # fmt: skip
def test_a_training_configuration_for_nothing_is_refused(change, message) -> None:
    with pytest.raises(ValueError, match=message):
        SDNTrainingConfig(**change)


def test_an_interrupted_training_resumes_to_the_same_weights(tmp_path, monkeypatch) -> None:
    straight, _ = train_sdn(SHORT, tmp_path / "a.pt", progress=False)
    real_save = checkpoints.atomic_save

    def save_then_stop(obj, path):  # the process dies right after the checkpoint of epoch 2
        real_save(obj, path)
        if isinstance(obj, dict) and obj.get("epoch") == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints, "atomic_save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        train_sdn(SHORT, tmp_path / "b.pt", progress=False)
    monkeypatch.setattr(checkpoints, "atomic_save", real_save)
    resumed, metadata = train_sdn(SHORT, tmp_path / "b.pt", resume=True, progress=False)
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
    torch.save({"format": "spikessm-sdn/1", "state_dict": {"decode.bias": 1.0}}, tmp_path / "hollow.pt")
    with pytest.raises(ValueError, match="lacks the tensors or the record"):
        load_sdn(tmp_path / "hollow.pt")
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
