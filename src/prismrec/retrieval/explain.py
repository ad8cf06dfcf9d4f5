"""Explanations: what each interest is about, and which past events formed it.

* An interest's *label* is the categories (or keywords: any bag of codes works) that set the
  items nearest its vector apart from the user's other interests and from the catalogue
  (``evaluation.interests.label_interests``, the one rule evaluation and serving share).
* An interest's *events* are the history positions its attention (K, L) weighs most. The model
  reads the last ``L`` events left-padded, so attention column ``L - m + j`` belongs to the
  ``j``-th of the last ``m`` events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from prismrec.evaluation.interests import label_from_items, label_interests
from prismrec.retrieval.index import ItemIndex

__all__ = ["interest_labels", "label_from_items", "label_interests", "top_events"]


def interest_labels(
    index: ItemIndex,
    interests: np.ndarray,
    item_categories: np.ndarray,
    category_names: Sequence[str],
    *,
    n_items: int = 50,
    top: int = 3,
    base: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """A label per interest vector of one user (K, D), from its ``n_items`` nearest items in
    ``index`` (``base``: the catalogue's category shares, see :func:`label_interests`)."""
    ids, _ = index.search(np.asarray(interests, dtype=np.float32), n_items)
    return label_interests(list(ids), item_categories, category_names, top, base)


def top_events(
    attention: np.ndarray | None, history: np.ndarray, top: int = 3
) -> list[dict[str, Any]]:
    """The ``top`` past events one interest attends to most, heaviest first.

    Args:
        attention: (L,) this interest's attention over the model's left-padded input window
            (``None``: the model has none, and the answer is empty).
        history: the user's item ids in time order (the window holds its last ``L``).
        top: how many events.

    Returns:
        ``[{"item", "position", "events_ago", "weight"}, ...]``: ``position`` indexes
        ``history``; ``events_ago`` is 0 for the latest event. Zero-weight events are left out.
    """
    if attention is None:
        return []
    att = np.asarray(attention, dtype=np.float64).reshape(-1)
    hist = np.asarray(history, dtype=np.int64).reshape(-1)
    m = min(len(att), len(hist))
    if m == 0:
        return []
    w = att[len(att) - m :]
    start = len(hist) - m
    order = np.argsort(-w, kind="stable")[:top]
    return [
        {
            "item": int(hist[start + j]),
            "position": int(start + j),
            "events_ago": int(m - 1 - j),
            "weight": round(float(w[j]), 4),
        }
        for j in order
        if w[j] > 0
    ]
