"""Are a user's K interests distinct facets or copies of each other?

Per user, from the K interest vectors (K, D), their weights (K,) and each interest's own top items
(its inner-product ranking over the catalogue, history masked):

* ``interest_cosine``: mean pairwise cosine of the K vectors (1: copies);
* ``interest_jaccard@k``: mean pairwise Jaccard overlap of the interests' own top-k (1: the same
  items);
* ``interest_effective_k``: ``exp`` of the weights' entropy (1: one interest carries the user;
  K: all weigh the same);
* ``interest_label_distinct``: 1 when the interests' labels (their top categories, the rule
  :func:`label_interests` that the service also uses) are pairwise different as sets of
  categories (the same three in another order count as the same label), else 0.

A label is the categories that set an interest's nearest items apart from the user's other
interests and from the catalogue (:func:`label_interests`). Whether the interests are *used*
(the short-term row's weight, hits owned by long-term rows ...) is measured beside these by
:mod:`prismrec.evaluation.interest_use`; :func:`interest_measures` reports both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from prismrec.evaluation.interest_labels import (
    LEAD_SHARE,
    category_base_rates,
    interest_labels_of,
    label_from_items,
    label_interests,
)
from prismrec.evaluation.interest_use import (
    USE_METRICS,
    InterestScorer,
    effective_interests,
    head_shares,
    long_hit_shares,
    mean_over_pairs,
    pair_jaccards,
    use_definitions,
    use_measures,
)
from prismrec.models.interests import Interests, held
from prismrec.progress import Tracker

__all__ = [
    "INTEREST_K",
    "INTEREST_METRICS",
    "LEAD_SHARE",
    "InterestModel",
    "InterestSnapshot",
    "category_base_rates",
    "interest_definitions",
    "interest_distinctness",
    "interest_labels_of",
    "interest_means",
    "interest_measures",
    "interest_snapshot",
    "is_interest_metric",
    "label_from_items",
    "label_interests",
    "n_interests",
    "own_top_items",
]

INTEREST_METRICS = (
    "interest_cosine",
    "interest_jaccard",
    "interest_effective_k",
    "interest_label_distinct",
)
INTEREST_K = 20  # the own top-k whose overlap ``interest_jaccard@k`` measures
LABEL_ITEMS = 50  # nearest items an interest's label is read from (as the service does)
# users measured per interest_snapshot call: one call of the model covers a validation sample
MEASURE_USERS = 1024


@runtime_checkable
class InterestModel(Protocol):
    """A model with K interest vectors per user in the item vectors' space."""

    def interests(self, histories: Sequence[Any] | None = None, users: Any = None) -> Interests:
        """The batch's interests (vectors (B, R, D), weights (B, R) ...)."""
        ...

    def item_vectors(self) -> np.ndarray:
        """(N+1, D) the vectors interests are scored against (row 0: padding)."""
        ...


