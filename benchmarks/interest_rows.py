"""Which of prism's rows find a user's future set: each reading of K=4 against K=1, one run.

The future-set protocol (users split; a held-out user's first 80% is the input, the distinct
items of the rest the targets) on one data set. In one run it trains ``prism`` with one interest
(``K=1``) and K=4 variants (``--variants``: the default, ``fixed`` = ``long_term_fixed_items``,
``dynamic`` = ``dynamic_interests``, ``fixed+dynamic``), each for at most ``--epochs`` with
early stopping, and reads every K=4 model several ways (history filtered, full ranking):

- ``shipped``: what ``evaluate`` and the service rank (the mixture, the co-occurrence prior at
  the chosen weight, the repeat bias);
- ``network``: the mixture alone (no prior);
- ``short row``: the short-term row alone (the transformer's state: the one-interest task);
- ``long rows, even``: the long-term rows' softmaxes averaged with equal weights;
- ``all rows, even``: every row's softmax averaged with equal weights (no learned weights).

Each reading's Recall@20/50 and NDCG@50, and its Recall@50 ratio to K=1 read the same way
(``shipped`` against K=1 shipped, the network readings against K=1's network), with a paired
95% bootstrap interval over the test users. Interest measures (short-term weight, worst-pair
Jaccard@20, head share) come from each model's training log (validation users).

Run: cd benchmarks && ../.venv/bin/python interest_rows.py [--data retailrocket]
     [--train-share 0.25] [--epochs 20] [--variants default fixed dynamic] [--out NAME]
Writes benchmarks/results/interest_rows-<data>.json (or --out).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import write_result
from future_set import SETS, prepare_set, ratio_interval
from rich.console import Console
from rich.table import Table

from prismrec.config import ModelConfig, TrainConfig
from prismrec.evaluation.metrics import accuracy_metrics, hit_matrix
from prismrec.training import PrismRecommender

VARIANTS = {
    "default": {},
    "fixed": {"long_term_fixed_items": True},
    "dynamic": {"dynamic_interests": True},
    "fixed+dynamic": {"long_term_fixed_items": True, "dynamic_interests": True},
}
READINGS = ("shipped", "network", "short row", "long rows, even", "all rows, even")
CHUNK = 256
console = Console(width=200)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Each row's log-softmax over the real items (column 0, padding, is left at -inf)."""
    body = logits[..., 1:]
    m = body.max(-1, keepdims=True)
    out = np.full(logits.shape, -np.inf)
    out[..., 1:] = body - m - np.log(np.exp(body - m).sum(-1, keepdims=True))
    return out


def even(logp: np.ndarray) -> np.ndarray:
    """``log mean_k softmax_k``: the rows mixed with equal weights."""
    m = logp.max(1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)  # the padding column is -inf in every row
    with np.errstate(divide="ignore"):
        return np.log(np.exp(logp - m).mean(1)) + m[:, 0]


def readings(rec: PrismRecommender, histories: list[Any], users: np.ndarray) -> dict:
    """Every reading's (B, N+1) scores for one chunk of users (public API only)."""
    got = rec.interests(histories, users)
    vecs, w, n_long = got.vectors, got.weights, got.long_rows
    items = rec.item_vectors()
    logits = (vecs.reshape(-1, vecs.shape[-1]) @ items.T).reshape(*vecs.shape[:2], len(items))
    logp = log_softmax(logits)
    out = {"shipped": rec.score(histories, users)}
    if vecs.shape[1] == 1:  # one interest: every network reading is that row
        for r in READINGS[1:]:
            out[r] = logp[:, 0]
        return out
    out["network"] = rec.scorer.net_score(logits, w)
    out["short row"] = logp[:, -1] if vecs.shape[1] > n_long else logp[:, 0]
    held = w[:, :n_long] > 0  # a dynamic-K user's missing interests are left out
    long = np.where(held[..., None], logp[:, :n_long], -np.inf)
    out["long rows, even"] = even(long) + np.log(n_long / np.maximum(held.sum(1), 1))[:, None]
    out["all rows, even"] = even(np.concatenate([long, logp[:, n_long:]], 1))
    return out


