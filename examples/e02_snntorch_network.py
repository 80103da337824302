"""Our SRR and ResetLIF neurons in an snnTorch-style network, trained a few steps."""

import torch
from torch import nn

from spikessm_snn.adapters import snntorch as sst

torch.manual_seed(0)
net = nn.Sequential(
    nn.Linear(8, 32),
    sst.SRR(beta=0.5, init_hidden=True, learn_threshold=True, shape=(32,)),
    nn.Linear(32, 2),
    sst.ResetLIF(beta=0.5, init_hidden=True, output=True),
)
x = torch.randn(25, 64, 8) + torch.randn(1, 64, 1)  # [T, B, features]; class: sign of the mean
y = (x.mean(dim=(0, 2)) > 0).long()
optimizer = torch.optim.Adam(net.parameters(), lr=0.02)
for step in range(40):
    sst.reset(net)
    mem = torch.stack([net(x_t)[1] for x_t in x])  # membrane of the output layer as the readout
    loss = nn.functional.cross_entropy(mem.mean(0), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step % 10 == 0:
        print(f"step {step:2d} loss {loss.item():.3f}")
print(f"final loss {loss.item():.3f}")