def own_top_items(
    vectors: np.ndarray,
    items: np.ndarray,
    k: int,
    exclude: Sequence[np.ndarray] | None = None,
    live: np.ndarray | None = None,
) -> np.ndarray:
    """(B, K, k) each interest's best items by inner product, best first.

    Args:
        vectors: (B, K, D) interest vectors.
        items: (N+1, D) item vectors; row 0 (padding) is never returned.
        k: items per interest.
        exclude: per user, item rows to leave out (the history).
        live: (N+1,) bool, items that may be returned (None: all).
    """
    B, K, _ = vectors.shape
    k = min(k, items.shape[0] - 1)
    items = np.asarray(items, dtype=np.float32)
    out = np.zeros((B, K, k), dtype=np.int64)
    step = max(1, _CHUNK_SCORES // max(1, K * items.shape[0]))
    for lo in range(0, B, step):
        s = _interest_scores(vectors[lo : lo + step], items, live)
        if exclude is not None:
            _mask_seen(s, exclude[lo : lo + step])
        out[lo : lo + step] = _best(s, k)
    return out


_CHUNK_SCORES = 4_000_000  # score entries of one chunk of users (16 MB in float32)


def _interest_scores(
    vectors: np.ndarray, items: np.ndarray, live: np.ndarray | None = None
) -> np.ndarray:
    """(B, K, N+1) inner products; padding (and items not ``live``) at ``-inf``."""
    v = np.asarray(vectors, dtype=np.float32)
    # one 2-D product: numpy's stacked (3-D) matmul does not call BLAS and is ~40x slower
    s = (v.reshape(-1, v.shape[-1]) @ items.T).reshape(*v.shape[:-1], len(items))
    s[..., 0] = -np.inf
    if live is not None:
        s[..., ~live] = -np.inf
    return s


def _mask_seen(s: np.ndarray, seen: Sequence[np.ndarray]) -> None:
    """Set every user's seen items to ``-inf`` in (B, K, N+1) scores, in place."""
    cols = [np.asarray(h, dtype=np.int64).reshape(-1) for h in seen]
    rows = np.repeat(np.arange(len(cols)), [len(c) for c in cols])
    if len(rows):
        s[rows, :, np.concatenate(cols)] = -np.inf


def _best(s: np.ndarray, k: int) -> np.ndarray:
    """(..., k) the columns of the ``k`` highest scores along the last axis, best first."""
    part = np.argpartition(-s, k - 1, axis=-1)[..., :k]
    order = np.argsort(-np.take_along_axis(s, part, -1), axis=-1, kind="stable")
    return np.take_along_axis(part, order, -1)


def interest_distinctness(
    vectors: np.ndarray,
    weights: np.ndarray,
    top: np.ndarray,
    labels: Sequence[Sequence[str]] | None = None,
) -> dict[str, np.ndarray]:
    """Per-user collapse measures (see the module notes).

    Args:
        vectors: (B, K, D) interest vectors.
        weights: (B, K) interest weights (summing to 1).
        top: (B, K, k) each interest's own top-k items (history masked).
        labels: per user, the K interests' labels (None: no label measure).

    Returns:
        ``interest_cosine``, ``interest_jaccard@k``, ``interest_effective_k`` and, with labels,
        ``interest_label_distinct``: (B,) arrays. With K = 1 cosine and Jaccard are NaN.
    """
    B, K, _ = vectors.shape
    k = top.shape[2]
    out: dict[str, np.ndarray] = {}
    out["interest_effective_k"] = effective_interests(weights)
    if K < 2:
        out["interest_cosine"] = np.full(B, np.nan)
        out[f"interest_jaccard@{k}"] = np.full(B, np.nan)
        if labels is not None:
            out["interest_label_distinct"] = np.full(B, np.nan)
        return out
    # an interest the user does not have (dynamic K: weight 0, empty list) is in no pair
    listed = np.asarray((np.asarray(top) > 0).any(axis=2), dtype=bool)  # (B, K)
    v = vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)
    sim = np.einsum("bkd,bjd->bkj", v, v)
    iu = np.triu_indices(K, 1)
    cos = np.where(listed[:, iu[0]] & listed[:, iu[1]], sim[:, iu[0], iu[1]], np.nan)
    out["interest_cosine"] = mean_over_pairs(cos)
    out[f"interest_jaccard@{k}"] = mean_over_pairs(pair_jaccards(top))
    if labels is not None:
        # labels with the same categories in another order name the same interest
        sets = [
            [frozenset(str(x).split(" / ")) for x, h in zip(lab, row, strict=True) if h]
            for lab, row in zip(labels, listed, strict=True)
        ]
        out["interest_label_distinct"] = np.array(
            [float(len(set(s)) == len(s)) if len(s) >= 2 else np.nan for s in sets]
        )
    return {key: out[key] for key in sorted(out, key=_measure_order)}


def _measure_order(key: str) -> int:
    return INTEREST_METRICS.index(key.split("@")[0])


@dataclass
class InterestSnapshot:
    """The interests of a batch of users as a model sees them (the rows of ``users``), with
    each interest's own list and label.

    Attributes:
        users: (B,) internal user indices.
        interests: their :class:`~prismrec.models.interests.Interests` (vectors (B, R, D),
            weights (B, R)).
        top: (B, R, k) each interest's own top-k items, history masked.
        labels: per user, the R interests' labels (None: the catalogue has no categories).
    """

    users: np.ndarray
    interests: Interests
    top: np.ndarray
    labels: list[list[str]] | None

    def metrics(self) -> dict[str, np.ndarray]:
        """Per-user distinctness of the long-term interests (:func:`interest_distinctness`);
        the short-term row (the current state) is left out."""
        n = self.interests.long_rows
        labels = None if self.labels is None else [row[:n] for row in self.labels]
        w = self.interests.weights[:, :n]
        w = w / np.maximum(w.sum(1, keepdims=True), 1e-12)
        return interest_distinctness(self.interests.vectors[:, :n], w, self.top[:, :n], labels)


