"""The Python API, in external ids: prepare data, train, load, recommend, evaluate.

```python
import prismrec as pr

ds = pr.prepare("bundled:ml-latest-small", "runs/mls")    # or pr.Dataset.from_frame(df, ...)
model = pr.train(ds, "prism", epochs=5)                   # or pr.load("runs/mls-prism")
model.recommend_for(user_id="1", k=10)                    # [{"item_id": "...", "score": ...}]
model.recommend_for(history=["1", "3114"], k=10)          # a user never seen in training
pr.evaluate(model, ds, split="test")                      # what `prismrec evaluate --json` prints
```

The ``prismrec`` commands call these functions, so the CLI and Python give the same lists and
numbers. Inside, users and items are contiguous rows; ids are translated at this edge only, by
:class:`~prismrec.data.vocab.IdMaps` (which the HTTP service uses too).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from prismrec.config import DataConfig, ModelConfig, PrismConfig, TrainConfig, load_config
from prismrec.data.dataset import PreparedDataset
from prismrec.data.dataset import prepare as _prepare
from prismrec.data.vocab import IdMaps
from prismrec.errors import ConfigError, DataError, UnknownIdError, hint_dirs
from prismrec.training import Recommender, load_model, registry

__all__ = [
    "Dataset",
    "Model",
    "check_model_dir",
    "effective_config",
    "evaluate",
    "load",
    "prepare",
    "train",
]

ConfigLike = str | Path | PrismConfig | None
SPLITS = ("valid", "test")


def _config(config: ConfigLike) -> PrismConfig:
    return config if isinstance(config, PrismConfig) else load_config(config)


class Dataset:
    """A prepared dataset directory: events as contiguous rows, vocabularies, the split.

    Build one with :func:`prepare` (a file or folder in any supported format),
    :meth:`from_frame` (a DataFrame) or :meth:`load` (a directory prepared before).
    """

    def __init__(self, prepared: PreparedDataset) -> None:
        self.prepared = prepared
        self.ids = IdMaps(prepared.user_vocab, prepared.item_vocab)

    @classmethod
    def load(cls, root: str | Path) -> Dataset:
        """Open a directory written by :func:`prepare` (``prismrec data prepare --out``)."""
        return cls(PreparedDataset.load(root))

    @classmethod
    def from_frame(
        cls,
        interactions: Any,
        out: str | Path | None = None,
        *,
        items: Any = None,
        users: Any = None,
        config: ConfigLike = None,
        skip_bad_rows: bool = False,
        **data: Any,
    ) -> Dataset:
        """Validate, preprocess and split a DataFrame of events (polars or pandas).

        Args:
            interactions: one row per event with ``user_id``, ``item_id`` and ``timestamp``
                (and optionally ``event_type``, ``value``, context columns), or other column
                names mapped by ``columns={...}``.
            out: where to write the prepared dataset (default: a new temporary directory).
            items: an optional item catalogue with ``item_id`` and content columns.
            users: optional static user attributes with ``user_id``.
            config: a config file or :class:`~prismrec.config.PrismConfig`; its ``[data]``.
            skip_bad_rows: keep the good rows when some are invalid (else a ``DataError``).
            **data: ``[data]`` keys that override the config, e.g. ``split="ratio"``,
                ``columns={"user_id": "customer"}``, ``item_text_fields=["title"]``.
        """
        root = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="prismrec-"))
        source = root / "source"
        source.mkdir(parents=True, exist_ok=True)
        for name, frame in (("interactions", interactions), ("items", items), ("users", users)):
            if frame is not None:
                _polars(frame, name).write_parquet(source / f"{name}.parquet")
        cfg = _config(config).with_overrides("data", **data).data
        return cls(_prepare(source, root, "parquet", cfg, skip_bad_rows=skip_bad_rows))

    @property
    def root(self) -> Path:
        return Path(self.prepared.root)

    @property
    def n_users(self) -> int:
        return self.prepared.n_users

    @property
    def n_items(self) -> int:
        return self.prepared.n_items

    def __repr__(self) -> str:
        return f"Dataset({str(self.root)!r}, users={self.n_users:,}, items={self.n_items:,})"


def _polars(frame: Any, name: str) -> pl.DataFrame:
    if isinstance(frame, pl.DataFrame):
        return frame
    try:
        return pl.from_pandas(frame)
    except (TypeError, ValueError, ImportError) as exc:
        raise DataError(f"{name}: expected a polars or pandas DataFrame ({exc})") from None


def prepare(
    path: str | Path,
    out: str | Path,
    *,
    format: str | None = None,
    config: ConfigLike = None,
    skip_bad_rows: bool = False,
    **data: Any,
) -> Dataset:
    """Load, validate, preprocess and split a dataset into ``out``.

    Args:
        path: a file or folder in a supported format, or ``bundled:ml-latest-small``.
        out: the prepared dataset directory to write.
        format: the format (detected when ``None``; see the data formats how-to).
        config: a config file or :class:`~prismrec.config.PrismConfig`; its ``[data]``.
        skip_bad_rows: keep the good rows when some are invalid (else a ``DataError``).
        **data: ``[data]`` keys that override the config (``split="ratio"``, ``seed=1`` ...).
    """
    cfg = _config(config).with_overrides("data", **data).data
    return Dataset(_prepare(path, out, format, cfg, skip_bad_rows=skip_bad_rows))


class Model:
    """A trained recommender with its vocabularies: asks and answers in external ids.

    Attributes:
        recommender: the underlying :class:`~prismrec.training.Recommender` (internal rows).
        ids: its users and items (:class:`~prismrec.data.vocab.IdMaps`).
        root: the model directory (``None`` until saved).
        metrics: what training measured, e.g. ``{"valid": {"ndcg@10": ...}}``.
    """

    def __init__(
        self,
        recommender: Recommender,
        ids: IdMaps,
        root: Path | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> None:
        self.recommender = recommender
        self.ids = ids
        self.root = root
        self.metrics = metrics or {}

    @property
    def name(self) -> str:
        """The model type (``prism``, ``sasrec``, ``bpr``, ``itemknn``, ``pop``)."""
        return self.recommender.name

    def recommend_for(
        self,
        user_id: str | None = None,
        history: Sequence[str] | None = None,
        k: int = 10,
        filter_seen: bool = True,
    ) -> list[dict[str, Any]]:
        """One top-``k`` list: ``[{"item_id": ..., "score": ...}, ...]``, best first.

        Args:
            user_id: a user of the training data (their stored history is used).
            history: item ids, oldest first: the user's events (a user never seen in training,
                or a known user's history replaced).
            k: list length.
            filter_seen: leave out the items of the history.

        Raises:
            UnknownIdError: an unknown user without ``history``, or unknown items in it.
        """
        _check_k(k)
        rec, user = self.recommender, self.ids.user_row(user_id)
        if history is not None:
            rows = self.ids.item_rows([str(h) for h in history], "history")
            ids, scores = rec.recommend([rows], k=k, filter_seen=filter_seen, users=[user])
        elif user >= 0:
            ids, scores = rec.recommend(users=[user], k=k, filter_seen=filter_seen)
        elif user_id is None:
            raise ConfigError("recommend_for needs user_id= or history= (item ids, oldest first)")
        else:
            raise UnknownIdError(
                f"unknown user {user_id!r}: not in the training data; pass their history "
                "(history=[...] in Python, --history ITEM,ITEM,... on the command line)"
            )
        return self.ids.ranked(ids[0], scores[0])

    def recommend_split(
        self, data: Dataset, split: str = "test", k: int = 10, filter_seen: bool = True
    ) -> Iterator[dict[str, Any]]:
        """Every user of a split at their target position: ``{"user_id", "items", "scores"}``."""
        from prismrec.evaluation.protocol import rank_cases

        _check_k(k)
        cases = _cases(self, data, split)
        ids, scores = rank_cases(self.recommender, cases, k, filter_seen)
        users = data.ids.users.external(cases.users)
        for u, row, sc in zip(users, ids, scores, strict=True):
            ranked = data.ids.ranked(row, sc)
            yield {
                "user_id": u,
                "items": [r["item_id"] for r in ranked],
                "scores": [r["score"] for r in ranked],
            }

    def check_data(self, data: Dataset) -> None:
        """Raise a ``DataError`` unless ``data`` indexes the items this model was trained on."""
        if self.recommender.n_items != data.n_items:
            raise DataError(
                f"the model was trained on {self.recommender.n_items} items but {data.root} has "
                f"{data.n_items}: use the prepared dataset the model was trained on"
            )

    def save(self, path: str | Path) -> Path:
        """Write the model directory (config, vocabularies, weights, metrics)."""
        self.root = self.recommender.save(path, metrics=self.metrics)
        return self.root

    def __repr__(self) -> str:
        where = f", root={str(self.root)!r}" if self.root else ""
        return f"Model({self.name!r}, items={len(self.ids.items):,}{where})"


def _check_k(k: int) -> None:
    if not isinstance(k, int) or k < 1:
        raise ConfigError(f"k must be a whole number of at least 1 (got {k!r})")


def _cases(model: Model, data: Dataset, split: str) -> Any:
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; use 'valid' or 'test'")
    model.check_data(data)
    return data.prepared.eval_cases(split)


def load(path: str | Path) -> Model:
    """Open a model directory written by :func:`train` or ``prismrec train``.

    Raises:
        ConfigError: the path is not a model directory (the message says what it is instead).
    """
    p = check_model_dir(path)
    return Model(load_model(p), IdMaps.from_dir(p), root=p, metrics=_stored_metrics(p))


def check_model_dir(path: str | Path | None) -> Path:
    """``path`` as a Path when it is a model directory; else a ``ConfigError`` saying what to do.

    A prepared dataset, a missing path and a file each get their own message; a missing path
    lists the model directories beside it.
    """
    if path is None:
        raise ConfigError(
            "no model directory: pass --model MODEL_DIR (or set PRISMREC_MODEL_DIR, or "
            "[serve] model_dir in --config)"
        )
    p = Path(path)
    if not (p / "model.json").is_file():
        raise ConfigError(_not_a_model(p))
    return p


def _stored_metrics(p: Path) -> dict[str, Any]:
    import json

    return dict(json.loads((p / "model.json").read_text()).get("metrics") or {})


def _not_a_model(p: Path) -> str:
    if (p / "schema.json").is_file():
        return (
            f"{p}: not a model directory but a prepared dataset: pass it as --data, and train a "
            f"model on it with 'prismrec train --data {p} --out {p}-prism'"
        )
    if not p.exists():
        return (
            f"{p}: not a model directory (no such path)"
            f"{hint_dirs(p, 'model.json', 'model directories')}; train one with "
            f"'prismrec train --data DATA_DIR --out {p}'"
        )
    if p.is_file():
        return f"{p}: not a model directory but a file; pass the directory 'train --out' wrote"
    return (
        f"{p}: not a model directory (no model.json){hint_dirs(p, 'model.json', 'models')}; "
        f"train one with 'prismrec train --data DATA_DIR --out MODEL_DIR'"
    )


def train(
    data: Dataset | str | Path,
    model_type: str = "prism",
    *,
    config: ConfigLike = None,
    out: str | Path | None = None,
    epochs: int | None = None,
    resume: bool = True,
    **params: Any,
) -> Model:
    """Train a model on the training part of a prepared dataset and measure it on validation.

    Args:
        data: a :class:`Dataset` or a prepared dataset directory.
        model_type: ``prism`` (default), ``sasrec``, ``bpr``, ``itemknn`` or ``pop``.
        config: a config file or :class:`~prismrec.config.PrismConfig` (``[model]``,
            ``[train]``, ``[content]``).
        out: save the model here; trainable models also checkpoint every epoch to
            ``out/checkpoint`` and resume from it after an interruption.
        epochs: overrides ``[train] epochs``.
        resume: continue from ``out/checkpoint`` when there is one (False: start over).
        **params: ``[model]`` or ``[train]`` keys, e.g. ``embedding_dim=32, batch_size=256``.

    Returns:
        The trained model; ``model.metrics["valid"]`` holds its validation metrics.
    """
    from prismrec.evaluation.protocol import evaluate as run_eval
    from prismrec.training.trainer import dist_info

    models = registry()
    if model_type not in models:
        raise ConfigError(
            f"unknown model type {model_type!r}; use one of: {', '.join(sorted(models))}"
        )
    ds = data if isinstance(data, Dataset) else Dataset.load(data)
    cfg = _with_params(_config(config).with_overrides("train", epochs=epochs), params)
    rec = models[model_type](cfg.model, cfg.train)
    if out is not None:
        ckpt = Path(out) / "checkpoint"
        if not resume and (ckpt / "last.pt").is_file():
            (ckpt / "last.pt").unlink()
        if hasattr(rec, "checkpoint_dir"):
            rec.checkpoint_dir = ckpt
    if hasattr(rec, "content_config") and config is not None:
        rec.content_config = cfg.content
    rec.fit(ds.prepared, upto="valid")
    model = Model(rec, ds.ids)
    if dist_info()[0] != 0:  # under torchrun only rank 0 evaluates and writes
        return model
    res = run_eval(rec, ds.prepared.eval_cases("valid"), split="valid")
    model.metrics = {"valid": res.metrics}
    if out is not None:
        model.save(out)
    return model


def _with_params(cfg: PrismConfig, params: dict[str, Any]) -> PrismConfig:
    """Send each keyword to the section that has the key ([model] or [train])."""
    by_section: dict[str, dict[str, Any]] = {"model": {}, "train": {}}
    for key, value in params.items():
        section = next((s for s, m in _PARAM_SECTIONS if key in m.model_fields), None)
        if section is None:
            raise ConfigError(
                f"unknown parameter {key!r}: not a [model] or [train] key "
                "(see 'prismrec config show' for every key)"
            )
        by_section[section][key] = value
    for section, values in by_section.items():
        if values:
            cfg = cfg.with_overrides(section, **values)
    return cfg


_PARAM_SECTIONS: tuple[tuple[str, type[ModelConfig] | type[TrainConfig]], ...] = (
    ("model", ModelConfig),
    ("train", TrainConfig),
)


def evaluate(
    model: Model | str | Path,
    data: Dataset | str | Path,
    split: str = "test",
    *,
    filter_seen: bool = True,
    sampled: int | None = None,
    seed: int = 0,
    report: str | Path | None = None,
    baselines: Sequence[str | Path] | None = None,
    facets: str | Path | None = None,
) -> dict[str, Any]:
    """Accuracy and beyond-accuracy metrics @10 and @20 on a split, overall and per slice.

    Returns the dict ``prismrec evaluate --json`` prints: flat keys (``"ndcg@10"``,
    ``"recall@10"`` ...), ``"model"``, ``"n_users"``, ``"slices"``, ``"definitions"`` and
    ``"protocol"``; with ``report``, also ``"ci"`` (95% bootstrap intervals).

    Args:
        model: a :class:`Model` or a model directory.
        data: the :class:`Dataset` (or its directory) the model was trained on.
        split: ``"valid"`` or ``"test"``.
        filter_seen: mask the user's history (full ranking either way).
        sampled: rank the targets among this many sampled negatives instead of all items.
        seed: seed of the sampled negatives and of the bootstrap.
        report: write ``metrics.json``, ``per_user.npz``, ``run.json`` and ``report.html`` here.
        baselines: other runs' report directories to plot alongside.
        facets: a planted-facets Parquet file (synthetic data) for interest coverage.
    """
    from prismrec.evaluation import dataset_slices, evaluate_full, metrics_payload
    from prismrec.evaluation.run import eval_catalog, planted_facets, write_eval_report
    from prismrec.retrieval.rerank import mmr

    m = model if isinstance(model, Model) else load(model)
    ds = data if isinstance(data, Dataset) else Dataset.load(data)
    cases = _cases(m, ds, split)
    if sampled is not None and sampled < 1:
        raise ConfigError(f"sampled must be at least 1 (got {sampled})")
    catalog = eval_catalog(ds.prepared, split)
    planted = planted_facets(ds.prepared, cases, catalog, Path(facets) if facets else None)
    res = evaluate_full(
        m.recommender,
        cases,
        filter_seen=filter_seen,
        split=split,
        catalog=catalog,
        slices=dataset_slices(ds.prepared, cases, split),
        interests=planted[0] if planted else None,
        interests_source=planted[1] if planted else "",
        sampled=sampled,
        seed=seed,
    )
    if report is None:
        return metrics_payload(res, m.name)
    return write_eval_report(
        Path(report),
        res,
        m.recommender,
        ds.prepared,
        cases,
        catalog,
        m.root,
        [Path(b) for b in baselines or []],
        seed,
        rerank=mmr,
    )


def effective_config(
    model: str | Path | None = None, config: str | Path | None = None
) -> dict[str, dict[str, Any]]:
    """The configuration a command would run with, section by section, with every key.

    Sections a model directory stores (``data``, ``model``, ``train``, ``content``) come from
    it when ``model`` is given (what the model was built with); the others from ``config`` over
    the defaults. ``serve`` resolves ``PRISMREC_*`` environment variables > ``[serve]`` >
    defaults, with ``model_dir`` set to ``model``.
    """
    import json

    from prismrec.config import serve_settings

    cfg = load_config(config)
    out: dict[str, dict[str, Any]] = {
        name: getattr(cfg, name).model_dump(mode="json") for name in ("data", "content")
    }
    out["model"] = cfg.model.model_dump(mode="json")
    out["train"] = cfg.train.model_dump(mode="json")
    if model is not None:
        p = check_model_dir(model)
        meta = json.loads((p / "model.json").read_text())
        out["model"] = ModelConfig(**meta["model"]).model_dump(mode="json")
        out["train"] = TrainConfig(**meta["train"]).model_dump(mode="json")
        if (p / "schema.json").is_file():
            schema = json.loads((p / "schema.json").read_text())
            out["data"] = DataConfig(**schema.get("config", {})).model_dump(mode="json")
        net = p / "net.json"
        content = json.loads(net.read_text()).get("content") if net.is_file() else None
        if content:
            out["content"] = PrismConfig(content=content).content.model_dump(mode="json")
    serve = serve_settings(config, model_dir=model)
    out["serve"] = serve.model_dump(mode="json")
    return out
