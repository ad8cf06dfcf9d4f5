"""Beyond-accuracy metrics and top-k ranking against hand-computed values on tiny cases."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from prismrec.data.schema import ItemFields
from prismrec.evaluation.beyond import (
    Catalog,
    beyond_accuracy,
    catalog_coverage,
    category_bags,
    category_coverage,
    category_diversity,
    exposure_metrics,
    facet_interests,
    gini,
    interest_coverage,
    intra_list_diversity,
    novelty,
    pick_category_field,
    target_categories,
)
from prismrec.evaluation.metrics import accuracy_metrics, hit_matrix, topk_from_scores

# items 1..5; categories A=1, B=2, C=3: item1 {A}, item2 {A,B}, item3 {C}, items 4, 5 none
BAGS = np.array([[0, 0], [1, 0], [1, 2], [3, 0], [0, 0], [0, 0]])
# user 0 got [1, 2, 3]; user 1 got [2] and two empty slots
TOP = np.array([[1, 2, 3], [2, -1, -1]])
R2 = 1 / math.sqrt(2)


def test_topk_from_scores_breaks_ties_by_lower_index_and_pads() -> None:
    scores = np.array([[-np.inf, 0.5, 0.9, 0.5, 0.5], [-np.inf, 1.0, -np.inf, 2.0, -np.inf]])
    assert topk_from_scores(scores, 3).tolist() == [[2, 1, 3], [3, 1, -1]]
    # K larger than the list: empty slots are -1
    assert topk_from_scores(scores, 7).tolist() == [[2, 1, 3, 4, -1, -1, -1], [3, 1] + [-1] * 5]
    # the same ties in any column order give the same answer (argpartition is not stable)
    many = np.zeros((1, 50))
    assert topk_from_scores(many, 4).tolist() == [[0, 1, 2, 3]]


def test_metrics_under_ties_are_deterministic() -> None:
    scores = np.array([[-np.inf, 0.5, 0.9, 0.5, 0.5]])
    top = topk_from_scores(scores, 3)  # [2, 1, 3]: item 4 loses the tie with 1 and 3
    m = accuracy_metrics(hit_matrix(top, [np.array([4])]), np.array([1]), ks=(3,))
    assert m["hr@3"][0] == 0.0
    m = accuracy_metrics(hit_matrix(top, [np.array([3])]), np.array([1]), ks=(3,))
    assert m["mrr@3"][0] == pytest.approx(1 / 3)
    assert m["ndcg@3"][0] == pytest.approx(1 / math.log2(4))


def test_hit_matrix_ignores_empty_slots() -> None:
    hits = hit_matrix(np.array([[3, -1, -1]]), [np.array([3, 5])])
    m = accuracy_metrics(hits, np.array([2]), ks=(3, 10))
    assert m["recall@3"][0] == 0.5 and m["precision@10"][0] == pytest.approx(0.1)


def test_category_diversity_hand_computed() -> None:
    ild = category_diversity(TOP, BAGS, 3)
    # pairs: (1,2) cos 1/sqrt2, (1,3) 0, (2,3) 0
    assert ild[0] == pytest.approx((3 - R2) / 3)
    assert ild[1] == 0.0  # fewer than two items
    # single-valued categories: the share of pairs in different categories
    single = np.array([[0], [1], [1], [2], [3]])
    assert category_diversity(np.array([[1, 2, 3, 4]]), single, 4)[0] == pytest.approx(5 / 6)
    # an item without a category is left out; k larger than the list changes nothing
    assert category_diversity(np.array([[1, 4, 3]]), BAGS, 10)[0] == pytest.approx(1.0)


def test_intra_list_diversity_by_vectors_hand_computed() -> None:
    vec = np.array([[0, 0], [1, 0], [0, 1], [1, 1], [0, 0], [2, 0]], dtype=float)
    ild = intra_list_diversity(np.array([[1, 2, 3], [1, 4, 2], [1, 5, -1]]), vec, 3)
    assert ild[0] == pytest.approx((1 + 2 * (1 - R2)) / 3)
    assert ild[1] == pytest.approx(1.0)  # item 4 has no vector: only the pair (1, 2)
    assert ild[2] == pytest.approx(0.0)  # parallel vectors
    assert intra_list_diversity(TOP, vec, 1).tolist() == [0.0, 0.0]


def test_category_and_interest_coverage_hand_computed() -> None:
    cov = category_coverage(TOP, BAGS, 3, 10)
    assert cov.tolist() == pytest.approx([1.0, 2 / 3])
    assert category_coverage(TOP, BAGS, 3, 1).tolist() == pytest.approx([1 / 3, 2 / 3])
    ic = interest_coverage(TOP, BAGS, [np.array([2, 3]), np.array([3, 1])], 3)
    assert ic.tolist() == pytest.approx([1.0, 0.5])
    ic = interest_coverage(np.vstack([TOP, [[3, -1, -1]]]), BAGS, [[2], [], [3]], 3)
    assert ic[0] == 1.0 and np.isnan(ic[1]) and ic[2] == 1.0
    held_out = target_categories([np.array([2]), np.array([3, 4])], BAGS)
    assert [h.tolist() for h in held_out] == [[1, 2], [3]]


def test_novelty_hand_computed() -> None:
    pop = np.array([0, 4, 1, 0, 0, 0])
    nov = novelty(TOP, pop, 4, 3)
    # item1 -log2(4/4) = 0, item2 -log2(1/4) = 2, item3 unseen counts once: 2
    assert nov.tolist() == pytest.approx([4 / 3, 2.0])
    assert novelty(np.array([[-1, -1]]), pop, 4, 2).tolist() == [0.0]


def test_catalog_coverage_and_gini_hand_computed() -> None:
    assert catalog_coverage(TOP, 5, 3) == pytest.approx(3 / 5)
    # exposures over items 1..5: [1, 2, 1, 0, 0] -> sorted [0, 0, 1, 1, 2]
    assert gini(TOP, 5, 3) == pytest.approx(10 / 20)
    assert gini(np.array([[1, 2], [3, 4]]), 4, 2) == pytest.approx(0.0)
    assert gini(np.array([[1], [1]]), 4, 1) == pytest.approx(3 / 4)
    assert gini(np.full((2, 3), -1), 4, 3) == 0.0
    out = exposure_metrics(TOP, (1, 3), 5)
    assert out["catalog_coverage@1"] == pytest.approx(2 / 5)
    assert set(out) == {"catalog_coverage@1", "gini@1", "catalog_coverage@3", "gini@3"}


def test_beyond_accuracy_keys_and_fallbacks() -> None:
    cat = Catalog(5, np.array([0, 4, 1, 0, 0, 0]), 4, BAGS, ["A", "B", "C"], "genres")
    out = beyond_accuracy(TOP, (3,), cat, [np.array([1]), np.array([3])])
    assert set(out) == {
        "ild@3",
        "ild_category@3",
        "category_coverage@3",
        "interest_coverage@3",
        "novelty@3",
    }
    np.testing.assert_allclose(out["ild@3"], out["ild_category@3"])  # no vectors: categories
    vec = np.eye(6)
    cat.vectors = vec
    out = beyond_accuracy(TOP, (3,), cat)
    assert out["ild@3"][0] == pytest.approx(1.0) and "interest_coverage@3" not in out
    assert set(beyond_accuracy(TOP, (3,), Catalog(5))) == set()


def test_category_bags_and_field_choice() -> None:
    frame = pl.DataFrame(
        {
            "item_idx": [1, 2, 3],
            "item_id": ["a", "b", "c"],
            "genres": [["Drama", "Comedy"], ["Drama"], []],
            "tags": [["x"], [], []],
        }
    )
    fields = ItemFields(multi=("tags", "genres"))
    assert pick_category_field(fields, frame.columns) == ("genres", True)
    assert pick_category_field(ItemFields(multi=("tags",)), frame.columns) == ("tags", True)
    assert pick_category_field(ItemFields(), frame.columns) is None
    bags, names = category_bags(frame, "genres", True, 5)
    assert names == ["Drama", "Comedy"]  # by frequency
    assert bags.tolist() == [[0, 0], [1, 2], [1, 0], [0, 0], [0, 0]]
    facets = pl.DataFrame({"user_id": ["u1", "u1", "u2"], "facet": ["Comedy", "Opera", "Drama"]})
    got = facet_interests(["u1", "u2", "u3"], facets, names)
    assert [g.tolist() for g in got] == [[2], [1], []]
