"""Interest quotas over dense scores: slot counts, own-score picks, pick order, shortage fill,
filtered items."""

from __future__ import annotations

import numpy as np

from prismrec.training.quota import (
    guaranteed_slots,
    interest_posteriors,
    quota_rerank,
)


def _topk(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best columns per row, best first (ties: lower column first)."""
    ids = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return ids, np.take_along_axis(scores, ids, axis=1)


def _setup() -> tuple[np.ndarray, np.ndarray]:
    # final scores favour items 1-3; interest 0 likes items 1-3, interest 1 likes items 5 > 4
    scores = np.array([[-np.inf, 9.0, 8.0, 7.0, 3.0, 2.0]])
    own = np.full((1, 2, 6), -np.inf)
    own[0, 0, 1:4] = [3.0, 2.0, 1.0]
    own[0, 1, 4:6] = [1.0, 2.0]
    return scores, own


def test_each_interest_gets_its_share_in_score_order() -> None:
    scores, own = _setup()
    ids, _ = _topk(quota_rerank(scores, own, np.array([[0.5, 0.5]]), 4), 4)
    assert ids[0].tolist() == [1, 2, 4, 5]  # two slots each; the list in final-score order
    ids, _ = _topk(quota_rerank(scores, own, np.array([[0.5, 0.5]]), 2), 2)
    assert ids[0].tolist() == [1, 5]  # interest 1's slot goes to its own best, item 5
    ids, _ = _topk(quota_rerank(scores, own, np.array([[1.0, 0.0]]), 3), 3)
    assert ids[0].tolist() == [1, 2, 3]  # a weight-1 interest: the plain top list


def test_heavier_interest_picks_first() -> None:
    # both interests like item 1 best; the heavier takes it, the lighter its next best
    scores = np.array([[-np.inf, 9.0, 8.0, 7.0, 6.0]])
    own = np.array([[[-np.inf, 5.0, 4.0, 0.0, 0.0], [-np.inf, 5.0, 0.0, 0.0, 4.0]]])
    ids, _ = _topk(quota_rerank(scores, own, np.array([[0.5, 0.5]]), 2), 2)
    assert ids[0].tolist() == [1, 4]  # tie in weight: interest 0 takes item 1, interest 1 item 4
    ids, _ = _topk(quota_rerank(scores, own, np.array([[0.4, 0.6]]), 2), 2)
    assert ids[0].tolist() == [1, 2]  # interest 1 heavier: it takes item 1, interest 0 item 2


def test_short_interest_and_filtered_items() -> None:
    scores, own = _setup()
    scores[0, 5] = -np.inf  # filtered (e.g. seen): interest 1's favourite
    out = quota_rerank(scores, own, np.array([[0.25, 0.75]]), 4)
    ids, _ = _topk(out, 4)
    # interest 1 wants 3 slots but has one live item: its spare slots go to the best others
    assert ids[0].tolist() == [1, 2, 3, 4]
    assert np.isneginf(out[0, 5])


def test_posteriors_do_not_let_a_long_vector_own_every_item() -> None:
    # interest 0 has a 10x longer vector: by raw logits it would own items 3-4 too
    logits = np.array([[[0.0, 10.0, 9.0, 6.0, 5.0], [0.0, 0.1, 0.2, 0.9, 0.8]]])
    weights = np.array([[0.5, 0.5]])
    assert logits.argmax(1)[0, 1:].tolist() == [0, 0, 0, 0]
    post = interest_posteriors(logits, weights)
    assert post.argmax(1)[0, 1:].tolist() == [0, 0, 1, 1]
    # log posteriors: log w_k + log softmax_k, computed by hand for one entry
    p = np.exp(0.9) / np.exp([0.1, 0.2, 0.9, 0.8]).sum()
    assert np.isclose(post[0, 1, 3], np.log(0.5) + np.log(p))


def test_depth_limits_the_items_an_interest_may_pick() -> None:
    scores, own = _setup()
    w = np.array([[0.5, 0.5]])
    own[0, 1, :] = -np.inf
    own[0, 1, 5] = 1.0  # interest 1 likes only item 5, ranked last overall
    ids, _ = _topk(quota_rerank(scores, own, w, 2, depth=None), 2)
    assert ids[0].tolist() == [1, 5]  # any depth: interest 1's only item gets its slot
    ids, _ = _topk(quota_rerank(scores, own, w, 2, depth=2), 2)
    assert ids[0].tolist() == [1, 2]  # outside the best 4: its slot goes to the best others


def test_short_lists_are_the_plain_top_list() -> None:
    # interest 1 likes the best item but has the smaller weight: k=1 still serves it
    scores, own = _setup()
    scores[0, 4] = 10.0
    ids, _ = _topk(quota_rerank(scores, own, np.array([[0.7, 0.3]]), 1), 1)
    assert ids[0].tolist() == [4]
    assert guaranteed_slots(np.array([[0.7, 0.3], [0.5, 0.5]]), 3).tolist() == [[2, 0], [1, 1]]


def test_temperature_flattens_the_shares() -> None:
    w = np.array([[0.8, 0.2]])
    assert guaranteed_slots(w, 10).tolist() == [[8, 2]]
    # T = 2: sqrt weights 0.894 / 0.447 -> 2/3 and 1/3 of 10 slots
    assert guaranteed_slots(w, 10, temperature=2.0).tolist() == [[6, 3]]
