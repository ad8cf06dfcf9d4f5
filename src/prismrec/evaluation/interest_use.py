"""Do a user's interests shape what the user is shown? Measures of *use*, beside distinctness.

:mod:`prismrec.evaluation.interests` asks whether a user's interests differ; these ask whether
they are used. A model mixes R interest rows with weights ``w`` (B, R) that sum to 1 per user:
the first K rows are long-term interests and, in ``prism``, a last short-term row ("right now",
read from the latest events) follows. Per user:

* ``short_weight``: the weight of the short-term row (absent when the model has none);
* ``short_dominant``: 1 when ``short_weight`` > :data:`SHORT_DOMINANT`, else 0; its mean is the
  share of users whose list is, in effect, ranked by the short-term row alone;
* ``effective_interests``: ``exp(-sum_r w_r log w_r)`` over all R rows: 1 when one row carries
  the user, R when all rows weigh the same (``interest_effective_k`` is the same over the
  long-term rows only, renormalised);
* ``worst_jaccard@k``: the largest Jaccard overlap between the own top-k (history masked) of any
  two long-term rows (``interest_jaccard@k`` is the mean pair): two copies in four score 1;
* ``long_head_share@k``: the share of the user's long-term own top-k slots held by the *head*:
  the :data:`HEAD_SHARE` (1%) of the items found in all measured users' long-term lists that
  are found there most often. Every user has K * k slots, so the mean over users is the
  catalogue-level share of all long-term slots the head holds: ``HEAD_SHARE`` if every listed
  item were listed equally often, high when the lists lean on the same few items for
  everyone;
* ``long_hit_share@N``, where targets are known: of the targets in the recommended top N (the
  hits), the share owned by a long-term row. An item's owner is the row with the highest own
  score of it (``interest_scores``; for a mixture the log posterior ``log w_r + log softmax_r``,
  the rule that badges a served item with its interest). NaN for a user without a hit; pooled
  over all users' hits by :func:`pooled_long_hit_shares` (``long_hit_share_pooled@N``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from prismrec.evaluation.metrics import hit_matrix

__all__ = [
    "HEAD_SHARE",
    "SHORT_DOMINANT",
    "USE_METRICS",
    "InterestScorer",
    "effective_interests",
    "head_items",
    "head_shares",
    "hit_owners",
    "long_head_share",
    "long_hit_share",
    "long_hit_shares",
    "mean_over_pairs",
    "pair_jaccards",
    "pooled_long_hit_shares",
    "short_weight",
    "use_definitions",
    "use_measures",
    "worst_jaccard",
]

SHORT_DOMINANT = 0.8
"""A short-term weight above this leaves the long-term interests ~nothing of the ranking."""
HEAD_SHARE = 0.01
"""The head of ``long_head_share``: this share of the listed items (at least one)."""
USE_METRICS = (
    "short_weight",
    "short_dominant",
    "effective_interests",
    "worst_jaccard",
    "long_head_share",
    "long_hit_share",
    "long_hit_share_pooled",
)
_CHUNK_SCORES = 4_000_000  # per-interest score entries of one interest_scores call


@runtime_checkable
class InterestScorer(Protocol):
    """A model that scores every item by each of its interest rows."""

    def interest_scores(self, histories: Sequence[Any], users: Any = None) -> np.ndarray:
        """(B, R, N+1) each interest row's own score of every item."""
        ...


# ----- from the weights -------------------------------------------------------------------------
def _normalised(weights: np.ndarray) -> np.ndarray:
    w = np.clip(np.asarray(weights, dtype=np.float64), 0.0, None)
    return w / np.maximum(w.sum(1, keepdims=True), 1e-12)


def short_weight(weights: np.ndarray, n_long: int | None) -> np.ndarray | None:
    """(B,) the weight of the rows after the first ``n_long`` (the short-term row), or None
    when there are none (``n_long`` None: every row is long-term)."""
    w = _normalised(weights)
    if n_long is None or n_long >= w.shape[1]:
        return None
    return np.asarray(w[:, n_long:].sum(1))


def effective_interests(weights: np.ndarray) -> np.ndarray:
    """(B,) ``exp`` of the entropy of each user's weights over all rows (zeros add nothing)."""
    w = _normalised(weights)
    logs = np.log(np.where(w > 0, w, 1.0))
    return np.asarray(np.exp(-(w * logs).sum(1)))


