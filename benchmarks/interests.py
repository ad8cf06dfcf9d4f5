"""Does K > 1 cover more of a user's interests than K = 1, at equal or better accuracy?

Trains prism with one interest and with K interests (everything else equal) on
- synthetic data with planted, drifting facets (interest coverage = share of the user's planted
  facets among the top-20's categories), and
- the bundled ml-latest-small split per user 80/10/10 in time order (``ratio``; coverage = share
  of the genres of the user's later, held-out movies among the top-20's genres; a global time
  cut would leave 47 of its 74 test users with no history at all, measuring cold start rather
  than interests),
and prints NDCG@10/@20, interest_coverage@20, ILD@20 and category_coverage@20 side by side, plus
the paired (user by user) difference of each K > 1 row from K = 1 with a bootstrap interval. The
K-interest model is scored twice without retraining: plain (its mixture scores) and with
``interest_quota`` serving (the default: each interest is sure of slots in proportion to its
weight).

Run: .venv/bin/python benchmarks/interests.py [--k 4] [--epochs 30] [--only synthetic]
Writes benchmarks/results/interests.json (with --only D: interests-D.json).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl
from _common import write_result
from rich.console import Console
from rich.table import Table

from prismrec.config import DataConfig, ModelConfig, TrainConfig, load_config
from prismrec.data.dataset import PreparedDataset, prepare
from prismrec.data.synth import synthesize
from prismrec.evaluation.beyond import catalog_from_dataset, facet_interests
from prismrec.evaluation.protocol import evaluate_full
from prismrec.evaluation.significance import paired_compare
from prismrec.training import PrismRecommender

KEYS = ("ndcg@10", "ndcg@20", "interest_coverage@20", "ild@20", "category_coverage@20")
PAIRED = ("ndcg@10", "interest_coverage@20")  # K interests vs one, user by user


def datasets(tmp: Path, only: str | None = None) -> list[tuple[str, PreparedDataset, Any]]:
    out: list[tuple[str, PreparedDataset, Any]] = []
    if only in (None, "synthetic"):
        out.append(("synthetic (planted facets)", *_synthetic(tmp)))
    if only in (None, "ml-latest-small"):
        mls = prepare(
            "bundled:ml-latest-small",
            tmp / "mls",
            None,
            DataConfig(split="ratio", valid_cut=0.8, test_cut=0.9),
        )
        out.append(("ml-latest-small (per-user 80/10/10)", mls, None))
    return out


def _synthetic(tmp: Path) -> tuple[PreparedDataset, Any]:
    raw = tmp / "synth"
    synthesize(3000, 3000, 150_000, seed=7, out_dir=raw)
    cfg = load_config(raw / "prismrec.toml").data
    syn = prepare(raw, tmp / "syn", "parquet", cfg)
    facets = pl.read_parquet(raw / "truth" / "facets.parquet")
    return syn, facets


def _metrics(rec: PrismRecommender, ds: PreparedDataset, facets: Any) -> dict[str, Any]:
    cases = ds.eval_cases("test")
    catalog = catalog_from_dataset(ds, "test")
    interests = None
    if facets is not None:
        users = ds.user_vocab.external(cases.users)
        interests = facet_interests(users, facets, catalog.category_names)
    res = evaluate_full(rec, cases, (10, 20), catalog=catalog, interests=interests)
    per_user = {key: res.per_user[key] for key in PAIRED}
    return {**{key: res.metrics.get(key) for key in KEYS}, "_per_user": per_user}


def run(
    ds: PreparedDataset, facets: Any, k: int, epochs: int, model: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """One training; for K > 1 two rows: plain scoring and interest-quota serving."""
    t0 = time.perf_counter()
    cfg = ModelConfig(**{**(model or {}), "n_interests": k})
    rec = PrismRecommender(cfg, TrainConfig(epochs=epochs)).fit(ds)
    seconds = time.perf_counter() - t0
    base = {"k": k, "seconds": seconds, "cooc_weight": rec.cooc_weight, "epochs": len(rec.history)}
    rows = []
    # the same trained model served both ways: plain scores, and per-interest quotas
    for serving in ("plain", "quota") if k > 1 else ("plain",):
        update = {"interest_quota": serving == "quota"}
        rec.model_config = rec.model_config.model_copy(update=update)
        rows.append({**base, "serving": serving, **_metrics(rec, ds, facets)})
    return rows


def _paired(rows: list[dict[str, Any]]) -> None:
    """Each K > 1 row against its dataset's K=1 row: paired bootstrap of the difference."""
    ones = {r["dataset"]: r for r in rows if r["k"] == 1}
    for r in rows:
        one = ones.get(r["dataset"])
        if r["k"] > 1 and one is not None:
            r["vs_k1"] = {
                m: paired_compare(one["_per_user"][m], r["_per_user"][m], m).to_dict()
                for m in PAIRED
            }
    for r in rows:
        r.pop("_per_user", None)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--only", choices=["synthetic", "ml-latest-small"], help="one dataset")
    ap.add_argument("--no-write", action="store_true", help="print only (for quick trials)")
    ap.add_argument("--ks", type=int, nargs="+", help="interest counts (default: 1, --k)")
    ap.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="model config override"
    )
    args = ap.parse_args()
    model = {kv.split("=", 1)[0]: json.loads(kv.split("=", 1)[1]) for kv in args.set}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, ds, facets in datasets(Path(tmp), args.only):
            for k in args.ks or (1, args.k):
                rows += [{"dataset": name, **r} for r in run(ds, facets, k, args.epochs, model)]
    _paired(rows)
    t = Table(title="interest coverage: K interests vs one (prism, same settings otherwise)")
    for c in ("dataset", "K", "serving", *KEYS, "train s"):
        t.add_column(c, justify="right")
    for r in rows:
        t.add_row(
            r["dataset"],
            str(r["k"]),
            r["serving"],
            *[f"{r[k]:.4f}" for k in KEYS],
            f"{r['seconds']:.0f}",
        )
    Console(width=200).print(t)
    p = Table(title="K interests minus one interest, paired over users (95% bootstrap interval)")
    for c in ("dataset", "K", "serving", "metric", "K=1", "K", "diff", "interval", "p"):
        p.add_column(c, justify="right")
    for r in rows:
        for metric, c in r.get("vs_k1", {}).items():
            p.add_row(
                r["dataset"],
                str(r["k"]),
                r["serving"],
                metric,
                f"{c['mean_a']:.4f}",
                f"{c['mean_b']:.4f}",
                f"{c['diff']:+.4f}",
                f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]",
                f"{c['p_permutation']:.3f}",
            )
    Console(width=200).print(p)
    if not args.no_write:
        out = {"epochs": args.epochs, "model": model, "rows": rows}
        name = "interests" if args.only is None else f"interests-{args.only}"
        print(f"wrote {write_result(name, out)}")


if __name__ == "__main__":
    main()
