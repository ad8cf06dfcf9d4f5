"""Served lists against the offline scorer's: accuracy, agreement and time per request.

Trains prism with its defaults on ml-100k (RecBole's leave-one-out split) unless ``--model`` and
``--data`` point at a trained model and its prepared data. Every test user is then served the
way the HTTP service serves (``Retriever`` over an exact index of the model's item table, the
user's interests, history filtered) in two ways:

- ``vectors only``: the interests' inner products, the service before ``ScorePriors``;
- ``with priors`` (the service now): each candidate scored per interest as offline, with the
  co-occurrence prior (which also nominates candidates) and the repeat bias;

next to the offline scorer (``recommend``, what the quality benchmark measures). Prints NDCG@10,
Recall@10, top-10 overlap with the offline list, and the median milliseconds per request of the
retrieval step (the interest encoding, the same for both, is not timed).

Run: ../.venv/bin/python served.py [--model DIR --data DIR]
Writes benchmarks/results/served.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import DATA, write_result
from rich.console import Console
from rich.table import Table

from prismrec.config import ModelConfig, TrainConfig
from prismrec.data.dataset import PreparedDataset, prepare
from prismrec.evaluation.metrics import accuracy_metrics, hit_matrix
from prismrec.evaluation.protocol import ranked_lists
from prismrec.retrieval import ExactIndex
from prismrec.retrieval.pipeline import Request, Retriever, UserInterests
from prismrec.retrieval.priors import ScorePriors
from prismrec.training import PrismRecommender, load_model
from prismrec.training.base import item_array


def _accuracy(top: np.ndarray, targets: Any) -> dict[str, float]:
    n_t = np.fromiter((len(t) for t in targets), dtype=np.int64, count=len(targets))
    per_user = accuracy_metrics(hit_matrix(top, targets), n_t, (10,), ("ndcg", "recall"))
    return {k: float(v.mean()) for k, v in per_user.items()}


def _served(
    retriever: Retriever, out: dict[str, Any], histories: list[np.ndarray]
) -> tuple[np.ndarray, list[float]]:
    top = np.full((len(histories), 10), -1, np.int64)
    ms = []
    for row, hist in enumerate(histories):
        interests = UserInterests.from_model(out, row)
        t0 = time.perf_counter()
        got = retriever.recommend(interests, hist, Request(k=10))
        ms.append((time.perf_counter() - t0) * 1000)
        top[row, : len(got)] = [g["item"] for g in got]
    return top, ms


def run(rec: PrismRecommender, ds: PreparedDataset) -> list[dict[str, Any]]:
    cases = ds.eval_cases("test")
    offline = ranked_lists(rec, cases, 10)
    histories = [item_array(h) for h in cases.inputs()]
    out = rec.interests(cases.inputs(), cases.users)
    with torch.inference_mode():
        table = rec.net.item_table().numpy()
    ids = np.arange(1, len(table))
    index = ExactIndex(table.shape[1])
    index.add(ids, table[1:])
    priors = ScorePriors.from_model(rec, ids, table[1:])
    rows = [{"serving": "offline scorer", **_accuracy(offline, cases.targets)}]
    for name, pri in (("vectors only", None), ("with priors", priors)):
        top, ms = _served(Retriever(index, priors=pri), out, histories)
        overlap = np.mean(
            [len(set(a) & set(b)) / 10 for a, b in zip(top.tolist(), offline.tolist(), strict=True)]
        )
        rows.append(
            {
                "serving": name,
                **_accuracy(top, cases.targets),
                "overlap_with_offline@10": float(overlap),
                "median_ms": statistics.median(ms),
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path)
    ap.add_argument("--data", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        if args.model and args.data:
            rec, ds = load_model(args.model), PreparedDataset.load(args.data)
        else:
            ds = prepare(DATA / "ml-100k-recbole", Path(tmp), "recbole")
            rec = PrismRecommender(ModelConfig(), TrainConfig()).fit(ds)
        rows = run(rec, ds)
    meta = {"n_interests": rec.net.k, "cooc_weight": rec.cooc_weight, "users": ds.n_users}
    t = Table(title="served lists vs the offline scorer (ml-100k, leave-one-out, history masked)")
    for col in ("serving", "NDCG@10", "Recall@10", "overlap@10", "ms/request"):
        t.add_column(col)
    for r in rows:
        t.add_row(
            r["serving"],
            f"{r['ndcg@10']:.4f}",
            f"{r['recall@10']:.4f}",
            f"{r.get('overlap_with_offline@10', 1.0):.3f}",
            f"{r['median_ms']:.2f}" if "median_ms" in r else "-",
        )
    Console().print(t)
    print(meta)
    print("wrote", write_result("served", {"settings": meta, "rows": rows}))


if __name__ == "__main__":
    main()
