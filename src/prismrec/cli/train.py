"""``prismrec train``: fit a model on a prepared dataset and save it with its metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from prismrec.cli._common import console, fail, guard, load_cfg
from prismrec.cli.model import ConfigOpt, DataOpt, metrics_table


def train(
    data: DataOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="model directory to write")],
    model: Annotated[str, typer.Option("--model", "-m", help="model name")] = "prism",
    config: ConfigOpt = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="training epochs")] = None,
    resume: Annotated[
        bool, typer.Option("--resume/--restart", help="continue from OUT/checkpoint if present")
    ] = True,
) -> None:
    """Train a model on a prepared dataset; validation metrics are stored with it.

    Trainable models checkpoint every epoch to OUT/checkpoint; after an interruption the same
    command resumes where it stopped.
    """
    from prismrec.data.dataset import PreparedDataset
    from prismrec.evaluation.protocol import evaluate as run_eval
    from prismrec.training import registry

    models = registry()
    if model not in models:
        raise fail(f"unknown model {model!r}; expected one of: {', '.join(sorted(models))}")
    with guard():
        cfg = load_cfg(config).with_overrides("train", epochs=epochs)
        ds = PreparedDataset.load(data)
        rec = models[model](cfg.model, cfg.train)
        ckpt = out / "checkpoint"
        if not resume and (ckpt / "last.pt").is_file():
            (ckpt / "last.pt").unlink()
        if hasattr(rec, "checkpoint_dir"):
            rec.checkpoint_dir = ckpt
        if hasattr(rec, "content_config") and config is not None:
            rec.content_config = cfg.content
        rec.fit(ds, upto="valid")
        from prismrec.training.trainer import dist_info

        if dist_info()[0] != 0:  # under torchrun only rank 0 evaluates and writes
            return
        res = run_eval(rec, ds.eval_cases("valid"), split="valid")
        rec.save(out, metrics={"valid": res.metrics})
    console.print(metrics_table(f"{model}: validation (full ranking, seen masked)", res.metrics))
    console.print(f"model saved to {out}")
