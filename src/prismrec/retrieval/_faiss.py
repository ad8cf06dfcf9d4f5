"""FAISS indexes (HNSW, IVF-flat, flat) that take adds, updates and removals at run time.

* ``flat``: ``IndexIDMap2(IndexFlatIP)``: brute force in FAISS, true removal.
* ``ivf``: ``IndexIVFFlat`` with inner product, trained on the vectors present at the first
  add. IVF stores custom ids itself and removes them for real; ``IndexIDMap2`` is not used
  because its ``remove_ids`` assumes the wrapped index renumbers like a flat one.
* ``hnsw``: ``IndexHNSWFlat``. HNSW cannot remove a node, so ids map to graph positions here:
  a removed or replaced vector's position is marked dead and skipped at search time by an
  ``IDSelectorBitmap`` of live positions (the graph still routes through it). Once dead
  positions exceed ``rebuild_share`` of the live items a background thread builds a fresh
  graph from the live vectors and swaps it in under the write lock, replaying the changes that
  arrived meanwhile.

Per-query ``exclude`` sets are handled by over-fetching ``k + |exclude ∩ index|`` results and
dropping the excluded ones, so a query still gets ``k`` items whenever ``k`` remain.

``IndexSettings.quantize`` stores the structure's vectors as fp16 or 8-bit scalars (HNSW, IVF)
or as PQ codes (IVF), FAISS's own ``IndexHNSWSQ``, ``IndexIVFScalarQuantizer`` and
``IndexIVFPQ``. The structure then only proposes ``refine_factor`` times the wanted candidates;
they are re-scored with the float32 vectors of the store, so scores stay exact.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path

import faiss
import numpy as np

from prismrec.errors import ConfigError
from prismrec.retrieval._backends import BACKENDS, Backend, RWLock, choose_transform
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
from prismrec.retrieval.index import StoreBackedIndex

__all__ = ["FaissIndex"]

log = logging.getLogger(__name__)
KINDS = ("flat", "hnsw", "ivf")
CALIBRATE_FROM = 1000  # items before transform="auto" is settled (plain "ip" until then)


class FaissIndex(StoreBackedIndex):
    """A FAISS index (``kind`` ``"hnsw"``, ``"ivf"`` or ``"flat"``) over custom int64 ids.

    Live ids and vectors are also kept in a :class:`VectorStore` (the source of rebuilds and
    of :meth:`vectors`). Searches run concurrently; adds, updates, removals and the swap of a
    rebuilt structure take an exclusive lock.

    Attributes:
        rebuilds: completed rebuilds since construction (or load).
    """

    def __init__(
        self, dim: int, kind: IndexKind = "hnsw", settings: IndexSettings | None = None
    ) -> None:
        if kind not in KINDS:
            raise ConfigError(f"unknown FAISS index kind {kind!r}; use one of {KINDS}")
        self.kind = kind
        self.settings = settings or IndexSettings(kind=kind)
        check_quantize(kind, self.settings)
        faiss.omp_set_num_threads(max(1, self.settings.threads))
        self._store = VectorStore(dim)
        self._backend: Backend = BACKENDS[kind](dim, self.settings)
        self._lock = RWLock()
        self._pending: set[int] | None = None  # ids changed while a rebuild runs
        self._thread: threading.Thread | None = None
        self.rebuilds = 0

    # ----- changes ----------------------------------------------------------------------------
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        id_arr, vec = check_items(ids, vectors, self.dim)
        with self._lock.write():
            present = self._store.rows(id_arr) >= 0
            if present.any():
                raise ValueError(
                    f"ids already indexed: {id_arr[present][:10].tolist()}; use update() instead"
                )
            self._store.append(id_arr, vec)
            self._backend.add(id_arr, vec)
            self._touch(id_arr)
            self._settle_transform()
        self._maybe_rebuild()

    def update(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        id_arr, vec = check_items(ids, vectors, self.dim)
        with self._lock.write():
            self._store.upsert(id_arr, vec)
            self._backend.upsert(id_arr, vec)
            self._touch(id_arr)
            self._settle_transform()
        self._maybe_rebuild()

    def remove(self, ids: np.ndarray) -> int:
        with self._lock.write():
            gone = self._store.remove(np.asarray(ids, dtype=np.int64).reshape(-1))
            self._backend.remove(gone)
            self._touch(gone)
        self._maybe_rebuild()
        return len(gone)

    def _settle_transform(self) -> None:
        """Resolve ``transform="auto"`` once enough items are in (caller holds the write lock)."""
        s = self.settings
        if s.transform != "auto" or self.kind == "flat" or self.rebuilding:
            return
        if len(self._store) < CALIBRATE_FROM:
            return
        space = choose_transform(self.kind, s, self._store.matrix)
        self.settings = replace(s, transform=space)
        self._backend.settings = self.settings
        if space == "l2":  # the structure so far searched inner products: build it again
            fresh = BACKENDS[self.kind](self.dim, self.settings)
            fresh.add(self._store.ids.copy(), self._store.matrix.copy())
            self._backend = fresh

    def _touch(self, ids: np.ndarray) -> None:
        if self._pending is not None:
            self._pending.update(ids.tolist())

    # ----- reads ------------------------------------------------------------------------------
    def ids(self) -> np.ndarray:
        with self._lock.read():
            return self._store.ids.copy()

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        with self._lock.read():
            return lookup(self._store, ids)

    def search(
        self, queries: np.ndarray, k: int, exclude: Exclude = None
    ) -> tuple[np.ndarray, np.ndarray]:
        q = check_queries(queries, self.dim, k, exclude)
        with self._lock.read():
            n = len(self._store)
            if n == 0 or k == 0:
                return empty_result(len(q), k)
            extra = 0
            for ex in exclude or ():
                if ex:
                    rows = self._store.rows(np.fromiter(ex, np.int64, count=len(ex)))
                    extra = max(extra, int((rows >= 0).sum()))
            fetch = min((k + extra) * self.settings.refine_factor, n)
            with blas_threads(self.settings.threads):
                found = self._backend.search(q, fetch)
                return _rescore(found, q, self._store, exclude, k)

    def set_search_params(self, ef_search: int | None = None, nprobe: int | None = None) -> None:
        """Change the HNSW beam width or the IVF lists probed, for all later searches."""
        with self._lock.write():
            if ef_search:
                self.settings = replace(self.settings, ef_search=ef_search)
            if nprobe:
                self.settings = replace(self.settings, nprobe=nprobe)
                if hasattr(self._backend, "nprobe"):
                    self._backend.nprobe = nprobe
            self._backend.settings = self.settings

    # ----- rebuilds ---------------------------------------------------------------------------
    @property
    def stale_share(self) -> float:
        """Stale entries (see ``IndexSettings.rebuild_share``) per live item."""
        return self._backend.stale / max(len(self._store), 1)

    @property
    def needs_rebuild(self) -> bool:
        return len(self._store) > 0 and self.stale_share > self.settings.rebuild_share

    @property
    def rebuilding(self) -> bool:
        return self._pending is not None

    def _maybe_rebuild(self) -> None:
        if self.settings.background_rebuild and self.needs_rebuild and not self.rebuilding:
            log.info(
                "%s index: %.0f%% stale, rebuilding in the background",
                self.kind,
                100 * self.stale_share,
            )
            self.rebuild(background=True)

    def rebuild(self, background: bool = False) -> None:
        """Build a fresh structure from the live vectors and swap it in.

        Searches and changes continue on the old structure meanwhile; changes made during the
        build are replayed on the new one before the swap. With ``background=False`` this
        returns when the swap is done (waiting for a rebuild already running instead).
        """
        with self._lock.write():
            running = self._thread
            if self._pending is None:
                running = None
                snapshot = self._store.snapshot()
                self._pending = set()
                if background:
                    self._thread = threading.Thread(
                        target=self._rebuild_from,
                        args=snapshot,
                        name="index-rebuild",
                        daemon=True,
                    )
                    self._thread.start()
                    return
        if running is not None:
            if not background:
                running.join()
            return
        self._rebuild_from(*snapshot)

    def _rebuild_from(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        try:
            fresh = BACKENDS[self.kind](self.dim, self.settings)
            if len(ids):
                fresh.add(ids, vecs)  # the slow part, outside the lock
            with self._lock.write():
                changed = np.fromiter(self._pending or (), np.int64)
                rows = self._store.rows(changed)
                live = rows >= 0
                fresh.remove(changed[~live])
                if live.any():
                    fresh.upsert(changed[live], self._store.matrix[rows[live]])
                self._backend = fresh
                self.rebuilds += 1
            log.info(
                "%s index rebuilt: %d items, %d changes replayed", self.kind, len(ids), len(changed)
            )
        except Exception:
            log.exception("%s index rebuild failed; keeping the old structure", self.kind)
        finally:
            with self._lock.write():
                self._pending = None
                self._thread = None

    def join_rebuild(self, timeout: float | None = None) -> bool:
        """Wait for a background rebuild; True when none is running any more."""
        t = self._thread
        if t is not None:
            t.join(timeout)
        return not self.rebuilding

    # ----- persistence ------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        with self._lock.read():
            out = write_meta(path, "FaissIndex", self.kind, self.settings, self.dim)
            self._store.save(out)
            self._backend.write(out)
        return out

    @classmethod
    def load(cls, path: str | Path) -> FaissIndex:
        meta = read_meta(path)
        # the kind as stored: checked against KINDS by the constructor
        obj = cls(int(meta["dim"]), meta["kind"], IndexSettings.from_dict(meta["settings"]))
        obj._store = VectorStore.load(Path(path))
        obj._backend.read(Path(path))
        return obj


def _rescore(
    found: np.ndarray, q: np.ndarray, store: VectorStore, exclude: Exclude, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner products of the fetched ids, excluded ones dropped, best ``k`` (ties: lower
    id) per query. The structures only propose candidates, so scores equal the oracle's."""
    out_ids, out_scores = empty_result(len(found), k)
    for r in range(len(found)):
        ids = found[r][found[r] >= 0]
        ex = exclude[r] if exclude is not None else None
        if ex:
            ids = ids[~np.isin(ids, np.fromiter(ex, np.int64, count=len(ex)))]
        rows = store.rows(ids)
        ids, rows = ids[rows >= 0], rows[rows >= 0]
        scores = store.matrix[rows] @ q[r]
        order = np.lexsort((ids, -scores))[:k]
        out_ids[r, : len(order)] = ids[order]
        out_scores[r, : len(order)] = scores[order]
    return out_ids, out_scores
