"""Diversity re-ranking (MMR, DPP) and the candidate filters of a request.

Both re-rankers pick ``k`` of ``M`` candidates greedily and return their positions in pick
order. ``diversity`` in [0, 1] sets the strength: 0 returns the plain score order, 1 ignores
the scores beyond tie-breaking. Scores are min-max scaled to [0, 1] first so the strength means
the same for every model; similarity is the cosine of the candidates' (content) vectors, and an
all-zero vector (an item without content) counts as unlike every other item.

``groups``/``quotas`` optionally cap how many items each group (the interest that retrieved the
item) may take, so the re-ranked list keeps the interest-weight quotas of the merge.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

import numpy as np

__all__ = ["RerankMethod", "dpp", "filter_candidates", "mmr", "rerank"]

RerankMethod = Literal["mmr", "dpp"]


def _relevance(scores: np.ndarray) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    lo, hi = (s.min(), s.max()) if len(s) else (0.0, 0.0)
    return (s - lo) / (hi - lo) if hi > lo else np.ones(len(s))


def _unit(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit rows (zero rows stay zero) and a mask of the rows that had a vector."""
    v = np.asarray(vectors, dtype=np.float64)
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    has = norm[:, 0] > 0
    return np.divide(v, norm, out=np.zeros(v.shape), where=norm > 0), has


class _Slots:
    """Which candidates may still be picked: not yet picked, and their group below quota."""

    def __init__(self, m: int, groups: np.ndarray | None, quotas: np.ndarray | None) -> None:
        self.free = np.ones(m, bool)
        self.groups = None if groups is None or quotas is None else np.asarray(groups)
        self.left = None if quotas is None else np.asarray(quotas, dtype=np.int64).copy()

    def allowed(self) -> np.ndarray:
        if self.groups is None or self.left is None:
            return self.free
        ok = self.free & (self.left[self.groups] > 0)
        return ok if ok.any() else self.free  # quotas exhausted: fill from what is left

    def take(self, j: int) -> None:
        self.free[j] = False
        if self.groups is not None and self.left is not None:
            self.left[self.groups[j]] -= 1


def _pick(objective: np.ndarray, rel: np.ndarray, allowed: np.ndarray) -> int:
    """The allowed position with the best objective; ties by relevance, then position."""
    cand = np.flatnonzero(allowed)
    return int(cand[np.lexsort((cand, -rel[cand], -objective[cand]))[0]])


def _check(scores: np.ndarray, vectors: np.ndarray, diversity: float) -> None:
    if not 0.0 <= diversity <= 1.0:
        raise ValueError(f"diversity must be in [0, 1], got {diversity}")
    if len(vectors) != len(scores):
        raise ValueError(f"{len(scores)} scores but {len(vectors)} vectors")


def mmr(
    candidate_scores: np.ndarray,
    candidate_vectors: np.ndarray,
    k: int,
    diversity: float,
    *,
    groups: np.ndarray | None = None,
    quotas: np.ndarray | None = None,
) -> np.ndarray:
    """Maximal marginal relevance: ``(1 - d) * relevance - d * max cosine to the picked``.

    Returns:
        (min(k, M),) positions into the candidates, in pick order.
    """
    _check(candidate_scores, candidate_vectors, diversity)
    m = len(candidate_scores)
    k = min(k, m)
    rel = _relevance(candidate_scores)
    if diversity == 0.0:
        return _by_score(rel, k, groups, quotas)
    return _mmr_loop(rel, candidate_vectors, k, diversity, groups, quotas)


def _by_score(
    rel: np.ndarray, k: int, groups: np.ndarray | None, quotas: np.ndarray | None
) -> np.ndarray:
    """What the greedy loop picks at diversity 0, without the loop: best score first within
    each group's quota, then (quotas exhausted) the best of the rest."""
    order = np.lexsort((np.arange(len(rel)), -rel))
    if groups is None or quotas is None:
        return order[:k].astype(np.int64)
    g = np.asarray(groups)[order]
    rank = np.zeros(len(order), np.int64)
    for grp in np.unique(g):
        mine = g == grp
        rank[mine] = np.arange(int(mine.sum()))
    inside = rank < np.asarray(quotas, np.int64)[g]
    return np.concatenate([order[inside], order[~inside]])[:k].astype(np.int64)


def _mmr_loop(
    rel: np.ndarray,
    candidate_vectors: np.ndarray,
    k: int,
    diversity: float,
    groups: np.ndarray | None,
    quotas: np.ndarray | None,
) -> np.ndarray:
    m = len(rel)
    unit, _ = _unit(candidate_vectors)
    closest = np.full(m, -np.inf)
    slots, out = _Slots(m, groups, quotas), []
    for _ in range(k):
        penalty = np.where(np.isinf(closest), 0.0, closest)
        j = _pick((1 - diversity) * rel - diversity * penalty, rel, slots.allowed())
        slots.take(j)
        out.append(j)
        closest = np.maximum(closest, unit @ unit[j])
    return np.asarray(out, dtype=np.int64)


