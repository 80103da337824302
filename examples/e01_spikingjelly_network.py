"""Our SRR neuron inside a SpikingJelly network: single- and multi-step, reset_net, a backend.

Checks: both layers spike, and the whole sequence at once through our exact parallel backend
('pmbc') gives the spikes of stepping the network one time step at a time.
"""

import torch
from spikingjelly.activation_based import functional, layer, neuron

from spikessm_snn import set_backend
from spikessm_snn.adapters.spikingjelly import SRRNode
from spikessm_snn.recorder import SpikeRecorder

torch.manual_seed(0)
net = torch.nn.Sequential(
    layer.Linear(16, 64),
    SRRNode(shape=(64,), learn_u_th=True, learn_v_th=True),
    layer.Linear(64, 10),
    neuron.LIFNode(decay_input=False, v_threshold=0.5),  # SpikingJelly's own LIF as the output layer
)
x_seq = torch.randn(50, 8, 16) * 2  # [T, B, features]

functional.set_step_mode(net, "m")  # the whole sequence at once
set_backend(net, "pmbc")  # our exact parallel backend (SpikingJelly's own nodes keep theirs)
with SpikeRecorder(net) as recorder:  # spike rate of every neuron layer, ours and SpikingJelly's
    out_m = net(x_seq)
functional.reset_net(net)

functional.set_step_mode(net, "s")  # one step at a time: the shared step equations
out_s = torch.stack([net(x_t) for x_t in x_seq])
functional.reset_net(net)

rates = recorder.rates()
print("spike rate per layer:", {name: round(rate, 3) for name, rate in rates.items()})
print(f"output spikes: {int(out_m.sum())} of {out_m.numel()}")
assert all(rate > 0 for rate in rates.values()), "a layer never spiked: the comparison below would prove nothing"
assert torch.equal(out_m, out_s), "multi-step (pmbc) and single-step spikes differ"
print("multi-step (pmbc) == single-step: spike for spike")
