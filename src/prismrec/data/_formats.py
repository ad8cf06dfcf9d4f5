"""Readers for the named dataset formats (MovieLens, RecBole, Taobao, Tianchi); the untimed
text formats are in ``_text_formats``."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from prismrec.config import DataConfig
from prismrec.data._events import EventFile, items_from_counts, value_counts
from prismrec.data._read import one_file, read_delimited
from prismrec.data.problems import ProblemLog
from prismrec.data.schema import ItemFields, RawDataset
from prismrec.errors import DataError

__all__ = [
    "LAYOUTS",
    "Layout",
    "load_movielens_100k",
    "load_movielens_latest",
    "load_recbole",
    "load_taobao",
    "load_tianchi",
]

ML100K_GENRES = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
]
TAOBAO_EVENTS = {"pv": "view", "cart": "cart", "fav": "favorite", "buy": "purchase"}
TIANCHI_EVENTS = {"1": "click", "2": "favorite", "3": "cart", "4": "purchase"}


def _need(path: Path, what: str) -> Path:
    if not path.is_file():
        raise DataError(f"{path}: file not found ({what})")
    return path


def _with_defaults(cfg: DataConfig, **defaults: object) -> DataConfig:
    """Apply format defaults for keys the user left at their default value."""
    base = DataConfig()
    update = {k: v for k, v in defaults.items() if getattr(cfg, k) == getattr(base, k)}
    return cfg.model_copy(update=update)


def _year(col: str) -> pl.Expr:
    return pl.col(col).str.extract(r"\((\d{4})\)\s*$", 1).cast(pl.Float64, strict=False)


Finish = Callable[[Path, EventFile, pl.DataFrame, ProblemLog], RawDataset]


@dataclass(frozen=True)
class Layout:
    """A format read as one event file (what every engine reads and checks the same way) plus
    what is built around its interactions (catalogue, user attributes, fields, sources)."""

    events: Callable[[Path, DataConfig], EventFile]
    finish: Finish

    def load(self, path: Path, cfg: DataConfig, problems: ProblemLog) -> RawDataset:
        events = self.events(path, cfg)
        raw = self.finish(path, events, events.load(problems), problems)
        col = events.items_from
        if col is not None:
            raw.items = items_from_counts(value_counts(raw.interactions, col), col)
            raw.interactions = raw.interactions.drop(col)
        return raw


def _ml100k_events(path: Path, cfg: DataConfig) -> EventFile:
    root = path.parent if path.is_file() else path
    return EventFile(
        _need(root / "u.data", "MovieLens 100K ratings"),
        _with_defaults(cfg, value_min=1.0, value_max=5.0),
        separator="\t",
        names=("user_id", "item_id", "value", "timestamp"),
        fixed_event_type="rating",
    )


def _ml100k_finish(
    path: Path, events: EventFile, inter: pl.DataFrame, problems: ProblemLog
) -> RawDataset:
    """MovieLens 100K raw files: ``u.data``, Latin-1 ``u.item``, ``u.user``."""
    root, data_file = events.file.parent, events.file
    item_file = _need(root / "u.item", "MovieLens 100K movies")
    names = ["item_id", "title", "release_date", "video_date", "url", *ML100K_GENRES]
    items = read_delimited(
        item_file.read_bytes().decode("latin-1").encode(),
        separator="|",
        has_header=False,
        quote=None,
        names=names,
    )
    flags = pl.concat_list(
        [pl.when(pl.col(g) == "1").then(pl.lit(g)).otherwise(None) for g in ML100K_GENRES]
    ).list.drop_nulls()
    items = items.select(
        "item_id",
        "_line",
        pl.col("title").str.replace(r"\s*\(\d{4}\)\s*$", ""),
        pl.col("release_date").str.slice(-4).cast(pl.Float64, strict=False).alias("year"),
        flags.alias("genres"),
    )
    users = None
    user_file = root / "u.user"
    if user_file.is_file():
        users = read_delimited(
            user_file,
            separator="|",
            has_header=False,
            quote=None,
            names=["user_id", "age", "gender", "occupation", "zip"],
        )
    return RawDataset(
        interactions=inter,
        items=check_items(items, item_file, problems),
        users=users,
        item_fields=ItemFields(text=("title",), multi=("genres",), numeric=("year",)),
        user_columns=("age", "gender", "occupation", "zip") if users is not None else (),
        sources=[p for p in (data_file, item_file, user_file) if p.is_file()],
    )


class _LatestSource:
    """ml-latest-small as a folder or as the official zip, read without extracting."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zip: zipfile.ZipFile | None = None
        self.prefix = ""
        if path.is_file() and zipfile.is_zipfile(path):
            self.zip = zipfile.ZipFile(path)
            ratings = [n for n in self.zip.namelist() if n.endswith("ratings.csv")]
            if not ratings:
                raise DataError(f"{path}: zip has no ratings.csv (not a MovieLens latest release)")
            self.prefix = ratings[0][: -len("ratings.csv")]
        elif path.is_file():
            self.path = path.parent

    def has(self, name: str) -> bool:
        if self.zip is not None:
            return self.prefix + name in self.zip.namelist()
        return (self.path / name).is_file()

    def read(self, name: str) -> bytes:
        if self.zip is not None:
            return self.zip.read(self.prefix + name)
        return (self.path / name).read_bytes()

    def label(self, name: str) -> Path:
        return Path(f"{self.path}!{self.prefix}{name}") if self.zip else self.path / name


