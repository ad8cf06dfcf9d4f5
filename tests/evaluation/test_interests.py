"""Interest distinctness: hand-computed measures, own top items, and where they are reported."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from prismrec.data.dataset import PreparedDataset
from prismrec.evaluation.beyond import Catalog, catalog_from_dataset
from prismrec.evaluation.interests import (
    InterestModel,
    interest_distinctness,
    interest_means,
    interest_measures,
    is_interest_metric,
    own_top_items,
)
from prismrec.evaluation.protocol import evaluate_full
from prismrec.evaluation.slices import slice_means
from prismrec.models.interests import Interests
from prismrec.training import load_model

# item 0 is padding; items 1, 2 point along x, items 3, 4 along y
ITEMS = np.array([[0.0, 0.0], [1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
KEYS = {"interest_cosine", "interest_jaccard@20", "interest_effective_k"}


def test_own_top_items_rank_by_inner_product_and_mask_the_history() -> None:
    v = np.array([[[1.0, 0.0], [0.0, 1.0]]])  # (1, K=2, D)
    np.testing.assert_array_equal(own_top_items(v, ITEMS, 2), [[[1, 2], [3, 4]]])
    masked = own_top_items(v, ITEMS, 2, exclude=[np.array([1, 3])])
    np.testing.assert_array_equal(masked, [[[2, 4], [4, 2]]])
    live = np.array([False, True, False, True, True])
    np.testing.assert_array_equal(own_top_items(v, ITEMS, 2, live=live), [[[1, 4], [3, 4]]])
    # every real item scores below the padding row's 0: padding is still never returned
    neg = own_top_items(np.array([[[-1.0, -1.0]]]), ITEMS, 4)
    assert 0 not in neg and sorted(neg[0, 0].tolist()) == [1, 2, 3, 4]


def test_distinctness_known_answers_for_two_interests() -> None:
    vectors = np.array([[[1.0, 0.0], [2.0, 0.0]], [[1.0, 0.0], [0.0, 3.0]]])
    weights = np.array([[0.5, 0.5], [1.0, 0.0]])
    top = np.array([[[1, 2], [2, 1]], [[1, 2], [2, 3]]])
    got = interest_distinctness(vectors, weights, top, [["A", "A"], ["A", "B"]])
    np.testing.assert_allclose(got["interest_cosine"], [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(got["interest_jaccard@2"], [1.0, 1 / 3])  # |{2}| / |{1,2,3}|
    np.testing.assert_allclose(got["interest_effective_k"], [2.0, 1.0], atol=1e-9)
    np.testing.assert_array_equal(got["interest_label_distinct"], [0.0, 1.0])


def test_distinctness_known_answers_for_three_interests() -> None:
    vectors = np.array([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
    weights = np.array([[0.5, 0.25, 0.25]])
    top = np.array([[[1, 2], [3, 4], [2, 3]]])
    got = interest_distinctness(vectors, weights, top, [["A", "B", "A"]])
    assert got["interest_cosine"][0] == pytest.approx((0 + 2 / math.sqrt(2)) / 3)
    assert got["interest_jaccard@2"][0] == pytest.approx((0 + 1 / 3 + 1 / 3) / 3)
    # entropy 0.5 ln 2 + 2 * 0.25 ln 4 = 1.5 ln 2
    assert got["interest_effective_k"][0] == pytest.approx(2**1.5)
    assert got["interest_label_distinct"][0] == 0.0


def test_one_interest_has_no_pairs_and_no_labels_give_no_label_measure() -> None:
    got = interest_distinctness(np.ones((2, 1, 3)), np.ones((2, 1)), np.ones((2, 1, 4), int))
    assert np.isnan(got["interest_cosine"]).all() and np.isnan(got["interest_jaccard@4"]).all()
    np.testing.assert_allclose(got["interest_effective_k"], 1.0)
    assert "interest_label_distinct" not in got


class TwoFacets:
    """An InterestModel: user u's two interests point at item 1 and at item 3 (u even) or 1."""

    n_items = 4

    def __init__(self, k: int = 2) -> None:
        self.k = k
        self.calls: list[int] = []

    def interests(self, histories: Sequence[Any] | None = None, users: Any = None) -> Interests:
        users = np.asarray(users)
        self.calls.append(len(users))
        v = np.zeros((len(users), self.k, 2))
        v[:, 0] = [1.0, 0.0]
        if self.k > 1:
            v[:, 1] = np.where((users % 2 == 0)[:, None], [0.0, 1.0], [1.0, 0.0])
        w = np.full((len(users), self.k), 1.0 / self.k)
        return Interests(v, w)

    def item_vectors(self) -> np.ndarray:
        return ITEMS

    def recommend(self, histories, k=10, filter_seen=True, items=None, users=None):  # noqa: ANN001, ANN201
        ids = np.tile(np.arange(1, 5), (len(users), 1))[:, :k]
        return ids, np.tile(np.arange(4.0, 0.0, -1.0)[:k], (len(users), 1))


