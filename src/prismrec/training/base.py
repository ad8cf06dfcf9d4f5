"""The uniform recommender API: ``fit``, ``recommend``, ``save``, ``load``.

Inside, users and items are contiguous ints (items 1..N, 0 is padding); external ids appear only
at the edges through the vocabularies stored in every model directory.
"""

from __future__ import annotations

import copy
import json
import shutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from prismrec import __version__
from prismrec.config import ModelConfig, TrainConfig
from prismrec.data.dataset import PreparedDataset
from prismrec.errors import ConfigError, NotTrainedError
from prismrec.evaluation.beyond import dataset_categories
from prismrec.evaluation.interests import InterestModel, interest_means
from prismrec.training.manifest import ModelManifest, read_manifest

__all__ = [
    "MODEL_FILE",
    "VALID_INTEREST_USERS",
    "History",
    "Recommender",
    "item_array",
    "load_model",
    "register",
    "registry",
]

History = np.ndarray | dict[str, np.ndarray]


def item_array(h: History) -> np.ndarray:
    """The item indices of a history given as an array or a feature dict."""
    return np.asarray(h["item_idx"] if isinstance(h, dict) else h, dtype=np.int64)


MODEL_FILE = "model.json"
VALID_INTEREST_USERS = 1000  # users whose interests are measured at each validation
SCORE_BUDGET = 20_000_000  # user x item scores per chunk of ``recommend`` (80 MB in float32)
_REGISTRY: dict[str, type[Recommender]] = {}


def register(cls: type[Recommender]) -> type[Recommender]:
    """Class decorator: make a recommender available by its ``name``."""
    _REGISTRY[cls.name] = cls
    return cls


def registry() -> dict[str, type[Recommender]]:
    return dict(_REGISTRY)


