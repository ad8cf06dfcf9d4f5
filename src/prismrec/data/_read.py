"""Low-level readers and the vectorised checks that turn raw columns into canonical ones."""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from prismrec.config import DataConfig
from prismrec.data.problems import ProblemLog
from prismrec.errors import ConfigError, DataError

__all__ = [
    "ends_with_newline",
    "one_file",
    "parse_timestamps",
    "read_delimited",
    "read_lines",
    "read_table_file",
    "stringify",
    "to_interactions",
]

log = logging.getLogger(__name__)


def ends_with_newline(path: Path) -> bool:
    """True when the file's last byte is a newline (or the file is empty)."""
    with path.open("rb") as fh:
        fh.seek(0, io.SEEK_END)
        if fh.tell() == 0:
            return True
        fh.seek(-1, io.SEEK_END)
        return fh.read(1) == b"\n"


def one_file(path: Path, kind: str, usual: str | None = None) -> Path:
    """The file a one-file format reads; a directory works when it holds ``usual``."""
    if not path.is_dir():
        return path
    if usual is not None and (path / usual).is_file():
        return path / usual
    inside = f" (no {usual} inside it)" if usual else ""
    raise DataError(
        f"{path} is a directory{inside}; the {kind} format reads one file: pass the file itself"
    )


def read_delimited(
    source: Path | bytes,
    *,
    separator: str,
    has_header: bool,
    names: list[str] | None = None,
    quote: str | None = '"',
    encoding: str = "utf8",
    skip_lines: int = 0,
) -> pl.DataFrame:
    """Read a delimited text file as all-string columns plus ``_line`` (1-based file line).

    Short rows get nulls in their missing trailing fields (checked later as truncated or empty);
    surplus fields are dropped.
    """
    data: Path | io.BytesIO = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        df = pl.read_csv(
            data,
            separator=separator,
            has_header=has_header,
            new_columns=names,
            infer_schema=False,
            quote_char=quote,
            encoding="utf8-lossy" if encoding != "utf8" else "utf8",
            truncate_ragged_lines=True,
            row_index_name="_line",
            row_index_offset=1 + (1 if has_header else 0) + skip_lines,
            skip_lines=skip_lines,
        )
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as exc:
        name = source if isinstance(source, Path) else "<bytes>"
        raise DataError(f"{name}: cannot be read as '{separator}'-separated text: {exc}") from None
    if names is not None and len(df.columns) - 1 < len(names):
        df = df.with_columns(pl.lit(None, pl.String).alias(n) for n in names if n not in df.columns)
    return df.with_columns(pl.col("_line").cast(pl.Int64))


