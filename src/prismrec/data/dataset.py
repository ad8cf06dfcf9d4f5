"""The prepared dataset artifact: Parquet + schema + vocabularies + split.

``prepare()`` turns a raw path into a directory; :class:`PreparedDataset` loads it back and builds
the sequences, evaluation cases and tensors every model and metric uses.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from prismrec.config import DataConfig
from prismrec.data._artifact import build_schema, problems_error, write_vocabularies
from prismrec.data.loaders import LoadResult, load
from prismrec.data.preprocess import encode, filter_interactions
from prismrec.data.problems import ProblemLog
from prismrec.data.schema import ItemFields, RawDataset
from prismrec.data.splits import SPLIT_NAMES, TRAIN, assign_split, split_counts, training_rows
from prismrec.data.vocab import Vocabulary
from prismrec.errors import ConfigError, DataError, hint_dirs

__all__ = [
    "EvalCases",
    "PrepareReport",
    "PreparedDataset",
    "prepare",
    "prepare_dir",
    "prepare_loaded",
    "raise_for_problems",
]

log = logging.getLogger(__name__)
SCHEMA_FILE = "schema.json"


@dataclass
class EvalCases:
    """Users to score at one split's target position.

    Attributes:
        users: internal user indices, shape (n,).
        histories: per user, item indices strictly before the first target (time order).
        targets: per user, the distinct target item indices.
        target_events: per user, the event-type index of the first target event.
    """

    users: np.ndarray
    histories: list[np.ndarray]
    targets: list[np.ndarray]
    target_events: np.ndarray
    features: list[dict[str, np.ndarray]] | None = None

    def __len__(self) -> int:
        return len(self.users)

    def inputs(self) -> list[np.ndarray] | list[dict[str, np.ndarray]]:
        """Histories with their per-event features when known (what sequence models read)."""
        return self.features if self.features is not None else self.histories

    def sample(self, n: int, seed: int) -> EvalCases:
        """At most ``n`` of the cases, drawn with ``seed`` and kept in their order (all of
        them when there are no more than ``n``; ``n`` 0: all)."""
        if n <= 0 or n >= len(self.users):
            return self
        return self.subset(
            np.sort(np.random.default_rng(seed).choice(len(self.users), n, replace=False))
        )

    def subset(self, idx: np.ndarray) -> EvalCases:
        """The cases at positions ``idx``, in that order."""
        feats = None if self.features is None else [self.features[i] for i in idx]
        return EvalCases(
            self.users[idx],
            [self.histories[i] for i in idx],
            [self.targets[i] for i in idx],
            self.target_events[idx],
            feats,
        )


def prepare(
    path: str | Path,
    out: str | Path,
    format: str | None = None,
    config: DataConfig | None = None,
    skip_bad_rows: bool = False,
) -> PreparedDataset:
    """Load, validate, preprocess and split a dataset, and write it to ``out``.

    ``config.engine`` says what does the work: Polars in this process, or Spark (see
    :func:`prepare_dir`).

    Raises:
        DataError: bad rows were found and ``skip_bad_rows`` is False (the error carries them).
    """
    cfg = config or DataConfig()
    if cfg.engine != "polars":
        prepare_dir(path, out, format, cfg, skip_bad_rows=skip_bad_rows)
        return PreparedDataset.load(out)
    result = load(path, format, cfg)
    if not skip_bad_rows:
        raise_for_problems(result, path)
    return prepare_loaded(result, out, format or "auto", cfg)


@dataclass
class PrepareReport:
    """What :func:`prepare_dir` wrote: the schema, and the problems of the rows it skipped."""

    schema: dict[str, Any]
    problems: ProblemLog


def prepare_dir(
    path: str | Path,
    out: str | Path,
    format: str | None = None,
    config: DataConfig | None = None,
    *,
    skip_bad_rows: bool = False,
) -> PrepareReport:
    """Write a prepared dataset with the configured engine, without loading it back.

    ``engine = "spark"`` runs :func:`prismrec.data.spark.prepare_spark` (PySpark, the extra
    ``prismrec[spark]``) on ``spark_master``; both engines write the same directory.

    Raises:
        DataError: bad rows were found and ``skip_bad_rows`` is False.
        ConfigError: the engine cannot run (PySpark or Java missing).
    """
    cfg = config or DataConfig()
    if cfg.engine == "spark":
        from prismrec.data.spark import prepare_spark

        return prepare_spark(path, out, format, cfg, skip_bad_rows=skip_bad_rows)
    result = load(path, format, cfg)
    if not skip_bad_rows:
        raise_for_problems(result, path)
    ds = prepare_loaded(result, out, format or "auto", cfg)
    return PrepareReport(ds.schema, result.problems)


def raise_for_problems(result: LoadResult, path: str | Path) -> None:
    """Raise a DataError naming the first problems when the load found any."""
    if result.problems.n_problems:
        raise problems_error(result.problems, result.rows_ok, result.rows_bad, path)


def prepare_loaded(
    result: LoadResult, out: str | Path, format: str, cfg: DataConfig
) -> PreparedDataset:
    """Preprocess and write an already loaded dataset (see :func:`prepare`)."""
    raw = result.dataset
    df = filter_interactions(raw.interactions, cfg)
    enc = encode(raw, df, cfg)
    given = _given_split(raw, enc.users, cfg)
    if given is not None:
        cfg = cfg.model_copy(update={"split": "users"})
    frame, split_info = assign_split(enc.frame, cfg, given)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(out_dir / "interactions.parquet")
    items = write_vocabularies(out_dir, raw, enc.users, enc.items, enc.events, enc.contexts)
    schema = build_schema(
        raw,
        format,
        cfg,
        rows=(result.rows_total, result.rows_bad, frame.height),
        vocabularies=(enc.users, enc.items, enc.events, enc.contexts),
        split=(split_info, split_counts(frame)),
    )
    (out_dir / SCHEMA_FILE).write_text(json.dumps(schema, indent=2))
    log.info(
        "prepared %d events, %d users, %d items -> %s",
        frame.height,
        len(enc.users),
        len(enc.items),
        out_dir,
    )
    return PreparedDataset(out_dir, frame, items, schema)


def _given_split(raw: RawDataset, users: Vocabulary, cfg: DataConfig) -> pl.DataFrame | None:
    """The loader's own user assignment (``user_idx``, ``part``), used unless ``[data] split``
    was set to a kind other than ``users``."""
    if raw.user_split is None:
        return None
    if "split" in cfg.model_fields_set and cfg.split != "users":
        log.info("split %r set: the data's own user assignment is not used", cfg.split)
        return None
    rows = users.lookup(raw.user_split.get_column("user_id").cast(pl.String).to_list())
    given = raw.user_split.select(pl.Series("user_idx", rows, pl.Int32), pl.col("part"))
    return given.filter(pl.col("user_idx") >= 0)


class PreparedDataset:
    """A prepared dataset directory, loaded."""

    def __init__(
        self, root: Path, frame: pl.DataFrame, items: pl.DataFrame, schema: dict[str, Any]
    ) -> None:
        self.root = root
        self.frame = frame
        self.items_frame = items
        self.schema = schema
        self.item_vocab = Vocabulary(items.get_column("item_id").to_list(), offset=1, name="item")
        self._user_vocab: Vocabulary | None = None

    @classmethod
    def load(cls, root: str | Path) -> PreparedDataset:
        """Load a directory written by :func:`prepare`."""
        r = Path(root)
        check_prepared_dir(r)
        schema = json.loads((r / SCHEMA_FILE).read_text())
        frame = pl.read_parquet(r / "interactions.parquet")
        items = pl.read_parquet(r / "items.parquet")
        return cls(r, frame, items, schema)

    @property
    def user_vocab(self) -> Vocabulary:
        if self._user_vocab is None:
            self._user_vocab = Vocabulary.load(self.root / "vocab" / "users.parquet", 0, "user")
        return self._user_vocab

    @property
    def n_items(self) -> int:
        return int(self.schema["n_items"])

    @property
    def n_users(self) -> int:
        return int(self.schema["n_users"])

    @property
    def item_fields(self) -> ItemFields:
        return ItemFields.from_dict(self.schema["item_fields"])

    @property
    def config(self) -> DataConfig:
        return DataConfig(**self.schema["config"])

    def users_frame(self) -> pl.DataFrame | None:
        p = self.root / "users.parquet"
        return pl.read_parquet(p) if p.is_file() else None

    def split_frame(self, upto: str) -> pl.DataFrame:
        """Events usable for training when evaluating on ``upto`` (train; train+valid for test).

        A users split never trains on held-out users: their events are left out for every
        ``upto``, so this is the training users' events.
        """
        code = _split_code(upto)
        return self.frame.filter((pl.col("split") < code) & training_rows(self.frame))

    def sequences(
        self, upto: str = "valid", columns: tuple[str, ...] = ("item_idx",)
    ) -> dict[str, list[np.ndarray]]:
        """Per-user time-ordered arrays of the events before split ``upto`` (default: train)."""
        df = self.split_frame(upto)
        grouped = df.group_by("user_idx", maintain_order=True).agg(columns).sort("user_idx")
        out: dict[str, list[np.ndarray]] = {"user_idx": [grouped.get_column("user_idx").to_numpy()]}
        for c in columns:
            out[c] = [np.asarray(x) for x in grouped.get_column(c).to_list()]
        return out

    def eval_cases(self, split: str) -> EvalCases:
        """Users with events in ``split``, their history before the first target, and targets.

        With a users split these are the held-out users of ``split``: their input events (every
        per-event feature column) as the history and the distinct items of the rest as targets.
        """
        code = _split_code(split)
        if code == TRAIN:
            raise ConfigError("evaluation split must be 'valid' or 'test'")
        f = self.frame
        first = (
            f.filter(pl.col("split") == code)
            .group_by("user_idx")
            .agg(
                pl.col("pos").min().alias("p0"),
                pl.col("item_idx").unique().alias("targets"),
                pl.col("event_idx").sort_by("pos").first().alias("ev"),
            )
            .sort("user_idx")
        )
        if first.height == 0:
            raise DataError(f"split '{split}' of {self.root} has no events")
        cols = self.feature_columns
        hist = (
            f.join(first.select("user_idx", "p0"), on="user_idx")
            .filter((pl.col("pos") < pl.col("p0")) & (pl.col("split") < code))
            .group_by("user_idx")
            .agg(pl.col(c).sort_by("pos") for c in cols)
        )
        both = first.join(hist, on="user_idx", how="left").sort("user_idx")
        feats: dict[str, list[Any]] = {c: both.get_column(c).to_list() for c in cols}
        rows = [
            {
                c: np.asarray(feats[c][i] if feats[c][i] is not None else [], dtype=np.int64)
                for c in cols
            }
            for i in range(both.height)
        ]
        targets = [
            np.sort(np.asarray(t, dtype=np.int64)) for t in both.get_column("targets").to_list()
        ]
        return EvalCases(
            both.get_column("user_idx").to_numpy(),
            [r["item_idx"] for r in rows],
            targets,
            both.get_column("ev").to_numpy(),
            rows,
        )

    @property
    def feature_columns(self) -> tuple[str, ...]:
        """Per-event integer columns a sequence model reads (item first)."""
        return (
            "item_idx",
            "event_idx",
            "hour",
            "weekday",
            "gap_bucket",
            *[c for c in self.frame.columns if c.startswith("ctx_")],
        )

    def feature_sizes(self) -> dict[str, int]:
        """Cardinality (incl. index 0) of every per-event feature except the item."""
        s = self.schema
        sizes = {
            "event_idx": len(s["event_types"]) + 1,
            "hour": 25,
            "weekday": 8,
            "gap_bucket": int(s["n_gap_buckets"]),
        }
        sizes.update({f"ctx_{c}": int(n) for c, n in s["contexts"].items()})
        return sizes

    def user_features(self) -> tuple[dict[str, np.ndarray], dict[str, int]]:
        """Static user attributes as (n_users,) int arrays (0 = unknown) and their sizes."""
        users = self.users_frame()
        if users is None:
            return {}, {}
        users = users.sort("user_idx")
        out, sizes = {}, {}
        for c in self.schema.get("user_columns", []):
            if c not in users.columns:
                continue
            col = users.get_column(c).cast(pl.String)
            values = sorted(col.drop_nulls().unique().to_list())
            idx = (
                col.replace_strict(
                    values, list(range(1, len(values) + 1)), default=0, return_dtype=pl.Int64
                )
                .fill_null(0)
                .to_numpy()
            )
            arr = np.zeros(self.n_users, dtype=np.int64)
            arr[users.get_column("user_idx").to_numpy()] = idx
            out[f"user_{c}"], sizes[f"user_{c}"] = arr, len(values) + 1
        return out, sizes

    def tensors(self, upto: str = "valid", max_seq_len: int | None = None) -> dict[str, Any]:
        """Left-padded (U, L) int tensors of each user's last events before ``upto``."""
        import torch

        L = max_seq_len or int(self.schema["max_seq_len"])
        cols = self.feature_columns
        seqs = self.sequences(upto, cols)
        n = len(seqs["item_idx"])
        out: dict[str, Any] = {"user_idx": torch.from_numpy(seqs["user_idx"][0].copy())}
        for c in cols:
            mat = np.zeros((n, L), dtype=np.int64)
            for i, s in enumerate(seqs[c]):
                s = s[-L:]
                if len(s):
                    mat[i, L - len(s) :] = s
            out[c] = torch.as_tensor(mat)
        return out


