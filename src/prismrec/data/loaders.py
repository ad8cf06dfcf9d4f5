"""Load any supported format into a :class:`RawDataset`, with row-level validation.

``load(path, format, config)`` returns the good rows and a :class:`ProblemLog`; callers decide
whether problems are fatal (``prepare`` without ``--skip-bad-rows``) or only reported (``check``).
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from prismrec.config import DataConfig
from prismrec.data import _formats as fmt
from prismrec.data._comirec import is_comirec_dir, load_comirec
from prismrec.data._events import EventFile
from prismrec.data._read import read_table_file
from prismrec.data._text_formats import load_pairtxt, load_seqtxt
from prismrec.data.problems import ProblemLog
from prismrec.data.schema import ItemFields, RawDataset
from prismrec.errors import DataError

__all__ = [
    "FORMATS",
    "LAYOUTS",
    "LoadResult",
    "check_known_items",
    "detect_format",
    "load",
    "resolve_path",
]

log = logging.getLogger(__name__)

Loader = Callable[[Path, DataConfig, ProblemLog], RawDataset]
_TABLE_SUFFIXES = {
    "csv": (".csv", ".tsv", ".tab", ".txt"),
    "parquet": (".parquet",),
    "jsonl": (".jsonl", ".ndjson", ".json"),
}


@dataclass
class LoadResult:
    """A loaded dataset plus everything wrong with the input."""

    dataset: RawDataset
    problems: ProblemLog
    rows_total: int

    @property
    def rows_ok(self) -> int:
        return self.dataset.interactions.height

    @property
    def rows_bad(self) -> int:
        return self.rows_total - self.rows_ok


def _generic_layout(kind: str) -> fmt.Layout:
    def events(path: Path, cfg: DataConfig) -> EventFile:
        inter_file = _generic_files(path, kind)[0]
        if kind != "csv":
            return EventFile(inter_file, cfg, table=True)
        sep = cfg.separator or ("\t" if inter_file.suffix.lower() in (".tsv", ".tab") else ",")
        return EventFile(inter_file, cfg, separator=sep, has_header=cfg.has_header, quote='"')

    def finish(
        path: Path, events: EventFile, inter: pl.DataFrame, problems: ProblemLog
    ) -> RawDataset:
        cfg = events.cfg
        inter_file, item_file, user_file = _generic_files(path, kind)
        fields = ItemFields(
            tuple(cfg.item_text_fields),
            tuple(cfg.item_categorical_fields),
            tuple(cfg.item_multi_fields),
            tuple(cfg.item_numeric_fields),
            tuple(cfg.item_vector_fields),
        )
        items = _generic_items(item_file, cfg, fields, problems) if item_file else None
        users = None
        if user_file:
            users = read_table_file(user_file, cfg).drop("_line")
            uid = cfg.columns.get("user_id", "user_id")
            if uid not in users.columns:
                raise DataError(f"{user_file}: no '{uid}' column (user attributes need a user id)")
            users = users.rename({uid: "user_id"}) if uid != "user_id" else users
        user_cols = tuple(cfg.user_columns) or (
            tuple(c for c in users.columns if c != "user_id") if users is not None else ()
        )
        ctx = tuple(
            c
            for c in inter.columns
            if c not in ("user_id", "item_id", "timestamp", "event_type", "value", "_line")
        )
        return RawDataset(
            inter,
            items,
            users,
            fields,
            ctx,
            user_cols,
            sources=[p for p in (inter_file, item_file, user_file) if p],
        )

    return fmt.Layout(events, finish)


def _generic_files(path: Path, kind: str) -> tuple[Path, Path | None, Path | None]:
    if path.is_file():
        sib = path.parent
        items = next(
            (p for s in _TABLE_SUFFIXES[kind] for p in [sib / f"items{s}"] if p.is_file()), None
        )
        users = next(
            (p for s in _TABLE_SUFFIXES[kind] for p in [sib / f"users{s}"] if p.is_file()), None
        )
        if path.stem.startswith("interactions"):
            return path, items, users
        return path, None, None
    for s in _TABLE_SUFFIXES[kind]:
        if (path / f"interactions{s}").is_file():
            inter = path / f"interactions{s}"
            items = next(
                (p for t in _TABLE_SUFFIXES[kind] for p in [path / f"items{t}"] if p.is_file()),
                None,
            )
            users = next(
                (p for t in _TABLE_SUFFIXES[kind] for p in [path / f"users{t}"] if p.is_file()),
                None,
            )
            return inter, items, users
    raise DataError(
        f"{path}: no interactions file found; a '{kind}' directory needs "
        f"interactions{_TABLE_SUFFIXES[kind][0]} (optional items.*, users.*)"
    )


def _generic_items(
    file: Path, cfg: DataConfig, fields: ItemFields, problems: ProblemLog
) -> pl.DataFrame:
    df = read_table_file(file, cfg)
    iid = cfg.columns.get("item_id", "item_id")
    if iid not in df.columns:
        raise DataError(f"{file}: no '{iid}' column; the item catalogue needs an item id column")
    df = df.rename({iid: "item_id"}) if iid != "item_id" else df
    missing = [c for group in fields.to_dict().values() for c in group if c not in df.columns]
    if missing:
        raise DataError(
            f"{file}: item field(s) {missing} configured but not in the file; it has "
            f"{[c for c in df.columns if c != '_line']}"
        )
    exprs: list[pl.Expr] = []
    for c in fields.multi:
        if df.schema[c] == pl.String:
            exprs.append(
                pl.col(c)
                .str.split(cfg.multi_separator)
                .list.eval(pl.element().str.strip_chars().filter(pl.element() != ""))
            )
    for c in fields.numeric:
        bad = df.filter(
            pl.col(c).cast(pl.Float64, strict=False).is_null()
            & pl.col(c).is_not_null()
            & (pl.col(c).cast(pl.String) != "")
        )
        problems.add_rows("bad_number", file, bad, c, "a number")
        exprs.append(pl.col(c).cast(pl.Float64, strict=False))
    for c in fields.vector:
        if df.schema[c] == pl.String:
            exprs.append(
                pl.col(c)
                .str.strip_chars("[]")
                .str.split(",")
                .list.eval(pl.element().str.strip_chars().cast(pl.Float64, strict=False))
            )
        else:
            exprs.append(pl.col(c).cast(pl.List(pl.Float64)))
    if exprs:
        df = df.with_columns(exprs)
    return fmt.check_items(df, file, problems)


# formats read as one event file (what the Spark engine reads too)
LAYOUTS: dict[str, fmt.Layout] = {
    **fmt.LAYOUTS,
    "csv": _generic_layout("csv"),
    "parquet": _generic_layout("parquet"),
    "jsonl": _generic_layout("jsonl"),
}
FORMATS: dict[str, Loader] = {
    **{name: layout.load for name, layout in LAYOUTS.items()},
    "seqtxt": load_seqtxt,
    "pairtxt": load_pairtxt,
    "comirec": load_comirec,
}


def detect_format(path: Path) -> str:
    """Guess the format from file names and the first line; raise DataError when unsure."""
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    if path.is_dir():
        names = {p.name for p in path.iterdir()}
        if "u.data" in names:
            return "movielens-100k"
        if "ratings.csv" in names and "movies.csv" in names:
            return "movielens-latest"
        if any(n.endswith(".inter") for n in names):
            return "recbole"
        if "sample_user_behavior.csv" in names:
            return "tianchi"
        if is_comirec_dir(names):
            return "comirec"
        for kind, sufs in _TABLE_SUFFIXES.items():
            if any(f"interactions{s}" in names for s in sufs):
                return kind
        raise DataError(
            f"{path}: cannot detect the data format from the files in this directory; "
            f"pass --format, one of: {', '.join(FORMATS)}"
        )
    suffix = path.suffix.lower()
    if path.name == "u.data":
        return "movielens-100k"
    if (
        suffix == ".zip"
        and zipfile.is_zipfile(path)
        and any(n.endswith("ratings.csv") for n in zipfile.ZipFile(path).namelist())
    ):
        return "movielens-latest"
    if suffix == ".inter":
        return "recbole"
    if suffix == ".parquet":
        return "parquet"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    first = _first_line(path)
    if suffix == ".csv":
        if "behavior_type" in first and "time" in first:
            return "tianchi"
        fields = first.split(",")
        if len(fields) == 5 and fields[3] in fmt.TAOBAO_EVENTS:
            return "taobao"
        return "csv"
    if suffix in (".txt", ""):
        n = len(first.split())
        if n == 2:
            return "pairtxt"
        if n > 2:
            return "seqtxt"
    if suffix in (".tsv", ".tab"):
        return "csv"
    raise DataError(
        f"{path}: cannot detect the data format; pass --format, one of: {', '.join(FORMATS)}"
    )


def _first_line(path: Path) -> str:
    with path.open("rb") as fh:
        return fh.readline(65536).decode("utf8", errors="replace").strip()


def resolve_path(path: str | Path) -> Path:
    """A path, or ``bundled:NAME`` for a dataset shipped inside the package."""
    text = str(path)
    if text.startswith("bundled:"):
        from prismrec.datasets import bundled_path

        return bundled_path(text.split(":", 1)[1])
    p = Path(path)
    if not p.exists():
        near = [c.name for c in sorted(p.parent.iterdir())[:8]] if p.parent.is_dir() else []
        hint = f" ({p.parent} holds: {', '.join(near)})" if near else ""
        raise DataError(f"{p}: no such file or directory{hint}")
    if (p / "model.json").is_file() or (p / "schema.json").is_file():
        what = "a model directory" if (p / "model.json").is_file() else "a prepared dataset"
        opt = "--model" if (p / "model.json").is_file() else "--data"
        raise DataError(
            f"{p} is {what}, not raw data: pass it as {opt} to train, evaluate or recommend; "
            "'data check' and 'data prepare' read raw files (a CSV file, a MovieLens folder ...)"
        )
    return p


def load(
    path: str | Path, format: str | None = None, config: DataConfig | None = None
) -> LoadResult:
    """Load and validate a dataset.

    Args:
        path: file or directory.
        format: one of :data:`FORMATS`; detected from the files when ``None``.
        config: data config (column mapping, event weights, value range ...).

    Returns:
        The good rows, the problems found and the total row count.

    Raises:
        DataError: the path is missing, the format is unknown or cannot be detected, or a
            required column is missing.
    """
    p = resolve_path(path)
    cfg = config or DataConfig()
    name = format or detect_format(p)
    if name not in FORMATS:
        raise DataError(f"unknown format {name!r}; expected one of: {', '.join(FORMATS)}")
    problems = ProblemLog()
    try:
        ds = FORMATS[name](p, cfg, problems)
    except DataError as exc:
        raise DataError(f"{exc}{_format_hint(p, name, format)}", exc.problems) from None
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
        why = " ".join(str(exc).split())[:160]
        raise DataError(
            f"{p}: cannot be read as '{name}' data ({why}){_format_hint(p, name, format)}"
        ) from None
    if ds.interactions.height == 0 and not problems.n_problems:
        raise DataError(f"{p}: no events found as '{name}' data{_format_hint(p, name, format)}")
    check_known_items(ds, problems)
    log.info(
        "loaded %s (%s): %d rows ok, %d bad",
        p,
        name,
        ds.interactions.height,
        problems.rows_read - ds.interactions.height,
    )
    return LoadResult(ds, problems, problems.rows_read)


def _format_hint(path: Path, used: str, given: str | None) -> str:
    """When ``--format`` was given and the files look like another format, say which."""
    if given is None:
        return ""
    try:
        detected = detect_format(path)
    except DataError:
        return f"; check --format (one of: {', '.join(FORMATS)})"
    if detected == used:
        return ""
    return f"; {path} looks like '{detected}' data: pass --format {detected}, or leave it out"


def check_known_items(ds: RawDataset, problems: ProblemLog) -> None:
    """Interactions naming items missing from a supplied catalogue are bad rows."""
    if ds.items is None or not problems.interaction_file:
        return
    inter = ds.interactions
    unknown = inter.filter(~pl.col("item_id").is_in(ds.items.get_column("item_id").implode()))
    if unknown.height == 0:
        return
    problems.add_rows(
        "unknown_item",
        problems.interaction_file,
        unknown,
        "item_id",
        "an item_id listed in the item catalogue",
    )
    ds.interactions = inter.join(unknown.select("_line"), on="_line", how="anti")
