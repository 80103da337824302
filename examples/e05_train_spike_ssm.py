"""Train a small SPikE-SSM on the embedded sequential digits for a few epochs (CPU, < 1 min)."""

import sys
import tempfile
from pathlib import Path

from spikessm_snn.training import TrainConfig, train

config = TrainConfig(task="digits", model="spike-ssm", d_model=32, d_state=16, layers=2, epochs=6, batch=64)
out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
history = train(config, out / "e05-run", progress=False)
for record in history:
    rates = ", ".join(f"{r:.3f}" for r in record["spike_rates"].values())
    print(f"epoch {record['epoch']}: loss {record['loss']:.3f}, validation accuracy {record['val_accuracy']:.3f}, "
          f"test accuracy {record['test_accuracy']:.3f}, spike rate per layer [{rates}]")
assert history[-1]["val_accuracy"] > 0.3, "the model did not learn: chance is 0.1"
assert all(0 < rate < 1 for rate in history[-1]["spike_rates"].values()), "a layer is silent or saturated"
