"""Quantised item indexes (``[serve] index_quantize``): size, build time, latency, recall, NDCG.

Part 1, synthetic: ``N`` item vectors of the model's dimension (64) drawn from a Gaussian
mixture (1000 centres, norms scaled by U(0.5, 1.5)) and queries near random centres (a user's
interest pools the items of one region). For each index (exact; HNSW float32 / fp16 / sq8; IVF
float32 / sq8 / pq, all with ``transform="auto"`` as served), in a fresh subprocess each so that
its memory is its own: the resident memory the index adds (its store of float32 vectors for the
exact re-scoring included), the FAISS structure and the saved directory on disk, the build time
on two threads, p50/p99 of one query at a time on one thread at k=10 and at the service's
candidate depth (100), and recall@10 against the exact index, for the top-10 of a k=10 search
and of a depth-100 search (the served case). Search settings are the service's defaults
(``ef_search`` 384, IVF ``nprobe`` max(16, nlist/8)).

Part 2, end to end: prism trained on the bundled ml-latest-small (leave-one-out; or ``--model``
and ``--data``), every test user served through ``Retriever`` over each index (forced to use the
index even below ``exact_below``), history masked: NDCG@10 and Recall@10 of the served lists.

Run: .venv/bin/python benchmarks/quantize_index.py [--sizes 100000 1000000] [--model DIR --data DIR]
Writes benchmarks/results/quantize_index.json (or --out NAME).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import torch
from _common import write_result
from rich.console import Console
from rich.table import Table
from threadpoolctl import threadpool_limits

from prismrec.config import EF_SEARCH, SEARCH_DEPTH, ModelConfig, TrainConfig
from prismrec.retrieval import IndexSettings, ItemIndex, make_index

K = 10
# label: (index kind, quantize)
VARIANTS: dict[str, tuple[str, str]] = {
    "exact": ("exact", "none"),
    "hnsw": ("hnsw", "none"),
    "hnsw+fp16": ("hnsw", "fp16"),
    "hnsw+sq8": ("hnsw", "sq8"),
    "ivf": ("ivf", "none"),
    "ivf+sq8": ("ivf", "sq8"),
    "ivf+pq": ("ivf", "pq"),
}


def mixture(n: int, n_queries: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((1000, dim)).astype(np.float32)
    items = np.empty((n, dim), np.float32)
    for s in range(0, n, 200_000):  # in chunks: bounded temporaries at 1M
        m = min(200_000, n - s)
        block = centres[rng.integers(0, 1000, m)] + 0.7 * rng.standard_normal((m, dim))
        items[s : s + m] = block * rng.uniform(0.5, 1.5, (m, 1))
    queries = centres[rng.integers(0, 1000, n_queries)]
    queries = queries + 0.7 * rng.standard_normal((n_queries, dim)).astype(np.float32)
    return items, queries.astype(np.float32)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / K for a, b in zip(found, truth, strict=True)]))


def latency(index: ItemIndex, queries: np.ndarray, k: int) -> dict[str, float]:
    index.search(queries[:5], k)  # warm up
    times = np.empty(len(queries))
    for i in range(len(queries)):
        t0 = time.perf_counter()
        index.search(queries[i : i + 1], k)
        times[i] = time.perf_counter() - t0
    return {
        "p50_ms": float(np.percentile(times, 50) * 1e3),
        "p99_ms": float(np.percentile(times, 99) * 1e3),
    }


def dir_mb(path: Path, name: str | None = None) -> float:
    files = [path / name] if name else list(path.iterdir())
    return sum(f.stat().st_size for f in files if f.is_file()) / 1e6


# ----- part 1: one index per subprocess ---------------------------------------------------------
def worker(work: Path, label: str, depth: int, n_lat: int) -> dict[str, Any]:
    """Build, measure and save one index over the vectors in ``work`` (run in a subprocess)."""
    items, queries = np.load(work / "items.npy"), np.load(work / "queries.npy")
    truth = np.load(work / "truth.npy")
    ids = np.arange(1, len(items) + 1, dtype=np.int64)
    kind, quantize = VARIANTS[label]
    settings = IndexSettings(threads=2, quantize=quantize)  # type: ignore[arg-type]
    before = rss_mb()
    t0 = time.perf_counter()
    index = make_index(items, ids, kind, settings)  # type: ignore[arg-type]
    build = time.perf_counter() - t0
    memory = rss_mb() - before
    faiss.omp_set_num_threads(1)  # search on one thread, as served
    with threadpool_limits(1):
        at_k, _ = index.search(queries, K)
        at_depth, _ = index.search(queries, depth)
        lat_k = latency(index, queries[:n_lat], K)
        lat_depth = latency(index, queries[:n_lat], depth)
    saved = index.save(work / f"index-{label}")
    return {
        "n": len(items),
        "index": label,
        "transform": getattr(index, "settings", settings).transform,
        "memory_mb": memory,
        "structure_mb": dir_mb(saved, "faiss.index") if kind != "exact" else 0.0,
        "disk_mb": dir_mb(saved),
        "build_s": build,
        "recall@10": recall(at_k, truth),
        f"recall@10_depth{depth}": recall(at_depth[:, :K], truth),
        "p50_ms": lat_k["p50_ms"],
        "p99_ms": lat_k["p99_ms"],
        f"p50_ms_depth{depth}": lat_depth["p50_ms"],
        f"p99_ms_depth{depth}": lat_depth["p99_ms"],
    }


def run_size(n: int, args: argparse.Namespace, console: Console) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        work = Path(tmp)
        items, queries = mixture(n, args.queries, args.dim, seed=n)
        exact = make_index(items, np.arange(1, n + 1, dtype=np.int64), "exact")
        np.save(work / "truth.npy", exact.search(queries, K)[0])
        np.save(work / "items.npy", items)
        np.save(work / "queries.npy", queries)
        del items, exact
        n_lat = args.latency_queries if n < 500_000 else args.latency_queries // 2
        for label in args.indexes:
            cmd = [sys.executable, __file__, "--worker", label, "--work", str(work)]
            cmd += ["--depth", str(args.depth), "--latency-queries", str(n_lat)]
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            r = rows[-1]
            console.print(
                f"[{n:,}] {label}: built {r['build_s']:.1f}s, +{r['memory_mb']:.0f} MB, "
                f"recall@10 {r['recall@10']:.3f}, p99 {r['p99_ms']:.2f} ms"
            )
            shutil_rm(work / f"index-{label}")
    return rows


def shutil_rm(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


# ----- part 2: served NDCG@10 on a trained model -------------------------------------------------
def served_accuracy(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    from served import _accuracy, _served

    from prismrec.data.dataset import PreparedDataset, prepare
    from prismrec.retrieval import Retriever
    from prismrec.training import PrismRecommender, load_model
    from prismrec.training.base import item_array

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        t0 = time.perf_counter()
        if args.model:
            rec: Any = load_model(args.model)
            ds = PreparedDataset.load(args.data)
        else:
            ds = prepare("bundled:ml-latest-small", Path(tmp) / "data")
            rec = PrismRecommender(ModelConfig(), TrainConfig(epochs=args.epochs)).fit(ds)
        train_s = time.perf_counter() - t0
        cases = ds.eval_cases("test")
        histories = [item_array(h) for h in cases.inputs()]
        out = rec.interests(cases.inputs(), cases.users)
        rows = []
        for label in args.indexes:
            kind, quantize = VARIANTS[label]
            settings = IndexSettings(kind=kind, quantize=quantize)  # type: ignore[arg-type]
            with threadpool_limits(1):
                retriever = Retriever.from_model(rec, settings=settings, score_all_below=0)
                top, ms = _served(retriever, out, histories)
            rows.append(
                {
                    "index": label,
                    **_accuracy(top, cases.targets),
                    "p50_ms": float(np.percentile(ms, 50)),
                    "p99_ms": float(np.percentile(ms, 99)),
                }
            )
            console.print(f"[served] {label}: NDCG@10 {rows[-1]['ndcg@10']:.4f}")
    return {
        "data": str(args.data) if args.data else "bundled ml-latest-small (leave-one-out)",
        "model": str(args.model) if args.model else f"prism defaults, {args.epochs} epochs",
        "items": ds.n_items,
        "users": len(histories),
        "train_s": train_s,
        "rows": rows,
    }


def print_tables(result: dict[str, Any], depth: int, console: Console) -> None:
    t = Table(title=f"item indexes, D={result['dim']}: size, build, one query on one thread")
    cols = ("items", "index", "RAM MB", "FAISS MB", "disk MB", "build s", "p50 ms", "p99 ms")
    cols += (f"p50@{depth}", f"p99@{depth}", "recall@10", f"r@10 d{depth}")
    for c in cols:
        t.add_column(c, justify="right")
    for r in result["rows"]:
        t.add_row(
            f"{r['n']:,}",
            r["index"],
            f"{r['memory_mb']:.0f}",
            f"{r['structure_mb']:.0f}",
            f"{r['disk_mb']:.0f}",
            f"{r['build_s']:.1f}",
            f"{r['p50_ms']:.2f}",
            f"{r['p99_ms']:.2f}",
            f"{r[f'p50_ms_depth{depth}']:.2f}",
            f"{r[f'p99_ms_depth{depth}']:.2f}",
            f"{r['recall@10']:.3f}",
            f"{r[f'recall@10_depth{depth}']:.3f}",
        )
    console.print(t)
    served = result.get("served")
    if served:
        s = Table(title=f"served lists, {served['data']}: {served['items']:,} items")
        for c in ("index", "NDCG@10", "Recall@10", "p50 ms", "p99 ms"):
            s.add_column(c, justify="right")
        for r in served["rows"]:
            s.add_row(
                r["index"],
                f"{r['ndcg@10']:.4f}",
                f"{r['recall@10']:.4f}",
                f"{r['p50_ms']:.2f}",
                f"{r['p99_ms']:.2f}",
            )
        console.print(s)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    ap.add_argument("--indexes", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--depth", type=int, default=SEARCH_DEPTH, help="the service's depth")
    ap.add_argument("--queries", type=int, default=1000, help="queries for recall")
    ap.add_argument("--latency-queries", type=int, default=1000)
    ap.add_argument("--model", type=Path)
    ap.add_argument("--data", type=Path)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--no-model", action="store_true", help="skip the trained-model part")
    ap.add_argument("--tmp", type=Path, help="scratch directory (default: the system's)")
    ap.add_argument("--out", default="quantize_index")
    ap.add_argument("--worker", choices=list(VARIANTS), help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.work, args.worker, args.depth, args.latency_queries)))
        return
    if (args.model is None) != (args.data is None):
        ap.error("--model and --data go together")
    console = Console(width=160)
    load_before = [round(x, 2) for x in os.getloadavg()]
    result: dict[str, Any] = {"dim": args.dim, "k": K, "depth": args.depth}
    result.update(ef_search=EF_SEARCH, hnsw_m=IndexSettings().hnsw_m, pq_m=IndexSettings().pq_m)
    result.update(build_threads=2, search_threads=1, load_average_before=load_before, rows=[])
    for n in args.sizes:
        result["rows"].extend(run_size(n, args, console))
    if not args.no_model:
        result["served"] = served_accuracy(args, console)
    print_tables(result, args.depth, console)
    console.print(f"wrote {write_result(args.out, result)}")


if __name__ == "__main__":
    main()