def _latest_events(path: Path, cfg: DataConfig) -> EventFile:
    src = _LatestSource(path)
    if not src.has("ratings.csv"):
        raise DataError(f"{path}: no ratings.csv found (expected a MovieLens latest folder or zip)")
    return EventFile(
        src.label("ratings.csv"),
        _with_defaults(cfg, value_min=0.5, value_max=5.0),
        has_header=True,
        quote='"',
        fixed_event_type="rating",
        mapping={"user_id": "userId", "item_id": "movieId", "value": "rating"},
        data=src.read("ratings.csv") if src.zip is not None else None,
    )


def _latest_finish(
    path: Path, events: EventFile, inter: pl.DataFrame, problems: ProblemLog
) -> RawDataset:
    """MovieLens latest(-small): ``ratings.csv``, ``movies.csv``, ``tags.csv`` (folder or zip)."""
    src = _LatestSource(path)
    items = read_delimited(src.read("movies.csv"), separator=",", has_header=True)
    items = items.select(
        pl.col("movieId").alias("item_id"),
        "_line",
        pl.col("title").str.replace(r"\s*\(\d{4}\)\s*$", "").str.strip_chars().alias("title"),
        _year("title").alias("year"),
        pl.col("genres")
        .str.split("|")
        .list.eval(pl.element().filter(pl.element() != "(no genres listed)"))
        .alias("genres"),
    )
    if src.has("tags.csv"):
        tags = read_delimited(src.read("tags.csv"), separator=",", has_header=True)
        tags = tags.group_by("movieId").agg(
            pl.col("tag").str.strip_chars().unique(maintain_order=True)
        )
        items = items.join(
            tags.rename({"movieId": "item_id", "tag": "tags"}), on="item_id", how="left"
        ).with_columns(pl.col("tags").fill_null(pl.lit([], pl.List(pl.String))))
    else:
        items = items.with_columns(pl.lit([], pl.List(pl.String)).alias("tags"))
    return RawDataset(
        interactions=inter,
        items=check_items(items, src.label("movies.csv"), problems),
        item_fields=ItemFields(text=("title",), multi=("genres", "tags"), numeric=("year",)),
        sources=[path],
    )


def _recbole_header(path: Path) -> list[tuple[str, str]]:
    with path.open("r", encoding="utf8", errors="replace") as fh:
        header = fh.readline().rstrip("\r\n").split("\t")
    out = []
    for h in header:
        if ":" not in h:
            raise DataError(
                f"{path}:1: column {h!r} has no type; RecBole atomic files need "
                f"'name:type' headers (token, token_seq, float, float_seq)"
            )
        name, typ = h.rsplit(":", 1)
        out.append((name, typ))
    return out


def _recbole_events(path: Path, cfg: DataConfig) -> EventFile:
    if path.is_dir():
        inters = sorted(path.glob("*.inter"))
        if not inters:
            raise DataError(f"{path}: no .inter file found (RecBole atomic format)")
        inter_file = inters[0]
    else:
        inter_file = path
    names = tuple(n for n, _ in _recbole_header(inter_file))
    has_rating = "rating" in names
    return EventFile(
        inter_file,
        _with_defaults(cfg, extra_columns="context"),
        separator="\t",
        has_header=True,
        names=names,
        mapping={"value": "rating"} if has_rating else {},
        has_time="timestamp" in names,
        fixed_event_type="rating" if has_rating else None,
        context=tuple(n for n in names if n not in ("user_id", "item_id", "timestamp", "rating")),
    )


def _recbole_finish(
    path: Path, events: EventFile, inter: pl.DataFrame, problems: ProblemLog
) -> RawDataset:
    """RecBole atomic files: ``<name>.inter`` plus optional ``.item`` and ``.user``."""
    inter_file, context, has_time = events.file, events.context, events.has_time
    items, fields = None, ItemFields()
    item_file = inter_file.with_suffix(".item")
    if item_file.is_file():
        items, fields = _recbole_items(item_file)
        items = check_items(items, item_file, problems)
    users: pl.DataFrame | None = None
    user_cols: tuple[str, ...] = ()
    user_file = inter_file.with_suffix(".user")
    if user_file.is_file():
        uh = [n for n, _ in _recbole_header(user_file)]
        users = read_delimited(user_file, separator="\t", has_header=True, quote=None)
        users = users.rename(
            dict(zip([c for c in users.columns if c != "_line"], uh, strict=False))
        )
        users = users.drop("_line")
        user_cols = tuple(n for n in uh if n != "user_id")
    return RawDataset(
        interactions=inter,
        items=items,
        users=users,
        item_fields=fields,
        context_columns=tuple(context),
        user_columns=user_cols,
        has_time=has_time,
        time_order="recbole",
        sources=[p for p in (inter_file, item_file, user_file) if p.is_file()],
    )


