"""ComiRec-style data already split by users: ``train.txt``, ``valid.txt``, ``test.txt``.

One user a line, ``user item item ...`` (whitespace-separated positive integer ids, the items in
time order); the file a user is in is their part: train users train, valid and test users are
held out (the multi-interest future-set protocol of ComiRec, KDD'20, and REMI, RecSys'23). An
optional ``item_map.txt`` (``original,new`` per line) becomes the item catalogue, with the
original id in ``original_id``. There are no timestamps: an event's position in its line is its
time.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from prismrec.config import DataConfig
from prismrec.data._read import read_lines, to_interactions
from prismrec.data.problems import ProblemLog
from prismrec.data.schema import RawDataset
from prismrec.errors import DataError

__all__ = ["COMIREC_FILES", "ITEM_MAP", "is_comirec_dir", "load_comirec"]

COMIREC_FILES = ("train.txt", "valid.txt", "test.txt")  # part 0, 1, 2
ITEM_MAP = "item_map.txt"
_ID = r"^[1-9][0-9]*$"


def is_comirec_dir(names: set[str]) -> bool:
    """Whether a directory's file names are ComiRec's three user files."""
    return all(n in names for n in COMIREC_FILES)


def load_comirec(path: Path, cfg: DataConfig, problems: ProblemLog) -> RawDataset:
    """Read the three user files (and ``item_map.txt`` when there) of a ComiRec directory.

    A file inside the directory names the directory. Bad lines are problems naming file, line,
    column and value: a token that is not a positive integer id, a line with no item (a held-out
    user needs two: one input, one target), a user already listed in an earlier file, an item
    missing from ``item_map.txt``.
    """
    root = path.parent if path.is_file() else path
    missing = [n for n in COMIREC_FILES if not (root / n).is_file()]
    if missing:
        raise DataError(
            f"{root}: no {', '.join(missing)}; the comirec format reads a directory with "
            f"{', '.join(COMIREC_FILES)} (one user a line: user item item ...)"
        )
    item_file = root / ITEM_MAP
    items = _item_map(item_file, problems) if item_file.is_file() else None
    known = items.get_column("item_id").implode() if items is not None else None
    seen: set[str] = set()
    frames, parts = [], []
    for part, name in enumerate(COMIREC_FILES):
        file = root / name
        lines = _lines(file, part, seen, problems)
        long = lines.select(
            "_line",
            pl.col("tok").list.first().alias("user_id"),
            pl.col("tok").list.slice(1).alias("item_id"),
        ).explode("item_id")
        long = long.with_columns(
            pl.int_range(pl.len()).over("_line").cast(pl.String).alias("timestamp")
        )
        if known is not None:
            problems.add_rows(
                "unknown_item",
                file,
                long.filter(~pl.col("item_id").is_in(known)),
                "item_id",
                f"an item id listed in {item_file}",
            )
        inter = to_interactions(long, file, cfg, problems)
        frames.append(inter)
        users = inter.get_column("user_id").unique(maintain_order=True)
        parts.append(
            pl.DataFrame({"user_id": users, "part": pl.repeat(part, len(users), eager=True)})
        )
    return RawDataset(
        interactions=pl.concat(frames),
        items=items,
        has_time=False,
        sources=[root / n for n in COMIREC_FILES] + ([item_file] if items is not None else []),
        user_split=pl.concat(parts).with_columns(pl.col("part").cast(pl.Int8)),
    )


def _lines(file: Path, part: int, seen: set[str], problems: ProblemLog) -> pl.DataFrame:
    """The file's good lines with their tokens (``tok``); problems recorded for the others."""
    df = read_lines(file).with_columns(
        pl.col("line")
        .str.strip_chars()
        .str.split(" ")
        .list.eval(pl.element().filter(pl.element() != ""))
        .alias("tok")
    )
    df = df.filter(pl.col("line").str.strip_chars() != "")
    need = 3 if part else 2
    short = df.filter(pl.col("tok").list.len() < need)
    what = (
        "a user id and at least two item ids (input and target)"
        if part
        else "a user id and at least one item id"
    )
    problems.add_rows("short_line", file, short, "line", what)
    df = df.filter(pl.col("tok").list.len() >= need)
    tokens = df.select("_line", pl.col("tok").list.eval(pl.int_range(pl.len())).alias("col"), "tok")
    tokens = tokens.explode("col", "tok")
    bad = tokens.filter(~pl.col("tok").str.contains(_ID)).unique("_line", keep="first")
    for column, rows in (
        ("user_id", bad.filter(pl.col("col") == 0)),
        ("item_id", bad.filter(pl.col("col") > 0)),
    ):
        problems.add_rows("bad_id", file, rows, "tok", "a positive integer id", label=column)
    df = df.filter(~pl.col("_line").is_in(bad.get_column("_line").implode()))
    user = pl.col("tok").list.first()
    again = df.filter(user.is_in(list(seen)) | ~user.is_first_distinct())
    problems.add_rows(
        "duplicate_user",
        file,
        again.with_columns(user.alias("user_id")),
        "user_id",
        "each user on one line of one file (train, valid or test)",
    )
    seen.update(df.get_column("tok").list.first().to_list())
    return df


def _item_map(file: Path, problems: ProblemLog) -> pl.DataFrame:
    """``original,new`` lines as a catalogue: ``item_id`` (new) and ``original_id``."""
    df = read_lines(file).filter(pl.col("line").str.strip_chars() != "")
    df = df.with_columns(pl.col("line").str.strip_chars().str.split(",").alias("f"))
    ok = (pl.col("f").list.len() == 2) & pl.col("f").list.last().str.contains(_ID)
    problems.add_rows(
        "bad_row", file, df.filter(~ok), "line", "original_id,item_id with a positive integer id"
    )
    df = df.filter(ok).select(
        pl.col("f").list.last().alias("item_id"),
        pl.col("f").list.first().alias("original_id"),
        "_line",
    )
    dup = df.filter(~pl.col("item_id").is_first_distinct())
    problems.add_rows("conflicting_item", file, dup, "item_id", "one line per item id")
    return df.filter(pl.col("item_id").is_first_distinct()).drop("_line")
