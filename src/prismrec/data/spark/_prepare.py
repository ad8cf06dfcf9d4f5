"""``prepare_spark``: the whole preparation on Spark, written as the Polars engine writes it."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from prismrec.config import DataConfig
from prismrec.data._artifact import build_schema, problems_error, write_vocabularies
from prismrec.data.dataset import SCHEMA_FILE, PrepareReport
from prismrec.data.spark._frames import tables
from prismrec.data.spark._load import input_bytes, load_events
from prismrec.data.spark._pipeline import encode_events, filter_events, split_events
from prismrec.data.spark._session import run_settings, spark_session
from prismrec.data.splits import HELD_OUT, split_counts_from

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["prepare_spark"]

log = logging.getLogger(__name__)


def prepare_spark(
    path: str | Path,
    out: str | Path,
    format: str | None = None,
    config: DataConfig | None = None,
    *,
    skip_bad_rows: bool = False,
) -> PrepareReport:
    """Prepare a dataset on Spark (``config.spark_master``); the same directory as Polars'.

    The event file is read and checked by the executors; it must be at the same path on the
    driver and on every executor (local files with a local master, a shared mount on a cluster).
    The driver reads the format's side files (catalogue, user attributes) and writes the output
    directory, pulling the sorted events one partition at a time. The Spark session is kept for
    later calls; what this run cached is dropped at the end (``spark.catalog.clearCache()``).

    Raises:
        DataError: bad rows were found and ``skip_bad_rows`` is False; the format is not one the
            Spark engine reads; nothing is left after filtering.
        ConfigError: PySpark or Java is missing, or the master cannot be reached.
    """
    cfg = config or DataConfig()
    spark = spark_session(cfg)
    with run_settings(spark, cfg, input_bytes(path, format, cfg)):
        try:
            loaded = load_events(spark, path, format, cfg)
            rows_bad = loaded.rows_read - loaded.rows_ok
            if loaded.problems.n_problems and not skip_bad_rows:
                raise problems_error(loaded.problems, loaded.rows_ok, rows_bad, path)
            ev = filter_events(loaded.events, cfg)
            enc = encode_events(spark, ev, loaded.raw, cfg)
            frame, info = split_events(spark, enc, cfg, loaded.raw.has_time)
            counts = _split_counts(frame, cfg.split == "users")
            out_dir = Path(out)
            out_dir.mkdir(parents=True, exist_ok=True)
            n_events = _write_events(frame, out_dir / "interactions.parquet")
            write_vocabularies(out_dir, loaded.raw, enc.users, enc.items, enc.events, enc.contexts)
            schema = build_schema(
                loaded.raw,
                format or "auto",
                cfg,
                rows=(loaded.rows_read, rows_bad, n_events),
                vocabularies=(enc.users, enc.items, enc.events, enc.contexts),
                split=(info, counts),
            )
        finally:
            spark.catalog.clearCache()
    (out_dir / SCHEMA_FILE).write_text(json.dumps(schema, indent=2))
    log.info(
        "prepared %d events, %d users, %d items on Spark -> %s",
        n_events,
        len(enc.users),
        len(enc.items),
        out_dir,
    )
    return PrepareReport(schema, loaded.problems)


def _split_counts(frame: DataFrame, users: bool) -> dict[str, int]:
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    keys = ["split"]
    if users:
        part = F.max("split").over(Window.partitionBy("user_idx"))
        frame = frame.withColumn("_part", part)
        keys += [HELD_OUT, "_part"]
    counts = frame.groupBy(*keys).agg(F.count(F.lit(1)).alias("len"))
    return split_counts_from(pl.DataFrame(counts.toArrow()))


def _write_events(frame: DataFrame, path: Path) -> int:
    """Write the events to one Parquet file on the driver, a partition at a time."""
    n = 0
    writer: pq.ParquetWriter | None = None
    try:
        for table in tables(frame):
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="zstd")
            writer.write_table(table)
            n += table.num_rows
    finally:
        if writer is not None:
            writer.close()
    if writer is None:  # no rows: an empty file with the columns
        empty = pa.Table.from_batches([], schema=_schema_of(frame))
        pq.write_table(empty, path, compression="zstd")
    return n


def _schema_of(frame: DataFrame) -> pa.Schema:
    return frame.limit(0).toArrow().schema
