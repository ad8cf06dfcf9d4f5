"""Per-item modality inputs built from a prepared dataset's item catalogue.

Every array has one row per ``item_idx`` (row 0 is padding, never present), so training picks rows
with the same indices as its sequences. A :class:`FeatureSpec` (vocabularies, numeric statistics,
vector dimensions) is fitted once and stored with a model, so serving builds identical features for
items that arrive later (``build_item_features(frame, spec, ...)``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from prismrec.content._items import (
    TextVectors,
    attach_vector_files,
    config_for,
    encode_item_texts,
    vector_matrix,
    write_manifest,
)
from prismrec.content.cache import EmbeddingCache
from prismrec.content.config import ContentConfig
from prismrec.content.text import TextEncoder, TextTemplate, default_template
from prismrec.data.schema import ItemFields
from prismrec.errors import DataError

if TYPE_CHECKING:
    from prismrec.content.cache import Encoder
    from prismrec.data.dataset import PreparedDataset

__all__ = [
    "EncodeReport",
    "FeatureSpec",
    "ItemFeatures",
    "build_item_features",
    "content_dir",
    "encode_dataset",
    "fit_feature_spec",
    "load_item_features",
]

log = logging.getLogger(__name__)
_CLIP = 5.0


@dataclass(frozen=True)
class FeatureSpec:
    """Everything needed to turn catalogue rows into model inputs the same way twice.

    Attributes:
        categorical: field -> vocabulary (value at position i has index i + 1; 0 = padding or a
            value not in the vocabulary). Single- and multi-valued fields alike.
        multi: which of ``categorical`` are list columns.
        numeric: field -> (mean, std) used for z-scores (clipped to +-5).
        vectors: vector modality -> dimension.
        text_template: the item text template, ``None`` when there is no text modality.
        max_bag_size: values kept per item and field (the most frequent ones).
    """

    categorical: dict[str, list[str]] = field(default_factory=dict)
    multi: tuple[str, ...] = ()
    numeric: dict[str, tuple[float, float]] = field(default_factory=dict)
    vectors: dict[str, int] = field(default_factory=dict)
    text_template: str | None = None
    max_bag_size: int = 32

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (for a checkpoint directory)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureSpec:
        return cls(
            categorical={k: list(v) for k, v in d["categorical"].items()},
            multi=tuple(d["multi"]),
            numeric={k: (float(v[0]), float(v[1])) for k, v in d["numeric"].items()},
            vectors={k: int(v) for k, v in d["vectors"].items()},
            text_template=d.get("text_template"),
            max_bag_size=int(d.get("max_bag_size", 32)),
        )

    def tower_sizes(self, text_dim: int | None) -> dict[str, Any]:
        """Constructor arguments of :class:`prismrec.models.fusion.ItemTower` for these inputs."""
        return {
            "text_dim": text_dim,
            "categorical_sizes": {f: len(v) + 1 for f, v in self.categorical.items()},
            "numeric_dim": len(self.numeric),
            "vector_dims": dict(self.vectors),
        }


@dataclass
class ItemFeatures:
    """Model inputs for every item; row ``i`` is ``item_idx`` ``i`` (row 0: padding).

    Attributes:
        item_ids: external id per row (``""`` for row 0).
        text: (R, D_text) float32 text vectors, or ``None`` without a text modality.
        text_mask: (R,) bool, True where the item has text.
        categorical: field -> (R, L) int64 index bags, 0 = padding.
        numeric: (R, F) float32 z-scores, 0 where missing.
        numeric_mask: (R, F) bool, True where the value is present.
        vectors: modality -> (R, D_m) float32, zeros where missing.
        vector_masks: modality -> (R,) bool.
        spec: the spec the features were built with.
    """

    item_ids: list[str]
    text: np.ndarray | None
    text_mask: np.ndarray
    categorical: dict[str, np.ndarray]
    numeric: np.ndarray
    numeric_mask: np.ndarray
    vectors: dict[str, np.ndarray]
    vector_masks: dict[str, np.ndarray]
    spec: FeatureSpec

    @property
    def n_rows(self) -> int:
        return len(self.item_ids)

    def coverage(self) -> dict[str, float]:
        """Share of items (excluding padding) that have each modality."""

        def share(mask: Any) -> float:
            return float(mask[1:].mean()) if self.n_rows > 1 else 0.0

        out = {"text": share(self.text_mask)} if self.text is not None else {}
        out.update({f"cat:{f}": share((b > 0).any(1)) for f, b in self.categorical.items()})
        out.update(
            {f"num:{f}": share(self.numeric_mask[:, j]) for j, f in enumerate(self.spec.numeric)}
        )
        out.update({f"vec:{m}": share(mask) for m, mask in self.vector_masks.items()})
        return out

    def to_tensors(self) -> dict[str, Any]:
        """Torch tensors named as the fields of :class:`prismrec.models.fusion.ItemInputs`."""
        import torch

        t = torch.as_tensor
        return {
            "text": None if self.text is None else t(self.text),
            "text_mask": t(self.text_mask),
            "categorical": {f: t(b) for f, b in self.categorical.items()},
            "numeric": t(self.numeric),
            "numeric_mask": t(self.numeric_mask),
            "vectors": {m: t(v) for m, v in self.vectors.items()},
            "vector_masks": {m: t(v) for m, v in self.vector_masks.items()},
        }


def _values(frame: pl.DataFrame, column: str, multi: bool) -> pl.DataFrame:
    """Long frame (item_idx, value) of the non-empty values of a (list) column, as strings."""
    df = frame.select("item_idx", pl.col(column).alias("value"))
    if multi:
        df = df.explode("value")
    return (
        df.with_columns(pl.col("value").cast(pl.String).str.strip_chars())
        .filter(pl.col("value").is_not_null() & (pl.col("value") != ""))
        .unique(["item_idx", "value"])
    )


def fit_feature_spec(frame: pl.DataFrame, fields: ItemFields, cfg: ContentConfig) -> FeatureSpec:
    """Fit vocabularies, numeric statistics and vector dimensions on a catalogue.

    Raises:
        DataError: a vector column has rows of different dimensions or one that differs from
            ``cfg.vector_dims``.
    """
    categorical = {}
    for f in (*fields.categorical, *fields.multi):
        counts = (
            _values(frame, f, f in fields.multi)
            .group_by("value")
            .len()
            .filter(pl.col("len") >= cfg.min_count)
            .sort(["len", "value"], descending=[True, False])
        )
        categorical[f] = counts.get_column("value").to_list()
    numeric = {}
    for f in fields.numeric:
        x = frame.get_column(f).cast(pl.Float64).to_numpy()
        x = x[np.isfinite(x)]
        mean = float(x.mean()) if len(x) else 0.0
        std = float(x.std()) if len(x) > 1 else 1.0
        numeric[f] = (mean, std if std > 0 else 1.0)
    vectors = {}
    for f in fields.vector:
        _, _, dim = vector_matrix(frame, f, cfg.vector_dims.get(f))
        vectors[f] = dim
    template = cfg.text_template or default_template(fields)
    return FeatureSpec(
        categorical, tuple(fields.multi), numeric, vectors, template, cfg.max_bag_size
    )


def _bags(
    frame: pl.DataFrame, column: str, vocab: list[str], multi: bool, n_rows: int, max_bag: int
) -> np.ndarray:
    codes = pl.DataFrame(
        {"value": vocab, "code": np.arange(1, len(vocab) + 1, dtype=np.int64)},
        schema={"value": pl.String, "code": pl.Int64},
    )
    long = (
        _values(frame, column, multi)
        .join(codes, on="value", how="inner")
        .sort(["item_idx", "code"])  # low codes = frequent values: kept when truncating
        .group_by("item_idx", maintain_order=True)
        .agg(pl.col("code").head(max_bag))
    )
    width = max(1, max((len(c) for c in long.get_column("code").to_list()), default=1))
    out = np.zeros((n_rows, width), dtype=np.int64)
    for idx, c in zip(
        long.get_column("item_idx").to_list(), long.get_column("code").to_list(), strict=True
    ):
        out[idx, : len(c)] = c
    return out


def _numeric(
    frame: pl.DataFrame, spec: FeatureSpec, rows: np.ndarray, n_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    values = np.zeros((n_rows, len(spec.numeric)), dtype=np.float32)
    mask = np.zeros((n_rows, len(spec.numeric)), dtype=bool)
    for j, (f, (mean, std)) in enumerate(spec.numeric.items()):
        if f not in frame.columns:
            raise DataError(
                f"numeric field {f!r} is missing from the item catalogue; the "
                f"catalogue has {frame.columns}"
            )
        x = frame.get_column(f).cast(pl.Float64).fill_null(np.nan).to_numpy()
        ok = np.isfinite(x)
        values[rows[ok], j] = np.clip((x[ok] - mean) / std, -_CLIP, _CLIP)
        mask[rows[ok], j] = True
    return values, mask


def build_item_features(
    frame: pl.DataFrame,
    spec: FeatureSpec,
    n_rows: int | None = None,
    text: TextVectors | None = None,
) -> ItemFeatures:
    """Build the per-row inputs of a catalogue with a fitted spec.

    Args:
        frame: catalogue with ``item_idx`` (1-based), ``item_id`` and the content columns.
        spec: from :func:`fit_feature_spec` (or a stored model).
        n_rows: rows of the output (default ``max(item_idx) + 1``).
        text: text vectors aligned with the same rows (see :func:`encode_item_texts`).

    Raises:
        DataError: duplicate or non-positive ``item_idx``, or a vector dimension mismatch.
    """
    rows = frame.get_column("item_idx").cast(pl.Int64).to_numpy()
    if len(rows) and (rows.min() < 1 or len(np.unique(rows)) != len(rows)):
        raise DataError("item catalogue: item_idx must be unique and >= 1 (0 is padding)")
    n = int(n_rows if n_rows is not None else (rows.max() + 1 if len(rows) else 1))
    ids = [""] * n
    for r, i in zip(
        rows.tolist(), frame.get_column("item_id").cast(pl.String).to_list(), strict=True
    ):
        ids[r] = i
    categorical = {
        f: _bags(frame, f, vocab, f in spec.multi, n, spec.max_bag_size)
        for f, vocab in spec.categorical.items()
    }
    numeric, numeric_mask = _numeric(frame, spec, rows, n)
    vectors, vector_masks = {}, {}
    for f, dim in spec.vectors.items():
        present, values, _ = vector_matrix(frame, f, dim, "the stored feature spec")
        vectors[f] = np.zeros((n, dim), dtype=np.float32)
        vectors[f][rows[present]] = values
        vector_masks[f] = np.zeros(n, dtype=bool)
        vector_masks[f][rows[present]] = True
    if text is not None and text.vectors.shape[0] != n:
        raise DataError(f"text vectors have {text.vectors.shape[0]} rows, features {n}")
    return ItemFeatures(
        ids,
        None if text is None else text.vectors,
        np.zeros(n, dtype=bool) if text is None else text.mask,
        categorical,
        numeric,
        numeric_mask,
        vectors,
        vector_masks,
        spec,
    )


def content_dir(ds_root: str | Path, cfg: ContentConfig) -> Path:
    """Where the embedding cache of a dataset lives: ``cfg.cache_dir`` or ``DATA_DIR/content``."""
    return Path(cfg.cache_dir).expanduser() if cfg.cache_dir else Path(ds_root) / "content"


def _features(
    ds: PreparedDataset,
    cfg: ContentConfig,
    spec: FeatureSpec | None,
    encoder: Encoder | None,
    progress: Callable[[int, int], None] | None,
) -> tuple[ItemFeatures, TextVectors | None]:
    frame, fields = attach_vector_files(ds.items_frame, ds.item_fields, cfg)
    spec = spec or fit_feature_spec(frame, fields, cfg)
    text = None
    if spec.text_template is not None:
        cache = EmbeddingCache(content_dir(ds.root, cfg), cfg.cache_dtype)
        template = TextTemplate(spec.text_template, cfg.max_list_items)
        text = encode_item_texts(
            frame,
            template,
            ds.n_items + 1,
            encoder or TextEncoder.from_config(cfg),
            cache,
            progress,
        )
    return build_item_features(frame, spec, ds.n_items + 1, text), text


def load_item_features(
    ds: PreparedDataset,
    cfg: ContentConfig | None = None,
    *,
    spec: FeatureSpec | None = None,
    encoder: Encoder | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ItemFeatures:
    """All modality inputs of a prepared dataset, text vectors from the embedding cache.

    Texts missing from the cache are encoded (and cached); after ``prismrec content encode``
    nothing is, and the text model is not even loaded.

    Args:
        ds: the prepared dataset.
        cfg: content settings; ``None`` uses those ``content encode`` recorded, else defaults.
        spec: a stored spec (serving); ``None`` fits one on this catalogue (training).
        encoder: text encoder (default: :class:`TextEncoder` from ``cfg``).
        progress: ``progress(done, total)`` while encoding texts.
    """
    return _features(ds, config_for(ds.root, cfg), spec, encoder, progress)[0]


@dataclass
class EncodeReport:
    """What :func:`encode_dataset` did.

    Attributes:
        features: the item features (text vectors included).
        text: the text vectors and cache statistics (``None`` without a text modality).
        cache_dir: where the vectors are cached.
        seconds: wall time.
    """

    features: ItemFeatures
    text: TextVectors | None
    cache_dir: Path
    seconds: float


def encode_dataset(
    ds: PreparedDataset,
    cfg: ContentConfig | None = None,
    *,
    encoder: Encoder | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EncodeReport:
    """Encode every item's text into the cache, check the other modalities, record the config.

    The record (``DATA_DIR/content/manifest.json``) lets ``content similar``, training and
    serving find the same model and template without repeating the options.
    """
    t0 = time.perf_counter()
    cfg = cfg or ContentConfig()
    features, text = _features(ds, cfg, None, encoder, progress)
    seconds = time.perf_counter() - t0
    record = {
        "config": cfg.model_dump(),
        "model_id": text.model_id if text else None,
        "text_template": features.spec.text_template,
        "text_dim": int(text.vectors.shape[1]) if text else None,
        "n_items": ds.n_items,
        "coverage": features.coverage(),
        "stats": asdict(text.stats) if text else None,
        "seconds": round(seconds, 3),
    }
    write_manifest(Path(ds.root) / "content", record)
    return EncodeReport(features, text, content_dir(ds.root, cfg), seconds)
