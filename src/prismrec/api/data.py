"""Datasets in the Python API: prepare a file or folder, wrap a DataFrame, open a directory."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import polars as pl

from prismrec.config import PrismConfig, load_config
from prismrec.data.dataset import PreparedDataset
from prismrec.data.dataset import prepare as _prepare
from prismrec.data.vocab import IdMaps
from prismrec.errors import DataError

__all__ = ["SPLITS", "ConfigLike", "Dataset", "as_config", "prepare"]

ConfigLike = str | Path | PrismConfig | None
SPLITS = ("valid", "test")  # the split names a model is evaluated on


def as_config(config: ConfigLike) -> PrismConfig:
    """A config object from a file path, a :class:`PrismConfig` or ``None`` (defaults)."""
    return config if isinstance(config, PrismConfig) else load_config(config)


class Dataset:
    """A prepared dataset directory: events as contiguous rows, vocabularies, the split.

    Build one with :func:`prepare` (a file or folder in any supported format),
    :meth:`from_frame` (a DataFrame) or :meth:`load` (a directory prepared before).
    """

    def __init__(self, prepared: PreparedDataset) -> None:
        self.prepared = prepared
        self.ids = IdMaps(prepared.user_vocab, prepared.item_vocab)

    @classmethod
    def load(cls, root: str | Path) -> Dataset:
        """Open a directory written by :func:`prepare` (``prismrec data prepare --out``)."""
        return cls(PreparedDataset.load(root))

    @classmethod
    def from_frame(
        cls,
        interactions: Any,
        out: str | Path | None = None,
        *,
        items: Any = None,
        users: Any = None,
        config: ConfigLike = None,
        skip_bad_rows: bool = False,
        **data: Any,
    ) -> Dataset:
        """Validate, preprocess and split a DataFrame of events (polars or pandas).

        Args:
            interactions: one row per event with ``user_id``, ``item_id`` and ``timestamp``
                (and optionally ``event_type``, ``value``, context columns), or other column
                names mapped by ``columns={...}``.
            out: where to write the prepared dataset (default: a new temporary directory).
            items: an optional item catalogue with ``item_id`` and content columns.
            users: optional static user attributes with ``user_id``.
            config: a config file or :class:`~prismrec.config.PrismConfig`; its ``[data]``.
            skip_bad_rows: keep the good rows when some are invalid (else a ``DataError``).
            **data: ``[data]`` keys that override the config, e.g. ``split="ratio"``,
                ``columns={"user_id": "customer"}``, ``item_text_fields=["title"]``.
        """
        root = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="prismrec-"))
        source = root / "source"
        source.mkdir(parents=True, exist_ok=True)
        for name, frame in (("interactions", interactions), ("items", items), ("users", users)):
            if frame is not None:
                _polars(frame, name).write_parquet(source / f"{name}.parquet")
        cfg = as_config(config).with_overrides("data", **data).data
        return cls(_prepare(source, root, "parquet", cfg, skip_bad_rows=skip_bad_rows))

    @property
    def root(self) -> Path:
        return Path(self.prepared.root)

    @property
    def n_users(self) -> int:
        return self.prepared.n_users

    @property
    def n_items(self) -> int:
        return self.prepared.n_items

    def __repr__(self) -> str:
        return f"Dataset({str(self.root)!r}, users={self.n_users:,}, items={self.n_items:,})"


def _polars(frame: Any, name: str) -> pl.DataFrame:
    if isinstance(frame, pl.DataFrame):
        return frame
    try:
        return pl.from_pandas(frame)
    except (TypeError, ValueError, ImportError) as exc:
        raise DataError(f"{name}: expected a polars or pandas DataFrame ({exc})") from None


def prepare(
    path: str | Path,
    out: str | Path,
    *,
    format: str | None = None,
    config: ConfigLike = None,
    skip_bad_rows: bool = False,
    **data: Any,
) -> Dataset:
    """Load, validate, preprocess and split a dataset into ``out``.

    Args:
        path: a file or folder in a supported format, or ``bundled:ml-latest-small``.
        out: the prepared dataset directory to write.
        format: the format (detected when ``None``; see the data formats how-to).
        config: a config file or :class:`~prismrec.config.PrismConfig`; its ``[data]``.
        skip_bad_rows: keep the good rows when some are invalid (else a ``DataError``).
        **data: ``[data]`` keys that override the config (``split="ratio"``, ``seed=1`` ...).
    """
    cfg = as_config(config).with_overrides("data", **data).data
    return Dataset(_prepare(path, out, format, cfg, skip_bad_rows=skip_bad_rows))
