"""Non-neural baselines: MostPopular and ItemKNN (item-item co-occurrence on sequences)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from prismrec.config import ModelConfig, TrainConfig
from prismrec.data.dataset import PreparedDataset
from prismrec.training.base import History, Recommender, item_array, register

__all__ = ["ItemKNN", "MostPopular"]


@register
class MostPopular(Recommender):
    """Scores every item by how often it occurs in the training events."""

    name = "pop"

    def _fit(self, data: PreparedDataset, upto: str) -> None:
        items = data.split_frame(upto).get_column("item_idx").to_numpy()
        counts = np.bincount(items, minlength=self.n_items + 1).astype(np.float32)
        self.popularity = np.log1p(counts)

    def score(self, histories: Sequence[History], users: np.ndarray | None = None) -> np.ndarray:
        return np.broadcast_to(self.popularity, (len(histories), self.popularity.shape[0]))

    def _save_state(self, path: Path) -> None:
        np.save(path / "popularity.npy", self.popularity)

    def _load_state(self, path: Path) -> None:
        self.popularity = np.load(path / "popularity.npy")


@register
class ItemKNN(Recommender):
    """Item-item similarity from co-occurrence within a window of each user's sequence.

    ``sim(i, j) = C_ij / (sqrt(n_i * n_j) + shrink)`` where ``C_ij`` sums ``decay**(d-1)`` over
    pairs ``d <= window`` positions apart (``i`` before ``j``; pairs in the other order count
    ``backward_weight`` times, so the similarity knows what tends to come next); the ``neighbours``
    strongest per item are kept. A history scores items by the recency-weighted sum of its
    items' similarity rows.
    """

    name = "itemknn"
    recent_events = 50  # a history scores by its latest events only

    def _fit(self, data: PreparedDataset, upto: str) -> None:
        cfg = self.model_config
        df = data.split_frame(upto).select("user_idx", "item_idx")
        items = df.get_column("item_idx").to_numpy().astype(np.int64)
        users = df.get_column("user_idx").to_numpy()
        n = self.n_items + 1
        rows, cols, vals = [], [], []
        for d in range(1, cfg.window + 1):
            same = users[d:] == users[:-d]
            a, b = items[:-d][same], items[d:][same]
            w = np.full(a.shape[0], cfg.recency_decay ** (d - 1), dtype=np.float32)
            rows += [a, b]
            cols += [b, a]
            vals += [w, w * cfg.backward_weight]
        co = sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(n, n),
            dtype=np.float32,
        )
        co.setdiag(0)
        co.eliminate_zeros()
        counts = np.bincount(items, minlength=n).astype(np.float32)
        norm = np.sqrt(counts)
        co = co.tocoo()
        sim = co.data / (norm[co.row] * norm[co.col] + cfg.shrink)
        self.similarity = _keep_top(
            sp.csr_matrix((sim, (co.row, co.col)), shape=(n, n)), cfg.neighbours
        )
        self.popularity = (np.log1p(counts) * 1e-6).astype(np.float32)  # tie-breaker only

    def score(self, histories: Sequence[History], users: np.ndarray | None = None) -> np.ndarray:
        decay = self.model_config.recency_decay
        seqs = [item_array(h)[-self.recent_events :] for h in histories]
        weights = [decay ** np.arange(len(h) - 1, -1, -1, dtype=np.float32) for h in seqs]
        return self.weighted_score(seqs, weights) + self.popularity

    @property
    def seen(self) -> np.ndarray:
        """(N0+1,) True for the items the similarity was fitted with (any training event)."""
        return np.asarray(self.popularity) > 0

    def weighted_score(
        self, items: Sequence[np.ndarray], weights: Sequence[np.ndarray]
    ) -> np.ndarray:
        """(R, N+1): per row, the ``weights``-weighted sum of its ``items``' similarity rows."""
        rows = np.repeat(np.arange(len(items)), [len(h) for h in items])
        hist = sp.csr_matrix(
            (
                np.concatenate([np.zeros(0, np.float32), *weights]),
                (rows, np.concatenate([np.zeros(0, np.int64), *items])),
            ),
            shape=(len(items), self.n_items + 1),
            dtype=np.float32,
        )
        return (hist @ self.similarity).toarray()

    def fit_similarity(self, data: PreparedDataset, upto: str) -> ItemKNN:
        """Fit the similarity alone (no stored histories): a prior inside another model."""
        self.n_items = data.n_items
        self._fit(data, upto)
        self.fitted = True
        return self

    def save_similarity(self, path: Path) -> None:
        """Write the similarity and the tie-breaker into a model directory."""
        sp.save_npz(path / "similarity.npz", self.similarity)
        np.save(path / "popularity.npy", self.popularity)

    @classmethod
    def from_similarity(
        cls, path: Path, n_items: int, model_config: ModelConfig, train_config: TrainConfig
    ) -> ItemKNN:
        """A fitted prior from what :meth:`save_similarity` wrote."""
        obj = cls(model_config, train_config)
        obj.n_items, obj.fitted = n_items, True
        obj._load_state(path)
        return obj

    def _save_state(self, path: Path) -> None:
        self.save_similarity(path)

    def _load_state(self, path: Path) -> None:
        self.similarity = sp.load_npz(path / "similarity.npz").tocsr()
        self.popularity = np.load(path / "popularity.npy")


def _keep_top(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the ``k`` largest entries of each row."""
    m = m.tocsr()
    m.sort_indices()
    indptr, data, idx = m.indptr, m.data, m.indices
    keep = np.zeros(data.shape[0], dtype=bool)
    lengths = np.diff(indptr)
    for r in np.nonzero(lengths > k)[0]:
        lo, hi = indptr[r], indptr[r + 1]
        top = np.argpartition(-data[lo:hi], k - 1)[:k]
        keep[lo + top] = True
    keep |= np.repeat(lengths <= k, lengths)
    rows = np.repeat(np.arange(m.shape[0]), lengths)
    return sp.csr_matrix((data[keep], (rows[keep], idx[keep])), shape=m.shape)
