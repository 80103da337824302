"""SpikingSSMs' surrogate dynamic network (SDN), as ``spikingssm-and-sdn.md`` section 3 fixes it.

It predicts the attenuated membrane of the hard-reset LIF (``v_threshold = 1``, ``v_reset = 0``)
before the input is added, ``m[t] = tau * u_after_reset[t-1]``, from the inputs ``x[t-8 .. t-1]``;
then ``s[t] = H(m[t] + x[t] - 1)`` for every ``t`` at once. About 200 parameters:

    1x1 conv 1->8 (no bias)
    depthwise conv, kernel 8, causal (pad 8, keep the first L), BatchNorm, ReLU
    1x1 conv 8->8, BatchNorm, + residual, ReLU
    1x1 conv 8->1

Input ``[S, 1, L]`` (sequences, channel, time), output ``m`` ``[S, L]``.
"""

from __future__ import annotations

from torch import Tensor, nn

WIDTH = 8
KERNEL = 8


class SurrogateDynamicNetwork(nn.Module):
    def __init__(self, width: int = WIDTH, kernel: int = KERNEL) -> None:
        super().__init__()
        self.encode = nn.Conv1d(1, width, 1, bias=False)
        self.temporal = nn.Conv1d(width, width, kernel, padding=kernel, groups=width, bias=False)
        self.temporal_norm = nn.BatchNorm1d(width)
        self.mix = nn.Conv1d(width, width, 1, bias=False)
        self.mix_norm = nn.BatchNorm1d(width)
        self.decode = nn.Conv1d(width, 1, 1)
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        steps = x.shape[-1]
        h = self.encode(x)
        h = self.act(self.temporal_norm(self.temporal(h)[..., :steps]))  # output t sees x[t-8 .. t-1]
        h = self.act(h + self.mix_norm(self.mix(h)))
        return self.decode(h).squeeze(1)
