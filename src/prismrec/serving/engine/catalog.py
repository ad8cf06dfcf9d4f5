"""The live item catalogue: external ids, categories, and content encoding for new items.

Items of the training catalogue keep their model rows ``1..N``; items added through the API get
rows ``N+1, N+2, ...`` and a vector from the content tower alone (no ID embedding: the model never
saw them). Removed items stay in the id map (so events about them are still understood) but leave
the index.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from prismrec.errors import ConfigError, DataError
from prismrec.evaluation.beyond import category_bags
from prismrec.retrieval.pipeline import ItemMetadata
from prismrec.serving.engine._display import ItemDisplay
from prismrec.training.contract import SequenceModel

__all__ = ["ItemEncoder", "LiveCatalog", "check_item_fields", "load_items"]

log = logging.getLogger(__name__)
MAX_FIELD_CHARS = 10_000
MAX_LIST_VALUES = 256


class LiveCatalog:
    """Item ids, their category bags, display fields and which rows are live; thread-safe.

    The service's catalogue as items come and go. Its category codes follow the evaluation's
    one rule (:func:`prismrec.evaluation.beyond.category_bags` over the field
    :func:`prismrec.data.schema.pick_category_field` picks), and it hands retrieval the same
    :class:`~prismrec.retrieval.pipeline.ItemMetadata` that an evaluation
    :class:`~prismrec.evaluation.beyond.Catalog` gives (``ItemMetadata.from_catalog``).

    Args:
        items: the model directory's ``items.parquet`` (``item_idx``, ``item_id``, content).
        fields: the schema's item fields by kind (``text``, ``categorical``, ``multi``, ...).
    """

    def __init__(self, items: pl.DataFrame, fields: dict[str, list[str]]) -> None:
        items = items.sort("item_idx")
        self.fields = {k: list(v) for k, v in fields.items()}
        self.display = ItemDisplay(items, self.fields)
        self.category_field = self.display.category_field
        ids = items.get_column("item_id").cast(pl.String).to_list()
        self._ids: list[str] = ["", *ids]
        self._index = {x: i + 1 for i, x in enumerate(ids)}
        self.n_trained = len(ids)
        self.removed: set[int] = set()
        self._lock = threading.Lock()
        # the evaluation's codes (one rule: ``category_bags``); items put later extend them
        bags, names = self._initial_bags(items, len(ids) + 1)
        self._names: list[str] = list(names)
        self._codes: dict[str, int] = {n: i + 1 for i, n in enumerate(names)}
        self._cats = np.zeros((max(16, len(bags) * 2), bags.shape[1]), np.int64)
        self._cats[: len(bags)] = bags
        self._metadata = self._make_metadata()

    # ---- lookups --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._ids) - 1 - len(self.removed)

    @property
    def n_rows(self) -> int:
        return len(self._ids)

    def index(self, item_id: str) -> int:
        """The row of an item id; 0 when unknown."""
        return self._index.get(item_id, 0)

    def is_live(self, row: int) -> bool:
        return 0 < row < len(self._ids) and row not in self.removed

    def live_mask(self) -> np.ndarray:
        """(n_rows,) True for the rows that may be recommended (not padding, not removed)."""
        mask = np.ones(len(self._ids), bool)
        mask[0] = False
        if self.removed:
            mask[np.fromiter(self.removed, np.int64)] = False
        return mask

    def external(self, rows: np.ndarray | list[int]) -> list[str]:
        ids = self._ids
        return [ids[int(r)] for r in rows]

    @property
    def metadata(self) -> ItemMetadata:
        return self._metadata

    @property
    def allowed_fields(self) -> list[str]:
        return sorted({f for v in self.fields.values() for f in v})

    # ---- changes -----------------------------------------------------------------------------
    def upsert(self, item_id: str, fields: Mapping[str, Any]) -> tuple[int, bool]:
        """Add or update an item's categories; return its row and whether it is new."""
        with self._lock:
            row = self._index.get(item_id)
            new = row is None
            if row is None:
                row = len(self._ids)
                self._ids.append(item_id)
                self._index[item_id] = row
            self.removed.discard(row)
            bag = self._bag(fields.get(self.category_field)) if self.category_field else []
            self._grow(row + 1, len(bag))
            self._cats[row] = 0
            self._cats[row, : len(bag)] = bag
            self._metadata = self._make_metadata()
            self.display.put(row, fields)
        return row, new

    def remove(self, item_id: str) -> int:
        """Mark an item removed; return its row (0 when unknown or already removed)."""
        with self._lock:
            row = self._index.get(item_id, 0)
            if row == 0 or row in self.removed:
                return 0
            self.removed.add(row)
            return row

    # ---- internals ---------------------------------------------------------------------------
    def _initial_bags(self, items: pl.DataFrame, n_rows: int) -> tuple[np.ndarray, list[str]]:
        col = self.category_field
        if col is None or col not in items.columns:
            return np.zeros((n_rows, 1), np.int64), []
        multi = isinstance(items.schema[col], pl.List)
        return category_bags(items, col, multi, n_rows)

    def _bag(self, value: Any) -> list[int]:
        if value is None:
            return []
        values = [value] if isinstance(value, str) else list(value)
        out = []
        for v in values:
            name = str(v).strip()  # as ``category_bags``: stripped, empty values dropped
            if not name:
                continue
            code = self._codes.get(name)
            if code is None:
                self._names.append(name)
                code = self._codes[name] = len(self._names)
            if code not in out:
                out.append(code)
        return out

    def _grow(self, rows: int, width: int) -> None:
        r, w = self._cats.shape
        if rows <= r and width <= w:
            return
        bigger = np.zeros((max(rows * 2, r), max(width, w)), np.int64)
        bigger[:r, :w] = self._cats
        self._cats = bigger

    def _make_metadata(self) -> ItemMetadata:
        cats = self._cats[: len(self._ids)] if self.category_field else None
        return ItemMetadata(cats, list(self._names))


