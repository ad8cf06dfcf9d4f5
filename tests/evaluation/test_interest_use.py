"""Measures of interest use: hand-computed cases, and the keys a trained prism model reports."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from prismrec.data.dataset import PreparedDataset
from prismrec.evaluation.beyond import catalog_from_dataset
from prismrec.evaluation.interest_use import (
    InterestScorer,
    effective_interests,
    head_items,
    head_shares,
    hit_owners,
    long_head_share,
    long_hit_share,
    long_hit_shares,
    pooled_long_hit_shares,
    short_weight,
    use_measures,
    worst_jaccard,
)
from prismrec.evaluation.interests import (
    interest_definitions,
    interest_distinctness,
    interest_measures,
    is_interest_metric,
)
from prismrec.evaluation.protocol import FullResult, evaluate_full, ranked_lists
from prismrec.evaluation.report import metrics_payload
from prismrec.training import load_model
from prismrec.training.quota import interest_posteriors


# ----- weights ----------------------------------------------------------------------------------
def test_effective_interests_known_answers() -> None:
    w = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.25, 0.25, 0.5], [0.2, 0.2, 0.2]])
    got = effective_interests(w)
    # the last row sums to 0.6: renormalised it is uniform over three rows
    np.testing.assert_allclose(got, [2.0, 1.0, 2**1.5, 3.0])


def test_short_weight_is_the_rows_after_the_long_term_ones() -> None:
    w = np.array([[0.1, 0.1, 0.8], [0.05, 0.05, 0.9], [0.5, 0.5, 0.0]])
    np.testing.assert_allclose(short_weight(w, 2), [0.8, 0.9, 0.0])
    assert short_weight(w, None) is None and short_weight(w, 3) is None
    got = use_measures(w, np.arange(1, 19).reshape(3, 3, 2), 2)
    np.testing.assert_array_equal(got["short_dominant"], [0.0, 1.0, 0.0])  # 0.8 is not > 0.8
    h0 = -(2 * 0.1 * math.log(0.1) + 0.8 * math.log(0.8))
    h1 = -(2 * 0.05 * math.log(0.05) + 0.9 * math.log(0.9))
    np.testing.assert_allclose(got["effective_interests"], [math.exp(h0), math.exp(h1), 2.0])


def test_one_interest_without_short_row_has_no_short_weight_and_effective_one() -> None:
    got = use_measures(np.ones((2, 1)), np.array([[[1, 2]], [[3, 4]]]), 1)
    assert "short_weight" not in got and "short_dominant" not in got
    np.testing.assert_allclose(got["effective_interests"], 1.0)
    assert np.isnan(got["worst_jaccard@2"]).all()
    # one long-term interest and a short-term row: the short weight is defined, pairs are not
    one = use_measures(np.array([[0.25, 0.75]]), np.array([[[1, 2], [1, 2]]]), 1)
    np.testing.assert_allclose(one["short_weight"], [0.75])
    assert np.isnan(one["worst_jaccard@2"]).all()


# ----- long-term lists --------------------------------------------------------------------------
def test_worst_jaccard_is_the_closest_pair_not_the_mean() -> None:
    a = np.arange(1, 21)
    b = np.concatenate([np.arange(11, 21), np.arange(100, 110)])  # shares 10 of 20 with a
    c = np.arange(200, 220)
    top = np.stack([np.stack([a, b, c]), np.stack([a, a, c])])  # (2, 3, 20)
    np.testing.assert_allclose(worst_jaccard(top), [10 / 30, 1.0])
    mean = interest_distinctness(np.ones((2, 3, 2)), np.ones((2, 3)) / 3, top)
    np.testing.assert_allclose(mean["interest_jaccard@20"], [(10 / 30) / 3, 1 / 3])
    # the short-term row (the last one) is left out of the pairs
    got = use_measures(np.full((2, 3), 1 / 3), top, 2)
    np.testing.assert_allclose(got["worst_jaccard@20"], [10 / 30, 1.0])
    # empty slots (-1) are not items
    partial = np.array([[[1, 2, -1], [1, 3, -1]]])
    np.testing.assert_allclose(worst_jaccard(partial), [1 / 3])


def test_an_interest_the_user_does_not_have_is_in_no_pair() -> None:
    """Dynamic K: a row with an empty list (weight 0) is left out of every pair, so a user's
    measures are those of the interests the user has; with fewer than two, NaN."""
    a, b, c = np.arange(1, 21), np.arange(11, 31), np.arange(200, 220)
    none = np.zeros(20, np.int64)
    top = np.stack([np.stack([a, b, none]), np.stack([a, none, none]), np.stack([a, b, c])])
    got = worst_jaccard(top)
    np.testing.assert_allclose(got[[0, 2]], [10 / 30, 10 / 30])
    assert np.isnan(got[1])
    vecs = np.stack([np.eye(3), np.eye(3), np.eye(3)]).astype(np.float32)
    vecs[0, 2] = vecs[1, 1:] = 0.0
    w = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    labels = [["A", "A", "Z"], ["A", "Z", "Z"], ["A", "B", "A"]]
    got = interest_distinctness(vecs, w, top, labels)
    np.testing.assert_allclose(got["interest_jaccard@20"][[0, 2]], [10 / 30, (10 / 30) / 3])
    np.testing.assert_allclose(got["interest_cosine"][[0, 2]], [0.0, 0.0])
    np.testing.assert_allclose(got["interest_label_distinct"][[0, 2]], [0.0, 0.0])
    for key in ("interest_jaccard@20", "interest_cosine", "interest_label_distinct"):
        assert np.isnan(got[key][1])
    np.testing.assert_allclose(got["interest_effective_k"], [2.0, 1.0, 3.0])


LISTS = np.array(
    [
        [[7, 9, 1], [7, 2, 3]],
        [[7, 9, 4], [9, 5, 6]],
        [[8, 10, 11], [12, 13, 14]],
    ]
)  # 14 distinct items: 7 and 9 three times each, every other item once


def _spread_lists() -> np.ndarray:
    """10 users, 2 lists of 10: item 1 in every user's first list, item 2 in users 0-5's,
    item 3 in users 0-3's second; 180 other items once each (183 distinct items)."""
    fill = iter(range(100, 1000))
    out = np.zeros((10, 2, 10), dtype=np.int64)
    for u in range(10):
        first = [1, 2 if u < 6 else next(fill)] + [next(fill) for _ in range(8)]
        second = [3 if u < 4 else next(fill)] + [next(fill) for _ in range(9)]
        out[u] = [first, second]
    return out


