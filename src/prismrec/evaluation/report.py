"""Evaluation run directories: ``metrics.json``, ``per_user.npz``, ``run.json``, PNGs, HTML.

A report directory is everything needed to compare runs later (``prismrec compare A B`` reads
``per_user.npz``) and to reproduce one (``run.json`` holds config, data checksum, split seed,
code and library versions).
"""

from __future__ import annotations

import json
import logging
import math
import platform
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from prismrec import __version__
from prismrec.evaluation._html import Page, render_page
from prismrec.evaluation._plots import (
    ItemMap,
    plot_interest_distributions,
    plot_interest_map,
    plot_item_map,
    plot_metric_bars,
    plot_slices,
    plot_tradeoff,
    plot_training_curves,
)
from prismrec.evaluation.interest_use import pooled_long_hit_shares
from prismrec.evaluation.interests import is_interest_metric
from prismrec.evaluation.protocol import FullResult
from prismrec.evaluation.significance import bootstrap_cis

__all__ = [
    "HEADLINE_METRICS",
    "json_safe",
    "ItemMap",
    "Run",
    "load_run",
    "metrics_payload",
    "protocol_label",
    "run_record",
    "save_per_user",
    "write_report",
]

log = logging.getLogger(__name__)
HEADLINE_METRICS = (
    "ndcg@10",
    "recall@10",
    "mrr@10",
    "hr@10",
    "ild@10",
    "category_coverage@10",
    "novelty@10",
    "interest_coverage@20",
)
LIBRARIES = ("numpy", "polars", "scipy", "torch", "matplotlib")


def headline_metrics(metrics: Mapping[str, Any], ks: Sequence[int]) -> list[str]:
    """The headline metrics a run has: :data:`HEADLINE_METRICS` at 10, or at the run's
    smallest cut-off when it has no @10 (the future-set protocol's 20 and 50)."""
    cut = 10 if 10 in ks or not ks else min(ks)
    names = [
        m if m.startswith("interest_") else f"{m.split('@')[0]}@{cut}" for m in HEADLINE_METRICS
    ]
    return [m for m in names if m in metrics]


def protocol_label(protocol: Mapping[str, Any]) -> str:
    """One line such as ``test split, full ranking, seen items masked, 610 users``."""
    ranking = str(protocol.get("ranking", "full"))
    ranking = "full ranking" if ranking == "full" else f"{ranking} ranking"
    seen = "masked" if protocol.get("seen_items_masked", True) else "kept"
    lam = protocol.get("category_lambda")
    ranking += "" if lam is None else f", category aggregation λ={lam:g}"
    return (
        f"{protocol.get('split', '?')} split, {ranking}, seen items {seen}, "
        f"{int(protocol.get('n_users', 0)):,} users"
    )


