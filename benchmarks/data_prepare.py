"""Rows/s of `data synth` and `data prepare` at 1M and 10M synthetic events.

Run: .venv/bin/python benchmarks/data_prepare.py [--sizes 1000000 10000000]
Prints a table and writes benchmarks/results/data_prepare.json. Goal (issue 2): 10M events
synthesised in < 60 s and prepared in < 60 s on this 2-core machine.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from _common import write_result
from rich.console import Console
from rich.table import Table

from prismrec.config import load_config
from prismrec.data.dataset import prepare
from prismrec.data.synth import synthesize


def one(n_events: int, work: Path, repeats: int) -> dict[str, float]:
    n_users, n_items = max(1000, n_events // 100), max(2000, n_events // 200)
    synth_t, prep_t = [], []
    for r in range(repeats):
        raw, out = work / f"raw{r}", work / f"prep{r}"
        t0 = time.perf_counter()
        synthesize(n_users, n_items, n_events, seed=r, out_dir=raw)
        t1 = time.perf_counter()
        prepare(raw, out, "parquet", load_config(raw / "prismrec.toml").data)
        t2 = time.perf_counter()
        synth_t.append(t1 - t0)
        prep_t.append(t2 - t1)
        shutil.rmtree(raw)
        shutil.rmtree(out)
    s, p = statistics.median(synth_t), statistics.median(prep_t)
    return {
        "events": n_events,
        "users": n_users,
        "items": n_items,
        "repeats": repeats,
        "synth_seconds": s,
        "prepare_seconds": p,
        "synth_rows_per_s": n_events / s,
        "prepare_rows_per_s": n_events / p,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            rows.append(one(n, Path(tmp), args.repeats if n <= 1_000_000 else 1))
    t = Table(title="synth + prepare (median seconds)")
    for c in ("events", "synth s", "synth rows/s", "prepare s", "prepare rows/s", "goal <60 s"):
        t.add_column(c, justify="right")
    for r in rows:
        ok = r["synth_seconds"] < 60 and r["prepare_seconds"] < 60
        t.add_row(
            f"{r['events']:,}",
            f"{r['synth_seconds']:.1f}",
            f"{r['synth_rows_per_s']:,.0f}",
            f"{r['prepare_seconds']:.1f}",
            f"{r['prepare_rows_per_s']:,.0f}",
            "yes" if ok else "NO",
        )
    Console().print(t)
    print(f"wrote {write_result('data_prepare', {'runs': rows})}")


if __name__ == "__main__":
    main()
