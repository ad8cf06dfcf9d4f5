"""Item indexes for inner-product search: the exact oracle and the factory that picks one.

Every index maps custom int64 item ids (``item_idx`` 1..N; 0 is padding and never indexed) to
D-dimensional float32 vectors and answers ``search(queries, k, exclude)`` with the ``k`` largest
inner products per query. Results are ``ids`` (Q, k) int64 padded with ``-1`` and ``scores``
(Q, k) float32 padded with ``-inf`` when fewer than ``k`` items qualify.

:class:`ExactIndex` scores every item (one matmul): it is the oracle the approximate
:class:`~prismrec.retrieval.FaissIndex` is tested against, and the right choice for small
catalogues, where it is as fast as HNSW and needs no build. :func:`make_index` picks exact
below ``IndexSettings.exact_below`` items (20k by default: a (1, 20k) x (20k, 64) matmul takes
well under a millisecond, and the HNSW build would cost seconds) and HNSW above.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from prismrec.errors import ConfigError
from prismrec.retrieval._store import (
    Exclude,
    IndexKind,
    IndexSettings,
    VectorStore,
    blas_threads,
    check_items,
    check_quantize,
    check_queries,
    empty_result,
    lookup,
    read_meta,
    write_meta,
)

__all__ = [
    "ExactIndex",
    "IndexSettings",
    "ItemIndex",
    "VectorStore",
    "index_item_table",
    "load_index",
    "make_index",
]

log = logging.getLogger(__name__)

_CHUNK_ELEMENTS = 16_000_000  # bound on one (queries x items) score block of the exact index


class ItemIndex(ABC):
    """Inner-product search over items with custom int64 ids, updatable at run time."""

    kind: str = "base"

    @property
    @abstractmethod
    def dim(self) -> int:
        """Vector dimension D."""

    @abstractmethod
    def __len__(self) -> int:
        """Number of live (searchable) items."""

    @abstractmethod
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add new items; raises ``ValueError`` if an id is already present (use ``update``)."""

    @abstractmethod
    def update(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Upsert: replace the vectors of present ids and add the others."""

    @abstractmethod
    def remove(self, ids: np.ndarray) -> int:
        """Remove items (unknown ids are ignored); returns how many were removed."""

    @abstractmethod
    def search(
        self, queries: np.ndarray, k: int, exclude: Exclude = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ids (Q, k) int64 (``-1`` padding) and scores (Q, k) float32 (``-inf``).

        Args:
            queries: (Q, D) query vectors.
            k: results per query.
            exclude: per query, item ids that must not be returned (or ``None``).
        """

    @abstractmethod
    def ids(self) -> np.ndarray:
        """The live item ids (in no particular order)."""

    @abstractmethod
    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """(n, D) vectors of ``ids``; ``UnknownIdError`` names ids that are not indexed."""

    @abstractmethod
    def save(self, path: str | Path) -> Path:
        """Write the index to a directory that :func:`load_index` reads back."""

    @classmethod
    @abstractmethod
    def load(cls, path: str | Path) -> ItemIndex:
        """Read an index written by :meth:`save`."""

    def __contains__(self, item_id: object) -> bool:
        return bool(np.isin(np.asarray([item_id]), self.ids()).any())


class StoreBackedIndex(ItemIndex):
    """An index whose live vectors sit in a :class:`VectorStore` (``self._store``)."""

    _store: VectorStore

    @property
    def dim(self) -> int:
        return self._store.dim

    def __len__(self) -> int:
        return len(self._store)

    def __contains__(self, item_id: object) -> bool:
        return isinstance(item_id, int | np.integer) and int(item_id) in self._store


# ----- the exact oracle -----------------------------------------------------------------------
class ExactIndex(StoreBackedIndex):
    """Exact inner-product search by one matmul per block of queries (the test oracle).

    Ties are broken by the lower id, so results are deterministic.
    """

    kind = "exact"

    def __init__(self, dim: int, settings: IndexSettings | None = None) -> None:
        self.settings = settings or IndexSettings(kind="exact")
        self._store = VectorStore(dim)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        id_arr, vec = check_items(ids, vectors, self.dim)
        present = self._store.rows(id_arr) >= 0
        if present.any():
            raise ValueError(
                f"ids already indexed: {id_arr[present][:10].tolist()}; use update() to replace"
            )
        self._store.append(id_arr, vec)

    def update(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self._store.upsert(*check_items(ids, vectors, self.dim))

    def remove(self, ids: np.ndarray) -> int:
        return len(self._store.remove(np.asarray(ids, dtype=np.int64).reshape(-1)))

    def ids(self) -> np.ndarray:
        return self._store.ids.copy()

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        return lookup(self._store, ids)

    def search(
        self, queries: np.ndarray, k: int, exclude: Exclude = None
    ) -> tuple[np.ndarray, np.ndarray]:
        q = check_queries(queries, self.dim, k, exclude)
        out_ids, out_scores = empty_result(len(q), k)
        n = len(self._store)
        if n == 0 or k == 0:
            return out_ids, out_scores
        step = max(1, _CHUNK_ELEMENTS // n)
        with blas_threads(self.settings.threads):
            self._search_blocks(q, k, exclude, step, out_ids, out_scores)
        return out_ids, out_scores

    def _search_blocks(
        self,
        q: np.ndarray,
        k: int,
        exclude: Exclude,
        step: int,
        out_ids: np.ndarray,
        out_scores: np.ndarray,
    ) -> None:
        for s in range(0, len(q), step):
            scores = q[s : s + step] @ self._store.matrix.T  # (Qc, n)
            if exclude is not None:
                for j, ex in enumerate(exclude[s : s + step]):
                    if ex:
                        rows = self._store.rows(np.fromiter(ex, np.int64, count=len(ex)))
                        scores[j, rows[rows >= 0]] = -np.inf
            ids, top = _topk(scores, self._store.ids, k)
            out_ids[s : s + step, : ids.shape[1]] = ids
            out_scores[s : s + step, : top.shape[1]] = top

    def save(self, path: str | Path) -> Path:
        out = write_meta(path, "ExactIndex", self.kind, self.settings, self.dim)
        self._store.save(out)
        return out

    @classmethod
    def load(cls, path: str | Path) -> ExactIndex:
        meta = read_meta(path)
        obj = cls(int(meta["dim"]), IndexSettings.from_dict(meta["settings"]))
        obj._store = VectorStore.load(Path(path))
        return obj


def _topk(scores: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` per row, ties by lower id; excluded (``-inf``) entries become ``-1``."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < scores.shape[1] else None
    cols = part if part is not None else np.broadcast_to(np.arange(k), scores.shape)
    top = np.take_along_axis(scores, cols, axis=1)
    cand = ids[cols]
    order = np.lexsort((cand, -top), axis=1)
    top = np.take_along_axis(top, order, axis=1).astype(np.float32)
    cand = np.take_along_axis(cand, order, axis=1)
    return np.where(np.isneginf(top), -1, cand), top


# ----- factory --------------------------------------------------------------------------------
def make_index(
    vectors: np.ndarray,
    ids: np.ndarray | None = None,
    kind: IndexKind | None = None,
    settings: IndexSettings | None = None,
) -> ItemIndex:
    """Build an index over ``vectors`` with ``ids`` (default ``0..n-1``).

    ``kind`` (or ``settings.kind``) ``"auto"`` picks :class:`ExactIndex` below
    ``settings.exact_below`` items and FAISS HNSW from there: below ~20k items a full matmul
    costs well under a millisecond per query, so an approximate index only adds build time and
    recall loss; above, HNSW keeps latency flat as the catalogue grows and (unlike IVF) needs no
    training and takes new items at once. ``settings.quantize`` applies to HNSW and IVF (an
    ``auto`` choice of the exact index scores the float32 vectors).
    """
    s = settings or IndexSettings()
    choice = kind or s.kind
    n = len(vectors)
    check_quantize("hnsw" if choice == "auto" else choice, s)
    if choice == "auto":
        choice = "exact" if n < s.exact_below else "hnsw"
        log.info("index for %d items: %s (exact below %d)", n, choice, s.exact_below)
    id_arr = np.arange(n, dtype=np.int64) if ids is None else np.asarray(ids, np.int64)
    dim = int(np.shape(vectors)[1])
    index: ItemIndex
    if choice == "exact":
        index = ExactIndex(dim, s)
    elif choice in ("flat", "hnsw", "ivf"):
        from prismrec.retrieval._faiss import FaissIndex

        index = FaissIndex(dim, choice, s)
    else:
        raise ConfigError(f"unknown index kind {choice!r}; use auto, exact, flat, hnsw or ivf")
    if n:
        index.add(id_arr, vectors)
    return index


def index_item_table(
    table: np.ndarray, kind: IndexKind | None = None, settings: IndexSettings | None = None
) -> ItemIndex:
    """Index a model's (N+1, D) item table, leaving out row 0 (padding): ids are ``1..N``."""
    arr = np.asarray(table)
    return make_index(arr[1:], np.arange(1, len(arr), dtype=np.int64), kind, settings)


def load_index(path: str | Path) -> ItemIndex:
    """Load any index written by ``save`` (exact or FAISS)."""
    meta = read_meta(path)
    if meta.get("class") == "ExactIndex":
        return ExactIndex.load(path)
    if meta.get("class") == "FaissIndex":
        from prismrec.retrieval._faiss import FaissIndex

        return FaissIndex.load(path)
    raise ConfigError(f"{path}: unknown index class {meta.get('class')!r}")
