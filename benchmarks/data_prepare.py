"""Events/s and peak memory of `data prepare` with the Polars and the Spark engine.

Run: cd benchmarks && ../.venv/bin/python data_prepare.py [--sizes 1000000 10000000 50000000]
     [--engines polars spark] [--master local[2]] [--driver-memory 8g] [--logs DIR]
     [--conf spark.memory.fraction=0.4 ...] [--partitions 200]

Synthetic events (``prismrec.data.synth``, Parquet) at each size are prepared by each engine in a
child process; its whole process tree (for Spark: the driver's Python, the JVM and the Python
workers) is sampled every 0.2 s for the peak resident memory. Events/s is events over the
wall time of the child, Spark's start-up included. The Polars engine holds every event in this
one process, so its bytes per event at the largest size give the size at which it no longer fits
in this machine's memory. Each child's whole log is kept in --logs (a failed run's first error
line is also in the JSON). Prints a table and writes benchmarks/results/data_prepare.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import pyarrow.parquet as pq
from _common import RESULTS, write_result
from rich.console import Console
from rich.table import Table

from prismrec.config import load_config
from prismrec.data.dataset import prepare_dir
from prismrec.data.synth import synthesize


def child(engine: str, raw: Path, out: Path, opts: argparse.Namespace) -> None:
    """Prepare ``raw`` once (run in a child process by :func:`measure`)."""
    extra = dict(c.split("=", 1) for c in opts.conf)
    cfg = load_config(raw / "prismrec.toml").data.model_copy(
        update={
            "engine": engine,
            "spark_master": opts.master,
            "spark_conf": {"spark.driver.memory": opts.driver_memory, **extra},
            "spark_partitions": opts.partitions,
        }
    )
    prepare_dir(raw, out, "parquet", cfg)


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # a worker may exit meanwhile
            total += p.memory_info().rss
    return total


def first_error(log: str) -> str:
    """The line of a child's log that names the cause of its failure, or '': an out-of-memory
    error wherever it is, else the first exception's root cause (its last ``Caused by:``),
    else the first line naming an error. Spark's cause sits there; the last lines are the
    Python traceback that reports it."""
    lines = [line.strip() for line in log.splitlines()]
    for line in lines:
        if "OutOfMemoryError" in line or "Killed" in line:
            return line[:400]
    first = next((i for i, x in enumerate(lines) if "Exception" in x or "Error" in x), None)
    if first is None:
        return ""
    cause = lines[first]
    for line in lines[first + 1 :]:
        if line.startswith("Caused by:"):
            cause = line
        elif line and not line.startswith(("at ", "...")):
            break
    return cause[:400]


def measure(args: list[str], timeout: float, log_path: Path) -> dict[str, Any]:
    """Run a child; its wall time, the peak RSS of its process tree, and whether it finished.
    The child's whole log is kept at ``log_path``."""
    # the child's log goes to a file: a pipe read only at the end fills up and blocks it
    with log_path.open("w+b") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log)
        ps, peak = psutil.Process(proc.pid), 0
        while proc.poll() is None:
            peak = max(peak, tree_rss(ps))
            if time.perf_counter() - t0 > timeout:
                proc.kill()
                proc.wait()
                break
            time.sleep(0.2)
        seconds = time.perf_counter() - t0
        log.seek(0)
        err = log.read().decode(errors="replace")
    ok = proc.returncode == 0
    m: dict[str, Any] = {"seconds": seconds, "peak_rss": peak, "ok": ok, "log": str(log_path)}
    m["error"] = "" if ok else err[-400:]
    m["first_error"] = "" if ok else first_error(err)
    return m


CHUNK = 10_000_000


