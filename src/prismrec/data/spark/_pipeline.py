"""Filter, encode and split the checked events in Spark, with the Polars engine's parameters.

The relational steps are Spark's; what they compute is defined once elsewhere: the dedup key and
the total order of a user's events (:mod:`prismrec.data.preprocess`), the vocabularies' order
(users by id, items by first appearance in that order, then unseen catalogue items), and what
each split kind decides for the whole dataset (:mod:`prismrec.data.splits`).
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pyarrow as pa

from prismrec.config import DataConfig
from prismrec.data.preprocess import DEDUP_KEY, EVENT_COLUMNS, NOTHING_LEFT, TIE_ORDER
from prismrec.data.schema import RawDataset
from prismrec.data.spark._batches import finish_rows
from prismrec.data.spark._frames import number_rows, smallest
from prismrec.data.spark._load import flat_schema, spark_ddl
from prismrec.data.splits import (
    HELD_OUT,
    SplitPlan,
    cold_info,
    cold_items,
    ratio_plan,
    temporal_plan,
    user_parts,
)
from prismrec.data.vocab import Vocabulary
from prismrec.errors import ConfigError, DataError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["Encoded", "encode_events", "filter_events", "split_events"]


def filter_events(ev: DataFrame, cfg: DataConfig) -> DataFrame:
    """Rating threshold, dedup (the first line kept) and the iterated k-core; persisted."""
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    if cfg.rating_threshold is not None:
        ev = ev.where(F.col("value").isNull() | (F.col("value") >= cfg.rating_threshold))
    if cfg.dedup:
        first = F.row_number().over(Window.partitionBy(*DEDUP_KEY).orderBy("_line"))
        ev = ev.withColumn("_r", first).where(F.col("_r") == 1).drop("_r")
    ev = ev.persist()
    n = ev.count()
    ku, ki = cfg.min_user_interactions, cfg.min_item_interactions
    for _ in range(100):
        if ku <= 1 and ki <= 1:
            break
        before, old = n, ev
        for col, k in (("item_id", ki), ("user_id", ku)):
            if k > 1:
                keep = ev.groupBy(col).count().where(F.col("count") >= k).select(col)
                ev = ev.join(keep, col, "left_semi")
        ev = ev.persist()
        n = ev.count()
        old.unpersist()
        if n == before:
            break
    if n == 0:
        raise DataError(NOTHING_LEFT)
    return ev


@dataclass
class Encoded:
    """Events with contiguous ids, each user's order, gaps and counts; the vocabularies."""

    frame: DataFrame
    users: Vocabulary
    items: Vocabulary
    events: Vocabulary
    contexts: dict[str, Vocabulary]


def _ids(frame: DataFrame, index: str) -> list[str]:
    """The ids of a numbered vocabulary frame in index order (one row per id, on the driver)."""
    table = frame.toArrow().sort_by(index)
    return [str(x) for x in table.column(0).to_pylist()]


def _small(spark: SparkSession, key: str, vocab: Vocabulary, idx: str) -> DataFrame:
    """A vocabulary as a (key, idx) frame, to join on."""
    table = pa.table(
        {key: [str(x) for x in vocab.ids], idx: np.arange(vocab.offset, vocab.size, dtype=np.int32)}
    )
    return spark.createDataFrame(table)


def encode_events(spark: SparkSession, ev: DataFrame, raw: RawDataset, cfg: DataConfig) -> Encoded:
    """Vocabularies, ids, event index and weight, context ids, ``pos``, ``_gap``, ``_n``."""
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    ts = F.col("timestamp")
    if (cfg.time_order or raw.time_order) == "recbole":
        lo, hi = ev.agg(F.min(ts), F.max(ts)).first()  # type: ignore[misc]
        span = F.greatest(F.lit(float(hi - lo)), F.lit(1.0))
        ev = ev.withColumn("_tkey", ((ts.cast("double") - float(lo)) / span).cast("float"))
    else:
        ev = ev.withColumn("_tkey", ts)
    users = number_rows(ev.select("user_id").distinct().orderBy("user_id"), "user_idx", 0)
    first = ev.groupBy("item_id").agg(F.min(F.struct("user_id", *TIE_ORDER)).alias("_first"))
    items = number_rows(first.orderBy("_first").select("item_id"), "item_idx", 1)
    item_ids = _ids(items, "item_idx")
    if raw.items is not None and cfg.min_item_interactions <= 1:
        seen = set(item_ids)
        item_ids += [i for i in raw.items.get_column("item_id").to_list() if i not in seen]
    events = Vocabulary(sorted(cfg.event_weights), offset=1, name="event type")
    contexts = {
        c: Vocabulary(
            sorted(r[0] for r in ev.select(c).where(F.col(c).isNotNull()).distinct().collect()),
            offset=1,
            name=c,
        )
        for c in raw.context_columns
    }
    frame = ev.join(users, "user_id").join(items, "item_id")
    for c, v in contexts.items():
        frame = frame.join(F.broadcast(_small(spark, c, v, f"ctx_{c}")), c, "left")
    # each user's events in one partition, in the one total order, the partitions in user order:
    # the windows below need no other shuffle and the output no other sort
    frame = frame.repartitionByRange("user_idx").sortWithinPartitions("user_idx", *TIE_ORDER)
    index = F.create_map(*[F.lit(x) for i, e in enumerate(events.ids) for x in (e, i + 1)])
    weights = F.create_map(*[F.lit(x) for e, w in cfg.event_weights.items() for x in (e, w)])
    user = Window.partitionBy("user_idx")
    ordered = user.orderBy(*TIE_ORDER)
    frame = frame.select(
        "user_idx",
        "item_idx",
        "timestamp",
        F.try_element_at(index, F.col("event_type")).cast("smallint").alias("event_idx"),
        "value",
        F.coalesce(F.try_element_at(weights, F.col("event_type")), F.lit(1.0))
        .cast("float")
        .alias("weight"),
        (F.row_number().over(ordered) - 1).cast("int").alias("pos"),
        "_line",
        *[F.coalesce(F.col(f"ctx_{c}"), F.lit(0)).alias(f"ctx_{c}") for c in contexts],
        "_tkey",
        (ts - F.lag(ts).over(ordered)).alias("_gap"),
        F.count(F.lit(1)).over(user).alias("_n"),
    )
    return Encoded(
        frame.persist(),
        Vocabulary(_ids(users, "user_idx"), offset=0, name="user"),
        Vocabulary(item_ids, offset=1, name="item"),
        events,
        contexts,
    )


