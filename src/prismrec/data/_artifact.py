"""The files of a prepared dataset besides its events: vocabularies, catalogue, schema.

Every engine writes these through the same functions, so their artifacts agree.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import polars as pl

from prismrec import __version__
from prismrec.config import DataConfig
from prismrec.data.problems import ProblemLog
from prismrec.data.schema import RawDataset
from prismrec.data.vocab import Vocabulary
from prismrec.errors import DataError

__all__ = ["ENGINE_KEYS", "build_schema", "problems_error", "write_vocabularies"]

ENGINE_KEYS = frozenset({"engine", "spark_master", "spark_conf", "spark_partitions"})
"""``[data]`` keys that say how a dataset is prepared, not what it holds: the config a prepared
dataset stores leaves them out, so every engine writes the same artifact."""


def _checksum(paths: list[Path]) -> str:
    h = hashlib.md5()
    for p in paths:
        real = Path(str(p).split("!")[0])
        if real.is_file():
            with real.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()


def problems_error(
    problems: ProblemLog, rows_ok: int, rows_bad: int, path: str | Path
) -> DataError:
    """The DataError that names the first problems of a load (file, line, column, value)."""
    shown = problems.sorted()[:10]
    lines = "\n".join(f"  {p.message}" for p in shown)
    more = problems.n_problems - len(shown)
    tail = f"\n  ... and {more} more" if more > 0 else ""
    return DataError(
        f"{rows_bad} bad row(s) in {path} ({rows_ok} good); first problems:\n"
        f"{lines}{tail}\nFix the file, or pass --skip-bad-rows to load the good rows only.",
        problems.sorted(),
    )


def write_vocabularies(
    out_dir: Path,
    raw: RawDataset,
    users: Vocabulary,
    items: Vocabulary,
    events: Vocabulary,
    contexts: dict[str, Vocabulary],
) -> pl.DataFrame:
    """Write ``items.parquet`` (the item vocabulary with the catalogue's columns), the users'
    attributes and ``vocab/``; return the items frame."""
    frame = items.to_frame("item_idx", "item_id")
    if raw.items is not None:
        frame = frame.join(raw.items, on="item_id", how="left")
    frame.write_parquet(out_dir / "items.parquet")
    if raw.users is not None:
        attrs = users.to_frame("user_idx", "user_id").join(
            raw.users.with_columns(pl.col("user_id").cast(pl.String)), on="user_id", how="left"
        )
        attrs.write_parquet(out_dir / "users.parquet")
    vdir = out_dir / "vocab"
    vdir.mkdir(exist_ok=True)
    users.save(vdir / "users.parquet")
    events.save(vdir / "events.parquet")
    for name, v in contexts.items():
        v.save(vdir / f"ctx_{name}.parquet")
    return frame


def build_schema(
    raw: RawDataset,
    format: str,
    cfg: DataConfig,
    *,
    rows: tuple[int, int, int],
    vocabularies: tuple[Vocabulary, Vocabulary, Vocabulary, dict[str, Vocabulary]],
    split: tuple[dict[str, object], dict[str, int]],
) -> dict[str, Any]:
    """The ``schema.json`` of a prepared dataset.

    Args:
        rows: rows read, bad rows, events prepared.
        vocabularies: users, items, event types, contexts.
        split: the split record and the events per split.
    """
    users, items, events, contexts = vocabularies
    return {
        "prismrec_version": __version__,
        "format": format,
        "sources": [str(s) for s in raw.sources],
        "source_md5": _checksum(raw.sources),
        "rows_read": rows[0],
        "rows_bad": rows[1],
        "n_users": len(users),
        "n_items": len(items),
        "n_events": rows[2],
        "has_time": raw.has_time,
        "event_types": {e: float(cfg.event_weights[e]) for e in events.ids},
        "contexts": {c: v.size for c, v in contexts.items()},
        "user_columns": list(raw.user_columns) if raw.users is not None else [],
        "item_fields": raw.item_fields.to_dict(),
        "max_seq_len": cfg.max_seq_len,
        "n_gap_buckets": len(cfg.gap_buckets) + 2,
        "split": split[0],
        "split_counts": split[1],
        "config": cfg.model_dump(exclude=set(ENGINE_KEYS)),
    }