# ----- from the long-term rows' own lists -------------------------------------------------------
def pair_jaccards(top: np.ndarray) -> np.ndarray:
    """(B, K(K-1)/2) the Jaccard overlap of every pair of rows' lists, from (B, K, k) items
    (each list without repeats; entries <= 0 are empty slots). A pair with an empty list (an
    interest the user does not have, see ``dynamic_interests``) is NaN."""
    B, K, _ = top.shape
    top = np.asarray(top, dtype=np.int64)
    valid = (top > 0).sum(2)  # (B, K)
    out = np.zeros((B, K * (K - 1) // 2))
    for p, (i, j) in enumerate(zip(*np.triu_indices(K, 1), strict=True)):
        both = np.sort(np.concatenate([top[:, i], top[:, j]], axis=1), axis=1)
        inter = ((both[:, 1:] == both[:, :-1]) & (both[:, 1:] > 0)).sum(1)
        union = valid[:, i] + valid[:, j] - inter
        out[:, p] = inter / np.maximum(union, 1)
        out[(valid[:, i] == 0) | (valid[:, j] == 0), p] = np.nan
    return out


def worst_jaccard(top: np.ndarray) -> np.ndarray:
    """(B,) the largest pairwise Jaccard overlap of each user's K lists (NaN when fewer than
    two lists are there)."""
    return _over_pairs(pair_jaccards(top), worst=True)


def mean_over_pairs(pairs: np.ndarray) -> np.ndarray:
    """(B,) the mean of each row's pairs that are not NaN (NaN for a row without any)."""
    return _over_pairs(pairs, worst=False)


def _over_pairs(pairs: np.ndarray, worst: bool) -> np.ndarray:
    n = (~np.isnan(pairs)).sum(1)
    out = np.full(len(pairs), np.nan)
    if pairs.shape[1] == 0:
        return out
    if worst:
        vals = np.where(np.isnan(pairs), -np.inf, pairs).max(1)
    else:
        vals = np.nansum(pairs, axis=1) / np.maximum(n, 1)
    out[n > 0] = vals[n > 0]
    return out


def head_items(lists: np.ndarray, share: float = HEAD_SHARE) -> np.ndarray:
    """The ``ceil(share * n)`` of the ``n`` distinct items of ``lists`` (any shape, entries <= 0
    ignored) found there most often, most frequent first, ties to the lower index."""
    flat = np.asarray(lists, dtype=np.int64).ravel()
    counts = np.bincount(flat[flat > 0], minlength=1)
    n_head = max(1, math.ceil(share * int((counts > 0).sum())))
    order = np.lexsort((np.arange(len(counts)), -counts))[:n_head]
    return order[counts[order] > 0]


def long_head_share(lists: np.ndarray, head: np.ndarray) -> np.ndarray:
    """(B,) the share of each user's list slots (B, K, k) that hold a ``head`` item (NaN for a
    user without a listed item)."""
    lists = np.asarray(lists, dtype=np.int64).reshape(len(lists), -1)
    valid = lists > 0
    held = (np.isin(lists, head) & valid).sum(1)
    n = valid.sum(1)
    return np.divide(held, n, out=np.full(len(lists), np.nan), where=n > 0)


def head_shares(top: np.ndarray) -> dict[str, np.ndarray]:
    """``{"long_head_share@k": (B,)}`` from every user's long-term lists (B, K, k) at once
    (the head is read from all of them)."""
    return {f"long_head_share@{top.shape[2]}": long_head_share(top, head_items(top))}


def use_measures(weights: np.ndarray, top: np.ndarray, n_long: int | None) -> dict[str, np.ndarray]:
    """Per-user ``short_weight`` (with a short-term row), ``short_dominant``,
    ``effective_interests`` and ``worst_jaccard@k`` from (B, R) weights and (B, R, k) own lists.

    ``long_head_share@k`` needs every user's lists at once: :func:`head_shares`.
    """
    n = top.shape[1] if n_long is None else n_long
    out: dict[str, np.ndarray] = {}
    short = short_weight(weights, n_long)
    if short is not None:
        out["short_weight"] = short
        out["short_dominant"] = (short > SHORT_DOMINANT).astype(np.float64)
    out["effective_interests"] = effective_interests(weights)
    out[f"worst_jaccard@{top.shape[2]}"] = worst_jaccard(top[:, :n])
    return out


# ----- which interest a recommended hit came from -----------------------------------------------
def hit_owners(own_scores: np.ndarray, lists: np.ndarray) -> np.ndarray:
    """(B, N) the row (0..R-1) with the highest own score of each listed item; -1 for an empty
    slot (``lists`` entry < 0). ``own_scores`` (B, R, M) are indexed by item."""
    lists = np.asarray(lists, dtype=np.int64)
    cols = np.clip(lists, 0, None)[:, None, :].repeat(own_scores.shape[1], axis=1)
    owner = np.take_along_axis(np.asarray(own_scores), cols, axis=2).argmax(1)
    return np.where(lists >= 0, owner, -1)


def long_hit_share(owners: np.ndarray, hits: np.ndarray, n_long: int) -> np.ndarray:
    """(B,) of each user's hits (``hits`` (B, N) bool), the share whose owner is one of the
    first ``n_long`` rows; NaN for a user without a hit."""
    n_hits = hits.sum(1)
    long = (hits & (owners >= 0) & (owners < n_long)).sum(1)
    return np.divide(long, n_hits, out=np.full(len(hits), np.nan), where=n_hits > 0)


def long_hit_shares(
    model: InterestScorer,
    users: np.ndarray,
    histories: Sequence[Any],
    lists: np.ndarray,
    targets: Sequence[np.ndarray],
    n_long: int,
    ks: Sequence[int] | None = None,
) -> dict[str, np.ndarray]:
    """Per-user ``long_hit_share@N`` for each N of ``ks`` (None: the lists' length).

    ``lists`` (B, >= max N) are the recommended items (``-1``: empty). The model scores only the
    users with a hit, in chunks.
    """
    lists = np.asarray(lists, dtype=np.int64)
    hits = hit_matrix(lists, targets)
    owners = np.full(lists.shape, -1, dtype=np.int64)
    rows = np.flatnonzero(hits.any(1))
    step = 64
    for lo in range(0, len(rows), step):
        part = rows[lo : lo + step]
        own = model.interest_scores([histories[int(i)] for i in part], np.asarray(users)[part])
        owners[part] = hit_owners(own, lists[part])
        step = max(1, _CHUNK_SCORES // max(1, own.shape[1] * own.shape[2]))
    return {
        f"long_hit_share@{n}": long_hit_share(owners[:, :n], hits[:, :n], n_long)
        for n in (ks or [lists.shape[1]])
    }


def pooled_long_hit_shares(
    per_user: Mapping[str, np.ndarray], n_hits: Mapping[int, np.ndarray] | None = None
) -> dict[str, float]:
    """``long_hit_share_pooled@N``: the long-term share of all users' hits together.

    Each ``long_hit_share@N`` array of ``per_user`` is weighted by the users' hits at N:
    ``n_hits[N]`` when given, else read from ``precision@N`` (hits / N) in ``per_user``.
    """
    out: dict[str, float] = {}
    for key, share in per_user.items():
        if not key.startswith("long_hit_share@"):
            continue
        n = int(key.split("@")[1])
        if n_hits is not None and n in n_hits:
            count = np.asarray(n_hits[n], dtype=np.float64)
        elif f"precision@{n}" in per_user:
            count = np.rint(np.asarray(per_user[f"precision@{n}"], dtype=np.float64) * n)
        else:
            continue
        ok = ~np.isnan(share) & (count > 0)
        total = count[ok].sum()
        out[f"long_hit_share_pooled@{n}"] = (
            float((share[ok] * count[ok]).sum() / total) if total else float("nan")
        )
    return out


# ----- what each key means ----------------------------------------------------------------------
def use_definitions(k: int, short: bool = True, hits: bool = False) -> dict[str, str]:
    """One line per use measure (``short``: the model has a short-term row; ``hits``: targets
    were known, so the hit shares were measured)."""
    out = {}
    if short:
        out["short_weight"] = (
            "mixture weight of the short-term ('right now') interest row; the long-term "
            "interests share the rest"
        )
        out["short_dominant"] = (
            f"1 when short_weight > {SHORT_DOMINANT}, else 0 (mean: share of such users)"
        )
    out["effective_interests"] = (
        "exp of the entropy of the weights over all interest rows, short-term included (1: one "
        "row carries the user; R: all rows weigh the same)"
    )
    out[f"worst_jaccard@{k}"] = (
        f"largest Jaccard overlap of the own top-{k} of any two long-term interests, history "
        "masked (1: two interests list the same items)"
    )
    out[f"long_head_share@{k}"] = (
        f"share of the long-term interests' own top-{k} slots held by the {HEAD_SHARE:.0%} of "
        "the items in all users' long-term lists found there most often (per user; the mean "
        f"is the share of all slots; {HEAD_SHARE:.2f} if every listed item were listed "
        "equally often)"
    )
    if hits:
        out["long_hit_share"] = (
            "of the targets in the recommended top N, the share owned by a long-term interest "
            "(owner: the interest whose own score of the item is highest, as the service "
            "badges items); users without a hit are left out; long_hit_share_pooled: over all "
            "users' hits together"
        )
    return out
