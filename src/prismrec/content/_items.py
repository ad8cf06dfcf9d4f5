"""Catalogue-level helpers: item text vectors through the cache, vector columns, encode manifest."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from pydantic import ValidationError

from prismrec.content.cache import EmbeddingCache, Encoder, EncodeStats
from prismrec.content.config import ContentConfig
from prismrec.content.text import TextTemplate
from prismrec.data.schema import ItemFields
from prismrec.errors import ConfigError, DataError

__all__ = [
    "MANIFEST",
    "TextVectors",
    "attach_vector_files",
    "config_for",
    "encode_item_texts",
    "read_manifest",
    "vector_matrix",
    "write_manifest",
]

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"


@dataclass
class TextVectors:
    """Text vectors aligned with item rows.

    Attributes:
        vectors: (R, D) float32, zeros where an item has no text.
        mask: (R,) bool, True where the item has text.
        texts: (R,) the composed text per row (``""`` for padding and items without text).
        model_id: the encoder's cache key.
        stats: what the cache did.
    """

    vectors: np.ndarray
    mask: np.ndarray
    texts: list[str]
    model_id: str
    stats: EncodeStats


def encode_item_texts(
    frame: pl.DataFrame,
    template: TextTemplate,
    n_rows: int,
    encoder: Encoder,
    cache: EmbeddingCache,
    progress: Callable[[int, int], None] | None = None,
) -> TextVectors:
    """Compose each item's text, then take its vector from the cache or the encoder.

    Raises:
        ConfigError: the template names a column the catalogue does not have.
    """
    template.check_columns(frame.columns)
    rows = frame.get_column("item_idx").cast(pl.Int64).to_numpy()
    if template.fields:
        texts = template.render_all(frame.select(template.fields).to_dicts())
    else:
        texts = [template.render({})] * frame.height
    keep = np.flatnonzero(np.fromiter((bool(t) for t in texts), dtype=bool, count=len(texts)))
    vecs, stats = cache.get_or_encode([texts[i] for i in keep], encoder, progress)
    if len(keep) < len(texts):
        log.info("%d of %d items have no text", len(texts) - len(keep), len(texts))
    out = np.zeros((n_rows, vecs.shape[1] if len(keep) else 0), dtype=np.float32)
    mask = np.zeros(n_rows, dtype=bool)
    out[rows[keep]] = vecs
    mask[rows[keep]] = True
    by_row = [""] * n_rows
    for r, t in zip(rows.tolist(), texts, strict=True):
        by_row[r] = t
    return TextVectors(out, mask, by_row, encoder.model_id, stats)


def vector_matrix(
    frame: pl.DataFrame, column: str, expected: int | None, source: str = "[content] vector_dims"
) -> tuple[np.ndarray, np.ndarray, int]:
    """Validate and stack one precomputed-vector column.

    Args:
        frame: catalogue with ``item_id`` and ``column`` (list/array of floats; null or empty
            means the item lacks this modality).
        column: the vector column.
        expected: required dimension (``None``: the most common one).
        source: where ``expected`` comes from, for the error message.

    Returns:
        (present mask over frame rows, (n_present, dim) float32 values, dim).

    Raises:
        DataError: not a list column, vectors of different dimensions, a dimension other than
            ``expected``, or NaN/infinite values; the message names the first bad item.
    """
    if column not in frame.columns:
        raise DataError(
            f"vector column {column!r} is not in the item catalogue; it has {frame.columns}"
        )
    col = frame.get_column(column)
    if isinstance(col.dtype, pl.Array):
        col = col.cast(pl.List(col.dtype.inner))
    if not isinstance(col.dtype, pl.List):
        raise DataError(
            f"vector column {column!r} holds {col.dtype}, expected list[float] "
            "(a Parquet list column, or a RecBole float_seq column)"
        )
    col = col.cast(pl.List(pl.Float64))
    lens = col.list.len().fill_null(0).to_numpy()
    present = lens > 0
    if expected is None:
        if not present.any():
            raise DataError(
                f"vector column {column!r}: no item has a vector, so its dimension "
                "is unknown; set [content] vector_dims or drop the column"
            )
        expected, source = int(np.bincount(lens[present]).argmax()), "the most common size"
    ids = frame.get_column("item_id")
    _check_dims(column, lens, present, expected, source, ids)
    values = col.filter(pl.Series(present)).explode().to_numpy().astype(np.float32)
    values = values.reshape(-1, expected)
    finite = np.isfinite(values).all(axis=1)
    if not finite.all():
        first = int(np.flatnonzero(present)[np.flatnonzero(~finite)[0]])
        raise DataError(
            f"vector column {column!r}: item {ids[first]!r} has NaN, null or "
            f"infinite values ({int((~finite).sum())} item(s) do)"
        )
    return present, values, int(expected)


def _check_dims(
    column: str, lens: np.ndarray, present: np.ndarray, expected: int, source: str, ids: pl.Series
) -> None:
    bad = np.flatnonzero(present & (lens != expected))
    if len(bad):
        raise DataError(
            f"vector column {column!r}: item {ids[int(bad[0])]!r} has a {lens[bad[0]]}-dim "
            f"vector but {expected} dims are expected ({source}); {len(bad)} item(s) differ. "
            "All vectors of one modality must come from one model: re-export them, or set "
            "[content] vector_dims if the expected size is wrong."
        )


def attach_vector_files(
    frame: pl.DataFrame, fields: ItemFields, cfg: ContentConfig
) -> tuple[pl.DataFrame, ItemFields]:
    """Join ``[content] vector_files`` (Parquet: ``item_id`` + one list column) onto the catalogue.

    Items absent from a file simply lack that modality; ids not in the catalogue are ignored.

    Raises:
        ConfigError: a file is missing or a modality name clashes with a catalogue column.
        DataError: a file has no ``item_id``, no unambiguous vector column, or duplicate ids.
    """
    added = []
    for name, path in cfg.vector_files.items():
        p = Path(path).expanduser()
        if not p.is_file():
            raise ConfigError(f"[content] vector_files.{name}: file {p} not found")
        if name in frame.columns:
            raise ConfigError(
                f"[content] vector_files.{name}: the catalogue already has a "
                f"column {name!r}; pick another modality name"
            )
        df = pl.read_parquet(p)
        others = [c for c in df.columns if c != "item_id"]
        column = name if name in df.columns else (others[0] if len(others) == 1 else None)
        if "item_id" not in df.columns or column is None:
            raise DataError(
                f"{p}: a vector file needs an 'item_id' column and one vector column "
                f"(or one named {name!r}); it has {df.columns}"
            )
        df = df.select(pl.col("item_id").cast(pl.String), pl.col(column).alias(name))
        if df.get_column("item_id").is_duplicated().any():
            raise DataError(f"{p}: duplicate item_id values; give each item one vector")
        known = df.join(frame.select("item_id"), on="item_id", how="semi").height
        log.info(
            "%s: vectors for %d of %d catalogue items (%d unknown ids ignored)",
            p,
            known,
            frame.height,
            df.height - known,
        )
        frame = frame.join(df, on="item_id", how="left")
        added.append(name)
    return frame, replace(fields, vector=(*fields.vector, *added))


def read_manifest(content_dir: str | Path) -> dict[str, Any] | None:
    """The record ``content encode`` left in ``DATA_DIR/content``, or ``None``."""
    p = Path(content_dir) / MANIFEST
    return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else None


def write_manifest(content_dir: str | Path, record: dict[str, Any]) -> Path:
    """Write the encode record atomically."""
    d = Path(content_dir)
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / f"{MANIFEST}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(record, indent=2), encoding="utf-8")
    os.replace(tmp, d / MANIFEST)
    return d / MANIFEST


def config_for(data_dir: str | Path, cfg: ContentConfig | None) -> ContentConfig:
    """``cfg`` if given, else the config ``content encode`` recorded for the dataset, else defaults.

    Raises:
        ConfigError: the recorded config is no longer valid.
    """
    if cfg is not None:
        return cfg
    record = read_manifest(Path(data_dir) / "content")
    if record is None:
        return ContentConfig()
    try:
        return ContentConfig(**record["config"])
    except (ValidationError, KeyError) as exc:
        where = Path(data_dir) / "content" / MANIFEST
        raise ConfigError(
            f"{where}: recorded config is invalid ({exc}); run "
            f"'prismrec content encode --data {data_dir}' again"
        ) from None
