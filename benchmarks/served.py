"""Served lists against the offline scorer's, and the service's latency beside its HTTP floor.

Trains prism with its defaults on ml-100k (RecBole's leave-one-out split) unless ``--model`` and
``--data`` point at a trained model and its prepared data. Every test user is then served the
way the service serves (``Retriever`` over an exact index of the model's item table, the user's
interests, history filtered) in two ways:

- ``service (default)``: the one scoring path, ``Retriever.from_model`` (what ``prismrec
  serve`` runs with no flag): candidates from each interest's search plus the prior's
  nominees, scored and merged by the model's ``Scorer``;
- ``vectors only``: a ``Retriever`` given the item vectors alone (the interests' mixture
  log-probability, without the model's co-occurrence prior, repeat bias and tie-breaker): what
  those add;

next to the offline scorer (``recommend``, what ``evaluate`` measures). Prints NDCG@10,
Recall@10, top-10 overlap with the offline list, and p50/p99 milliseconds of the retrieval
step (the interest encoding, the same for both, is not timed).

Then (unless ``--no-http``) the model directory is served by ``prismrec serve`` in a
subprocess, and over real HTTP: every trained user's top-10 against ``recommend`` for the
same stored history (overlap@10 and exact-order agreement), and p50/p99 of
``GET /v1/users/{id}/recommendations?k=10`` beside the floor ``GET /v1/noop``, both at 16
connections and a fixed 100 requests/s (as ``serve.py``), users' vectors cached.

Run: ../.venv/bin/python served.py [--model DIR --data DIR] [--no-http] [--out NAME]
Writes benchmarks/results/served.json (or NAME.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from _common import DATA, write_result
from _common import http_get as _get
from rich.console import Console
from rich.table import Table
from serve import Server, _one, _paced
from threadpoolctl import threadpool_limits

from prismrec.config import ModelConfig, TrainConfig
from prismrec.data.dataset import PreparedDataset, prepare
from prismrec.evaluation.metrics import accuracy_metrics, hit_matrix
from prismrec.evaluation.protocol import ranked_lists
from prismrec.models.interests import Interests
from prismrec.retrieval import ExactIndex
from prismrec.retrieval.pipeline import Request, Retriever
from prismrec.training import PrismRecommender, load_model
from prismrec.training.base import item_array


def _accuracy(top: np.ndarray, targets: Any) -> dict[str, float]:
    n_t = np.fromiter((len(t) for t in targets), dtype=np.int64, count=len(targets))
    per_user = accuracy_metrics(hit_matrix(top, targets), n_t, (10,), ("ndcg", "recall"))
    return {k: float(v.mean()) for k, v in per_user.items()}


def _served(
    retriever: Retriever, out: Interests, histories: list[np.ndarray]
) -> tuple[np.ndarray, list[float]]:
    top = np.full((len(histories), 10), -1, np.int64)
    ms = []
    for row, hist in enumerate(histories):
        interests = out.user(row)
        t0 = time.perf_counter()
        got = retriever.recommend(interests, hist, Request(k=10))
        ms.append((time.perf_counter() - t0) * 1000)
        top[row, : len(got)] = [g["item"] for g in got]
    return top, ms


def _overlap(top: np.ndarray, offline: np.ndarray) -> tuple[float, float]:
    """Mean top-10 overlap and the share of lists equal in items and order."""
    pairs = list(zip(top.tolist(), offline.tolist(), strict=True))
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in pairs])
    return float(overlap), float(np.mean([a == b for a, b in pairs]))


def run(rec: PrismRecommender, ds: PreparedDataset) -> list[dict[str, Any]]:
    cases = ds.eval_cases("test")
    offline = ranked_lists(rec, cases, 10)
    histories = [item_array(h) for h in cases.inputs()]
    out = rec.interests(cases.inputs(), cases.users)
    table = rec.item_vectors()
    ids = np.arange(1, len(table))
    index = ExactIndex(table.shape[1])
    index.add(ids, table[1:])
    rows = [{"serving": "offline scorer", **_accuracy(offline, cases.targets)}]
    retrievers = {
        "service (default)": Retriever.from_model(rec),
        "vectors only (no priors)": Retriever(index),
    }
    for name, retriever in retrievers.items():
        top, ms = _served(retriever, out, histories)
        overlap, same = _overlap(top, offline)
        rows.append(
            {
                "serving": name,
                **_accuracy(top, cases.targets),
                "overlap_with_offline@10": overlap,
                "same_list": same,
                "p50_ms": float(np.percentile(ms, 50)),
                "p99_ms": float(np.percentile(ms, 99)),
            }
        )
    return rows


def http(model_dir: Path, rec: PrismRecommender, port: int) -> dict[str, Any]:
    """The model served over HTTP: lists vs ``recommend``, latency vs the floor."""
    from prismrec.data.vocab import Vocabulary

    rows = np.asarray(sorted(rec.user_histories), np.int64)
    users = Vocabulary.load(model_dir / "vocab" / "users.parquet", 0, "user").external(rows)
    items = pl.read_parquet(model_dir / "items.parquet")
    external = dict(zip(items["item_idx"].to_list(), items["item_id"].to_list(), strict=True))
    offline, _ = rec.recommend(k=10, users=rows)
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(model_dir, Path(tmp), port)
        try:
            key = server.key
            recs = [_get(f"/v1/users/{u}/recommendations?k=10", key) for u in users]
            got = []
            for raw in recs:  # also warms every user's cached vectors
                status, body = asyncio.run(_one(port, raw))
                assert status == 200, body
                got.append([x["item_id"] for x in json.loads(body)["items"]])
            want = [[external[i] for i in row if i > 0] for row in offline.tolist()]
            floor = asyncio.run(_paced(port, [_get("/v1/noop", key)] * len(recs), 16, 100.0))
            served = asyncio.run(_paced(port, recs, 16, 100.0))
        finally:
            server.stop()
    pairs = list(zip(got, want, strict=True))
    return {
        "users": len(users),
        "overlap_with_offline@10": float(np.mean([len(set(a) & set(b)) / 10 for a, b in pairs])),
        "same_list": float(np.mean([a == b for a, b in pairs])),
        "floor": {k: floor[k] for k in ("p50_ms", "p99_ms", "errors")},
        "recommend": {k: served[k] for k in ("p50_ms", "p99_ms", "errors")},
        "p99_vs_floor": served["p99_ms"] / max(floor["p99_ms"], 1e-9),
        "startup_s": server.startup_s,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path)
    ap.add_argument("--data", type=Path)
    ap.add_argument("--no-http", action="store_true", help="skip the HTTP part")
    ap.add_argument("--port", type=int, default=8792)
    ap.add_argument("--out", default="served", help="results/<out>.json")
    args = ap.parse_args()
    if (args.model is None) != (args.data is None):
        ap.error("--model and --data go together")
    torch.set_num_threads(1)
    threadpool_limits(1)  # one BLAS thread per request, as the service runs
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    with tempfile.TemporaryDirectory() as tmp:
        if args.model and args.data:
            model_dir = args.model
            rec, ds = load_model(args.model), PreparedDataset.load(args.data)
        else:
            ds = prepare(DATA / "ml-100k-recbole", Path(tmp), "recbole")
            rec = PrismRecommender(ModelConfig(), TrainConfig()).fit(ds)
            model_dir = rec.save(Path(tmp) / "model")
        rows = run(rec, ds)
        served_http = None if args.no_http else http(model_dir, rec, args.port)
    data = str(args.data) if args.data else "ml-100k (RecBole leave-one-out)"
    meta = {
        "data": data,
        "model": str(args.model) if args.model else "prism defaults",
        "n_interests": rec.n_interests,
        "cooc_weight": rec.cooc_weight,
        "users": ds.n_users,
        "items": ds.n_items,
    }
    t = Table(title=f"served lists vs the offline scorer ({data}, history masked)")
    for col in ("serving", "NDCG@10", "Recall@10", "overlap@10", "same list", "p50 ms", "p99 ms"):
        t.add_column(col)
    for r in rows:
        t.add_row(
            r["serving"],
            f"{r['ndcg@10']:.4f}",
            f"{r['recall@10']:.4f}",
            f"{r.get('overlap_with_offline@10', 1.0):.3f}",
            f"{r.get('same_list', 1.0):.3f}",
            f"{r['p50_ms']:.2f}" if "p50_ms" in r else "-",
            f"{r['p99_ms']:.2f}" if "p99_ms" in r else "-",
        )
    Console().print(t)
    if served_http is not None:
        h = Table(title="over HTTP: 16 connections, 100 requests/s, vectors cached")
        for col in ("request", "p50 ms", "p99 ms", "errors"):
            h.add_column(col)
        for name in ("floor", "recommend"):
            r = served_http[name]
            h.add_row(name, f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}", str(r["errors"]))
        Console().print(h)
        print(
            f"HTTP lists vs recommend(): overlap@10 {served_http['overlap_with_offline@10']:.3f}, "
            f"same list {served_http['same_list']:.3f} over {served_http['users']} users; "
            f"p99 {served_http['p99_vs_floor']:.2f}x the floor"
        )
    print(meta)
    out = {"settings": meta, "rows": rows, "http": served_http}
    print("wrote", write_result(args.out, out))


if __name__ == "__main__":
    main()
