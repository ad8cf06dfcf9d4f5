"""One Spark session for every Spark test: a local cluster of two executor processes.

``local-cluster[2,1,1024]`` starts a master and two workers inside the driver's JVM and each
executor as a separate JVM with its own Python workers, so the tests cross process boundaries as
a real cluster does. Everything binds to the loopback address. The tests skip when PySpark or
Java is missing (``pip install -e '.[spark]'``; ``scripts/test-deps.sh`` installs Java).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

MASTER = "local-cluster[2,1,1024]"


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    pytest.importorskip("pyspark", reason="the spark extra is not installed")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("no Java (scripts/test-deps.sh installs it)")
    import pyspark
    from pyspark.sql import SparkSession

    work: Path = tmp_path_factory.mktemp("spark")
    env = {"PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    session = (
        SparkSession.builder.master(MASTER)
        .appName("prismrec tests")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.local.dir", str(work / "local"))
        .config("spark.executor.memory", "768m")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    # the local cluster's workers keep executor logs in SPARK_HOME/work/<app id>
    logs = Path(pyspark.__file__).parent / "work" / session.sparkContext.applicationId
    try:
        yield session
    finally:
        session.stop()
        shutil.rmtree(logs, ignore_errors=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def master(spark: object) -> str:
    """The master URL of the running session (prepare_spark reuses the session)."""
    return MASTER