def _recbole_items(item_file: Path) -> tuple[pl.DataFrame, ItemFields]:
    header = _recbole_header(item_file)
    df = read_delimited(item_file, separator="\t", has_header=True, quote=None)
    df = df.rename(
        dict(zip([c for c in df.columns if c != "_line"], [n for n, _ in header], strict=False))
    )
    text, cat, multi, num, vec = [], [], [], [], []
    exprs: list[pl.Expr] = [pl.col("item_id"), pl.col("_line")]
    for name, typ in header:
        if name == "item_id":
            continue
        if typ == "float":
            num.append(name)
            exprs.append(pl.col(name).cast(pl.Float64, strict=False))
        elif typ == "float_seq":
            vec.append(name)
            exprs.append(pl.col(name).str.split(" ").cast(pl.List(pl.Float64), strict=False))
        elif typ == "token_seq" and any(k in name for k in ("title", "name", "desc", "text")):
            text.append(name)
            exprs.append(pl.col(name))
        elif typ == "token_seq":
            multi.append(name)
            exprs.append(pl.col(name).str.split(" "))
        else:
            cat.append(name)
            exprs.append(pl.col(name))
    fields = ItemFields(tuple(text), tuple(cat), tuple(multi), tuple(num), tuple(vec))
    return df.select(exprs), fields


def _taobao_events(path: Path, cfg: DataConfig) -> EventFile:
    """Taobao UserBehavior CSV: ``user_id,item_id,category_id,behavior_type,unix_ts``, no header."""
    return EventFile(
        one_file(path, "taobao", "UserBehavior.csv"),
        cfg,
        names=("user_id", "item_id", "category", "event_type", "timestamp"),
        event_map=TAOBAO_EVENTS,
        context=("category",),
        items_from="category",
    )


def _tianchi_events(path: Path, cfg: DataConfig) -> EventFile:
    """Tianchi mobile CSV: ``user_id,item_id,behavior_type,user_geohash,item_category,time``."""
    if path.is_dir():
        path = _need(path / "sample_user_behavior.csv", "Tianchi user behaviour")
    return EventFile(
        path,
        _with_defaults(cfg, timestamp_format="%Y-%m-%d %H"),
        has_header=True,
        rename={"user_geohash": "location", "item_category": "category"},
        mapping={"event_type": "behavior_type", "timestamp": "time"},
        event_map=TIANCHI_EVENTS,
        context=("location", "category"),
        items_from="category",
    )


def _category_finish(
    path: Path, events: EventFile, inter: pl.DataFrame, problems: ProblemLog
) -> RawDataset:
    """Taobao and Tianchi: the catalogue is each item's most frequent category
    (:class:`Layout` derives it); the other event columns are context."""
    return RawDataset(
        interactions=inter,
        item_fields=ItemFields(categorical=("category",)),
        context_columns=tuple(c for c in events.context if c != events.items_from),
        sources=[events.file],
    )


LAYOUTS: dict[str, Layout] = {
    "movielens-100k": Layout(_ml100k_events, _ml100k_finish),
    "movielens-latest": Layout(_latest_events, _latest_finish),
    "recbole": Layout(_recbole_events, _recbole_finish),
    "taobao": Layout(_taobao_events, _category_finish),
    "tianchi": Layout(_tianchi_events, _category_finish),
}
load_movielens_100k = LAYOUTS["movielens-100k"].load
load_movielens_latest = LAYOUTS["movielens-latest"].load
load_recbole = LAYOUTS["recbole"].load
load_taobao = LAYOUTS["taobao"].load
load_tianchi = LAYOUTS["tianchi"].load


def check_items(items: pl.DataFrame, file: Path, problems: ProblemLog) -> pl.DataFrame:
    """Blank ids and conflicting duplicate item rows are problems; exact duplicates are dropped."""
    blank = items.filter(pl.col("item_id").is_null() | (pl.col("item_id").str.strip_chars() == ""))
    problems.add_rows("empty_id", file, blank, "item_id", "a non-empty item_id")
    items = items.filter(~pl.col("_line").is_in(blank.get_column("_line").implode()))
    content = [c for c in items.columns if c not in ("_line",)]
    distinct = items.unique(subset=content, keep="first", maintain_order=True)
    dup = distinct.filter(pl.col("item_id").is_duplicated())
    if dup.height:
        first = dup.unique("item_id", keep="first", maintain_order=True)
        later = dup.join(first.select("_line"), on="_line", how="anti")
        problems.add_rows(
            "conflicting_item",
            file,
            later,
            "item_id",
            "one catalogue row per item id (an earlier row has different content)",
        )
    return distinct.unique("item_id", keep="first", maintain_order=True).drop("_line")
