"""Train a small SPikE-SSM on the embedded sequential digits for a few epochs.

Check: the trained model classifies the test set well above chance (0.1).
"""

from functools import partial

import torch

from spikessm_snn.data import sequential_digits
from spikessm_snn.models import SequenceClassifier
from spikessm_snn.ssm import spike_ssm_block
from spikessm_snn.training import train_classifier

torch.manual_seed(0)
train, test = sequential_digits()
model = SequenceClassifier(1, 10, partial(spike_ssm_block, d_state=16), d_model=32, layers=2, norm="batch")
for record in train_classifier(model, train, test, epochs=8, progress=False):
    rates = ", ".join(f"{r:.3f}" for r in record["spike_rates"].values())
    print(
        f"epoch {record['epoch']}: loss {record['loss']:.3f}, test accuracy {record['test_accuracy']:.3f}, "
        f"spike rate per layer [{rates}]"
    )
assert record["test_accuracy"] > 0.5, "the trained model is not well above chance"