def json_safe(obj: Any) -> Any:
    """JSON-safe copy: NaN and infinities become ``null``, numpy scalars plain numbers."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def metrics_payload(
    result: FullResult, model: str, cis: Mapping[str, tuple[float, float]] | None = None
) -> dict[str, Any]:
    """The ``metrics.json`` content: flat metrics, ``model``, ``slices``, ``protocol``, ``ci``.

    With ``long_hit_share@N`` per user, also ``long_hit_share_pooled@N``: the long-term share
    of all users' hits together.
    """
    payload = {"model": model, **result.to_dict(), **pooled_long_hit_shares(result.per_user)}
    if cis:
        payload["ci"] = {k: list(v) for k, v in cis.items()}
    return json_safe(payload)


# ----- per-user arrays and runs -----------------------------------------------------------------
def save_per_user(path: Path, user_ids: Sequence[str], per_user: Mapping[str, np.ndarray]) -> Path:
    """``user_id`` (external ids) plus one float array per metric, as an ``.npz``."""
    arrays: dict[str, Any] = {k: np.asarray(v, dtype=np.float64) for k, v in per_user.items()}
    np.savez(path, user_id=np.asarray([str(u) for u in user_ids], dtype=str), **arrays)
    return path


@dataclass
class Run:
    """A report directory read back."""

    root: Path
    model: str
    user_ids: list[str]
    per_user: dict[str, np.ndarray]
    metrics: dict[str, Any]
    protocol: dict[str, Any]


def load_run(root: str | Path) -> Run:
    """Read ``metrics.json`` and ``per_user.npz`` of a report directory.

    Raises:
        FileNotFoundError: the directory has no ``per_user.npz`` (not written by
            ``prismrec evaluate --report``).
    """
    r = Path(root)
    npz = r / "per_user.npz"
    if not npz.is_file():
        raise FileNotFoundError(
            f"{r}: no per_user.npz; write a run with 'prismrec evaluate ... --report {r}'"
        )
    with np.load(npz, allow_pickle=False) as z:
        ids = [str(u) for u in z["user_id"]]
        per_user = {k: z[k] for k in z.files if k != "user_id"}
    metrics = json.loads((r / "metrics.json").read_text()) if (r / "metrics.json").is_file() else {}
    return Run(
        r, str(metrics.get("model", r.name)), ids, per_user, metrics, metrics.get("protocol", {})
    )


# ----- reproducibility --------------------------------------------------------------------------
def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = None
    return out


def run_record(
    protocol: Mapping[str, Any],
    schema: Mapping[str, Any],
    model_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What ``run.json`` holds: model and data config, data checksum, split seed, versions."""
    meta: dict[str, Any] = {}
    if model_dir is not None and (Path(model_dir) / "model.json").is_file():
        meta = json.loads((Path(model_dir) / "model.json").read_text())
    split = {k: v for k, v in dict(schema.get("split", {})).items() if k != "cold_items"}
    cold = dict(schema.get("split", {})).get("cold_items")
    if cold is not None:
        split["n_cold_items"] = len(cold)
    data_cfg = dict(schema.get("config", {}))
    return json_safe(
        {
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "protocol": dict(protocol),
            "model": {
                "dir": str(model_dir) if model_dir is not None else None,
                "name": meta.get("name"),
                "config": meta.get("model"),
                "train": meta.get("train"),
                "prismrec_version": meta.get("prismrec_version"),
            },
            "data": {
                "dir": str(data_dir) if data_dir is not None else None,
                "source_md5": schema.get("source_md5"),
                "sources": schema.get("sources"),
                "split": split,
                "split_seed": data_cfg.get("seed", split.get("seed")),
                "config": data_cfg,
            },
            "code": {"prismrec_version": __version__, "git_commit": _git_commit()},
            "libraries": _versions(),
            **dict(extra or {}),
        }
    )


# ----- the report -------------------------------------------------------------------------------
def _with_ci(
    means: Mapping[str, float], per_user: Mapping[str, np.ndarray], n_boot: int, seed: int
) -> dict[str, tuple[float, float, float]]:
    cis = bootstrap_cis(per_user, n_boot, seed=seed)
    return {k: (float(means[k]), *cis[k]) for k in cis if k in means}