def test_head_share_on_constructed_lists() -> None:
    lists = _spread_lists()
    head = head_items(lists)  # ceil(1% of 183 distinct items) = 2 head items
    np.testing.assert_array_equal(head, [1, 2])
    per_user = long_head_share(lists, head)
    np.testing.assert_allclose(per_user, [0.1] * 6 + [0.05] * 4)
    assert per_user.mean() == pytest.approx(16 / 200)  # the share of all 200 slots
    got = head_shares(lists)
    np.testing.assert_allclose(got["long_head_share@10"], per_user)


def test_head_ties_go_to_the_lower_item_and_even_lists_give_one_percent() -> None:
    np.testing.assert_array_equal(head_items(LISTS), [7])  # 7 and 9 tie at 3
    np.testing.assert_allclose(long_head_share(LISTS, [7]), [2 / 6, 1 / 6, 0.0])
    even = np.arange(1, 301).reshape(5, 3, 20)  # 300 items, each once: 3 head items
    head = head_items(even)
    assert len(head) == 3 and long_head_share(even, head).mean() == pytest.approx(0.01)
    empty = np.array([[[-1, -1]], [[1, 2]]])
    got = long_head_share(empty, head_items(empty))
    assert np.isnan(got[0]) and got[1] == pytest.approx(0.5)  # head: item 1


# ----- hits -------------------------------------------------------------------------------------
def _own() -> np.ndarray:
    own = np.zeros((3, 3, 6))  # (B, R, M): rows 0, 1 long-term, row 2 short-term
    own[0, :, 1] = [0.9, 0.1, 0.5]  # long
    own[0, :, 3] = [0.1, 0.2, 0.7]  # short
    own[2, :, 2] = [0.0, 0.6, 0.5]  # long
    own[2, :, 1] = [0.0, 0.9, 0.1]  # long
    own[2, :, 4] = [0.0, 0.1, 0.2]  # short
    return own


LISTS_N = np.array([[1, 2, 3, 4], [5, 4, -1, -1], [2, 1, 4, 5]])
TARGETS = [np.array([1, 3, 5]), np.array([2]), np.array([1, 2, 4])]


def test_hit_owner_is_the_row_with_the_highest_own_score() -> None:
    owners = hit_owners(_own(), LISTS_N)
    assert owners[0, 0] == 0 and owners[0, 2] == 2
    np.testing.assert_array_equal(owners[1, 2:], [-1, -1])
    np.testing.assert_array_equal(owners[2, :3], [1, 1, 2])
    hits = np.array([[1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 1, 0]], dtype=bool)
    got = long_hit_share(owners, hits, 2)
    np.testing.assert_allclose(got[[0, 2]], [1 / 2, 2 / 3])
    assert np.isnan(got[1])  # no hit: left out, not 0
    # without a short-term row every hit is a long-term one
    np.testing.assert_allclose(long_hit_share(owners, hits, 3)[[0, 2]], 1.0)


