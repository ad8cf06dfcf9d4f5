"""What a fixed tuning budget buys: `prismrec tune` against the defaults, on the test split.

A study of ``--trials`` trials (each at most ``--trial-epochs`` epochs, median pruning) searches
the default ``[tune] space`` on the validation split; then the default configuration and the
best one are each trained with ``--epochs`` and evaluated on the test split (leave-one-out,
full ranking), with a paired 95% bootstrap interval of the NDCG@10 difference over users.

Run: cd benchmarks && ../.venv/bin/python tune.py [--data ml-100k] [--model-type sasrec]
     [--trials 12] [--trial-epochs 10] [--epochs 30]
Writes benchmarks/results/tune-<data>-<model type>.json.
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

import prismrec as pr
from prismrec.evaluation.protocol import evaluate
from prismrec.evaluation.significance import paired_compare

SOURCES = {
    "ml-100k": (DATA / "ml-100k-recbole", "recbole"),
    "amazon-video-sasrec": (DATA / "amazon-video-sasrec" / "Video.txt", "pairtxt"),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", choices=sorted(SOURCES), default="ml-100k")
    ap.add_argument("--model-type", default="sasrec")
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--trial-epochs", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=30)
    args = ap.parse_args()
    src, fmt = SOURCES[args.data]
    with tempfile.TemporaryDirectory() as tmp:
        ds = pr.prepare(src, Path(tmp) / "data", format=fmt)
        t0 = time.perf_counter()
        found = pr.tune(
            ds,
            Path(tmp) / "tune",
            args.model_type,
            trials=args.trials,
            epochs=args.trial_epochs,
        )
        search_s = time.perf_counter() - t0
        runs: dict[str, Any] = {}
        for name, config in (("default", None), ("tuned", found["config"])):
            t1 = time.perf_counter()
            model = pr.train(ds, args.model_type, config=config, epochs=args.epochs)
            res = evaluate(model.recommender, ds.prepared.eval_cases("test"), ks=(10, 20))
            runs[name] = {"seconds": time.perf_counter() - t1, "result": res}
    default, tuned = runs["default"]["result"], runs["tuned"]["result"]
    cmp = paired_compare(default.per_user["ndcg@10"], tuned.per_user["ndcg@10"], "ndcg@10")
    rows = [
        {
            "config": name,
            "test_ndcg@10": r["result"].metrics["ndcg@10"],
            "test_recall@10": r["result"].metrics["recall@10"],
            "train_seconds": r["seconds"],
        }
        for name, r in runs.items()
    ]
    t = Table(title=f"tune {args.model_type} on {args.data}: {args.trials} trials, test split")
    for c in ("config", "test NDCG@10", "test Recall@10", "train s"):
        t.add_column(c, justify="right")
    for r in rows:
        t.add_row(
            r["config"],
            f"{r['test_ndcg@10']:.4f}",
            f"{r['test_recall@10']:.4f}",
            f"{r['train_seconds']:.0f}",
        )
    Console(width=140).print(t)
    print(
        f"tuned - default NDCG@10: {cmp.diff:+.4f} [{cmp.ci_low:+.4f}, {cmp.ci_high:+.4f}]; "
        f"search {search_s:.0f} s, best valid NDCG@10 {found['best_value']:.4f} with "
        f"{found['best_params']}"
    )
    out = write_result(
        f"tune-{args.data}-{args.model_type}",
        {
            "args": vars(args),
            "search_seconds": search_s,
            "best_valid_ndcg@10": found["best_value"],
            "best_params": found["best_params"],
            "importances": found["importances"],
            "trials": found["trials"],
            "rows": rows,
            "tuned_minus_default_ndcg@10": {
                "diff": cmp.diff,
                "ci": [cmp.ci_low, cmp.ci_high],
                "n_users": cmp.n_users,
            },
        },
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
