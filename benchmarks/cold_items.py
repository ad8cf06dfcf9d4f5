"""Cold-start items: can a model recommend items it never saw in training?

ml-100k with the cold-item split (a seeded 10% of items withheld from training; their
interactions are the test targets). ID-only models cannot score such items; prism's item tower
gives them a vector from content alone (MiniLM text of title/year/genres + categories). The ID
dropout rate decides how much the content path must stand on its own.

Run: .venv/bin/python benchmarks/cold_items.py [--epochs 8]
Writes benchmarks/results/cold_items.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import DATA, write_result
from rich.console import Console
from rich.table import Table

from prismrec.config import DataConfig, ModelConfig, TrainConfig
from prismrec.data.dataset import prepare
from prismrec.evaluation.protocol import evaluate
from prismrec.training import ItemKNN, PrismRecommender, SASRec


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=8)
    args = ap.parse_args()
    train = TrainConfig(epochs=args.epochs)
    models = {
        "itemknn": ItemKNN(),
        "sasrec (ID only)": SASRec(ModelConfig(), train),
        "prism K=1, id_dropout 0.1": PrismRecommender(
            ModelConfig(n_interests=1, cooc_weight=0.0, id_dropout=0.1), train
        ),
        "prism K=1, id_dropout 0.5": PrismRecommender(
            ModelConfig(n_interests=1, cooc_weight=0.0, id_dropout=0.5), train
        ),
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ds = prepare(
            DATA / "ml-100k-recbole",
            Path(tmp),
            "recbole",
            DataConfig(split="cold-items", cold_item_share=0.1, seed=1),
        )
        cases = ds.eval_cases("test")
        for name, rec in models.items():
            t0 = time.perf_counter()
            rec.fit(ds)
            m = evaluate(rec, cases, ks=(10, 20)).metrics
            rows.append(
                {
                    "model": name,
                    "seconds": time.perf_counter() - t0,
                    **{k: m[k] for k in ("ndcg@10", "recall@10", "recall@20")},
                }
            )
        info = {
            "cold_items": len(ds.schema["split"]["cold_items"]),
            "test_users": len(cases),
            "n_items": ds.n_items,
            "epochs": args.epochs,
        }
    t = Table(
        title=f"cold items: {info['cold_items']} withheld of {info['n_items']}, "
        f"{info['test_users']} test users, full ranking"
    )
    for c in ("model", "ndcg@10", "recall@10", "recall@20", "train s"):
        t.add_column(c, justify="right")
    for r in rows:
        t.add_row(
            r["model"],
            f"{r['ndcg@10']:.4f}",
            f"{r['recall@10']:.4f}",
            f"{r['recall@20']:.4f}",
            f"{r['seconds']:.0f}",
        )
    Console().print(t)
    print(f"wrote {write_result('cold_items', {'info': info, 'rows': rows})}")


if __name__ == "__main__":
    main()
