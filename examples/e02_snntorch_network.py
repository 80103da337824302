"""Our SRR and ResetLIF neurons in an snnTorch-style network, trained a few steps.

Checks: the loss falls, and the trained network classifies held-out sequences above chance.
"""

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


def sequences(batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``x [T, B, features]`` noise around a per-sequence offset; the class is the sign of the mean."""
    x = torch.randn(25, batch, 8) + torch.randn(1, batch, 1)
    return x, (x.mean(dim=(0, 2)) > 0).long()


def readout(x: torch.Tensor) -> torch.Tensor:
    """Mean membrane of the output layer over time ``[B, 2]`` (stepped as snnTorch runs)."""
    sst.reset(net)
    return torch.stack([net(x_t)[1] for x_t in x]).mean(0)


x, y = sequences(64)
optimizer = torch.optim.Adam(net.parameters(), lr=0.02)
losses = []
for step in range(30):
    loss = nn.functional.cross_entropy(readout(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
    if step % 10 == 0:
        print(f"step {step:2d} loss {loss.item():.3f}")
x_test, y_test = sequences(256)
with torch.no_grad():
    accuracy = float((readout(x_test).argmax(1) == y_test).float().mean())
print(f"final loss {losses[-1]:.3f} (first {losses[0]:.3f}); held-out accuracy {accuracy:.3f} (chance 0.5)")
assert losses[-1] < 0.5 * losses[0], "the loss did not fall"
assert accuracy > 0.7, "the trained network does not beat chance on held-out sequences"
