"""What the report's item maps draw: item vectors, one user's history, top-K and interests.

The vectors are the model's own item vectors when it has interests in their space (an
:class:`~prismrec.evaluation.interests.InterestModel`), else content vectors, else the category
multi-hot rows. The user is the one whose history spans the most categories.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from prismrec.evaluation._plots import ItemMap
from prismrec.evaluation.beyond import Catalog, category_multi_hot
from prismrec.evaluation.interests import InterestModel, interest_snapshot

__all__ = ["build_item_map", "pick_user"]

MAP_HISTORY = 50  # latest history items marked on the map


class _Cases(Protocol):
    users: np.ndarray
    histories: list[np.ndarray]

    def inputs(self) -> Sequence[Any]: ...


def build_item_map(
    rec: object,
    cases: _Cases,
    catalog: Catalog,
    topk: np.ndarray,
    user_ids: Sequence[str],
    k: int = 10,
) -> ItemMap | None:
    """The item map of one user (:func:`pick_user`); ``None`` when there is nothing to draw.

    Args:
        rec: the recommender; its interests (and their own top-``k``, history masked, and labels)
            are drawn when it is an ``InterestModel``.
        cases: the evaluation cases.
        catalog: item categories (the colours) and content vectors.
        topk: (n, >= k) each case's ranked list.
        user_ids: external id of each case.
        k: recommended items and each interest's own items shown.
    """
    vectors, source = _map_vectors(rec, catalog)
    if vectors is None:
        return None
    cats = catalog.categories
    u = pick_user(cases.histories, cats)
    m = ItemMap(
        vectors=vectors,
        labels=cats[:, 0] if cats is not None else np.zeros(len(vectors), dtype=np.int64),
        label_names=list(catalog.category_names),
        history=np.asarray(cases.histories[u][-MAP_HISTORY:], dtype=np.int64),
        recommended=np.asarray(topk[u, :k]),
        source=source,
        user=str(user_ids[u]),
    )
    if isinstance(rec, InterestModel):
        snap = interest_snapshot(
            rec, cases.users[u : u + 1], [cases.inputs()[u]], k, cats, catalog.category_names
        )
        m.interests, m.interest_weights, m.interest_items = (
            snap.interests.vectors[0],
            snap.interests.weights[0],
            snap.top[0],
        )
        m.interest_labels = snap.labels[0] if snap.labels is not None else None
    return m


def _map_vectors(rec: object, catalog: Catalog) -> tuple[np.ndarray | None, str]:
    """The vectors to map and what they are."""
    if isinstance(rec, InterestModel):
        return np.asarray(rec.item_vectors()), "model item vectors"
    if catalog.vectors is not None:
        return catalog.vectors, "content vectors"
    if catalog.categories is not None and 0 < catalog.n_categories <= 1000:
        hot = category_multi_hot(catalog.categories, catalog.n_categories)
        return hot, f"'{catalog.category_field}' multi-hot"
    return None, ""


def pick_user(
    histories: Sequence[np.ndarray], categories: np.ndarray | None, limit: int = 2000
) -> int:
    """The case whose history spans the most categories (the longest one without categories).

    Only the first ``limit`` cases are looked at.
    """

    def spread(h: np.ndarray) -> int:
        if categories is None or len(h) == 0:
            return 0
        c = categories[np.asarray(h, dtype=np.int64)].ravel()
        return len(np.unique(c[c > 0]))

    scores = [(spread(h), len(h)) for h in histories[:limit]]
    return max(range(len(scores)), key=lambda i: scores[i]) if scores else 0
