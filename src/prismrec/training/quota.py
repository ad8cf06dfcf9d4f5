"""Interest quotas for a served list: each of K interests gets slots in proportion to its weight.

Multi-interest retrievers (MIND, ComiRec) serve one list from K interest vectors by giving each
interest about ``weight * k`` of the ``k`` slots, so one dominant interest cannot crowd out the
others. Here the candidates are the best ``depth * k`` items by the model's final score (after
history filtering); each belongs to the interest that scores it highest; interest ``i`` keeps its
best ``quota[i]`` candidates and slots an interest cannot fill go to the best remaining
candidates. The chosen items keep their final-score order. (``retrieval.multi`` does the same
over ANN searches; this version works on dense score matrices, batched.)
"""

from __future__ import annotations

import numpy as np

__all__ = ["quota_rerank", "slot_quotas"]


def slot_quotas(weights: np.ndarray, k: int) -> np.ndarray:
    """(B, K) weights -> (B, K) slot counts summing to ``k`` (largest remainder)."""
    w = np.clip(np.asarray(weights, dtype=np.float64), 0.0, None)
    w = w / np.maximum(w.sum(1, keepdims=True), 1e-12)
    raw = w * k
    base = np.floor(raw + 1e-9).astype(np.int64)
    rest = k - base.sum(1)  # (B,)
    # hand the leftover slots to the largest remainders (ties: lower interest index)
    order = np.argsort(-(raw - base), axis=1, kind="stable")
    ranks = np.argsort(order, axis=1, kind="stable")
    return base + (ranks < rest[:, None])


def quota_rerank(
    scores: np.ndarray, owner_logits: np.ndarray, weights: np.ndarray, k: int, depth: int = 4
) -> np.ndarray:
    """Scores whose top ``k`` is the quota-merged list.

    Args:
        scores: (B, N+1) final scores; filtered items are ``-inf``.
        owner_logits: (B, K, N+1) per-interest scores; an item belongs to its argmax interest.
        weights: (B, K) interest weights.
        k: list length the quotas shape.
        depth: candidates per slot considered.

    Returns:
        (B, N+1) scores: the chosen ``k`` items lifted above the rest, in their original order.
    """
    B, n = scores.shape
    d = min(n, depth * k)
    pool = np.argpartition(-scores, d - 1, axis=1)[:, :d]  # (B, d)
    pool_s = np.take_along_axis(scores, pool, axis=1)
    order = np.argsort(-pool_s, axis=1, kind="stable")
    pool, pool_s = np.take_along_axis(pool, order, 1), np.take_along_axis(pool_s, order, 1)
    live = np.isfinite(pool_s)
    owner = np.take_along_axis(owner_logits, pool[:, None, :], axis=2).argmax(1)  # (B, d)
    K = owner_logits.shape[1]
    onehot = (owner[:, :, None] == np.arange(K)) & live[:, :, None]  # (B, d, K)
    rank_in_own = (np.cumsum(onehot, axis=1) - 1)[np.arange(B)[:, None], np.arange(d), owner]
    quota = slot_quotas(weights, k)
    chosen = live & (rank_in_own < np.take_along_axis(quota, owner, axis=1))
    # slots left (an interest short of candidates): the best remaining candidates
    left = k - chosen.sum(1, keepdims=True)
    extra = live & ~chosen & (np.cumsum(live & ~chosen, axis=1) <= left)
    chosen |= extra
    out = scores.astype(np.float64, copy=True)
    lift = np.abs(np.where(np.isfinite(scores), scores, 0.0)).max() * 2 + 1.0
    rows = np.repeat(np.arange(B), d)[chosen.ravel()]
    cols = pool.ravel()[chosen.ravel()]
    out[rows, cols] += lift
    return out