def check_prepared_dir(r: Path) -> None:
    """Raise a DataError that says what to do when ``r`` is not a prepared dataset directory.

    Tells apart a missing path, a model directory (``model.json``: it belongs to ``--model``),
    and raw data that still has to be prepared.
    """
    if (r / SCHEMA_FILE).is_file() and (r / "interactions.parquet").is_file():
        return
    if (r / "model.json").is_file():
        meta = json.loads((r / "model.json").read_text())
        source = (
            f" (this model was trained on {meta['data_root']})" if meta.get("data_root") else ""
        )
        raise DataError(
            f"{r}: not a prepared dataset but a model directory: pass it as --model; --data "
            f"takes the directory 'prismrec data prepare' wrote{source}"
        )
    if not r.exists():
        raise DataError(
            f"{r}: not a prepared dataset (no such path)"
            f"{hint_dirs(r, SCHEMA_FILE, 'prepared datasets')}; create one with "
            f"'prismrec data prepare RAW_PATH --out {r}'"
        )
    raw = r.is_file() or any(r.iterdir())
    target = r.with_name(f"{r.stem}-prepared") if raw else r
    what = "raw data" if raw else "an empty directory"
    raise DataError(
        f"{r}: not a prepared dataset but {what} (no {SCHEMA_FILE}); prepare it with "
        f"'prismrec data prepare {r} --out {target}' and pass --data {target}"
    )


def _split_code(name: str) -> int:
    if name not in SPLIT_NAMES:
        names = ", ".join(repr(n) for n in SPLIT_NAMES)
        raise ConfigError(f"unknown split {name!r}; use one of {names}")
    return SPLIT_NAMES[name]