def read_lines(path: Path, encoding: str = "utf8") -> pl.DataFrame:
    """Read a text file as one string column ``line`` plus ``_line`` (blank lines kept)."""
    raw = path.read_bytes()
    text = raw.decode("latin-1") if encoding != "utf8" else raw.decode("utf8", errors="replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    df = pl.DataFrame({"line": lines}, schema={"line": pl.String})
    return df.with_row_index("_line", offset=1).with_columns(
        pl.col("_line").cast(pl.Int64), pl.col("line").str.strip_chars_end("\r")
    )


def read_table_file(path: Path, cfg: DataConfig) -> pl.DataFrame:
    """Read a CSV/TSV/Parquet/JSONL table as all-string (scalar) columns plus ``_line``."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            df = pl.read_parquet(path)
        except Exception as exc:  # pyarrow/polars raise several types for corrupt files
            raise DataError(f"{path}: not a readable Parquet file: {exc}") from None
        return (
            stringify(df)
            .with_row_index("_line", offset=1)
            .with_columns(pl.col("_line").cast(pl.Int64))
        )
    if suffix in (".jsonl", ".ndjson", ".json"):
        return _read_jsonl(path)
    sep = cfg.separator or ("\t" if suffix in (".tsv", ".tab") else ",")
    return read_delimited(path, separator=sep, has_header=cfg.has_header)


def _read_jsonl(path: Path) -> pl.DataFrame:
    lines = read_lines(path)
    lines = lines.filter(pl.col("line").str.strip_chars() != "")
    try:
        df = pl.read_ndjson(io.BytesIO("\n".join(lines.get_column("line").to_list()).encode()))
    except Exception:
        # find the first line that is not a JSON object, to name it
        import json

        for line_no, text in lines.iter_rows():
            try:
                json.loads(text)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"{path}:{line_no}: not valid JSON ({exc.msg}): {text[:80]!r}"
                ) from None
        raise DataError(f"{path}: cannot be read as JSON lines") from None
    return stringify(df).with_columns(lines.get_column("_line"))


def stringify(df: pl.DataFrame) -> pl.DataFrame:
    """Cast scalar columns to strings (lists stay lists: multi-valued fields and vectors)."""
    exprs = []
    for name, dtype in df.schema.items():
        if isinstance(dtype, (pl.List, pl.Array)):
            exprs.append(pl.col(name))
        else:
            exprs.append(pl.col(name).cast(pl.String))
    return df.select(exprs)


def parse_timestamps(col: pl.Series, fmt: str | None) -> pl.Series:
    """Parse a string column to int64 unix seconds; unparsable values become null."""
    s = col.cast(pl.String).str.strip_chars()
    if fmt:
        if "%H" in fmt and "%M" not in fmt:  # polars needs minutes whenever hours are parsed
            s, fmt = s + ":00", fmt + ":%M"
        try:
            dt = s.str.strptime(pl.Datetime("us"), fmt, strict=False)
        except pl.exceptions.ComputeError as exc:
            raise ConfigError(f"data.timestamp_format {fmt!r} is not usable: {exc}") from None
        return dt.dt.epoch("s").alias(col.name)
    as_int = s.cast(pl.Int64, strict=False)
    as_float = s.cast(pl.Float64, strict=False)
    out = as_int.fill_null(as_float.floor().cast(pl.Int64, strict=False))
    rest = s.filter(out.is_null() & s.is_not_null())
    if rest.len():
        try:
            dt = s.str.to_datetime(strict=False, time_unit="us")
            out = out.fill_null(dt.dt.epoch("s"))
        except (pl.exceptions.ComputeError, pl.exceptions.InvalidOperationError):
            pass
    return out.alias(col.name)


def _blank(name: str) -> pl.Expr:
    return pl.col(name).is_null() | (pl.col(name).cast(pl.String).str.strip_chars() == "")


def to_interactions(
    df: pl.DataFrame,
    file: Path,
    cfg: DataConfig,
    problems: ProblemLog,
    *,
    mapping: Mapping[str, str] | None = None,
    event_map: Mapping[str, str] | None = None,
    fixed_event_type: str | None = None,
    has_time: bool = True,
    context: list[str] | None = None,
    truncated_last: bool = False,
) -> pl.DataFrame:
    """Check and convert raw string columns into canonical interactions; drops bad rows.

    Args:
        df: all-string columns plus ``_line``.
        file: the source file, named in every problem.
        cfg: data config (column mapping, weights, value range, timestamp format).
        problems: where problems are recorded.
        mapping: canonical name -> file column (the config's ``columns`` overrides it).
        event_map: raw event value -> canonical event type (e.g. ``pv`` -> ``view``).
        fixed_event_type: every row gets this event type (rating datasets).
        has_time: whether a timestamp column is required.
        context: context column names (file names) to keep.
        truncated_last: the file does not end with a newline (its last row may be cut off).
    """
    problems.rows_read += df.height
    problems.interaction_file = str(file)
    names = {**{c: c for c in ("user_id", "item_id", "timestamp", "event_type", "value")}}
    names.update(mapping or {})
    names.update(cfg.columns)
    required = ["user_id", "item_id"] + (["timestamp"] if has_time else [])
    missing = [c for c in required if names[c] not in df.columns]
    if missing:
        for c in missing:
            problems.add(
                "missing_column",
                file,
                0,
                names[c],
                "",
                f"a column '{names[c]}' for {c} "
                f'(map it with [data.columns] {c} = "<your column>")',
            )
        found = ", ".join(c for c in df.columns if c != "_line")
        raise DataError(
            f"{file}: missing required column(s) {[names[c] for c in missing]}; "
            f"the file has: {found}. Map your names in the config, e.g. [data.columns] "
            f'{missing[0]} = "<your column>"',
            problems.sorted(),
        )
    optional = [c for c in ("event_type", "value") if names[c] in df.columns]
    context = list(context or []) + [c for c in cfg.context_columns if c not in (context or [])]
    known = {names[c] for c in required + optional} | set(context) | {"_line"}
    extra = [c for c in df.columns if c not in known]
    if extra:
        if cfg.extra_columns == "error":
            for c in extra:
                problems.add(
                    "unexpected_column",
                    file,
                    0,
                    c,
                    c,
                    "only mapped columns; map it in "
                    "[data.columns], list it in data.context_columns, or set "
                    'data.extra_columns = "ignore"',
                )
        elif cfg.extra_columns == "context":
            context += extra
    missing_ctx = [c for c in context if c not in df.columns]
    if missing_ctx:
        raise DataError(
            f"{file}: context column(s) {missing_ctx} not found; the file has: "
            f"{', '.join(c for c in df.columns if c != '_line')}"
        )

    out = df.select(
        pl.col("_line"),
        *[pl.col(names[c]).alias(c) for c in required + optional],
        *[pl.col(c).cast(pl.String) for c in context],
    )
    last_line = out.get_column("_line").max() if out.height else None
    # rows cut off at the end of the file
    if truncated_last and out.height:
        last = out.filter(pl.col("_line") == last_line)
        blank_cols = [c for c in required if last.select(_blank(c)).item()]
        if blank_cols:
            problems.add_rows(
                "truncated_line",
                file,
                last.with_columns(
                    pl.concat_str([pl.col(c).fill_null("") for c in required], separator=",").alias(
                        "_raw"
                    )
                ),
                "_raw",
                f"a complete row with a {blank_cols[0]} (the file ends in the middle of this line)",
                label=names[blank_cols[0]],
            )
            out = out.filter(pl.col("_line") != last_line)
    for c in ("user_id", "item_id"):
        problems.add_rows("empty_id", file, out.filter(_blank(c)), c, f"a non-empty {c}")
        out = out.with_columns(pl.col(c).str.strip_chars())
    if has_time:
        ts = parse_timestamps(out.get_column("timestamp"), cfg.timestamp_format)
        bad = out.filter(ts.is_null() & ~_blank("timestamp"))
        what = (
            f"a time in format {cfg.timestamp_format!r}"
            if cfg.timestamp_format
            else ("a unix time or an ISO-8601 date-time")
        )
        problems.add_rows("bad_timestamp", file, bad, "timestamp", what)
        problems.add_rows(
            "missing_timestamp", file, out.filter(_blank("timestamp")), "timestamp", "a timestamp"
        )
        out = out.with_columns(ts.alias("timestamp"))
    else:
        out = out.with_columns(pl.col("_line").alias("timestamp"))
    out = _events(out, file, cfg, problems, event_map, fixed_event_type)
    out = _values(out, file, cfg, problems)
    bad_lines = problems.bad_lines.get(str(file), set())
    if bad_lines:
        out = out.filter(~pl.col("_line").is_in(list(bad_lines)))
    return out.select(
        "user_id",
        "item_id",
        pl.col("timestamp").cast(pl.Int64),
        "event_type",
        pl.col("value").cast(pl.Float64),
        *context,
        "_line",
    )


def _events(
    out: pl.DataFrame,
    file: Path,
    cfg: DataConfig,
    problems: ProblemLog,
    event_map: Mapping[str, str] | None,
    fixed: str | None,
) -> pl.DataFrame:
    if fixed is not None:
        return out.with_columns(pl.lit(fixed).alias("event_type"))
    if "event_type" not in out.columns:
        return out.with_columns(pl.lit(cfg.default_event_type).alias("event_type"))
    ev = pl.col("event_type").str.strip_chars()
    if event_map:
        ev = ev.replace(dict(event_map))
    out = out.with_columns(ev.alias("event_type"))
    allowed = sorted(cfg.event_weights)
    bad = out.filter(~pl.col("event_type").is_in(allowed) | pl.col("event_type").is_null())
    expected = f"one of {allowed} (add new types under [data.event_weights])"
    if event_map:
        expected = f"one of {sorted(event_map)}"
        raw = out.filter(pl.col("event_type").is_null() | ~pl.col("event_type").is_in(allowed))
        bad = raw
    problems.add_rows("unknown_event_type", file, bad, "event_type", expected)
    return out


def _values(out: pl.DataFrame, file: Path, cfg: DataConfig, problems: ProblemLog) -> pl.DataFrame:
    if "value" not in out.columns:
        return out.with_columns(pl.lit(None, pl.Float64).alias("value"))
    num = out.get_column("value").cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)
    problems.add_rows(
        "bad_number", file, out.filter(num.is_null() & ~_blank("value")), "value", "a number"
    )
    out = out.with_columns(num.alias("value"))
    lo, hi = cfg.value_min, cfg.value_max
    if lo is not None or hi is not None:
        cond = pl.lit(False)
        if lo is not None:
            cond = cond | (pl.col("value") < lo)
        if hi is not None:
            cond = cond | (pl.col("value") > hi)
        problems.add_rows(
            "out_of_range",
            file,
            out.filter(cond.fill_null(False)),
            "value",
            f"a value in [{lo}, {hi}]",
        )
    return out