def synthesize_in_chunks(n_users: int, n_items: int, n: int, raw: Path) -> None:
    """Synthetic events; above :data:`CHUNK` events, chunks of the same users and items (seeds
    0, 1, ...) appended to one Parquet file, so the generator never holds more than a chunk."""
    synthesize(n_users, n_items, min(n, CHUNK), seed=0, out_dir=raw)
    if n <= CHUNK:
        return
    first = raw / "interactions.parquet"
    whole = raw / "interactions-all.parquet"
    schema = pq.read_schema(first)
    with pq.ParquetWriter(whole, schema, compression="zstd") as writer:
        writer.write_table(pq.read_table(first))
        for seed in range(1, -(-n // CHUNK)):
            size = min(CHUNK, n - seed * CHUNK)
            part = synthesize(n_users, n_items, size, seed=seed).interactions
            writer.write_table(part.to_arrow().cast(schema))
    whole.replace(first)


def one(
    n: int, work: Path, engines: list[str], opts: argparse.Namespace, done: list[dict[str, Any]]
) -> dict[str, Any]:
    n_users, n_items = max(1000, n // 100), max(2000, n // 200)
    raw = work / "raw"
    t0 = time.perf_counter()
    synthesize_in_chunks(n_users, n_items, n, raw)
    row: dict[str, Any] = {
        "events": n,
        "users": n_users,
        "items": n_items,
        "synth_seconds": time.perf_counter() - t0,
        "input_bytes": (raw / "interactions.parquet").stat().st_size,
    }
    for engine in engines:
        skip = too_big(n, done, opts.memory_share) if engine == "polars" else None
        if skip is not None:
            row[engine] = skip
            continue
        out = work / f"out-{engine}"
        cmd = [sys.executable, __file__, "--child", engine, str(raw), str(out)]
        cmd += ["--master", opts.master, "--driver-memory", opts.driver_memory]
        cmd += [f"--conf={c}" for c in opts.conf]
        if opts.partitions:
            cmd += ["--partitions", str(opts.partitions)]
        m = measure(cmd, opts.timeout, opts.logs / f"{engine}-{n}.log")
        if engine == "spark":
            m["driver_memory"] = opts.driver_memory
            m["spark_conf"] = opts.conf
            m["partitions"] = opts.partitions
        m["events_per_s"] = n / m["seconds"] if m["ok"] else None
        m["bytes_per_event"] = m["peak_rss"] / n
        row[engine] = m
        shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(raw)
    return row


def projection(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The event count at which the Polars engine's peak memory reaches this machine's RAM:
    bytes per event from the two largest sizes it ran (the slope, so the interpreter's own
    memory does not count), or from one."""
    done = sorted((r for r in rows if r.get("polars", {}).get("ok")), key=lambda r: r["events"])
    if not done:
        return {}
    big = done[-1]
    per_event = big["polars"]["bytes_per_event"]
    base = 0.0
    if len(done) > 1:
        small = done[-2]
        per_event = (big["polars"]["peak_rss"] - small["polars"]["peak_rss"]) / (
            big["events"] - small["events"]
        )
        base = big["polars"]["peak_rss"] - per_event * big["events"]
    memory = psutil.virtual_memory().total
    return {
        "memory_bytes": memory,
        "polars_bytes_per_event": per_event,
        "polars_base_bytes": base,
        "measured_at_events": big["events"],
        "polars_fits_up_to_events": int((memory - base) / per_event),
    }


def too_big(n: int, rows: list[dict[str, Any]], share: float = 0.8) -> dict[str, Any] | None:
    """A stand-in result when the projection says the Polars engine would not fit in the memory
    available now (running it would push the machine into swap or the OOM killer)."""
    proj = projection(rows)
    if not proj:
        return None
    need = proj["polars_base_bytes"] + proj["polars_bytes_per_event"] * n
    free = psutil.virtual_memory().available
    if need < share * free:
        return None
    return {
        "seconds": 0.0,
        "peak_rss": int(need),
        "ok": False,
        "error": f"not run: projected {need / 2**30:.1f} GiB, {free / 2**30:.1f} GiB available",
        "events_per_s": None,
        "bytes_per_event": proj["polars_bytes_per_event"],
    }


def print_table(rows: list[dict[str, Any]], engines: list[str], proj: dict[str, Any]) -> None:
    t = Table(title="data prepare: events/s and peak RSS (process tree)")
    t.add_column("events", justify="right")
    for e in engines:
        t.add_column(f"{e} s", justify="right")
        t.add_column(f"{e} events/s", justify="right")
        t.add_column(f"{e} peak RSS", justify="right")
    for r in rows:
        cells = [f"{r['events']:,}"]
        for e in engines:
            m = r[e]
            if not m["ok"]:
                what = "not run" if m["error"].startswith("not run") else "failed"
                cells += [f"{m['seconds']:.0f}", what, f"{m['peak_rss'] / 2**30:.1f} GiB"]
                continue
            rate = f"{m['events_per_s']:,.0f}"
            cells += [f"{m['seconds']:.1f}", rate, f"{m['peak_rss'] / 2**30:.2f} GiB"]
        t.add_row(*cells)
    Console().print(t)
    for r in rows:
        for e in engines:
            if r[e].get("first_error"):
                m = r[e]
                print(f"{e} at {r['events']:,} events failed: {m['first_error']} ({m['log']})")
    if proj:
        print(
            f"polars: {proj['polars_bytes_per_event']:.0f} bytes/event at "
            f"{proj['measured_at_events']:,} events -> fills {proj['memory_bytes'] / 2**30:.0f} "
            f"GiB at about {proj['polars_fits_up_to_events']:,} events"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000, 50_000_000])
    ap.add_argument("--engines", nargs="+", default=["polars", "spark"])
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--driver-memory", default="8g", help="spark.driver.memory (local masters)")
    ap.add_argument(
        "--conf", action="append", default=[], metavar="KEY=VALUE", help="a Spark setting"
    )
    ap.add_argument(
        "--partitions", type=int, default=None, help="data.spark_partitions (default: by size)"
    )
    ap.add_argument(
        "--memory-share",
        type=float,
        default=0.8,
        help="run Polars only when its projected peak is below this share of the free memory",
    )
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per engine and size")
    ap.add_argument(
        "--keep",
        action="store_true",
        help="keep the other sizes' last results, and the other engines' at these sizes",
    )
    logs = Path(tempfile.gettempdir()) / "prismrec-bench-logs"
    ap.add_argument("--logs", type=Path, default=logs, help="where each child's log is kept")
    ap.add_argument("--child", nargs=3, metavar=("ENGINE", "RAW", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    bad = [c for c in args.conf if "=" not in c]
    if bad:
        ap.error(f"--conf takes KEY=VALUE, got {bad[0]!r}")
    if args.child:
        engine, raw, out = args.child
        child(engine, Path(raw), Path(out), args)
        return
    args.logs.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    before: dict[int, dict[str, Any]] = {}
    if args.keep and (RESULTS / "data_prepare.json").is_file():
        last = json.loads((RESULTS / "data_prepare.json").read_text())["runs"]
        rows = [r for r in last if r["events"] not in args.sizes]
        before = {r["events"]: r for r in last}
    shown = ["polars", "spark"] if args.keep else args.engines
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            row = one(n, Path(tmp), args.engines, args, rows)
            for engine in shown:  # --keep: an engine not run now keeps its last result
                if engine not in row and engine in before.get(n, {}):
                    row[engine] = before[n][engine]
            rows.append(row)
            rows.sort(key=lambda r: r["events"])
            print_table(rows, [e for e in shown if all(e in r for r in rows)], projection(rows))
    proj = projection(rows)
    result = {"master": args.master, "driver_memory": args.driver_memory, "runs": rows}
    print(f"wrote {write_result('data_prepare', {**result, 'projection': proj})}")


if __name__ == "__main__":
    main()
