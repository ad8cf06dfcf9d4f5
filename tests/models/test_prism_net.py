"""PrismNet: shapes, padding invariance, causality, extractors, readout."""

from __future__ import annotations

import pytest
import torch

from prismrec.models.interests import readout
from prismrec.models.prism import PrismNet

FEATS = {"event_idx": 5, "gap_bucket": 10, "hour": 25}


def _batch(B: int, L: int, n_items: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, L + 1, (B,), generator=g)
    items = torch.randint(1, n_items + 1, (B, L), generator=g)
    pad = torch.arange(L)[None] < (L - lengths)[:, None]
    items[pad] = 0
    out = {"item_idx": items}
    for k, n in FEATS.items():
        v = torch.randint(1, n, (B, L), generator=g)
        v[pad] = 0
        out[k] = v
    return out


@pytest.mark.parametrize("extractor", ["sa", "dr"])
@pytest.mark.parametrize("k", [1, 3])
def test_shapes(extractor: str, k: int) -> None:
    net = PrismNet(
        30,
        embedding_dim=16,
        max_seq_len=8,
        n_interests=k,
        extractor=extractor,
        feature_sizes=FEATS,
        user_feature_sizes={"user_age": 4},
        n_event_types=5,
    )
    out = net(_batch(4, 8, 30), user_batch={"user_age": torch.tensor([1, 2, 3, 0])})
    assert out["states"].shape == (4, 8, 16)
    assert out["interests"].shape == (4, 8, k, 16)
    assert out["weights"].shape == (4, 8, k)
    torch.testing.assert_close(out["weights"].sum(-1), torch.ones(4, 8))
    assert out["items"].shape == (31, 16)
    assert net.next_event_logits(out["states"]).shape == (4, 8, 5)
    if k > 1:
        assert out["attention"].shape == (4, 8, k, 8)


@pytest.mark.parametrize("extractor", ["sa", "dr"])
def test_padding_never_changes_the_output(extractor: str) -> None:
    torch.manual_seed(0)
    net = PrismNet(
        30,
        embedding_dim=16,
        max_seq_len=12,
        n_interests=3,
        extractor=extractor,
        feature_sizes=FEATS,
    ).eval()
    short = _batch(3, 6, 30, seed=1)
    short["item_idx"][short["item_idx"] == 0] = 7  # full-length rows
    for k in FEATS:
        short[k][short[k] == 0] = 1
    long = {k: torch.cat([torch.zeros(3, 6, dtype=torch.long), v], dim=1) for k, v in short.items()}
    a, b = net(short), net(long)
    torch.testing.assert_close(a["interests"], b["interests"][:, 6:], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a["states"], b["states"][:, 6:], atol=1e-5, rtol=1e-5)
    assert torch.all(b["states"][:, :6] == 0)


def test_causal_future_events_do_not_change_the_past() -> None:
    torch.manual_seed(0)
    net = PrismNet(30, embedding_dim=16, max_seq_len=6, n_interests=2).eval()
    x = {"item_idx": torch.tensor([[1, 2, 3, 4, 5, 6]])}
    y = {"item_idx": torch.tensor([[1, 2, 3, 4, 5, 9]])}
    # positions are counted from the newest event, so compare the same prefix length
    a = net({"item_idx": x["item_idx"][:, :5]})["interests"]
    b = net({"item_idx": y["item_idx"][:, :5]})["interests"]
    torch.testing.assert_close(a, b)
    full_a, full_b = net(x)["interests"], net(y)["interests"]
    assert not torch.allclose(full_a[:, -1], full_b[:, -1])


def test_readout_hard_and_soft() -> None:
    interests = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # (1, K=2, D=2)
    target = torch.tensor([[0.1, 2.0]])
    torch.testing.assert_close(readout(interests, target, "hard"), torch.tensor([[0.0, 1.0]]))
    soft = readout(interests, target, "soft")
    assert soft[0, 1] > soft[0, 0] > 0
    with pytest.raises(ValueError, match="unknown readout"):
        readout(interests, target, "middle")


def test_routed_short_term_net_reads_a_longer_history_at_the_last_position() -> None:
    """K long-term rows plus the short-term one; a history longer than the window feeds the
    long-term interests only, and the transformer still sees the last window."""
    torch.manual_seed(0)
    net = PrismNet(
        30,
        embedding_dim=16,
        max_seq_len=8,
        n_interests=3,
        extractor="route",
        feature_sizes=FEATS,
        user_feature_sizes={"user_age": 4},
        routing={"short_term": True},
    ).eval()
    long = _batch(2, 20, 30)
    long["item_idx"][:, :] = torch.randint(1, 31, (2, 20))
    users = {"user_age": torch.tensor([1, 2])}
    window = {c: v[:, -8:] for c, v in long.items()}
    full = net(window, user_batch=users)
    assert full["interests"].shape == (2, 8, 4, 16) and net.short_term
    last = net(window, user_batch=users, last_only=True)
    torch.testing.assert_close(last["interests"][:, -1], full["interests"][:, -1])
    more = net(long, user_batch=users, last_only=True)
    assert more["interests"].shape == (2, 1, 4, 16) and more["attention"].shape == (2, 1, 4, 20)
    # the short-term row is the transformer's state over the same last window: unchanged
    torch.testing.assert_close(more["interests"][:, 0, -1], full["interests"][:, -1, -1])
    assert not torch.allclose(more["interests"][:, 0, :3], full["interests"][:, -1, :3])
    with pytest.raises(ValueError, match="max_seq_len"):
        net(long, user_batch=users)
