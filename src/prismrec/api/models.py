"""Models in the Python API: train, load, recommend in external ids."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from prismrec.api.data import SPLITS, ConfigLike, Dataset, as_config
from prismrec.config import ModelConfig, PrismConfig, TrainConfig
from prismrec.data.dataset import EvalCases
from prismrec.data.vocab import IdMaps
from prismrec.errors import ConfigError, DataError, UnknownIdError, hint_dirs
from prismrec.training import PrismRecommender, Recommender, load_model, registry

__all__ = ["Model", "check_model_dir", "load", "split_cases", "train"]


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
        cases = split_cases(self, data, split)
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


def split_cases(model: Model, data: Dataset, split: str) -> EvalCases:
    """The evaluation cases of ``split`` (``valid`` or ``test``) of the model's dataset."""
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
    model_type: str | None = None,
    *,
    config: ConfigLike = None,
    out: str | Path | None = None,
    epochs: int | None = None,
    resume: bool = True,
    warm_start: str | Path | None = None,
    **params: Any,
) -> Model:
    """Train a model on the training part of a prepared dataset and measure it on validation.

    Args:
        data: a :class:`Dataset` or a prepared dataset directory.
        model_type: ``prism`` (default), ``sasrec``, ``bpr``, ``itemknn`` or ``pop``; with
            ``warm_start``, the previous model's type.
        config: a config file or :class:`~prismrec.config.PrismConfig` (``[model]``,
            ``[train]``, ``[content]``); with ``warm_start`` and no config, the previous
            model's own ``[model]`` and ``[train]`` settings.
        out: save the model here; trainable models also checkpoint every epoch to
            ``out/checkpoint`` and resume from it after an interruption.
        epochs: overrides ``[train] epochs``.
        resume: continue from ``out/checkpoint`` when there is one (False: start over).
        warm_start: a model directory to continue from (``prism`` and ``sasrec``): its
            weights are copied for the items it knows, new items start from their content;
            the data must share its ids (``prismrec data export`` writes such data).
        **params: ``[model]`` or ``[train]`` keys, e.g. ``embedding_dim=32, batch_size=256``.

    Returns:
        The trained model; ``model.metrics["valid"]`` holds its validation metrics.

    Raises:
        ConfigError: unknown model type, or a ``warm_start`` model of another type or
            architecture.
    """
    from prismrec.evaluation.protocol import evaluate as run_eval
    from prismrec.training.trainer import dist_info

    models = registry()
    parent = _warm_parent(warm_start, model_type)
    model_type = model_type or (parent["name"] if parent else "prism")
    if model_type not in models:
        raise ConfigError(
            f"unknown model type {model_type!r}; use one of: {', '.join(sorted(models))}"
        )
    ds = data if isinstance(data, Dataset) else Dataset.load(data)
    base = as_config(config)
    if parent is not None and config is None:  # the previous model's own settings
        base = base.model_copy(
            update={
                "model": ModelConfig(**parent["model"]),
                "train": TrainConfig(**parent["train"]),
            }
        )
    cfg = base.with_overrides("train", epochs=epochs).with_params(params)
    rec = _build(models[model_type], cfg, out, resume, warm_start, config is not None)
    rec.fit(ds.prepared, upto="valid")
    if dist_info()[0] != 0:  # under torchrun only rank 0 evaluates and writes
        return Model(rec, ds.ids)
    res = run_eval(rec, ds.prepared.eval_cases("valid"), split="valid")
    model = Model(rec, ds.ids, metrics={"valid": res.metrics})
    if out is not None:
        model.save(out)
    return model


def _warm_parent(path: str | Path | None, model_type: str | None) -> dict[str, Any] | None:
    """The ``model.json`` of the model to warm-start from (checked), or None."""
    if path is None:
        return None
    p = check_model_dir(path)
    meta: dict[str, Any] = json.loads((p / "model.json").read_text())
    if model_type is not None and model_type != meta.get("name"):
        raise ConfigError(
            f"cannot warm-start a {model_type} model from {p}, a {meta.get('name')} model; "
            f"omit --model-type (or pass {meta.get('name')}), or train afresh"
        )
    return meta


def _build(
    cls: type[Recommender],
    cfg: PrismConfig,
    out: str | Path | None,
    resume: bool,
    warm_start: str | Path | None,
    with_content: bool,
) -> Recommender:
    """An untrained ``cls`` with its options: checkpoints under ``out`` (``last.pt`` removed
    unless ``resume``) and, for prism and sasrec, the warm start and ``cfg.content`` (when
    ``with_content``: a config was given; else what ``content encode`` or the parent used)."""
    if warm_start is not None and not issubclass(cls, PrismRecommender):
        raise ConfigError(
            f"--warm-start works for prism and sasrec; {cls.name} trains in one pass "
            "(train it afresh on the new data)"
        )
    ckpt = None if out is None else Path(out) / "checkpoint"
    if ckpt is not None and not resume and (ckpt / "last.pt").is_file():
        (ckpt / "last.pt").unlink()
    if issubclass(cls, PrismRecommender):
        content = cfg.content if with_content else None
        return cls(
            cfg.model,
            cfg.train,
            checkpoint_dir=ckpt,
            content_config=content,
            warm_start_dir=warm_start,
        )
    return cls(cfg.model, cfg.train, checkpoint_dir=ckpt)
