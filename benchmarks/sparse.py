"""Sparse e-commerce data, IDs only: prism's default against our own SASRec, in one run.

Amazon Video Games as 5-core sequences from the SASRec authors (``amazon-video-sasrec``: 31k
users, 24k items, 9.3 events per user, no timestamps, text or categories), leave-one-out split,
full ranking over every item with the history masked. Both models train with the same
``TrainConfig`` (early stopping on validation NDCG@10). With no content, prism's item vectors
are ID embeddings, its long-term interests are routed over them, and its interests have no
category labels; the distinctness measures that need no categories are reported.

Run: .venv/bin/python benchmarks/sparse.py [--epochs 40] [--models sasrec prism]
Writes benchmarks/results/sparse.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import DATA, write_result
from rich.console import Console
from rich.table import Table

from prismrec.config import ModelConfig, TrainConfig
from prismrec.data.dataset import prepare
from prismrec.evaluation.protocol import evaluate_full
from prismrec.evaluation.significance import paired_compare
from prismrec.training import registry

KEYS = ("ndcg@10", "recall@10", "recall@20", "interest_cosine", "interest_jaccard@20")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--models", nargs="+", default=["sasrec", "prism"])
    args = ap.parse_args()
    rows: list[dict[str, Any]] = []
    per_user: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        ds = prepare(DATA / "amazon-video-sasrec" / "Video.txt", Path(tmp), "pairtxt")
        cases = ds.eval_cases("test")
        for name in args.models:
            t0 = time.perf_counter()
            rec = registry()[name](ModelConfig(), TrainConfig(epochs=args.epochs)).fit(ds)
            seconds = time.perf_counter() - t0
            res = evaluate_full(rec, cases, (10, 20))
            per_user[name] = res.per_user["ndcg@10"]
            rows.append(
                {
                    "model": name,
                    "train_seconds": seconds,
                    "epochs": len(getattr(rec, "history", []) or []),
                    **{k: res.metrics.get(k) for k in KEYS},
                    "interest_effective_k": res.metrics.get("interest_effective_k"),
                }
            )
        info = {"users": ds.n_users, "items": ds.n_items, "test_users": len(cases.users)}
    if "sasrec" in per_user:
        for r in rows:
            if r["model"] != "sasrec":
                r["ndcg@10_vs_sasrec"] = paired_compare(
                    per_user["sasrec"], per_user[r["model"]], "ndcg@10"
                ).to_dict()
    t = Table(title=f"amazon-video-sasrec ({info['users']} users, {info['items']} items)")
    for c in ("model", *KEYS, "epochs", "train s"):
        t.add_column(c)
    for r in rows:
        vals = [r.get(k) for k in KEYS]
        t.add_row(
            r["model"],
            *("-" if v is None else f"{v:.4f}" for v in vals),
            str(r["epochs"]),
            f"{r['train_seconds']:.0f}",
        )
    Console().print(t)
    print(f"wrote {write_result('sparse', {'info': info, 'epochs': args.epochs, 'rows': rows})}")


if __name__ == "__main__":
    main()
