"""Scheduled retraining: export the live store, warm-start, compare on held-back events, promote.

A *models folder* holds one directory per model version and a ``current`` link to the one in
service. Each run:

1. exports the store over the original dataset (``MODELS/exports/RUN``), the newest events
   held back as the ``test`` split (never trained on);
2. warm-starts a candidate from ``current`` on the export's training part
   (``MODELS/VERSION``);
3. measures the current model and the candidate on the same held-back cases;
4. promotes the candidate (replaces the ``current`` link atomically) when the rule holds,
   else removes the candidate and its export;
5. appends the decision to ``MODELS/retrain.log.jsonl``.

```python
import prismrec as pr
from prismrec.api.loop import parse_rule, retrain_runs

plan = pr.RetrainPlan("sqlite:state.db", "runs/mls", "runs/models",
                      rule=parse_rule("ndcg@10>=current"), bootstrap="runs/mls-prism")
decision = pr.retrain(plan)                     # one run: decision.promoted, .reason
for d in retrain_runs(plan, every=3600.0):      # one run an hour, until interrupted
    print(d.promoted, d.reason)
```
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from prismrec.api._promote import PromoteRule, parse_interval, parse_rule
from prismrec.api.models import Model, check_model_dir, load, train
from prismrec.api.retrain import check_store, export_store, holdout_config
from prismrec.config import DataConfig
from prismrec.data.dataset import EvalCases, PreparedDataset, check_prepared_dir
from prismrec.errors import ConfigError, PrismError
from prismrec.evaluation.metrics import ACCURACY_METRICS
from prismrec.evaluation.protocol import evaluate
from prismrec.progress import duration, note
from prismrec.training import PrismRecommender, registry
from prismrec.training.manifest import (
    CURRENT_LINK,
    current_model,
    new_version,
    read_manifest,
    set_current,
)

__all__ = [
    "DECISION_LOG",
    "PromoteRule",
    "RetrainDecision",
    "RetrainPlan",
    "check_plan",
    "parse_interval",
    "parse_rule",
    "retrain",
    "retrain_runs",
]

log = logging.getLogger(__name__)

DECISION_LOG = "retrain.log.jsonl"
EXPORTS = "exports"


@dataclass(frozen=True)
class RetrainPlan:
    """What every run of the loop does.

    Attributes:
        store: the service's store, ``sqlite:PATH`` or ``redis://...``.
        data: the original prepared dataset (every run exports the whole store over it).
        models: the models folder (version directories, ``current``, the decision log).
        rule: when to promote.
        holdout: how the newest events are held back (``loo``, ``temporal:SHARE``; None: the
            original dataset's own split).
        epochs: warm-start epochs (None: the current model's ``[train] epochs``).
        bootstrap: a model directory to copy in as ``current`` when the folder has none.
        tombstone_secret: the service's tombstone secret, if it was given one.
        prefix: the Redis key namespace.
    """

    store: str
    data: Path
    models: Path
    rule: PromoteRule = field(default_factory=PromoteRule)
    holdout: str | None = None
    epochs: int | None = None
    bootstrap: Path | None = None
    tombstone_secret: str | None = field(default=None, repr=False)
    prefix: str = "prismrec:"

    def __post_init__(self) -> None:  # paths given as strings work too
        for name in ("data", "models", "bootstrap"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))


@dataclass(frozen=True)
class RetrainDecision:
    """One run's record (a line of ``retrain.log.jsonl``)."""

    time: str
    run: str
    rule: str
    parent: str | None
    candidate: str | None
    promoted: bool
    reason: str
    current: dict[str, float] = field(default_factory=dict)
    candidate_metrics: dict[str, float] = field(default_factory=dict)
    cases: int = 0
    export: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    path: str | None = None
    holdout: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def retrain(plan: RetrainPlan) -> RetrainDecision:
    """One run: export, warm-start, measure both on the held-back events, promote or not.

    The decision is appended to ``MODELS/retrain.log.jsonl`` (also a failed run's, with the
    error as the reason). A rejected candidate's directory and export are removed.

    Raises:
        ConfigError: no ``current`` and no ``bootstrap``, a model that cannot be warm-started,
            a bad store or holdout.
        DataError: ``data`` is not a prepared dataset.
    """
    check_plan(plan)
    decision, error = _attempt(plan)
    if error is not None:
        raise error
    return decision


def retrain_runs(
    plan: RetrainPlan,
    every: float | None = None,
    *,
    max_runs: int | None = None,
    sleep: Callable[[float], None] | None = None,
) -> Iterator[RetrainDecision]:
    """Run :func:`retrain` once (``every`` None) or every ``every`` seconds, start to start.

    With ``every``, the first run's errors are raised (a wrong setting fails at once); later
    runs' errors are recorded and yielded as not promoted, and the loop goes on. A
    ``KeyboardInterrupt`` (Ctrl-C) passes through; during a run, the run's partial
    directories are removed first, so ``current`` and the folder stay as they were.
    """
    check_plan(plan)
    n = 0
    while True:
        start = time.monotonic()
        decision, error = _attempt(plan)
        if error is not None and (every is None or n == 0):
            raise error
        yield decision
        n += 1
        if every is None or (max_runs is not None and n >= max_runs):
            return
        wait = every - (time.monotonic() - start)
        if wait > 0:
            (sleep or time.sleep)(wait)


def check_plan(plan: RetrainPlan) -> None:
    """Raise a one-line ``PrismError`` for what would make every run fail."""
    check_prepared_dir(Path(plan.data))
    check_store(plan.store)
    if plan.holdout is not None:
        holdout_config(DataConfig(), plan.holdout)
    if plan.models.exists() and not plan.models.is_dir():
        raise ConfigError(f"--models {plan.models} is a file; pass a directory")
    _current(plan, copy=False)


def _attempt(plan: RetrainPlan) -> tuple[RetrainDecision, PrismError | None]:
    """One run, its decision appended to the log; a failed run's error returned, not raised."""
    started, t0 = _now(), time.monotonic()
    run = new_version()
    error: PrismError | None = None
    try:
        decision = _run(plan, run, _current(plan), started)
    except PrismError as exc:
        error = exc
        parent = _current_version(plan.models)
        reason = f"error: {exc}"
        decision = RetrainDecision(started, run, str(plan.rule), parent, None, False, reason)
    seconds = round(time.monotonic() - t0, 1)
    decision = replace(decision, seconds=seconds, holdout=plan.holdout)
    _append(plan.models, decision)
    note("retrain %s: %s (%s)", run, decision.reason, duration(seconds))
    return decision, error


def _run(plan: RetrainPlan, run: str, parent_dir: Path, started: str) -> RetrainDecision:
    parent = load(parent_dir)
    incoming = plan.models / f".incoming-{run}"
    export_dir = plan.models / EXPORTS / run
    cand_dir: Path | None = None
    keep = False
    try:
        report = export_store(
            plan.store,
            plan.data,
            export_dir,
            tombstone_secret=plan.tombstone_secret,
            prefix=plan.prefix,
            holdout=plan.holdout,
        )
        note("retrain %s: exported %s; training from %s", run, export_dir, parent_dir)
        cand = train(export_dir, warm_start=parent_dir, out=incoming, epochs=plan.epochs)
        version = str(cand.recommender.version)
        cand_dir = plan.models / version
        incoming.rename(cand_dir)
        shutil.rmtree(cand_dir / "checkpoint", ignore_errors=True)  # resume state: done with
        cases = report.data.eval_cases("test")
        note("retrain %s: %s against the current model on %d users", run, version, len(cases))
        cur_m = _measure(parent, _cases_for(parent, report.data, cases), plan.rule)
        cand_m = _measure(cand, cases, plan.rule)
        promoted, reason = plan.rule.decide(cur_m, cand_m)
        if promoted:
            set_current(plan.models, cand_dir)
            keep = True
        return RetrainDecision(
            started,
            run,
            str(plan.rule),
            _version_of(parent_dir),
            version,
            promoted,
            reason,
            cur_m,
            cand_m,
            len(cases),
            report.to_dict(),
            path=str(cand_dir) if promoted else None,
        )
    finally:  # a rejected candidate, or what a failed or interrupted run left
        shutil.rmtree(incoming, ignore_errors=True)
        if not keep:
            shutil.rmtree(export_dir, ignore_errors=True)
            if cand_dir is not None:
                shutil.rmtree(cand_dir, ignore_errors=True)


def _measure(model: Model, cases: EvalCases, rule: PromoteRule) -> dict[str, float]:
    """Full-ranking metrics at 10, 20 and the rule's k (seen items masked)."""
    ks = sorted({10, 20, rule.k})
    res = evaluate(model.recommender, cases, ks=ks, metrics=ACCURACY_METRICS)
    return {k: round(v, 6) for k, v in res.metrics.items()}


def _cases_for(model: Model, data: PreparedDataset, cases: EvalCases) -> EvalCases:
    """``cases`` (rows of ``data``) in the rows of ``model``, matched by item id.

    Items the model never had are left out of histories, and as targets become rows it
    cannot recommend (a miss), so both models answer for the same users and targets.
    """
    rows = np.zeros(data.n_items + 1, np.int64)
    rows[1:] = model.ids.items.lookup(data.item_vocab.ids.tolist(), missing=0)
    if model.recommender.n_items == data.n_items and np.array_equal(rows, np.arange(len(rows))):
        return cases
    # an unknown target gets a row past the model's items: distinct, never recommended
    unknown = np.arange(len(rows)) + model.recommender.n_items + 1

    def target(t: np.ndarray) -> np.ndarray:
        return np.sort(np.where(rows[t] > 0, rows[t], unknown[t]))

    feats = None
    if cases.features is not None:
        feats = []
        for f in cases.features:
            keep = rows[f["item_idx"]] > 0
            feats.append({c: (rows[v] if c == "item_idx" else v)[keep] for c, v in f.items()})
    hists = [rows[h][rows[h] > 0] for h in cases.histories]
    targets = [target(t) for t in cases.targets]
    return EvalCases(cases.users, hists, targets, cases.target_events, feats)


def _current(plan: RetrainPlan, copy: bool = True) -> Path:
    """The current model's directory; bootstrapped from ``plan.bootstrap`` when there is none."""
    link = plan.models / CURRENT_LINK
    found = current_model(plan.models)
    if found is not None:
        if not (found / "model.json").is_file():
            raise ConfigError(f"{link} points at {found}, which is not a model directory")
        return _check_warm(found)
    if link.exists():
        raise ConfigError(f"{link} is not a symlink; move it away and pass --bootstrap MODEL_DIR")
    if plan.bootstrap is None:
        raise ConfigError(
            f"{plan.models} has no '{CURRENT_LINK}' model: pass --bootstrap MODEL_DIR (the "
            "served model) on the first run"
        )
    src = _check_warm(check_model_dir(plan.bootstrap))
    if not copy:
        return src
    dest = plan.models / (_version_of(src) or f"bootstrap-{new_version()}")
    plan.models.mkdir(parents=True, exist_ok=True)
    if not dest.exists():
        shutil.copytree(src, dest, ignore=shutil.ignore_patterns("checkpoint"))
    set_current(plan.models, dest)
    log.info("bootstrapped %s from %s", dest, src)
    return dest.resolve()


def _check_warm(model_dir: Path) -> Path:
    """``model_dir`` when its model can be warm-started (a ``PrismRecommender`` kind)."""
    name = json.loads((model_dir / "model.json").read_text()).get("name")
    kinds = {n for n, c in registry().items() if issubclass(c, PrismRecommender)}
    if name not in kinds:
        raise ConfigError(
            f"{model_dir} is a {name} model; retraining warm-starts "
            f"{' and '.join(sorted(kinds))} models only"
        )
    return model_dir


def _version_of(model_dir: Path) -> str | None:
    manifest = read_manifest(model_dir)
    return manifest.version if manifest else None


def _current_version(models: Path) -> str | None:
    found = current_model(models)
    return _version_of(found) if found is not None and found.is_dir() else None


def _append(models: Path, decision: RetrainDecision) -> None:
    models.mkdir(parents=True, exist_ok=True)
    with (models / DECISION_LOG).open("a") as fh:
        fh.write(json.dumps(decision.to_dict(), default=str) + "\n")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
