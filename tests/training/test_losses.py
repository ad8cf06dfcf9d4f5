"""Losses against hand-written formulas: the mixture NLL, and its K=1 case equal to full CE."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from prismrec.training.losses import full_ce_loss, mixture_ce_loss


def _explicit_mixture_nll(interests, weights, items, target, allowed) -> float:
    """-mean log sum_k w_k exp(<v_k, t>) / sum_{n allowed} exp(<v_k, n>), in float64 numpy."""
    v, w, e = (x.double().numpy() for x in (interests, weights, items))
    logits = np.einsum("mkd,nd->mkn", v, e)
    out = []
    for m, t in enumerate(target.tolist()):
        probs = [
            np.exp(logits[m, k, t]) / np.exp(logits[m, k, allowed]).sum() for k in range(len(w[m]))
        ]
        out.append(-np.log(np.dot(w[m], probs)))
    return float(np.mean(out))


def test_mixture_nll_matches_the_formula() -> None:
    g = torch.Generator().manual_seed(0)
    v = torch.randn(5, 3, 4, generator=g)
    w = torch.softmax(torch.randn(5, 3, generator=g), dim=1)
    items = torch.randn(7, 4, generator=g)
    target = torch.tensor([1, 2, 3, 5, 6])
    allowed = np.arange(1, 7)  # row 0 is padding
    got = float(mixture_ce_loss(v, w, items, target))
    assert abs(got - _explicit_mixture_nll(v, w, items, target, allowed)) < 1e-4
    # items outside ``candidates`` leave the softmax
    cand = torch.ones(7, dtype=torch.bool)
    cand[4] = False
    got = float(mixture_ce_loss(v, w, items, target, candidates=cand))
    expect = _explicit_mixture_nll(v, w, items, target, np.array([1, 2, 3, 5, 6]))
    assert abs(got - expect) < 1e-4


def test_one_interest_mixture_is_full_cross_entropy() -> None:
    g = torch.Generator().manual_seed(1)
    user, items = torch.randn(6, 8, generator=g), torch.randn(10, 8, generator=g)
    target = torch.randint(1, 10, (6,), generator=g)
    bias = torch.randn(6, 10, generator=g)
    one = mixture_ce_loss(user[:, None], torch.ones(6, 1), items, target, logit_bias=bias)
    assert torch.allclose(one, full_ce_loss(user, items, target, logit_bias=bias), atol=1e-5)
    # and the gradient flows to the interests and the item table alike
    user.requires_grad_(True)
    mixture_ce_loss(user[:, None], torch.ones(6, 1), items, target).backward()
    assert user.grad is not None and torch.isfinite(user.grad).all()


def test_mixture_weight_moves_the_loss_toward_the_right_interest() -> None:
    # interest 0 points at item 1, interest 1 at item 2; the target is item 1
    items = torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    v = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    target = torch.tensor([1])
    right = mixture_ce_loss(v, torch.tensor([[0.9, 0.1]]), items, target)
    wrong = mixture_ce_loss(v, torch.tensor([[0.1, 0.9]]), items, target)
    assert float(right) < float(wrong)
    assert float(right) < float(F.cross_entropy(torch.zeros(1, 2), torch.tensor([0])))


def test_low_precision_logits_stay_close_to_float32() -> None:
    g = torch.Generator().manual_seed(2)
    v = torch.randn(64, 3, 16, generator=g, requires_grad=True)
    w = torch.softmax(torch.randn(64, 3, generator=g), dim=1)
    items = torch.randn(200, 16, generator=g)
    target = torch.randint(1, 200, (64,), generator=g)
    exact = mixture_ce_loss(v, w, items, target)
    (g32,) = torch.autograd.grad(exact, v)
    low = mixture_ce_loss(v, w, items, target, low_precision=True)
    (g16,) = torch.autograd.grad(low, v)
    assert abs(float(low.detach()) - float(exact.detach())) < 0.02 * float(exact.detach())
    cos = F.cosine_similarity(g32.flatten(), g16.flatten(), dim=0)
    assert float(cos) > 0.99
