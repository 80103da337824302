"""The three blocks: shapes, causality, spike rates, and that the spiking ones emit spikes."""

from __future__ import annotations

import pytest
import torch

from spikessm_snn.ssm import SpikingActivation, s4d_block, spike_ssm_block, spiking_ssm_block

BLOCKS = {"s4d": s4d_block, "spikingssm": spiking_ssm_block, "spike-ssm": spike_ssm_block}


@pytest.mark.parametrize("name", BLOCKS)
def test_shape_and_causality(name, randn) -> None:
    torch.manual_seed(0)
    block = BLOCKS[name](12, d_state=8).double()
    u = randn(2, 12, 50)
    y = block(u)
    assert y.shape == u.shape
    changed = u.clone()
    changed[..., 30:] += randn(2, 12, 20)
    # nothing at t < 30 sees t >= 30 (up to the FFT's rounding, which mixes all positions)
    assert torch.allclose(block(changed)[..., :30], y[..., :30], rtol=0, atol=1e-10)
    assert not torch.allclose(block(changed)[..., 30:], y[..., 30:])


@pytest.mark.parametrize("name", ["spikingssm", "spike-ssm"])
def test_spiking_blocks_report_a_spike_rate_and_feed_binary_spikes_to_the_glu(name, randn) -> None:
    torch.manual_seed(0)
    block = BLOCKS[name](16, d_state=8)
    seen = []
    block.mix.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    block(randn(4, 16, 80, dtype=torch.float32))
    assert isinstance(block.activation, SpikingActivation)
    assert 0 < block.activation.spike_rate() < 1
    assert set(seen[0].unique().tolist()) <= {0.0, 1.0}


def test_the_spike_count_goes_on_across_inference_mode_and_training_and_resets(randn) -> None:
    """Counted in place on the device: a first step in inference mode does not stop a training step
    from counting into the same count, and a reset zeroes it."""
    torch.manual_seed(0)
    block = spike_ssm_block(16, d_state=8)
    u = randn(4, 16, 80, dtype=torch.float32)
    with torch.inference_mode():
        block(u)
    once = block.activation.spike_rate()
    block(u).sum().backward()
    assert 0 < once < 1 and block.activation.spike_rate() == pytest.approx(once)  # the same input twice
    block.activation.reset_spike_count()
    assert block.activation.spike_rate() is None
    mask = torch.ones(4, 1, 80)
    mask[:, :, 40:] = 0
    block(u, mask)
    masked = block.activation.spike_rate()
    block.activation.reset_spike_count()
    with torch.no_grad():
        first_half = block.activation(block.conv(u))[..., :40]
    assert masked == pytest.approx(first_half.mean().item())


def test_spike_ssm_thresholds_and_refractory_magnitudes_are_trainable_per_channel() -> None:
    block = spike_ssm_block(6, d_state=8)
    names = {n for n, p in block.named_parameters() if p.requires_grad}
    assert {"activation.neuron.threshold.raw", "activation.neuron.refractory.raw"} <= names
    assert block.activation.neuron.threshold.raw.shape == (6,)
    assert spiking_ssm_block(6, d_state=8).activation.ln_vth.shape == (6,)


@pytest.mark.parametrize("backend", ["pmbc"])
def test_a_block_runs_on_another_backend_with_the_same_output(backend, randn) -> None:
    torch.manual_seed(0)
    reference = spike_ssm_block(8, d_state=8).double()
    torch.manual_seed(0)
    fast = spike_ssm_block(8, d_state=8, backend=backend).double()
    u = randn(2, 8, 64)
    assert torch.equal(fast(u), reference(u))
