"""Cold-start items: can a model recommend items it never saw in training?

The cold-item split of ml-100k and ml-latest-small (a seeded 10% of items withheld from
training; their interactions are the test targets; each user's last warm event is the
validation target). ID-only models cannot score such items; prism's item tower gives them a
vector from content alone (MiniLM text of title/year/genres + categories), and the scorer lets
the net stand in for the co-occurrence prior they cannot have. For each model:

- *full catalogue*: every item outside the user's history is a candidate, cold and warm alike:
  cold Recall@20 (test, 20-long lists) next to warm Recall@20 (validation) and their ratio;
  warm NDCG@10 from 10-long lists (what a user shown ten items gets), with a paired 95%
  bootstrap interval of its change against the default (prism, default ``id_dropout``,
  ``fresh_share`` 0); the share of 10-long warm lists and of 20-long test lists that hold a
  fresh item;
- *apart* (the item cold-start protocol of DropoutNet, Heater and CLCRec): cold targets ranked
  among the never-seen items only, warm targets among the warm items only. It measures how well
  content alone orders new items, apart from how many slots a list gives them.

Each prism model is trained once per ``id_dropout`` and read with each ``fresh_share`` (the
exploration slots: ``training.scorer.FreshRule``, the rule the service applies too).

Run: .venv/bin/python benchmarks/cold_items.py [--data ml-100k ml-latest-small] [--epochs 8]
     [--dropouts 0.1 0.5] [--shares 0 0.1 0.2] [--peers]
Writes benchmarks/results/cold_items.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import DATA, write_result
from rich.console import Console
from rich.table import Table

from prismrec.config import DataConfig, ModelConfig, TrainConfig
from prismrec.data.dataset import EvalCases, PreparedDataset, prepare
from prismrec.evaluation.metrics import accuracy_metrics, hit_matrix
from prismrec.evaluation.protocol import evaluate, ranked_lists
from prismrec.evaluation.significance import paired_compare
from prismrec.evaluation.slices import cold_items_of
from prismrec.training import ItemKNN, PrismRecommender, SASRec
from prismrec.training.base import Recommender

SPLIT = DataConfig(split="cold-items", cold_item_share=0.1, seed=1)


def prepared(name: str, out: Path) -> PreparedDataset:
    if name == "ml-100k":
        return prepare(DATA / "ml-100k-recbole", out, "recbole", SPLIT)
    return prepare("bundled:ml-latest-small", out, config=SPLIT)


def lists(rec: Recommender, cases: EvalCases, k: int, cold: np.ndarray) -> dict[str, Any]:
    """Per-user metrics of ``k``-long lists and whether each list holds a cold item."""
    top = ranked_lists(rec, cases, k)
    n_t = np.fromiter((len(t) for t in cases.targets), np.int64, len(cases.targets))
    per_user = accuracy_metrics(hit_matrix(top, cases.targets), n_t, (k,))
    return {**per_user, "with_fresh": np.isin(top, cold).any(axis=1)}


def read(rec: Recommender, ds: PreparedDataset, cold: np.ndarray, apart: bool) -> dict[str, Any]:
    """One model's row; ``apart``: also the cold-among-cold protocol (fresh slots cannot
    change it: every candidate is fresh or none is)."""
    test, warm = ds.eval_cases("test"), ds.eval_cases("valid")
    c20, w20, w10 = (
        lists(rec, test, 20, cold),
        lists(rec, warm, 20, cold),
        lists(rec, warm, 10, cold),
    )
    row: dict[str, Any] = {
        "cold_recall@20": float(c20["recall@20"].mean()),
        "cold_ndcg@20": float(c20["ndcg@20"].mean()),
        "warm_recall@20": float(w20["recall@20"].mean()),
        "warm_ndcg@10": float(w10["ndcg@10"].mean()),
        "warm_lists@10_with_fresh": float(w10["with_fresh"].mean()),
        "test_lists@20_with_fresh": float(c20["with_fresh"].mean()),
        "_warm_ndcg@10": w10["ndcg@10"],
    }
    row["cold_vs_warm"] = row["cold_recall@20"] / max(row["warm_recall@20"], 1e-12)
    if apart:
        warm_items = np.setdiff1d(np.arange(1, ds.n_items + 1), cold)
        mc = evaluate(rec, test, ks=(20,), items=cold).metrics["recall@20"]
        wc = evaluate(rec, warm, ks=(20,), items=warm_items).metrics["recall@20"]
        row |= {"cold_among_cold_recall@20": mc, "warm_among_warm_recall@20": wc}
        row["cold_vs_warm_apart"] = mc / max(wc, 1e-12)
    return row


def one(name: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    ds = prepared(name, tmp / name)
    cold = np.asarray(cold_items_of(ds, "test"), np.int64)
    train = TrainConfig(epochs=args.epochs)
    default_dropout = ModelConfig().id_dropout
    rows: list[dict[str, Any]] = []
    models: dict[str, Recommender] = {}
    if args.peers:
        models = {"itemknn": ItemKNN(), "sasrec (ID only)": SASRec(ModelConfig(), train)}
    for p in args.dropouts:
        models[f"prism, id_dropout {p}"] = PrismRecommender(ModelConfig(id_dropout=p), train)
    base: np.ndarray | None = None
    for label, rec in models.items():
        t0 = time.perf_counter()
        rec.fit(ds)
        seconds = time.perf_counter() - t0
        shares = args.shares if isinstance(rec, PrismRecommender) else [0.0]
        for share in shares:
            if isinstance(rec, PrismRecommender):
                rec.model_config = rec.model_config.model_copy(update={"fresh_share": share})
            row: dict[str, Any] = {"model": label, "fresh_share": share, "seconds": seconds}
            row |= read(rec, ds, cold, apart=share == shares[0])
            per_user = row.pop("_warm_ndcg@10")
            is_default = label == f"prism, id_dropout {default_dropout}" and share == 0.0
            if is_default:
                base = per_user
            row["_per_user"] = per_user
            rows.append(row)
    for row in rows:  # the change of warm NDCG@10 against the default, paired over users
        per_user = row.pop("_per_user")
        if base is not None:
            cmp = paired_compare(base, per_user, "ndcg@10")
            row["warm_ndcg@10_diff"] = cmp.diff
            row["warm_ndcg@10_ci"] = [cmp.ci_low, cmp.ci_high]
    info = {
        "data": name,
        "cold_items": len(ds.schema["split"]["cold_items"]),
        "never_seen_items": len(cold),
        "n_items": ds.n_items,
        "test_users": len(ds.eval_cases("test")),
        "warm_users": len(ds.eval_cases("valid")),
        "epochs": args.epochs,
    }
    return {"info": info, "rows": rows}


def print_table(result: dict[str, Any]) -> None:
    info = result["info"]
    t = Table(
        title=f"cold items, {info['data']}: {info['never_seen_items']} never seen of "
        f"{info['n_items']}, {info['test_users']} test users, full ranking"
    )
    heads = ["model", "fresh", "cold R@20", "warm R@20", "cold/warm", "warm NDCG@10"]
    heads += ["vs default [95%]", "10-lists w/ fresh", "cold/warm apart", "train s"]
    for c in heads:
        t.add_column(c, justify="right")
    for r in result["rows"]:
        ci = r.get("warm_ndcg@10_ci")
        diff = f"{r['warm_ndcg@10_diff']:+.4f} [{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci else ""
        apart = r.get("cold_vs_warm_apart")
        t.add_row(
            r["model"],
            f"{r['fresh_share']:.2f}",
            f"{r['cold_recall@20']:.4f}",
            f"{r['warm_recall@20']:.4f}",
            f"{r['cold_vs_warm']:.3f}",
            f"{r['warm_ndcg@10']:.4f}",
            diff,
            f"{r['warm_lists@10_with_fresh']:.2f}",
            "" if apart is None else f"{apart:.2f}",
            f"{r['seconds']:.0f}",
        )
    Console(width=180).print(t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", nargs="+", default=["ml-100k", "ml-latest-small"])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--dropouts", type=float, nargs="+", default=[0.1, 0.5])
    ap.add_argument("--shares", type=float, nargs="+", default=[0.0, 0.1, 0.2])
    ap.add_argument("--peers", action="store_true", help="also itemknn and ID-only sasrec")
    args = ap.parse_args()
    if args.shares[0] != 0.0:
        ap.error("--shares must start with 0 (the default the others are compared with)")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.data:
            results.append(one(name, args, Path(tmp)))
            print_table(results[-1])
    print(f"wrote {write_result('cold_items', {'results': results})}")


if __name__ == "__main__":
    main()