class Cases:
    def __init__(self, n: int) -> None:
        self.users = np.arange(n)
        self.histories = [np.array([], dtype=np.int64) for _ in range(n)]
        self.targets = [np.array([1]) for _ in range(n)]

    def __len__(self) -> int:
        return len(self.users)

    def inputs(self) -> list[np.ndarray]:
        return self.histories


BAGS = np.array([[0], [1], [1], [2], [2]])  # items 1, 2: category A; 3, 4: B


def test_measures_only_for_models_with_several_interests() -> None:
    assert isinstance(TwoFacets(), InterestModel)
    got = interest_measures(TwoFacets(), np.arange(4), [np.zeros(0)] * 4, 2, BAGS, ["A", "B"])
    np.testing.assert_allclose(got["interest_cosine"], [0.0, 1.0, 0.0, 1.0])
    np.testing.assert_array_equal(got["interest_label_distinct"], [1.0, 0.0, 1.0, 0.0])
    one = TwoFacets(k=1)
    assert interest_measures(one, np.arange(4), [np.zeros(0)] * 4) == {}
    assert interest_measures(object(), np.arange(4), [np.zeros(0)] * 4) == {}


def test_measures_in_chunks_equal_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    import prismrec.evaluation.interests as mod

    users, hist = np.arange(7), [np.array([1])] * 7
    whole = interest_measures(TwoFacets(), users, hist, 2, BAGS, ["A", "B"])
    monkeypatch.setattr(mod, "MEASURE_USERS", 3)
    m = TwoFacets()
    chunked = interest_measures(m, users, hist, 2, BAGS, ["A", "B"])
    assert m.calls == [3, 3, 1] and set(chunked) == set(whole)
    for key in whole:
        np.testing.assert_array_equal(chunked[key], whole[key])
    one = TwoFacets(k=1)
    assert interest_measures(one, users, hist) == {} and one.calls == [3]  # stops at once


def test_means_subsample_the_same_users_for_the_same_seed() -> None:
    m = TwoFacets()
    users, hist = np.arange(101), [np.zeros(0)] * 101
    a = interest_means(m, users, hist, k=2, max_users=10, seed=1)
    b = interest_means(m, users, hist, k=2, max_users=10, seed=1)
    distinct = {"interest_cosine", "interest_jaccard@2", "interest_effective_k"}
    use = {"effective_interests", "worst_jaccard@2", "long_head_share@2"}  # no short-term row
    assert a == b and set(a) == distinct | use
    assert m.calls[-1] == 10  # at most max_users measured
    full = interest_means(m, users, hist, k=2)
    assert full["interest_cosine"] == pytest.approx(50 / 101)  # the odd users' copies


def test_evaluate_full_adds_interest_keys_per_user_and_per_slice() -> None:
    cat = Catalog(4, categories=BAGS, category_names=["A", "B"], category_field="category")
    slices = {"even": np.arange(4) % 2 == 0}
    keys = KEYS - {"interest_jaccard@20"} | {"interest_jaccard@3", "interest_label_distinct"}
    res = evaluate_full(TwoFacets(), Cases(4), ks=(2,), catalog=cat, slices=slices, interest_k=3)
    assert keys <= set(res.metrics) and keys <= set(res.per_user)
    assert res.metrics["interest_cosine"] == pytest.approx(0.5)
    assert res.slices["even"]["interest_cosine"] == pytest.approx(0.0)
    assert keys <= set(res.definitions)
    assert set(slice_means(res.per_user, slices)["even"]) >= keys
    assert all(is_interest_metric(k) for k in keys) and not is_interest_metric("ndcg@10")
    no_cats = evaluate_full(TwoFacets(), Cases(4), ks=(2,), catalog=Catalog(4))
    assert "interest_cosine" in no_cats.metrics
    assert "interest_label_distinct" not in no_cats.metrics  # no categories: no labels
    off = evaluate_full(TwoFacets(), Cases(4), ks=(2,), interest_k=None)
    assert not any(is_interest_metric(k) for k in off.metrics)


def test_evaluate_full_on_trained_models(interest_models: dict[str, Path]) -> None:
    ds = PreparedDataset.load(interest_models["data"])
    cases, catalog = ds.eval_cases("test"), catalog_from_dataset(ds, "test")
    got = {}
    for name in ("prism", "sasrec", "pop"):
        res = evaluate_full(load_model(interest_models[name]), cases, catalog=catalog)
        got[name] = {k for k in res.metrics if is_interest_metric(k)}
        if got[name]:
            assert len(res.per_user["interest_cosine"]) == len(cases)
            assert 1.0 <= res.metrics["interest_effective_k"] <= 3.0 + 1e-9
    use = {"short_weight", "short_dominant", "effective_interests", "worst_jaccard@20"}
    # the share of the ranked lists' hits that long-term interests own, at each cut-off
    hits = {"long_hit_share@10", "long_hit_share@20"}
    assert got["prism"] == KEYS | use | hits | {"interest_label_distinct", "long_head_share@20"}
    assert got["sasrec"] == set() and got["pop"] == set()
