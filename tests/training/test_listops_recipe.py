"""The ListOps runs' recipe (analysis/listops_runs.py): the published settings, scaled to the batch."""

from __future__ import annotations

import math

import pytest

from analysis.listops_runs import RUNS, TRAIN_ITEMS, config_of


@pytest.mark.parametrize("batch", [32, 128])
def test_every_run_is_the_recipe_at_its_batch_with_square_root_learning_rates(batch) -> None:
    for run in RUNS:
        config = config_of(run, 14, batch)
        config.check()
        assert (config.d_model, config.layers, config.d_state, config.bidirectional, config.trainable_b) == (
            256, 6, 4, True, True)  # fmt: skip
        assert config.lr == pytest.approx(0.01 * math.sqrt(batch / 32))
        assert config.ssm_lr == pytest.approx(0.001 * math.sqrt(batch / 32))
        assert config.warmup == 14 * (TRAIN_ITEMS // batch) // 10
        assert (config.backend == "cupy") == (config.model != "s4d")
    assert config_of("spikingssm-published-wiring", 14, batch).norm == "none"
    assert config_of("spikingssm", 14, batch).norm == "batch"
