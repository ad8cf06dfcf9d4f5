"""``prismrec compare RUN_A RUN_B``: paired bootstrap interval and tests between two runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from prismrec.cli._common import console, deprecated, err_console, fail, guard, print_json

__all__ = ["compare"]


def compare(
    run_a: Annotated[
        Path, typer.Argument(metavar="RUN_A", help="report directory of run A (evaluate --report)")
    ],
    run_b: Annotated[Path, typer.Argument(metavar="RUN_B", help="report directory of run B")],
    metric: Annotated[
        list[str] | None,
        typer.Option(
            "--metric",
            metavar="METRIC",
            help="per-user metric to compare (repeatable; default ndcg@10)",
        ),
    ] = None,
    old_metric: Annotated[
        list[str] | None,
        typer.Option("-m", hidden=True, help="deprecated short form of --metric"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the comparison as JSON")] = False,
    n_boot: Annotated[int, typer.Option(min=100, help="bootstrap and permutation draws")] = 2000,
    seed: Annotated[int, typer.Option(help="seed of the resampling")] = 0,
) -> None:
    """Mean A, mean B, B - A with a 95% paired-bootstrap interval and paired p-values."""
    from prismrec.evaluation import compare_runs, load_run, protocol_label

    if old_metric:
        deprecated("compare -m METRIC", "--metric METRIC (-m is the model directory elsewhere)")
    metrics = [*(metric or []), *(old_metric or [])] or ["ndcg@10"]
    with guard():
        try:
            a, b = load_run(run_a), load_run(run_b)
            rows = compare_runs(
                a.user_ids, a.per_user, b.user_ids, b.per_user, metrics, n_boot, 0.05, seed
            )
        except (FileNotFoundError, KeyError, ValueError) as exc:
            raise fail(escape(str(exc.args[0] if exc.args else exc))) from None
    differs = _protocol_differences(a.protocol, b.protocol)
    if as_json:
        print_json(
            {
                "run_a": {"dir": str(run_a), "model": a.model, "protocol": a.protocol},
                "run_b": {"dir": str(run_b), "model": b.model, "protocol": b.protocol},
                "protocol_differences": differs,
                "comparisons": [r.to_dict() for r in rows],
            }
        )
        return
    console.print(
        f"A: {run_a} ({a.model}; {protocol_label(a.protocol)})", highlight=False, soft_wrap=True
    )
    console.print(
        f"B: {run_b} ({b.model}; {protocol_label(b.protocol)})", highlight=False, soft_wrap=True
    )
    if differs:
        err_console.print(
            f"[yellow]warning:[/] the runs differ in {', '.join(differs)}: the comparison "
            "mixes protocols"
        )
    console.print(_table(rows))


def _protocol_differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    keys = ("split", "ranking", "seen_items_masked", "negatives_seed")
    return [k for k in keys if a.get(k) != b.get(k)]


def _table(rows: list[Any]) -> Table:
    t = Table(title=f"paired comparison over {rows[0].n_users:,} common users" if rows else "")
    t.add_column("metric", no_wrap=True)
    for col in ("A", "B", "B - A", "95% CI", "p t-test", "p perm."):
        t.add_column(col, justify="right", no_wrap=col != "95% CI")
    for r in rows:
        t.add_row(
            r.metric,
            f"{r.mean_a:.4f}",
            f"{r.mean_b:.4f}",
            f"{r.diff:+.4f}",
            f"[{r.ci_low:+.4f}, {r.ci_high:+.4f}]",
            _p(r.p_ttest),
            _p(r.p_permutation),
        )
    return t


def _p(p: float) -> str:
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"
