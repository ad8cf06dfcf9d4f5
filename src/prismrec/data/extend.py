"""Extend a prepared dataset with later events and catalogue changes (retraining input).

:func:`extend_prepared` keeps every row of the original: a user or item id keeps its row, so a
model trained on the original maps onto the result row for row. New users and items are
appended; deleted users lose their events and their id (the row stays, under a placeholder that
no valid id can equal, so later rows do not shift). Items removed from the catalogue keep their
row and their past events (real behaviour), and are listed in the schema under
``extends.removed_items``.

The caller reads the events from wherever they are kept (the service's store: see
``prismrec.api.retrain``); this module only sees plain frames.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from prismrec.config import DataConfig
from prismrec.data.dataset import SCHEMA_FILE, PreparedDataset
from prismrec.data.preprocess import time_features
from prismrec.data.splits import assign_split, split_counts
from prismrec.data.vocab import Vocabulary
from prismrec.errors import DataError

__all__ = ["LIVE_EVENT_COLUMNS", "ExtendReport", "ItemRecord", "deleted_user_id", "extend_prepared"]

log = logging.getLogger(__name__)

# the live events frame: one row per event, oldest first within a user by (timestamp, seq);
# context values in columns named after the dataset's context columns (strings, null: absent)
LIVE_EVENT_COLUMNS = ("seq", "user_id", "item_id", "event_type", "timestamp")


@dataclass(frozen=True)
class ItemRecord:
    """An item's latest catalogue record from the item log; ``fields`` None: removed."""

    item_id: str
    fields: Mapping[str, Any] | None


@dataclass(frozen=True)
class ExtendReport:
    """What :func:`extend_prepared` did (also stored in the schema under ``extends``)."""

    data: PreparedDataset
    events_added: int
    events_skipped: int
    new_users: int
    new_items: int
    updated_items: int
    removed_items: int
    deleted_users: int

    def to_dict(self) -> dict[str, int]:
        return {
            "events_added": self.events_added,
            "events_skipped": self.events_skipped,
            "new_users": self.new_users,
            "new_items": self.new_items,
            "updated_items": self.updated_items,
            "removed_items": self.removed_items,
            "deleted_users": self.deleted_users,
        }


def deleted_user_id(row: int) -> str:
    """The placeholder id of a deleted user's row: '/' is never part of a valid id."""
    return f"/deleted/{row}"


def extend_prepared(
    base: PreparedDataset,
    out: str | Path,
    events: pl.DataFrame,
    items: Sequence[ItemRecord] = (),
    deleted_users: set[str] | frozenset[str] = frozenset(),
    source: str | None = None,
    config: DataConfig | None = None,
) -> ExtendReport:
    """Write ``base`` plus ``events`` and ``items`` as a new prepared dataset in ``out``.

    Args:
        base: the prepared dataset the model was trained on.
        out: the directory to write (not ``base.root``).
        events: live events (``LIVE_EVENT_COLUMNS`` plus context columns), appended after each
            user's original events; events of unknown event types are skipped.
        items: the item log (latest record per item).
        deleted_users: ids of ``base`` users who were deleted: their original events go.
        source: where the events came from, for the record.
        config: the ``[data]`` settings to split the result with (None: ``base``'s own);
            recorded in the schema. Only the split settings may differ from ``base``'s.

    Raises:
        DataError: ``out`` is the original directory, or ``events`` lacks a column.
    """
    out_dir = Path(out)
    if out_dir.resolve() == base.root.resolve():
        raise DataError(f"{out_dir}: write the extended dataset to a new directory, not --data")
    missing = [c for c in LIVE_EVENT_COLUMNS if c not in events.columns]
    if missing:
        raise DataError(f"live events lack column(s) {missing}")
    users, gone = _user_vocab(base.user_vocab, events, deleted_users)
    item_frame, item_vocab, counts = _items(base, events, items)
    frame, skipped = _frame(base, events, users, item_vocab, gone)
    cfg = config or base.config
    frame, split_info = assign_split(frame, cfg)
    removed = sorted(r.item_id for r in items if r.fields is None and r.item_id in item_vocab)
    report = ExtendReport(
        data=base,
        events_added=events.height - skipped,
        events_skipped=skipped,
        new_users=len(users) - base.n_users,
        new_items=len(item_vocab) - base.n_items,
        updated_items=counts,
        removed_items=len(removed),
        deleted_users=len(gone),
    )
    extends: dict[str, Any] = {"data": str(base.root), "source": source, **report.to_dict()}
    extends["removed_items"] = removed
    schema = _schema(base, frame, users, item_vocab, split_info, extends)
    if config is not None:
        schema["config"] = config.model_dump(mode="json")
    _write(base, out_dir, frame, item_frame, users, schema)
    data = PreparedDataset(out_dir, frame, item_frame, schema)
    log.info("extended %s with %d events -> %s", base.root, report.events_added, out_dir)
    return ExtendReport(**{**report.__dict__, "data": data})


