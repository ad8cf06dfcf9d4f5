"""How fast the default models train, and what it costs: prism against our SASRec in one run.

For each data set and model, one fresh process trains the default settings (early stopping on
validation NDCG@10) and reports:

- ``train s``: the whole ``fit`` (epochs, validation, the co-occurrence prior's weight choice);
- ``to best s`` / ``cpu to best s``: wall and process-CPU seconds from the start to the end of
  the best epoch's validation (RecBole's "time to best"); CPU seconds say what the work cost
  on a machine shared with other jobs;
- ``s/epoch`` and ``valid s``: median training and validation seconds of one epoch;
- ``peak RSS``: the process's peak resident memory;
- ``ndcg@10``: test NDCG@10, full ranking, history masked; for prism also the interest use
  measures of the default (short-term weight, worst-pair Jaccard@20, top-1% share).

ml-100k uses RecBole's leave-one-out split; RecBole's SASRec comes from the stored run
(``results/recbole_ml100k.json``, its time to best on this machine). amazon-video-sasrec is
the SASRec authors' 5-core Video Games sequences (31k users, 24k items).

Run: .venv/bin/python benchmarks/train_speed.py [--data ml-100k amazon] [--models prism sasrec]
     [--threads 0] [--epochs 60] [--set KEY=VALUE ...] [--out train_speed]
Writes benchmarks/results/train_speed.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import DATA, RESULTS, write_result
from rich.console import Console
from rich.table import Table

SETS = {
    "ml-100k": (DATA / "ml-100k-recbole", "recbole", "ml100k-recbole.toml"),
    "amazon": (DATA / "amazon-video-sasrec" / "Video.txt", "pairtxt", None),
}
USE_KEYS = ("short_weight", "worst_jaccard@20", "long_head_share@20", "effective_interests")


def worker(
    data: str, model: str, threads: int, epochs: int, prepared: Path, params: dict[str, Any]
) -> dict[str, Any]:
    """One model trained and measured in this (fresh) process (``params``: [model] or
    [train] keys that differ from the defaults)."""
    from prismrec.config import ModelConfig, TrainConfig, load_config
    from prismrec.data.dataset import PreparedDataset, prepare
    from prismrec.evaluation.protocol import evaluate_full
    from prismrec.training import registry

    path, fmt, cfg_name = SETS[data]
    if not (prepared / "schema.json").is_file():
        cfg = load_config(Path(__file__).parents[1] / "configs" / cfg_name) if cfg_name else None
        prepare(path, prepared, fmt, None if cfg is None else cfg.data)
    ds = PreparedDataset.load(prepared)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0, c0 = time.perf_counter(), time.process_time()
    m_keys = {k: v for k, v in params.items() if k in ModelConfig.model_fields}
    t_keys = {k: v for k, v in params.items() if k not in m_keys}
    tc = TrainConfig(threads=threads, epochs=epochs, **t_keys)
    rec = registry()[model](ModelConfig(**m_keys), tc).fit(ds)
    train_s, train_cpu = time.perf_counter() - t0, time.process_time() - c0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    hist = rec.history
    best = max(hist, key=lambda r: r.get("valid_ndcg@10", -1.0))
    res = evaluate_full(rec, ds.eval_cases("test"), (10, 20))
    return {
        "data": data,
        "model": model,
        "params": params,
        "threads": threads,
        "train_seconds": train_s,
        "train_cpu_seconds": train_cpu,
        "seconds_to_best": best["seconds"],
        "cpu_seconds_to_best": best["cpu_seconds"],
        "best_epoch": int(best["epoch"]),
        "epochs": len(hist),
        "seconds_per_epoch": statistics.median(r["train_seconds"] for r in hist),
        "valid_seconds": statistics.median(r.get("valid_seconds", 0.0) for r in hist),
        "after_epochs_seconds": train_s - hist[-1]["seconds"],
        "peak_rss_mb": max(rss, rss_before) / 1024,
        "ndcg@10": res.metrics["ndcg@10"],
        "recall@10": res.metrics["recall@10"],
        **{k: res.metrics.get(k) for k in USE_KEYS},
        "cooc_weight": getattr(rec, "cooc_weight", None),
        "gate_shift": getattr(rec, "gate_shift", None),
        "history": hist,
    }


def _recbole() -> dict[str, Any] | None:
    path = RESULTS / "recbole_ml100k.json"
    if not path.is_file():
        return None
    sas = json.loads(path.read_text())["models"]["SASRec"]
    return {
        "data": "ml-100k",
        "model": "RecBole SASRec (stored run)",
        "seconds_to_best": sas["time_to_best_s"],
        "cpu_seconds_to_best": sas["cpu_seconds_to_best"],
        "seconds_per_epoch": sas["seconds_per_epoch"],
        "valid_seconds": sas["valid_seconds_per_epoch"],
        "epochs": sas["epochs_run"],
        "best_epoch": sas["best_epoch"] + 1,
        # history masked, as prismrec's column (its own rule, unmasked, gives 0.0636)
        "ndcg@10": sas.get("test_history_masked", sas["test"])["ndcg@10"],
    }


def _f(v: Any, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--models", nargs="+", default=["prism", "sasrec"])
    ap.add_argument("--threads", type=int, default=0, help="[train] threads (0: every core)")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--out", default="train_speed")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a [model] or [train] key for every model (JSON value), e.g. interest_positions=0.25",
    )
    ap.add_argument(
        "--worker", nargs=3, metavar=("DATA", "MODEL", "PREPARED"), help=argparse.SUPPRESS
    )
    args = ap.parse_args()
    params = {k: json.loads(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    if args.worker:
        data, model, prepared = args.worker
        row = worker(data, model, args.threads, args.epochs, Path(prepared), params)
        print(json.dumps(row))
        return
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for data in args.data:
            for model in args.models:  # one fresh process each: its own peak RSS
                where = str(Path(tmp) / data)
                cmd = [sys.executable, __file__, "--threads", str(args.threads), "--epochs",
                       str(args.epochs), *(f"--set={kv}" for kv in args.set),
                       "--worker", data, model, where]  # fmt: skip
                out = subprocess.run(cmd, capture_output=True, text=True, check=True)
                rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
                r = rows[-1]
                print(f"{data} {model}: {r['train_seconds']:.0f} s, ndcg@10 {r['ndcg@10']:.4f}")
            if data == "ml-100k" and (rec := _recbole()) is not None:
                rows.append(rec)
    summary: dict[str, Any] = {}
    by = {(r["data"], r["model"]): r for r in rows}
    rb, pm = by.get(("ml-100k", "RecBole SASRec (stored run)")), by.get(("ml-100k", "prism"))
    if rb and pm:
        summary["ml-100k: RecBole SASRec time to best / prism's"] = (
            rb["seconds_to_best"] / pm["seconds_to_best"]
        )
    ap_, as_ = by.get(("amazon", "prism")), by.get(("amazon", "sasrec"))
    if ap_ and as_:
        summary["amazon: prism whole train / sasrec's"] = (
            ap_["train_seconds"] / as_["train_seconds"]
        )
    t = Table(title=f"training speed (threads {args.threads or 'all'})")
    cols = ("data", "model", "train s", "to best s", "cpu to best s", "best/epochs", "s/epoch",
            "valid s", "peak RSS MB", "ndcg@10", "short w")  # fmt: skip
    for c in cols:
        t.add_column(c)
    for r in rows:
        t.add_row(
            r["data"],
            r["model"],
            _f(r.get("train_seconds"), ".0f"),
            _f(r.get("seconds_to_best"), ".0f"),
            _f(r.get("cpu_seconds_to_best"), ".0f"),
            f"{r.get('best_epoch')}/{r.get('epochs')}",
            _f(r.get("seconds_per_epoch"), ".1f"),
            _f(r.get("valid_seconds"), ".1f"),
            _f(r.get("peak_rss_mb"), ".0f"),
            _f(r.get("ndcg@10"), ".4f"),
            _f(r.get("short_weight"), ".3f"),
        )
    Console(width=170).print(t)
    for k, v in summary.items():
        print(f"{k}: {v:.2f}x")
    result = {
        "threads": args.threads,
        "epochs": args.epochs,
        "params": params,
        "rows": rows,
        "summary": summary,
    }
    print(f"wrote {write_result(args.out, result)}")


if __name__ == "__main__":
    main()
