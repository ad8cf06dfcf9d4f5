"""The HTTP service under load, beside its own floor, at 10k, 100k and 1M synthetic items.

For each catalogue size: synthesise a behaviour log, train prism on it (ID embeddings, K=4,
one epoch of sampled softmax: this measures serving, not accuracy), start ``prismrec serve`` in a
subprocess (real uvicorn, SQLite store, API keys on) and measure over real HTTP with 16
keep-alive connections:

- the floor: ``GET /v1/noop`` (same app, same auth and middleware, no work);
- recommendations: ``GET /v1/users/{id}/recommendations?k=10`` for users whose interest
  vectors are cached (nothing happened since their last request);
- each at a fixed 100 requests/s spread over the connections (open loop: latency counts from
  when a request was due), and again with every connection busy (closed loop: the most
  requests/s the one server process answers);
- event-to-fresh: ``POST /v1/events`` then ``GET .../recommendations`` on one connection, the
  wall time until a list computed with the new event is back (the interests are recomputed);
- recall@10: the served top-10 vs the offline scorer's (``recommend``: every item scored).

Floor and recommendations alternate (3 rounds each); medians of the rounds are reported.
The whole run takes about 17 minutes (the 1M case: HNSW build about 5).

``--capacity`` measures instead how many requests/s one replica holds: recommendations at a
fixed rate of 100, 200, ... requests/s (open loop, 10 s a step, 3 rounds), each step's p99
against the floor's p99 at 100 requests/s, and the server's CPU (cores busy) at each rate. The
highest rate whose p99 stays within 2x the floor is what an autoscaler should keep each
replica under (docs/how-to/scale-out.md).

Run: .venv/bin/python benchmarks/serve.py [--sizes 10000 100000 1000000] [--capacity]
Writes benchmarks/results/serve.json (serve-capacity.json with --capacity).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import http_get as _get
from _common import http_post as _post
from _common import http_request as _request
from _common import write_result
from rich.console import Console
from rich.table import Table

from prismrec.config import ModelConfig, TrainConfig, load_config
from prismrec.data.dataset import prepare
from prismrec.data.synth import synthesize
from prismrec.serving.access.auth import create_key
from prismrec.training import PrismRecommender

CONNECTIONS = 16
RATE = 100.0  # requests/s of the open-loop runs
THREAD_ENV: dict[str, str] = {}  # extra server environment (the service caps BLAS itself)
ROUNDS = 3


async def _load(port: int, requests: list[bytes], connections: int) -> dict[str, float]:
    """Send ``requests`` over ``connections`` keep-alive connections; latency stats."""
    queue = list(reversed(requests))
    lat: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while queue:
            raw = queue.pop()
            t0 = time.perf_counter()
            status, _ = await _request(reader, writer, raw)
            lat.append(time.perf_counter() - t0)
            errors += status != 200
        writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    wall = time.perf_counter() - t0
    arr = np.asarray(lat) * 1000
    return {
        "p50_ms": float(np.percentile(arr, 50)),
        "p99_ms": float(np.percentile(arr, 99)),
        "rps": len(lat) / wall,
        "errors": errors,
        "n": len(lat),
    }


async def _paced(port: int, requests: list[bytes], connections: int, rate: float) -> dict:
    """Open loop: request ``i`` is due at ``i / rate`` s; latency counts from when it was due,
    so time spent waiting for a busy connection is included (no coordinated omission)."""
    lat: list[float] = []
    errors = 0
    start = time.perf_counter() + 0.05

    async def worker(w: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for i in range(w, len(requests), connections):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            status, _ = await _request(reader, writer, requests[i])
            lat.append(time.perf_counter() - due)
            errors += status != 200
        writer.close()

    await asyncio.gather(*(worker(w) for w in range(connections)))
    arr = np.asarray(lat) * 1000
    return {
        "p50_ms": float(np.percentile(arr, 50)),
        "p99_ms": float(np.percentile(arr, 99)),
        "errors": errors,
        "n": len(lat),
    }


# ---- model and server ------------------------------------------------------------------------
def build_model(n_items: int, work: Path) -> tuple[Path, PrismRecommender]:
    n_users = 2000
    raw = work / "raw"
    synthesize(n_users, n_items, max(100_000, n_items // 5), seed=1, out_dir=raw)
    ds = prepare(raw, work / "data", "parquet", load_config(raw / "prismrec.toml").data)
    model = ModelConfig(use_content=False, cooc_weight=0.0)
    train = TrainConfig(epochs=1, loss="sampled", n_negatives=256, batch_size=256)
    rec = PrismRecommender(model, train)
    # serving is measured, not accuracy: skip the full-ranking validation (2000 x 1M scores)
    rec.validation_callback = lambda cases: lambda: (0.0, {})  # type: ignore[method-assign]
    rec.fit(ds)
    return rec.save(work / "model"), rec


class Server:
    def __init__(self, model: Path, work: Path, port: int) -> None:
        self.port = port
        self.store = f"sqlite:{work / 'state.db'}"
        self.key = create_key(self.store, "write")
        exe = Path(sys.executable).parent / "prismrec"
        args = [str(exe), "serve", "--model", str(model), "--store", self.store]
        args += ["--port", str(port), "--rate", "0", "--log-level", "warning"]
        self.log = open(work / "serve.log", "wb")  # noqa: SIM115
        env = {**os.environ, **THREAD_ENV}
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        t0 = time.perf_counter()
        while True:
            try:
                status, _ = asyncio.run(_one(port, _get("/readyz", self.key)))
                if status == 200:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise SystemExit((work / "serve.log").read_text()[-3000:])
            time.sleep(0.5)
        self.startup_s = time.perf_counter() - t0

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()


async def _one(port: int, raw: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        return await _request(reader, writer, raw)
    finally:
        writer.close()


def _fresh(port: int, key: str, users: list[str], items: list[str], n: int) -> dict[str, float]:
    async def run() -> list[float]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        out = []
        rng = np.random.default_rng(0)
        for j in range(n):
            u = users[j % len(users)]
            ev = {
                "user_id": u,
                "item_id": items[int(rng.integers(len(items)))],
                "event_type": "click",
            }
            t0 = time.perf_counter()
            s1, _ = await _request(reader, writer, _post("/v1/events", key, {"events": [ev]}))
            s2, body = await _request(
                reader, writer, _get(f"/v1/users/{u}/recommendations?k=10", key)
            )
            out.append(time.perf_counter() - t0)
            assert s1 == 200 and s2 == 200, body
        writer.close()
        return out

    arr = np.asarray(asyncio.run(run())) * 1000
    return {"p50_ms": float(np.percentile(arr, 50)), "p99_ms": float(np.percentile(arr, 99))}


def _recall(rec: PrismRecommender, port: int, key: str, users: list[str], ds: Any) -> float:
    """Served top-10 vs the offline scorer over the whole catalogue (``recommend``)."""
    import torch

    torch.set_num_threads(1)  # as the server: same float summation order
    rows = [ds.user_vocab.index(u) for u in users]
    want, _ = rec.recommend(k=10, users=np.asarray(rows))
    hits = []
    for u, top in zip(users, want, strict=True):
        _, body = asyncio.run(_one(port, _get(f"/v1/users/{u}/recommendations?k=10", key)))
        got = {x["item_id"] for x in json.loads(body)["items"]}
        want_ids = set(ds.item_vocab.external(top[top > 0]))
        hits.append(len(got & want_ids) / max(1, len(want_ids)))
    return float(np.mean(hits))


def run_size(n_items: int, port: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        model_dir, rec = build_model(n_items, work)
        train_s = time.perf_counter() - t0
        server = Server(model_dir, work, port)
        try:
            from prismrec.data.dataset import PreparedDataset

            ds = PreparedDataset.load(work / "data")
            users = ds.user_vocab.external(np.arange(min(ds.n_users, 1000)))
            items = ds.item_vocab.external(np.arange(1, ds.n_items + 1))
            key = server.key
            recs = [_get(f"/v1/users/{u}/recommendations?k=10", key) for u in users]
            asyncio.run(_load(port, recs, CONNECTIONS))  # warm: every user's vectors cached
            floors, served, floors_max, served_max = [], [], [], []
            noop = [_get("/v1/noop", key)] * len(recs)
            for _ in range(ROUNDS):
                floors.append(asyncio.run(_paced(port, noop, CONNECTIONS, RATE)))
                served.append(asyncio.run(_paced(port, recs, CONNECTIONS, RATE)))
                floors_max.append(asyncio.run(_load(port, noop * 2, CONNECTIONS)))
                served_max.append(asyncio.run(_load(port, recs, CONNECTIONS)))
            recall = _recall(rec, port, key, users[:200], ds)
            fresh = _fresh(port, key, users[200:400], items, 300)
        finally:
            server.stop()
        med = lambda runs, k: statistics.median(r[k] for r in runs)  # noqa: E731
        return {
            "n_items": n_items,
            "index": _index_kind(n_items),
            "train_s": train_s,
            "startup_s": server.startup_s,
            "rate_per_s": RATE,
            "floor": {k: med(floors, k) for k in ("p50_ms", "p99_ms")},
            "recommend": {k: med(served, k) for k in ("p50_ms", "p99_ms")},
            "floor_saturated": {k: med(floors_max, k) for k in ("p50_ms", "p99_ms", "rps")},
            "recommend_saturated": {k: med(served_max, k) for k in ("p50_ms", "p99_ms", "rps")},
            "errors": sum(r["errors"] for r in floors + served + floors_max + served_max),
            "event_to_fresh": fresh,
            "recall@10": recall,
        }


CAPACITY_RATES = (100.0, 200.0, 300.0, 400.0, 500.0, 600.0)
CAPACITY_SECONDS = 10.0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _at_rate(server: Server, recs: list[bytes], rate: float) -> dict[str, float]:
    """Recommendations at ``rate``/s for ``CAPACITY_SECONDS``; latency and server CPU."""
    n = int(rate * CAPACITY_SECONDS)
    reqs = (recs * (n // len(recs) + 1))[:n]
    cpu0, t0 = _cpu_seconds(server.proc.pid), time.perf_counter()
    res = asyncio.run(_paced(server.port, reqs, CONNECTIONS, rate))
    cores = (_cpu_seconds(server.proc.pid) - cpu0) / (time.perf_counter() - t0)
    return {**res, "cpu_cores": cores}


def run_capacity(n_items: int, port: int) -> dict[str, Any]:
    """Recommendation p99 and server CPU at rising fixed rates, beside the floor's p99."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model_dir, _ = build_model(n_items, work)
        server = Server(model_dir, work, port)
        try:
            from prismrec.data.dataset import PreparedDataset

            ds = PreparedDataset.load(work / "data")
            users = ds.user_vocab.external(np.arange(min(ds.n_users, 1000)))
            recs = [_get(f"/v1/users/{u}/recommendations?k=10", server.key) for u in users]
            asyncio.run(_load(port, recs, CONNECTIONS))  # warm: every user's vectors cached
            noop = [_get("/v1/noop", server.key)] * int(RATE * CAPACITY_SECONDS)
            floors, steps = [], {r: [] for r in CAPACITY_RATES}
            for _ in range(ROUNDS):
                floors.append(asyncio.run(_paced(port, noop, CONNECTIONS, RATE))["p99_ms"])
                for rate in CAPACITY_RATES:
                    steps[rate].append(_at_rate(server, recs, rate))
        finally:
            server.stop()
    floor = statistics.median(floors)
    med = lambda runs, k: statistics.median(r[k] for r in runs)  # noqa: E731
    rows = [
        {
            "rate_per_s": rate,
            **{k: med(runs, k) for k in ("p50_ms", "p99_ms", "cpu_cores")},
            "errors": sum(r["errors"] for r in runs),
        }
        for rate, runs in steps.items()
    ]
    held = [r["rate_per_s"] for r in rows if r["p99_ms"] <= 2 * floor]
    return {
        "n_items": n_items,
        "index": _index_kind(n_items),
        "floor_p99_ms": floor,
        "rows": rows,
        "held_at_2x_floor_per_s": max(held, default=0.0),
    }


