"""int8 dynamic quantisation of the interest model: accuracy change, speed, size.

Trains prism on the bundled ml-latest-small (leave-one-out) unless ``--model``/``--data`` point at
a trained model and its prepared data, then compares the float model with its int8 copy (what
``prismrec serve --quantize int8`` runs): test NDCG@10 / Recall@10 (full ranking, history masked),
top-10 overlap between the two, the median time to encode one user's interests (the per-event
work of the service), and the size of the weights.

Run: .venv/bin/python benchmarks/quantize.py [--model DIR --data DIR] [--epochs 10]
Writes benchmarks/results/quantize.json.
"""

from __future__ import annotations

import argparse
import copy
import io
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import write_result
from rich.console import Console
from rich.table import Table

from prismrec.config import ModelConfig, TrainConfig
from prismrec.data.dataset import PreparedDataset, prepare
from prismrec.evaluation.protocol import evaluate, ranked_lists
from prismrec.serving.engine import InterestEncoder, quantize_int8
from prismrec.training import PrismRecommender, load_model


def _size_mb(module: torch.nn.Module) -> float:
    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    return buf.tell() / 1e6


def _encode_ms(rec: Any, histories: list[dict[str, np.ndarray]], quantize: str) -> float:
    enc = InterestEncoder(rec, quantize)
    times = []
    for h in histories:
        t0 = time.perf_counter()
        enc.encode(h)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path)
    ap.add_argument("--data", type=Path)
    ap.add_argument("--epochs", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        if args.model:
            rec: Any = load_model(args.model)
            ds = PreparedDataset.load(args.data)
        else:
            ds = prepare("bundled:ml-latest-small", Path(tmp) / "data")
            rec = PrismRecommender(ModelConfig(), TrainConfig(epochs=args.epochs)).fit(ds)
        cases = ds.eval_cases("test")
        rows = []
        lists = {}
        float_net = rec.net
        for mode in ("none", "int8"):
            rec.net = float_net if mode == "none" else quantize_int8(copy.deepcopy(float_net))
            m = evaluate(rec, cases, ks=(10,), metrics=("ndcg", "recall")).metrics
            lists[mode] = ranked_lists(rec, cases, 10)
            hist = list(rec.user_histories.values())[:500]
            rec.net = float_net
            rows.append(
                {
                    "weights": "float32" if mode == "none" else "int8 (dynamic)",
                    "ndcg@10": m["ndcg@10"],
                    "recall@10": m["recall@10"],
                    "encode_ms_p50": _encode_ms(rec, hist, mode),
                    "size_mb": _size_mb(float_net if mode == "none" else quantize_int8(float_net)),
                }
            )
        a, b = lists["none"], lists["int8"]
        overlap = float(np.mean([len(set(x) & set(y)) / 10 for x, y in zip(a, b, strict=True)]))
    t = Table(title="interest model: float32 vs int8 dynamic quantisation (ml-latest-small LOO)")
    for c in ("weights", "NDCG@10", "Recall@10", "encode ms (p50)", "weights MB"):
        t.add_column(c, justify="right")
    for r in rows:
        t.add_row(
            r["weights"],
            f"{r['ndcg@10']:.4f}",
            f"{r['recall@10']:.4f}",
            f"{r['encode_ms_p50']:.2f}",
            f"{r['size_mb']:.1f}",
        )
    Console().print(t)
    change = rows[1]["ndcg@10"] / rows[0]["ndcg@10"] - 1
    print(f"NDCG@10 change {change:+.2%}; top-10 overlap float vs int8 {overlap:.3f}")
    out = write_result("quantize", {"rows": rows, "ndcg_change": change, "top10_overlap": overlap})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
