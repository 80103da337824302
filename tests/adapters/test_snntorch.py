"""snnTorch neuron classes: snnTorch's tutorial code with only the class name changed, snnTorch's
own tools (utils.reset, backprop, functional losses, spikeplot), and snn.Leaky spike for spike."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

snn = pytest.importorskip("snntorch")
from snntorch import functional as SF  # noqa: E402
from snntorch import surrogate as snn_surrogate  # noqa: E402
from snntorch import utils  # noqa: E402

from spikessm_snn import BackendUnavailableError, ResetLIFNeuron, SRRNeuron  # noqa: E402
from spikessm_snn.adapters.snntorch import SRR, ResetLIF, reset  # noqa: E402


def _dyadic(generator: torch.Generator, *shape: int) -> torch.Tensor:
    """Multiples of 1/8: with beta = 0.5 every membrane is exact and many land on the threshold."""
    return (torch.randint(-4, 9, shape, generator=generator) / 8).double()


def test_they_are_snntorch_neurons() -> None:
    for neuron in (ResetLIF(), SRR(), ResetLIF.leaky(0.9)):
        assert isinstance(neuron, snn.Leaky) and neuron in snn.SpikingNeuron.instances


# ---- snn.Leaky's conventions: spike for spike, membrane for membrane, gradient for gradient ----


@pytest.mark.parametrize("mechanism", ["subtract", "zero", "none"])
def test_leaky_conventions_equal_snn_leaky(mechanism, randn) -> None:
    x = randn(120, 6, 16, scale=0.8, mean=0.35)
    theirs = snn.Leaky(beta=0.8, threshold=0.75, reset_mechanism=mechanism, learn_beta=True).double()
    ours = ResetLIF.leaky(beta=0.8, threshold=0.75, reset_mechanism=mechanism, learn_beta=True).double()
    results = []
    for neuron in (theirs, ours):
        x_in = x.clone().requires_grad_()
        mem = neuron.init_leaky()
        spikes, mems = [], []
        for x_t in x_in:
            spk, mem = neuron(x_t, mem)
            spikes.append(spk)
            mems.append(mem)
        spikes, mems = torch.stack(spikes), torch.stack(mems)
        (spikes.sum() + (mems * x).sum()).backward()
        results.append((spikes.detach(), mems.detach(), x_in.grad, neuron.beta.grad))
    (s_theirs, m_theirs, gx_theirs, gb_theirs), (s_ours, m_ours, gx_ours, gb_ours) = results
    assert 0.05 < s_theirs.mean() < 0.95
    assert torch.equal(s_ours, s_theirs) and torch.equal(m_ours, m_theirs)
    assert gx_theirs.abs().sum() > 0 and torch.allclose(gx_ours, gx_theirs, rtol=1e-12, atol=0)
    assert torch.allclose(gb_ours, gb_theirs, rtol=1e-12, atol=0)


def test_leaky_conventions_refuse_nan_input_and_an_overflowing_membrane() -> None:
    """Checked after the step (as the papers' neurons are): the bad step's membrane is not kept."""
    lif = ResetLIF.leaky(beta=1.0, threshold=3e38)
    with pytest.raises(ValueError, match="x holds NaN or inf"):
        lif(torch.tensor([float("nan"), 1.0]))
    lif(torch.full((2,), 2e38))
    with pytest.raises(ValueError, match="state overflowed float32"):
        lif(torch.full((2,), 2e38))
    assert torch.equal(lif.mem, torch.full((2,), 2e38))
    lif.neuron.check_finite = False
    assert torch.isinf(lif(torch.full((2,), 2e38))[1]).all()


@pytest.mark.parametrize("mechanism", ["subtract", "zero", "none"])
def test_strict_threshold_matters_where_the_membrane_hits_it(mechanism) -> None:
    x = _dyadic(torch.Generator().manual_seed(5), 60, 4, 32)

    def run(neuron: nn.Module) -> torch.Tensor:
        return torch.stack([neuron(x_t)[0] for x_t in x])

    theirs = run(snn.Leaky(beta=0.5, reset_mechanism=mechanism).double())
    assert 0.05 < theirs.mean() < 0.95
    assert torch.equal(run(ResetLIF.leaky(beta=0.5, reset_mechanism=mechanism).double()), theirs)
    at_threshold = ResetLIF.leaky(beta=0.5, reset_mechanism=mechanism, strict_threshold=False).double()
    assert not torch.equal(run(at_threshold), theirs)  # the membrane lands on the threshold in this input


def test_per_neuron_beta_and_threshold_tensors_as_snn_leaky(randn) -> None:
    generator = torch.Generator().manual_seed(3)
    beta, threshold = torch.rand(16, generator=generator), torch.rand(16, generator=generator) + 0.5
    theirs = snn.Leaky(beta=beta, threshold=threshold, learn_beta=True, learn_threshold=True)
    ours = ResetLIF.leaky(beta=beta, threshold=threshold, learn_beta=True, learn_threshold=True)
    assert torch.equal(ours.beta, theirs.beta) and torch.equal(ours.threshold, theirs.threshold)
    x = randn(40, 5, 16, dtype=torch.float32, mean=0.4)
    spikes = [torch.stack([neuron(x_t)[0] for x_t in x]) for neuron in (theirs, ours)]
    assert torch.equal(spikes[0], spikes[1]) and spikes[0].sum() > 0
    spikes[1].sum().backward()
    assert ours.beta.grad.shape == (16,) and ours.threshold.grad.abs().sum() > 0


def test_state_dict_round_trip(randn) -> None:
    generator = torch.Generator().manual_seed(4)
    srr = SRR(beta=torch.rand(6, generator=generator), threshold=torch.rand(6, generator=generator) + 0.5,
              learn_beta=True, learn_refractory=True)  # fmt: skip
    x = randn(20, 3, 6, dtype=torch.float32, scale=1.5, mean=0.3)
    expected = srr.forward_sequence(x)[0]
    loaded = SRR(beta=torch.full((6,), 0.5), threshold=torch.ones(6), learn_beta=True, learn_refractory=True)
    assert not torch.equal(loaded.forward_sequence(x)[0], expected) and expected.sum() > 0
    loaded.reset_mem()
    loaded.load_state_dict(srr.state_dict())
    assert torch.equal(loaded.forward_sequence(x)[0], expected)


def test_the_papers_neurons_are_the_default(randn) -> None:
    lif = ResetLIF(beta=0.5, threshold=0.75).double()
    x = randn(20, 3, 4, scale=1.5)
    reference = ResetLIFNeuron(tau=0.5, v_threshold=0.75).double()(x, record=True)
    assert torch.equal(torch.stack([lif(x_t)[0] for x_t in x]), reference.spikes) and reference.spikes.sum() > 0
    lif.reset_mem()
    spk_seq, mem_seq = lif.forward_sequence(x)
    assert torch.equal(spk_seq, reference.spikes) and torch.equal(mem_seq, reference.v_seq)
    mem = torch.zeros(3, 4, dtype=torch.float64)  # explicit state, snnTorch's other idiom
    out = []
    for x_t in x:
        spk, mem = lif(x_t, mem)
        out.append(spk)
    assert torch.equal(torch.stack(out), reference.spikes)


# ---- snnTorch's tutorials with only the class name changed --------------------------------------


def _tutorial_5(neuron_class, generator: torch.Generator, steps: int = 15) -> list[float]:
    """snnTorch tutorial 5 (a fully connected SNN trained on the output membrane), on a small
    random stand-in for MNIST."""
    num_inputs, num_hidden, num_outputs, num_steps, beta = 20, 32, 4, 10, 0.95

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(num_inputs, num_hidden)
            self.lif1 = neuron_class(beta=beta)
            self.fc2 = nn.Linear(num_hidden, num_outputs)
            self.lif2 = neuron_class(beta=beta)

        def forward(self, x):
            mem1 = self.lif1.init_leaky()
            mem2 = self.lif2.init_leaky()
            spk2_rec = []
            mem2_rec = []
            for _step in range(num_steps):
                cur1 = self.fc1(x)
                spk1, mem1 = self.lif1(cur1, mem1)
                cur2 = self.fc2(spk1)
                spk2, mem2 = self.lif2(cur2, mem2)
                spk2_rec.append(spk2)
                mem2_rec.append(mem2)
            return torch.stack(spk2_rec, dim=0), torch.stack(mem2_rec, dim=0)

    torch.manual_seed(0)
    net = Net()
    data = torch.rand(16, num_inputs, generator=generator) * 2
    targets = torch.randint(0, num_outputs, (16,), generator=generator)
    loss = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(net.parameters(), lr=5e-3, betas=(0.9, 0.999))
    history = []
    for _ in range(steps):
        _spk_rec, mem_rec = net(data)
        loss_val = torch.zeros((1,))
        for step in range(num_steps):
            loss_val += loss(mem_rec[step], targets)
        optimizer.zero_grad()
        loss_val.backward()
        optimizer.step()
        history.append(loss_val.item())
    return history


def test_tutorial_5_with_leaky_conventions_trains_exactly_as_snn_leaky() -> None:
    theirs = _tutorial_5(snn.Leaky, torch.Generator().manual_seed(1))
    ours = _tutorial_5(ResetLIF.leaky, torch.Generator().manual_seed(1))
    assert theirs[-1] < 0.5 * theirs[0]
    assert ours == pytest.approx(theirs, rel=1e-5)


@pytest.mark.parametrize("neuron_class", [ResetLIF, SRR])
def test_tutorial_5_trains_the_papers_neurons(neuron_class) -> None:
    losses = _tutorial_5(neuron_class, torch.Generator().manual_seed(1), steps=20)
    assert losses[-1] < 0.8 * losses[0], losses


def test_tutorial_5_attributes_and_reset_mechanisms() -> None:
    lif = ResetLIF(beta=0.9, threshold=0.8)
    assert lif.init_leaky().shape == (0,) and lif.mem.shape == (0,)
    assert lif.beta.item() == pytest.approx(0.9) and lif.threshold.item() == pytest.approx(0.8)
    spk, mem = lif(torch.full((2, 3), 0.85))
    assert torch.equal(spk, torch.ones(2, 3)) and lif.mem is mem
    assert torch.equal(lif.reset_mem(), torch.zeros(2, 3))
    for mechanism in ("subtract", "zero", "none"):
        assert ResetLIF(reset_mechanism=mechanism).reset_mechanism == mechanism
    with pytest.raises(ValueError, match="reset_mechanism must be one of"):
        ResetLIF(reset_mechanism="hard")
    with pytest.raises(ValueError, match="reset_mechanism must be one of"):
        SRR(reset_mechanism="zero")
    with pytest.raises(ValueError, match=r"beta must be in \[0, 1\]"):
        ResetLIF(beta=1.5)
    with pytest.raises(ValueError, match="threshold must be > 0"):
        SRR(threshold=torch.tensor([1.0, 0.0]))
    with pytest.raises(TypeError, match="`mem` should not be passed"):
        ResetLIF(init_hidden=True)(torch.zeros(2), torch.zeros(2))


def _hidden_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(8, 16), ResetLIF(beta=0.9, init_hidden=True), nn.Linear(16, 16), SRR(init_hidden=True),
        nn.Linear(16, 3), ResetLIF.leaky(beta=0.8, init_hidden=True, output=True),
    )  # fmt: skip


def test_init_hidden_loop_over_several_batches_with_utils_reset(randn) -> None:
    net = _hidden_net()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    batches = randn(3, 12, 4, 8, dtype=torch.float32, scale=2.0)  # 3 batches of T = 12
    for batch in batches:  # snnTorch's standard loop: it used to die on the second batch
        utils.reset(net)
        _spk_rec, mem_rec = zip(*(net(x_t) for x_t in batch), strict=True)
        loss = nn.functional.cross_entropy(torch.stack(mem_rec).mean(0), torch.tensor([0, 1, 2, 0]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    hidden_spikes = []
    net[3].register_forward_hook(lambda module, inputs, spikes: hidden_spikes.append(spikes))

    def run(batch: torch.Tensor) -> torch.Tensor:
        return torch.stack([net(x_t)[1] for x_t in batch])  # the output membrane: it sees every layer

    utils.reset(net)
    first = run(batches[0])
    assert sum(s.sum() for s in hidden_spikes) > 0
    utils.reset(net)
    assert torch.equal(run(batches[0]), first)
    assert not torch.equal(run(batches[0]), first)  # without a reset the state carries on


def test_tutorial_6_conv_net_with_functional_losses_and_accuracy(randn) -> None:
    torch.manual_seed(0)
    spike_grad = snn_surrogate.fast_sigmoid(slope=25)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.MaxPool2d(2), ResetLIF(beta=0.5, spike_grad=spike_grad, init_hidden=True),
        nn.Conv2d(4, 8, 3), nn.MaxPool2d(2), SRR(beta=0.5, spike_grad=spike_grad, init_hidden=True),
        nn.Flatten(), nn.Linear(8 * 2 * 2, 4),
        ResetLIF(beta=0.5, spike_grad=spike_grad, init_hidden=True, output=True),
    )  # fmt: skip

    def forward_pass(net: nn.Module, num_steps: int, data: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mem_rec, spk_rec = [], []
        utils.reset(net)  # resets hidden states for all LIF neurons in net
        for _step in range(num_steps):
            spk_out, mem_out = net(data)
            spk_rec.append(spk_out)
            mem_rec.append(mem_out)
        return torch.stack(spk_rec), torch.stack(mem_rec)

    loss_fn = SF.ce_rate_loss()
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-2, betas=(0.9, 0.999))
    data = randn(8, 1, 14, 14, dtype=torch.float32, scale=2.0, mean=1.0)
    targets = torch.arange(8) % 4
    losses = []
    for _ in range(8):
        spk_rec, _ = forward_pass(net, 5, data)
        loss_val = loss_fn(spk_rec, targets)
        optimizer.zero_grad()
        loss_val.backward()
        optimizer.step()
        losses.append(loss_val.item())
    assert spk_rec.sum() > 0 and losses[-1] < losses[0]
    assert 0 <= SF.accuracy_rate(spk_rec, targets) <= 1
    assert torch.isfinite(SF.mse_count_loss(correct_rate=0.8, incorrect_rate=0.2)(spk_rec, targets))


@pytest.mark.parametrize("last", ["ResetLIF", "SRR"])
def test_backprop_bptt(last, randn) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "backprop will be deprecated"
        from snntorch import backprop

    torch.manual_seed(0)
    output_class = ResetLIF if last == "ResetLIF" else SRR
    net = nn.Sequential(
        nn.Linear(6, 12), SRR(beta=0.7, init_hidden=True), nn.Linear(12, 3), output_class(init_hidden=True, output=True)
    )
    data = randn(4, 6, dtype=torch.float32, scale=2.0, mean=0.5)  # still inputs, presented num_steps times
    loader = [(data[i : i + 2], torch.tensor([0, 2])) for i in (0, 2)]
    before = [p.detach().clone() for p in net.parameters()]
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    loss = backprop.BPTT(net, loader, optimizer, SF.mse_count_loss(), num_steps=8, time_var=False)
    assert torch.isfinite(torch.as_tensor(loss))
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))


def test_spikeplot_draws_our_spikes_and_traces(randn) -> None:
    pytest.importorskip("pandas", reason="snntorch.spikeplot imports pandas")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from snntorch import spikeplot as splt

    lif = ResetLIF(beta=0.8)
    spk_rec, mem_rec = lif.forward_sequence(randn(30, 1, 9, dtype=torch.float32, mean=0.4))
    fig, ax = plt.subplots()
    points = splt.raster(spk_rec[:, 0], ax, s=1.5, c="black")
    assert spk_rec.sum() > 0 and len(points.get_offsets()) == int(spk_rec.sum())
    fig = plt.figure()
    splt.traces(mem_rec[:, 0], spk=spk_rec[:, 0], dim=(3, 3))
    assert len(fig.axes) == 9
    drawn = torch.as_tensor(fig.axes[4].lines[0].get_ydata())
    assert torch.allclose(drawn, (mem_rec + 5 * spk_rec)[:, 0, 4].detach())
    plt.close("all")


# ---- SRR: two outputs, the refractory trace inside ----------------------------------------------


def test_srr_returns_spk_and_mem_and_keeps_the_refractory_trace_inside(randn) -> None:
    srr = SRR(beta=0.6, beta_r=0.8, threshold=1.0, refractory=0.5).double()
    x = randn(30, 2, 3, scale=2.0)
    # snnTorch holds a float as a float32 tensor, as snn.Leaky does: .double() keeps it rounded
    as_held = (torch.tensor(value).item() for value in (0.6, 0.8, 1.0, 0.5))
    reference = SRRNeuron(*as_held).double()(x, record=True)
    steps = [srr(x_t) for x_t in x[:13]]
    assert all(len(out) == 2 for out in steps)  # spk, mem = srr(x) as with snn.Leaky
    assert torch.equal(srr.ref, reference.r_seq[12]) and srr.ref.sum() > 0
    spk2, mem2 = srr.forward_sequence(x[13:])
    assert torch.equal(torch.cat([torch.stack([s for s, _ in steps]), spk2]), reference.spikes)
    assert torch.equal(mem2, reference.v_seq[13:]) and torch.equal(srr.ref, reference.r_seq[-1])
    srr.reset_mem()
    assert torch.equal(srr.ref, torch.zeros(2, 3, dtype=torch.float64))
    spk, _ = srr(x[13], reference.v_seq[12], reference.r_seq[12])  # both states given: carries on exactly
    assert torch.equal(spk, reference.spikes[13])


def test_snntorch_resets_and_detaches_the_refractory_trace_too(randn) -> None:
    net = _hidden_net()
    batch = randn(10, 4, 8, dtype=torch.float32, scale=2.0)
    utils.reset(net)
    first = torch.stack([net(x_t)[1] for x_t in batch])
    first.sum().backward()
    assert net[3].ref.abs().sum() > 0
    utils.reset(net)  # snnTorch zeroes mem: the trace restarts with it
    assert not net[3].ref.any()
    again = torch.stack([net(x_t)[1] for x_t in batch])
    assert torch.equal(again, first.detach())
    snn.Leaky.detach_hidden()  # truncated BPTT: snnTorch detaches mem in place; the trace follows
    torch.stack([net(x_t)[1] for x_t in batch]).sum().backward()  # the old graph is not entered


def test_forward_sequence_on_every_backend_for_the_papers_neurons(randn) -> None:
    x = randn(40, 2, 8, dtype=torch.float32, scale=1.5, mean=0.3)
    for make in (lambda **kw: SRR(beta=0.6, beta_r=0.7, **kw), lambda **kw: ResetLIF(beta=0.6, **kw)):
        expected = make().forward_sequence(x)
        assert torch.equal(make(backend="pmbc").forward_sequence(x)[0], expected[0]) and expected[0].sum() > 0
    with pytest.raises(BackendUnavailableError, match="snnTorch's conventions"):
        ResetLIF.leaky(beta=0.6, backend="pmbc").forward_sequence(x)
    leaky = snn.Leaky(beta=0.6)
    spikes, mems = map(torch.stack, zip(*(leaky(x_t) for x_t in x), strict=True))
    spk_seq, mem_seq = ResetLIF.leaky(beta=0.6).forward_sequence(x)
    assert torch.equal(spk_seq, spikes) and torch.equal(mem_seq, mems) and spikes.sum() > 0


def test_a_short_training_loop_with_our_reset_reduces_the_loss() -> None:
    """Rate-coded 2-class task: is the mean of the input positive? 30 Adam steps; ``reset`` finds
    neurons nested below the top level, which ``snntorch.utils.reset`` does not."""
    torch.manual_seed(0)
    hidden = nn.Sequential(nn.Linear(8, 16), SRR(init_hidden=True, shape=(16,), learn_threshold=True))
    net = nn.Sequential(hidden, nn.Linear(16, 2))
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    x = torch.randn(10, 32, 8) + torch.randn(1, 32, 1)
    y = (x.mean(dim=(0, 2)) > 0).long()
    losses = []
    for _ in range(30):
        reset(net)
        logits = torch.stack([net(x_t) for x_t in x]).mean(0)
        loss = nn.functional.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5, losses
