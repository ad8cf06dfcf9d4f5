"""Warm start vs full retrain on the same data: train time and test NDCG@10 side by side.

ml-latest-small (bundled): the last 10% of time is held back as "new" events. Model A (prism)
is trained on the first 90%. The held-back events are written into a real SQLite event store,
as the service would have logged them, and ``export_store`` turns store + A's dataset into the
full dataset (A's rows kept, new users appended). On it: (a) prism trained from scratch and
(b) prism warm-started from A, with the same epoch budget and early stopping. Both are
measured on the full dataset's test split (each user's last event, full ranking, seen items
masked), over all test users and over those whose test event is one of the new ones; model A
as it is (no retraining) is the floor.

Run: .venv/bin/python benchmarks/retrain.py [--epochs 2] [--warm-epochs 2] [--short-epochs 1]
(about 15-20 min on 2 cores). Wall and CPU seconds are both recorded: CPU seconds stay
comparable when other jobs share the machine.
Writes benchmarks/results/retrain.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from _common import write_result
from rich.console import Console
from rich.table import Table

from prismrec.api.retrain import export_store
from prismrec.config import DataConfig, ModelConfig, TrainConfig
from prismrec.content import encode_dataset
from prismrec.data.dataset import EvalCases, PreparedDataset, prepare_loaded
from prismrec.data.loaders import load
from prismrec.evaluation.protocol import evaluate
from prismrec.serving.state.store import Event, SQLiteStore
from prismrec.training import PrismRecommender, Recommender

HOLD_BACK = 0.10


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=2, help="model A and the full retrain")
    ap.add_argument("--warm-epochs", type=int, default=None, help="warm start (default: same)")
    ap.add_argument("--short-epochs", type=int, default=1, help="the shorter warm start (0: none)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    warm_epochs = args.warm_epochs or args.epochs
    model = ModelConfig()
    train = TrainConfig(epochs=args.epochs, threads=args.threads, patience=2)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        cut, old_ds, events = split_by_time(tmp)
        rec_a, secs_a = fit(PrismRecommender(model, train), old_ds)
        rec_a.save(tmp / "a")
        full = export(tmp, events)
        cases = full.eval_cases("test")
        new = new_event_cases(full, cases, cut)
        a_row = measure("A (first 90%, not retrained)", rec_a, secs_a, cases, new, full)
        rows.append({**a_row, "note": "trained on the first 90% of time"})
        scratch, secs = fit(PrismRecommender(model, train), full)
        rows.append(measure("(a) full retrain", scratch, secs, cases, new, full))
        warm_train = train.model_copy(update={"epochs": warm_epochs})
        warm = PrismRecommender(model, warm_train, warm_start_dir=tmp / "a")
        warm, secs = fit(warm, full)
        rows.append(measure("(b) warm start from A", warm, secs, cases, new, full))
        if args.short_epochs:
            short_train = train.model_copy(update={"epochs": args.short_epochs})
            short = PrismRecommender(model, short_train, warm_start_dir=tmp / "a")
            short, secs = fit(short, full)
            name = f"(c) warm start, {args.short_epochs} epoch(s)"
            rows.append(measure(name, short, secs, cases, new, full))
        info = {
            "data": "bundled:ml-latest-small",
            "hold_back": HOLD_BACK,
            "cut_timestamp": cut,
            "new_events": events.height,
            "users_a": old_ds.n_users,
            "users_full": full.n_users,
            "items": full.n_items,
            "test_users": len(cases),
            "test_users_new_event": len(new),
            "epochs": args.epochs,
            "warm_epochs": warm_epochs,
            "patience": train.patience,
            "threads": args.threads,
            "model": "prism defaults (content tower, K=4 routed interests)",
        }
    show(rows, info)
    print(f"wrote {write_result('retrain', {'info': info, 'rows': rows})}")


def split_by_time(tmp: Path) -> tuple[int, PreparedDataset, pl.DataFrame]:
    """A's prepared dataset (events before the 90% time quantile) and the held-back events."""
    cfg = DataConfig()
    result = load("bundled:ml-latest-small", None, cfg)
    inter = result.dataset.interactions
    cut = int(np.quantile(inter.get_column("timestamp").to_numpy(), 1.0 - HOLD_BACK))
    old = inter.filter(pl.col("timestamp") < cut)
    new = inter.filter(pl.col("timestamp") >= cut).sort(["timestamp", "_line"])
    raw = replace(result.dataset, interactions=old)
    ds = prepare_loaded(replace(result, dataset=raw), tmp / "data-a", "movielens-latest", cfg)
    encode_dataset(ds)  # the text vectors, cached in data-a/content (exported with it)
    return cut, ds, new


