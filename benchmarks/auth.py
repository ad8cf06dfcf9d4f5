"""What one API-key check costs: a valid key, a wrong secret for a real key id, an unknown id.

Before issue 15 a wrong secret for a real id cost a PBKDF2 (~21 ms of CPU) and an unknown id
~0.8 ms, which both slowed the server under a stream of wrong keys and told which ids exist.
Now every case is one SQLite lookup plus one HMAC-SHA256. Median and p99 of 3,000 checks each,
SQLite key store, one thread.

Run: cd benchmarks && ../.venv/bin/python auth.py        Writes results/auth.json.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from _common import write_result
from rich.console import Console
from rich.table import Table

from prismrec.serving.access.auth import KeyStore

N = 3_000


def timings(keys: KeyStore, key: str) -> dict[str, float]:
    lat = []
    for _ in range(N):
        t0 = time.perf_counter()
        keys.verify(key)
        lat.append(time.perf_counter() - t0)
    arr = np.asarray(lat) * 1e6
    return {"p50_us": float(np.percentile(arr, 50)), "p99_us": float(np.percentile(arr, 99))}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        keys = KeyStore(f"sqlite:{Path(tmp) / 'keys.db'}")
        good = keys.create("read")
        key_id = good.split("_")[1]
        cases = {
            "valid key": good,
            "wrong secret, real key id": f"prk_{key_id}_{'A' * 43}",
            "unknown key id": f"prk_000000000000_{'A' * 43}",
        }
        rows = {name: timings(keys, key) for name, key in cases.items()}
        keys.close()
    out = write_result("auth", {"checks_per_case": N, "store": "sqlite", "cases": rows})
    t = Table(title=f"API key check, {N:,} each (SQLite key store)")
    for c in ("case", "p50 us", "p99 us"):
        t.add_column(c, justify="right")
    for name, r in rows.items():
        t.add_row(name, f"{r['p50_us']:.0f}", f"{r['p99_us']:.0f}")
    Console().print(t)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
