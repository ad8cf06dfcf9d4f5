"""Shared pieces of the item indexes: settings, input checks, the live vector store, file IO."""

from __future__ import annotations

import json
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np

from prismrec.config import EF_SEARCH, EXACT_BELOW
from prismrec.errors import ConfigError, UnknownIdError

__all__ = [
    "META_FILE",
    "Exclude",
    "QUANTIZERS",
    "IndexKind",
    "IndexSettings",
    "Quantize",
    "VectorStore",
    "blas_threads",
    "check_items",
    "check_quantize",
    "check_queries",
    "empty_result",
    "lookup",
    "read_meta",
    "write_meta",
]

IndexKind = Literal["auto", "exact", "flat", "hnsw", "ivf"]
Quantize = Literal["none", "fp16", "sq8", "pq"]
QUANTIZERS: tuple[Quantize, ...] = ("none", "fp16", "sq8", "pq")
Exclude = Sequence[Collection[int] | None] | None
META_FILE = "index.json"
_DENSE_MAX = 50_000_000  # ids below this are looked up through a dense array


@dataclass(frozen=True)
class IndexSettings:
    """How an index is built and searched (stored with every saved index).

    Attributes:
        kind: ``exact``, ``flat`` (FAISS brute force), ``hnsw``, ``ivf`` or ``auto``.
        exact_below: ``auto`` uses the exact index below this many items, HNSW from there.
        hnsw_m: HNSW graph degree ``M``.
        ef_construction: HNSW build beam width.
        ef_search: HNSW search beam width (raised to the fetch size when that is larger).
        nlist: IVF lists; ``None``: ``4 * sqrt(N)``, capped at ``N / 39`` (faiss' minimum
            training points per list).
        nprobe: IVF lists visited per query; ``None``: ``max(8, nlist // 16)``.
        train_per_list: IVF trains on at most this many sampled vectors per list.
        rebuild_share: rebuild once stale entries (HNSW: removed or replaced vectors still in
            the graph; IVF: vectors added after training) exceed this share of the live items.
        background_rebuild: start that rebuild in a background thread automatically.
        threads: OpenMP threads for FAISS (``faiss.omp_set_num_threads``).
        transform: the space HNSW/IVF search in: ``"ip"`` (inner product as is), ``"l2"``
            (inner product turned into L2 distance by one extra coordinate) or ``"auto"``: at
            the first build, whichever recalls more on a sample of the items (kept after that).
        calibration_items: items sampled for the ``"auto"`` choice.
        seed: seed of the IVF training sample and k-means.
        quantize: how the FAISS structure stores its vectors: ``"none"`` (float32),
            ``"fp16"`` or ``"sq8"`` (FAISS ``ScalarQuantizer``, 2 or 1 bytes per dimension;
            HNSW and IVF) or ``"pq"`` (product quantisation, ``pq_m`` bytes per vector; IVF
            only). The index still re-scores its candidates with the float32 vectors it keeps,
            so scores stay exact inner products; quantisation only changes which candidates
            are proposed.
        pq_m: sub-quantisers (bytes per vector) of ``"pq"``; the search space is padded with
            zeros to a multiple of it.
        refine: candidates fetched per wanted result before the exact re-scoring; ``None``:
            1 for ``"none"``/``"fp16"``, 2 for ``"sq8"``, 4 for ``"pq"``.
    """

    kind: IndexKind = "auto"
    exact_below: int = EXACT_BELOW
    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int = EF_SEARCH
    nlist: int | None = None
    nprobe: int | None = None
    train_per_list: int = 50
    rebuild_share: float = 0.2
    background_rebuild: bool = True
    threads: int = 1
    transform: Literal["auto", "ip", "l2"] = "auto"
    calibration_items: int = 10_000
    seed: int = 0
    quantize: Quantize = "none"
    pq_m: int = 16
    refine: int | None = None

    @property
    def refine_factor(self) -> int:
        """``refine``, or the default of ``quantize``."""
        if self.refine is not None:
            return max(1, self.refine)
        return {"none": 1, "fp16": 1, "sq8": 2, "pq": 4}[self.quantize]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IndexSettings:
        """Settings from a dict, ignoring unknown keys (older or newer saved indexes)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


# ----- validation shared by every index -------------------------------------------------------
def check_quantize(kind: str, settings: IndexSettings) -> None:
    """A ``ConfigError`` naming the allowed values when ``settings.quantize`` does not fit ``kind``.

    HNSW over product-quantised codes (``IndexHNSWPQ``) is left out: its graph is built from
    code-to-code distances, and on clustered 64-dimensional items its recall@10 stayed at
    0.3-0.5 at any beam (inner product or L2), where IVF-PQ reached 0.98 with 4x refinement.
    """
    q = settings.quantize
    if q not in QUANTIZERS:
        raise ConfigError(f"unknown index quantize {q!r}; use one of {', '.join(QUANTIZERS)}")
    if q == "none":
        return
    if kind in ("exact", "flat"):
        raise ConfigError(
            f"quantize={q!r} applies to the hnsw and ivf indexes; the {kind} index scores the "
            "float32 vectors (use quantize='none', or index 'hnsw'/'ivf'/'auto')"
        )
    if q == "pq" and kind != "ivf":
        raise ConfigError(
            "quantize='pq' needs the ivf index (HNSW over PQ codes recalls poorly); use "
            "index 'ivf' with 'pq', or 'fp16'/'sq8' with hnsw"
        )
    if q == "pq" and settings.pq_m < 1:
        raise ConfigError(f"pq_m must be >= 1, got {settings.pq_m}")


def check_items(ids: Any, vectors: Any, dim: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(n,) int64 ids and (n, D) C-contiguous float32 vectors, or a ``ValueError`` naming why."""
    id_arr = np.asarray(ids, dtype=np.int64).reshape(-1)
    vec = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if vec.ndim != 2 or len(vec) != len(id_arr):
        raise ValueError(f"expected vectors of shape ({len(id_arr)}, D), got {vec.shape}")
    if dim is not None and vec.shape[1] != dim:
        raise ValueError(f"vectors have dimension {vec.shape[1]}, the index has {dim}")
    if len(np.unique(id_arr)) != len(id_arr):
        raise ValueError("duplicate ids in one call; pass each id once")
    if (id_arr < 0).any():
        raise ValueError(f"item ids must be >= 0, got {id_arr[id_arr < 0][:5].tolist()}")
    if not np.isfinite(vec).all():
        bad = id_arr[~np.isfinite(vec).all(axis=1)][:5].tolist()
        raise ValueError(f"vectors of ids {bad} contain NaN or inf")
    return id_arr, vec


