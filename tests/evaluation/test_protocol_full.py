"""evaluate_full on a fixed score matrix (hand-computed), sampled ranking, reproducibility."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from prismrec.data.dataset import prepare
from prismrec.evaluation.beyond import Catalog, catalog_from_dataset
from prismrec.evaluation.metrics import topk_from_scores
from prismrec.evaluation.protocol import (
    evaluate,
    evaluate_full,
    rank_sampled,
    sample_negatives,
)
from prismrec.evaluation.slices import dataset_slices
from prismrec.training import ItemKNN

NEG = -np.inf


@dataclass
class Cases:
    users: np.ndarray
    histories: list[np.ndarray]
    targets: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.users)

    def inputs(self) -> list[np.ndarray]:
        return self.histories


class Fixed:
    """A recommender whose scores are one fixed (users, N+1) matrix."""

    name = "fixed"

    def __init__(self, scores: np.ndarray) -> None:
        self.scores = np.asarray(scores, dtype=float)
        self.n_items = self.scores.shape[1] - 1

    def score(self, histories: Sequence[np.ndarray], users: np.ndarray | None = None) -> np.ndarray:
        assert users is not None
        return self.scores[np.asarray(users)]

    def recommend(
        self,
        histories: Sequence[np.ndarray],
        k: int = 10,
        filter_seen: bool = True,
        items: np.ndarray | None = None,
        users: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        s = self.score(histories, users).copy()
        s[:, 0] = NEG
        if items is not None:
            keep = np.zeros(s.shape[1], bool)
            keep[items] = True
            s[:, ~keep] = NEG
        if filter_seen:
            for i, h in enumerate(histories):
                s[i, np.asarray(h, dtype=int)] = NEG
        ids = topk_from_scores(s, k)
        sc = np.where(ids >= 0, np.take_along_axis(s, np.clip(ids, 0, None), 1), NEG)
        return np.where(ids >= 0, ids, 0), sc


class RecommendOnly:
    """The same model without ``score``: sampled ranking must go through ``recommend``."""

    def __init__(self, inner: Fixed) -> None:
        self.inner, self.n_items = inner, inner.n_items

    def recommend(self, *args: object, **kwargs: object) -> tuple[np.ndarray, np.ndarray]:
        return self.inner.recommend(*args, **kwargs)  # type: ignore[arg-type]


SCORES = np.array([[0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4], [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]])
CASES = Cases(np.array([0, 1]), [np.array([1]), np.array([6])], [np.array([3]), np.array([1, 5])])
BAGS = np.array([[0], [1], [1], [2], [2], [3], [3]])  # items 1,2: A; 3,4: B; 5,6: C


def test_evaluate_full_hand_computed() -> None:
    cat = Catalog(6, np.array([0, 2, 2, 1, 1, 0, 0]), 2, BAGS, ["A", "B", "C"], "category")
    masks = {"first": np.array([True, False]), "none": np.array([False, False])}
    res = evaluate_full(Fixed(SCORES), CASES, ks=(2, 10), catalog=cat, slices=masks)
    # user 0 ranks [2, 3, 4, 5, 6] (1 is seen); user 1 ranks [5, 4, 3, 2, 1] (6 is seen)
    assert res.topk[:, :6].tolist() == [[2, 3, 4, 5, 6, -1], [5, 4, 3, 2, 1, -1]]
    pu = res.per_user
    assert pu["ndcg@2"].tolist() == pytest.approx([1 / math.log2(3), 1 / (1 + 1 / math.log2(3))])
    assert pu["recall@2"].tolist() == [1.0, 0.5]
    assert pu["recall@10"].tolist() == [1.0, 1.0]  # K larger than the list
    assert pu["precision@10"].tolist() == [0.1, 0.2]
    assert pu["ild@2"].tolist() == [1.0, 1.0]  # A,B and C,B
    assert pu["category_coverage@2"].tolist() == pytest.approx([2 / 3, 2 / 3])
    # held-out categories: user 0 {B}; user 1 {A, C}
    assert pu["interest_coverage@2"].tolist() == [1.0, 0.5]
    assert pu["novelty@2"].tolist() == pytest.approx([0.5, 1.0])  # 0 + 1 bits; 1 + 1 bits
    assert res.metrics["catalog_coverage@2"] == pytest.approx(4 / 6)
    assert res.metrics["ndcg@2"] == pytest.approx(pu["ndcg@2"].mean())
    assert res.slices["first"]["ndcg@2"] == pytest.approx(pu["ndcg@2"][0])
    assert res.slices["first"]["catalog_coverage@2"] == pytest.approx(2 / 6)
    assert res.slices["none"] == {"n_users": 0}
    assert res.protocol["ranking"] == "full" and res.protocol["seen_items_masked"]
    d = res.to_dict()
    assert {"slices", "protocol", "definitions", "n_users", "ild@10"} <= set(d)


def test_evaluate_ranks_only_the_given_candidates() -> None:
    # user 0 among {3, 5} ranks [3, 5]: target 3 first; user 1 ranks [5, 3]: target 5 first
    res = evaluate(Fixed(SCORES), CASES, ks=(1, 2), items=np.array([3, 5]))
    assert res.per_user["recall@1"].tolist() == [1.0, 0.5]
    assert res.per_user["ndcg@1"].tolist() == [1.0, 1.0]
    assert res.per_user["recall@2"].tolist() == [1.0, 0.5]  # item 1 is not a candidate
    assert res.protocol["candidates"] == 2
    assert "candidates" not in evaluate(Fixed(SCORES), CASES, ks=(1,)).protocol


def test_sample_negatives_is_seeded_excludes_and_pads() -> None:
    a = sample_negatives(10, [np.array([1, 2]), np.arange(1, 9)], 4, seed=3)
    assert np.array_equal(a, sample_negatives(10, [np.array([1, 2]), np.arange(1, 9)], 4, seed=3))
    assert len(set(a[0].tolist())) == 4 and not set(a[0].tolist()) & {1, 2}
    assert sorted(a[1][a[1] > 0].tolist()) == [9, 10] and (a[1] == -1).sum() == 2


def test_sampled_ranking_is_labelled_and_agrees_without_score() -> None:
    scores = np.random.default_rng(0).normal(size=(2, 41))
    fixed = Fixed(scores)
    a = rank_sampled(fixed, CASES, 5, 10, seed=7)
    b = rank_sampled(RecommendOnly(fixed), CASES, 5, 10, seed=7)
    assert np.array_equal(a, b)
    res = evaluate_full(fixed, CASES, ks=(5,), sampled=10, seed=7)
    assert res.protocol["ranking"] == "sampled-10" and res.protocol["negatives_seed"] == 7
    assert np.array_equal(res.topk, a)
    # every listed item is a target or one of the 10 sampled negatives, never a seen item
    for u in range(2):
        assert not set(res.topk[u].tolist()) & set(CASES.histories[u].tolist())


def test_sampled_ties_rank_the_target_below_negatives() -> None:
    flat = Fixed(np.ones((2, 31)))
    res = evaluate_full(flat, CASES, ks=(5,), sampled=10, seed=1)
    assert res.metrics["hr@5"] == 0.0


def test_same_config_gives_identical_metrics_and_matches_evaluate(
    tiny_csv: Path, tmp_path: Path
) -> None:
    ds = prepare(tiny_csv, tmp_path / "prep", "csv")
    cases = ds.eval_cases("test")
    runs = []
    for _ in range(2):
        rec = ItemKNN().fit(ds)
        cat = catalog_from_dataset(ds, "test")
        res = evaluate_full(rec, cases, catalog=cat, slices=dataset_slices(ds, cases, "test"))
        runs.append(res)
    assert runs[0].to_dict() == runs[1].to_dict()
    for k, v in runs[0].per_user.items():
        np.testing.assert_array_equal(v, runs[1].per_user[k], err_msg=k)
    plain = evaluate(ItemKNN().fit(ds), cases)
    for k, v in plain.metrics.items():
        assert runs[0].metrics[k] == pytest.approx(v)