def _plan(
    spark: SparkSession, frame: DataFrame, cfg: DataConfig
) -> tuple[DataFrame, SplitPlan, dict[str, object]]:
    """The split's per-row inputs on ``frame``, the plan and the split record."""
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    if cfg.split == "loo":
        return frame, SplitPlan("loo"), {"kind": "loo"}
    if cfg.split == "ratio":
        plan = ratio_plan(cfg)
        return frame, plan, {"kind": "ratio", "valid": plan.valid, "test": plan.test}
    if cfg.split == "temporal":
        n = frame.count()
        ranks: list[int] = []

        def note(k: int) -> int:  # a first pass with a stand-in lists the ranks it needs
            ranks.append(k)
            return 0

        with suppress(ConfigError):
            temporal_plan(cfg, n, note)
        found = smallest(frame.select("timestamp"), "timestamp", ranks)
        plan = temporal_plan(cfg, n, dict(zip(ranks, found, strict=True)).__getitem__)
        return frame, plan, plan.info()
    if cfg.split == "users":
        sizes = frame.groupBy("user_idx").agg(F.count(F.lit(1)).cast("int").alias("n"))
        sized = pl.DataFrame(sizes.toArrow()).sort("user_idx")
        part, info = user_parts(sized, cfg, None)
        parts = pa.table({"user_idx": sized.get_column("user_idx").to_arrow(), "_part": part})
        frame = frame.join(F.broadcast(spark.createDataFrame(parts)), "user_idx")
        return frame, SplitPlan("users", input_share=cfg.input_share), info
    present = frame.select("item_idx").distinct().toArrow().column(0).to_numpy()
    cold = cold_items(np.sort(present), cfg)
    flags = pa.table({"item_idx": cold.astype(np.int32), "_cold": np.ones(len(cold), bool)})
    frame = frame.join(F.broadcast(spark.createDataFrame(flags)), "item_idx", "left")
    frame = frame.fillna(False, ["_cold"])
    user = Window.partitionBy("user_idx")
    warm = ~F.col("_cold")
    frame = frame.select(
        "*",
        F.max(F.when(warm, F.col("pos"))).over(user).alias("_last_warm"),
        F.sum(F.when(warm, 1).otherwise(0)).over(user).alias("_n_warm"),
    )
    return frame, SplitPlan("cold-items"), cold_info(cfg, cold)


def output_schema(contexts: list[str], held_out: bool) -> pa.Schema:
    """The Polars engine's event columns and types."""
    types = {
        "user_idx": pa.int32(),
        "item_idx": pa.int32(),
        "timestamp": pa.int64(),
        "event_idx": pa.int16(),
        "value": pa.float64(),
        "weight": pa.float32(),
        "hour": pa.int16(),
        "weekday": pa.int16(),
        "gap_bucket": pa.int16(),
        "pos": pa.int32(),
        "_line": pa.int64(),
    }
    fields = [pa.field(c, types[c]) for c in EVENT_COLUMNS]
    fields += [pa.field(f"ctx_{c}", pa.int32()) for c in contexts]
    fields.append(pa.field("split", pa.int8()))
    if held_out:
        fields.append(pa.field(HELD_OUT, pa.bool_()))
    return flat_schema(fields)


def split_events(
    spark: SparkSession, enc: Encoded, cfg: DataConfig, has_time: bool
) -> tuple[DataFrame, dict[str, object]]:
    """The prepared events, sorted in the one total order, persisted; the split record."""
    frame, plan, info = _plan(spark, enc.frame, cfg)
    schema = output_schema(list(enc.contexts), cfg.split == "users")
    needed = [*enc.frame.columns, *SplitPlan.INPUTS[plan.kind]]
    keep = list(dict.fromkeys(c for c in needed if c in frame.columns))
    # still range-partitioned by user (broadcast joins and windows keep it): sorted as it is
    ordered = frame.select(*keep).sortWithinPartitions("user_idx", *TIE_ORDER)
    out = ordered.mapInArrow(finish_rows(plan, cfg, has_time, schema), spark_ddl(schema))
    return out.persist(), info
