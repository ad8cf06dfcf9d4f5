"""Interest quotas for a served list: each of K interests gets slots in proportion to its weight.

Multi-interest retrievers (MIND, ComiRec) serve one list from K interest vectors by giving each
interest about ``weight * k`` of the ``k`` slots, so one dominant interest cannot crowd out the
others. Interest ``i`` fills its ``floor(w_i * k)`` slots with its own best items (by its own
score, ``own_scores[:, i]``: for prism the interest's posterior plus the co-occurrence prior of
the history it attends to), heaviest interest first, each skipping what a heavier one took; the
remaining slots (and those an interest cannot fill) go to the best remaining items by the final
score, and the chosen items keep their final-score order. ``depth`` limits the items an interest
may pick from to the overall best ``depth * k`` (``None``: every item). This works on dense
score matrices, batched; the service's ``Retriever`` runs the same :func:`draft` over its
candidates through the model's ``training.scorer.QuotaRule``, the one quota rule there is.
"""

from __future__ import annotations

import numpy as np

from prismrec.training.logspace import log_sum_exp, log_weights

__all__ = ["draft", "guaranteed_slots", "interest_posteriors", "quota_rerank", "slot_weights"]


def slot_weights(weights: np.ndarray, n_long: int, short_share: float) -> np.ndarray:
    """The shares of a list the interests' quotas follow.

    ``weights`` (B, R) are a mixture's weights; with a short-term row (R = n_long + 1) that row
    is the current state, which the mixture usually weighs most, so its slots are fixed at
    ``short_share`` of the list and the long-term interests share the rest by their weights
    relative to each other: every facet of the user keeps a place in the list. Without one
    (R = n_long) the weights are returned as they are.
    """
    w = np.clip(np.asarray(weights, dtype=np.float64), 0.0, None)
    if w.shape[1] <= n_long:
        return w
    long = w[:, :n_long] / np.maximum(w[:, :n_long].sum(1, keepdims=True), 1e-12)
    short = np.full((len(w), w.shape[1] - n_long), short_share / (w.shape[1] - n_long))
    return np.concatenate([(1.0 - short_share) * long, short], axis=1)


def guaranteed_slots(weights: np.ndarray, k: int, temperature: float = 1.0) -> np.ndarray:
    """(B, K) weights -> (B, K) slots each interest is sure of: ``floor(w * k)``.

    The rounded-down shares leave the remaining slots to the best items overall, so a short list
    is the plain top list (``k = 1``: the single best item, whichever interest owns it) and a
    long one follows the weights. ``temperature`` > 1 flattens the weights first (``w ** (1/T)``,
    renormalised): minor interests get more of the list.
    """
    w = np.clip(np.asarray(weights, dtype=np.float64), 0.0, None) ** (1.0 / temperature)
    w = w / np.maximum(w.sum(1, keepdims=True), 1e-12)
    return np.floor(w * k + 1e-9).astype(np.int64)


def interest_posteriors(logits: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``log w_k + log softmax_k(item)``: which interest of a mixture most likely gave each item.

    logits (B, K, N+1) per-interest item logits (column 0 is padding), weights (B, K) ->
    (B, K, N+1) unnormalised log posteriors. Unlike raw logits, an interest whose vector has a
    larger norm does not own every item.
    """
    dtype = np.result_type(logits.dtype, np.float32)
    lse = log_sum_exp(logits[:, :, 1:], axis=2).astype(dtype, copy=False)
    return logits - (lse - log_weights(weights, dtype))[:, :, None]


def _top_sorted(s: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``m`` best columns per row, best first: (B, m) indices and scores."""
    m = min(m, s.shape[1])
    idx = np.argpartition(-s, m - 1, axis=1)[:, :m]
    val = np.take_along_axis(s, idx, axis=1)
    order = np.argsort(-val, axis=1, kind="stable")
    return np.take_along_axis(idx, order, 1), np.take_along_axis(val, order, 1)


def draft(
    scores: np.ndarray,
    own_scores: np.ndarray,
    weights: np.ndarray,
    k: int,
    depth: int | None = None,
    temperature: float = 1.0,
) -> np.ndarray:
    """(B, N) which interest drafted each item into its guaranteed slots (-1: none).

    Interests pick in turn, heaviest first: interest ``i`` takes its ``floor(w_i * k)`` best
    live items by its own score among those no heavier interest took. ``scores`` (B, N) marks
    the live items (finite) and, with ``depth``, the overall best ``depth * k`` they pick from.
    """
    B, n = scores.shape
    live = np.isfinite(scores)
    if depth is not None and depth * k < n:
        pool, _ = _top_sorted(np.where(live, scores, -np.inf), depth * k)
        in_pool = np.zeros_like(live)
        np.put_along_axis(in_pool, pool, True, axis=1)
        live &= in_pool
    quota = guaranteed_slots(weights, k, temperature)  # (B, K)
    drafted = np.full((B, n), -1, np.int64)
    rows = np.arange(B)[:, None]
    # heaviest interest first (per row), so a minor interest takes its next best, not the reverse
    order = np.argsort(-np.asarray(weights), axis=1, kind="stable")
    for rank in range(own_scores.shape[1]):
        j = order[:, rank]  # (B,)
        want = quota[np.arange(B), j][:, None]  # (B, 1)
        m = int(want.max())
        if m == 0:
            continue
        own = own_scores[np.arange(B), j]  # (B, N)
        idx, val = _top_sorted(np.where(live & (drafted < 0), own, -np.inf), m)
        take = np.isfinite(val) & (np.arange(idx.shape[1]) < want)
        r = np.broadcast_to(rows, idx.shape)[take]
        drafted[r, idx[take]] = np.broadcast_to(j[:, None], idx.shape)[take]
    return drafted


def quota_rerank(
    scores: np.ndarray,
    own_scores: np.ndarray,
    weights: np.ndarray,
    k: int,
    depth: int | None = 4,
    temperature: float = 1.0,
) -> np.ndarray:
    """Scores whose top ``k`` is the quota-merged list.

    Args:
        scores: (B, N+1) final scores; filtered items are ``-inf``.
        own_scores: (B, K, N+1) each interest's own scores, which pick its slots.
        weights: (B, K) interest weights.
        k: list length the quotas shape.
        depth: an interest picks among the overall best ``depth * k`` items (None: all).
        temperature: flattens the weights the slots follow (see :func:`guaranteed_slots`).

    Returns:
        (B, N+1) scores: the chosen ``k`` items lifted above the rest, in their original order.
    """
    B = scores.shape[0]
    chosen = draft(scores, own_scores, weights, k, depth, temperature) >= 0
    live = np.isfinite(scores)
    rows = np.arange(B)[:, None]
    # slots left (an interest short of candidates): the best remaining items
    left = k - chosen.sum(1, keepdims=True)
    idx, val = _top_sorted(np.where(live & ~chosen, scores, -np.inf), k)
    take = np.isfinite(val) & (np.arange(idx.shape[1]) < left)
    chosen[np.broadcast_to(rows, idx.shape)[take], idx[take]] = True
    out = scores.astype(np.float64, copy=True)
    lift = np.abs(np.where(np.isfinite(scores), scores, 0.0)).max() * 2 + 1.0
    out[chosen] += lift
    return out
