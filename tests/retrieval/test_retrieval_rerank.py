"""MMR and DPP re-ranking strength, and the request filters."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from prismrec.retrieval import dpp, filter_candidates, mmr

GRID = [0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0]


def _planted() -> tuple[np.ndarray, np.ndarray]:
    """Three tight clusters of 6: the best scores all in cluster A, then B, then C."""
    rng = np.random.default_rng(0)
    centres = np.eye(8)[:3]
    vecs = np.repeat(centres, 6, axis=0) + 0.05 * rng.standard_normal((18, 8))
    scores = np.r_[np.linspace(1.0, 0.9, 6), np.linspace(0.85, 0.8, 6), np.linspace(0.7, 0.6, 6)]
    order = rng.permutation(18)  # candidates arrive unsorted
    return scores[order], vecs[order]


def _mean_similarity(vecs: np.ndarray) -> float:
    unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    sim = unit @ unit.T
    n = len(vecs)
    return float((sim.sum() - n) / (n * (n - 1)))


@pytest.mark.parametrize("method", [mmr, dpp])
def test_zero_diversity_is_the_plain_score_order(method: Callable[..., np.ndarray]) -> None:
    scores, vecs = _planted()
    assert method(scores, vecs, 6, 0.0).tolist() == np.argsort(-scores)[:6].tolist()
    # with quotas but no diversity: still score order inside the quotas
    groups = np.arange(18) % 2
    got = method(scores, vecs, 6, 0.0, groups=groups, quotas=np.array([3, 3]))
    assert np.bincount(groups[got], minlength=2).tolist() == [3, 3]
    assert (np.diff(scores[got]) <= 0).all()


@pytest.mark.parametrize("method", [mmr, dpp])
def test_more_diversity_means_a_less_similar_list(method: Callable[..., np.ndarray]) -> None:
    scores, vecs = _planted()
    sims = [_mean_similarity(vecs[method(scores, vecs, 6, d)]) for d in GRID]
    assert all(b <= a + 1e-9 for a, b in zip(sims[:-1], sims[1:], strict=True)), sims
    assert sims[-1] < sims[0] - 0.3
    top = method(scores, vecs, 6, 1.0)
    assert top[0] == int(np.argmax(scores))  # even at full strength the best item leads


def test_rerank_handles_items_without_content() -> None:
    scores = np.array([0.9, 0.8, 0.7])
    vecs = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 0.01]])
    assert dpp(scores, vecs, 3, 0.8).tolist()[:2] == [0, 1]  # no vector: unlike everything
    assert mmr(scores, vecs, 3, 0.8).tolist()[:2] == [0, 1]
    with pytest.raises(ValueError, match="diversity"):
        mmr(scores, vecs, 2, 1.5)


# items 1..6 with categories: 1 {A}, 2 {A, B}, 3 {B}, 4 {C}, 5 {A}, 6 none; A=1, B=2, C=3
BAGS = np.array([[0, 0], [1, 0], [1, 2], [2, 0], [3, 0], [1, 0], [0, 0]])
ITEMS = np.array([1, 2, 3, 4, 5, 6, 0])


def test_filters_seen_allow_list_and_excluded_categories() -> None:
    keep = filter_candidates(ITEMS, item_categories=BAGS, seen={4}, excluded_categories={2})
    assert ITEMS[keep].tolist() == [1, 5, 6]  # 2 and 3 carry B, 4 was seen, 0 is padding
    keep = filter_candidates(ITEMS, allow_list={2, 3, 9})
    assert ITEMS[keep].tolist() == [2, 3]
    with pytest.raises(ValueError, match="item_categories"):
        filter_candidates(ITEMS, max_per_category=1)


def test_max_per_category_keeps_the_best_of_each() -> None:
    keep = filter_candidates(ITEMS, item_categories=BAGS, max_per_category=1)
    assert ITEMS[keep].tolist() == [1, 3, 4, 6]  # 2 and 5 would be a second A
    keep = filter_candidates(ITEMS, item_categories=BAGS, max_per_category=2)
    assert ITEMS[keep].tolist() == [1, 2, 3, 4, 6]
    beyond = filter_candidates(np.array([1, 50, 51]), item_categories=BAGS, max_per_category=1)
    assert beyond.tolist() == [True, True, True]  # items newer than the table have no category


@pytest.mark.parametrize("seed", range(20))
def test_diversity_zero_fast_path_equals_the_greedy_loop(seed: int) -> None:
    """MMR at diversity 0 skips its loop; DPP's gain at diversity 0 is the relevance alone,
    picked by its greedy loop: the two must give the same lists, quotas and ties included."""
    rng = np.random.default_rng(seed)
    m = int(rng.integers(1, 40))
    scores = rng.integers(0, 6, m).astype(float)  # many ties
    vecs = rng.normal(size=(m, 4))
    groups = rng.integers(0, 3, m)
    quotas = rng.integers(0, 5, 3)
    k = int(rng.integers(1, m + 3))
    fast = mmr(scores, vecs, k, 0.0, groups=groups, quotas=quotas)
    assert fast.tolist() == dpp(scores, vecs, k, 0.0, groups=groups, quotas=quotas).tolist()
    assert mmr(scores, vecs, k, 0.0).tolist() == dpp(scores, vecs, k, 0.0).tolist()