def check_item_fields(fields: Any, catalog: LiveCatalog) -> dict[str, Any]:
    """Validate a ``PUT /v1/items/{id}`` body against the catalogue's fields.

    Raises:
        DataError: not an object, an unknown field, or a value of the wrong type.
    """
    if not isinstance(fields, Mapping) or not fields:
        raise DataError("an item must be a non-empty JSON object of catalogue fields")
    allowed = catalog.allowed_fields
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise DataError(f"unknown item field(s) {unknown}; this catalogue has {allowed}")
    kinds = {f: k for k, fs in catalog.fields.items() for f in fs}
    out: dict[str, Any] = {}
    for name, value in fields.items():
        kind = kinds[name]
        if value is None:
            out[name] = None
        elif kind in ("text", "categorical"):
            if not isinstance(value, str):  # strict: 5 is not a title
                raise DataError(f"item field {name!r} must be a string, got {value!r:.80}")
            if len(value) > MAX_FIELD_CHARS:
                raise DataError(f"item field {name!r} is longer than {MAX_FIELD_CHARS} characters")
            out[name] = value
        elif kind == "multi":
            vals = value.split("|") if isinstance(value, str) else value
            if not isinstance(vals, list) or not all(isinstance(v, str) for v in vals):
                raise DataError(f"item field {name!r} must be a list of strings, got {value!r:.80}")
            if any(len(v) > MAX_FIELD_CHARS for v in [value, *vals] if isinstance(v, str)):
                raise DataError(
                    f"item field {name!r} has a value over {MAX_FIELD_CHARS} characters"
                )
            if len(vals) > MAX_LIST_VALUES:
                raise DataError(f"item field {name!r} has more than {MAX_LIST_VALUES} values")
            out[name] = [v for v in vals if v]
        elif kind == "numeric":
            if not _finite(value):
                raise DataError(f"item field {name!r} must be a finite number, got {value!r:.80}")
            out[name] = float(value)
        else:  # vector
            if not isinstance(value, list) or not all(_finite(v) for v in value):
                raise DataError(f"item field {name!r} must be a list of finite numbers")
            out[name] = [float(v) for v in value]
    return out