def dpp(
    candidate_scores: np.ndarray,
    candidate_vectors: np.ndarray,
    k: int,
    diversity: float,
    *,
    groups: np.ndarray | None = None,
    quotas: np.ndarray | None = None,
    jitter: float = 1e-2,
) -> np.ndarray:
    """Greedy MAP inference of a DPP (Chen et al., NeurIPS 2018, incremental Cholesky).

    Each step adds the item maximising ``(1 - d) * relevance + d * log(r) / 2`` where ``r`` is
    its squared distance from the span of the picked items' unit vectors (plus ``jitter``), the
    log-determinant gain of the similarity kernel. ``d = 0`` is the plain score order.

    Returns:
        (min(k, M),) positions into the candidates, in pick order.
    """
    _check(candidate_scores, candidate_vectors, diversity)
    m = len(candidate_scores)
    k = min(k, m)
    rel = _relevance(candidate_scores)
    if diversity == 0.0:  # the gain is the relevance alone: the same picks as MMR's
        return _by_score(rel, k, groups, quotas)
    unit, has = _unit(candidate_vectors)
    resid = np.full(m, 1.0 + jitter)  # kernel S = U U^T (+ identity rows for no-content items)
    chol = np.zeros((k, m))
    slots, out = _Slots(m, groups, quotas), []
    for t in range(k):
        gain = (1 - diversity) * rel + diversity * 0.5 * np.log(np.maximum(resid, 1e-12))
        j = _pick(gain, rel, slots.allowed())
        slots.take(j)
        out.append(j)
        row = unit @ unit[j] if has[j] else np.zeros(m)
        row[j] = 1.0 + jitter
        e = (row - chol[:t, j] @ chol[:t]) / np.sqrt(max(resid[j], 1e-12))
        chol[t] = e
        resid = resid - e**2
    return np.asarray(out, dtype=np.int64)


def rerank(
    method: RerankMethod,
    candidate_scores: np.ndarray,
    candidate_vectors: np.ndarray,
    k: int,
    diversity: float,
    *,
    groups: np.ndarray | None = None,
    quotas: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`mmr` or :func:`dpp` by name."""
    if method == "mmr":
        return mmr(candidate_scores, candidate_vectors, k, diversity, groups=groups, quotas=quotas)
    if method == "dpp":
        return dpp(candidate_scores, candidate_vectors, k, diversity, groups=groups, quotas=quotas)
    raise ValueError(f"unknown re-ranking method {method!r}; use 'mmr' or 'dpp'")


def _bags(items: np.ndarray, item_categories: np.ndarray) -> np.ndarray:
    """(M, L) category codes of the items; items beyond the table have none."""
    inside = (items >= 0) & (items < len(item_categories))
    bags = item_categories[np.where(inside, items, 0)]
    return np.where(inside[:, None], bags, 0)


def filter_candidates(
    items: np.ndarray,
    *,
    item_categories: np.ndarray | None = None,
    seen: Collection[int] | None = None,
    excluded_categories: Collection[int] | None = None,
    allow_list: Collection[int] | None = None,
    max_per_category: int | None = None,
) -> np.ndarray:
    """(M,) mask of the candidates to keep, for candidates ordered best first.

    Args:
        items: candidate item ids, best first (``max_per_category`` keeps the best ones).
        item_categories: (N+1, L) category codes per item (0 = padding), as in
            :func:`prismrec.evaluation.beyond.category_bags`; needed by the category filters.
            Items added to the index after the table was built have no categories.
        seen: items the user already has.
        excluded_categories: codes of categories whose items are dropped.
        allow_list: when given, only these items are kept.
        max_per_category: at most this many kept items share any one category.
    """
    arr = np.asarray(items, dtype=np.int64)
    keep = arr > 0
    if seen:
        keep &= ~np.isin(arr, np.fromiter(seen, np.int64, count=len(seen)))
    if allow_list is not None:
        keep &= np.isin(arr, np.fromiter(allow_list, np.int64, count=len(allow_list)))
    needs_cats = bool(excluded_categories) or max_per_category is not None
    if not needs_cats:
        return keep
    if item_categories is None:
        raise ValueError("category filters need item_categories")
    bags = _bags(arr, np.asarray(item_categories))
    if excluded_categories:
        codes = np.fromiter(excluded_categories, np.int64, count=len(excluded_categories))
        keep &= ~(np.isin(bags, codes) & (bags > 0)).any(axis=1)
    if max_per_category is not None:
        counts: dict[int, int] = {}
        for pos in np.flatnonzero(keep):
            cats = [int(c) for c in bags[pos] if c > 0]
            if any(counts.get(c, 0) >= max_per_category for c in cats):
                keep[pos] = False
                continue
            for c in cats:
                counts[c] = counts.get(c, 0) + 1
    return keep
