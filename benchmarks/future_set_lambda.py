"""ComiRec's λ-controlled category aggregation under the future-set protocol: accuracy vs diversity.

On a data set with item categories, split by users as ``future_set.py`` splits it, trains each
model once (``prism`` as it ships, K=4, and with one interest, K=1, by default) and evaluates
it at every λ of ``--lambdas`` (0, 0.05, 0.1, 0.2, 0.5 by default, issue #26's grid) exactly as
``prismrec evaluate --category-lambda λ`` does: each list of 50 is built greedily from the
model's top 200 (:mod:`prismrec.evaluation.aggregation`; λ in standard deviations of the
user's candidate scores). For K=4 also with ComiRec's merge by score (``merge = "max"``), on
the same weights. Reports Recall/NDCG/HR@50, ``diversity@N`` and ``category_coverage@50`` with
the history filtered (prismrec's default) and kept (as ComiRec measures), and each λ minus
λ = 0, paired over the test users with 95% bootstrap intervals.

Run: cd benchmarks && ../.venv/bin/python future_set_lambda.py --only ml-100k [--epochs 20]
     [--models prism-k4 prism-k1] [--lambdas 0 0.05 0.1 0.2 0.5] [--out NAME]
Writes benchmarks/results/future_set_lambda-<sets>.json (--out NAME: NAME.json).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import write_result
from future_set import LABELS, MODELS, SETS, console, measure, merge_rule, prepare_set, train
from rich.table import Table

import prismrec as pr
from prismrec.api.evaluation import with_merge
from prismrec.api.models import Model
from prismrec.evaluation.run import eval_catalog
from prismrec.evaluation.significance import paired_compare

LAMBDAS = (0.0, 0.05, 0.1, 0.2, 0.5)
KEYS = ("recall@50", "ndcg@50", "hr@50", "diversity@20", "diversity@50", "category_coverage@50")
PAIRED = ("recall@50", "ndcg@50", "diversity@50")


def sweep(
    model: Model, key: str, ds: pr.Dataset, cases: Any, catalog: Any, lambdas: list[float]
) -> list[dict[str, Any]]:
    """One row per merge rule, history mode and λ, with the paired differences from λ = 0."""
    rows = []
    default = merge_rule(model)
    merges: list[str | None] = [default, "max"] if key == "prism-k4" else [None]
    for merge in dict.fromkeys(merges):
        rec = with_merge(model.recommender, merge if merge != default else None)
        for filtered in (True, False):
            base: dict[str, np.ndarray] = {}
            for lam in lambdas:
                t0 = time.perf_counter()
                res = measure(rec, ds, cases, catalog, filtered, category_lambda=lam)
                row: dict[str, Any] = {
                    "model": LABELS.get(key, key),
                    "merge": merge,
                    "history": "filtered" if filtered else "kept",
                    "category_lambda": lam,
                    "eval_seconds": time.perf_counter() - t0,
                    **{k: res.metrics[k] for k in KEYS if k in res.metrics},
                }
                if not base:
                    base = {m: res.per_user[m] for m in PAIRED}
                else:
                    row["vs_lambda_0"] = {
                        m: paired_compare(base[m], res.per_user[m], m).to_dict() for m in PAIRED
                    }
                rows.append(row)
        console.log(f"{ds.root.name}: {LABELS.get(key, key)} {merge or ''} swept")
    return rows


def run_set(
    name: str, tmp: Path, models: list[str], epochs: int, lambdas: list[float]
) -> dict[str, Any]:
    ds = prepare_set(name, tmp / name)
    cases = ds.prepared.eval_cases("test")
    catalog = eval_catalog(ds.prepared, "test")
    if catalog.categories is None:
        raise SystemExit(f"{name}: the items have no categories; pick a set that has them")
    info = {
        "users": ds.n_users,
        "items": ds.n_items,
        "test_users": len(cases),
        "categories": catalog.n_categories,
        "category_field": catalog.category_field,
    }
    console.log(f"[bold]{name}[/]: {len(cases):,} test users, {catalog.n_categories} categories")
    rows, trained = [], {}
    for key in models:
        model, seconds, n_epochs = train(ds, key, epochs)
        console.log(f"{name}: {LABELS.get(key, key)} trained in {seconds:.0f} s ({n_epochs} ep.)")
        trained[LABELS.get(key, key)] = {"train_seconds": seconds, "epochs": n_epochs}
        rows += sweep(model, key, ds, cases, catalog, lambdas)
    return {"dataset": name, "info": info, "trained": trained, "rows": rows}


def _fmt(v: Any) -> str:
    return "-" if v is None or v != v else f"{v:.4f}"


def _diff(row: dict[str, Any], metric: str) -> str:
    c = row.get("vs_lambda_0", {}).get(metric)
    if c is None:
        return ""
    return f"{c['diff']:+.4f} [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]"


def print_set(res: dict[str, Any], epochs: int) -> None:
    info = res["info"]
    t = Table(
        title=f"{res['dataset']}: category aggregation, future-set protocol, "
        f"{info['test_users']} test users, {info['categories']} categories "
        f"('{info['category_field']}'), at most {epochs} epochs"
    )
    for c in ("model", "merge", "history", "λ", *KEYS, "Δ recall@50 vs λ=0", "Δ diversity@50"):
        t.add_column(c, justify="right")
    for r in res["rows"]:
        t.add_row(
            r["model"],
            r["merge"] or "",
            r["history"],
            f"{r['category_lambda']:g}",
            *(_fmt(r.get(k)) for k in KEYS),
            _diff(r, "recall@50"),
            _diff(r, "diversity@50"),
        )
    console.print(t)
    for label, tr in res["trained"].items():
        console.print(f"{label}: {tr['epochs']} epochs, {tr['train_seconds']:.0f} s to train")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="+", choices=SETS, default=["ml-100k"], help="data sets")
    ap.add_argument("--models", nargs="+", choices=MODELS, default=["prism-k4", "prism-k1"])
    ap.add_argument("--lambdas", nargs="+", type=float, default=list(LAMBDAS))
    ap.add_argument("--epochs", type=int, default=20, help="most epochs (early stopping)")
    ap.add_argument("--out", help="results file name (default: future_set_lambda-<sets>)")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    lambdas = sorted(set(args.lambdas) | {0.0})  # λ = 0 is the reference of the differences
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only:
            results.append(run_set(name, Path(tmp), args.models, args.epochs, lambdas))
            print_set(results[-1], args.epochs)
    if not args.no_write:
        name = args.out or "future_set_lambda-" + "-".join(args.only)
        payload = {
            "epochs": args.epochs,
            "models": args.models,
            "lambdas": lambdas,
            "pool": "the model's top 4N (N = 50: 200 candidates)",
            "sets": results,
        }
        console.print(f"wrote {write_result(name, payload)}")


if __name__ == "__main__":
    main()