def _user_vocab(
    base: Vocabulary, events: pl.DataFrame, deleted: set[str] | frozenset[str]
) -> tuple[Vocabulary, list[int]]:
    """Original users in their rows (deleted ones under a placeholder), then new users in the
    order of their first event. A deleted user with later events comes back as a new user."""
    ids = [str(x) for x in base.ids]
    gone = [row for row, uid in enumerate(ids) if uid in deleted]
    for row in gone:
        ids[row] = deleted_user_id(row)
    kept = set(ids)
    order = events.sort("seq").get_column("user_id").unique(maintain_order=True).to_list()
    ids += [u for u in order if u not in kept]
    return Vocabulary(ids, offset=0, name="user"), gone


def _items(
    base: PreparedDataset, events: pl.DataFrame, records: Sequence[ItemRecord]
) -> tuple[pl.DataFrame, Vocabulary, int]:
    """The catalogue: original rows, their latest records, then new items (item log first,
    then items known only from events, which get no content)."""
    frame = base.items_frame.sort("item_idx")
    ids = frame.get_column("item_id").cast(pl.String).to_list()
    known = set(ids)
    puts = [r for r in records if r.fields is not None]
    new_ids = [r.item_id for r in puts if r.item_id not in known]
    seen = known | set(new_ids)
    in_events = events.sort("seq").get_column("item_id").unique(maintain_order=True).to_list()
    new_ids += [i for i in in_events if i not in seen]
    vocab = Vocabulary(ids + new_ids, offset=1, name="item")
    content = [c for c in frame.columns if c not in ("item_idx", "item_id")]
    fields = {r.item_id: dict(r.fields or {}) for r in puts}
    changed = [i for i in fields if i in known]
    rows = [i for i in vocab.ids.tolist() if i in fields or i not in known]
    if not rows:
        return frame, vocab, 0
    data: dict[str, Any] = {
        "item_idx": pl.Series("item_idx", vocab.lookup(rows), dtype=frame.schema["item_idx"]),
        "item_id": pl.Series("item_id", rows, dtype=pl.String),
    }
    for c in content:
        values = [fields.get(i, {}).get(c) for i in rows]
        data[c] = pl.Series(c, values, dtype=frame.schema[c], strict=False)
    fresh = pl.DataFrame(data)
    kept = frame.filter(~pl.col("item_id").is_in(changed))
    both = pl.concat([kept.with_columns(pl.col("item_id").cast(pl.String)), fresh])
    return both.sort("item_idx"), vocab, len(changed)