def per_user(rec: PrismRecommender, cases: Any) -> dict[str, dict[str, np.ndarray]]:
    """Each reading's per-user Recall@20/50 and NDCG@50 (history filtered)."""
    n_t = np.array([len(t) for t in cases.targets])
    parts: dict[str, list[dict[str, np.ndarray]]] = {}
    for lo in range(0, len(cases), CHUNK):
        hs = cases.inputs()[lo : lo + CHUNK]
        seen = cases.histories[lo : lo + CHUNK]
        for name, s in readings(rec, hs, cases.users[lo : lo + CHUNK]).items():
            s = np.array(s, dtype=np.float64)
            s[:, 0] = -np.inf
            for i, h in enumerate(seen):
                s[i, h] = -np.inf
            top = np.argsort(-s, axis=1, kind="stable")[:, :50]
            hits = hit_matrix(top, cases.targets[lo : lo + CHUNK])
            got = accuracy_metrics(hits, n_t[lo : lo + CHUNK], (20, 50), ("recall", "ndcg"))
            parts.setdefault(name, []).append(got)
    return {
        name: {
            m: np.concatenate([c[m] for c in chunks]) for m in ("recall@20", "recall@50", "ndcg@50")
        }
        for name, chunks in parts.items()
    }


def train(ds: Any, n_interests: int, extra: dict[str, Any], epochs: int) -> tuple[Any, float]:
    t0 = time.perf_counter()
    cfg = ModelConfig(n_interests=n_interests, **extra)
    rec = PrismRecommender(cfg, TrainConfig(epochs=epochs)).fit(ds.prepared, upto="valid")
    return rec, time.perf_counter() - t0


def use_of(rec: PrismRecommender) -> dict[str, float]:
    """The interest measures of the best epoch's validation row of the training log."""
    hist = getattr(rec, "history", None) or []
    rows = [r for r in hist if "valid_ndcg@10" in r]
    if not rows:
        return {}
    best = max(rows, key=lambda r: r["valid_ndcg@10"])
    keys = ("valid_short_weight", "valid_worst_jaccard@20", "valid_long_head_share@20")
    return {k.removeprefix("valid_"): float(best[k]) for k in keys if k in best}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="retailrocket", choices=SETS)
    ap.add_argument(
        "--train-share", type=float, default=0.25, help="retailrocket: share of training users"
    )
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--out")
    args = ap.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        ds = prepare_set(args.data, Path(tmp) / args.data, args.train_share)
        cases = ds.prepared.eval_cases("test")
        console.log(f"{args.data}: {len(cases):,} test users; training K=1 ...")
        k1, secs = train(ds, 1, {}, args.epochs)
        base = per_user(k1, cases)
        rows.append({"model": "K=1", "train_seconds": secs, **_means(base)})
        for v in args.variants:
            console.log(f"training K=4 {v} ...")
            rec, secs = train(ds, 4, VARIANTS[v], args.epochs)
            got = per_user(rec, cases)
            ratios = {
                f"{r} recall@50 ratio": ratio_interval(base[r]["recall@50"], got[r]["recall@50"])
                for r in READINGS
            }
            rows.append(
                {"model": f"K=4 {v}", "train_seconds": secs, **_means(got), **ratios, **use_of(rec)}
            )
    _print(rows, args)
    name = args.out or f"interest_rows-{args.data}"
    payload = {"data": args.data, "train_share": args.train_share, "epochs": args.epochs}
    print(f"wrote {write_result(name, {**payload, 'test_users': len(cases), 'rows': rows})}")


def _means(got: dict[str, dict[str, np.ndarray]]) -> dict[str, float]:
    return {f"{r} {m}": float(v.mean()) for r, ms in got.items() for m, v in ms.items()}


def _print(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    t = Table(
        title=f"{args.data}"
        + (f" ({args.train_share:.0%} of the training users)" if args.train_share < 1 else "")
        + ": future-set Recall@50 of each reading, and its ratio to K=1 read the same way "
        "[95% interval]"
    )
    for c in ("model", *READINGS, "train s", "short w", "worst J@20", "head share"):
        t.add_column(c, justify="right")
    for r in rows:
        cells = []
        for reading in READINGS:
            cell = f"{r[f'{reading} recall@50']:.4f}"
            q = r.get(f"{reading} recall@50 ratio")
            if q is not None:
                cell += f" {q['ratio']:.3f}x [{q['ci_low']:.3f}, {q['ci_high']:.3f}]"
            cells.append(cell)
        use = [r.get(k) for k in ("short_weight", "worst_jaccard@20", "long_head_share@20")]
        t.add_row(
            r["model"],
            *cells,
            f"{r['train_seconds']:.0f}",
            *("-" if u is None else f"{u:.3f}" for u in use),
        )
    console.print(t)


if __name__ == "__main__":
    main()