def write_report(
    out_dir: str | Path,
    result: FullResult,
    *,
    model: str,
    user_ids: Sequence[str],
    run: Mapping[str, Any] | None = None,
    history: Sequence[Mapping[str, float]] | None = None,
    baselines: Mapping[str, Run] | None = None,
    curve: Sequence[tuple[float, float, float]] | None = None,
    item_map: ItemMap | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Path]:
    """Write ``metrics.json``, ``per_user.npz``, ``run.json``, the PNGs and ``report.html``.

    Args:
        out_dir: the report directory (created).
        result: from :func:`prismrec.evaluation.protocol.evaluate_full`.
        model: model name shown in tables and plots.
        user_ids: external id of every row of ``result.per_user``.
        run: the reproducibility record (:func:`run_record`).
        history: per-epoch training records (``model.json`` ``history``); empty: no curves.
        baselines: other runs (report directories read back) drawn next to this one.
        curve: ``(strength, accuracy, diversity)`` points of a re-ranker; ``None``: skipped.
        item_map: what the item map draws; ``None``: skipped.
        n_boot: bootstrap resamples of the confidence intervals.
        seed: bootstrap seed.

    Returns:
        Name -> path of every file written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stats = _with_ci(result.metrics, result.per_user, n_boot, seed)
    payload = metrics_payload(result, model, {k: (v[1], v[2]) for k, v in stats.items()})
    files = {"metrics.json": out / "metrics.json", "per_user.npz": out / "per_user.npz"}
    files["metrics.json"].write_text(json.dumps(payload, indent=2))
    save_per_user(files["per_user.npz"], user_ids, result.per_user)
    if run is not None:
        files["run.json"] = out / "run.json"
        files["run.json"].write_text(json.dumps(json_safe(dict(run)), indent=2))
    models = {model: stats}
    for name, other in (baselines or {}).items():
        means = {k: float(np.nanmean(v)) for k, v in other.per_user.items() if len(v)}
        models[name] = _with_ci(means, other.per_user, n_boot, seed)
    figures, notes = _figures(out, result, models, history, curve, item_map, seed)
    interest_figs = _interest_figures(out, result, item_map, seed)
    files.update({f.name: f for f, _ in [*figures, *interest_figs]})
    page = Page(
        model=model,
        protocol=protocol_label(payload["protocol"]),
        payload=payload,
        stats=stats,
        figures=figures,
        notes=notes,
        interest_figures=interest_figs,
        run=json_safe(dict(run)) if run is not None else None,
        baselines={n: protocol_label(r.protocol) for n, r in (baselines or {}).items()},
    )
    files["report.html"] = out / "report.html"
    files["report.html"].write_text(render_page(page), encoding="utf-8")
    log.info("wrote evaluation report to %s", out)
    return files


def _figures(
    out: Path,
    result: FullResult,
    models: Mapping[str, Mapping[str, tuple[float, float, float]]],
    history: Sequence[Mapping[str, float]] | None,
    curve: Sequence[tuple[float, float, float]] | None,
    item_map: ItemMap | None,
    seed: int,
) -> tuple[list[tuple[Path, str]], list[str]]:
    """Write the PNGs; return (path, caption) pairs and notes on the figures left out."""
    figs: list[tuple[Path, str]] = []
    notes: list[str] = []
    shown = headline_metrics(result.metrics, result.protocol.get("ks", (10,)))
    figs.append((plot_metric_bars(out / "metrics.png", models, shown), "Metrics per model"))
    lead = next((m for m in shown if m.startswith("ndcg@")), None)
    if lead is not None and any(s.get("n_users") for s in result.slices.values()):
        figs.append(
            (
                plot_slices(out / "slices.png", result.metrics, result.slices, lead),
                f"{lead.replace('ndcg', 'NDCG')} overall and per slice",
            )
        )
    if curve:
        png = plot_tradeoff(out / "tradeoff.png", curve, "ndcg@10", "ild@10")
        figs.append((png, "Accuracy-diversity curve as the re-ranking strength varies"))
    else:
        notes.append(
            "Accuracy-diversity curve: not included, the model has no re-ranker "
            "(diversity re-ranking comes with the serving layer)."
        )
    if history:
        png = plot_training_curves(out / "training.png", history)
        figs.append((png, "Training curves from the checkpoint's history"))
    else:
        notes.append("Training curves: not included, the checkpoint has no per-epoch history.")
    if item_map is not None:
        png = plot_item_map(out / "item_map.png", item_map, seed=seed)
        figs.append((png, "Item map: PCA of item vectors, one user's history, top-K, interests"))
    else:
        notes.append("Item map: not included, no item vectors or categories to draw.")
    return figs, notes


def _interest_figures(
    out: Path, result: FullResult, item_map: ItemMap | None, seed: int
) -> list[tuple[Path, str]]:
    """The interest measures' distributions and one user's interests on the item map."""
    measures = {k: v for k, v in result.per_user.items() if is_interest_metric(k)}
    if not measures:
        return []
    png = plot_interest_distributions(out / "interests.png", measures)
    figs = [(png, "Interest distinctness over users (dashed: mean)")]
    if item_map is not None and item_map.interests is not None and len(item_map.interests) > 1:
        png = plot_interest_map(out / "interest_map.png", item_map, seed=seed)
        figs.append((png, f"User {item_map.user}'s interests and their own top items"))
    return figs