class Recommender(ABC):
    """Base class of every recommender; subclasses implement ``_fit``, ``score`` and state IO."""

    name: ClassVar[str] = "base"
    # this model's own tuned [train] defaults, used for every key the caller did not set
    train_defaults: ClassVar[dict[str, Any]] = {}

    def __init__(
        self,
        model: ModelConfig | None = None,
        train: TrainConfig | None = None,
        *,
        checkpoint_dir: str | Path | None = None,
        on_validation: Callable[[int, float], None] | None = None,
    ) -> None:
        """Keep the settings and options; the work happens in ``fit`` or ``load``.

        Args:
            model: the ``[model]`` settings.
            train: the ``[train]`` settings (this model's ``train_defaults`` fill the keys
                nobody set).
            checkpoint_dir: where a model trained in epochs writes ``last.pt`` after each one
                and resumes from (None: no checkpoints; a model trained in one pass ignores it).
            on_validation: called after each validation during training with (validation
                number, NDCG@10): a hyper-parameter search reports it and may stop the
                training by raising.
        """
        self.model_config = model or ModelConfig()
        tc = train or TrainConfig()
        unset = {k: v for k, v in self.train_defaults.items() if k not in tc.model_fields_set}
        self.train_config = tc.model_copy(update=unset) if unset else tc
        self.n_items = 0
        self.fitted = False
        self.user_histories: dict[int, dict[str, np.ndarray]] = {}
        self.history: list[dict[str, float]] = []
        self.data_root: Path | None = None
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.on_validation = on_validation
        # the trainer's best validation NDCG@10 and when it was reached (None: not trained in
        # epochs)
        self.best_valid_ndcg: float | None = None
        self.seconds_to_best: float | None = None
        # versions (see ``training.manifest``): this model's, once saved or loaded, and the
        # one it was warm-started from
        self.version: str | None = None
        self.parent_version: str | None = None
        self.parent_path: str | None = None
        # the items' categories that label interests in the validation measures (None: none)
        self._label_categories: tuple[np.ndarray, list[str]] | None = None

    # ----- training ---------------------------------------------------------------------------
    def fit(self, data: PreparedDataset, upto: str = "valid") -> Recommender:
        """Train on the events before split ``upto`` (``valid``: the train part only)."""
        self.n_items = data.n_items
        self.data_root = data.root
        cols = data.feature_columns
        seqs = data.sequences("test", cols)
        self.user_histories = {
            int(u): {c: seqs[c][i] for c in cols} for i, u in enumerate(seqs["user_idx"][0])
        }
        if isinstance(self, InterestModel):
            found = dataset_categories(data)
            self._label_categories = (found[1], found[2]) if found is not None else None
        self._fit(data, upto)
        self.fitted = True
        return self

    @abstractmethod
    def _fit(self, data: PreparedDataset, upto: str) -> None: ...

    # ----- inference --------------------------------------------------------------------------
    @abstractmethod
    def score(self, histories: Sequence[History], users: np.ndarray | None = None) -> np.ndarray:
        """Scores (B, n_items + 1) for each history (column 0 is padding).

        ``users`` (internal indices, -1 for unknown) lets models with per-user parameters use
        them; every model must also score a history alone.
        """

    def recommend(
        self,
        histories: Sequence[History] | None = None,
        k: int = 10,
        filter_seen: bool = True,
        items: np.ndarray | None = None,
        users: Sequence[int] | np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k item indices and scores per history (or per known user index).

        Args:
            histories: per user, item indices in time order, or a dict of per-event feature
                arrays with ``item_idx`` (a user never seen in training is fine).
            k: list length.
            filter_seen: exclude items in the history.
            items: optional allow-list of candidate item indices.
            users: internal user indices; alone, their stored histories are used.
        """
        self._check_fitted()
        user_arr = None if users is None else np.asarray(users, dtype=np.int64)
        if histories is None:
            if user_arr is None:
                raise ValueError("recommend() needs histories or users")
            empty = {"item_idx": np.zeros(0, np.int64)}
            histories = [self.user_histories.get(int(u), empty) for u in user_arr]
        hist = list(histories)
        if not hist:
            return np.zeros((0, k), np.int64), np.zeros((0, k), np.float32)
        # users in chunks, so a large catalogue never needs a (users x items) matrix at once
        step = self.users_per_chunk()
        parts = [
            self._recommend_chunk(
                hist[a : a + step],
                None if user_arr is None else user_arr[a : a + step],
                k,
                filter_seen,
                items,
            )
            for a in range(0, len(hist), step)
        ]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _recommend_chunk(
        self,
        hist: list[History],
        user_arr: np.ndarray | None,
        k: int,
        filter_seen: bool,
        items: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        scores = self.score(hist, user_arr)
        return self._ranked_chunk(hist, user_arr, scores, k, filter_seen, items)

    def with_settings(self, **model: Any) -> Self:
        """A shallow copy that scores with these ``[model]`` keys changed (e.g. ``merge``).

        The weights are shared and ``self`` is unchanged: an evaluation can try another
        inference rule without retraining or reloading.
        """
        out = copy.copy(self)
        out.model_config = self.model_config.model_copy(update=model)
        return out

    @property
    def score_rows(self) -> int:
        """How many scores of each item ``score`` forms per user on the way (1; a
        multi-interest model: one per interest)."""
        return 1

    def users_per_chunk(self) -> int:
        """Users scored at once: ``SCORE_BUDGET`` scores over every item and score row."""
        return max(1, SCORE_BUDGET // ((self.n_items + 1) * self.score_rows))

    def _ranked_chunk(
        self,
        hist: list[History],
        user_arr: np.ndarray | None,
        scores: np.ndarray,
        k: int,
        filter_seen: bool,
        items: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k ids and scores of a chunk from its (B, N+1) scores: padding, items outside
        ``items`` and (``filter_seen``) the history masked, then any list-level re-ranking."""
        scores = np.array(scores, dtype=np.float32, copy=True)
        scores[:, 0] = -np.inf
        if items is not None:
            allowed = np.zeros(scores.shape[1], dtype=bool)
            allowed[np.asarray(items, dtype=np.int64)] = True
            scores[:, ~allowed] = -np.inf
        if filter_seen:
            seen = [item_array(h) for h in hist]
            rows = np.repeat(np.arange(len(seen)), [len(h) for h in seen])
            cols = np.concatenate(seen) if rows.size else np.zeros(0, np.int64)
            scores[rows, cols] = -np.inf
        ranked = self._rerank(hist, user_arr, scores, k)
        if ranked is None:
            return _topk(scores, k)
        ids, _ = _topk(ranked, k)
        return ids, np.take_along_axis(scores, ids, axis=1)

    def _rerank(
        self, histories: list[History], users: np.ndarray | None, scores: np.ndarray, k: int
    ) -> np.ndarray | None:
        """Optional list-level re-ranking of filtered scores for a ``k``-long list (None: off)."""
        return None

    def validation_callback(
        self, cases: Any
    ) -> Callable[[], tuple[float, dict[str, float], np.ndarray | None]]:
        """The trainer's early-stopping signal: NDCG@10 (and Recall@10) on ``cases``, or on
        ``[train] valid_users`` of them (a fixed sample drawn with the training seed).

        A model with K > 1 interests also reports the means of the interest measures, of
        distinctness (``interest_cosine`` ...) and of use (``short_weight``,
        ``effective_interests``, ``worst_jaccard@20`` ...), over at most
        ``VALID_INTEREST_USERS`` of the cases, the same users every epoch (drawn with the
        training seed).
        """
        from prismrec.evaluation.protocol import evaluate

        cats, names = self._label_categories or (None, [])
        tc = self.train_config
        cases = cases.sample(tc.valid_users, tc.seed)  # the same users every epoch

        def validate() -> tuple[float, dict[str, float], np.ndarray | None]:
            self.fitted = True  # scoring mid-training is allowed
            res = evaluate(self, cases, ks=(10,), metrics=("ndcg", "recall"), split="valid")
            metrics = dict(res.metrics)
            metrics.update(
                interest_means(
                    self,
                    cases.users,
                    cases.inputs(),
                    categories=cats,
                    category_names=names,
                    max_users=VALID_INTEREST_USERS,
                    seed=self.train_config.seed,
                )
            )
            step[0] += 1
            if self.on_validation is not None:
                self.on_validation(step[0], res.metrics["ndcg@10"])
            return res.metrics["ndcg@10"], metrics, res.per_user.get("ndcg@10")

        step = [0]
        return validate

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise NotTrainedError(
                f"This {type(self).__name__} instance is not fitted yet. Call "
                f"'fit' with a prepared dataset, or 'load' a model directory."
            )

    # ----- persistence ------------------------------------------------------------------------
    def save(self, path: str | Path, metrics: dict[str, Any] | None = None) -> Path:
        """Write config, schema, vocabularies, weights and metrics to a directory."""
        self._check_fitted()
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        if self.data_root is not None and (self.data_root / "schema.json").is_file():
            shutil.copy2(self.data_root / "schema.json", out / "schema.json")
            shutil.copytree(self.data_root / "vocab", out / "vocab", dirs_exist_ok=True)
            shutil.copy2(self.data_root / "items.parquet", out / "items.parquet")
            if (self.data_root / "users.parquet").is_file():  # static attributes (serving)
                shutil.copy2(self.data_root / "users.parquet", out / "users.parquet")
        meta = {
            "name": self.name,
            "prismrec_version": __version__,
            "n_items": self.n_items,
            "model": self.model_config.model_dump(),
            "train": self.train_config.model_dump(),
            "history": self.history,
            "metrics": metrics or {},
            "data_root": str(self.data_root) if self.data_root else None,
        }
        (out / MODEL_FILE).write_text(json.dumps(meta, indent=2))
        _save_histories(out / "histories.npz", self.user_histories)
        self._save_state(out)
        manifest = ModelManifest.create(
            self.name,
            {"model": meta["model"], "train": meta["train"]},
            self.data_root,
            metrics,
            self.parent_version,
            self.parent_path,
        )
        manifest.write(out)  # last: a directory with a manifest is complete
        self.version = manifest.version
        return out

    @classmethod
    def load(cls, path: str | Path) -> Recommender:
        """Rebuild a fitted recommender from its directory."""
        p = Path(path)
        meta = _read_meta(p)
        sub = _REGISTRY[meta["name"]] if cls is Recommender else cls
        obj = sub(ModelConfig(**meta["model"]), TrainConfig(**meta["train"]))
        obj.n_items = int(meta["n_items"])
        obj.history = meta.get("history", [])
        obj.data_root = p
        obj.user_histories = _load_histories(p / "histories.npz")
        manifest = read_manifest(p)
        if manifest is not None:
            obj.version, obj.parent_version = manifest.version, manifest.parent
            obj.parent_path = manifest.parent_path
        obj._load_state(p)
        obj.fitted = True
        return obj

    @abstractmethod
    def _save_state(self, path: Path) -> None: ...

    @abstractmethod
    def _load_state(self, path: Path) -> None: ...


def _read_meta(p: Path) -> dict[str, Any]:
    f = p / MODEL_FILE
    if not f.is_file():
        raise ConfigError(
            f"{p}: not a model directory (no {MODEL_FILE}); train one with "
            f"'prismrec train --data DATA_DIR --out {p}'"
        )
    meta = json.loads(f.read_text())
    if meta.get("name") not in _REGISTRY:
        raise ConfigError(f"{p}: unknown model {meta.get('name')!r}; known: {sorted(_REGISTRY)}")
    return meta


def _save_histories(path: Path, histories: dict[int, dict[str, np.ndarray]]) -> None:
    users = np.fromiter(histories.keys(), dtype=np.int64, count=len(histories))
    first = next(iter(histories.values()), {"item_idx": np.zeros(0, np.int64)})
    lengths = np.fromiter(
        (len(v["item_idx"]) for v in histories.values()), dtype=np.int64, count=len(histories)
    )
    arrays = {
        f"col_{c}": (
            np.concatenate([v[c] for v in histories.values()])
            if len(users)
            else np.zeros(0, np.int64)
        )
        for c in first
    }
    np.savez_compressed(path, users=users, lengths=lengths, **arrays)  # type: ignore[arg-type]


def _load_histories(path: Path) -> dict[int, dict[str, np.ndarray]]:
    h = np.load(path)
    users, lengths = h["users"], h["lengths"]
    if not len(users):
        return {}
    cuts = np.cumsum(lengths)[:-1]
    cols = {k[4:]: np.split(h[k].astype(np.int64), cuts) for k in h.files if k.startswith("col_")}
    return {int(u): {c: parts[i] for c, parts in cols.items()} for i, u in enumerate(users)}


def load_model(path: str | Path) -> Recommender:
    """Load any registered recommender from its directory."""
    return Recommender.load(path)


def _topk(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(scores, part, axis=1)
    # stable order: higher score first, ties by lower item index
    order = np.lexsort((part, -part_scores), axis=1)
    ids = np.take_along_axis(part, order, axis=1)
    return ids.astype(np.int64), np.take_along_axis(part_scores, order, axis=1)