def _finite(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


class ItemEncoder:
    """Encodes catalogue records with the trained content tower (and text model).

    Args:
        model: the loaded sequence model (must have a content tower).
        fields: the schema's item fields by kind.
    """

    def __init__(self, model: SequenceModel, fields: dict[str, list[str]]) -> None:
        if model.tower_kwargs is None or not model.feature_spec:
            raise ConfigError(
                "this model has no content tower (trained without item content), so it cannot "
                "encode new items; train prism on a catalogue with content to add items live"
            )
        from prismrec.content.features import FeatureSpec

        self.model = model
        self.fields = fields
        self.spec = FeatureSpec.from_dict(model.feature_spec)
        self._text: Any = None
        self._lock = threading.Lock()

    def text_encoder(self) -> Any:
        """The text model the catalogue was encoded with (loaded once)."""
        if self.spec.text_template is None:
            return None
        with self._lock:
            if self._text is None:
                from prismrec.content.config import ContentConfig
                from prismrec.content.text import TextEncoder

                cfg = ContentConfig(**(self.model.content_settings or {}))
                self._text = TextEncoder.from_config(cfg)
                self._text.load()
            return self._text

    def encode(self, records: list[tuple[int, str, dict[str, Any]]]) -> np.ndarray:
        """(n, D) item vectors of ``(row, item_id, fields)``; trained rows keep their ID part."""
        import torch

        from prismrec.content._items import TextVectors
        from prismrec.content.cache import EncodeStats
        from prismrec.content.features import build_item_features
        from prismrec.content.text import TextTemplate
        from prismrec.models.fusion import ItemInputs

        n = len(records)
        frame = _frame(records, self.fields)
        text = None
        if self.spec.text_template is not None:
            enc = self.text_encoder()
            template = TextTemplate(self.spec.text_template)
            texts = template.render_all(frame.select(template.fields).to_dicts())
            vecs = enc.encode([t or "" for t in texts]).astype(np.float32)
            mask = np.asarray([True] + [bool(t) for t in texts])
            full = np.zeros((n + 1, vecs.shape[1]), np.float32)
            full[1:] = vecs
            full[~mask] = 0.0
            text = TextVectors(full, mask, ["", *texts], enc.model_id, EncodeStats(n, n, 0, n, 0.0))
        feats = build_item_features(frame, self.spec, n + 1, text)
        trained = self.model.n_items
        ids = [0] + [row if row <= trained else 0 for row, _, _ in records]
        inputs = ItemInputs(**feats.to_tensors(), item_ids=torch.as_tensor(ids))
        tower = self.model.net.item_tower
        assert tower is not None  # checked in __init__
        with torch.inference_mode():
            return tower(inputs)[1:].numpy()


def _frame(
    records: list[tuple[int, str, dict[str, Any]]], fields: dict[str, list[str]]
) -> pl.DataFrame:
    """A one-row-per-record catalogue frame with every content column (nulls where absent)."""
    cols: dict[str, Any] = {
        "item_idx": list(range(1, len(records) + 1)),
        "item_id": [i for _, i, _ in records],
    }
    schema: dict[str, Any] = {"item_idx": pl.Int64, "item_id": pl.String}
    for kind, names in fields.items():
        dtype = {
            "text": pl.String,
            "categorical": pl.String,
            "multi": pl.List(pl.String),
            "numeric": pl.Float64,
            "vector": pl.List(pl.Float64),
        }.get(kind, pl.String)
        for name in names:
            cols[name] = [r.get(name) for _, _, r in records]
            schema[name] = dtype
    return pl.DataFrame(cols, schema=schema)


def load_items(path: Path) -> pl.DataFrame:
    """The model directory's catalogue."""
    f = path / "items.parquet"
    if not f.is_file():
        raise ConfigError(
            f"{path}: no items.parquet; is this a model directory from prismrec train?"
        )
    return pl.read_parquet(f)