def export(tmp: Path, events: pl.DataFrame) -> PreparedDataset:
    """The held-back events through a real store, then ``export_store`` (as in production)."""
    store = SQLiteStore(tmp / "state.db")
    batch = [
        Event(str(u), str(i), str(e), int(t))
        for u, i, e, t in events.select("user_id", "item_id", "event_type", "timestamp").iter_rows()
    ]
    for start in range(0, len(batch), 5000):
        store.append(batch[start : start + 5000])
    store.close()
    report = export_store(f"sqlite:{tmp / 'state.db'}", tmp / "data-a", tmp / "data-full")
    return report.data


def fit(rec: PrismRecommender, ds: PreparedDataset) -> tuple[PrismRecommender, tuple[float, float]]:
    """Fit; (wall, CPU) seconds. CPU seconds hold when other jobs share the cores."""
    t0, c0 = time.perf_counter(), time.process_time()
    rec.fit(ds)
    return rec, (time.perf_counter() - t0, time.process_time() - c0)


def new_event_cases(ds: PreparedDataset, cases: EvalCases, cut: int) -> EvalCases:
    """The test users whose test event is one of the held-back (new) events."""
    test = ds.frame.filter((pl.col("split") == 2) & (pl.col("timestamp") >= cut))
    keep = np.isin(cases.users, test.get_column("user_idx").unique().to_numpy())
    return cases.subset(np.flatnonzero(keep))


def measure(
    name: str,
    rec: Recommender,
    seconds: tuple[float, float],
    cases: EvalCases,
    new: EvalCases,
    ds: PreparedDataset,
) -> dict[str, Any]:
    history = rec.history
    best = max(history, key=lambda r: r.get("valid_ndcg@10", -1.0)) if history else {}
    if rec.n_items != ds.n_items:
        raise SystemExit(f"{name}: {rec.n_items} items, the full data {ds.n_items}")
    m = evaluate(rec, cases, ks=(10,), metrics=("ndcg", "recall")).metrics
    n = evaluate(rec, new, ks=(10,), metrics=("ndcg", "recall")).metrics
    return {
        "model": name,
        "train_seconds": round(seconds[0], 1),
        "train_cpu_seconds": round(seconds[1], 1),
        "epochs_run": len(history),
        "best_epoch": int(best.get("epoch", 0)),
        "seconds_to_best": round(float(getattr(rec, "seconds_to_best", 0.0) or 0.0), 1),
        "test_ndcg@10": m["ndcg@10"],
        "test_recall@10": m["recall@10"],
        "new_ndcg@10": n["ndcg@10"],
        "new_recall@10": n["recall@10"],
        "valid_ndcg@10": best.get("valid_ndcg@10"),
    }


def show(rows: list[dict[str, Any]], info: dict[str, Any]) -> None:
    t = Table(
        title=f"retrain on ml-latest-small: last {HOLD_BACK:.0%} of time new "
        f"({info['new_events']:,} events); test = each user's last event, full ranking"
    )
    cols = ("model", "train s", "CPU s", "epochs", "test ndcg@10", "new-event ndcg@10")
    for c in cols:
        t.add_column(c, justify="right")
    for r in rows:
        t.add_row(
            r["model"],
            f"{r['train_seconds']:.0f}",
            f"{r['train_cpu_seconds']:.0f}",
            f"{r['epochs_run']}",
            f"{r['test_ndcg@10']:.4f}",
            f"{r['new_ndcg@10']:.4f}",
        )
    Console().print(t)
    print(
        f"{info['test_users']} test users, {info['test_users_new_event']} with a new test event; "
        f"{info['users_full'] - info['users_a']} users new since A"
    )


if __name__ == "__main__":
    main()
