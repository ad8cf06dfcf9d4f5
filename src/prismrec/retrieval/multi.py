"""Multi-interest retrieval: one search per interest vector, each item owned by one interest.

A user has K interest vectors with weights summing to 1. Each interest is searched on its own;
an item found by several interests belongs to the one under which it is likeliest. Steering for
one request: ``focus`` multiplies an interest's weight by ``focus_boost``; ``mute`` sets it to 0
*and* drops the items that interest owns, so muting removes that taste from the list rather
than only its weight. Scoring and any quota merge are the model's scorer's
(``retrieval.pipeline.Retriever`` with ``training.scorer``), never decided here.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from prismrec.retrieval.index import ItemIndex
from prismrec.training.logspace import log_sum_exp

__all__ = [
    "Candidates",
    "as_indices",
    "gather",
    "gather_found",
    "steer_weights",
]

Steer = int | Sequence[int] | None


@dataclass(frozen=True)
class Candidates:
    """Retrieved items, best score first.

    Attributes:
        items: (M,) item ids.
        scores: (M,) inner product of each item with the interest that retrieved it.
        interests: (M,) index of that interest.
        weights: (K,) interest weights after steering (sum 1).
        own: (K, M) each interest's own score of each candidate, when the scorer has them.
    """

    items: np.ndarray
    scores: np.ndarray
    interests: np.ndarray
    weights: np.ndarray
    own: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.items)

    def take(self, which: np.ndarray) -> Candidates:
        """The candidates at positions (or where a boolean mask is True), in that order."""
        own = None if self.own is None else self.own[:, which]
        return Candidates(
            self.items[which], self.scores[which], self.interests[which], self.weights, own
        )

    def per_interest(self) -> np.ndarray:
        """(K,) number of candidates of each interest."""
        return np.bincount(self.interests, minlength=len(self.weights))


def as_indices(which: Steer, n_interests: int, name: str) -> list[int]:
    """``focus``/``mute`` as a list of interest indices, checked against ``n_interests``."""
    if which is None:
        return []
    out = [int(which)] if isinstance(which, int | np.integer) else [int(i) for i in which]
    bad = [i for i in out if not 0 <= i < n_interests]
    if bad:
        raise ValueError(f"{name}={bad}: the user has interests 0..{n_interests - 1}")
    return out


def steer_weights(
    weights: np.ndarray, focus: Steer = None, mute: Steer = None, focus_boost: float = 4.0
) -> np.ndarray:
    """Interest weights for one request: focused ones times ``focus_boost``, muted ones 0.

    A focused weight is first raised to at least ``1 / K``. The result sums to 1: with four
    equal interests and the default boost, the focused one gets 4/7 of the slots.

    Raises:
        ValueError: an index is out of range, an interest is both focused and muted, or every
            interest is muted.
    """
    w = np.clip(np.asarray(weights, dtype=np.float64).reshape(-1), 0.0, None)
    k = len(w)
    up, down = as_indices(focus, k, "focus"), as_indices(mute, k, "mute")
    if set(up) & set(down):
        raise ValueError(f"interest(s) {sorted(set(up) & set(down))} both focused and muted")
    if len(set(down)) >= k:
        raise ValueError("every interest is muted; leave at least one")
    if w.sum() <= 0:
        w = np.ones(k)
    # a focused interest the model barely weighs still gets a real share
    w[up] = np.maximum(w[up], 1.0 / k) * focus_boost
    w[down] = 0.0
    if w.sum() <= 0:  # only zero-weight interests left: share the slots equally among them
        w = np.ones(k)
        w[down] = 0.0
    return w / w.sum()


def gather(
    index: ItemIndex,
    interests: np.ndarray,
    n_per_interest: int,
    exclude_ids: Collection[int] | None = None,
    muted: Sequence[int] = (),
    weights: np.ndarray | None = None,
) -> Candidates:
    """Every distinct item found by the interests, each owned by its likeliest interest.

    Ownership compares ``score - lse_k``, interest ``k``'s log-softmax with its normaliser
    estimated from the head it retrieved: an interest whose vector is longer does not own every
    item it scores well (the offline scorer does the same with the exact normaliser, see
    ``training.quota.interest_posteriors``). Weights play no part, so steering changes slots,
    not owners. Items owned by a muted interest are dropped. ``weights`` (the steered weights)
    are only carried along in the result.
    """
    vecs = np.asarray(interests, dtype=np.float32)
    excl = [exclude_ids] * len(vecs) if exclude_ids else None
    ids, scores = index.search(vecs, n_per_interest, excl)  # (K, n)
    return gather_found(ids, scores, muted, weights)


def gather_found(
    ids: np.ndarray,
    scores: np.ndarray,
    muted: Sequence[int] = (),
    weights: np.ndarray | None = None,
) -> Candidates:
    """:func:`gather` from the interests' search results: (K, n) ids (-1: none) and scores."""
    k_int = len(ids)
    owner = np.repeat(np.arange(k_int), ids.shape[1])
    head = np.where(ids >= 0, scores, -np.inf).astype(np.float64)  # (K, n)
    with np.errstate(divide="ignore"):  # an interest that found nothing: -inf
        lse = log_sum_exp(head, axis=1) if head.shape[1] else np.zeros(k_int)
    flat_ids, flat_scores = ids.ravel(), scores.ravel()
    ok = flat_ids >= 0
    flat_ids, flat_scores, owner = flat_ids[ok], flat_scores[ok], owner[ok]
    # an item found by several interests goes to the best log-likelihood (then lower index)
    order = np.lexsort((owner, -(flat_scores - lse[owner])))
    flat_ids, flat_scores, owner = flat_ids[order], flat_scores[order], owner[order]
    _, first = np.unique(flat_ids, return_index=True)
    keep = first[np.lexsort((owner[first], -flat_scores[first]))]  # best score first
    if len(muted):
        keep = keep[~np.isin(owner[keep], np.asarray(muted))]
    w = np.full(k_int, 1.0 / max(k_int, 1)) if weights is None else np.asarray(weights)
    return Candidates(
        flat_ids[keep].astype(np.int64),
        flat_scores[keep].astype(np.float32),
        owner[keep].astype(np.int64),
        w,
    )
