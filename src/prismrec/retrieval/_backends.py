"""FAISS structures behind :class:`~prismrec.retrieval.FaissIndex` (no locking, no checks)."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np

from prismrec.retrieval._store import IndexSettings

__all__ = ["BACKENDS", "Backend", "RWLock", "choose_transform", "ivf_lists", "pq_bits"]

log = logging.getLogger(__name__)
_FAISS: Any = faiss  # the bundled stubs lack newer classes such as SearchParametersHNSW
_FAISS_FILE = "faiss.index"
_EXTRA_FILE = "faiss_extra.npz"
_SQ_TYPES: dict[str, Any] = {
    "fp16": faiss.ScalarQuantizer.QT_fp16,
    "sq8": faiss.ScalarQuantizer.QT_8bit,
}
TRAIN_SAMPLE = 65_536  # vectors a scalar quantiser of HNSW is trained on, at most
TRAIN_ENOUGH = 10_000  # trained on fewer: later adds count as stale, so a rebuild retrains


class RWLock:
    """Many concurrent searches, or one writer; a waiting writer goes before new readers.

    FAISS structures are not safe to search while they are modified; searches release the GIL,
    so they do run in parallel.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting = 0  # writers waiting

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writer and not self._waiting)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            self._cond.wait_for(lambda: not self._writer and self._readers == 0)
            self._waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


# ----- backends: one faiss structure each, no locking, no validation --------------------------
class Backend(ABC):
    def __init__(self, dim: int, settings: IndexSettings) -> None:
        self.dim, self.settings = dim, settings
        self.dead = 0  # removed or replaced entries still inside the structure

    @property
    def stale(self) -> int:
        """Entries that degrade the structure until the next rebuild."""
        return self.dead

    @abstractmethod
    def add(self, ids: np.ndarray, vecs: np.ndarray) -> None: ...

    @abstractmethod
    def remove(self, ids: np.ndarray) -> None: ...

    def upsert(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        self.remove(ids)
        self.add(ids, vecs)

    @abstractmethod
    def search(self, q: np.ndarray, fetch: int) -> np.ndarray:
        """(Q, >= fetch) candidate ids, ``-1`` padded (the caller scores them exactly)."""

    @abstractmethod
    def write(self, path: Path) -> None: ...

    @abstractmethod
    def read(self, path: Path) -> None: ...


class _Flat(Backend):
    def __init__(self, dim: int, settings: IndexSettings) -> None:
        super().__init__(dim, settings)
        self.index: Any = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def add(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        self.index.add_with_ids(vecs, ids)

    def remove(self, ids: np.ndarray) -> None:
        if len(ids):
            self.index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64))

    def search(self, q: np.ndarray, fetch: int) -> np.ndarray:
        _, ids = self.index.search(q, fetch)
        return np.asarray(ids, dtype=np.int64)

    def write(self, path: Path) -> None:
        faiss.write_index(self.index, str(path / _FAISS_FILE))

    def read(self, path: Path) -> None:
        self.index = faiss.read_index(str(path / _FAISS_FILE))


