"""Catalogue-wide statistics the served scores are normalised by, and a history's repeat bias.

- :class:`ItemMoments`: the item vectors' count, sum and sum of outer products, kept up to date
  as items change, so the logits' mean and spread over the catalogue need no pass over it;
- :class:`FinalStats`: what a candidate set's final scores are normalised by;
- :class:`HistoryBias`: one history's learned repeat bias, on its distinct items only.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["FinalStats", "HistoryBias", "ItemMoments", "spread"]


class ItemMoments:
    """Count, sum and sum of outer products of the catalogue's item vectors, kept up to date."""

    def __init__(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        v = np.asarray(vectors, dtype=np.float64)
        self.n = len(v)
        self.total = v.sum(0)
        self.outer = v.T @ v
        self.live = np.zeros(int(np.max(ids, initial=0)) + 1, dtype=bool)
        self.live[np.asarray(ids, np.int64)] = True
        self.version = 0  # bumped on every change

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Items (new rows) join the catalogue."""
        v = np.asarray(vectors, dtype=np.float64)
        ids = np.asarray(ids, np.int64)
        self.n += len(v)
        self.total += v.sum(0)
        self.outer += v.T @ v
        need = int(np.max(ids, initial=0)) + 1
        if need > len(self.live):
            self.live = np.concatenate([self.live, np.zeros(need - len(self.live), bool)])
        self.live[ids] = True
        self.version += 1

    def remove(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Items (with their current vectors) leave the catalogue."""
        v = np.asarray(vectors, dtype=np.float64)
        self.n -= len(v)
        self.total -= v.sum(0)
        self.outer -= v.T @ v
        self.live[np.asarray(ids, np.int64)] = False
        self.version += 1

    def logit_stats(self, vecs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(K,) mean and population spread of ``vecs @ item`` over the catalogue's items."""
        v = np.asarray(vecs, dtype=np.float64)
        n = max(self.n, 1)
        mean = v @ self.total / n
        second = np.einsum("kd,de,ke->k", v, self.outer, v) / n
        return mean, np.sqrt(np.clip(second - mean**2, 0.0, None)) + 1e-9


class HistoryBias(NamedTuple):
    """One history's learned repeat bias: ``values`` on its distinct ``items`` (ascending)."""

    items: np.ndarray
    values: np.ndarray

    def at(self, items: np.ndarray) -> np.ndarray:
        """(M,) the bias of ``items`` (0 for items not in the history)."""
        items = np.asarray(items, np.int64)
        out = np.zeros(len(items))
        if len(self.items):
            pos = np.minimum(np.searchsorted(self.items, items), len(self.items) - 1)
            hit = self.items[pos] == items
            out[hit] = self.values[pos[hit]]
        return out


class FinalStats(NamedTuple):
    """What a candidate set's final scores are normalised by: each interest's (K,)
    log-normaliser ``lse`` over the catalogue, and the ``mean`` and spread ``sd`` of the
    catalogue's net scores (the mixture log-probability, or the best logit)."""

    lse: np.ndarray
    mean: float
    sd: float


def spread(s: np.ndarray) -> tuple[float, float]:
    """Mean and spread (plus 1e-9) of net scores; (0, 1) for none."""
    if not len(s):
        return 0.0, 1.0
    return float(s.mean()), float(s.std()) + 1e-9
