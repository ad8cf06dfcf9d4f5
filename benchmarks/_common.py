"""Helpers shared by the benchmark scripts: result files and environment facts."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
# the shared datasets: $PRISMREC_DATA_DIR, or ../shared/data beside the checkout
DATA = Path(
    os.environ.get("PRISMREC_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data")
)


def environment() -> dict[str, Any]:
    import numpy
    import polars

    import prismrec

    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "prismrec": prismrec.__version__,
        "numpy": numpy.__version__,
        "polars": polars.__version__,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_result(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps({"environment": environment(), **payload}, indent=2))
    return out
