"""Items/s of `content encode` on ml-latest-small (9,742 movies): cold vs warm cache, threads.

Run: .venv/bin/python benchmarks/encode.py [--threads 1 2] [--batch-size 32] [--repeats 1]
Prints a table and writes benchmarks/results/encode.json. The text model is loaded (and warmed up)
before the timed runs, so "cold" is pure encoding; the warm run reads the cache from disk with a
fresh, never-loaded encoder. Also measures the genre overlap of top-10 content neighbours against
random pairs, with the default template and with a title-only template (genres not in the text).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import write_result
from rich.console import Console
from rich.table import Table

from prismrec.content import (
    ContentConfig,
    TextEncoder,
    content_vectors,
    encode_dataset,
    load_item_features,
    nearest,
)
from prismrec.data.dataset import PreparedDataset, prepare

DATA = Path(os.environ.get("PRISMREC_DATA_DIR", "/work/shared/data"))


def genre_overlap(ds: PreparedDataset, vectors: np.ndarray, k: int = 10) -> dict[str, float]:
    """Share of (item, top-k neighbour) pairs with a common genre, vs random pairs."""
    genres = {
        i: set(g) - {"(no genres listed)"}
        for i, g in ds.items_frame.select("item_idx", "genres").iter_rows()
    }
    rows = np.array([i for i, g in genres.items() if g])
    idx, _ = nearest(vectors, rows, k)
    nn = float(
        np.mean(
            [
                np.mean([bool(genres[q] & genres[j]) for j in nb if genres[j]])
                for q, nb in zip(rows, idx, strict=True)
            ]
        )
    )
    rng = np.random.default_rng(0)
    a, b = rng.choice(rows, 50_000), rng.choice(rows, 50_000)
    rand = float(
        np.mean([bool(genres[x] & genres[y]) for x, y in zip(a, b, strict=True) if x != y])
    )
    return {"neighbours": round(nn, 4), "random": round(rand, 4), "lift": round(nn / rand, 2)}


def cold_run(ds: PreparedDataset, encoder: TextEncoder, cache: Path, cfg: ContentConfig) -> float:
    t0 = time.perf_counter()
    report = encode_dataset(ds, cfg.with_overrides(cache_dir=str(cache)), encoder=encoder)
    seconds = time.perf_counter() - t0
    assert report.text is not None and report.text.stats.n_encoded == ds.n_items
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch-size", type=int, default=ContentConfig().batch_size)
    ap.add_argument("--repeats", type=int, default=1, help="cold runs per thread count")
    ap.add_argument("--skip-title-only", action="store_true")
    args = ap.parse_args()
    zip_path = DATA / "ml-latest-small" / "ml-latest-small.zip"
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ds = prepare(zip_path, work / "mls", "movielens-latest")
        cfg = ContentConfig(batch_size=args.batch_size)
        t0 = time.perf_counter()
        encoder = TextEncoder.from_config(cfg)
        encoder.encode(["warm-up"])
        load_seconds = time.perf_counter() - t0
        cold: dict[int, list[float]] = {t: [] for t in args.threads}
        for r in range(args.repeats):
            for t in args.threads:  # interleaved, so load from other processes hits both alike
                encoder.threads = t
                cold[t].append(cold_run(ds, encoder, work / f"cache-{t}-{r}", cfg))
        warm_cfg = cfg.with_overrides(cache_dir=str(work / f"cache-{args.threads[0]}-0"))
        fresh = TextEncoder.from_config(warm_cfg)
        t0 = time.perf_counter()
        features = load_item_features(ds, warm_cfg, encoder=fresh)
        warm_seconds = time.perf_counter() - t0
        assert fresh.n_calls == 0 and fresh._st is None  # the model was never loaded
        overlap = genre_overlap(ds, content_vectors(features))
        title_only = None
        if not args.skip_title_only:
            t_cfg = cfg.with_overrides(
                text_template="{title} ({year})", cache_dir=str(work / "cache-title")
            )
            encoder.threads = args.threads[0]
            title_only = genre_overlap(
                ds, content_vectors(load_item_features(ds, t_cfg, encoder=encoder))
            )
    report(ds.n_items, load_seconds, cold, warm_seconds, overlap, title_only, args, load_before)


def timings(
    cold: dict[int, list[float]],
    cold_ips: dict[int, float],
    warm_seconds: float,
    warm_ips: float,
    ratio: float,
) -> dict[str, Any]:
    threads = list(cold_ips)
    out: dict[str, Any] = {
        "cold": {
            str(t): {"seconds": [round(x, 2) for x in s], "items_per_second": round(cold_ips[t], 1)}
            for t, s in cold.items()
        },
        "warm": {"seconds": round(warm_seconds, 3), "items_per_second": round(warm_ips, 1)},
        "warm_over_cold_speed": round(ratio, 1),
    }
    if len(threads) > 1:
        a, b = threads[:2]
        out["threads_speed_ratio"] = {f"{a}_over_{b}": round(cold_ips[a] / cold_ips[b], 3)}
    return out


def report(
    n: int,
    load_seconds: float,
    cold: dict[int, list[float]],
    warm_seconds: float,
    overlap: dict[str, float],
    title_only: dict[str, float] | None,
    args: argparse.Namespace,
    load_before: tuple[float, float, float],
) -> None:
    cold_ips = {t: n / statistics.median(s) for t, s in cold.items()}
    first = args.threads[0]
    warm_ips = n / warm_seconds
    table = Table(title=f"content encode, ml-latest-small ({n:,} movies, batch {args.batch_size})")
    for col in ("run", "seconds", "items/s"):
        table.add_column(col, justify="right" if col != "run" else "left")
    table.add_row("model import + load", f"{load_seconds:.1f}", "")
    for t, s in cold.items():
        table.add_row(f"cold, {t} thread(s)", f"{statistics.median(s):.1f}", f"{cold_ips[t]:,.0f}")
    table.add_row("warm (cache on disk)", f"{warm_seconds:.2f}", f"{warm_ips:,.0f}")
    Console().print(table)
    ratio = warm_ips / cold_ips[first]
    lines = [f"warm/cold speed ratio ({first} thread): {ratio:,.0f}x"]
    if len(cold_ips) > 1:
        a, b = list(cold_ips)[:2]
        lines.append(f"cold {a} vs {b} threads: {cold_ips[a] / cold_ips[b]:.2f}x")
    lines.append(
        f"genre overlap of top-10 neighbours: {overlap['neighbours']:.3f} vs random "
        f"{overlap['random']:.3f} ({overlap['lift']}x)"
    )
    if title_only:
        lines.append(
            f"  title + year only (no genres in the text): {title_only['neighbours']:.3f}"
            f" ({title_only['lift']}x)"
        )
    Console().print("\n".join(lines))
    payload = {
        "dataset": "ml-latest-small",
        "n_items": n,
        "model": ContentConfig().model,
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "model_load_seconds": round(load_seconds, 2),
        **timings(cold, cold_ips, warm_seconds, warm_ips, ratio),
        "genre_overlap_top10": overlap,
        "genre_overlap_top10_title_only": title_only,
    }
    print(f"wrote {write_result('encode', payload)}")


if __name__ == "__main__":
    main()
