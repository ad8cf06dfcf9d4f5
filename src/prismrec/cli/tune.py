"""``prismrec tune``: search hyper-parameters with Optuna; write the best as a config file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from prismrec.cli._common import ConfigOpt, DataOpt, console, guard
from prismrec.cli.train import MODEL_TYPES

__all__ = ["tune"]


def tune(
    data: DataOpt,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            metavar="DIR",
            help="where best.toml, report.json, history.png (and study.db) go",
        ),
    ],
    model_type: Annotated[
        str,
        typer.Option(
            "--model-type", "-t", metavar="TYPE", help=f"what to tune: {', '.join(MODEL_TYPES)}"
        ),
    ] = "prism",
    config: ConfigOpt = None,
    trials: Annotated[
        int | None, typer.Option(min=1, help="trials to run now (overrides [tune] trials)")
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(min=1, metavar="SECONDS", help="start no trial after this (overrides [tune])"),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(min=1, help="most epochs per trial (overrides [train])")
    ] = None,
) -> None:
    """Search the [tune] space of the config (Optuna TPE, median pruning on validation NDCG@10).

    The study is kept in [tune] storage (default OUT/study.db): running the command again
    adds trials to it, and several processes or machines given one database URL share it.
    The best values go to OUT/best.toml, for 'prismrec train --config OUT/best.toml'.
    """
    from prismrec.api.tuning import tune as run_tune

    with guard():
        result = run_tune(
            data, out, model_type, config=config, trials=trials, timeout_s=timeout, epochs=epochs
        )
    t = Table(title=f"study {result['study']!r}: {len(result['trials'])} trials")
    names = sorted(result["best_params"])
    for col in ("trial", "state", "valid NDCG@10", *names, "seconds"):
        t.add_column(col, justify="right")
    for row in result["trials"]:
        value = "" if row["value"] is None else f"{row['value']:.4f}"
        if row["number"] == result["best_trial"]:
            value = f"[bold]{value}[/]"
        params = [_fmt(row["params"].get(n)) for n in names]
        secs = "" if row["seconds"] is None else f"{row['seconds']:.0f}"
        t.add_row(str(row["number"]), row["state"], value, *params, secs)
    console.print(t)
    if result["importances"]:
        ranked = ", ".join(f"{k} {v:.2f}" for k, v in result["importances"].items())
        console.print(f"importance: {ranked}", highlight=False)
    console.print(
        f"best: trial {result['best_trial']}, validation NDCG@10 {result['best_value']:.4f}; "
        f"wrote {result['config']}, {result['report']}, {result['plot']}",
        highlight=False,
    )


def _fmt(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)
