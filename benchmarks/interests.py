"""Does K > 1 cover more of a user's interests than K = 1, at equal or better accuracy?

Trains prism with one interest and with K interests (everything else equal) on
- synthetic data with planted, drifting facets (interest coverage = share of the user's planted
  facets among the top-20's categories), and
- the bundled ml-latest-small with a temporal split (coverage = share of the genres of the
  user's later, held-out movies among the top-20's genres),
and prints NDCG@10/@20, interest_coverage@20, ILD@20 and category_coverage@20 side by side.

Run: .venv/bin/python benchmarks/interests.py [--k 4] [--epochs 30]
Writes benchmarks/results/interests.json.
"""

from __future__ import annotations

import argparse
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
from prismrec.training import PrismRecommender

KEYS = ("ndcg@10", "ndcg@20", "interest_coverage@20", "ild@20", "category_coverage@20")


def datasets(tmp: Path) -> list[tuple[str, PreparedDataset, Any]]:
    raw = tmp / "synth"
    synthesize(3000, 3000, 150_000, seed=7, out_dir=raw)
    cfg = load_config(raw / "prismrec.toml").data
    syn = prepare(raw, tmp / "syn", "parquet", cfg)
    facets = pl.read_parquet(raw / "truth" / "facets.parquet")
    mls = prepare(
        "bundled:ml-latest-small",
        tmp / "mls",
        None,
        DataConfig(split="temporal", valid_cut=0.8, test_cut=0.9),
    )
    return [("synthetic (planted facets)", syn, facets), ("ml-latest-small (temporal)", mls, None)]


def run(ds: PreparedDataset, facets: Any, k: int, epochs: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    rec = PrismRecommender(ModelConfig(n_interests=k), TrainConfig(epochs=epochs)).fit(ds)
    cases = ds.eval_cases("test")
    catalog = catalog_from_dataset(ds, "test")
    interests = None
    if facets is not None:
        users = ds.user_vocab.external(cases.users)
        interests = facet_interests(users, facets, catalog.category_names)
    res = evaluate_full(rec, cases, (10, 20), catalog=catalog, interests=interests)
    return {
        "k": k,
        "seconds": time.perf_counter() - t0,
        "cooc_weight": rec.cooc_weight,
        **{key: res.metrics.get(key) for key in KEYS},
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=30)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, ds, facets in datasets(Path(tmp)):
            for k in (1, args.k):
                rows.append({"dataset": name, **run(ds, facets, k, args.epochs)})
    t = Table(title="interest coverage: K interests vs one (prism, same settings otherwise)")
    for c in ("dataset", "K", *KEYS, "train s"):
        t.add_column(c, justify="right")
    for r in rows:
        t.add_row(r["dataset"], str(r["k"]), *[f"{r[k]:.4f}" for k in KEYS], f"{r['seconds']:.0f}")
    Console().print(t)
    print(f"wrote {write_result('interests', {'rows': rows})}")


if __name__ == "__main__":
    main()
