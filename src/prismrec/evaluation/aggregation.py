"""ComiRec's λ-controlled category aggregation: a list of N built greedily from candidates.

ComiRec (Cen et al., KDD 2020, section "Aggregation Module") merges the candidates its K
interests retrieve (each item scored by its best interest) into one list of N by adding, at each
step, the candidate that maximises ``f(u, i) + λ · Σ_{j ∈ S} g(i, j)``, where ``S`` is what was
picked so far and ``g(i, j) = 1`` when ``i`` and ``j`` are in different categories. λ = 0 is the
plain top N; a larger λ gives lists spread over more categories.

Two choices make λ mean the same for every model and every catalogue:

* ``f`` is each user's candidate scores standardised over that user's candidates (mean 0,
  standard deviation 1), so λ is in standard deviations of the user's own scores per unlike
  item picked before. ComiRec adds λ to raw inner products, whose scale depends on the model;
  prismrec's scores may be z-scores, log-probabilities, counts or similarity sums.
* ``g(i, j) = 1 - cos`` of the two items' category sets
  (:func:`~prismrec.evaluation.beyond.category_similarity`, what ``diversity@N`` averages), so
  with one category per item it is ComiRec's ``δ(CATE(i) ≠ CATE(j))``, and with several the
  greedy gain is the gain of ``diversity@N``'s pair sum. An item without a category adds 0.

Lives in :mod:`prismrec.evaluation` (numpy only) so that both the evaluation protocol and,
above it, retrieval and serving can call the one rule.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from prismrec.errors import ConfigError
from prismrec.evaluation.beyond import category_similarity

__all__ = [
    "AGGREGATION_DEFINITION",
    "POOL_FACTOR",
    "aggregation_record",
    "category_aggregate",
    "check_category_lambda",
]

POOL_FACTOR = 4  # candidates per list slot: ComiRec re-ranks the union of K x N, K = 4
AGGREGATION_DEFINITION = (
    "ComiRec's category aggregation: each list of N built greedily from the model's top "
    f"{POOL_FACTOR}N, adding the item maximising z(score) + category_lambda * sum over the "
    "picked items of (1 - cosine of the category sets); z: the user's candidate scores "
    "standardised"
)
_CHUNK_ELEMENTS = 8_000_000  # bound on one chunk's (users, M, M, L, L) category comparison


def check_category_lambda(value: float, categories: np.ndarray | None) -> float:
    """``value`` as a float when it is a usable λ.

    Raises:
        ConfigError: λ negative or not finite, or no item categories to aggregate by.
    """
    lam = float(value)
    if not math.isfinite(lam) or lam < 0:
        raise ConfigError(f"category_lambda must be a number >= 0 (got {value})")
    if categories is None:
        raise ConfigError(
            f"category_lambda={value} needs item categories, and this dataset's items have "
            "none: give the items a categorical or multi-valued field (e.g. 'category' or "
            "'genres') when preparing the data"
        )
    return lam


def aggregation_record(category_lambda: float, k: int) -> dict[str, Any]:
    """What the protocol records of an aggregated evaluation (lists of up to ``k``)."""
    return {"category_lambda": float(category_lambda), "aggregation_pool": POOL_FACTOR * k}


def category_aggregate(
    ids: np.ndarray,
    scores: np.ndarray,
    categories: np.ndarray,
    k: int,
    category_lambda: float,
    *,
    positions: bool = False,
) -> np.ndarray:
    """ComiRec's greedy aggregation of each user's candidates, for many users at once.

    Args:
        ids: (n, M) candidate item rows per user, in any order; an item may appear more than
            once (found by several interests: its best score counts, the max merge). Rows
            ``<= 0`` and non-finite scores are empty slots.
        scores: (n, M) the candidates' scores, higher is better, any scale.
        categories: (N+1, L) category codes per item row, 0 = padding
            (:func:`~prismrec.evaluation.beyond.category_bags`); rows beyond it have none.
        k: list length N.
        category_lambda: λ >= 0, in standard deviations of the user's candidate scores.
        positions: return positions into each user's candidates instead of item rows (to
            carry along what else is known of a candidate: its score, its interest ...).

    Returns:
        (n, k) item rows (or positions) in pick order, ``-1`` where fewer than ``k`` distinct
        candidates were given. Ties go to the higher score, then the earlier position, so
        λ = 0 gives the candidates sorted by score.
    """
    ids = np.asarray(ids, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    if ids.shape != scores.shape or ids.ndim != 2:
        raise ValueError(f"ids {ids.shape} and scores {scores.shape} must be one (n, M) shape")
    order = np.argsort(-np.where(np.isfinite(scores), scores, -np.inf), axis=1, kind="stable")
    ids_s = np.take_along_axis(ids, order, axis=1)
    z = _standardised(np.take_along_axis(scores, order, axis=1), _first_seen(ids_s))
    cats = np.asarray(categories, dtype=np.int64)
    out = np.full((len(ids), k), -1, dtype=np.int64)
    m, width = ids.shape[1], max(cats.shape[1], 1)
    step = max(1, _CHUNK_ELEMENTS // max(m * m * width * width, 1))
    for s in range(0, len(ids), step):
        dist = _category_distance(ids_s[s : s + step], cats)
        pos = _greedy(z[s : s + step], dist, k, float(category_lambda))
        got = np.take_along_axis(order[s : s + step], np.clip(pos, 0, None), axis=1)
        out[s : s + step] = np.where(pos >= 0, got, -1)
    if positions:
        return out
    return np.where(out >= 0, np.take_along_axis(ids, np.clip(out, 0, None), axis=1), -1)


def _first_seen(ids: np.ndarray) -> np.ndarray:
    """(n, M) mask of the usable slots: a real item at its first (best) position in the row."""
    cols = np.broadcast_to(np.arange(ids.shape[1]), ids.shape)
    by_item = np.lexsort((cols, ids), axis=1)
    sorted_ids = np.take_along_axis(ids, by_item, axis=1)
    first = np.ones(ids.shape, dtype=bool)
    first[:, 1:] = sorted_ids[:, 1:] != sorted_ids[:, :-1]
    keep = np.zeros(ids.shape, dtype=bool)
    np.put_along_axis(keep, by_item, first, axis=1)
    return keep & (ids > 0)


def _standardised(scores: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """Scores standardised per row over the usable finite slots; ``-inf`` elsewhere; a row
    whose scores are all equal gets 0."""
    ok = usable & np.isfinite(scores)
    n = ok.sum(axis=1, keepdims=True)
    x = np.where(ok, scores, 0.0)
    mean = x.sum(axis=1, keepdims=True) / np.maximum(n, 1)
    sd = np.sqrt(np.where(ok, (x - mean) ** 2, 0.0).sum(axis=1, keepdims=True) / np.maximum(n, 1))
    z = np.divide(x - mean, sd, out=np.zeros_like(x), where=sd > 0)
    return np.where(ok, z, -np.inf)


def _category_distance(ids: np.ndarray, categories: np.ndarray) -> np.ndarray:
    """(B, M, M) ``g``: 1 - cosine of the category sets; 0 when either item has none."""
    inside = (ids > 0) & (ids < len(categories))
    bags = np.where(inside[:, :, None], categories[np.where(inside, ids, 0)], 0)
    has = np.asarray((bags > 0).any(axis=2))
    both = has[:, :, None] & has[:, None, :]
    return np.where(both, 1.0 - category_similarity(bags), 0.0)


def _greedy(z: np.ndarray, dist: np.ndarray, k: int, lam: float) -> np.ndarray:
    """(B, k) positions picked greedily by ``z + lam * (distance to the picked)``; ``-1`` once
    a row has no candidate left. Rows are sorted by score, so ``argmax`` breaks ties by it."""
    rows = np.arange(len(z))
    free = np.isfinite(z)
    gain = np.zeros(z.shape)
    out = np.full((len(z), k), -1, dtype=np.int64)
    for t in range(min(k, z.shape[1])):
        j = np.where(free, z + lam * gain, -np.inf).argmax(axis=1)
        ok = free[rows, j]
        if not ok.any():
            break
        out[ok, t] = j[ok]
        free[rows[ok], j[ok]] = False
        gain += dist[rows, j] * ok[:, None]
    return out