def test_mixture_owner_is_the_largest_posterior_not_the_largest_logit() -> None:
    logits = np.array([[[0.0, 2.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])  # (1, R=3, M=3)
    weights = np.array([[0.1, 0.0, 0.9]])
    # row 0: 0.1 * e^2 / (e^2 + 1) = 0.088; row 2: 0.9 * e / (e + 1) = 0.658
    owners = hit_owners(interest_posteriors(logits, weights), np.array([[1]]))
    assert owners[0, 0] == 2 and hit_owners(logits, np.array([[1]]))[0, 0] == 0


class Scored:
    """An InterestScorer returning fixed own scores; records which users it scored."""

    def __init__(self, own: np.ndarray) -> None:
        self.own = own
        self.calls: list[list[int]] = []

    def interest_scores(self, histories: Sequence[Any], users: Any = None) -> np.ndarray:
        self.calls.append(np.asarray(users).tolist())
        return self.own[np.asarray(users)]


def test_long_hit_shares_score_only_users_with_hits_and_pool_over_hits() -> None:
    model = Scored(_own())
    assert isinstance(model, InterestScorer)
    users = np.arange(3)
    got = long_hit_shares(model, users, [np.zeros(0)] * 3, LISTS_N, TARGETS, 2, (2, 4))
    assert model.calls == [[0, 2]]  # user 1 has no hit: not scored
    np.testing.assert_allclose(got["long_hit_share@4"][[0, 2]], [1 / 2, 2 / 3])
    np.testing.assert_allclose(got["long_hit_share@2"][[0, 2]], [1.0, 1.0])  # items 1; 2, 1
    assert np.isnan(got["long_hit_share@4"][1]) and np.isnan(got["long_hit_share@2"][1])
    # pooled: (1 + 2) long-term hits of (2 + 3), not the mean of 1/2 and 2/3
    hits = {4: np.array([2, 0, 3]), 2: np.array([1, 0, 2])}
    pooled = pooled_long_hit_shares(got, hits)
    assert pooled == {
        "long_hit_share_pooled@4": pytest.approx(3 / 5),
        "long_hit_share_pooled@2": pytest.approx(1.0),
    }
    # the same from precision@N (hits / N), as a report reads it
    per_user = {**got, "precision@4": np.array([2, 0, 3]) / 4}
    assert pooled_long_hit_shares(per_user) == {"long_hit_share_pooled@4": pytest.approx(3 / 5)}


def test_metrics_payload_adds_the_pooled_share() -> None:
    per_user = {
        "precision@4": np.array([0.5, 0.0, 0.75]),
        "long_hit_share@4": np.array([0.5, np.nan, 2 / 3]),
    }
    means = {"precision@4": 5 / 12, "long_hit_share@4": 7 / 12}
    res = FullResult(means, per_user, {}, {"split": "test"}, {}, np.arange(3), LISTS_N)
    payload = metrics_payload(res, "m")
    assert payload["long_hit_share_pooled@4"] == pytest.approx(3 / 5)
    assert is_interest_metric("long_hit_share_pooled@4") and is_interest_metric("short_weight")
    assert "long_hit_share" in interest_definitions(20)
    assert "short_weight" not in interest_definitions(20, short=False, hits=False)


# ----- a trained model --------------------------------------------------------------------------
USE_KEYS = {
    "short_weight",
    "short_dominant",
    "effective_interests",
    "worst_jaccard@20",
    "long_head_share@20",
}


def test_trained_prism_reports_use_measures(interest_models: dict[str, Path]) -> None:
    ds = PreparedDataset.load(interest_models["data"])
    cases, catalog = ds.eval_cases("test"), catalog_from_dataset(ds, "test")
    prism = load_model(interest_models["prism"])
    res = evaluate_full(prism, cases, catalog=catalog)
    assert set(res.metrics) >= USE_KEYS and set(res.per_user) >= USE_KEYS
    assert set(res.definitions) >= USE_KEYS
    got = prism.interests(cases.inputs(), cases.users)  # K = 3 and a short-term row
    assert got.n_long == 3 and got.weights.shape[1] == 4
    np.testing.assert_allclose(res.per_user["short_weight"], got.weights[:, 3], atol=1e-5)
    assert 1.0 <= res.metrics["effective_interests"] <= 4.0 + 1e-9
    jac = res.per_user["worst_jaccard@20"]
    assert (jac >= res.per_user["interest_jaccard@20"] - 1e-12).all() and (jac <= 1).all()
    assert 0.0 < res.metrics["long_head_share@20"] <= 1.0
    for name in ("sasrec", "pop"):  # no interests to use: no keys
        other = evaluate_full(load_model(interest_models[name]), cases, catalog=catalog)
        assert not USE_KEYS & set(other.metrics)


def test_trained_prism_long_hit_share(interest_models: dict[str, Path]) -> None:
    ds = PreparedDataset.load(interest_models["data"])
    cases = ds.eval_cases("test")
    prism = load_model(interest_models["prism"])
    lists = ranked_lists(prism, cases, 50)
    got = interest_measures(
        prism, cases.users, cases.inputs(), lists=lists, targets=cases.targets, ks=(10, 50)
    )
    for n in (10, 50):
        share = got[f"long_hit_share@{n}"]
        hit = np.array([np.isin(t, lists[u, :n]).any() for u, t in enumerate(cases.targets)])
        assert hit.any() and (np.isnan(share) == ~hit).all()
        assert ((share[hit] >= 0) & (share[hit] <= 1)).all()
    assert "long_hit_share@10" not in interest_measures(prism, cases.users, cases.inputs())
