"""Are a user's K interests distinct, and does K > 1 cover more of a user's interests than K = 1?

Trains prism three ways, everything else equal:
- ``K=1``: one interest;
- ``K before``: K interests as earlier releases drew them (ComiRec-style self-attention over the
  transformer states, the current state gated into every interest): ``extractor="sa"``;
- ``K now``: the default (``extractor="route"``: events routed to K long-term interests over
  item vectors, each pooling its own events, plus the current state as a short-term interest;
  ownership and separation terms),
on
- synthetic data with planted, drifting facets (interest coverage = share of the user's planted
  facets among the top-20's categories),
- the bundled ml-latest-small split per user 80/10/10 in time order (``ratio``; coverage = share
  of the genres of the user's later, held-out movies among the top-20's genres),
- ml-100k with RecBole's leave-one-out split, and
- the Taobao UserBehavior head (the data ComiRec measured its controllable diversity on: 2,914
  categories, one per item), 5-core, leave-one-out,
and prints accuracy, interest coverage, list diversity and the interests' distinctness (mean
pairwise cosine, Jaccard of their own top-20, effective K, distinct labels) side by side, the
paired (user by user) difference of each K > 1 row from K = 1 with a bootstrap interval, and,
for the ``K now`` model, the accuracy-diversity trade-off of MMR re-ranking (ComiRec's
controllable diversity) over each user's top-100.

Run: .venv/bin/python benchmarks/interests.py [--k 4] [--epochs 30] [--only ml-latest-small]
Writes benchmarks/results/interests.json (with --only D: interests-D.json).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from _common import DATA, write_result
from rich.console import Console
from rich.table import Table

from prismrec.config import DataConfig, ModelConfig, TrainConfig, load_config
from prismrec.data.dataset import PreparedDataset, prepare
from prismrec.data.synth import synthesize
from prismrec.evaluation.beyond import (
    catalog_from_dataset,
    category_coverage,
    category_diversity,
    category_multi_hot,
    facet_interests,
)
from prismrec.evaluation.metrics import accuracy_metrics, hit_matrix
from prismrec.evaluation.protocol import evaluate_full, rank_cases
from prismrec.evaluation.significance import paired_compare
from prismrec.retrieval.rerank import mmr
from prismrec.training import PrismRecommender

KEYS = ("ndcg@10", "ndcg@20", "interest_coverage@20", "ild@20", "category_coverage@20")
DISTINCT = (
    "interest_cosine",
    "interest_jaccard@20",
    "interest_effective_k",
    "interest_label_distinct",
)
# prism's K interests as earlier releases drew them (self-attention), and the default now
BEFORE = {"extractor": "sa"}
ROUTED: dict[str, Any] = {}
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
STRENGTHS = (0.0, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 0.9)
PAIRED = ("ndcg@10", "interest_coverage@20")  # K interests vs one, user by user


def datasets(tmp: Path, only: str | None = None) -> list[tuple[str, PreparedDataset, Any]]:
    out: list[tuple[str, PreparedDataset, Any]] = []
    if only in (None, "synthetic"):
        out.append(("synthetic (planted facets)", *_synthetic(tmp)))
    if only in (None, "ml-100k"):
        ml = prepare(DATA / "ml-100k-recbole", tmp / "ml100k", "recbole")
        out.append(("ml-100k (RecBole LOO)", ml, None))
    if only in (None, "ml-latest-small"):
        mls = prepare(
            "bundled:ml-latest-small",
            tmp / "mls",
            None,
            DataConfig(split="ratio", valid_cut=0.8, test_cut=0.9),
        )
        out.append(("ml-latest-small (per-user 80/10/10)", mls, None))
    if only in (None, "taobao"):
        out.append(("taobao head (5-core, LOO)", _taobao(tmp), None))
    return out


def _taobao(tmp: Path) -> PreparedDataset:
    """ComiRec's data: the Taobao head with its shipped config (5-core), one category per item."""
    cfg = load_config(CONFIGS / "taobao.toml").data.model_copy(update={"split": "loo"})
    path = DATA / "taobao-userbehavior-head" / "UserBehavior.csv"
    # the head's last line is cut off mid-row: skip it, as the format page says
    return prepare(path, tmp / "taobao", "taobao", cfg, skip_bad_rows=True)


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
    keys = (*KEYS, *DISTINCT)
    return {
        **{key: res.metrics.get(key) for key in keys},
        "by_history": by_history(res.per_user, cases.histories),
        "_per_user": per_user,
    }


