"""RoutedInterests: events shared out among interests, causal, one interest per planted cluster."""

from __future__ import annotations

import torch

from prismrec.models.interests import RoutedInterests


def _clustered(n_clusters: int = 4, per: int = 5, d: int = 16, seed: int = 0):
    """A history of ``per`` events from each of ``n_clusters`` well-separated item clusters,
    interleaved, with each event's cluster."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.linalg.qr(torch.randn(d, d, generator=g))[0][:n_clusters] * 4.0
    cluster = torch.arange(n_clusters).repeat(per)  # interleaved: 0 1 2 3 0 1 2 3 ...
    items = centres[cluster] + 0.1 * torch.randn(len(cluster), d, generator=g)
    return items[None], cluster


def _identity_keys(m: RoutedInterests) -> None:
    with torch.no_grad():
        m.key.weight.copy_(torch.eye(m.key.weight.shape[0]))
        m.key.bias.zero_()


def test_shapes_weights_and_assignment_rows() -> None:
    torch.manual_seed(0)
    m = RoutedInterests(8, 3)
    items = torch.randn(2, 6, 8)
    valid = torch.tensor([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    v, w, own, c = m(items, torch.randn(2, 6, 8), valid)
    assert v.shape == (2, 6, 3, 8) and w.shape == (2, 6, 3)
    assert own.shape == (2, 6, 3, 6) and c.shape == (2, 6, 6, 3)
    assert torch.allclose(w.sum(-1), torch.ones(2, 6))
    rows = c[1, -1].sum(-1)  # each real event is shared out in full
    assert torch.allclose(rows, torch.ones(6), atol=1e-4)
    assert float(c[0, -1, :2].detach().abs().sum()) == 0.0  # padding owns nothing


def test_interests_are_causal() -> None:
    torch.manual_seed(0)
    m = RoutedInterests(8, 2).eval()
    items, states = torch.randn(1, 6, 8), torch.randn(1, 6, 8)
    valid = torch.ones(1, 6, dtype=torch.bool)
    v1 = m(items, states, valid)[0]
    items2, states2 = items.clone(), states.clone()
    items2[:, 4:] += 5.0
    states2[:, 4:] -= 3.0
    v2 = m(items2, states2, valid)[0]
    assert torch.allclose(v1[:, :4], v2[:, :4], atol=1e-5)
    assert not torch.allclose(v1[:, 5], v2[:, 5])


def test_each_planted_cluster_gets_its_own_interest() -> None:
    torch.manual_seed(0)
    m = RoutedInterests(16, 4, iterations=3)
    _identity_keys(m)
    items, cluster = _clustered()
    valid = torch.ones(1, items.shape[1], dtype=torch.bool)
    _, _, _, c = m(items, torch.zeros_like(items), valid)
    owner = c[0, -1].argmax(-1)  # (S,) the interest that owns each event at the end
    for k in range(4):
        members = owner[cluster == k]
        assert bool((members == members[0]).all()), f"cluster {k} split: {members.tolist()}"
    assert len(set(owner.tolist())) == 4, "two clusters share one interest"


def test_short_term_row_is_the_current_state_and_weights_cover_it() -> None:
    torch.manual_seed(0)
    m = RoutedInterests(8, 3, short_term=True, window=6)
    items, states = torch.randn(2, 6, 8), torch.randn(2, 6, 8)
    valid = torch.ones(2, 6, dtype=torch.bool)
    v, w, own, c = m(items, states, valid)
    assert v.shape == (2, 6, 4, 8) and w.shape == (2, 6, 4) and own.shape == (2, 6, 4, 6)
    assert c.shape == (2, 6, 6, 3)  # events are shared among the long-term interests only
    assert torch.allclose(v[:, :, -1], states)
    assert torch.allclose(w.sum(-1), torch.ones(2, 6))
    assert torch.allclose(own[:, -1, -1].sum(-1), torch.ones(2), atol=1e-4)


def test_last_position_alone_equals_the_full_pass() -> None:
    torch.manual_seed(0)
    m = RoutedInterests(8, 3, short_term=True, window=6).eval()
    items, states = torch.randn(2, 6, 8), torch.randn(2, 6, 8)
    valid = torch.tensor([[0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    full = m(items, states, valid)
    last = m(items, states[:, -1:], valid)
    for a, b in zip(full, last, strict=True):
        assert torch.allclose(a[:, -1:], b, atol=1e-5)


def test_chosen_positions_alone_equal_the_full_pass_there() -> None:
    """Training routes at a share of the positions (``interest_positions``): the interests
    there are exactly those of the pass over every position."""
    torch.manual_seed(0)
    m = RoutedInterests(8, 3, short_term=True, window=6).eval()
    items, states = torch.randn(2, 6, 8), torch.randn(2, 6, 8)
    valid = torch.tensor([[0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    at = torch.tensor([1, 3, 5])
    full = m(items, states, valid)
    some = m(items, states[:, at], valid, at=at)
    for a, b in zip(full, some, strict=True):
        assert torch.allclose(a[:, at], b, atol=1e-5)


def test_long_term_interests_summarise_events_older_than_the_window() -> None:
    """A history longer than the window: older events move the long-term interests (and
    their weights), never the short-term row, and matter less the older they are."""
    torch.manual_seed(0)
    m = RoutedInterests(16, 4, iterations=3, short_term=True, window=8).eval()
    _identity_keys(m)
    items, _ = _clustered(per=10)  # 40 events, window 8
    state = torch.randn(1, 1, 16)
    valid = torch.ones(1, 40, dtype=torch.bool)
    recent = m(items[:, -8:], state, valid[:, -8:])
    whole = m(items, state, valid)
    assert torch.allclose(recent[0][0, 0, -1], whole[0][0, 0, -1])  # the short-term row
    assert not torch.allclose(recent[0][0, 0, :-1], whole[0][0, 0, :-1], atol=1e-3)
    own = whole[2][0, 0, :-1].detach().sum(0)  # (S,) ownership of each event over the interests
    assert float(own[:8].mean()) < float(own[-8:].mean())  # older events weigh less


def test_dynamic_k_keeps_floor_log2_n_interests_per_prefix() -> None:
    """MIND's dynamic K: a prefix of n events has max(1, min(K, floor(log2 n))) long-term
    interests; the others weigh exactly 0, are zero vectors and own no event."""
    torch.manual_seed(0)
    m = RoutedInterests(8, 4, short_term=True, window=20, hub=1.0, norm=True, dynamic=True)
    S = 20
    items, states = torch.randn(1, S, 8), torch.randn(1, S, 8)
    valid = torch.ones(1, S, dtype=torch.bool)
    center = torch.randn(1, 8)
    v, w, own, c = m(items, states, valid, center)
    for t in range(S):
        n = t + 1
        want = max(1, min(4, int(torch.log2(torch.tensor(float(n))).floor())))
        kept = w[0, t, :4] > 0
        assert int(kept.sum()) == want, (n, w[0, t])
        assert float(v[0, t, :4][~kept].detach().abs().sum()) == 0.0
        assert float(c[0, t, :, ~kept].detach().abs().sum()) == 0.0  # no event goes to them
        assert torch.allclose(c[0, t, :n].sum(-1), torch.ones(n), atol=1e-4)
        assert float(w[0, t, 4].detach()) > 0  # the short-term row is always there
    assert torch.allclose(w.sum(-1), torch.ones(1, S))
    # the kept interests are the ones the events lean to most; training sees finite values
    loss = (v.sum() + w[..., :4].sum() + own.sum()).float()
    loss.backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in m.parameters())


def test_dynamic_k_changes_nothing_for_long_histories() -> None:
    """With 16 or more events every interest is kept: the same interests as without it."""
    torch.manual_seed(0)
    a = RoutedInterests(8, 4, short_term=True, window=20).eval()
    b = RoutedInterests(8, 4, short_term=True, window=20, dynamic=True).eval()
    b.load_state_dict(a.state_dict())
    items, states = torch.randn(2, 20, 8), torch.randn(2, 20, 8)
    valid = torch.ones(2, 20, dtype=torch.bool)
    got_a, got_b = a(items, states, valid), b(items, states, valid)
    for x, y in zip(got_a, got_b, strict=True):
        assert torch.allclose(x[:, 15:], y[:, 15:], atol=1e-6)
    # and a light prefix differs: 5 events, 2 interests instead of 4
    assert int((got_b[1][0, 4, :4] > 0).sum()) == 2


def test_fixed_items_interests_do_not_move_the_items_or_the_states() -> None:
    """``fixed_items``: the same interests and weights, but nothing of them reaches the item
    vectors or the transformer's states (only the routing's own parameters learn)."""
    torch.manual_seed(0)
    a = RoutedInterests(8, 3, short_term=True, window=6, norm=True)
    b = RoutedInterests(8, 3, short_term=True, window=6, norm=True, fixed_items=True)
    b.load_state_dict(a.state_dict())
    items = torch.randn(2, 6, 8, requires_grad=True)
    states = torch.randn(2, 6, 8, requires_grad=True)
    valid = torch.ones(2, 6, dtype=torch.bool)
    va, wa, _, _ = a(items, states, valid)
    vb, wb, _, _ = b(items, states, valid)
    assert torch.allclose(va, vb) and torch.allclose(wa, wb)
    (vb.sum() + (wb * torch.arange(4.0)).sum()).backward()
    assert items.grad is None and states.grad is None
    assert b.prototypes.grad is not None and b.query.weight.grad is not None
