"""``prismrec train | recommend | evaluate``: one library call each."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from prismrec.cli._common import console, fail, guard, load_cfg, print_json


class EvalSplit(str, Enum):
    valid = "valid"
    test = "test"


ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="TOML config file")]
DataOpt = Annotated[Path, typer.Option("--data", "-d", help="prepared dataset directory")]
ModelDirOpt = Annotated[Path, typer.Option("--model", "-m", help="trained model directory")]


def metrics_table(title: str, metrics: dict[str, float], ks: tuple[int, ...] = (10, 20)) -> Table:
    """Rows: metric names; columns: cut-offs."""
    t = Table(title=title)
    t.add_column("metric")
    for k in ks:
        t.add_column(f"@{k}", justify="right")
    names = sorted(
        {key.split("@")[0] for key in metrics if "@" in key},
        key=lambda m: (
            ("ndcg", "recall", "mrr", "hr", "precision", "map").index(m)
            if m in ("ndcg", "recall", "mrr", "hr", "precision", "map")
            else 99
        ),
    )
    for name in names:
        t.add_row(
            name,
            *[f"{metrics[f'{name}@{k}']:.4f}" if f"{name}@{k}" in metrics else "-" for k in ks],
        )
    return t


def train(
    data: DataOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="model directory to write")],
    model: Annotated[str, typer.Option("--model", "-m", help="model name")] = "itemknn",
    config: ConfigOpt = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="training epochs")] = None,
) -> None:
    """Train a model on a prepared dataset; validation metrics are stored with it."""
    from prismrec.data.dataset import PreparedDataset
    from prismrec.evaluation.protocol import evaluate as run_eval
    from prismrec.training import registry

    models = registry()
    if model not in models:
        raise fail(f"unknown model {model!r}; expected one of: {', '.join(sorted(models))}")
    with guard():
        cfg = load_cfg(config).with_overrides("train", epochs=epochs)
        ds = PreparedDataset.load(data)
        rec = models[model](cfg.model, cfg.train).fit(ds, upto="valid")
        res = run_eval(rec, ds.eval_cases("valid"), split="valid")
        rec.save(out, metrics={"valid": res.metrics})
    console.print(metrics_table(f"{model}: validation (full ranking, seen masked)", res.metrics))
    console.print(f"model saved to {out}")


def recommend(
    model: ModelDirOpt,
    data: DataOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="JSON-lines file to write")],
    split: Annotated[
        EvalSplit, typer.Option(help="whose target position to score")
    ] = EvalSplit.test,
    k: Annotated[int, typer.Option("-k", min=1, help="list length")] = 10,
    filter_seen: Annotated[bool, typer.Option("--filter-seen/--no-filter-seen")] = True,
) -> None:
    """Write the top-K per user at the split's target position (external ids) as JSON lines."""
    from prismrec.data.dataset import PreparedDataset
    from prismrec.evaluation.protocol import rank_cases
    from prismrec.training import load_model

    with guard():
        rec = load_model(model)
        ds = PreparedDataset.load(data)
        _check_same_items(rec, ds)
        cases = ds.eval_cases(split.value)
        ids, scores = rank_cases(rec, cases, k, filter_seen)
        users = ds.user_vocab.external(cases.users)
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w") as fh:
            for u, row, sc in zip(users, ids, scores, strict=True):
                ok = sc > -float("inf")
                fh.write(
                    json.dumps(
                        {
                            "user_id": u,
                            "items": ds.item_vocab.external(row[ok]),
                            "scores": [round(float(x), 6) for x in sc[ok]],
                        }
                    )
                    + "\n"
                )
    console.print(f"wrote top-{k} for {len(users):,} users to {out}")


def evaluate(
    model: ModelDirOpt,
    data: DataOpt,
    split: Annotated[EvalSplit, typer.Option(help="split to evaluate")] = EvalSplit.test,
    as_json: Annotated[bool, typer.Option("--json", help="print metrics as JSON")] = False,
    report: Annotated[Path | None, typer.Option(help="directory for metrics.json")] = None,
    filter_seen: Annotated[bool, typer.Option("--filter-seen/--no-filter-seen")] = True,
) -> None:
    """Full-ranking metrics (Recall, NDCG, MRR, HR, Precision, MAP @10/@20) on a split."""
    from prismrec.data.dataset import PreparedDataset
    from prismrec.evaluation.protocol import evaluate as run_eval
    from prismrec.training import load_model

    with guard():
        rec = load_model(model)
        ds = PreparedDataset.load(data)
        _check_same_items(rec, ds)
        res = run_eval(rec, ds.eval_cases(split.value), filter_seen=filter_seen, split=split.value)
    payload: dict[str, Any] = res.to_dict()
    payload["model"] = rec.name
    if report is not None:
        report.mkdir(parents=True, exist_ok=True)
        (report / "metrics.json").write_text(json.dumps(payload, indent=2))
    if as_json:
        print_json(payload)
    else:
        console.print(
            metrics_table(
                f"{rec.name} on {split.value} ({len(res.per_user['hr@10']):,} "
                f"users, full ranking, seen "
                f"{'masked' if filter_seen else 'kept'})",
                res.metrics,
            )
        )


def _check_same_items(rec: Any, ds: Any) -> None:
    from prismrec.errors import DataError

    if rec.n_items != ds.n_items:
        raise DataError(
            f"the model was trained on {rec.n_items} items but {ds.root} has "
            f"{ds.n_items}: use the prepared dataset the model was trained on"
        )
