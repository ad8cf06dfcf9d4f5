"""On-disk embedding cache keyed by model id and a hash of each text.

Layout: ``ROOT/<model-slug>-<dtype>/`` holds ``meta.json`` and shard files ``part-*.npz`` (keys and
vectors). New vectors are appended as a new shard after each chunk, so an interrupted run keeps
what it encoded and the next run resumes; shards are merged when there are many. Writes go to a
temporary file and are renamed into place, so readers never see half a shard.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from prismrec.errors import DataError
from prismrec.progress import Tracker

__all__ = ["EmbeddingCache", "EncodeStats", "Encoder", "text_key"]

log = logging.getLogger(__name__)

CacheDtype = Literal["float16", "float32"]


class Encoder(Protocol):
    """Anything that turns texts into vectors; the cache keys its vectors by ``model_id``."""

    @property
    def model_id(self) -> str: ...

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def text_key(text: str) -> str:
    """32-hex-digit hash of a text (the cache key within one model)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


@dataclass(frozen=True)
class EncodeStats:
    """What one :meth:`EmbeddingCache.get_or_encode` call did.

    Attributes:
        n_texts: texts asked for.
        n_unique: distinct texts among them.
        n_cached: distinct texts found in the cache.
        n_encoded: distinct texts sent to the encoder.
        seconds: wall time of the whole call.
    """

    n_texts: int
    n_unique: int
    n_cached: int
    n_encoded: int
    seconds: float

    @property
    def texts_per_second(self) -> float:
        return self.n_texts / self.seconds if self.seconds > 0 else float("inf")