def by_history(per_user: dict[str, np.ndarray], histories: Any) -> list[dict[str, Any]]:
    """The distinctness measures over the users in each quarter of history length: can a
    user with a handful of events have K distinct interests?"""
    if "interest_cosine" not in per_user or np.isnan(per_user["interest_cosine"]).all():
        return []
    n = np.fromiter((len(h) for h in histories), dtype=np.int64, count=len(histories))
    cuts = np.unique(np.quantile(n, [0.25, 0.5, 0.75]).astype(np.int64))
    edges = [int(n.min()), *(int(c) for c in cuts), int(n.max()) + 1]
    out = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        mask = (n >= lo) & (n < hi)
        if mask.any():
            means = {key: float(np.nanmean(per_user[key][mask])) for key in DISTINCT}
            out.append({"events": f"{lo}-{hi - 1}", "users": int(mask.sum()), **means})
    return out


def tradeoff(rec: PrismRecommender, ds: PreparedDataset) -> list[dict[str, Any]]:
    """NDCG@10 and category diversity of MMR re-ranking each user's top-100 at each strength.

    Each row also holds the strength's NDCG@10 change from the plain list (strength 0), paired
    over users with a bootstrap interval, and its diversity as a multiple of the plain list's.
    """
    cases = ds.eval_cases("test")
    catalog = catalog_from_dataset(ds, "test")
    if catalog.categories is None:
        return []
    hot = category_multi_hot(catalog.categories, catalog.n_categories)
    ids, scores = rank_cases(rec, cases, 100, True)
    n_t = np.fromiter((len(t) for t in cases.targets), dtype=np.int64, count=len(cases.targets))
    rows: list[dict[str, Any]] = []
    plain = None  # per-user NDCG@10 at strength 0, the reference of the paired intervals
    for strength in STRENGTHS:
        top = np.full((len(ids), 10), -1, dtype=np.int64)
        for u in range(len(ids)):
            ok = np.isfinite(scores[u])
            cand = ids[u][ok]
            pick = mmr(scores[u][ok], hot[cand], 10, strength) if len(cand) else []
            top[u, : len(pick)] = cand[pick]
        hits = hit_matrix(top, cases.targets)
        ndcg = accuracy_metrics(hits, n_t, (10,), ("ndcg",))["ndcg@10"]
        plain = ndcg if plain is None else plain
        cats = catalog.categories
        ild = category_diversity(top, cats, 10)
        cov = category_coverage(top, cats, catalog.n_categories, 10)
        rows.append(
            {
                "strength": strength,
                "ndcg@10": float(np.mean(ndcg)),
                "ild_category@10": float(np.nanmean(ild)),
                "category_coverage@10": float(np.mean(cov)),
                # the NDCG@10 this strength costs, user by user, with its bootstrap interval
                "ndcg@10_vs_plain": paired_compare(plain, ndcg, "ndcg@10").to_dict(),
            }
        )
    for row in rows:  # each strength's diversity as a multiple of the plain list's
        for key in ("ild_category@10", "category_coverage@10"):
            row[f"{key}_x"] = row[key] / rows[0][key] if rows[0][key] else float("nan")
    return rows


def variants(k: int) -> list[tuple[str, int, dict[str, Any]]]:
    """(name, K, model overrides) of the three trainings."""
    return [("K=1", 1, {}), (f"K={k} before", k, BEFORE), (f"K={k} now", k, ROUTED)]


