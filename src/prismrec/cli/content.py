"""``prismrec content ...``: encode item content into the embedding cache; similar items.

torch and sentence-transformers are imported only inside the commands (and only when a text
really has to be encoded), so ``prismrec --help`` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from prismrec.cli._common import (
    ConfigOpt,
    DataOpt,
    console,
    deprecated,
    guard,
    print_json,
)

if TYPE_CHECKING:
    from prismrec.content import ContentConfig, EncodeReport
    from prismrec.data.dataset import PreparedDataset

__all__ = ["app"]

app = typer.Typer(help="Encode item content; find similar items.", no_args_is_help=True)

TextModelOpt = Annotated[
    str | None,
    typer.Option(
        "--text-model",
        metavar="NAME_OR_DIR",
        help="sentence-transformers model: a local directory or a cached name ([content] model)",
    ),
]
OldModelOpt = Annotated[
    str | None,
    typer.Option("--model", "-m", hidden=True, help="deprecated spelling of --text-model"),
]


def _text_model(new: str | None, old: str | None) -> str | None:
    if old is not None:
        deprecated("content --model NAME", "--text-model NAME")
    return new or old


def _config(data: Path, config: Path | None, model: str | None, **overrides: Any) -> ContentConfig:
    from prismrec.config import load_config
    from prismrec.content import config_for

    cfg = load_config(config).content if config else config_for(data, None)
    return cfg.with_overrides(model=model, **overrides)


@app.command()
def encode(
    data: DataOpt,
    config: ConfigOpt = None,
    text_model: TextModelOpt = None,
    old_model: OldModelOpt = None,
    threads: Annotated[
        int | None, typer.Option("--threads", help="torch CPU threads ([content] threads)")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", help="texts per forward pass ([content])")
    ] = None,
) -> None:
    """Encode every item's text into the embedding cache (DATA/content/); only new texts run.

    Reads the [content] table of --config; the options override it.
    """
    from prismrec.config import load_config
    from prismrec.content import encode_dataset
    from prismrec.data.dataset import PreparedDataset

    model = _text_model(text_model, old_model)
    with guard():
        cfg = load_config(config).content.with_overrides(
            model=model, threads=threads, batch_size=batch_size
        )
        ds = PreparedDataset.load(data)
        report = encode_dataset(ds, cfg)
    _print_encode(report, cfg)


def _print_encode(report: EncodeReport, cfg: ContentConfig) -> None:
    t = Table(title="content encode", show_header=False)
    f, text = report.features, report.text
    t.add_row("items", f"{f.n_rows - 1:,}")
    if text is not None:
        s = text.stats
        t.add_row("text model", escape(text.model_id))
        t.add_row(
            "text vectors",
            f"{int(text.mask.sum()):,} x {text.vectors.shape[1]} ({cfg.cache_dtype})",
        )
        t.add_row(
            "distinct texts", f"{s.n_unique:,} ({s.n_cached:,} cached, {s.n_encoded:,} encoded)"
        )
        t.add_row("template", escape(f.spec.text_template or ""))
    else:
        t.add_row("text", escape("none (no text field; set [content] text_template to add one)"))
    t.add_row("time", f"{report.seconds:.1f} s ({(f.n_rows - 1) / report.seconds:,.0f} items/s)")
    t.add_row("modalities", ", ".join(f"{m} {c:.0%}" for m, c in f.coverage().items()))
    t.add_row("cache", escape(str(report.cache_dir)))
    console.print(t)


@app.command()
def similar(
    data: DataOpt,
    item: Annotated[str, typer.Option("--item", "-i", help="external item id")],
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="number of neighbours")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    config: ConfigOpt = None,
    text_model: TextModelOpt = None,
    old_model: OldModelOpt = None,
) -> None:
    """List the items whose content vectors are nearest to ITEM (exact cosine)."""
    from prismrec.content import similar_items
    from prismrec.data.dataset import PreparedDataset

    model = _text_model(text_model, old_model)
    with guard():
        cfg = _config(data, config, model)
        ds = PreparedDataset.load(data)
        neighbours = similar_items(ds, item, k, cfg)
    if as_json:
        print_json(
            {
                "item_id": item,
                "neighbours": [
                    {"item_id": n.item_id, "score": round(n.score, 6)} for n in neighbours
                ],
            }
        )
        return
    names = _names(ds, [item, *(n.item_id for n in neighbours)])
    t = Table(title=escape(f"items similar to {item}: {names.get(item, '')}"))
    t.add_column("#", justify="right")
    t.add_column("item_id")
    t.add_column("score", justify="right")
    t.add_column("item")
    for rank, n in enumerate(neighbours, 1):
        t.add_row(str(rank), escape(n.item_id), f"{n.score:.3f}", escape(names.get(n.item_id, "")))
    console.print(t)


def _names(ds: PreparedDataset, ids: list[str]) -> dict[str, str]:
    """Display names from the title field (``pick_title_field``), else nothing."""
    import polars as pl

    from prismrec.data.schema import pick_title_field

    title = pick_title_field(ds.item_fields, ds.items_frame.columns)
    if title is None:
        return {}
    rows = ds.items_frame.filter(pl.col("item_id").is_in(ids)).select("item_id", title)
    return {str(i): "" if v is None else str(v) for i, v in rows.iter_rows()}
