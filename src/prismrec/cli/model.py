"""``prismrec recommend | evaluate``: one library call each (:mod:`prismrec.api`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from prismrec.cli._common import (
    DataOpt,
    EvalSplit,
    KOpt,
    MergeRule,
    ModelDirOpt,
    console,
    fail,
    guard,
    print_json,
)
from prismrec.cli._tables import interests_table, metrics_table, slices_table

__all__ = ["evaluate", "recommend"]

FilterSeenOpt = Annotated[
    bool,
    typer.Option("--filter-seen/--no-filter-seen", help="leave the user's history out of lists"),
]


def recommend(
    model: ModelDirOpt,
    data: Annotated[
        Path | None,
        typer.Option("--data", "-d", metavar="DATA_DIR", help="prepared dataset (batch mode)"),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="JSON-lines file to write (batch mode)")
    ] = None,
    split: Annotated[
        EvalSplit, typer.Option("--split", help="split name: whose target position to score")
    ] = EvalSplit.test,
    k: KOpt = 10,
    filter_seen: FilterSeenOpt = True,
    user: Annotated[
        str | None, typer.Option("--user", help="one user's external id (one-off answer)")
    ] = None,
    history: Annotated[
        str | None,
        typer.Option("--history", help="comma-separated item ids, oldest first (one-off answer)"),
    ] = None,
) -> None:
    """Top-K lists: every user of a split as JSON lines (--data, --out), or one answer for
    --user ID and/or --history ITEM,ITEM,... printed as JSON (external ids)."""
    from prismrec.api import Dataset, load

    if user is None and history is None:
        if data is None or out is None:
            raise fail(
                "give --data DATA_DIR and --out FILE.jsonl (every user of a split), or --user ID "
                "/ --history ITEM,ITEM,... (one answer)"
            )
        with guard():
            m, ds = load(model), Dataset.load(data)
            out.parent.mkdir(parents=True, exist_ok=True)
            n = 0
            with out.open("w") as fh:
                for line in m.recommend_split(ds, split.value, k, filter_seen):
                    fh.write(json.dumps(line) + "\n")
                    n += 1
        console.print(f"wrote top-{k} for {n:,} users to {out}", highlight=False)
        return
    items = [x.strip() for x in history.split(",") if x.strip()] if history is not None else None
    with guard():
        ranked = load(model).recommend_for(user, items, k, filter_seen)
    print_json({"user_id": user, "items": ranked})


def evaluate(
    model: ModelDirOpt,
    data: DataOpt,
    split: Annotated[
        EvalSplit, typer.Option("--split", help="split name to evaluate")
    ] = EvalSplit.test,
    as_json: Annotated[bool, typer.Option("--json", help="print metrics as JSON")] = False,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            metavar="REPORT_DIR",
            help="write metrics.json, per_user.npz, run.json and report.html here",
        ),
    ] = None,
    filter_seen: FilterSeenOpt = True,
    sampled: Annotated[
        int | None,
        typer.Option(
            "--sampled",
            min=1,
            help="rank the targets among N uniform sampled negatives instead of all items "
            "(labelled sampled-N everywhere)",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of sampled negatives and bootstrap")] = 0,
    baseline: Annotated[
        list[Path] | None,
        typer.Option(
            "--baseline",
            metavar="REPORT_DIR",
            help="another run's report dir to plot alongside (repeatable)",
        ),
    ] = None,
    facets: Annotated[
        Path | None,
        typer.Option(
            help="planted facets parquet (user_id, facet) for interest coverage; default: "
            "truth/facets.parquet next to the raw data, when there"
        ),
    ] = None,
    k: Annotated[
        list[int] | None,
        typer.Option(
            "--k",
            min=1,
            help="a cut-off (repeatable; default 10 and 20, or 20 and 50 on a users split)",
        ),
    ] = None,
    merge: Annotated[
        MergeRule | None,
        typer.Option(
            "--merge",
            help="prism with K > 1 interests: merge them by the weighted mixture, by each "
            "item's best interest score (max, ComiRec) or by quotas (default: the model's)",
        ),
    ] = None,
    category_lambda: Annotated[
        float | None,
        typer.Option(
            "--category-lambda",
            metavar="LAMBDA",
            help="build each list by ComiRec's category aggregation: greedily from the "
            "model's top 4N, score (standardised per user) + LAMBDA x category distance to "
            "the items already picked; 0 is the plain top N, more is more diverse (needs "
            "item categories)",
        ),
    ] = None,
) -> None:
    """Accuracy and beyond-accuracy metrics on a split, overall and per slice.

    The protocol follows the data's split: each user's next event(s) at @10/@20, or, on a
    users split ([data] split = "users", ComiRec-style data), the future-set protocol: held-out
    users' first 80% of events in, the rest as the target set, @20/@50.
    """
    from prismrec.api import evaluate as run_evaluate
    from prismrec.evaluation import protocol_label

    with guard():
        payload = run_evaluate(
            model,
            data,
            split.value,
            filter_seen=filter_seen,
            sampled=sampled,
            seed=seed,
            report=report,
            baselines=baseline,
            facets=facets,
            ks=k,
            merge=None if merge is None else merge.value,
            category_lambda=category_lambda,
        )
    if as_json:
        print_json(payload)
        return
    proto = payload["protocol"]
    name = proto.get("protocol", "leave-one-out")
    model_name = payload["model"] if name == "leave-one-out" else f"{payload['model']} ({name})"
    title = f"{model_name}: {protocol_label(proto)}"
    console.print(metrics_table(title, payload, tuple(proto.get("ks", (10, 20)))))
    table = interests_table(payload)
    if table is not None:
        console.print(table)
    console.print(slices_table(payload.get("slices", {}), min(proto.get("ks", (10,)))))
    if report is not None:
        console.print(f"report written to {report / 'report.html'}", highlight=False)
