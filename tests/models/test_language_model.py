"""The causal language model: causality, the tied head, training on a tiny WikiText folder."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from spikessm_snn.models import CausalLanguageModel
from spikessm_snn.ssm import s4d_block, spike_ssm_block, spiking_ssm_block
from spikessm_snn.training.trainer import TrainConfig, train


@pytest.mark.parametrize("block", [s4d_block, spiking_ssm_block, spike_ssm_block], ids=lambda b: b.__name__)
def test_logits_at_t_depend_only_on_tokens_up_to_t(block) -> None:
    torch.manual_seed(0)
    model = CausalLanguageModel(50, partial(block, d_state=8), d_model=16, layers=2).double()
    tokens = torch.randint(0, 50, (2, 40))
    logits = model(tokens)
    assert logits.shape == (2, 40, 50)
    changed = tokens.clone()
    changed[:, 25:] = torch.randint(0, 50, (2, 15))
    assert torch.allclose(model(changed)[:, :25], logits[:, :25], rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="integer ids"):
        model(torch.randn(2, 40))


def test_the_output_head_is_the_embedding_matrix() -> None:
    """Token 7 never appears in the input: its embedding row reaches the output only through a
    tied head, where it is the logit of 7 and nothing else; the gradient of that logit reaches it."""
    torch.manual_seed(0)
    vocab, d_model = 20, 8
    model = CausalLanguageModel(vocab, partial(s4d_block, d_state=4), d_model=d_model, layers=1).double()
    assert sum(p.shape == (vocab, d_model) for p in model.parameters()) == 1
    tokens = torch.randint(0, 7, (2, 12))
    logits = model(tokens)
    with torch.no_grad():
        model.embedding.weight[7] += torch.randn(d_model, dtype=torch.float64)
    moved = model(tokens)
    assert not torch.allclose(moved[..., 7], logits[..., 7])
    others = [k for k in range(vocab) if k != 7]
    assert torch.equal(moved[..., others], logits[..., others])
    model.zero_grad()
    model(tokens)[..., 7].sum().backward()
    assert model.embedding.weight.grad[7].abs().sum() > 0
    assert model.embedding.weight.grad[8:].abs().sum() == 0  # neither in the input nor the logit taken


def test_training_on_a_tiny_wikitext_folder_lowers_the_perplexity(tmp_path) -> None:
    text = " ".join(["the cat sat on the mat ."] * 40) + "\n"
    for split in ("train", "valid", "test"):
        (tmp_path / f"wiki.{split}.tokens").write_text(text * 10)
    config = TrainConfig(task="wikitext", data_dir=str(tmp_path), context=16, d_model=16, d_state=8, layers=1,
                         epochs=4, batch=8, lr=0.02)  # fmt: skip
    history = train(config, tmp_path / "run", progress=False)
    perplexities = [r["test_perplexity"] for r in history]
    assert perplexities[-1] < perplexities[0] and perplexities[-1] < 9  # below a uniform guess over 9 words
    assert all(0 <= rate < 1 for rate in history[-1]["spike_rates"].values())
