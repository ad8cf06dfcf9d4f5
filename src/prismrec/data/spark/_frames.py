"""Spark building blocks: contiguous row numbers, exact order statistics, ordered collection."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pyarrow as pa

from prismrec.data.spark._batches import to_ipc

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = ["number_rows", "offsets", "smallest", "tables"]


def offsets(counts: dict[int, int], part: Column) -> Column:
    """A column holding, for partition ``part``, the rows of the partitions before it."""
    from pyspark.sql import functions as F

    start, pairs = 0, []
    for p in range(max(counts, default=-1) + 1):
        pairs += [F.lit(p), F.lit(start)]
        start += counts.get(p, 0)
    return F.try_element_at(F.create_map(*pairs), part) if pairs else F.lit(0)


def number_rows(ordered: DataFrame, name: str, start: int) -> DataFrame:
    """``ordered`` (sorted) with ``name``: its rows numbered ``start, start + 1, ...`` in order.

    Each row's number is its partition's offset plus its place in the partition, so the
    numbering needs no single-partition window. The result is persisted.
    """
    from pyspark.sql import functions as F

    part = F.spark_partition_id()
    tagged = ordered.select(
        "*", part.alias("_p"), F.monotonically_increasing_id().alias("_m")
    ).persist()
    counts = {r[0]: r[1] for r in tagged.groupBy("_p").count().collect()}
    inside = F.col("_m") - F.shiftleft(F.col("_p").cast("long"), 33)
    number = (offsets(counts, F.col("_p")) + inside + start).cast("int")
    return tagged.select(*ordered.columns, number.alias(name)).persist()


def smallest(values: DataFrame, column: str, ranks: list[int]) -> list[int]:
    """The ``k``-th smallest value (0-based) of an integer column for each ``k``, exactly.

    Spark's approximate quantiles bracket each rank; the values inside the brackets are
    collected and sorted. When a bracket misses, all of them widen, up to the whole column.
    """
    from pyspark.sql import functions as F

    col = F.col(column)
    n = values.count()
    qs = [k / max(n - 1, 1) for k in ranks]
    for width in (1e-3, 1e-2, 1e-1, None):
        if width is None:
            lo, hi = values.agg(F.min(col), F.max(col)).first()  # type: ignore[misc]
            bounds = [(lo, hi)] * len(ranks)
        else:
            around = [x for q in qs for x in (max(0.0, q - width), min(1.0, q + width))]
            cuts = values.approxQuantile(column, around, width / 4)
            bounds = list(zip(cuts[::2], cuts[1::2], strict=True))
        sums = []
        for lo, hi in bounds:
            sums += [
                F.sum(F.when(col < lo, 1).otherwise(0)),
                F.sum(F.when((col >= lo) & (col <= hi), 1).otherwise(0)),
            ]
        got = values.agg(*sums).first()
        tallies = list(zip(got[::2], got[1::2], strict=True))  # type: ignore[index]
        if all(b <= k < b + i for k, (b, i) in zip(ranks, tallies, strict=True)):
            inside = F.lit(False)
            for lo, hi in bounds:
                inside = inside | ((col >= lo) & (col <= hi))
            kept = values.where(inside).select(column).toArrow().column(0).to_numpy()
            out = []
            for k, (lo, hi), (below, _) in zip(ranks, bounds, tallies, strict=True):
                own = kept[(kept >= lo) & (kept <= hi)]
                own.sort()
                out.append(int(own[k - below]))
            return out
    raise AssertionError("the whole column brackets every rank")


def tables(frame: DataFrame) -> Iterator[pa.Table]:
    """``frame``'s rows on the driver in partition order, one partition at a time."""
    ipc = frame.mapInArrow(to_ipc, "ipc binary")
    for row in ipc.toLocalIterator(prefetchPartitions=False):
        yield pa.ipc.open_stream(row[0]).read_all()
