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

from prismrec.config import DataConfig
from prismrec.data.dataset import PreparedDataset
from prismrec.data.extend import LIVE_EVENT_COLUMNS, ExtendReport, ItemRecord, extend_prepared
from prismrec.errors import ConfigError
from prismrec.serving.state import EventStore, open_store, parse_store_url, redact

__all__ = ["check_store", "export_store", "holdout_config", "read_live_events"]


def export_store(
    store: str,
    data: str | Path,
    out: str | Path,
    *,
    tombstone_secret: str | None = None,
    prefix: str = "prismrec:",
    holdout: str | None = None,
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
        holdout: split the result another way than ``data`` was split (see
            :func:`holdout_config`): ``loo`` or ``temporal:SHARE``; None: ``data``'s own split.

    Raises:
        ConfigError: bad store URL, a missing SQLite file, an unreachable Redis or a bad
            ``holdout``.
        DataError: ``data`` is not a prepared dataset.
    """
    base = PreparedDataset.load(data)
    split = holdout_config(base.config, holdout) if holdout is not None else None
    check_store(store)
    st = open_store(store, prefix=prefix, tombstone_secret=tombstone_secret)
    try:
        events = read_live_events(st, list(base.schema.get("contexts", {})))
        items = [ItemRecord(c.item_id, c.fields) for c in st.item_changes(0)]
        deleted = {u for u in base.user_vocab.ids.tolist() if st.is_deleted(str(u))}
    finally:
        st.close()
    return extend_prepared(base, out, events, items, deleted, source=redact(store), config=split)


def holdout_config(cfg: DataConfig, spec: str) -> DataConfig:
    """``cfg`` with the split ``spec`` names: which newest events are held back (``test``).

    ``loo``: each user's newest event (the one before it validates). ``temporal:SHARE``
    (0 < SHARE < 0.5): the events in the newest SHARE of time; the SHARE of time before them
    validates.

    Raises:
        ConfigError: another spelling.
    """
    kind, _, value = spec.strip().partition(":")
    if kind == "loo" and not value:
        return cfg.model_copy(update={"split": "loo"})
    if kind == "temporal":
        try:
            share = float(value)
        except ValueError:
            share = -1.0
        if 0.0 < share < 0.5:
            cut = round(1.0 - share, 9)
            return cfg.model_copy(
                update={"split": "temporal", "test_cut": cut, "valid_cut": round(cut - share, 9)}
            )
    raise ConfigError(
        f"bad holdout {spec!r}: use 'loo' (each user's newest event) or 'temporal:SHARE' with "
        "0 < SHARE < 0.5 (the newest SHARE of time), e.g. temporal:0.1"
    )


def check_store(store: str) -> None:
    """Raise a ``ConfigError`` for a bad store URL or a SQLite file that does not exist."""
    kind, target = parse_store_url(store)
    if kind == "sqlite" and not Path(target).is_file():
        raise ConfigError(
            f"SQLite store {target} does not exist; pass the file 'prismrec serve --store' used"
        )


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
