"""The uniform-draw dropout: Bernoulli(1 - p) keep mask, expectation kept, identity in eval."""

from __future__ import annotations

import pytest
import torch

from prismrec.models.dropout import Dropout


def test_dropout_keeps_the_expected_share_and_the_mean() -> None:
    torch.manual_seed(0)
    x = torch.ones(400, 500)
    drop = Dropout(0.2).train()
    y = drop(x)
    kept = y > 0
    assert abs(float(kept.float().mean()) - 0.8) < 0.005  # 200k draws: sd 0.0009
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1.25))  # scaled by 1 / (1 - p)
    assert abs(float(y.mean()) - 1.0) < 0.01
    # the gradient flows through the kept entries only, with the same scale
    x = torch.ones(50, 60, requires_grad=True)
    out = drop(x)
    out.sum().backward()
    assert torch.equal(x.grad, out.detach())


def test_dropout_is_identity_in_eval_and_at_zero() -> None:
    x = torch.randn(30, 7)
    assert torch.equal(Dropout(0.5).eval()(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)
    with pytest.raises(ValueError, match="dropout probability"):
        Dropout(1.0)
