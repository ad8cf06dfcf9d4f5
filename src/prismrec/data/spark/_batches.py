"""What runs on the executors: the shared Polars rules applied to Arrow batches.

Each function takes and yields ``pyarrow.RecordBatch`` (``DataFrame.mapInArrow``). They import
no PySpark, so they run wherever prismrec, Polars and PyArrow are installed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator

import polars as pl
import pyarrow as pa

from prismrec.config import DataConfig
from prismrec.data._events import EventFile
from prismrec.data._read import stringify
from prismrec.data.loaders import check_known_items
from prismrec.data.preprocess import time_columns
from prismrec.data.problems import ProblemLog
from prismrec.data.schema import RawDataset
from prismrec.data.splits import SplitPlan

__all__ = [
    "EVENT",
    "KIND_COUNT",
    "PROBLEM",
    "ROWS_READ",
    "check_lines",
    "check_table",
    "finish_rows",
    "to_ipc",
]

# what a row of the checked frame is (column _rec)
EVENT, PROBLEM, KIND_COUNT, ROWS_READ = 0, 1, 2, 3


def _records(frame: pl.DataFrame, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    table = frame.select(schema.names).to_arrow().cast(schema)
    yield from table.to_batches()


def _checked(
    events: EventFile,
    raw: pl.DataFrame,
    truncated_last: bool,
    catalogue: pl.DataFrame | None,
    schema: pa.Schema,
) -> Iterator[pa.RecordBatch]:
    """Rows read -> interactions, the problems found (file and line) and their counts."""
    problems = ProblemLog()
    inter = events.convert(raw, problems, truncated_last)
    if catalogue is not None:
        ds = RawDataset(inter, items=catalogue)
        check_known_items(ds, problems)
        inter = ds.interactions
    # file-level problems (line 0) come from the driver, once
    file_level = Counter(p.kind for p in problems.problems if not p.line)
    rows = [p for p in problems.problems if p.line]
    counts = {k: n - file_level[k] for k, n in problems.counts.items() if n > file_level[k]}
    parts = [
        inter.with_columns(pl.lit(EVENT, pl.Int8).alias("_rec")),
        pl.DataFrame(
            {
                "_rec": [PROBLEM] * len(rows),
                "p_kind": [p.kind for p in rows],
                "_line": [p.line for p in rows],
                "p_column": [p.column for p in rows],
                "p_value": [p.value for p in rows],
                "p_expected": [p.expected for p in rows],
            },
            schema_overrides={"_rec": pl.Int8, "_line": pl.Int64},
        ),
        pl.DataFrame(
            {
                "_rec": [KIND_COUNT] * len(counts) + [ROWS_READ],
                "p_kind": [*counts, ""],
                "p_count": [*counts.values(), raw.height],
            },
            schema_overrides={"_rec": pl.Int8, "p_count": pl.Int64},
        ),
    ]
    out = pl.concat(parts, how="diagonal_relaxed")
    missing = [pl.lit(None).alias(n) for n in schema.names if n not in out.columns]
    yield from _records(out.with_columns(missing), schema)


def check_lines(
    events: EventFile,
    names: list[str] | None,
    last_line: int,
    catalogue: Callable[[], pl.DataFrame | None],
    schema: pa.Schema,
) -> Callable[[Iterable[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Check runs of text lines (``_line``, ``value``) with :meth:`EventFile.parse` and
    :meth:`EventFile.convert`; ``last_line`` is the file's last line (it may be cut off)."""
    truncated = events.truncated()

    def run(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        items = catalogue()
        for batch in batches:
            n = batch.num_rows
            if n == 0:
                continue
            numbers = batch.column("_line").to_numpy()
            first = int(numbers[0])
            if int(numbers[-1]) - first != n - 1:
                raise RuntimeError(f"{events.file}: lines {first}.. of a batch are not consecutive")
            lines = pl.Series(batch.column("value")).str.join("\n").item()
            raw = events.parse((lines + "\n").encode(), first, n, names)
            end = truncated and first <= last_line <= first + n - 1
            yield from _checked(events, raw, end, items, schema)

    return run


def check_table(
    events: EventFile, catalogue: Callable[[], pl.DataFrame | None], schema: pa.Schema
) -> Callable[[Iterable[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Check rows of a Parquet file (its columns plus ``_line``) as :meth:`EventFile.read`
    gives them."""

    def run(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        items = catalogue()
        for batch in batches:
            if batch.num_rows == 0:
                continue
            frame = pl.DataFrame(pl.from_arrow(batch))
            raw = stringify(frame.drop("_line")).with_columns(frame.get_column("_line"))
            yield from _checked(events, raw, False, items, schema)

    return run


def finish_rows(
    plan: SplitPlan, cfg: DataConfig, has_time: bool, schema: pa.Schema
) -> Callable[[Iterable[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Each event's time features and split from its own inputs; the output columns."""

    def run(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            frame = pl.DataFrame(pl.from_arrow(batch))
            frame = plan.apply(time_columns(frame, cfg, has_time))
            yield from _records(frame, schema)

    return run


def to_ipc(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Each batch as one Arrow IPC stream in a one-row ``ipc`` column (collected in order)."""
    for batch in batches:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch)
        data = pa.array([sink.getvalue().to_pybytes()], pa.binary())
        yield pa.RecordBatch.from_arrays([data], names=["ipc"])