def run(
    ds: PreparedDataset,
    facets: Any,
    name: str,
    k: int,
    epochs: int,
    model: dict[str, Any],
) -> tuple[list[dict[str, Any]], PrismRecommender]:
    """One training; for K > 1 two rows: plain scoring and interest-quota serving."""
    t0 = time.perf_counter()
    cfg = ModelConfig(**{**model, "n_interests": k})
    rec = PrismRecommender(cfg, TrainConfig(epochs=epochs)).fit(ds)
    seconds = time.perf_counter() - t0
    base = {
        "variant": name,
        "k": k,
        "model": model,
        "seconds": seconds,
        "cooc_weight": rec.cooc_weight,
        "epochs": len(rec.history),
    }
    rows = []
    # the same trained model served both ways: plain scores, and per-interest quotas
    for serving in ("plain", "quota") if k > 1 else ("plain",):
        update = {"interest_quota": serving == "quota"}
        rec.model_config = rec.model_config.model_copy(update=update)
        rows.append({**base, "serving": serving, **_metrics(rec, ds, facets)})
    return rows, rec


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
    ap.add_argument(
        "--only",
        choices=["synthetic", "ml-latest-small", "ml-100k", "taobao"],
        help="one dataset",
    )
    ap.add_argument("--no-write", action="store_true", help="print only (for quick trials)")
    ap.add_argument("--name", help="results file name (default: interests[-ONLY])")
    ap.add_argument(
        "--variants", nargs="+", help="which of 'K=1', 'K=<k> before', 'K=<k> now' to train"
    )
    ap.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="model config override"
    )
    args = ap.parse_args()
    extra = {kv.split("=", 1)[0]: json.loads(kv.split("=", 1)[1]) for kv in args.set}
    rows: list[dict[str, Any]] = []
    curves: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for data_name, ds, facets in datasets(Path(tmp), args.only):
            for name, k, model in variants(args.k):
                if args.variants and name not in args.variants:
                    continue
                got, rec = run(ds, facets, name, k, args.epochs, {**model, **extra})
                rows += [{"dataset": data_name, **r} for r in got]
                if name.endswith("now"):  # MMR over the default's own lists
                    update = {"interest_quota": False}
                    rec.model_config = rec.model_config.model_copy(update=update)
                    curves[data_name] = tradeoff(rec, ds)
    _paired(rows)
    _print(rows, curves)
    if not args.no_write:
        out = {"epochs": args.epochs, "set": extra, "rows": rows, "tradeoff": curves}
        name = args.name or ("interests" if args.only is None else f"interests-{args.only}")
        print(f"wrote {write_result(name, out)}")


def _print(rows: list[dict[str, Any]], curves: dict[str, list[dict[str, Any]]]) -> None:
    t = Table(title="K interests vs one (prism, same settings otherwise)")
    for c in ("dataset", "variant", "serving", *KEYS, "train s"):
        t.add_column(c, justify="right")
    for r in rows:
        t.add_row(
            r["dataset"],
            r["variant"],
            r["serving"],
            *[_fmt(r[k]) for k in KEYS],
            f"{r['seconds']:.0f}",
        )
    Console(width=200).print(t)
    d = Table(title="are the interests distinct? (per user, then averaged; by history length)")
    for c in ("dataset", "variant", "users", *DISTINCT):
        d.add_column(c, justify="right")
    for r in rows:
        if r["k"] > 1 and r["serving"] == "quota":
            d.add_row(r["dataset"], r["variant"], "all", *[_fmt(r[k]) for k in DISTINCT])
            for b in r.get("by_history", []):
                events = f"{b['events']} events ({b['users']} users)"
                d.add_row("", "", events, *[_fmt(b[k]) for k in DISTINCT])
    Console(width=200).print(d)
    p = Table(title="K interests minus one interest, paired over users (95% bootstrap interval)")
    for c in ("dataset", "variant", "serving", "metric", "K=1", "K", "diff", "interval", "p"):
        p.add_column(c, justify="right")
    for r in rows:
        for metric, c in r.get("vs_k1", {}).items():
            p.add_row(
                r["dataset"],
                r["variant"],
                r["serving"],
                metric,
                f"{c['mean_a']:.4f}",
                f"{c['mean_b']:.4f}",
                f"{c['diff']:+.4f}",
                f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]",
                f"{c['p_permutation']:.3f}",
            )
    Console(width=200).print(p)
    for data_name, curve in curves.items():
        c = Table(title=f"{data_name}: MMR re-ranking of the top-100 by category (K now)")
        cols = ("strength", "ndcg@10", "change (95% interval)", "category ILD@10", "coverage@10")
        for col in cols:
            c.add_column(col, justify="right")
        for row in curve:
            d = row["ndcg@10_vs_plain"]
            rel = d["diff"] / d["mean_a"] if d["mean_a"] else float("nan")
            c.add_row(
                f"{row['strength']:.2f}",
                _fmt(row["ndcg@10"]),
                f"{rel:+.1%} [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}]",
                f"{row['ild_category@10']:.4f} ({row['ild_category@10_x']:.2f}x)",
                f"{row['category_coverage@10']:.4f} ({row['category_coverage@10_x']:.2f}x)",
            )
        Console(width=200).print(c)


def _fmt(v: Any) -> str:
    return "-" if v is None or v != v else f"{v:.4f}"


if __name__ == "__main__":
    main()