def interest_snapshot(
    model: InterestModel,
    users: np.ndarray,
    histories: Sequence[Any],
    k: int = 20,
    categories: np.ndarray | None = None,
    category_names: Sequence[str] = (),
    label_items: int = LABEL_ITEMS,
    batch_size: int = MEASURE_USERS,
) -> InterestSnapshot:
    """Each user's interests, their own top-``k`` (history masked) and labels.

    Labels come from each interest's ``label_items`` nearest items (history included, as the
    service labels them) by :func:`label_interests`.
    """
    items = np.asarray(model.item_vectors(), dtype=np.float32)
    k, label_items = min(k, len(items) - 1), min(label_items, len(items) - 1)
    base = None if categories is None else category_base_rates(categories)  # once per call
    vecs, ws, tops, labels = [], [], [], []
    n_long = None
    bar = Tracker("reading interests", len(users), "user")
    for lo in range(0, len(users), batch_size):
        bar.update(lo)
        hist = list(histories[lo : lo + batch_size])
        got = model.interests(hist, users[lo : lo + batch_size])
        n_long = got.n_long
        v = np.asarray(got.vectors, dtype=np.float32)
        vecs.append(v)
        ws.append(np.asarray(got.weights, dtype=np.float64))
        seen = [h["item_idx"] if isinstance(h, dict) else h for h in hist]
        step = max(1, _CHUNK_SCORES // (v.shape[1] * len(items)))
        for c in range(0, len(v), step):
            s = _interest_scores(v[c : c + step], items)  # serves the labels and the own top-k
            if categories is not None:
                near = _best(s, label_items)
                labels += interest_labels_of(near, categories, category_names, base=base)
            _mask_seen(s, seen[c : c + step])
            top = _best(s, k)
            top[~held(ws[-1][c : c + step])] = 0  # an interest the user does not have: no list
            tops.append(top)
    bar.close()
    d = items.shape[1]
    return InterestSnapshot(
        users=np.asarray(users, dtype=np.int64),
        interests=Interests(
            np.concatenate(vecs) if vecs else np.zeros((0, 1, d), np.float32),
            np.concatenate(ws) if ws else np.zeros((0, 1)),
            n_long=n_long,
        ),
        top=np.concatenate(tops) if tops else np.zeros((0, 1, k), np.int64),
        labels=labels if categories is not None else None,
    )


# ----- the measures of a whole model ----------------------------------------------------------
def interest_definitions(
    k: int = INTEREST_K, labels: bool = True, short: bool = True, hits: bool = True
) -> dict[str, str]:
    """One line per distinctness and use measure saying what was measured (for reports;
    ``short``, ``hits``: :func:`~prismrec.evaluation.interest_use.use_definitions`)."""
    out = {
        "interest_cosine": "mean pairwise cosine of a user's K interest vectors (1: copies)",
        f"interest_jaccard@{k}": (
            f"mean pairwise Jaccard overlap of the interests' own top-{k} items, history masked "
            "(1: the same items)"
        ),
        "interest_effective_k": (
            "exp of the entropy of the interest weights (1: one interest carries the user; "
            "K: all weigh the same)"
        ),
    }
    if labels:
        out["interest_label_distinct"] = (
            f"1 when the interests' labels (the 3 categories that set their {LABEL_ITEMS} "
            "nearest items apart from the catalogue) all differ as sets, else 0"
        )
    return {**out, **use_definitions(k, short, hits)}


def is_interest_metric(key: str) -> bool:
    """Whether ``key`` (``"interest_jaccard@20"``, ``"short_weight"`` ...) is one of the
    distinctness or use measures."""
    return key.split("@")[0] in INTEREST_METRICS + USE_METRICS


def n_interests(model: InterestModel, users: np.ndarray, histories: Sequence[Any]) -> int:
    """K, the model's interests per user, read from the first user's (0 without users)."""
    if len(users) == 0:
        return 0
    probe = model.interests(list(histories[:1]), np.asarray(users)[:1])
    return probe.long_rows


def interest_measures(
    model: object,
    users: np.ndarray,
    histories: Sequence[Any],
    k: int = INTEREST_K,
    categories: np.ndarray | None = None,
    category_names: Sequence[str] = (),
    *,
    lists: np.ndarray | None = None,
    targets: Sequence[np.ndarray] | None = None,
    ks: Sequence[int] | None = None,
) -> dict[str, np.ndarray]:
    """Per-user distinctness and use arrays of an :class:`InterestModel` with R > 1 rows.

    Any other model (no interests, or a single one) gives ``{}``: there is nothing to compare.
    Users go in chunks of ``MEASURE_USERS``; a single-interest model stops after the first.
    With the recommended ``lists`` (B, N) and the users' ``targets``, a model with
    ``interest_scores`` also gets ``long_hit_share@N`` for each N of ``ks``.
    """
    if not isinstance(model, InterestModel):
        return {}
    parts, tops = [], []
    for lo in range(0, len(users), MEASURE_USERS):
        hi = lo + MEASURE_USERS
        snap = interest_snapshot(
            model, users[lo:hi], histories[lo:hi], k, categories, category_names
        )
        got = snap.interests
        if got.n_rows < 2:
            return {}
        parts.append({**snap.metrics(), **use_measures(got.weights, snap.top, got.n_long)})
        tops.append(snap.top[:, : got.long_rows])
    if not parts:
        return {}
    out = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    top = np.concatenate(tops)  # the head is read from every user's long-term lists at once
    out.update(head_shares(top))
    if lists is not None and targets is not None and isinstance(model, InterestScorer):
        n_long = snap.interests.long_rows
        out.update(long_hit_shares(model, users, histories, lists, targets, n_long, ks))
    return out


def interest_means(
    model: object,
    users: np.ndarray,
    histories: Sequence[Any],
    *,
    k: int = INTEREST_K,
    categories: np.ndarray | None = None,
    category_names: Sequence[str] = (),
    max_users: int | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Means of :func:`interest_measures` over at most ``max_users`` users drawn with ``seed``.

    The same seed and users give the same subsample, so epochs of one training run are compared
    on the same users.
    """
    rows = np.arange(len(users))
    if max_users is not None and len(rows) > max_users:
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_users, replace=False))
    got = interest_measures(
        model,
        np.asarray(users)[rows],
        [histories[int(i)] for i in rows],
        k,
        categories,
        category_names,
    )
    return {key: float(np.nanmean(v)) for key, v in got.items()}