class _Table:
    """The in-memory view of one model's cache directory."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.blocks: list[np.ndarray] = []
        self.n_rows = 0
        self.n_shards = 0

    @property
    def dim(self) -> int | None:
        return self.blocks[0].shape[1] if self.blocks else None

    def add(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        for i, k in enumerate(keys):
            self.index.setdefault(k, self.n_rows + i)  # a key in two shards: keep the first
        self.blocks.append(vectors)
        self.n_rows += len(keys)

    def matrix(self) -> np.ndarray:
        if len(self.blocks) > 1:
            self.blocks = [np.concatenate(self.blocks)]
        return self.blocks[0]


class EmbeddingCache:
    """Vectors by (model id, text hash), stored under ``root``.

    Args:
        root: cache directory (default for a dataset: ``DATA_DIR/content``).
        dtype: storage type of new vectors; part of the directory name, so float16 and float32
            caches of one model live side by side.
        chunk_size: texts encoded (and saved) per step; an interrupted run loses at most one chunk.
        max_shards: merge the shard files once a model has more than this many (a run that
            wrote several chunks merges its shards right away).
    """

    def __init__(
        self,
        root: str | Path,
        dtype: CacheDtype = "float16",
        chunk_size: int = 1024,
        max_shards: int = 16,
    ) -> None:
        self.root = Path(root)
        self.dtype: CacheDtype = dtype
        self.chunk_size = chunk_size
        self.max_shards = max_shards
        self._tables: dict[str, _Table] = {}

    def directory(self, model_id: str) -> Path:
        """The directory holding ``model_id``'s vectors."""
        slug = re.sub(r"[^A-Za-z0-9._=-]+", "_", model_id).strip("_")[-48:]
        digest = hashlib.blake2b(model_id.encode(), digest_size=4).hexdigest()
        return self.root / f"{slug}-{digest}-{self.dtype}"

    def size(self, model_id: str) -> int:
        """Number of cached vectors for ``model_id``."""
        return len(self._table(model_id).index)

    def get_or_encode(
        self,
        texts: Sequence[str],
        encoder: Encoder,
        progress: Callable[[int, int], None] | None = None,
    ) -> tuple[np.ndarray, EncodeStats]:
        """Vectors for ``texts``, encoding only those not cached yet.

        Args:
            texts: the texts; duplicates are encoded once.
            encoder: any object with ``model_id`` and ``encode(list[str]) -> (n, D) array``.
            progress: called as ``progress(done, total)`` before encoding and after each chunk,
                where ``total`` counts the texts that need encoding (None: a
                :class:`~prismrec.progress.Tracker`).

        Returns:
            (len(texts), D) float32 vectors in the order of ``texts``, and what was done.
        """
        t0 = time.perf_counter()
        model_id = encoder.model_id
        table = self._table(model_id)
        keys = [text_key(t) for t in texts]
        todo: dict[str, str] = {}
        for k, t in zip(keys, texts, strict=True):
            if k not in table.index and k not in todo:
                todo[k] = t
        n_unique = len(set(keys))
        pending = list(todo.items())
        bar = None
        if progress is None and pending:  # the default: a bar, or lines in a log
            bar = Tracker("encoding item texts", len(pending), "text")
            progress = bar.update
        if progress is not None:
            progress(0, len(pending))
        for start in range(0, len(pending), self.chunk_size):
            chunk = pending[start : start + self.chunk_size]
            vectors = self._encode_chunk(encoder, [t for _, t in chunk], table.dim)
            self._append(model_id, table, [k for k, _ in chunk], vectors)
            if progress is not None:
                progress(start + len(chunk), len(pending))
        if bar is not None:
            bar.close()
        # one file per run keeps loading fast; many small runs are merged once there are many
        if (len(pending) > self.chunk_size and table.n_shards > 1) or (
            table.n_shards > self.max_shards
        ):
            self._compact(model_id, table)
        out = self._lookup(table, keys)
        stats = EncodeStats(
            len(texts), n_unique, n_unique - len(todo), len(todo), time.perf_counter() - t0
        )
        log.info(
            "embedding cache %s: %d texts, %d cached, %d encoded in %.1fs",
            model_id,
            stats.n_texts,
            stats.n_cached,
            stats.n_encoded,
            stats.seconds,
        )
        return out, stats

    def _lookup(self, table: _Table, keys: list[str]) -> np.ndarray:
        if not keys:
            return np.zeros((0, table.dim or 0), dtype=np.float32)
        rows = np.fromiter((table.index[k] for k in keys), dtype=np.int64, count=len(keys))
        return table.matrix()[rows].astype(np.float32)

    def _encode_chunk(self, encoder: Encoder, texts: list[str], dim: int | None) -> np.ndarray:
        vectors = np.asarray(encoder.encode(texts))
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise DataError(
                f"encoder {encoder.model_id!r} returned shape {vectors.shape} for "
                f"{len(texts)} texts; expected ({len(texts)}, D)"
            )
        if dim is not None and vectors.shape[1] != dim:
            raise DataError(
                f"encoder {encoder.model_id!r} returned {vectors.shape[1]}-dim vectors but the "
                f"cache {self.directory(encoder.model_id)} holds {dim}-dim vectors for that model "
                "id; the model changed without a new id. Delete that directory and encode again."
            )
        if not np.isfinite(vectors).all():
            raise DataError(f"encoder {encoder.model_id!r} returned NaN or infinite values")
        return vectors.astype(self.dtype)

    def _table(self, model_id: str) -> _Table:
        if model_id not in self._tables:
            self._tables[model_id] = self._read(model_id)
        return self._tables[model_id]

    def _read(self, model_id: str) -> _Table:
        table = _Table()
        d = self.directory(model_id)
        for shard in sorted(d.glob("part-*.npz")) if d.is_dir() else []:
            try:
                with np.load(shard) as z:
                    keys, vectors = z["keys"].astype(str).tolist(), z["vectors"]
            except (OSError, ValueError, KeyError) as exc:
                log.warning(
                    "skipping unreadable cache shard %s (%s); its texts are re-encoded", shard, exc
                )
                continue
            if table.dim is not None and vectors.shape[1] != table.dim:
                raise DataError(
                    f"cache shard {shard} has {vectors.shape[1]}-dim vectors, others "
                    f"{table.dim}-dim; delete {d} and encode again"
                )
            table.add(keys, vectors.astype(self.dtype, copy=False))
            table.n_shards += 1
        return table

    def _append(self, model_id: str, table: _Table, keys: list[str], vectors: np.ndarray) -> None:
        d = self.directory(model_id)
        d.mkdir(parents=True, exist_ok=True)
        meta = d / "meta.json"
        if not meta.is_file():
            _atomic_write_text(
                meta,
                json.dumps(
                    {"model_id": model_id, "dtype": self.dtype, "dim": int(vectors.shape[1])}
                ),
            )
        _write_shard(d / f"part-{time.time_ns():020d}-{os.getpid()}.npz", keys, vectors)
        table.add(keys, vectors)
        table.n_shards += 1

    def _compact(self, model_id: str, table: _Table) -> None:
        d = self.directory(model_id)
        old = sorted(d.glob("part-*.npz"))
        by_row = sorted(table.index.items(), key=lambda kv: kv[1])
        keys = [k for k, _ in by_row]
        vectors = table.matrix()[[r for _, r in by_row]]
        _write_shard(d / f"part-{time.time_ns():020d}-{os.getpid()}.npz", keys, vectors)
        for p in old:
            p.unlink(missing_ok=True)
        table.n_shards = 1
        log.info("merged %d cache shards of %s", len(old), d)


def _write_shard(path: Path, keys: list[str], vectors: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        np.savez(fh, keys=np.asarray(keys, dtype="S32"), vectors=vectors)
    os.replace(tmp, path)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
