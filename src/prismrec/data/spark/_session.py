"""The Spark session a preparation runs in, and the settings of one run."""

from __future__ import annotations

import logging
import math
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from prismrec.config import DataConfig
from prismrec.errors import ConfigError

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["BATCH_ROWS", "run_settings", "spark_session"]

BATCH_ROWS = 100_000
"""Rows per Arrow batch handed to the shared Polars rules on the executors."""
SHUFFLE_BYTES = 32 << 20
"""Input bytes per shuffle partition unless ``spark_partitions`` is set."""
_INSTALL = "pip install 'prismrec[spark]'"


def _is_local(master: str) -> bool:
    return master.startswith("local")


def spark_session(cfg: DataConfig) -> SparkSession:
    """The active Spark session, or a new one on ``cfg.spark_master`` with ``cfg.spark_conf``.

    A local master (``local[*]``, ``local-cluster[...]``) binds to the loopback address. The
    executors' Python is this interpreter unless ``PYSPARK_PYTHON`` says otherwise.

    Raises:
        ConfigError: PySpark is not installed, or Java is missing or the master cannot be
            reached (the message says which).
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError(
            f"data.engine 'spark' needs PySpark, which is not installed: {_INSTALL} "
            "(and Java 17 or 21), or use --engine polars"
        ) from None
    active = SparkSession.getActiveSession()
    if active is not None:
        log.info("using the running Spark session (master %s)", active.sparkContext.master)
        return active
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise ConfigError(
            "data.engine 'spark' needs Java 17 or 21 and none was found (no java on PATH, no "
            "JAVA_HOME); Debian: apt-get install openjdk-17-jre-headless"
        )
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder: Any = SparkSession.builder.master(cfg.spark_master).appName("prismrec data prepare")
    settings = {"spark.ui.enabled": "false"}
    if _is_local(cfg.spark_master):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        settings.update({"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"})
    for key, value in {**settings, **cfg.spark_conf}.items():
        builder = builder.config(key, value)
    try:
        session: SparkSession = builder.getOrCreate()
    except Exception as exc:  # py4j and the JVM launcher raise several kinds
        why = " ".join(str(exc).split())[:200]
        raise ConfigError(
            f"cannot start Spark on master {cfg.spark_master!r}: {why}; check data.spark_master "
            "(--master) and that Java 17 or 21 runs"
        ) from None
    return session


@contextmanager
def run_settings(spark: SparkSession, cfg: DataConfig, input_bytes: int) -> Iterator[None]:
    """Session settings for one preparation, put back afterwards.

    ``spark_partitions`` sets the shuffle partitions and cuts the input into about that many
    splits (default: one shuffle partition per :data:`SHUFFLE_BYTES` of input, at least one per
    core); the Arrow batches carry :data:`BATCH_ROWS` rows.
    """
    wanted = {"spark.sql.execution.arrow.maxRecordsPerBatch": str(BATCH_ROWS)}
    n = cfg.spark_partitions
    if n is None:
        # Spark's 200 shuffle partitions are too many jobs for small data, too few for large
        parallel = spark.sparkContext.defaultParallelism
        wanted["spark.sql.shuffle.partitions"] = str(
            max(parallel, math.ceil(input_bytes / SHUFFLE_BYTES))
        )
    else:
        wanted.update(
            {
                "spark.sql.shuffle.partitions": str(n),
                "spark.sql.files.maxPartitionBytes": str(max(1, math.ceil(input_bytes / n))),
                "spark.sql.files.openCostInBytes": "0",
                "spark.sql.files.minPartitionNum": str(n),
            }
        )
    before: dict[str, str | None] = {key: spark.conf.get(key, None) for key in wanted}
    for key, value in wanted.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, old in before.items():
            if old is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, old)
