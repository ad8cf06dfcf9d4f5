"""Helpers shared by the benchmark scripts: result files and environment facts."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

__all__ = [
    "DATA",
    "RESULTS",
    "environment",
    "http_get",
    "http_post",
    "http_request",
    "write_result",
]

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


# ---- a minimal keep-alive HTTP/1.1 client for load generators (lighter than any library) ----
async def http_request(reader: Any, writer: Any, raw: bytes) -> tuple[int, bytes]:
    """Send one raw request on an open connection; (status, body) of the answer."""
    writer.write(raw)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length)
    return status, body


def http_get(path: str, key: str, method: str = "GET") -> bytes:
    """A bodiless request (GET, DELETE ...) with the key."""
    return (
        f"{method} {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {key}\r\n\r\n".encode()
    )


def http_post(path: str, key: str, payload: dict[str, Any], method: str = "POST") -> bytes:
    body = json.dumps(payload).encode()
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body
