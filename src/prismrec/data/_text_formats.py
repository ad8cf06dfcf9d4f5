"""Readers of the untimed text formats: ``seqtxt`` (a user's items per line) and ``pairtxt``
(a ``user item`` pair per line); an event's place in the file is its time."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from prismrec.config import DataConfig
from prismrec.data._read import one_file, read_lines, to_interactions
from prismrec.data.problems import ProblemLog
from prismrec.data.schema import RawDataset

__all__ = ["load_pairtxt", "load_seqtxt"]


def _tokens(path: Path) -> pl.DataFrame:
    """Each line of a whitespace-separated text file with its non-empty tokens (``tok``)."""
    return read_lines(path).with_columns(
        pl.col("line")
        .str.strip_chars()
        .str.split(" ")
        .list.eval(pl.element().filter(pl.element() != ""))
        .alias("tok")
    )


def load_seqtxt(path: Path, cfg: DataConfig, problems: ProblemLog) -> RawDataset:
    """``user item1 item2 ...`` per line, items in time order, no timestamps."""
    path = one_file(path, "seqtxt")
    parts = _tokens(path)
    empty = parts.filter(pl.col("tok").list.len() < 2)
    problems.add_rows(
        "empty_id",
        path,
        empty.filter(pl.col("line").str.strip_chars() != ""),
        "line",
        "a user id followed by at least one item id",
    )
    parts = parts.filter(pl.col("tok").list.len() >= 2)
    long = parts.select(
        pl.col("_line"),
        pl.col("tok").list.first().alias("user_id"),
        pl.col("tok").list.slice(1).alias("item_id"),
    ).explode("item_id")
    return _ordered(long, path, cfg, problems)


def load_pairtxt(path: Path, cfg: DataConfig, problems: ProblemLog) -> RawDataset:
    """``user item`` per line, in time order."""
    path = one_file(path, "pairtxt")
    parts = _tokens(path)
    blank = pl.col("line").str.strip_chars() == ""
    bad = parts.filter(~blank & (pl.col("tok").list.len() != 2))
    problems.add_rows("bad_row", path, bad, "line", "exactly two fields: user item")
    good = parts.filter(~blank & (pl.col("tok").list.len() == 2)).select(
        "_line",
        pl.col("tok").list.get(0).alias("user_id"),
        pl.col("tok").list.get(1).alias("item_id"),
    )
    return _ordered(good, path, cfg, problems)


def _ordered(long: pl.DataFrame, path: Path, cfg: DataConfig, problems: ProblemLog) -> RawDataset:
    """Timestamps for untimed formats: the event's position in the file."""
    long = long.with_row_index("_pos").with_columns(pl.col("_pos").cast(pl.Int64))
    inter = to_interactions(
        long.rename({"_pos": "timestamp"}).with_columns(pl.col("timestamp").cast(pl.String)),
        path,
        cfg,
        problems,
    )
    return RawDataset(interactions=inter, has_time=False, sources=[path])
