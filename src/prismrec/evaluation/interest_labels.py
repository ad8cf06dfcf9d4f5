"""Labels of a user's interests: the categories that set each one's nearest items apart.

One rule for evaluation and serving: the service labels ``/interests`` and explanations with
:func:`label_interests`, the interest measures count distinct labels with it. Re-exported by
:mod:`prismrec.evaluation.interests`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "LEAD_SHARE",
    "category_base_rates",
    "interest_labels_of",
    "label_from_items",
    "label_interests",
]


LEAD_SHARE = 0.05
"""Least share of an interest's nearest items a category needs to lead its label for setting
the interest apart from the user's others: rarer ones are noise of a few items (on
ml-latest-small, with none, labels named 3%-categories such as Musical for interests of
mainstream action films)."""


def label_from_items(
    items: np.ndarray,
    item_categories: np.ndarray,
    category_names: Sequence[str],
    top: int = 3,
    base: np.ndarray | None = None,
) -> dict[str, Any]:
    """Label of one interest from its nearest items (best first; ``-1`` entries are skipped).

    Item ``r`` of the nearest (0-based rank) weighs ``1 / log2(r + 2)``, split equally over its
    categories; ``p_c`` is category ``c``'s share of that weight. Without ``base`` the label is
    the ``top`` categories by share; with ``base`` (the catalogue's share of each code,
    :func:`category_base_rates`) it is the ``top`` by ``p_c * log(p_c / base_c)`` among those
    over-represented (what sets these items apart: "Drama", in most lists of a film catalogue,
    names an interest only where it is more common than in the catalogue).

    Returns:
        ``{"label": "A / B", "categories": [{"name", "code", "share"}, ...]}``; ``share`` is
        ``p_c``.
    """
    return _label(_shares(items, item_categories), category_names, top, base, None)


def label_interests(
    rows: Sequence[np.ndarray],
    item_categories: np.ndarray,
    category_names: Sequence[str],
    top: int = 3,
    base: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Labels of one user's interests together, one per row of nearest items (best first).

    As :func:`label_from_items`, and what sets each interest apart from the user's *other*
    interests comes first: categories holding at least :data:`LEAD_SHARE` of the interest's
    items and over-represented both against the catalogue (``base``) and against the mean
    share of the other interests, ranked by ``p_c * log(p_c / q_c)`` with ``q_c`` the larger
    of the two; then the rest of :func:`label_from_items`' ranking. Two
    interests about "Drama / Romance" and "Drama / War" are labelled by Romance and by War
    first; two copies of one interest set nothing apart and get the same label.
    """
    shares = [_shares(r, item_categories) for r in rows]
    out = []
    for k, own in enumerate(shares):
        others = [s for j, s in enumerate(shares) if j != k]
        contrast = (
            {c: sum(s.get(c, 0.0) for s in others) / len(others) for c in own} if others else None
        )
        out.append(_label(own, category_names, top, base, contrast))
    return out


def _shares(items: np.ndarray, item_categories: np.ndarray) -> dict[int, float]:
    """Each category's rank-discounted share among ``items`` (best first, ``-1`` skipped)."""
    ids = np.asarray(items, dtype=np.int64)
    ids = ids[(ids >= 0) & (ids < len(item_categories))]
    bags = np.asarray(item_categories)[ids].reshape(len(ids), -1)  # (m, C) codes, 0 = none
    real = bags > 0
    per_code = np.where(real.any(1), 1.0 / np.log2(np.arange(len(ids)) + 2.0), 0.0) / np.maximum(
        real.sum(1), 1
    )
    codes, at = np.unique(bags[real], return_inverse=True)
    totals = np.bincount(at, weights=np.broadcast_to(per_code[:, None], bags.shape)[real])
    grand = float(totals.sum()) or 1.0
    return {int(c): float(v) / grand for c, v in zip(codes, totals, strict=True)}


def _label(
    share: dict[int, float],
    category_names: Sequence[str],
    top: int,
    base: np.ndarray | None,
    contrast: dict[int, float] | None,
) -> dict[str, Any]:
    """The ``top`` categories of ``share``: those over-represented against both the catalogue
    and ``contrast`` first, then against the catalogue, then by share (see the callers)."""
    q = {
        c: (float(base[c]) if base is not None and 0 < c < len(base) and base[c] > 0 else 0.0)
        for c in share
    }

    def key(c: int) -> tuple[int, float, int]:
        p = share[c]
        both = max(q[c], (contrast or {}).get(c, 0.0))
        if contrast is not None and p > both and p >= LEAD_SHARE:
            return (0, -p * np.log(p / max(both, 1e-9)), c)
        if base is not None and p > q[c]:
            return (1, -p * np.log(p / max(q[c], 1e-9)), c)
        return (2, -p, c)

    keys = {c: key(c) for c in share}
    ranked = sorted(share, key=keys.__getitem__)
    if base is not None and any(keys[c][0] < 2 for c in ranked):
        ranked = [c for c in ranked if keys[c][0] < 2]  # only what is over-represented
    cats = [
        {"name": _name(c, category_names), "code": int(c), "share": round(share[c], 4)}
        for c in ranked[:top]
    ]
    return {"label": " / ".join(str(c["name"]) for c in cats), "categories": cats}


def category_base_rates(item_categories: np.ndarray) -> np.ndarray:
    """(max code + 1,) each category's share of the catalogue, an item split over its codes."""
    bags = np.asarray(item_categories, dtype=np.int64)[1:]
    n_codes = int(np.asarray(item_categories).max(initial=0)) + 1
    counts = (bags > 0).sum(1, keepdims=True)
    w = np.where(bags > 0, 1.0 / np.maximum(counts, 1), 0.0)
    rates = np.bincount(bags.ravel(), weights=w.ravel(), minlength=n_codes)
    rates[0] = 0.0
    return rates / max(rates.sum(), 1e-12)


def _name(code: int, names: Sequence[str]) -> str:
    return names[code - 1] if 0 < code <= len(names) else str(code)


def interest_labels_of(
    top: np.ndarray,
    categories: np.ndarray,
    names: Sequence[str],
    n_top: int = 3,
    base: np.ndarray | None = None,
) -> list[list[str]]:
    """(B, K, m) nearest items -> per user, the K labels (top ``n_top`` categories each, ranked
    against the catalogue's base rates as the service ranks them; ``base``: those rates when
    the caller has them already)."""
    base = category_base_rates(categories) if base is None else base
    return [
        [str(lab["label"]) for lab in label_interests(list(user), categories, names, n_top, base)]
        for user in top
    ]
