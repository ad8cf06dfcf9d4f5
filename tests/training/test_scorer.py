"""The scorer's prior rule on hand-computed cases."""

from __future__ import annotations

import numpy as np

from prismrec.config import ModelConfig, TrainConfig
from prismrec.training.baselines import ItemKNN
from prismrec.training.scorer import (
    PRIOR_FLOOR,
    FreshRule,
    Scorer,
    combine,
    fresh_items,
    unseen_items,
)


def test_unseen_items_are_the_ones_the_prior_was_not_fitted_with() -> None:
    seen = np.array([False, True, False, True])  # item 4 is past the prior's table
    assert unseen_items(np.arange(5), seen).tolist() == [True, False, True, False, True]
    assert unseen_items(np.array([3, 2]), seen).tolist() == [False, True]


def test_combine_without_a_prior_adds_only_the_bias_and_the_tie_breaker() -> None:
    net = np.array([[1.0, 2.0]])
    np.testing.assert_allclose(combine(net, 1.0, None, 5.0, 0.5, 0.25), [[1.75, 2.75]])
    # with one: the repeat bias is put in the z-scored units (divided by the spread)
    got = combine(net, 2.0, np.array([[1.0, -1.0]]), 3.0, np.array([[1.0, 0.0]]), 0.0)
    np.testing.assert_allclose(got, [[1.0 + 3.0 + 0.5, 2.0 - 3.0]])


def _knn(popularity: np.ndarray) -> ItemKNN:
    knn = ItemKNN(ModelConfig(), TrainConfig())
    knn.popularity = popularity.astype(np.float32)
    return knn


def test_an_unseen_item_is_weighed_by_the_net_not_the_prior_floor() -> None:
    """Items 1-2 are seen (prior 0.5 and 0), item 3 has no training event: its prior z-score is
    replaced by its net z-score, where the floor would have put it below item 1."""
    pop = np.array([0.0, 1e-6, 1e-6, 0.0])
    scorer = Scorer(np.zeros(4), cooc=_knn(pop), cooc_weight=2.0)
    net = np.array([[0.0, 1.0, 2.0, 3.0]])
    prior = np.array([[0.0, 0.5, 0.0, 0.0]])
    got = scorer.with_priors(net, prior, None, 2.0)
    z_net = (net[0, 1:] - 2.0) / np.std([1.0, 2.0, 3.0])
    logp = np.log(prior[0, 1:] + PRIOR_FLOOR)
    z_prior = (logp - logp.mean()) / logp.std()
    want = z_net + 2.0 * np.array([z_prior[0], z_prior[1], z_net[2]])
    np.testing.assert_allclose(got[0, 1:], want, rtol=1e-6)
    seen_all = Scorer(np.zeros(4), cooc=_knn(np.full(4, 1e-6)), cooc_weight=2.0)
    floor = seen_all.with_priors(net, prior, None, 2.0)
    assert floor[0, 3] < floor[0, 1] < got[0, 3]
    assert np.argmax(got[0, 1:]) == 2 and np.argmax(floor[0, 1:]) == 0


def test_fresh_items_are_those_without_a_training_event() -> None:
    popularity = np.array([0.0, 1e-6, 0.0, 2e-6])  # row 2 never in training; rows >= 4 added
    got = fresh_items(np.array([0, 1, 2, 3, 4, 9]), popularity)
    assert got.tolist() == [False, False, True, False, True, True]


def test_fresh_slots_hand_case() -> None:
    """k = 4, share 0.5: two slots for fresh items (rows 5, 6 and 7)."""
    rule = FreshRule(share=0.5, depth=2)
    assert rule.slots(4) == 2 and rule.slots(10) == 5 and rule.slots(1) == 1
    fresh = np.array([False, False, False, False, False, True, True, True])
    scores = np.array([-np.inf, 9.0, 8.0, 7.0, 6.0, 5.0, 1.0, 2.0])
    # the list 1, 2, 3, 4 gives its two lowest items to the best fresh ones among the best 8
    got = rule.apply(np.array([1, 2, 3, 4]), scores, fresh, 4)
    assert got.tolist() == [1, 2, 5, 7]
    # a fresh item already listed counts; one slot is left
    got = rule.apply(np.array([1, 2, 5, 3]), scores, fresh, 4)
    assert got.tolist() == [1, 2, 5, 7]
    # depth 1: only the best 4 items may be drafted; fresh 5 is not among them, nothing moves
    shallow = FreshRule(share=0.5, depth=1)
    assert shallow.apply(np.array([1, 2, 3, 4]), scores, fresh, 4).tolist() == [1, 2, 3, 4]
    # masked candidates (-inf) are never drafted
    masked = scores.copy()
    masked[[5, 7]] = -np.inf
    assert rule.apply(np.array([1, 2, 3, 4]), masked, fresh, 4).tolist() == [1, 2, 3, 6]
    # a list with room takes the fresh items without dropping any
    assert rule.apply(np.array([1, 2]), scores, fresh, 4).tolist() == [1, 2, 5, 7]


def test_with_fresh_ranks_the_filled_list_first() -> None:
    popularity = np.array([0.0, 1e-6, 1e-6, 1e-6, 1e-6])  # rows 5.. added since training
    scorer = Scorer(popularity, fresh=FreshRule(0.5, 2))
    scores = np.array([[-np.inf, 9.0, 8.0, 7.0, 6.0, 5.0, 1.0, 2.0]])
    ranked = scorer.with_fresh(scores, None, 4)
    assert np.argsort(-ranked[0], kind="stable")[:4].tolist() == [1, 2, 5, 7]
