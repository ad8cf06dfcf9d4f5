"""Training at a catalogue of millions: seconds per epoch and peak memory at 10k, 100k, 1M items.

One synthetic log (``--users``, ``--events``; Zipf-like popularity inside 20 topics,
``prismrec.data.synth``) over catalogues of 10k, 100k and 1M items with a category,
sub-category, tags and price but no text (encoding a million titles is its own step, cached:
``results/encode.json``). Each configuration trains one epoch in a fresh process (its own
peak RSS) under ``RLIMIT_AS`` (``--max-gb``), ``cooc_weight = 0``, and reports wall and
process-CPU seconds (the machine is shared) of the epoch, split by global hooks into forward,
optimizer step and the rest; one validation pass over ``--valid-users`` users ranking every
item, split into ranking and interest measures, with the item-tower passes it made; peak RSS,
item parameters and AdamW state.

The full softmax (``loss = "ce"``, the default) holds (positions x rows x N+1) logits a batch:
rows is 1 for SASRec, K + 2 for prism (K long-term interests, the short-term one, the
long-term interests' own loss). When three times that (logits, gradient, softmax) exceeds
``--ce-budget-gb`` it does not run at batch 128: a few steps at the largest batch that fits
are timed and the epoch is extrapolated from them.

Run: .venv/bin/python benchmarks/million_items.py [--sizes 10000 100000 1000000]
     [--configs sasrec-ce sasrec-sampled prism-ce prism-sampled prism-id-sampled]
     [--users 2000] [--events 100000] [--valid-users 300] [--threads 1] [--ce-budget-gb 3]
Writes benchmarks/results/million_items.json (or --out).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import write_result
from rich.console import Console
from rich.table import Table

# name -> (model type, [model] keys, [train] keys); every one with cooc_weight = 0
CONFIGS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "sasrec-ce": ("sasrec", {}, {"loss": "ce"}),
    "sasrec-sampled": ("sasrec", {}, {"loss": "sampled"}),
    "prism-ce": ("prism", {}, {"loss": "ce"}),
    "prism-sampled": ("prism", {}, {"loss": "sampled"}),
    "prism-id-sampled": ("prism", {"use_content": False}, {"loss": "sampled"}),
}
# run only from this many items unless named in --configs: ID-only prism is there to show
# what the item tower costs, which only a large catalogue makes visible
FROM_ITEMS = {"prism-id-sampled": 1_000_000}
SIZES = (10_000, 100_000, 1_000_000)
BATCH = 128
SEQ_LEN = 50  # the prepared data's max_seq_len (the [data] default)
PROBE_STEPS = 3  # timed steps of a full softmax that does not fit at BATCH (after one warm-up)
GB = 1024**3


# ---- the worker: one configuration in a fresh process ----------------------------------------
class _Enough(Exception):
    """Raised from the step hook once a probe has timed its steps."""


class _Clock:
    """Wall and process-CPU seconds of the training forward passes and optimizer steps, from
    global hooks (the library's own loop runs untouched), and the start of every step."""

    def __init__(self, max_steps: int | None) -> None:
        self.max_steps = max_steps
        self.tower_calls = 0  # item tower passes over the catalogue (content models)
        self.sums = {"forward": [0.0, 0.0], "optimizer": [0.0, 0.0]}
        self.starts: list[tuple[float, float]] = []
        self._t: tuple[float, float] = (0.0, 0.0)

    @staticmethod
    def now() -> tuple[float, float]:
        return time.perf_counter(), time.process_time()

    def _begin(self, *_: Any) -> None:
        self._t = self.now()

    def _end(self, part: str) -> None:
        t, c = self.now()
        self.sums[part][0] += t - self._t[0]
        self.sums[part][1] += c - self._t[1]

    def __enter__(self) -> _Clock:
        from torch.nn.modules.module import (
            register_module_forward_hook,
            register_module_forward_pre_hook,
        )
        from torch.optim.optimizer import (
            register_optimizer_step_post_hook,
            register_optimizer_step_pre_hook,
        )

        from prismrec.models.fusion import ItemTower
        from prismrec.training._prism_step import TrainStep

        def pre(module: Any, _: Any) -> None:
            if isinstance(module, ItemTower):
                self.tower_calls += 1
            if isinstance(module, TrainStep):
                self.starts.append(self.now())
                if self.max_steps is not None and len(self.starts) > self.max_steps + 1:
                    raise _Enough
                self._begin()

        def post(module: Any, *_: Any) -> None:
            if isinstance(module, TrainStep):
                self._end("forward")

        self.hooks = [
            register_module_forward_pre_hook(pre),
            register_module_forward_hook(post),
            register_optimizer_step_pre_hook(self._begin),
            register_optimizer_step_post_hook(lambda *_: self._end("optimizer")),
        ]
        return self

    def __exit__(self, *_: Any) -> None:
        for h in self.hooks:
            h.remove()


def _limit_memory(max_gb: float) -> None:
    """Cap the address space: a run that would pass it fails with MemoryError instead of
    pushing the shared machine into swap or the OOM killer."""
    cap = int(max_gb * GB)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _vm_peak_mb() -> float:
    """Peak virtual size (what ``RLIMIT_AS`` caps), from /proc; 0 where there is none."""
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return 0.0
    line = next((x for x in text.splitlines() if x.startswith("VmPeak:")), "VmPeak: 0 kB")
    return int(line.split()[1]) / 1024


def _recommender(config: str, valid_users: int, batch: int, threads: int) -> Any:
    from prismrec.config import ModelConfig, TrainConfig
    from prismrec.training import registry

    model, model_keys, train_keys = CONFIGS[config]
    mc = ModelConfig(cooc_weight=0.0, **model_keys)
    tc = TrainConfig(
        epochs=1, batch_size=batch, valid_users=valid_users, threads=threads, **train_keys
    )
    return registry()[model](mc, tc)


def _timed_validation(rec: Any, into: dict[str, float], clock: _Clock) -> None:
    """Wrap the model's validation callback so its wall and CPU seconds land in ``into``, and
    the interest measures inside it (K > 1) apart from the ranking."""
    from prismrec.training import base

    make, measures = rec.validation_callback, base.interest_means

    def timed_measures(*args: Any, **kwargs: Any) -> Any:
        t0, c0 = time.perf_counter(), time.process_time()
        out = measures(*args, **kwargs)
        into["interest_measures_seconds"] = time.perf_counter() - t0
        into["interest_measures_cpu_seconds"] = time.process_time() - c0
        return out

    base.interest_means = timed_measures

    def wrapped(cases: Any) -> Any:
        validate = make(cases)

        def run() -> Any:
            t0, c0, calls = time.perf_counter(), time.process_time(), clock.tower_calls
            out = validate()
            into["valid_seconds"] = time.perf_counter() - t0
            into["valid_cpu_seconds"] = time.process_time() - c0
            into["valid_tower_calls"] = float(clock.tower_calls - calls)
            n = rec.train_config.valid_users
            into["valid_users"] = float(min(n, len(cases.users)) if n else len(cases.users))
            return out

        return run

    rec.validation_callback = wrapped


def _parts(rec: Any, trainer: Any) -> dict[str, float]:
    """Sizes (MB) of the item parameters, the other parameters and the AdamW state."""
    n_rows = rec.n_items + 1
    item = other = 0
    for p in rec.net.parameters():
        size = p.numel() * p.element_size()
        if p.dim() > 0 and p.shape[0] == n_rows:
            item += size
        else:
            other += size
    adam = sum(
        v.numel() * v.element_size()
        for state in trainer.optim.state.values()
        for v in state.values()
        if hasattr(v, "numel") and v.dim() > 0
    )
    mb = 1024**2
    return {"item_params_mb": item / mb, "other_params_mb": other / mb, "adam_state_mb": adam / mb}


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """Train ``config`` for one epoch (or, with ``probe``, a few steps) in this process."""
    from prismrec.data.dataset import PreparedDataset
    from prismrec.training import prism as prism_module

    data, config = args.worker
    ds = PreparedDataset.load(data)
    rss_data = _rss_mb()
    rec = _recommender(config, args.valid_users, args.batch, args.threads)
    trainers: list[Any] = []

    class Seen(prism_module.Trainer):  # type: ignore[misc, name-defined]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            trainers.append(self)

    prism_module.Trainer = Seen  # type: ignore[misc]
    valid: dict[str, float] = {}
    clock = _Clock(PROBE_STEPS if args.probe else None)
    _timed_validation(rec, valid, clock)
    t0, c0 = time.perf_counter(), time.process_time()
    with clock, contextlib.suppress(_Enough):
        rec.fit(ds)
    fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    tr = trainers[0]
    row: dict[str, Any] = {
        "items": ds.n_items,
        "config": config,
        "batch_size": args.batch,
        "threads": args.threads,
        "windows": len(tr.windows),
        "steps_per_epoch": tr.steps_per_epoch(),
        "rss_after_data_mb": rss_data,
        "peak_rss_mb": _rss_mb(),
        "vm_peak_mb": _vm_peak_mb(),
        "fit_seconds": fit_s,
        "fit_cpu_seconds": fit_cpu,
        **_parts(rec, tr),
        **valid,
    }
    if args.probe:
        (t1, c1), (t2, c2) = clock.starts[1], clock.starts[-1]
        n = len(clock.starts) - 2
        row.update(probe_steps=n, step_seconds=(t2 - t1) / n, step_cpu_seconds=(c2 - c1) / n)
        return row
    epoch = rec.history[0]
    starts = clock.starts
    steps = [(b[0] - a[0], b[1] - a[1]) for a, b in zip(starts[1:], starts[2:], strict=False)]
    if steps:  # the first step (warm-up) and the last (no start after it) left out
        row["step_seconds"] = statistics.median(s[0] for s in steps)
        row["step_cpu_seconds"] = statistics.median(s[1] for s in steps)
    train_cpu = epoch["cpu_seconds"] - valid.get("valid_cpu_seconds", 0.0)
    row.update(
        train_seconds=epoch["train_seconds"],
        train_cpu_seconds=train_cpu,
        loss=epoch.get("loss"),
        valid_ndcg10=epoch.get("valid_ndcg@10"),
        **{f"{k}_seconds": v[0] for k, v in clock.sums.items()},
        **{f"{k}_cpu_seconds": v[1] for k, v in clock.sums.items()},
    )
    return row


def prepare_worker(n_items: int, users: int, events: int, out: Path) -> dict[str, Any]:
    """Synthesise the log over ``n_items`` items and prepare it (no text field: see above)."""
    from prismrec.config import load_config
    from prismrec.data.dataset import prepare
    from prismrec.data.synth import synthesize

    t0, c0 = time.perf_counter(), time.process_time()
    synthesize(users, n_items, events, seed=1, out_dir=out / "raw")
    t1, c1 = time.perf_counter(), time.process_time()
    cfg = load_config(out / "raw" / "prismrec.toml").data.model_copy(
        update={"item_text_fields": []}
    )
    ds = prepare(out / "raw", out / "data", "parquet", cfg)
    t2, c2 = time.perf_counter(), time.process_time()
    train = ds.split_frame("valid").get_column("item_idx")
    return {
        "items": ds.n_items,
        "users": ds.n_users,
        "events": events,
        "train_events": len(train),
        "items_in_training": train.n_unique(),
        "synth_seconds": t1 - t0,
        "synth_cpu_seconds": c1 - c0,
        "prepare_seconds": t2 - t1,
        "prepare_cpu_seconds": c2 - c1,
        "peak_rss_mb": _rss_mb(),
    }


# ---- the parent: sizes, memory estimates, subprocesses ----------------------------------------
def ce_rows(config: str) -> int:
    """Logit rows per position of the full softmax: one per interest row it scores."""
    from prismrec.config import ModelConfig

    model, keys, _ = CONFIGS[config]
    if model == "sasrec":
        return 1
    mc = ModelConfig(**keys)
    return mc.n_interests + int(mc.short_term) + int(mc.long_term_weight > 0)


def ce_bytes(config: str, n_items: int, batch: int, seq_len: int) -> float:
    """Bytes of one batch's full-softmax logits at most (every position labelled)."""
    from prismrec.training.losses import bf16_is_native

    per = 2 if bf16_is_native() else 4
    return float(batch * seq_len * ce_rows(config) * (n_items + 1) * per)


def _run(args: argparse.Namespace, extra: list[str]) -> dict[str, Any]:
    """One worker process with this run's settings and ``extra`` arguments; its JSON row."""
    common = ["--max-gb", args.max_gb, "--threads", args.threads, "--valid-users",
              args.valid_users, "--users", args.users, "--events", args.events]  # fmt: skip
    cmd = [sys.executable, __file__, *map(str, common), *extra]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        tail = out.stderr.strip().splitlines()[-3:]
        return {"error": " | ".join(tail) or f"exit {out.returncode}"}
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def measure(config: str, data: Path, n_items: int, args: argparse.Namespace) -> dict[str, Any]:
    """One configuration at one size: trained for an epoch, or probed when it cannot fit."""
    est = ce_bytes(config, n_items, BATCH, SEQ_LEN) if CONFIGS[config][2]["loss"] == "ce" else 0.0
    extra: dict[str, Any] = {"ce_logits_gb": est / GB} if est else {}
    budget = args.ce_budget_gb * GB
    if 3 * est <= budget:
        return {**_run(args, ["--batch", str(BATCH), "--worker", str(data), config]), **extra}
    # does not fit at BATCH: probe at the largest batch whose logits (x3) take half the budget
    batch = max(1, math.floor(BATCH * budget / (6 * est)))
    extra.update(fits=False, probe_batch=batch, probe_logits_gb=est * batch / BATCH / GB)
    row = _run(args, ["--batch", str(batch), "--probe", "--worker", str(data), config])
    if row.get("probe_steps"):
        row["epoch_seconds_extrapolated"] = row["step_seconds"] * row["steps_per_epoch"]
        row["epoch_cpu_seconds_extrapolated"] = row["step_cpu_seconds"] * row["steps_per_epoch"]
    return {**row, **extra}


def _f(v: Any, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def _valid(r: dict[str, Any]) -> str:
    """Validation wall seconds as ranking + interest measures (users)."""
    if r.get("valid_users") is None:
        return "-"
    interests = r.get("interest_measures_seconds", 0.0)
    rank = r["valid_seconds"] - interests
    return f"{rank:.0f} + {interests:.0f} ({r['valid_users']:.0f})"


def _table(rows: list[dict[str, Any]], title: str) -> Table:
    t = Table(title=title)
    cols = ("items", "config", "s/epoch", "cpu s", "cpu s/step", "fwd/opt/rest % cpu",
            "valid s: rank + interests (users)", "peak RSS GB", "item params + Adam MB",
            "note")  # fmt: skip
    for c in cols:
        t.add_column(c)
    for r in rows:
        note, share = r.get("error", ""), "-"
        s, cpu = r.get("train_seconds"), r.get("train_cpu_seconds")
        if "epoch_seconds_extrapolated" in r:
            s, cpu = r["epoch_seconds_extrapolated"], r["epoch_cpu_seconds_extrapolated"]
            note = (
                f"{r['ce_logits_gb']:.1f} GB of logits a batch: extrapolated from "
                f"{r['probe_steps']} steps at batch {r['probe_batch']}"
            )
        elif cpu:
            f, o = r["forward_cpu_seconds"] / cpu, r["optimizer_cpu_seconds"] / cpu
            share = f"{100 * f:.0f}/{100 * o:.0f}/{100 * (1 - f - o):.0f}"
        t.add_row(
            f"{r['items']:,}",
            r["config"],
            _f(s, ".0f"),
            _f(cpu, ".0f"),
            _f(r.get("step_cpu_seconds"), ".2f"),
            share,
            _valid(r),
            _f(r["peak_rss_mb"] / 1024 if "peak_rss_mb" in r else None, ".2f"),
            _f(r.get("item_params_mb", 0) + r.get("adam_state_mb", 0), ".0f"),
            note,
        )
    return t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    ap.add_argument("--configs", nargs="+", default=None, choices=list(CONFIGS))
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--valid-users", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1, help="[train] threads (0: every core)")
    ap.add_argument("--ce-budget-gb", type=float, default=3.0, help="full-softmax memory cap")
    ap.add_argument("--max-gb", type=float, default=16.0, help="address-space cap per process")
    ap.add_argument("--out", default="million_items")
    ap.add_argument("--batch", type=int, default=BATCH, help=argparse.SUPPRESS)
    ap.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--worker", nargs=2, metavar=("DATA", "CONFIG"), help=argparse.SUPPRESS)
    ap.add_argument("--prepare", nargs=2, metavar=("ITEMS", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker or args.prepare:
        _limit_memory(args.max_gb)
        if args.prepare:
            n_items, out = int(args.prepare[0]), Path(args.prepare[1])
            res = prepare_worker(n_items, args.users, args.events, out)
        else:
            res = worker(args)
        print(json.dumps(res))
        return
    load_before = os.getloadavg()
    t_start = time.perf_counter()
    data_rows: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n_items in args.sizes:
            where = Path(tmp) / str(n_items)
            data_rows.append(_run(args, ["--prepare", str(n_items), str(where)]))
            print(json.dumps(data_rows[-1]))
            for config in args.configs or CONFIGS:
                if args.configs is None and n_items < FROM_ITEMS.get(config, 0):
                    continue
                rows.append({"items": n_items, "config": config,
                             **measure(config, where / "data", n_items, args)})  # fmt: skip
                print(json.dumps({k: v for k, v in rows[-1].items() if k != "history"}))
    title = (
        f"one epoch, {args.users:,} users, {args.events:,} events, batch {BATCH}, "
        f"{args.threads or 'all'} thread(s)"
    )
    Console(width=200).print(_table(rows, title))
    result = {
        "users": args.users,
        "events": args.events,
        "batch_size": BATCH,
        "threads": args.threads,
        "valid_users": args.valid_users,
        "ce_budget_gb": args.ce_budget_gb,
        "max_gb": args.max_gb,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "wall_seconds": time.perf_counter() - t_start,
        "data": data_rows,
        "rows": rows,
    }
    print(f"wrote {write_result(args.out, result)}")


if __name__ == "__main__":
    main()
