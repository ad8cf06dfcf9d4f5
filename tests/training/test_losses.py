"""Losses against hand-written formulas: the mixture NLL, its K=1 case equal to full CE, and
the interest-overlap penalty."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from prismrec.training.losses import (
    full_ce_loss,
    interest_overlap,
    mixture_ce_loss,
    mixture_ce_terms,
)


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


def test_interest_overlap_known_answers() -> None:
    # items 1, 2 lie along e0 (category 0), items 3, 4 along e1 (category 1)
    items = torch.tensor([[0.0, 0.0], [5.0, 0.0], [5.0, 0.0], [0.0, 5.0], [0.0, 5.0]])
    groups = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    e0, e1 = torch.tensor([4.0, 0.0]), torch.tensor([0.0, 4.0])
    same = torch.stack([e0, e0])[None]  # (1, K=2, D)
    apart = torch.stack([e0, e1])[None]
    assert abs(float(interest_overlap(same, items, groups=groups)) - 1.0) < 1e-6
    # softmax mass off an interest's own category is exp(-20) per item: cosine ~ 2 * exp(-20)
    assert float(interest_overlap(apart, items, groups=groups)) < 1e-6
    # by hand, item level: p = (.5, .5, 0, 0) and (.5, .5, 0, 0) -> cosine 1; flat vs peaked:
    flat = torch.stack([torch.zeros(2), e0])[None]  # p = (1/4, ...) and ~(1/2, 1/2, 0, 0)
    expect = (2 * 0.25 * 0.5) / (0.5 * np.sqrt(0.5))  # <p, q> / (|p| |q|)
    assert abs(float(interest_overlap(flat, items)) - expect) < 1e-6
    # items outside ``candidates`` carry no mass: with 3, 4 excluded every interest looks alike
    cand = torch.tensor([True, True, True, False, False])
    assert abs(float(interest_overlap(apart, items, cand, groups)) - 1.0) < 1e-6


def test_interest_overlap_gradient_pushes_interests_apart() -> None:
    g = torch.Generator().manual_seed(3)
    items = torch.randn(30, 8, generator=g)
    groups = F.one_hot(torch.arange(30) % 5, 5).float()
    groups[0] = 0.0  # padding row
    v = torch.randn(1, 1, 8, generator=g).expand(6, 3, 8)
    v = (v + 0.05 * torch.randn(6, 3, 8, generator=g)).requires_grad_(True)
    before = float(interest_overlap(v.detach(), items, groups=groups))
    opt = torch.optim.SGD([v], lr=0.5)
    for _ in range(50):
        opt.zero_grad()
        interest_overlap(v, items, groups=groups).backward()
        opt.step()
    after = float(interest_overlap(v.detach(), items, groups=groups))
    assert before > 0.95 and after < before - 0.2


def test_logit_bias_enters_every_interest_and_the_target() -> None:
    g = torch.Generator().manual_seed(5)
    items = torch.randn(12, 4, generator=g)
    target = torch.tensor([1, 4, 7, 11, 2])
    w = torch.softmax(torch.randn(5, 3, generator=g), dim=1)
    v = torch.randn(5, 3, 4, generator=g)
    bias = torch.randn(5, 12, generator=g) * 2
    logits = torch.einsum("mkd,nd->mkn", v, items)[:, :, 1:] + bias[:, None, 1:]  # no padding
    logp = torch.log_softmax(logits.double(), -1).gather(
        2, (target - 1)[:, None, None].expand(-1, 3, 1)
    )[..., 0]
    expect = -torch.logsumexp(torch.log(w.double()) + logp, 1).mean()
    for low, tol in ((False, 1e-5), (True, 3e-2)):
        got = mixture_ce_loss(v, w, items, target, logit_bias=bias, low_precision=low)
        assert abs(float(got) - float(expect)) < tol


def test_sparse_logit_bias_equals_the_dense_one() -> None:
    g = torch.Generator().manual_seed(5)
    items = torch.randn(12, 4, generator=g)
    target = torch.tensor([1, 4, 7, 11, 2])
    w = torch.softmax(torch.randn(5, 3, generator=g), dim=1)
    ids = torch.tensor([[3, 3, 0, 7], [1, 2, 4, 0], [0, 0, 0, 0], [11, 5, 11, 6], [2, 9, 8, 1]])
    for low, tol in ((False, 1e-5), (True, 2e-2)):
        grads = []
        for sparse in (False, True):
            v = torch.randn(5, 3, 4, generator=torch.Generator().manual_seed(6)).requires_grad_()
            vals = torch.randn(5, 4, generator=torch.Generator().manual_seed(7)) * (ids > 0)
            vals.requires_grad_()
            # repeated ids add up; id 0 is padding
            bias = (ids, vals) if sparse else torch.zeros(5, 12).scatter_add(1, ids, vals)
            loss = mixture_ce_loss(v, w, items, target, logit_bias=bias, low_precision=low)
            loss.backward()
            grads.append((loss.detach(), v.grad, vals.grad))
        for a, b in zip(*grads, strict=True):
            assert torch.allclose(a, b, atol=tol)


def test_future_set_adds_the_mean_nll_of_the_later_items() -> None:
    g = torch.Generator().manual_seed(3)
    v = torch.randn(4, 3, 5, generator=g)
    w = torch.softmax(torch.randn(4, 3, generator=g), dim=1)
    items = torch.randn(9, 5, generator=g)
    target = torch.tensor([1, 2, 3, 4])
    future = torch.tensor([[5, 6], [7, 0], [0, 0], [8, 1]])  # 0: no later item
    allowed = np.arange(1, 9)
    got = float(mixture_ce_loss(v, w, items, target, future=future, future_weight=0.5))
    expect = []
    for m in range(4):
        nll = _explicit_mixture_nll(v[m : m + 1], w[m : m + 1], items, target[m : m + 1], allowed)
        later = [int(x) for x in future[m] if x > 0]
        if later:
            rows = [
                _explicit_mixture_nll(v[m : m + 1], w[m : m + 1], items, torch.tensor([t]), allowed)
                for t in later
            ]
            nll += 0.5 * float(np.mean(rows))
        expect.append(nll)
    assert abs(got - float(np.mean(expect))) < 1e-4
    # weight 0 (or no future) is the next-item loss alone
    plain = float(mixture_ce_loss(v, w, items, target))
    assert abs(float(mixture_ce_loss(v, w, items, target, future=future)) - plain) < 1e-6


def test_future_set_with_sparse_bias_equals_the_dense_one() -> None:
    g = torch.Generator().manual_seed(4)
    v = torch.randn(3, 2, 4, generator=g)
    w = torch.softmax(torch.randn(3, 2, generator=g), dim=1)
    items = torch.randn(6, 4, generator=g)
    target, future = torch.tensor([1, 2, 3]), torch.tensor([[2, 4], [5, 0], [1, 1]])
    ids = torch.tensor([[1, 2, 0], [5, 5, 3], [0, 0, 1]])
    vals = torch.randn(3, 3, generator=g)
    dense = torch.zeros(3, 6).scatter_add(1, ids, vals)
    dense[:, 0] = 0.0  # the padding row stays excluded
    a = mixture_ce_loss(v, w, items, target, None, (ids, vals), future=future, future_weight=1.0)
    b = mixture_ce_loss(v, w, items, target, None, dense, future=future, future_weight=1.0)
    assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("low", [False, True])
@pytest.mark.parametrize("with_future", [False, True])
def test_each_rows_nll_is_that_rows_own_cross_entropy(low: bool, with_future: bool) -> None:
    """The mixture's per-row NLL is what the one-interest loss of that row gives (same
    logits, bias, candidates and future set): the short-term loss reads it instead of a
    second pass."""
    torch.manual_seed(3)
    v, items = torch.randn(7, 3, 8), torch.randn(12, 8)
    w = torch.softmax(torch.randn(7, 3), -1)
    target = torch.randint(1, 12, (7,))
    cand = torch.rand(12) > 0.2
    cand[target] = True
    future = None
    if with_future:  # real items first, then padding; one row without a future
        future = torch.randint(1, 12, (7, 3))
        future[1, 1:] = 0
        future[4] = 0
        cand[future] = True
    ids, vals = torch.randint(0, 12, (7, 4)), torch.randn(7, 4)
    fw = 0.7 if with_future else 0.0
    _, rows = mixture_ce_terms(v, w, items, target, cand, (ids, vals), low, future, fw)
    for k in range(3):
        alone = full_ce_loss(
            v[:, k], items, target, cand, (ids, vals), low, future=future, future_weight=fw
        )
        assert float(rows[:, k].mean()) == pytest.approx(float(alone), rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("m", [1, 255, 256, 300])
def test_bf16_products_pad_their_rows_without_changing_them(m: int) -> None:
    """The bfloat16 product pads its rows to a multiple of ``ROW_BUCKET`` (one oneDNN kernel
    per bucket, not per batch): values and gradients are those of the plain product."""
    from prismrec.training.losses import ROW_BUCKET, bucketed_einsum

    torch.manual_seed(m)
    a = torch.randn(m, 3, 8, requires_grad=True)
    items = torch.randn(40, 8, requires_grad=True)
    b = torch.randn(m, 2, 8, requires_grad=True)
    got = bucketed_einsum("mkd,nd->mkn", a, items, True)
    got2 = bucketed_einsum("mkd,mjd->mkj", a, b, True)
    assert got.shape == (m, 3, 40) and got2.shape == (m, 3, 2) and ROW_BUCKET > 1
    (got.float().sum() + got2.float().square().sum()).backward()
    grads = [x.grad.clone() for x in (a, items, b)]  # type: ignore[union-attr]
    for x in (a, items, b):
        x.grad = None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        want = torch.einsum("mkd,nd->mkn", a, items)
        want2 = torch.einsum("mkd,mjd->mkj", a, b)
    torch.testing.assert_close(got.float(), want.float(), rtol=1e-2, atol=1e-2)
    torch.testing.assert_close(got2.float(), want2.float(), rtol=1e-2, atol=1e-2)
    (want.float().sum() + want2.float().square().sum()).backward()
    for g, x in zip(grads, (a, items, b), strict=True):
        torch.testing.assert_close(g, x.grad, rtol=2e-2, atol=2e-2)


def test_dynamic_k_masks_the_interests_a_row_does_not_have() -> None:
    """The separation, ownership and hard-readout terms read only the interests each row has
    (dynamic K): a missing interest is in no pair, competes for no event, retrieves nothing."""
    from prismrec.models.interests import readout
    from prismrec.training.losses import interest_cosine, interest_ownership_loss

    e = torch.eye(4)
    v = torch.stack([torch.stack([e[0], e[0], e[1]]), torch.stack([e[0], e[1], e[1]])])
    active = torch.tensor([[True, False, True], [True, True, False]])
    # row 0: pair (0, 2) orthogonal -> 0; row 1: pair (0, 1) orthogonal -> 0
    assert float(interest_cosine(v, active)) == pytest.approx(0.0)
    assert float(interest_cosine(v)) > 0.0  # every pair: the copies count
    lone = torch.tensor([[True, False, False], [True, False, False]])
    assert float(interest_cosine(v, lone)) == 0.0  # no row with a pair
    target = torch.stack([e[0] + 0.1 * e[1], e[1]])
    only = torch.tensor([[False, False, True], [True, True, False]])
    got = readout(v, target, "hard", active=only)
    assert torch.equal(got, torch.stack([e[1], e[1]]))
    events = torch.stack([torch.stack([e[0], e[1]]), torch.stack([e[0], e[1]])])
    assign = torch.zeros(2, 2, 3)
    assign[0, 0, 0] = assign[0, 1, 2] = assign[1, 0, 0] = assign[1, 1, 1] = 1.0
    masked = interest_ownership_loss(v * 10, events, assign, active)
    plain = interest_ownership_loss(v * 10, events, assign)
    assert float(masked) < float(plain)  # the missing copy no longer competes


def test_fixed_rows_read_the_items_without_moving_them() -> None:
    """``fixed_rows``: the same loss and row NLLs, the same gradient for every interest row,
    and no gradient from the fixed rows into the item vectors."""
    torch.manual_seed(5)
    v = torch.randn(6, 3, 8, requires_grad=True)
    items = torch.randn(10, 8, requires_grad=True)
    w = torch.softmax(torch.randn(6, 3), -1)
    target = torch.randint(1, 10, (6,))
    future = torch.randint(1, 10, (6, 2))
    grads = []
    for fixed in (0, 2, 3):
        v.grad = items.grad = None
        loss, rows = mixture_ce_terms(v, w, items, target, None, None, False, future, 1.0, fixed)
        (loss + rows.sum()).backward()
        grads.append(
            (
                float(loss.detach()),
                v.grad.clone(),
                None if items.grad is None else items.grad.clone(),
            )
        )
    for got in grads[1:]:
        assert got[0] == pytest.approx(grads[0][0], rel=1e-6)
        assert torch.allclose(got[1], grads[0][1], atol=1e-6)
    # all rows fixed: nothing reaches the items; two of three: only the last row's part
    assert grads[2][2] is None or float(grads[2][2].abs().sum()) == 0.0
    assert grads[1][2] is not None and float(grads[1][2].abs().sum()) > 0.0
    assert not torch.allclose(grads[1][2], grads[0][2])
