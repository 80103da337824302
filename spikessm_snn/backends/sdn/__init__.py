"""Backend ``'sdn'``: SpikingSSMs' surrogate dynamic network (network, training, shipped weights)."""

from .backend import SHIPPED, register_sdn, registered_sdns, run_sdn, sdn_unsupported
from .network import SurrogateDynamicNetwork
from .training import SDNTrainingConfig, load_sdn, save_sdn, sdn_agreement, train_sdn

__all__ = [
    "SHIPPED",
    "SDNTrainingConfig",
    "SurrogateDynamicNetwork",
    "load_sdn",
    "register_sdn",
    "registered_sdns",
    "run_sdn",
    "save_sdn",
    "sdn_agreement",
    "sdn_unsupported",
    "train_sdn",
]
