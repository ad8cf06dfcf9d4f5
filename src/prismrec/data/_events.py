"""One event file and how its rows become interactions: the rules every engine runs.

A format describes its event file as an :class:`EventFile` (separator, header, column names, the
event-type mapping, context columns, the format's config defaults). The Polars engine reads the
whole file and converts it at once (:meth:`EventFile.load`); the Spark engine cuts the file into
runs of whole lines and calls the same :meth:`EventFile.parse` and :meth:`EventFile.convert` on
each run, so one piece of code finds, names and counts every bad row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from prismrec.config import DataConfig
from prismrec.data._read import ends_with_newline, read_delimited, read_table_file, to_interactions
from prismrec.data.problems import ProblemLog
from prismrec.errors import DataError

__all__ = ["EventFile", "items_from_counts", "value_counts"]


@dataclass(frozen=True)
class EventFile:
    """How one event file is read and checked.

    Attributes:
        file: the file, named in every problem (``zip!member`` for a file inside a zip).
        cfg: the data config with the format's defaults applied.
        separator, has_header, names, quote: how its lines split into fields; ``names`` name
            the fields in order (they replace the header's names when there is a header).
        table: read with :func:`read_table_file` (Parquet, JSON lines) instead of as delimited
            text.
        rename: file column -> name, applied after reading.
        mapping, event_map, fixed_event_type, has_time, context: what :func:`to_interactions`
            checks and converts.
        items_from: an event column the item catalogue is derived from (the most frequent value
            per item); it is dropped from the interactions.
        data: the file's bytes when it is not a plain file (a zip member).
    """

    file: Path
    cfg: DataConfig
    separator: str = ","
    has_header: bool = False
    names: tuple[str, ...] | None = None
    quote: str | None = None
    table: bool = False
    rename: Mapping[str, str] = field(default_factory=dict)
    mapping: Mapping[str, str] | None = None
    event_map: Mapping[str, str] | None = None
    fixed_event_type: str | None = None
    has_time: bool = True
    context: tuple[str, ...] = ()
    items_from: str | None = None
    data: bytes | None = None

    def read(self) -> pl.DataFrame:
        """The whole file as string columns plus ``_line`` (its line number)."""
        if self.table:
            return read_table_file(self.file, self.cfg)
        raw = read_delimited(
            self.data if self.data is not None else self.file,
            separator=self.separator,
            has_header=self.has_header,
            names=list(self.names) if self.names else None,
            quote=self.quote,
        )
        return raw.rename(dict(self.rename), strict=False) if self.rename else raw

    def header(self, first_line: str) -> list[str]:
        """The names :meth:`read` gives the fields, from ``names`` or the file's first line."""
        if self.names:
            return list(self.names)
        text = (first_line + "\n").encode()
        head = read_delimited(
            text, separator=self.separator, has_header=self.has_header, quote=self.quote
        )
        return head.columns[1:]

    def parse(self, text: bytes, first: int, n: int, names: list[str] | None) -> pl.DataFrame:
        """``n`` consecutive whole lines of the file (``text``, no header line), the first one
        numbered ``first``, as :meth:`read` gives them.

        Raises:
            DataError: the lines do not hold one row each (a quoted field spans lines).
        """
        raw = read_delimited(
            text, separator=self.separator, has_header=False, names=names, quote=self.quote
        )
        if raw.height != n:
            raise DataError(
                f"{self.file}: lines {first}-{first + n - 1} hold {raw.height} rows, not one a "
                "line (a quoted field spans lines); prepare it with --engine polars"
            )
        raw = raw.with_columns(pl.int_range(first, first + n, dtype=pl.Int64).alias("_line"))
        return raw.rename(dict(self.rename), strict=False) if self.rename else raw

    def truncated(self) -> bool:
        """The file does not end with a newline, so its last row may be cut off."""
        if self.table:
            return False
        if self.data is not None:
            return not self.data.endswith(b"\n")
        return not ends_with_newline(self.file)

    def convert(
        self, raw: pl.DataFrame, problems: ProblemLog, truncated_last: bool = False
    ) -> pl.DataFrame:
        """Check and convert read rows into interactions (bad rows recorded and dropped)."""
        return to_interactions(
            raw,
            self.file,
            self.cfg,
            problems,
            mapping=self.mapping,
            event_map=self.event_map,
            fixed_event_type=self.fixed_event_type,
            has_time=self.has_time,
            context=list(self.context) or None,
            truncated_last=truncated_last,
        )

    def load(self, problems: ProblemLog) -> pl.DataFrame:
        """Read, check and convert the whole file."""
        return self.convert(self.read(), problems, self.truncated())

    def empty(self, columns: list[str], problems: ProblemLog) -> pl.DataFrame:
        """No rows, the columns :meth:`load` gives; file-level problems (a missing or an
        unexpected column) are recorded, or raised as :meth:`load` raises them."""
        raw = pl.DataFrame(schema={c: pl.String for c in columns}).with_columns(
            pl.lit(None, pl.Int64).alias("_line")
        )
        return self.convert(raw.rename(dict(self.rename), strict=False), problems)


def items_from_counts(counts: pl.DataFrame, col: str) -> pl.DataFrame:
    """An item catalogue from per-event values: each item's most frequent ``col`` value, ties
    to the value seen first; sorted by item id.

    Args:
        counts: ``item_id``, ``col``, ``_n`` (events with that value) and ``_line`` (the first
            line with it).
    """
    return (
        counts.sort(["item_id", "_n", "_line"], descending=[False, True, False])
        .unique("item_id", keep="first", maintain_order=True)
        .select("item_id", col)
    )


def value_counts(inter: pl.DataFrame, col: str) -> pl.DataFrame:
    """The input of :func:`items_from_counts` from interactions."""
    return inter.group_by("item_id", col).agg(pl.len().alias("_n"), pl.col("_line").min())
