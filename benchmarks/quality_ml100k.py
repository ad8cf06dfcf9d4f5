"""prismrec vs RecBole 1.2.1 on ml-100k with RecBole's protocol, side by side.

Protocol: RecBole's leave-one-out split (identical, checked against recbole_loo_split.tsv),
full ranking over all 1,682 items, max sequence length 50. Each model is reported under both
masking rules: history masked (RecBole's rule for general models) and unmasked (its rule for
sequential models). RecBole's side comes from benchmarks/results/recbole_ml100k.json, produced by
benchmarks/recbole/run_recbole.py in its own virtualenv (slow: run once, re-run on protocol
changes); prismrec's side runs every time.

Run: .venv/bin/python benchmarks/quality_ml100k.py [--models pop itemknn bpr sasrec prism ...]
Writes benchmarks/results/quality_ml100k.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import DATA, RESULTS, write_result
from rich.console import Console
from rich.table import Table

from prismrec.config import ModelConfig, TrainConfig
from prismrec.data.dataset import PreparedDataset, prepare
from prismrec.evaluation.protocol import evaluate
from prismrec.training import registry

KEYS = ("ndcg@10", "recall@10", "mrr@10", "ndcg@20", "recall@20")
# the ablation ladder: what each part of prism adds over ID-only SASRec
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "pop": ("pop", {}),
    "itemknn": ("itemknn", {}),
    "bpr": ("bpr", {}),
    "sasrec": ("sasrec", {}),
    # sasrec is the ID-only, K=1 rung; each next rung adds one part
    "prism+content": (
        "prism",
        {
            "n_interests": 1,
            "use_context": False,
            "use_event_types": False,
            "use_user_features": False,
            "use_repeat": False,
            "cooc_weight": 0.0,
        },
    ),
    "prism+multi-interest": (
        "prism",
        {
            "use_context": False,
            "use_event_types": False,
            "use_user_features": False,
            "use_repeat": False,
            "cooc_weight": 0.0,
        },
    ),
    "prism+context": ("prism", {"use_repeat": False, "cooc_weight": 0.0}),
    # the learned repeat/explore bias on history items: moves the unmasked numbers only
    "prism+repeat": ("prism", {"cooc_weight": 0.0}),
    # + the co-occurrence prior (weight tuned on validation): the default model
    "prism": ("prism", {}),
}


def run_prismrec(ds: PreparedDataset, name: str) -> dict[str, Any]:
    model_name, overrides = VARIANTS[name]
    cls = registry()[model_name]
    t0 = time.perf_counter()
    rec = cls(ModelConfig(**overrides), TrainConfig()).fit(ds)
    train_s = time.perf_counter() - t0
    cases = ds.eval_cases("test")
    row: dict[str, Any] = {"model": name, "source": "prismrec", "train_seconds": train_s}
    for masked in (True, False):
        m = evaluate(rec, cases, filter_seen=masked).metrics
        row["masked" if masked else "unmasked"] = {k: m[k] for k in KEYS}
    epochs = len(getattr(rec, "history", []) or [])
    row["epochs"] = epochs
    row["seconds_per_epoch"] = train_s / epochs if epochs else None
    row["seconds_to_best"] = getattr(rec, "seconds_to_best", train_s)
    return row


def recbole_rows() -> list[dict[str, Any]]:
    f = RESULTS / "recbole_ml100k.json"
    if not f.is_file():
        return []
    rows = []
    for name, r in json.loads(f.read_text())["models"].items():
        test = r.get("test", {})
        row: dict[str, Any] = {
            "model": f"RecBole {name}",
            "source": "recbole",
            "train_seconds": r.get("train_seconds_total"),
            "seconds_per_epoch": r.get("seconds_per_epoch"),
            "seconds_to_best": r.get("time_to_best_s"),
            "epochs": r.get("epochs_run"),
        }
        rule = "masked" if r.get("history_masked") else "unmasked"
        row[rule] = {k: test.get(k) for k in KEYS}
        if r.get("test_history_masked"):  # the runner's own masked scoring of the same checkpoint
            row["masked"] = {k: r["test_history_masked"].get(k) for k in KEYS}
        rows.append(row)
    return rows


def _fmt(x: Any) -> str:
    return "-" if x is None else (f"{x:.4f}" if isinstance(x, float) and x < 10 else f"{x:,.0f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=list(VARIANTS))
    ap.add_argument(
        "--reuse-prismrec",
        action="store_true",
        help="take prismrec's rows from the last results file (after RecBole re-runs)",
    )
    ap.add_argument(
        "--out", default="quality_ml100k", help="results file name (default: quality_ml100k)"
    )
    args = ap.parse_args()
    if args.reuse_prismrec:
        last = json.loads((RESULTS / "quality_ml100k.json").read_text())
        rows = [r for r in last["rows"] if r["source"] == "prismrec"]
    else:
        with tempfile.TemporaryDirectory() as tmp:
            ds = prepare(DATA / "ml-100k-recbole", Path(tmp), "recbole")
            rows = [run_prismrec(ds, m) for m in args.models]
    rows += recbole_rows()
    t = Table(title="ml-100k, RecBole LOO split, full ranking, max length 50")
    t.add_column("model")
    for rule in ("masked", "unmasked"):
        for k in KEYS:
            t.add_column(f"{k} {'m' if rule == 'masked' else 'u'}", justify="right")
    for c in ("train s", "s/epoch", "s to best"):
        t.add_column(c, justify="right")
    for r in rows:
        vals = [_fmt((r.get(rule) or {}).get(k)) for rule in ("masked", "unmasked") for k in KEYS]
        t.add_row(
            r["model"],
            *vals,
            _fmt(r.get("train_seconds")),
            _fmt(r.get("seconds_per_epoch")),
            _fmt(r.get("seconds_to_best")),
        )
    Console(width=220).print(t)
    summary = _summary(rows)
    Console().print(summary)
    print(f"wrote {write_result(args.out, {'rows': rows, 'summary': summary})}")


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    prism = next((r for r in rows if r["model"] == "prism"), None)
    peers = [r for r in rows if r["source"] == "recbole"]
    out: dict[str, Any] = {}
    if prism is None or not peers:
        return out
    for rule in ("masked", "unmasked"):
        best = max(
            (r for r in peers if r.get(rule)), key=lambda r: r[rule]["ndcg@10"] or 0, default=None
        )
        if best is not None:
            out[f"ndcg@10 ratio vs best RecBole ({rule})"] = {
                "prism": prism[rule]["ndcg@10"],
                "best": best["model"],
                "best_ndcg@10": best[rule]["ndcg@10"],
                "ratio": prism[rule]["ndcg@10"] / best[rule]["ndcg@10"],
            }
    sas = next((r for r in peers if r["model"] == "RecBole SASRec"), None)
    if sas and sas.get("seconds_to_best") and prism.get("seconds_to_best"):
        out["time to best: RecBole SASRec / prism"] = (
            sas["seconds_to_best"] / prism["seconds_to_best"]
        )
    return out


if __name__ == "__main__":
    main()
