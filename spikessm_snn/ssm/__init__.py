"""The S4D kernel and the S4D / SpikingSSM / SPikE-SSM blocks."""

from .blocks import SpikingActivation, SSMBlock, s4d_block, spike_ssm_block, spiking_ssm_block
from .s4d import S4DConv, S4DKernel

__all__ = ["S4DConv", "S4DKernel", "SSMBlock", "SpikingActivation", "s4d_block", "spike_ssm_block",
           "spiking_ssm_block"]  # fmt: skip
