"""Cold-start items: can a model recommend items it never saw in training?

ml-100k with the cold-item split (a seeded 10% of items withheld from training; their
interactions are the test targets; each user's last warm event is the validation target). ID-only
models cannot score such items; prism's item tower gives them a vector from content alone (MiniLM
text of title/year/genres + categories). The ID dropout rate decides how much the content path
must stand on its own. For each model: Recall@20 of the never-seen items (test) next to Recall@20
of warm items (validation) of the same model, and their ratio, under two protocols:

- *full catalogue*: every item not in the user's history is a candidate, cold and warm alike;
- *cold among cold* (the item cold-start protocol of DropoutNet, Heater and CLCRec): cold
  targets ranked among the never-seen items only, warm targets among the warm items only. It
  measures how well content alone orders new items, apart from how many slots a list gives
  them.

Run: .venv/bin/python benchmarks/cold_items.py [--epochs 8] [--dropouts 0.1 0.3 0.5]
Writes benchmarks/results/cold_items.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import DATA, write_result
from rich.console import Console
from rich.table import Table

from prismrec.config import DataConfig, ModelConfig, TrainConfig
from prismrec.data.dataset import prepare
from prismrec.evaluation.protocol import evaluate
from prismrec.evaluation.slices import cold_items_of
from prismrec.training import ItemKNN, PrismRecommender, SASRec


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--dropouts", type=float, nargs="+", default=[0.1, 0.3, 0.5])
    args = ap.parse_args()
    train = TrainConfig(epochs=args.epochs)
    models = {"itemknn": ItemKNN(), "sasrec (ID only)": SASRec(ModelConfig(), train)}
    for p in args.dropouts:  # prism's defaults but the ID dropout
        models[f"prism, id_dropout {p}"] = PrismRecommender(ModelConfig(id_dropout=p), train)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ds = prepare(
            DATA / "ml-100k-recbole",
            Path(tmp),
            "recbole",
            DataConfig(split="cold-items", cold_item_share=0.1, seed=1),
        )
        cases, warm = ds.eval_cases("test"), ds.eval_cases("valid")
        cold = cold_items_of(ds, "test")
        warm_items = np.setdiff1d(np.arange(1, ds.n_items + 1), cold)
        for name, rec in models.items():
            t0 = time.perf_counter()
            rec.fit(ds)
            seconds = time.perf_counter() - t0
            m = evaluate(rec, cases, ks=(10, 20)).metrics
            w = evaluate(rec, warm, ks=(10, 20)).metrics
            mc = evaluate(rec, cases, ks=(20,), items=cold).metrics
            wc = evaluate(rec, warm, ks=(20,), items=warm_items).metrics
            rows.append(
                {
                    "model": name,
                    "seconds": seconds,
                    **{k: m[k] for k in ("ndcg@10", "recall@10", "recall@20")},
                    "warm_recall@20": w["recall@20"],
                    "cold_vs_warm": m["recall@20"] / max(w["recall@20"], 1e-12),
                    "cold_among_cold_recall@20": mc["recall@20"],
                    "warm_among_warm_recall@20": wc["recall@20"],
                    "cold_vs_warm_apart": mc["recall@20"] / max(wc["recall@20"], 1e-12),
                }
            )
        info = {
            "cold_items": len(ds.schema["split"]["cold_items"]),
            "test_users": len(cases),
            "n_items": ds.n_items,
            "never_seen_items": len(cold),
            "epochs": args.epochs,
        }
    t = Table(
        title=f"cold items: {info['cold_items']} withheld of {info['n_items']}, "
        f"{info['test_users']} test users, full ranking"
    )
    cols = (
        "ndcg@10",
        "recall@10",
        "recall@20",
        "warm_recall@20",
        "cold_vs_warm",
        "cold_among_cold_recall@20",
        "warm_among_warm_recall@20",
        "cold_vs_warm_apart",
    )
    heads = ("cold NDCG@10", "cold R@10", "cold R@20", "warm R@20", "cold/warm")
    heads += ("cold R@20 among cold", "warm R@20 among warm", "cold/warm apart")
    for c in ("model", *heads, "train s"):
        t.add_column(c, justify="right")
    for r in rows:
        t.add_row(r["model"], *(f"{r[c]:.4f}" for c in cols), f"{r['seconds']:.0f}")
    Console().print(t)
    print(f"wrote {write_result('cold_items', {'info': info, 'rows': rows})}")


if __name__ == "__main__":
    main()
