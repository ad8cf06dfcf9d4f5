"""The data model: canonical column names and the in-memory raw dataset.

Interactions always carry ``user_id``, ``item_id`` (strings: external ids), ``timestamp`` (int64
unix seconds, or the position in the file for formats without time), ``event_type`` (string),
``value`` (float, nullable: a rating or amount) and any context columns (strings). ``_line``
keeps the source line number so later errors can point back to the file and ties in time keep
file order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

__all__ = [
    "INTERACTION_COLUMNS",
    "ItemFields",
    "RawDataset",
    "pick_category_field",
    "pick_title_field",
]

INTERACTION_COLUMNS = ("user_id", "item_id", "timestamp", "event_type", "value")


@dataclass(frozen=True)
class ItemFields:
    """Which item-catalogue columns are which kind of content."""

    text: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    multi: tuple[str, ...] = ()  # multi-valued categorical: list[str] columns
    numeric: tuple[str, ...] = ()
    vector: tuple[str, ...] = ()  # precomputed vectors: list[float] columns

    def to_dict(self) -> dict[str, list[str]]:
        return {
            k: list(getattr(self, k)) for k in ("text", "categorical", "multi", "numeric", "vector")
        }

    @classmethod
    def from_dict(cls, d: dict[str, list[str]]) -> ItemFields:
        return cls(**{k: tuple(v) for k, v in d.items()})


# The one rule for which item column is "the category" and which is "the title": evaluation
# (category metrics, interest labels), training (category losses), serving (labels, filters,
# display fields) and the CLI all call these two functions.
_CATEGORY_NAMES = ("category", "genres", "genre", "categories")
_TITLE_NAMES = ("title", "name")


def pick_category_field(fields: ItemFields, columns: Sequence[str]) -> tuple[str, bool] | None:
    """The item column that best names an item's category, and whether it is multi-valued.

    Prefers a column called ``category``/``genres``, then one whose name says it
    (``categor``, ``genre``, ``class``, ``topic``), then the first categorical, then the first
    multi-valued field; only columns present in ``columns`` count.
    """
    known = [(f, False) for f in fields.categorical] + [(f, True) for f in fields.multi]
    known = [(f, m) for f, m in known if f in columns]
    for name in _CATEGORY_NAMES:
        for f, m in known:
            if f == name:
                return f, m
    # then a column whose name says it (RecBole's ml-100k calls its genres "class")
    for hint in ("categor", "genre", "class", "topic"):
        for f, m in known:
            if hint in f.lower():
                return f, m
    return known[0] if known else None


def pick_title_field(fields: ItemFields, columns: Sequence[str]) -> str | None:
    """The item column shown as an item's name: a text field called ``title``/``name``, else
    the first text field present in ``columns``; ``None`` when there is none."""
    known = [f for f in fields.text if f in columns]
    for name in _TITLE_NAMES:
        if name in known:
            return name
    return known[0] if known else None


@dataclass
class RawDataset:
    """What a loader returns: validated frames plus where they came from.

    Attributes:
        interactions: one row per event, canonical columns plus context columns and ``_line``.
        items: item catalogue keyed by ``item_id`` (may be ``None``).
        users: static user attributes keyed by ``user_id`` (may be ``None``).
        item_fields: which item columns are text, categorical, ... .
        context_columns: names of the context columns in ``interactions``.
        user_columns: names of the attribute columns in ``users``.
        has_time: False when the format has no timestamps (order is then the file order).
        sources: files read, for the record.
        user_split: the format's own user assignment (``user_id``, ``part``: 0 train, 1 valid,
            2 test), e.g. ComiRec-style files; ``None`` when the format has none.
    """

    interactions: pl.DataFrame
    items: pl.DataFrame | None = None
    users: pl.DataFrame | None = None
    item_fields: ItemFields = field(default_factory=ItemFields)
    context_columns: tuple[str, ...] = ()
    user_columns: tuple[str, ...] = ()
    has_time: bool = True
    time_order: str = "exact"
    sources: list[Path] = field(default_factory=list)
    user_split: pl.DataFrame | None = None
