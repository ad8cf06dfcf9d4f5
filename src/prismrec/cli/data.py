"""``prismrec data ...``: check, prepare and synthesise datasets."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from prismrec.cli._common import (
    ConfigOpt,
    DataOpt,
    HoldoutOpt,
    PrefixOpt,
    StoreOpt,
    TombstoneSecretOpt,
    console,
    deprecated,
    err_console,
    guard,
    print_json,
)

if TYPE_CHECKING:
    from prismrec.data.loaders import LoadResult
    from prismrec.data.problems import Problem

app = typer.Typer(help="Check, prepare and synthesise datasets.", no_args_is_help=True)


class Format(str, Enum):
    movielens_100k = "movielens-100k"
    movielens_latest = "movielens-latest"
    recbole = "recbole"
    taobao = "taobao"
    tianchi = "tianchi"
    seqtxt = "seqtxt"
    pairtxt = "pairtxt"
    comirec = "comirec"
    csv = "csv"
    parquet = "parquet"
    jsonl = "jsonl"


class Engine(str, Enum):
    polars = "polars"
    spark = "spark"


class Split(str, Enum):
    loo = "loo"
    ratio = "ratio"
    temporal = "temporal"
    cold_items = "cold-items"
    users = "users"


FormatOpt = Annotated[
    Format | None, typer.Option("--format", "-f", help="data format (detected when omitted)")
]


@app.command()
def check(
    path: Annotated[
        str, typer.Argument(help="file or directory to check (or bundled:ml-latest-small)")
    ],
    format: FormatOpt = None,
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON report")] = False,
) -> None:
    """Validate a dataset: report every bad row (file, line, column, value, expected)."""
    from prismrec.config import load_config
    from prismrec.data.loaders import load

    with guard():
        cfg = load_config(config)
        result = load(path, format.value if format else None, cfg.data)
    problems = result.problems.sorted()
    if as_json:
        print_json(
            {
                "rows_ok": result.rows_ok,
                "rows_bad": result.rows_bad,
                "counts": dict(result.problems.counts),
                "errors": [p.to_dict() for p in problems],
            }
        )
    else:
        _print_check(result, problems)
    if result.problems.n_problems:
        raise typer.Exit(1)


def _print_check(result: LoadResult, problems: list[Problem]) -> None:
    ds = result.dataset
    t = Table(title="data check", show_header=False)
    t.add_row("rows ok", f"{result.rows_ok:,}")
    t.add_row("rows bad", f"{result.rows_bad:,}")
    t.add_row("users", f"{ds.interactions.get_column('user_id').n_unique():,}")
    t.add_row("items (in events)", f"{ds.interactions.get_column('item_id').n_unique():,}")
    if ds.items is not None:
        t.add_row("items (catalogue)", f"{ds.items.height:,}")
    for kind, n in sorted(result.problems.counts.items()):
        t.add_row(f"[red]{kind}[/]", f"{n:,}")
    console.print(t)
    for p in problems[:50]:
        err_console.print(p.message, markup=False, highlight=False, soft_wrap=True)
    if len(problems) > 50:
        err_console.print(f"... {len(problems) - 50} more (use --json for all)")


@app.command()
def prepare(
    path: Annotated[str, typer.Argument(help="raw file or directory (or bundled:ml-latest-small)")],
    out: Annotated[
        Path,
        typer.Option("--out", "-o", metavar="DATA_DIR", help="prepared dataset directory to write"),
    ],
    format: FormatOpt = None,
    config: ConfigOpt = None,
    split_kind: Annotated[
        Split | None,
        typer.Option(
            "--split-kind",
            help="how to split: loo, ratio, temporal, cold-items, users ([data] split)",
        ),
    ] = None,
    old_split: Annotated[
        Split | None,
        typer.Option("--split", hidden=True, help="deprecated spelling of --split-kind"),
    ] = None,
    skip_bad_rows: Annotated[
        bool, typer.Option(help="prepare the good rows and report the bad ones")
    ] = False,
    max_seq_len: Annotated[
        int | None, typer.Option(min=1, help="events of history per user ([data] max_seq_len)")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="seed of random split steps ([data] seed)")
    ] = None,
    engine: Annotated[
        Engine | None,
        typer.Option(
            help="what does the work: polars (in this process) or spark (PySpark, "
            "pip install 'prismrec[spark]') ([data] engine)"
        ),
    ] = None,
    master: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="Spark master for --engine spark: local[*], spark://HOST:7077, "
            "k8s://https://HOST:443, yarn ... ([data] spark_master)",
        ),
    ] = None,
) -> None:
    """Validate, preprocess and split a dataset into a prepared directory (Parquet + schema)."""
    from prismrec.config import load_config
    from prismrec.data.dataset import prepare_dir

    if old_split is not None:
        deprecated("data prepare --split KIND", "--split-kind KIND")
        split_kind = split_kind or old_split
    with guard():
        cfg = load_config(config).with_overrides(
            "data",
            split=split_kind.value if split_kind else None,
            max_seq_len=max_seq_len,
            seed=seed,
            engine=engine.value if engine else None,
            spark_master=master,
        )
        fmt = format.value if format else None
        report = prepare_dir(path, out, fmt, cfg.data, skip_bad_rows=skip_bad_rows)
    if report.problems.n_problems:
        err_console.print(
            f"[yellow]skipped {report.schema['rows_bad']:,} bad row(s):[/] "
            + ", ".join(f"{k}={v:,}" for k, v in sorted(report.problems.counts.items()))
        )
    s = report.schema
    t = Table(title=f"prepared {out}", show_header=False)
    for key in ("n_users", "n_items", "n_events", "rows_bad"):
        t.add_row(key, f"{s[key]:,}")
    t.add_row("split", s["split"]["kind"])
    for k, v in s["split_counts"].items():
        t.add_row(f"  {k} events", f"{v:,}")
    console.print(t)


@app.command()
def synth(
    out: Annotated[Path, typer.Option("--out", "-o", help="output directory (raw files)")],
    users: Annotated[int, typer.Option("--users", min=1, help="number of users")] = 1000,
    items: Annotated[int, typer.Option("--items", min=1, help="number of items")] = 2000,
    events: Annotated[int, typer.Option("--events", min=1, help="number of events")] = 50_000,
    seed: Annotated[int, typer.Option(help="random seed")] = 42,
) -> None:
    """Generate synthetic behaviour logs with planted, drifting interest facets."""
    from prismrec.data.synth import synthesize

    with guard():
        synthesize(users, items, events, seed=seed, out_dir=out)
    console.print(
        f"wrote {events:,} events for {users:,} users and {items:,} items to {out} "
        f"(ground truth in {out / 'truth'}); prepare it with:\n"
        f"  prismrec data prepare {out} --format parquet --config {out / 'prismrec.toml'}"
        f" --out DATA_DIR"
    )


@app.command()
def export(
    store: StoreOpt,
    data: DataOpt,
    out: Annotated[
        Path,
        typer.Option("--out", "-o", metavar="DATA_DIR", help="prepared dataset directory to write"),
    ],
    tombstone_secret: TombstoneSecretOpt = None,
    prefix: PrefixOpt = "prismrec:",
    holdout: HoldoutOpt = None,
) -> None:
    """Extend a prepared dataset with the service's events and item log, for retraining.

    DATA is the dataset the served model was trained on; its users and items keep their rows,
    new ones are appended, users deleted through the service are left out.
    """
    from prismrec.api.retrain import export_store

    with guard():
        report = export_store(
            store, data, out, tombstone_secret=tombstone_secret, prefix=prefix, holdout=holdout
        )
    s = report.data.schema
    t = Table(title=f"exported {out}", show_header=False)
    for key, value in report.to_dict().items():
        t.add_row(key.replace("_", " "), f"{value:,}")
    for key in ("n_users", "n_items", "n_events"):
        t.add_row(key, f"{s[key]:,}")
    console.print(t)
    console.print(f"train on it with: prismrec train --data {out} --warm-start MODEL_DIR --out NEW")
