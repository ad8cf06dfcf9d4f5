"""FAISS (HNSW, IVF) against the exact index at 10k, 100k and 1M items (D=64).

Synthetic clustered item vectors (1000 centres, varied norms) and queries near random centres,
all float32. For each size: build time; the search knob (HNSW ``efSearch``, IVF ``nprobe``)
raised step by step until recall@10 against the exact index reaches the target; then p50/p99
latency of single queries through ``ItemIndex.search`` (locking and exact re-scoring included)
and the queries/s that one thread sustains that way.

Run: .venv/bin/python benchmarks/retrieval.py [--sizes 10000 100000 1000000]
Writes benchmarks/results/retrieval.json.
"""

from __future__ import annotations

import argparse
import gc
import time
from typing import Any

import faiss
import numpy as np
from _common import write_result
from rich.console import Console
from rich.table import Table

from prismrec.retrieval import FaissIndex, IndexSettings, ItemIndex, make_index

D = 64
K = 10
HNSW_EF = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
IVF_PROBES = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)


def clustered(n: int, n_queries: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((1000, D)).astype(np.float32)
    items = np.empty((n, D), np.float32)
    for s in range(0, n, 200_000):  # in chunks: bounded temporaries at 1M
        m = min(200_000, n - s)
        block = centres[rng.integers(0, 1000, m)] + 0.7 * rng.standard_normal((m, D))
        items[s : s + m] = block * rng.uniform(0.5, 1.5, (m, 1))
    queries = centres[rng.integers(0, 1000, n_queries)]
    queries = queries + 0.7 * rng.standard_normal((n_queries, D)).astype(np.float32)
    return items, queries.astype(np.float32)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = [len(set(a) & set(b)) / K for a, b in zip(found, truth, strict=True)]
    return float(np.mean(hits))


def latency(index: ItemIndex, queries: np.ndarray) -> dict[str, float]:
    """Single-query latency percentiles (ms) and sequential queries/s."""
    index.search(queries[:5], K)  # warm up
    times = np.empty(len(queries))
    for i in range(len(queries)):
        t0 = time.perf_counter()
        index.search(queries[i : i + 1], K)
        times[i] = time.perf_counter() - t0
    return {
        "p50_ms": float(np.percentile(times, 50) * 1e3),
        "p99_ms": float(np.percentile(times, 99) * 1e3),
        "qps": float(len(times) / times.sum()),
    }


def tune(
    index: FaissIndex,
    knob: str,
    values: tuple[int, ...],
    queries: np.ndarray,
    truth: np.ndarray,
    target: float,
) -> tuple[int, float, list[list[float]]]:
    """The smallest knob value reaching ``target`` recall (or the largest tried)."""
    curve: list[list[float]] = []
    for v in values:
        index.set_search_params(**{knob: v})
        r = recall(index.search(queries, K)[0], truth)
        curve.append([v, r])
        if r >= target:
            return v, r, curve
    return values[-1], curve[-1][1], curve


def run_size(n: int, args: argparse.Namespace, console: Console) -> list[dict[str, Any]]:
    items, queries = clustered(n, args.queries, seed=n)
    ids = np.arange(1, n + 1, dtype=np.int64)
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    exact = make_index(items, ids, "exact")
    build = time.perf_counter() - t0
    truth = exact.search(queries, K)[0]
    n_lat = args.latency_queries if n < 500_000 else args.latency_queries // 5
    rows.append(
        {
            "n": n,
            "index": "exact",
            "build_s": build,
            "param": "-",
            "recall@10": 1.0,
            **latency(exact, queries[:n_lat]),
        }
    )
    console.print(f"[{n}] exact done")
    del exact
    plans = [
        (
            "hnsw",
            IndexSettings(
                kind="hnsw",
                hnsw_m=args.m,
                ef_construction=args.ef_construction,
                threads=args.build_threads,
            ),
            "ef_search",
            HNSW_EF,
        ),
        ("ivf", IndexSettings(kind="ivf", threads=args.build_threads), "nprobe", IVF_PROBES),
    ]
    for kind, settings, knob, values in plans:
        gc.collect()
        rows.append(faiss_row(kind, settings, (knob, values), items, queries, truth, args))
        r = rows[-1]
        console.print(
            f"[{n}] {kind} built in {r['build_s']:.1f}s, {r['param']} recall {r['recall@10']:.3f}"
        )
    return rows


def faiss_row(
    kind: str,
    settings: IndexSettings,
    knob: tuple[str, tuple[int, ...]],
    items: np.ndarray,
    queries: np.ndarray,
    truth: np.ndarray,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Build one FAISS index, tune its search knob to the target recall, time it."""
    t0 = time.perf_counter()
    ids = np.arange(1, len(items) + 1, dtype=np.int64)
    index = make_index(items, ids, kind, settings)  # type: ignore[arg-type]
    build = time.perf_counter() - t0
    assert isinstance(index, FaissIndex)
    faiss.omp_set_num_threads(1)  # search on one thread, as served
    value, rec, curve = tune(index, knob[0], knob[1], queries, truth, args.target)
    return {
        "n": len(items),
        "index": kind,
        "transform": index.settings.transform,
        "build_s": build,
        "param": f"{knob[0]}={value}",
        "recall@10": rec,
        "recall_curve": curve,
        **latency(index, queries[: args.latency_queries]),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=1000, help="queries for recall")
    ap.add_argument("--latency-queries", type=int, default=1000)
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument("--m", type=int, default=32)
    ap.add_argument("--ef-construction", type=int, default=80)
    ap.add_argument("--build-threads", type=int, default=2)
    args = ap.parse_args()
    console = Console(width=120)
    load_before = list(np.round(np.array(__import__("os").getloadavg()), 2))
    rows: list[dict[str, Any]] = []
    for n in args.sizes:
        rows.extend(run_size(n, args, console))
    t = Table(title=f"inner-product top-{K}, D={D}, single queries on one thread")
    cols = ("items", "index", "space", "build s", "setting", "recall@10", "p50 ms", "p99 ms", "q/s")
    for c in cols:
        t.add_column(c, justify="right")
    for r in rows:
        t.add_row(
            f"{r['n']:,}",
            r["index"],
            r.get("transform", "-"),
            f"{r['build_s']:.1f}",
            r["param"],
            f"{r['recall@10']:.3f}",
            f"{r['p50_ms']:.2f}",
            f"{r['p99_ms']:.2f}",
            f"{r['qps']:.0f}",
        )
    console.print(t)
    payload = {
        "dim": D,
        "k": K,
        "target_recall": args.target,
        "hnsw_m": args.m,
        "ef_construction": args.ef_construction,
        "build_threads": args.build_threads,
        "search_threads": 1,
        "load_average_before": load_before,
        "rows": rows,
    }
    console.print(f"wrote {write_result('retrieval', payload)}")


if __name__ == "__main__":
    main()
