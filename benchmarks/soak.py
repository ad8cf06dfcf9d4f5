"""Soak: ten minutes of mixed reads and writes at 16 connections; memory and latency must hold.

Trains prism on a 10k-item synthetic catalogue (as ``serve.py`` does: serving is measured, not
accuracy), starts ``prismrec serve`` in a subprocess (real uvicorn, SQLite store, keys on, no
rate limit) on 127.0.0.1 and sends a paced mix over 16 keep-alive connections:

- 70% ``GET /v1/users/{id}/recommendations?k=10`` (trained users and the soak's own users),
- 20% ``POST /v1/events`` (1-5 events; each connection writes to its own 60 users),
- 5% ``GET /v1/items/{id}/similar``, 4% ``GET /v1/users/{id}/interests``,
- 1% ``DELETE /v1/users/{id}`` of one of the connection's own users that has events.

Requests are due at a fixed rate (open loop: latency counts from when a request was due). After a
warm-up (every user's vectors cached once, then one minute of the mix, not counted), the
server's RSS is sampled every 10 s; the first and the last minute's p50/p99 and the RSS at the
start and end are reported, with every answer that is not 2xx counted as an error. Goals
(issue 15): RSS growth < 5% after warm-up, 0 errors.

Run: cd benchmarks && ../.venv/bin/python soak.py [--minutes 10] [--rate 100]
Writes benchmarks/results/soak.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import http_get, http_request, write_result
from _common import http_post as post
from rich.console import Console
from rich.table import Table
from serve import Server, build_model

from prismrec.serving.access.auth import create_key

CONNECTIONS = 16
N_ITEMS = 10_000
OWN_USERS = 60  # per connection


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


class Mix:
    """The requests one connection sends, drawn from a seeded generator."""

    def __init__(self, w: int, key: str, users: list[str], items: list[str]) -> None:
        self.rng = random.Random(w)
        self.key, self.users, self.items = key, users, items
        self.own = [f"soak-{w}-{n}" for n in range(OWN_USERS)]
        self.with_events: set[str] = set()

    def next(self) -> tuple[str, bytes]:
        r, rng = self.rng.random(), self.rng
        if r < 0.70:
            pool = self.users if rng.random() < 0.8 else self.own
            return "recommend", http_get(
                f"/v1/users/{rng.choice(pool)}/recommendations?k=10", self.key
            )
        if r < 0.90:
            user = rng.choice(self.own)
            self.with_events.add(user)
            events = [
                {"user_id": user, "item_id": rng.choice(self.items), "event_type": "click"}
                for _ in range(rng.randint(1, 5))
            ]
            return "events", post("/v1/events", self.key, {"events": events})
        if r < 0.95:
            return "similar", http_get(f"/v1/items/{rng.choice(self.items)}/similar?k=10", self.key)
        if r < 0.99 or not self.with_events:
            return "interests", http_get(f"/v1/users/{rng.choice(self.users)}/interests", self.key)
        user = rng.choice(sorted(self.with_events))
        self.with_events.discard(user)
        return "delete", http_get(f"/v1/users/{user}", self.key, "DELETE")


async def soak(port: int, mixes: list[Mix], seconds: float, rate: float) -> list[tuple]:
    """Paced requests for ``seconds``; (due time, kind, latency s, status) per request."""
    out: list[tuple] = []
    start = time.perf_counter() + 0.05
    n_total = int(seconds * rate)

    async def worker(w: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for i in range(w, n_total, len(mixes)):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            kind, raw = mixes[w].next()
            status, _ = await http_request(reader, writer, raw)
            out.append((due - start, kind, time.perf_counter() - due, status))
        writer.close()

    await asyncio.gather(*(worker(w) for w in range(len(mixes))))
    return out


async def sample_rss(pid: int, every: float, until: float, samples: list[tuple]) -> None:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < until:
        samples.append((time.perf_counter() - t0, rss_mb(pid)))
        await asyncio.sleep(every)
    samples.append((time.perf_counter() - t0, rss_mb(pid)))


def window(records: list[tuple], lo: float, hi: float) -> dict[str, float]:
    lat = np.asarray([r[2] for r in records if lo <= r[0] < hi]) * 1000
    return {
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "n": int(len(lat)),
    }


def run(minutes: float, rate: float, port: int, warmup: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model_dir, _ = build_model(N_ITEMS, work)
        from prismrec.data.dataset import PreparedDataset

        ds = PreparedDataset.load(work / "data")
        users = ds.user_vocab.external(np.arange(ds.n_users))
        items = ds.item_vocab.external(np.arange(1, ds.n_items + 1))
        server = Server(model_dir, work, port)
        try:
            key = create_key(server.store, "admin")  # deletes need the admin role
            mixes = [Mix(w, key, users, items) for w in range(CONNECTIONS)]
            warm = [http_get(f"/v1/users/{u}/recommendations?k=10", key) for u in users]
            asyncio.run(_warm(port, warm))
            asyncio.run(soak(port, mixes, warmup * 60, rate))  # the same mix, not counted
            seconds = minutes * 60
            rss: list[tuple] = []

            async def both() -> list[tuple]:
                sampler = asyncio.create_task(sample_rss(server.proc.pid, 10.0, seconds, rss))
                records = await soak(port, mixes, seconds, rate)
                await sampler
                return records

            records = asyncio.run(both())
        finally:
            server.stop()
    return {"warmup_minutes": warmup, **summarise(records, rss, minutes, rate)}


async def _warm(port: int, requests: list[bytes]) -> None:
    queue = list(requests)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while queue:
            await http_request(reader, writer, queue.pop())
        writer.close()

    await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))


def summarise(records: list[tuple], rss: list[tuple], minutes: float, rate: float) -> dict:
    end = minutes * 60
    errors = [r for r in records if not 200 <= r[3] < 300]
    kinds = sorted({r[1] for r in records})
    return {
        "minutes": minutes,
        "connections": CONNECTIONS,
        "rate_per_s": rate,
        "n_items": N_ITEMS,
        "requests": len(records),
        "by_kind": {k: sum(1 for r in records if r[1] == k) for k in kinds},
        "errors": len(errors),
        "error_statuses": sorted({r[3] for r in errors}),
        "first_minute": window(records, 0, 60),
        "last_minute": window(records, end - 60, end + 1),
        "rss_mb_start": rss[0][1],
        "rss_mb_end": rss[-1][1],
        "rss_growth": rss[-1][1] / rss[0][1] - 1,
        "rss_mb_samples": [[round(t, 1), round(m, 1)] for t, m in rss],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=100.0, help="requests/s over all connections")
    ap.add_argument("--warmup", type=float, default=1.0, help="minutes of the mix not counted")
    ap.add_argument("--port", type=int, default=8792)
    args = ap.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    result = run(args.minutes, args.rate, args.port, args.warmup)
    out = write_result("soak", result)
    t = Table(title=f"soak: {args.minutes:g} min, {CONNECTIONS} connections, {args.rate:g} req/s")
    for c in ("", "p50 ms", "p99 ms", "requests", "RSS MB"):
        t.add_column(c, justify="right")
    f, last = result["first_minute"], result["last_minute"]
    t.add_row(
        "first minute",
        f"{f['p50_ms']:.1f}",
        f"{f['p99_ms']:.1f}",
        f"{f['n']:,}",
        f"{result['rss_mb_start']:.1f}",
    )
    t.add_row(
        "last minute",
        f"{last['p50_ms']:.1f}",
        f"{last['p99_ms']:.1f}",
        f"{last['n']:,}",
        f"{result['rss_mb_end']:.1f}",
    )
    Console().print(t)
    print(
        f"{result['requests']:,} requests {result['by_kind']}, errors {result['errors']} "
        f"{result['error_statuses']}, RSS growth {100 * result['rss_growth']:+.1f}%"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
