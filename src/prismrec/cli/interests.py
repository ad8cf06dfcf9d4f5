"""``prismrec interests``: every user's interests (weight, label, own top items) as JSON lines."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from prismrec.cli._common import check_same_items, console, fail, guard
from prismrec.cli.model import DataOpt, ModelDirOpt, interests_table

SPLITS = ("valid", "test")


def interests(
    model: ModelDirOpt,
    data: DataOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="JSON-lines file to write")],
    split: Annotated[
        str, typer.Option(help="whose users and histories: valid or test", show_default=True)
    ] = "test",
    k: Annotated[int, typer.Option("-k", min=1, help="own top items per interest")] = 20,
) -> None:
    """Each user's K interests as JSON lines (weight, label, own top-k items with the history
    masked, external ids), and the interest distinctness means."""
    from prismrec.data.dataset import PreparedDataset
    from prismrec.evaluation.interest_export import export_interests
    from prismrec.training import load_model

    if split not in SPLITS:
        raise fail(f"--split {split!r}: expected one of {', '.join(SPLITS)}", 2)
    with guard():
        rec = load_model(model)
        ds = PreparedDataset.load(data)
        check_same_items(rec, ds)
        done = export_interests(rec, ds, split, out, k)
    console.print(
        f"{rec.name}: {done.n_interests} interests per user, {done.n_users:,} users of the "
        f"{split} split"
    )
    table = interests_table(done.means)
    if table is not None:
        console.print(table)
    console.print(f"wrote the interests of {done.n_users:,} users to {out}")