def _frame(
    base: PreparedDataset,
    events: pl.DataFrame,
    users: Vocabulary,
    items: Vocabulary,
    gone: list[int],
) -> tuple[pl.DataFrame, int]:
    """Original events (deleted users' dropped) followed by each user's live events."""
    old = base.frame.filter(~pl.col("user_idx").is_in(gone)) if gone else base.frame
    ctx_cols = [c for c in old.columns if c.startswith("ctx_")]
    ev_vocab = Vocabulary.load(base.root / "vocab" / "events.parquet", 1, "event type")
    weights = {str(k): float(v) for k, v in base.schema["event_types"].items()}
    live = events.with_columns(
        pl.Series("user_idx", users.lookup(events.get_column("user_id").to_list()), pl.Int32),
        pl.Series("item_idx", items.lookup(events.get_column("item_id").to_list()), pl.Int32),
        pl.Series(
            "event_idx", ev_vocab.lookup(events.get_column("event_type").to_list(), 0), pl.Int16
        ),
    ).filter(pl.col("event_idx") > 0)
    skipped = events.height - live.height
    lines = base.frame.get_column("_line").to_numpy()
    first_line = int(lines.max()) + 1 if len(lines) else 0
    live = live.sort("seq").with_columns(
        (pl.int_range(pl.len()) + first_line).cast(pl.Int64).alias("_line"),
        pl.col("timestamp").cast(pl.Int64),
        pl.lit(None, pl.Float64).alias("value"),
        pl.col("event_type").replace_strict(weights, default=1.0).cast(pl.Float32).alias("weight"),
        *[_context(events, base, c) for c in ctx_cols],
    )
    live = live.sort(["user_idx", "timestamp", "_line"]).with_columns(
        pl.int_range(pl.len()).over("user_idx").cast(pl.Int32).alias("_ord"),
        pl.lit(1, pl.Int8).alias("_src"),
    )
    cols = ["user_idx", "item_idx", "timestamp", "event_idx", "value", "weight", "_line"]
    cols += ctx_cols
    both = pl.concat(
        [
            old.select(*cols, pl.col("pos").alias("_ord"), pl.lit(0, pl.Int8).alias("_src")),
            live.select(*cols, "_ord", "_src"),
        ]
    ).sort(["user_idx", "_src", "_ord"])
    both = both.with_columns(pl.int_range(pl.len()).over("user_idx").cast(pl.Int32).alias("pos"))
    both = time_features(both, base.config, bool(base.schema.get("has_time", True)))
    keep = [*cols[:6], "hour", "weekday", "gap_bucket", "pos", "_line", *ctx_cols]
    return both.select(keep), skipped


def _context(events: pl.DataFrame, base: PreparedDataset, col: str) -> pl.Series:
    """A context column in the original's codes; values it never saw (or none) are 0."""
    name = col[len("ctx_") :]
    vocab = Vocabulary.load(base.root / "vocab" / f"{col}.parquet", 1, name)
    values = events.get_column(name).to_list() if name in events.columns else []
    codes = vocab.lookup(["" if v is None else str(v) for v in values], missing=0)
    if not values:
        codes = np.zeros(events.height, np.int64)
    return pl.Series(col, codes, dtype=base.frame.schema[col])


def _schema(
    base: PreparedDataset,
    frame: pl.DataFrame,
    users: Vocabulary,
    items: Vocabulary,
    split_info: dict[str, object],
    extends: dict[str, Any],
) -> dict[str, Any]:
    per_split = split_counts(frame)
    schema = dict(base.schema)
    schema.update(
        n_users=len(users),
        n_items=len(items),
        n_events=frame.height,
        split=split_info,
        split_counts=per_split,
        extends=extends,
    )
    return schema


def _write(
    base: PreparedDataset,
    out: Path,
    frame: pl.DataFrame,
    items: pl.DataFrame,
    users: Vocabulary,
    schema: dict[str, Any],
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(out / "interactions.parquet")
    items.write_parquet(out / "items.parquet")
    vdir = out / "vocab"
    vdir.mkdir(exist_ok=True)
    users.save(vdir / "users.parquet")
    for f in (base.root / "vocab").glob("*.parquet"):
        if f.name != "users.parquet":  # event types and contexts keep their codes
            shutil.copy2(f, vdir / f.name)
    attrs = base.users_frame()
    if attrs is not None:  # deleted users' attributes go with them; new users have none
        ids = users.to_frame("user_idx", "user_id")
        cols = [c for c in attrs.columns if c not in ("user_idx", "user_id")]
        attrs = ids.join(attrs.drop("user_id"), on="user_idx", how="left")
        gone = pl.col("user_id").str.starts_with("/deleted/")
        attrs = attrs.with_columns(
            pl.when(gone).then(None).otherwise(pl.col(c)).alias(c) for c in cols
        )
        attrs.write_parquet(out / "users.parquet")
    content = base.root / "content"  # the text-vector cache: only new texts get encoded
    if content.is_dir():
        shutil.copytree(content, out / "content", dirs_exist_ok=True)
    (out / SCHEMA_FILE).write_text(json.dumps(schema, indent=2))
