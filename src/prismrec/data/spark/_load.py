"""Read and check the event file on the executors; count the bad rows and keep a sample.

Text is read as lines; a line's number is its partition's offset (the lines of the partitions
before it, counted in a first pass) plus its place in the partition, so it is the file's own line
number however the file is split. Parquet rows take ``_metadata.row_index``. Each batch of rows
then goes through the shared :class:`~prismrec.data._events.EventFile` rules.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from prismrec.config import DataConfig
from prismrec.data._events import EventFile, items_from_counts
from prismrec.data.loaders import LAYOUTS, detect_format, resolve_path
from prismrec.data.problems import MAX_DETAIL_PER_KIND, Problem, ProblemLog
from prismrec.data.schema import RawDataset
from prismrec.data.spark._batches import (
    EVENT,
    KIND_COUNT,
    PROBLEM,
    ROWS_READ,
    check_lines,
    check_table,
)
from prismrec.data.spark._frames import offsets
from prismrec.errors import DataError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["Loaded", "flat_schema", "input_bytes", "load_events", "spark_ddl"]

log = logging.getLogger(__name__)
# formats the Spark engine reads: one event file of lines, or Parquet
SPARK_FORMATS = ("movielens-100k", "movielens-latest", "recbole", "taobao", "tianchi", "csv")


@dataclass
class Loaded:
    """The checked events (in Spark) and everything else the format gave (on the driver)."""

    events: DataFrame
    raw: RawDataset
    problems: ProblemLog
    rows_read: int
    rows_ok: int


PARQUET_ROW_BYTES = 32
"""A Parquet event counts as a text line of this many bytes (about a CSV event's)."""


def _describe(path: str | Path, format: str | None, cfg: DataConfig) -> tuple[str, EventFile]:
    p = resolve_path(path)
    name = format or detect_format(p)
    if name not in SPARK_FORMATS and name != "parquet":
        known = ", ".join((*SPARK_FORMATS, "parquet"))
        raise DataError(
            f"{p}: the spark engine reads {known}; prepare '{name}' data with --engine polars"
        )
    return name, LAYOUTS[name].events(p, cfg)


def input_bytes(path: str | Path, format: str | None, cfg: DataConfig) -> int:
    """Size of the event file as text (what the shuffle partitions divide).

    Parquet counts :data:`PARQUET_ROW_BYTES` per row: compressed, 50M synthetic events are
    333 MB, which cut 11 shuffle partitions of 4.5M rows, and the driver of a local master
    (whose heap also holds the executors' work) ran out of memory on one of them; Spark then
    waits forever for the lost result."""
    name, events = _describe(path, format, cfg)
    if events.data is not None:
        return len(events.data)
    if name == "parquet":
        return pq.ParquetFile(events.file).metadata.num_rows * PARQUET_ROW_BYTES
    return events.file.stat().st_size


def _numbered_lines(spark: SparkSession, events: EventFile) -> tuple[DataFrame, int, str]:
    """``(_line, value)`` for every line of the file, the last line's number and the first line."""
    from pyspark.sql import functions as F

    if events.data is not None:  # a zip member: the driver holds its bytes
        lines = events.data.decode("utf8", errors="replace").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        table = pa.table({"_line": pa.array(range(1, len(lines) + 1), pa.int64()), "value": lines})
        return spark.createDataFrame(table), len(lines), lines[0] if lines else ""
    scan = spark.read.option("lineSep", "\n").text(str(events.file))
    part = F.spark_partition_id()
    counts = {r[0]: r[1] for r in scan.select(part.alias("p")).groupBy("p").count().collect()}
    inside = F.monotonically_increasing_id() - F.shiftleft(part.cast("long"), 33)
    numbered = scan.select((offsets(counts, part) + inside + 1).alias("_line"), "value")
    with events.file.open("rb") as fh:
        first = fh.readline().decode("utf8", errors="replace").rstrip("\r\n")
    return numbered, sum(counts.values()), first


def _schema(empty: pl.DataFrame) -> pa.Schema:
    """The checked frame: events (``empty``'s columns), problems and counts (``_rec`` says)."""
    fields = [pa.field("_rec", pa.int8()), *empty.to_arrow().schema]
    fields += [pa.field(c, pa.string()) for c in ("p_kind", "p_column", "p_value", "p_expected")]
    fields.append(pa.field("p_count", pa.int64()))
    return flat_schema(fields)


def flat_schema(fields: list[pa.Field]) -> pa.Schema:
    """Arrow fields as Spark hands them over (``string``, not ``large_string``)."""
    return pa.schema(
        [f.with_type(pa.string()) if f.type == pa.large_string() else f for f in fields]
    )


def _columns(spark: SparkSession, events: EventFile) -> tuple[list[str], DataFrame | None]:
    if events.table:
        from pyspark.sql import functions as F

        scan = spark.read.parquet(str(events.file))
        index = (F.col("_metadata.row_index") + 1).alias("_line")
        return scan.columns, scan.select(*scan.columns, index)
    return [], None


def load_events(
    spark: SparkSession, path: str | Path, format: str | None, cfg: DataConfig
) -> Loaded:
    """Read and check the event file of ``path`` on the executors (see the module doc)."""
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    name, events = _describe(path, format, cfg)
    problems = ProblemLog()
    columns, table = _columns(spark, events)
    lines, last_line, first = (None, 0, "") if table is not None else _numbered_lines(spark, events)
    names = events.header(first) if table is None else None
    if names is not None:
        columns = names
        if events.has_header:
            lines = lines.where(F.col("_line") > 1)  # type: ignore[union-attr]
    empty = events.empty(columns, problems)  # file-level problems, once; raises a missing column
    raw = LAYOUTS[name].finish(resolve_path(path), events, empty, problems)
    schema = _schema(empty)
    known = raw.items.get_column("item_id").to_list() if raw.items is not None else None
    shared = spark.sparkContext.broadcast(known)

    def catalogue() -> pl.DataFrame | None:
        ids = shared.value
        return (
            None if ids is None else pl.DataFrame({"item_id": ids}, schema={"item_id": pl.String})
        )

    run = (
        check_table(events, catalogue, schema)
        if table is not None
        else check_lines(events, names, last_line, catalogue, schema)
    )
    source = table if table is not None else lines
    checked = source.mapInArrow(run, spark_ddl(schema)).persist()  # type: ignore[union-attr]
    tallies = (
        checked.where(F.col("_rec") >= KIND_COUNT)
        .groupBy("_rec", "p_kind")
        .agg(F.sum("p_count").alias("n"))
    )
    rows_read = 0
    for rec, kind, n in tallies.collect():
        if rec == ROWS_READ:
            rows_read += int(n)
        else:
            problems.counts[kind] += int(n)
    rank = F.row_number().over(Window.partitionBy("p_kind").orderBy("_line", "p_column"))
    sample = (
        checked.where(F.col("_rec") == PROBLEM)
        .select("p_kind", "_line", "p_column", "p_value", "p_expected", rank.alias("r"))
        .where(F.col("r") <= MAX_DETAIL_PER_KIND)
        .orderBy("_line", "p_column")
        .collect()
    )
    label = str(events.file)
    problems.problems += [Problem(k, label, int(ln), c, v, e) for k, ln, c, v, e, _ in sample]
    problems.rows_read = rows_read
    problems.interaction_file = label
    out = checked.where(F.col("_rec") == EVENT).select(*empty.columns)
    rows_ok = out.count()
    if rows_ok == 0 and not problems.n_problems:
        raise DataError(f"{path}: no events found as '{name}' data")
    col = events.items_from
    if col is not None:
        counts = out.groupBy("item_id", col).agg(
            F.count("*").cast("int").alias("_n"), F.min("_line").alias("_line")
        )
        raw.items = items_from_counts(pl.DataFrame(counts.toArrow()), col)
        out = out.drop(col)
    log.info("checked %s on Spark: %d rows ok, %d read", path, rows_ok, rows_read)
    return Loaded(out, raw, problems, rows_read, rows_ok)


def spark_ddl(schema: pa.Schema) -> str:
    """A Spark DDL schema string for an Arrow schema of flat columns."""
    names = {
        pa.int8(): "tinyint",
        pa.int16(): "smallint",
        pa.int32(): "int",
        pa.int64(): "bigint",
        pa.float32(): "float",
        pa.float64(): "double",
        pa.string(): "string",
        pa.bool_(): "boolean",
    }
    return ", ".join(f"`{f.name}` {names[f.type]}" for f in schema)
