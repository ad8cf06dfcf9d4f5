"""Display fields: what a person sees of an item (its title, category, year ...).

Every item an answer names (recommendations, interests' top items, the past events behind an
explanation, similar items, a history) carries ``fields`` from the catalogue unless the request
says ``fields=none``. Which column is the title and which the category is decided once, by
:func:`prismrec.data.schema.pick_title_field` and :func:`~prismrec.data.schema.pick_category_field`.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from prismrec.data.schema import ItemFields, pick_category_field, pick_title_field
from prismrec.errors import DataError

__all__ = ["ItemDisplay", "attach_fields", "item_records"]

SHOWN_KINDS = ("text", "categorical", "multi", "numeric")  # vectors are not for people
MAX_QUERY_CHARS = 200
ROW_CACHE = 20_000  # training-catalogue rows kept as ready dicts


class ItemDisplay:
    """The catalogue's displayable columns by row, plus the fields of items put through the API.

    Args:
        items: the model directory's ``items.parquet`` (rows ``item_idx`` 1..N).
        fields: the schema's item fields by kind.
    """

    def __init__(self, items: pl.DataFrame, fields: Mapping[str, Sequence[str]]) -> None:
        kinds = ItemFields.from_dict({k: list(v) for k, v in fields.items()})
        columns = list(items.columns)
        self.title_field = pick_title_field(kinds, columns)
        picked = pick_category_field(kinds, columns)
        self.category_field = picked[0] if picked else None
        self.names = [f for k in SHOWN_KINDS for f in fields.get(k, ())]
        self.default = [f for f in (self.title_field, self.category_field) if f is not None]
        frame = items.sort("item_idx")
        missing = [pl.lit(None).alias(f) for f in self.names if f not in frame.columns]
        shown = frame.with_columns(missing)
        self._columns = {n: shown.get_column(n) for n in self.names}  # row r at position r - 1
        self._n = frame.height
        title = self.title_field
        self._lower = (
            frame.get_column(title).cast(pl.String).str.to_lowercase()
            if title is not None
            else pl.Series([None] * self._n, dtype=pl.String)
        )
        self._added: dict[int, dict[str, Any]] = {}  # rows put through the API (new or replaced)
        self._cache: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def resolve(self, requested: Sequence[str] | None) -> list[str]:
        """The field names a request asked for: nothing, the default (title and category);
        ``none``, no field; ``all`` (anywhere), every displayable field; else the named ones.

        Raises:
            DataError: a name the catalogue does not have (the message lists those it has).
        """
        names = [n for v in requested or () for n in v.split(",") if n]
        if not names:
            return list(self.default)
        if "all" in names:
            return list(self.names)
        names = [n for n in names if n != "none"]
        unknown = sorted(set(names) - set(self.names))
        if unknown:
            raise DataError(
                f"query.fields: unknown display field(s) {unknown}; this catalogue has "
                f"{self.names} (or use fields=all or fields=none)"
            )
        return list(dict.fromkeys(names))

    @property
    def pattern(self) -> str:
        """A regular expression of the valid ``fields`` query values (for the OpenAPI)."""
        word = "|".join(re.escape(n) for n in ["none", "all", *self.names])
        return f"^(?:{word})?(?:,(?:{word})?)*$"

    def put(self, row: int, fields: Mapping[str, Any]) -> None:
        """The fields of an item added or replaced through the API (absent ones become null)."""
        with self._lock:
            self._added[row] = {f: _json_value(fields.get(f)) for f in self.names}

    def get(self, rows: Sequence[int], names: Sequence[str]) -> list[dict[str, Any]]:
        """``{name: value}`` per row (``{}`` for an unknown row), JSON-ready."""
        added = self._added
        out: list[dict[str, Any]] = []
        for r in rows:
            rec = added.get(r)
            if rec is None and 0 < r <= self._n:
                rec = self._trained(r)
            out.append({} if rec is None else {n: rec.get(n) for n in names})
        return out

    def _trained(self, row: int) -> dict[str, Any]:
        """Every displayable field of a training-catalogue row; the rows asked for lately are
        kept (popular items come back in most answers; reading a row costs ~10 us)."""
        rec = self._cache.get(row)
        if rec is None:
            rec = {n: _json_value(col[row - 1]) for n, col in self._columns.items()}
            if len(self._cache) >= ROW_CACHE:
                self._cache.clear()
            self._cache[row] = rec
        return rec

    def search(
        self, query: str, limit: int, live: np.ndarray, popularity: np.ndarray | None = None
    ) -> list[int]:
        """Rows of live items whose title contains ``query`` (any case): titles starting with
        it first, then the more popular (``popularity`` by row), then the shorter."""
        q = query.strip().lower()[:MAX_QUERY_CHARS]
        if not q:
            return []
        hits = self._lower.str.contains(q, literal=True).fill_null(False)
        rows = (hits.arg_true().to_numpy() + 1).astype(np.int64)
        titles = self._lower.gather(rows - 1).to_list() if len(rows) else []
        added = dict(self._added)
        keep = [(int(r), t) for r, t in zip(rows.tolist(), titles, strict=True) if r not in added]
        for r, rec in added.items():
            t = rec.get(self.title_field) if self.title_field else None
            if isinstance(t, str) and q in t.lower():
                keep.append((r, t.lower()))
        keep = [(r, t) for r, t in keep if r < len(live) and live[r]]
        pop = popularity if popularity is not None else np.zeros(len(live))

        def rank(rt: tuple[int, str]) -> tuple[bool, float, int, int]:
            r, t = rt
            score = float(pop[r]) if r < len(pop) and np.isfinite(pop[r]) else -math.inf
            return (not t.startswith(q), -score, len(t), r)

        return [r for r, _ in sorted(keep, key=rank)[:limit]]


def _json_value(v: Any) -> Any:
    if isinstance(v, pl.Series):  # a value of a list column
        v = v.to_list()
    if isinstance(v, float) and not math.isfinite(v):
        return None  # NaN is not JSON
    if isinstance(v, list):
        return [_json_value(x) for x in v]
    return v


def item_records(answer: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    """Every item object an answer holds: ``items`` (and their explanations' events),
    ``interests[*].top_items`` and ``events`` (a history)."""
    for item in answer.get("items", ()):
        yield item
        yield from (item.get("explanation") or {}).get("events", ())
    for interest in answer.get("interests", ()):
        yield from interest.get("top_items", ())
    yield from answer.get("events", ())


def attach_fields(
    answer: dict[str, Any], display: ItemDisplay, rows: Any, names: Sequence[str]
) -> dict[str, Any]:
    """Add ``fields`` to every item object of ``answer`` (``rows``: item id -> row), in one
    catalogue lookup; ``names`` empty: the answer is left as it is."""
    if not names:
        return answer
    records = list(item_records(answer))
    values = display.get([rows(r["item_id"]) for r in records], names)
    for rec, fields in zip(records, values, strict=True):
        rec["fields"] = fields
    return answer