def print_capacity(result: dict[str, Any]) -> None:
    floor = result["floor_p99_ms"]
    t = Table(title=f"one replica, {result['n_items']:,} items: floor p99 {floor:.1f} ms")
    for c in ("req/s", "p50 ms", "p99 ms", "p99 / floor", "server cores", "errors"):
        t.add_column(c, justify="right")
    for r in result["rows"]:
        t.add_row(
            f"{r['rate_per_s']:.0f}",
            f"{r['p50_ms']:.1f}",
            f"{r['p99_ms']:.1f}",
            f"{r['p99_ms'] / floor:.2f}x",
            f"{r['cpu_cores']:.2f}",
            str(r["errors"]),
        )
    Console().print(t)
    print(f"held at p99 <= 2x floor: {result['held_at_2x_floor_per_s']:.0f} requests/s")


def _index_kind(n: int) -> str:
    return "exact" if n < 20_000 else "hnsw"  # the service's "auto" rule


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--port", type=int, default=8791)
    ap.add_argument("--ef-search", type=int, help="HNSW beam of the service (default: its own)")
    ap.add_argument("--out", default="serve", help="results/<out>.json")
    ap.add_argument(
        "--capacity", action="store_true", help="requests/s one replica holds (first size)"
    )
    args = ap.parse_args()
    if args.ef_search:
        THREAD_ENV["PRISMREC_EF_SEARCH"] = str(args.ef_search)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.capacity:
        load_before = os.getloadavg()[0]
        result = run_capacity(args.sizes[0], args.port)
        meta = {
            "connections": CONNECTIONS,
            "seconds_per_step": CAPACITY_SECONDS,
            # other processes on the machine move these figures: the 1-minute load average, and
            # the niceness the run had (`nice -n -10` stands in for a pod's CPU request)
            "load_average": {"before": load_before, "after": os.getloadavg()[0]},
            "nice": os.nice(0),
        }
        out = write_result(f"{args.out}-capacity", {**meta, **result})
        print_capacity(result)
        print(f"wrote {out}")
        return
    rows = []
    for n in args.sizes:
        rows.append(run_size(n, args.port))
        meta = {
            "connections": CONNECTIONS,
            "rate_per_s": RATE,
            "ef_search": args.ef_search,
        }
        out = write_result(args.out, {**meta, "rows": rows})
    t = Table(title=f"prismrec serve over HTTP, {CONNECTIONS} connections, medians of {ROUNDS}")
    cols = [
        "items",
        "index",
        "floor p50",
        "floor p99",
        "rec p50",
        "rec p99",
        "p99 ratio",
        "rec req/s",
        "event->fresh p50",
        "p99",
        "recall@10",
    ]
    for c in cols:
        t.add_column(c, justify="right")
    for r in rows:
        f, s = r["floor"], r["recommend"]
        t.add_row(
            f"{r['n_items']:,}",
            r["index"],
            f"{f['p50_ms']:.1f}",
            f"{f['p99_ms']:.1f}",
            f"{s['p50_ms']:.1f}",
            f"{s['p99_ms']:.1f}",
            f"{s['p99_ms'] / f['p99_ms']:.2f}x",
            f"{r['floor_saturated']['rps']:.0f}",
            f"{r['recommend_saturated']['rps']:.0f}",
            f"{r['event_to_fresh']['p50_ms']:.1f}",
            f"{r['event_to_fresh']['p99_ms']:.1f}",
            f"{r['recall@10']:.3f}",
        )
    Console().print(t)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