def ivf_lists(n: int, settings: IndexSettings) -> tuple[int, int]:
    """(nlist, nprobe) for ``n`` training vectors: ``4 sqrt(n)`` lists, at least 39 vectors each."""
    nlist = settings.nlist or int(round(4 * np.sqrt(max(n, 1))))
    nlist = max(1, min(nlist, n // 39))
    nprobe = settings.nprobe or max(16, nlist // 8)
    return nlist, min(nprobe, nlist)


class _Mips(Backend):
    """Inner-product search in one of two spaces, chosen by ``settings.transform``.

    ``"ip"``: the FAISS structure uses inner product directly. ``"l2"``: inner product as L2
    search (Bachrach et al., RecSys 2014): ``x`` becomes ``[x, sqrt(phi^2 - |x|^2)]`` and a
    query ``[q, 0]``, so the L2 nearest neighbours are exactly the largest inner products
    whenever ``|x| <= phi``. Neither wins everywhere: on ml-latest-small SVD vectors (many
    short vectors of rare items) HNSW recall@10 at ``efSearch=128`` is 0.86 with "ip" and 0.99
    with "l2"; on isotropic clusters with norms in [0.5, 1.5] it is 1.00 and 0.74. See
    :func:`choose_transform`.

    With "l2", ``phi`` is the largest norm at the first add. A later vector longer than ``phi``
    cannot be placed: it waits in a small side set that every search returns as candidates
    (scored exactly by the caller) and counts as stale, so a rebuild (which recomputes ``phi``)
    takes it into the structure.
    """

    def __init__(self, dim: int, settings: IndexSettings) -> None:
        super().__init__(dim, settings)
        self.l2 = settings.transform == "l2"
        # PQ splits the space into pq_m equal parts: zero columns pad it to a multiple
        step = settings.pq_m if settings.quantize == "pq" else 1
        self.space_dim = -(-(dim + 1 if self.l2 else dim) // step) * step
        self.metric = faiss.METRIC_L2 if self.l2 else faiss.METRIC_INNER_PRODUCT
        self.phi: float | None = None
        self.over: dict[int, None] = {}  # ids too long for phi, kept out of the structure

    @property
    def stale(self) -> int:
        return self.dead + len(self.over)

    def place(self, ids: np.ndarray, vecs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The ids that fit under ``phi`` and their vectors in the search space."""
        if not self.l2:
            return ids, self.pad(vecs)
        norm2 = np.einsum("nd,nd->n", vecs, vecs, dtype=np.float64)
        if self.phi is None:
            self.phi = float(np.sqrt(norm2.max())) * (1 + 1e-6) if len(vecs) else 0.0
        fits = norm2 <= self.phi**2
        self.over.update(dict.fromkeys(ids[~fits].tolist()))
        extra = np.sqrt(np.clip(self.phi**2 - norm2[fits], 0.0, None))
        aug = np.hstack([vecs[fits], extra[:, None]])
        return ids[fits], self.pad(aug)

    def queries(self, q: np.ndarray) -> np.ndarray:
        return self.pad(np.hstack([q, np.zeros((len(q), 1), q.dtype)]) if self.l2 else q)

    def pad(self, x: np.ndarray) -> np.ndarray:
        """``x`` with zero columns up to ``space_dim`` (C-contiguous float32)."""
        extra = self.space_dim - x.shape[1]
        if extra:
            x = np.hstack([x, np.zeros((len(x), extra), np.float32)])
        return np.ascontiguousarray(x, dtype=np.float32)

    def unplace(self, ids: np.ndarray) -> np.ndarray:
        """Drop ids from the side set; returns those that were not in it."""
        if not self.over:
            return ids
        inside = np.fromiter((i in self.over for i in ids.tolist()), bool, count=len(ids))
        for i in ids[inside].tolist():
            del self.over[i]
        return ids[~inside]

    def with_over(self, found: np.ndarray) -> np.ndarray:
        if not self.over:
            return found
        extra = np.fromiter(self.over, np.int64, count=len(self.over))
        return np.hstack([found, np.broadcast_to(extra, (len(found), len(extra)))])

    def extra_state(self) -> dict[str, Any]:
        over = np.fromiter(self.over, np.int64, count=len(self.over))
        return {"dead": self.dead, "phi": -1.0 if self.phi is None else self.phi, "over": over}

    def load_extra(self, extra: Any) -> None:
        self.dead = int(extra["dead"])
        self.phi = None if float(extra["phi"]) < 0 else float(extra["phi"])
        self.over = dict.fromkeys(extra["over"].astype(np.int64).tolist())


class _Ivf(_Mips):
    def __init__(self, dim: int, settings: IndexSettings) -> None:
        super().__init__(dim, settings)
        self.index: Any = None
        self.nprobe = 1

    def _train(self, aug: np.ndarray) -> None:
        nlist, self.nprobe = ivf_lists(len(aug), self.settings)
        limit = self.settings.train_per_list * nlist
        rng = np.random.default_rng(self.settings.seed)
        sample = aug if len(aug) <= limit else aug[rng.choice(len(aug), limit, replace=False)]
        quantizer = faiss.IndexFlat(self.space_dim, self.metric)
        index = _ivf_structure(quantizer, self.space_dim, nlist, self.settings, len(sample))
        index.cp.seed = self.settings.seed
        index.cp.max_points_per_centroid = max(self.settings.train_per_list, 39)
        index.train(np.ascontiguousarray(sample))
        self.quantizer, self.index = quantizer, index  # keep the quantizer alive with the index
        log.info("IVF trained on %d vectors: nlist=%d nprobe=%d", len(sample), nlist, self.nprobe)

    def add(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        if not len(ids):
            return
        ids, aug = self.place(ids, vecs)
        if self.index is None:
            self._train(aug)
        else:
            self.dead += len(ids)  # not seen by k-means: the lists drift until a retrain
        self.index.add_with_ids(aug, ids)

    def remove(self, ids: np.ndarray) -> None:
        rest = self.unplace(ids)
        if self.index is not None and len(rest):
            self.index.remove_ids(np.ascontiguousarray(rest, dtype=np.int64))

    def search(self, q: np.ndarray, fetch: int) -> np.ndarray:
        if self.index is None:
            return self.with_over(np.full((len(q), fetch), -1, np.int64))
        params = faiss.SearchParametersIVF()
        params.nprobe = self.nprobe
        _, ids = self.index.search(self.queries(q), fetch, params=params)
        return self.with_over(np.asarray(ids, dtype=np.int64))

    def write(self, path: Path) -> None:
        if self.index is not None:
            faiss.write_index(self.index, str(path / _FAISS_FILE))
        np.savez(path / _EXTRA_FILE, nprobe=self.nprobe, **self.extra_state())

    def read(self, path: Path) -> None:
        if (path / _FAISS_FILE).is_file():
            self.index = faiss.read_index(str(path / _FAISS_FILE))
        extra = np.load(path / _EXTRA_FILE)
        self.load_extra(extra)
        self.nprobe = int(extra["nprobe"])


class HnswBackend(_Mips):
    def __init__(self, dim: int, settings: IndexSettings) -> None:
        super().__init__(dim, settings)
        q = settings.quantize
        self.index: Any = (
            _FAISS.IndexHNSWSQ(self.space_dim, _SQ_TYPES[q], settings.hnsw_m, self.metric)
            if q in _SQ_TYPES
            else faiss.IndexHNSWFlat(self.space_dim, settings.hnsw_m, self.metric)
        )
        self.index.hnsw.efConstruction = settings.ef_construction
        self.trained_on = 0  # vectors the scalar quantiser (sq8) learnt its ranges from
        self.drift = 0  # vectors added since, while trained_on < TRAIN_ENOUGH
        self.pos_ids = np.zeros(0, np.int64)  # graph position -> item id (with spare capacity)
        self.alive = np.zeros(0, bool)
        self.n_pos = 0
        self.pos: dict[int, int] = {}  # item id -> its live graph position
        self._bitmap: np.ndarray | None = None  # packed `alive`, cached between changes

    def _grow(self, extra: int) -> None:
        need = self.n_pos + extra
        if need > len(self.pos_ids):
            more = max(need, 2 * len(self.pos_ids), 64) - len(self.pos_ids)
            self.pos_ids = np.concatenate([self.pos_ids, np.zeros(more, np.int64)])
            self.alive = np.concatenate([self.alive, np.zeros(more, bool)])

    @property
    def stale(self) -> int:
        return super().stale + self.drift

    def add(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        ids, aug = self.place(ids, vecs)
        if not len(ids):
            return
        if not self.index.is_trained:
            sample = aug
            if len(aug) > TRAIN_SAMPLE:
                rng = np.random.default_rng(self.settings.seed)
                sample = aug[np.sort(rng.choice(len(aug), TRAIN_SAMPLE, replace=False))]
            self.index.train(sample)
            self.trained_on = len(sample)
        elif 0 < self.trained_on < TRAIN_ENOUGH:
            self.drift += len(ids)
        start = self.n_pos
        self.index.add(aug)
        self._grow(len(ids))
        self.pos_ids[start : start + len(ids)] = ids
        self.alive[start : start + len(ids)] = True
        self.n_pos += len(ids)
        self.pos.update(zip(ids.tolist(), range(start, start + len(ids)), strict=True))
        self._bitmap = None

    def remove(self, ids: np.ndarray) -> None:
        for i in self.unplace(ids).tolist():
            p = self.pos.pop(i, None)
            if p is not None:
                self.alive[p] = False
                self.dead += 1
        self._bitmap = None

    def search(self, q: np.ndarray, fetch: int) -> np.ndarray:
        params = _FAISS.SearchParametersHNSW(efSearch=max(self.settings.ef_search, fetch))
        if self.n_pos > len(self.pos):  # dead positions: search only the live ones
            bitmap = self._bitmap
            if bitmap is None:
                bitmap = self._bitmap = np.packbits(self.alive[: self.n_pos], bitorder="little")
            params.sel = faiss.IDSelectorBitmap(self.n_pos, faiss.swig_ptr(bitmap))
        if self.n_pos == 0:
            return self.with_over(np.full((len(q), fetch), -1, np.int64))
        _, pos = self.index.search(self.queries(q), min(fetch, self.n_pos), params=params)
        return self.with_over(np.where(pos >= 0, self.pos_ids[np.clip(pos, 0, None)], -1))

    def write(self, path: Path) -> None:
        faiss.write_index(self.index, str(path / _FAISS_FILE))
        state: dict[str, Any] = {"pos_ids": self.pos_ids[: self.n_pos]}
        state.update(alive=self.alive[: self.n_pos], **self.extra_state())
        np.savez(path / _EXTRA_FILE, trained_on=self.trained_on, drift=self.drift, **state)

    def read(self, path: Path) -> None:
        self.index = faiss.read_index(str(path / _FAISS_FILE))
        extra = np.load(path / _EXTRA_FILE)
        self.load_extra(extra)
        self.pos_ids, self.alive = extra["pos_ids"].astype(np.int64), extra["alive"].astype(bool)
        if "trained_on" in extra.files:  # older caches: float32 graphs, nothing trained
            self.trained_on, self.drift = int(extra["trained_on"]), int(extra["drift"])
        self.n_pos = len(self.pos_ids)
        live = np.flatnonzero(self.alive)
        self.pos = dict(zip(self.pos_ids[live].tolist(), live.tolist(), strict=True))


def pq_bits(n: int) -> int:
    """Bits per PQ code: 8, fewer when fewer than 256 vectors train the codebooks."""
    return max(1, min(8, int(np.log2(max(n, 2)))))


def _ivf_structure(quantizer: Any, d: int, nlist: int, settings: IndexSettings, n: int) -> Any:
    """The IVF index that ``settings.quantize`` asks for, trained later on ``n`` vectors."""
    q, metric = settings.quantize, quantizer.metric_type
    if q in _SQ_TYPES:
        return faiss.IndexIVFScalarQuantizer(quantizer, d, nlist, _SQ_TYPES[q], metric)
    if q == "pq":
        index = faiss.IndexIVFPQ(quantizer, d, nlist, settings.pq_m, pq_bits(n), metric)
        index.pq.cp.seed = settings.seed
        return index
    return faiss.IndexIVFFlat(quantizer, d, nlist, metric)


BACKENDS: dict[str, type[Backend]] = {
    "flat": _Flat,
    "hnsw": HnswBackend,
    "ivf": _Ivf,
}


def choose_transform(kind: str, settings: IndexSettings, vecs: np.ndarray) -> Literal["ip", "l2"]:
    """``"ip"`` or ``"l2"``: whichever gives the better recall@10 on a sample of the items.

    Builds both on up to ``settings.calibration_items`` sampled vectors and searches them with
    pseudo-queries (100 sampled items, 100 means of 5 items: a model's interest vectors pool
    item vectors in the same way), at the configured ``ef_search``/``nprobe``. On both data sets
    of the :class:`_Mips` note this picks the better space, for real queries too. Ties: "ip".
    """
    rng = np.random.default_rng(settings.seed)
    n = len(vecs)
    sample = vecs[rng.choice(n, min(n, settings.calibration_items), replace=False)]
    m = len(sample)
    queries = np.vstack(
        [sample[rng.integers(0, m, 100)], sample[rng.integers(0, m, (100, 5))].mean(axis=1)]
    ).astype(np.float32)
    k = min(10, m)
    truth = np.argsort(-(queries @ sample.T), axis=1)[:, :k]
    ids = np.arange(m, dtype=np.int64)
    recall: dict[str, float] = {}
    for space in ("ip", "l2"):
        backend = BACKENDS[kind](vecs.shape[1], replace(settings, transform=space))
        backend.add(ids, sample)
        found = backend.search(queries, k)[:, :k]
        recall[space] = float(
            np.mean([len(set(a) & set(b)) for a, b in zip(found, truth, strict=True)]) / k
        )
    best: Literal["ip", "l2"] = "l2" if recall["l2"] > recall["ip"] else "ip"
    log.info(
        "%s search space: %s (sample recall@10 ip %.3f, l2 %.3f on %d items)",
        kind,
        best,
        recall["ip"],
        recall["l2"],
        m,
    )
    return best
