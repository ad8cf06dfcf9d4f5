"""``prismrec.tune``: a hyper-parameter search with Optuna over the keys ``[tune] space`` names.

Each trial trains the model on the training part with the trial's ``[model]``/``[train]``
values and is scored by NDCG@10 on the validation split (the signal training stops on);
a trial whose validation NDCG@10 after an epoch falls below the median of the earlier trials
at that epoch is pruned. The study lives in an Optuna storage (SQLite by default, or any
database Optuna supports), so a second run resumes it and several processes or machines can
work on one study at once. The best values are written as a TOML config that ``train
--config`` takes, with a report of every trial, the parameters' importances and a plot.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

from prismrec.api.data import ConfigLike, Dataset, as_config
from prismrec.config import PARAM_SECTIONS, PrismConfig, SearchRange, to_toml
from prismrec.errors import ConfigError

__all__ = ["TuneResult", "tune"]

log = logging.getLogger(__name__)


class TuneResult(dict[str, Any]):
    """What :func:`tune` found: ``best_value``, ``best_params``, ``trials`` (one dict each),
    ``importances`` and the paths it wrote (``config``, ``report``, ``plot``)."""


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise ConfigError("prismrec tune needs Optuna: pip install 'prismrec[tune]'") from None
    return optuna


def _is_int(section: str, key: str) -> bool:
    return PARAM_SECTIONS[section].model_fields[key].annotation in (int, "int")


def suggest(trial: Any, name: str, dim: SearchRange) -> Any:
    """The trial's value of ``name`` (``section.key``) drawn from ``dim``."""
    if dim.choices is not None:
        return trial.suggest_categorical(name, list(dim.choices))
    section, _, key = name.partition(".")
    assert dim.low is not None and dim.high is not None  # checked by SearchRange
    if _is_int(section, key):
        step = int(dim.step or 1)
        return trial.suggest_int(name, int(dim.low), int(dim.high), step=step, log=dim.log)
    return trial.suggest_float(name, dim.low, dim.high, step=dim.step, log=dim.log)


def tune(
    data: Dataset | str | Path,
    out: str | Path,
    model_type: str = "prism",
    *,
    config: ConfigLike = None,
    trials: int | None = None,
    timeout_s: float | None = None,
    epochs: int | None = None,
) -> TuneResult:
    """Search ``[tune] space`` for the values with the best validation NDCG@10.

    Args:
        data: a :class:`Dataset` or a prepared dataset directory.
        out: where ``best.toml``, ``report.json``, ``history.png`` (and, without a
            ``[tune] storage``, the study's ``study.db``) go.
        model_type: a registered model (``prism``, ``sasrec``, ``bpr``, ``itemknn``, ``pop``).
        config: the base configuration (its ``[tune]`` table holds the search).
        trials: overrides ``[tune] trials``.
        timeout_s: overrides ``[tune] timeout_s``.
        epochs: overrides ``[train] epochs`` for every trial.

    Raises:
        ConfigError: Optuna is missing, an unknown model type, or a bad ``[tune]`` table.
    """
    from prismrec.evaluation.protocol import evaluate
    from prismrec.training.base import registry

    optuna = _optuna()
    models = registry()
    if model_type not in models:
        raise ConfigError(
            f"unknown model type {model_type!r}; use one of: {', '.join(sorted(models))}"
        )
    base = as_config(config).with_overrides("train", epochs=epochs)
    tc = base.tune
    ds = data if isinstance(data, Dataset) else Dataset.load(data)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    storage = tc.storage or f"sqlite:///{(out_dir / 'study.db').resolve()}"
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2)
        if tc.pruning
        else optuna.pruners.NopPruner()
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(
            study_name=tc.study,
            storage=storage,
            load_if_exists=True,
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=tc.sampler_seed),
            pruner=pruner,
        )
    except Exception as exc:  # a bad URL, an unreachable database, a missing driver
        raise ConfigError(f"cannot open the study storage {storage!r}: {exc}") from None
    valid = ds.prepared.eval_cases("valid")

    def objective(trial: Any) -> float:
        params = {name: suggest(trial, name, dim) for name, dim in tc.space.items()}
        cfg = base.with_params(params)  # a ConfigError for a combination the config refuses

        def report(step: int, value: float) -> None:
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"validation NDCG@10 {value:.4f} at step {step}")

        rec = models[model_type](cfg.model, cfg.train, on_validation=report)
        t0 = time.perf_counter()
        rec.fit(ds.prepared, upto="valid")
        trial.set_user_attr("seconds", time.perf_counter() - t0)
        value = float(evaluate(rec, valid, ks=(10,), split="valid").metrics["ndcg@10"])
        log.info("trial %d: valid ndcg@10 %.4f with %s", trial.number, value, params)
        return value

    study.optimize(
        objective,
        n_trials=trials if trials is not None else tc.trials,
        timeout=timeout_s if timeout_s is not None else tc.timeout_s,
        catch=(ConfigError,),  # a combination the model refuses fails that trial only
        gc_after_trial=True,
    )
    return _write(study, base, model_type, out_dir, optuna)


def _write(study: Any, base: PrismConfig, model_type: str, out: Path, optuna: Any) -> TuneResult:
    """best.toml, report.json and history.png of a study."""
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    rows = [
        {
            "number": t.number,
            "state": t.state.name.lower(),
            "value": t.value,
            "params": t.params,
            "seconds": t.user_attrs.get("seconds"),
        }
        for t in study.trials
    ]
    result = TuneResult(study=study.study_name, model_type=model_type, trials=rows)
    if not done:
        raise ConfigError(
            f"no trial of study {study.study_name!r} completed ({len(rows)} ran; failed or "
            "pruned): widen [tune] space or give more trials"
        )
    best = study.best_trial
    importances: dict[str, float] = {}
    if len(done) >= 2 and len(best.params) >= 1:
        try:
            importances = {
                k: float(v) for k, v in optuna.importance.get_param_importances(study).items()
            }
        except (RuntimeError, ValueError) as exc:  # e.g. every value equal
            log.info("no parameter importances: %s", exc)
    cfg = base.with_params(best.params)
    sections = {
        s: getattr(cfg, s).model_dump(exclude_unset=True, mode="json") for s in ("model", "train")
    }
    header = (
        f"# prismrec tune: best of {len(done)} completed trials of study {study.study_name!r}, "
        f"validation NDCG@10 {best.value:.4f}\n# prismrec train --model-type {model_type} "
        "--config THIS_FILE\n"
    )
    (out / "best.toml").write_text(header + to_toml(sections))
    result.update(
        best_value=best.value,
        best_params=best.params,
        best_trial=best.number,
        importances=importances,
        config=str(out / "best.toml"),
        report=str(out / "report.json"),
        plot=str(out / "history.png"),
    )
    (out / "report.json").write_text(json.dumps(result, indent=2, default=str))
    _plot(rows, out / "history.png")
    return result


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Each completed trial's validation NDCG@10 and the best so far."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    xs = [r["number"] for r in rows if r["value"] is not None]
    ys = [r["value"] for r in rows if r["value"] is not None]
    best, run = [], -math.inf
    for y in ys:
        run = max(run, y)
        best.append(run)
    ax.scatter(xs, ys, s=14, label="trial")
    ax.step(xs, best, where="post", color="C1", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel("validation NDCG@10")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