def check_queries(queries: Any, dim: int, k: int, exclude: Exclude) -> np.ndarray:
    """(Q, D) float32 queries; validates ``k`` and the length of ``exclude``."""
    q = np.ascontiguousarray(np.asarray(queries, dtype=np.float32))
    if q.ndim == 1:
        q = q[None, :]
    if q.ndim != 2 or q.shape[1] != dim:
        raise ValueError(f"expected queries of shape (Q, {dim}), got {np.shape(queries)}")
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if exclude is not None and len(exclude) != len(q):
        raise ValueError(f"exclude has {len(exclude)} entries for {len(q)} queries")
    return q


def empty_result(n_queries: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Ids all ``-1`` and scores all ``-inf``."""
    return np.full((n_queries, k), -1, np.int64), np.full((n_queries, k), -np.inf, np.float32)


class VectorStore:
    """Live ids and vectors in contiguous rows; removal moves the last row into the hole."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._ids = np.zeros(0, np.int64)
        self._vecs = np.zeros((0, dim), np.float32)
        self._n = 0
        self._row: dict[int, int] = {}
        self._dense: np.ndarray | None = np.full(64, -1, np.int64)

    def __len__(self) -> int:
        return self._n

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._row

    @property
    def ids(self) -> np.ndarray:
        return self._ids[: self._n]

    @property
    def matrix(self) -> np.ndarray:
        return self._vecs[: self._n]

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """Row of each id, ``-1`` where absent."""
        arr = np.asarray(ids, dtype=np.int64).reshape(-1)
        dense = self._dense
        if dense is not None:  # item rows are small ints: one gather instead of a dict loop
            inside = (arr >= 0) & (arr < len(dense))
            return np.where(inside, dense[np.where(inside, arr, 0)], -1)
        get = self._row.get
        return np.fromiter((get(int(i), -1) for i in arr), np.int64, count=len(arr))

    def _index_dense(self, ids: np.ndarray, rows: np.ndarray) -> None:
        """Keep the id -> row array while ids stay below ``_DENSE_MAX`` (else: dict only)."""
        if self._dense is None or not len(ids):
            return
        top = int(ids.max())
        if int(ids.min()) < 0 or top >= _DENSE_MAX:
            self._dense = None
            return
        if top >= len(self._dense):
            grown = np.full(max(top + 1, 2 * len(self._dense)), -1, np.int64)
            grown[: len(self._dense)] = self._dense
            self._dense = grown
        self._dense[ids] = rows

    def _grow(self, extra: int) -> None:
        need = self._n + extra
        if need <= len(self._ids):
            return
        cap = max(need, 2 * len(self._ids), 64)
        ids = np.zeros(cap, np.int64)
        vecs = np.zeros((cap, self.dim), np.float32)
        ids[: self._n], vecs[: self._n] = self.ids, self.matrix
        self._ids, self._vecs = ids, vecs

    def append(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        """Append ids that are not present (the caller checked)."""
        self._grow(len(ids))
        start = self._n
        self._ids[start : start + len(ids)] = ids
        self._vecs[start : start + len(ids)] = vecs
        self._row.update(zip(ids.tolist(), range(start, start + len(ids)), strict=True))
        self._index_dense(ids, np.arange(start, start + len(ids)))
        self._n += len(ids)

    def upsert(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        rows = self.rows(ids)
        old = rows >= 0
        self._vecs[rows[old]] = vecs[old]
        self.append(ids[~old], vecs[~old])

    def remove(self, ids: np.ndarray) -> np.ndarray:
        """Remove present ids; returns the ids that were removed."""
        gone = []
        for i in ids.tolist():
            r = self._row.pop(i, None)
            if r is None:
                continue
            gone.append(i)
            last = self._n - 1
            if r != last:
                moved = int(self._ids[last])
                self._ids[r], self._vecs[r] = moved, self._vecs[last]
                self._row[moved] = r
                self._index_dense(np.asarray([moved]), np.asarray([r]))
            if self._dense is not None:
                self._dense[i] = -1
            self._n -= 1
        return np.asarray(gone, dtype=np.int64)

    def snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the live ids and vectors."""
        return self.ids.copy(), self.matrix.copy()

    def save(self, path: Path) -> None:
        np.save(path / "ids.npy", self.ids)
        np.save(path / "vectors.npy", self.matrix)

    @classmethod
    def load(cls, path: Path) -> VectorStore:
        ids, vecs = np.load(path / "ids.npy"), np.load(path / "vectors.npy")
        store = cls(int(vecs.shape[1]))
        store.append(ids.astype(np.int64), vecs.astype(np.float32))
        return store


def lookup(store: VectorStore, ids: Any) -> np.ndarray:
    """Vectors of ``ids`` from a store, raising ``UnknownIdError`` for absent ids."""
    arr = np.asarray(ids, dtype=np.int64).reshape(-1)
    rows = store.rows(arr)
    if (rows < 0).any():
        raise UnknownIdError(f"item ids not in the index: {arr[rows < 0][:10].tolist()}")
    return store.matrix[rows].copy()


def write_meta(path: str | Path, cls: str, kind: str, settings: IndexSettings, dim: int) -> Path:
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"class": cls, "kind": kind, "dim": dim, "settings": asdict(settings), "version": 1}
    (out / META_FILE).write_text(json.dumps(meta, indent=2))
    return out


def read_meta(path: str | Path) -> dict[str, Any]:
    f = Path(path) / META_FILE
    if not f.is_file():
        raise ConfigError(f"{path}: not an index directory (no {META_FILE}); write one with save()")
    meta: dict[str, Any] = json.loads(f.read_text())
    return meta


class _BlasLimit:
    """Process-wide BLAS thread cap while any search runs (refcounted, so overlapping
    searches from several threads restore the original limits exactly once)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0
        self._limiter: Any = None
        self._controller: Any = None

    @contextmanager
    def __call__(self, threads: int) -> Iterator[None]:
        with self._lock:
            if self._active == 0:
                self._limiter = self._apply(threads)
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                if self._active == 0 and self._limiter is not None:
                    self._limiter.restore_original_limits()
                    self._limiter = None

    def _apply(self, threads: int) -> Any:
        if self._controller is None:
            try:
                from threadpoolctl import ThreadpoolController
            except ImportError:  # optional: without it BLAS keeps its own thread count
                self._controller = False
                return None
            self._controller = ThreadpoolController()
        if self._controller is False:
            return None
        return self._controller.limit(limits=max(1, threads), user_api="blas")


# A (1, D) x (D, N) product on a multi-threaded BLAS of a busy 2-core machine took 12 ms for
# N = 10k; capped at one thread it takes 0.25 ms. Searches therefore cap BLAS at
# ``IndexSettings.threads`` for their duration.
blas_threads = _BlasLimit()
