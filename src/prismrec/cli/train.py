"""``prismrec train``: fit a model on a prepared dataset and save it with its metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from prismrec.cli._common import ConfigOpt, DataOpt, console, deprecated, fail, guard
from prismrec.cli._tables import metrics_table

__all__ = ["train"]

MODEL_TYPES = ("prism", "sasrec", "bpr", "itemknn", "pop")


def train(
    data: DataOpt,
    out: Annotated[
        Path, typer.Option("--out", "-o", metavar="MODEL_DIR", help="model directory to write")
    ],
    model_type: Annotated[
        str | None,
        typer.Option(
            "--model-type",
            "-t",
            metavar="TYPE",
            help=f"what to train: {', '.join(MODEL_TYPES)} (default: prism, or the type of "
            "the --warm-start model)",
        ),
    ] = None,
    old_model: Annotated[
        str | None,
        typer.Option("--model", "-m", hidden=True, help="deprecated spelling of --model-type"),
    ] = None,
    config: ConfigOpt = None,
    epochs: Annotated[
        int | None, typer.Option(min=1, help="training epochs (overrides [train])")
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(
            "--device",
            metavar="DEVICE",
            help="auto (a GPU when torch sees one), cpu, cuda or cuda:N (overrides [train])",
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume/--restart", help="continue from OUT/checkpoint if present")
    ] = True,
    warm_start: Annotated[
        Path | None,
        typer.Option(
            "--warm-start",
            metavar="MODEL_DIR",
            help="continue from this model (prism, sasrec): its weights for the items it "
            "knows, content for new ones; --data must share its ids ('data export')",
        ),
    ] = None,
) -> None:
    """Train a model on a prepared dataset; validation metrics are stored with it.

    Trainable models checkpoint every epoch to OUT/checkpoint; after an interruption the same
    command resumes where it stopped.
    """
    from prismrec.api import train as run_train
    from prismrec.training.trainer import dist_info

    if old_model is not None:
        deprecated("train --model NAME", "--model-type NAME")
        model_type = old_model
    if (out / "schema.json").is_file() and not (out / "model.json").is_file():
        raise fail(
            f"{out} is a prepared dataset; write the model to a directory of its own, e.g. "
            f"--out {out}-{model_type or 'prism'}"
        )
    if warm_start is not None and out.resolve() == warm_start.resolve():
        raise fail(f"--out {out} is the --warm-start model; write the new model elsewhere")
    with guard():
        model = run_train(
            data,
            model_type,
            config=config,
            out=out,
            epochs=epochs,
            resume=resume,
            warm_start=warm_start,
            **({"device": device} if device is not None else {}),
        )
    if dist_info()[0] != 0:
        return
    title = f"{model.name}: validation (full ranking, seen masked)"
    console.print(metrics_table(title, model.metrics.get("valid", {})))
    version = model.recommender.version
    parent = model.recommender.parent_version
    note = f" (version {version}" + (f", warm-started from {parent})" if parent else ")")
    console.print(f"model saved to {out}{note if version else ''}", highlight=False)
