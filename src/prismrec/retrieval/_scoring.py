"""One request's scoring inputs (:class:`Scoring`) and the small steps the retriever takes
on them: the compact kept search, each candidate's owning interest."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

from prismrec.retrieval.index import ItemIndex
from prismrec.retrieval.moments import HistoryBias
from prismrec.retrieval.priors import Prior

__all__ = ["Keep", "Scoring", "compact_search", "owners"]

T = TypeVar("T")


@dataclass(frozen=True)
class Scoring:
    """One request's scoring inputs: the interests' vectors and steered weights, the history,
    its interest priors, repeat bias and recency prior, the seen and muted items, and the
    user's ``keep``."""

    vecs: np.ndarray
    w: np.ndarray
    history: np.ndarray
    priors: Prior | None
    repeat: HistoryBias | None
    recency: Prior | None
    seen: set[int]
    muted: list[int]
    keep: Keep
    absent: tuple[int, ...] = ()


class Keep(Protocol):
    """``keep(key, compute)``: an entry of the user's context (or ``compute()`` if not kept)."""

    def __call__(self, key: Hashable, compute: Callable[[], T]) -> T: ...


def compact_search(
    index: ItemIndex, vecs: np.ndarray, depth: int, exclude: list[set[int]] | None
) -> tuple[np.ndarray, np.ndarray]:
    """(K, depth) ids and scores of the interests' searches, as compact as a kept context
    wants them (int32 ids, float32 scores: a few kB per user)."""
    ids, scores = index.search(vecs, depth, exclude)
    return ids.astype(np.int32), scores.astype(np.float32)


def owners(own: np.ndarray, absent: tuple[int, ...]) -> np.ndarray:
    """(M,) the interest with the highest own score of each candidate, among the interests the
    user has (a missing one's flat scores would otherwise claim the items no one likes)."""
    if absent:
        own = own.copy()
        own[list(absent)] = -np.inf
    return np.asarray(own.argmax(0))
