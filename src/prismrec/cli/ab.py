"""``prismrec ab ...``: the A/B test a service records in its store."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from prismrec.cli._common import PrefixOpt, StoreOpt, console, guard, print_json

app = typer.Typer(help="A/B tests of two served models.", no_args_is_help=True)


def _pct(x: float) -> str:
    return "-" if x != x else f"{100 * x:.2f}%"  # NaN: nothing served yet


@app.command()
def report(
    store: StoreOpt,
    prefix: PrefixOpt = "prismrec:",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Per variant: lists served, lists a later event hit, hit rate with its 95% interval,
    distinct items served; then the candidate's hit rate minus the control's."""
    from prismrec.serving.lifecycle.ab import report as ab_report

    with guard():
        rep = ab_report(store, prefix=prefix)
    if as_json:
        print_json(rep.to_dict())
        return
    t = Table(title=f"A/B test in {store}")
    for col in ("variant", "lists", "hits", "hit rate", "95% interval", "items served"):
        t.add_column(col, justify="left" if col == "variant" else "right")
    for v in rep.variants:
        interval = f"{_pct(v.ci_low)} .. {_pct(v.ci_high)}"
        t.add_row(v.variant, f"{v.lists:,}", f"{v.hits:,}", _pct(v.hit_rate), interval,
                  f"{v.items_served:,}")  # fmt: skip
    console.print(t)
    console.print(
        f"candidate - control: {_pct(rep.diff)} (95% interval {_pct(rep.diff_low)} .. "
        f"{_pct(rep.diff_high)})",
        highlight=False,
    )
