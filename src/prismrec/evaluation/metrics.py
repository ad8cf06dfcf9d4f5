"""Top-K accuracy metrics as pure, vectorised functions.

Everything starts from a boolean ``hits`` matrix (users x K: is the item at rank r a target?) and
the number of targets per user, so one ranking pass serves every metric and every cut-off.
Definitions follow RecBole's documented formulas (binary relevance, full ranking).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "ACCURACY_METRICS",
    "accuracy_metrics",
    "hit_matrix",
    "hr",
    "map_at_k",
    "mrr",
    "ndcg",
    "precision",
    "recall",
    "topk_from_scores",
]

ACCURACY_METRICS = ("recall", "ndcg", "mrr", "hr", "precision", "map")


def hit_matrix(topk: np.ndarray, targets: Sequence[np.ndarray]) -> np.ndarray:
    """(n, K) bool: ``topk[u, r]`` is one of user ``u``'s targets."""
    n, k = topk.shape
    lengths = np.fromiter((len(t) for t in targets), dtype=np.int64, count=n)
    if lengths.sum() == 0:
        return np.zeros((n, k), dtype=bool)
    flat = np.concatenate([np.asarray(t, dtype=np.int64) for t in targets])
    owner = np.repeat(np.arange(n), lengths)
    # encode (user, item) pairs as one int64 key and test membership in one sorted search
    base = int(max(flat.max(initial=0), topk.max(initial=0))) + 1
    keys = np.sort(owner * base + flat)
    query = np.arange(n)[:, None] * base + topk
    pos = np.searchsorted(keys, query)
    pos = np.minimum(pos, len(keys) - 1)
    return (keys[pos] == query) & (topk >= 0)


def topk_from_scores(scores: np.ndarray, k: int) -> np.ndarray:
    """(n, k) item indices of the highest scores, best first; ``-1`` where no item is left.

    Ties are broken by the lower column index (the recommenders' own rule), so the result is
    deterministic. Columns scored ``-inf`` (masked: seen items, padding) never appear: their slots,
    and slots beyond the number of columns (K larger than the list), hold ``-1``.
    """
    n, m = scores.shape
    kk = min(k, m)
    out = np.full((n, k), -1, dtype=np.int64)
    if kk == 0 or n == 0:
        return out
    if np.isnan(scores).any():
        scores = np.where(np.isnan(scores), -np.inf, scores)
    # exact under ties: everything above the k-th value, then the lowest-index ties at it
    thr = -np.partition(-scores, kk - 1, axis=1)[:, kk - 1 : kk]  # (n, 1)
    above = scores > thr
    ties = scores == thr
    room = kk - above.sum(axis=1, keepdims=True)
    chosen = above | (ties & (np.cumsum(ties, axis=1) <= room))
    part = np.nonzero(chosen)[1].reshape(n, kk)  # row-major: kk columns per row
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    ids = np.take_along_axis(part, order, axis=1)
    ok = np.take_along_axis(part_scores, order, axis=1) > -np.inf
    out[:, :kk] = np.where(ok, ids, -1)
    return out


def _n_targets(n_targets: np.ndarray) -> np.ndarray:
    return np.maximum(np.asarray(n_targets, dtype=np.float64), 1.0)


def hr(hits: np.ndarray, k: int) -> np.ndarray:
    """1 if any target is in the top-k."""
    return np.asarray(hits[:, :k].any(axis=1), dtype=np.float64)


def recall(hits: np.ndarray, n_targets: np.ndarray, k: int) -> np.ndarray:
    """Share of the user's targets found in the top-k."""
    return hits[:, :k].sum(axis=1) / _n_targets(n_targets)


def precision(hits: np.ndarray, k: int) -> np.ndarray:
    """Share of the top-k that are targets (divides by k even when the list is shorter)."""
    return hits[:, :k].sum(axis=1) / float(k)


def mrr(hits: np.ndarray, k: int) -> np.ndarray:
    """Reciprocal rank of the first target in the top-k, 0 when none."""
    h = hits[:, :k]
    first = h.argmax(axis=1)
    return np.where(h.any(axis=1), 1.0 / (first + 1.0), 0.0)


def ndcg(hits: np.ndarray, n_targets: np.ndarray, k: int) -> np.ndarray:
    """Binary-relevance NDCG@k; the ideal list holds min(#targets, k) targets."""
    h = hits[:, :k].astype(np.float64)
    disc = 1.0 / np.log2(np.arange(2, h.shape[1] + 2))
    dcg = (h * disc).sum(axis=1)
    ideal_len = np.minimum(np.asarray(n_targets, dtype=np.int64), k)
    cum = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])
    idcg = cum[ideal_len]
    return np.where(idcg > 0, dcg / np.where(idcg > 0, idcg, 1.0), 0.0)


def map_at_k(hits: np.ndarray, n_targets: np.ndarray, k: int) -> np.ndarray:
    """Average precision at k, normalised by min(#targets, k) (RecBole's MAP)."""
    h = hits[:, :k].astype(np.float64)
    prec_at = np.cumsum(h, axis=1) / np.arange(1, h.shape[1] + 1)
    denom = np.maximum(np.minimum(np.asarray(n_targets, dtype=np.float64), k), 1.0)
    return (prec_at * h).sum(axis=1) / denom


def accuracy_metrics(
    hits: np.ndarray,
    n_targets: np.ndarray,
    ks: Sequence[int],
    metrics: Sequence[str] = ACCURACY_METRICS,
) -> dict[str, np.ndarray]:
    """Per-user arrays keyed like ``"ndcg@10"``."""
    out: dict[str, np.ndarray] = {}
    for k in ks:
        for m in metrics:
            if m == "recall":
                out[f"recall@{k}"] = recall(hits, n_targets, k)
            elif m == "ndcg":
                out[f"ndcg@{k}"] = ndcg(hits, n_targets, k)
            elif m == "mrr":
                out[f"mrr@{k}"] = mrr(hits, k)
            elif m == "hr":
                out[f"hr@{k}"] = hr(hits, k)
            elif m == "precision":
                out[f"precision@{k}"] = precision(hits, k)
            elif m == "map":
                out[f"map@{k}"] = map_at_k(hits, n_targets, k)
            else:
                raise ValueError(f"unknown metric {m!r}; expected one of {ACCURACY_METRICS}")
    return out
