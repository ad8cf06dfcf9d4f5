"""``prismrec interests``: every user's interests (weight, label, own top items) as JSON lines."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from prismrec.cli._common import DataOpt, EvalSplit, ModelDirOpt, console, guard
from prismrec.cli._tables import interests_table

__all__ = ["interests"]


def interests(
    model: ModelDirOpt,
    data: DataOpt,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="JSON-lines file to write (default: measures only)"),
    ] = None,
    split: Annotated[
        EvalSplit, typer.Option("--split", help="split name: whose users and histories")
    ] = EvalSplit.test,
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="own top items per interest")] = 20,
) -> None:
    """Each user's interests as JSON lines (weight, label, own top-k items with the history
    masked, external ids), and the means of the interest measures: how distinct the interests
    are and how much they are used (short-term weight, effective number, long-term share of
    the hits on the split's targets)."""
    from prismrec.api import Dataset, load
    from prismrec.evaluation.interest_export import export_interests

    with guard():
        m, ds = load(model), Dataset.load(data)
        m.check_data(ds)
        done = export_interests(m.recommender, ds.prepared, split.value, out, k)
    console.print(
        f"{m.name}: {done.n_interests} interests per user, {done.n_users:,} users of the "
        f"{split.value} split",
        highlight=False,
    )
    table = interests_table(done.means)
    if table is not None:
        console.print(table)
    if done.path is not None:
        console.print(f"wrote the interests of {done.n_users:,} users to {out}", highlight=False)
