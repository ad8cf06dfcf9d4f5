"""Retraining from the live service: export its store as a prepared dataset.

```python
import prismrec as pr

pr.export_store("sqlite:state.db", "runs/mls", "runs/mls-live")      # events + item log
model = pr.train("runs/mls-live", warm_start="runs/mls-prism", out="runs/mls-prism-2")
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from prismrec.data.dataset import PreparedDataset
from prismrec.data.extend import LIVE_EVENT_COLUMNS, ExtendReport, ItemRecord, extend_prepared
from prismrec.errors import ConfigError
from prismrec.serving.store import EventStore, open_store, parse_store_url, redact

__all__ = ["export_store", "read_live_events"]


def export_store(
    store: str,
    data: str | Path,
    out: str | Path,
    *,
    tombstone_secret: str | None = None,
    prefix: str = "prismrec:",
) -> ExtendReport:
    """Write ``data`` extended with the store's events and item log to ``out``.

    Existing user and item ids keep their rows; new ones are appended; users deleted through
    the service lose their events (their tombstones are checked with the store's key).

    Args:
        store: ``sqlite:PATH`` or ``redis://HOST:PORT/DB`` (what ``prismrec serve`` used).
        data: the prepared dataset the served model was trained on.
        out: the directory to write.
        tombstone_secret: the service's tombstone secret, when it was given one.
        prefix: the Redis key namespace.

    Raises:
        ConfigError: bad store URL, a missing SQLite file or an unreachable Redis.
        DataError: ``data`` is not a prepared dataset.
    """
    base = PreparedDataset.load(data)
    kind, target = parse_store_url(store)
    if kind == "sqlite" and not Path(target).is_file():
        raise ConfigError(
            f"SQLite store {target} does not exist; pass the file 'prismrec serve --store' used"
        )
    st = open_store(store, prefix=prefix, tombstone_secret=tombstone_secret)
    try:
        events = read_live_events(st, list(base.schema.get("contexts", {})))
        items = [ItemRecord(c.item_id, c.fields) for c in st.item_changes(0)]
        deleted = {u for u in base.user_vocab.ids.tolist() if st.is_deleted(str(u))}
    finally:
        st.close()
    return extend_prepared(base, out, events, items, deleted, source=redact(store))


def read_live_events(store: EventStore, contexts: list[str]) -> pl.DataFrame:
    """Every event in ``store`` as a frame (``LIVE_EVENT_COLUMNS`` + one column per context)."""
    rows: dict[str, list[Any]] = {c: [] for c in (*LIVE_EVENT_COLUMNS, *contexts)}
    for user in store.users():
        for e in store.history(user):
            rows["seq"].append(e.seq)
            rows["user_id"].append(e.user_id)
            rows["item_id"].append(e.item_id)
            rows["event_type"].append(e.event_type)
            rows["timestamp"].append(e.timestamp)
            for c in contexts:
                rows[c].append((e.context or {}).get(c))
    schema = {"seq": pl.Int64, "timestamp": pl.Int64}
    return pl.DataFrame(
        {c: pl.Series(c, v, dtype=schema.get(c, pl.String)) for c, v in rows.items()}
    )
