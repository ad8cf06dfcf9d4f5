"""The prism recommender: building, training, calibrating and saving it.

Inference lives in its base class (``training._prism_scoring``); SASRec, its ID-only,
single-interest special case, in :mod:`prismrec.training.sasrec`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from prismrec.config import ContentConfig, ModelConfig, TrainConfig
from prismrec.data.dataset import PreparedDataset
from prismrec.data.schema import pick_category_field
from prismrec.errors import ConfigError
from prismrec.evaluation.beyond import category_bags, category_multi_hot
from prismrec.models.fusion import ItemInputs, ItemTower
from prismrec.models.interests import RoutedInterests
from prismrec.models.prism import PrismNet
from prismrec.training._prism_scoring import PrismScoring
from prismrec.training._prism_step import TrainStep
from prismrec.training.base import register
from prismrec.training.baselines import ItemKNN
from prismrec.training.logspace import log_sum_exp
from prismrec.training.trainer import Trainer, clear_gain, start_training
from prismrec.training.windows import build_windows

__all__ = ["PrismRecommender", "TrainStep"]

log = logging.getLogger(__name__)

PRIOR_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
"""The co-occurrence prior weights ``cooc_weight = None`` chooses among on validation."""
PRIOR_USERS = 10_000
"""Validation users the prior weight is chosen on (a fixed sample drawn with the training
seed; all of them when there are fewer). The candidates are compared on the same users, a
paired comparison that 10,000 users settle, at a third of the cost on a 31k-user set."""
NOW_SHIFTS = (-1.0, 0.0, 1.0, 2.0, 3.0)
"""Shifts of the short-term row's gate logit (``now_bias``) chosen among on validation after
training, at the chosen prior weight. The gate is fitted on training positions, where the
long-term interests look better than they do on a user's next, unseen item (on
amazon-video-sasrec the short-term row alone reaches validation NDCG@10 0.058 while the
mixture, which gives it 0.13 of the weight, stays at 0.053)."""
SHIFT_SE = 2.0
"""A shift is taken only when its validation gain over none is above this many standard
errors of the per-user difference: a gain inside the noise leaves the gate as trained."""


def shifted(weights: np.ndarray, shift: float) -> np.ndarray:
    """(B, R) mixture weights with ``shift`` added to the last (short-term) row's logit: the
    weights a gate whose ``now_bias`` is ``shift`` higher gives."""
    if not shift:
        return weights
    w = np.asarray(weights, np.float64).copy()
    w[:, -1] *= np.exp(shift)
    return (w / w.sum(1, keepdims=True)).astype(np.asarray(weights).dtype)


def category_groups(data: PreparedDataset) -> torch.Tensor | None:
    """(N+1, C) each item's categories, its row summing to 1 (0 without any); None: no field."""
    picked = pick_category_field(data.item_fields, data.items_frame.columns)
    if picked is None:
        return None
    bags, names = category_bags(data.items_frame, picked[0], picked[1], data.n_items + 1)
    if not names:
        return None
    hot = category_multi_hot(bags, len(names))
    hot /= np.maximum(hot.sum(1, keepdims=True), 1.0)
    return torch.from_numpy(hot)


@register
class PrismRecommender(PrismScoring):
    """Multi-interest, content- and context-aware sequential recommender (the default model)."""

    name = "prism"
    _parent_spec: dict[str, Any] | None = None  # the warm start's content spec
    # set by training with item content (or loading such a model); None: ID embeddings only
    tower_kwargs: dict[str, Any] | None = None
    feature_spec: dict[str, Any] | None = None
    content_settings: dict[str, Any] | None = None
    # what ``calibrate_gate`` added to the short-term gate logit
    gate_shift: float = 0.0

    def __init__(
        self,
        model: ModelConfig | None = None,
        train: TrainConfig | None = None,
        *,
        checkpoint_dir: str | Path | None = None,
        on_validation: Callable[[int, float], None] | None = None,
        content_config: ContentConfig | None = None,
        warm_start_dir: str | Path | None = None,
    ) -> None:
        """Keep the settings and options (see :class:`Recommender`); also:

        Args:
            content_config: how item content is read (None: what ``content encode`` recorded,
                or with ``warm_start_dir`` what the previous model used).
            warm_start_dir: a previous model directory to continue from (``training.warm``);
                None: train afresh.
        """
        super().__init__(model, train, checkpoint_dir=checkpoint_dir, on_validation=on_validation)
        self.content_config = content_config
        self.warm_start_dir = None if warm_start_dir is None else Path(warm_start_dir)

    def _columns(self, data_sizes: dict[str, int]) -> dict[str, int]:
        cfg = self._effective()
        keep = {}
        for name, size in data_sizes.items():
            is_event = name == "event_idx"
            if (is_event and cfg.use_event_types) or (not is_event and cfg.use_context):
                keep[name] = size
        return keep

    def build_net(self, data: PreparedDataset) -> None:
        cfg = self._effective()
        self.seq_len = int(cfg.max_seq_len or data.schema["max_seq_len"])
        self.feature_sizes = self._columns(data.feature_sizes())
        attrs, sizes = data.user_features() if cfg.use_user_features else ({}, {})
        self.user_attr_arrays = attrs
        self.net_kwargs: dict[str, Any] = {
            "n_items": data.n_items,
            "embedding_dim": cfg.embedding_dim,
            "max_seq_len": self.seq_len,
            "n_layers": cfg.n_layers,
            "n_heads": cfg.n_heads,
            "dropout": cfg.dropout,
            "n_interests": cfg.n_interests,
            "extractor": cfg.extractor,
            "feature_sizes": self.feature_sizes,
            "user_feature_sizes": sizes,
            "use_repeat": cfg.use_repeat,
            "routing": {
                "temperature": cfg.routing_temperature,
                "balance": cfg.routing_balance,
                "short_term": cfg.short_term,
                **({"hub": cfg.hub_correction} if cfg.hub_correction > 0 else {}),
                **({"norm": True} if cfg.long_term_norm else {}),
                **({"dynamic": True} if cfg.dynamic_interests else {}),
                **({"fixed_items": True} if cfg.long_term_fixed_items else {}),
            },
            "n_event_types": (
                len(data.schema["event_types"]) + 1
                if cfg.use_event_types and self.train_config.aux_weight > 0
                else 0
            ),
        }
        self.tower_kwargs: dict[str, Any] | None = None
        self.item_inputs: dict[str, Any] | None = None
        if cfg.use_content:
            self._content(data)
        self.net = self._make_net()

    def _content(self, data: PreparedDataset) -> None:
        """Item content inputs (text vectors from the cache, categories, numbers, vectors)."""
        from prismrec.content import FeatureSpec, load_item_features
        from prismrec.content._items import config_for

        spec = FeatureSpec.from_dict(self._parent_spec) if self._parent_spec else None
        # a warm start reads content through the previous model's spec: same tower shapes
        feats = load_item_features(data, self.content_config, spec=spec)
        # serving encodes new items with the same text model and settings
        self.content_settings = config_for(data.root, self.content_config).model_dump()
        text_dim = int(feats.text.shape[1]) if feats.text is not None else None
        sizes = feats.spec.tower_sizes(text_dim)
        if not (
            text_dim or sizes["categorical_sizes"] or sizes["numeric_dim"] or sizes["vector_dims"]
        ):
            log.info("no item content in %s: using ID embeddings only", data.root)
            return
        counts = np.bincount(
            data.split_frame("valid").get_column("item_idx").to_numpy(), minlength=data.n_items + 1
        )
        # items never seen in training get no ID: their vector comes from content alone
        ids = np.where(counts > 0, np.arange(data.n_items + 1), 0)
        cfg = self._effective()
        self.tower_kwargs = {
            **sizes,
            "n_items": data.n_items,
            "id_dropout": cfg.id_dropout,
            "modality_dropout": cfg.modality_dropout,
        }
        self.item_inputs = {**feats.to_tensors(), "item_ids": torch.as_tensor(ids)}
        self.feature_spec = feats.spec.to_dict()

    def _parent(self) -> PrismRecommender | None:
        """The model to warm-start from (loaded), its content settings adopted; None: afresh."""
        if self.warm_start_dir is None:
            return None
        from prismrec.training.base import load_model

        parent = load_model(self.warm_start_dir)
        if not isinstance(parent, PrismRecommender) or parent.name != self.name:
            raise ConfigError(
                f"cannot warm-start a {self.name} model from {self.warm_start_dir}, a "
                f"{parent.name} model; pass --model-type {parent.name} or train afresh"
            )
        self._parent_spec = parent.feature_spec
        if self.content_config is None and parent.content_settings is not None:
            self.content_config = ContentConfig(**parent.content_settings)
        return parent

    def _warm_start(self, parent: PrismRecommender, data: PreparedDataset) -> None:
        """Copy the parent's weights into the freshly built net (see ``training.warm``)."""
        import polars as pl

        from prismrec.training.warm import check_compatible, copy_weights, item_row_map

        where = str(self.warm_start_dir)
        check_compatible(parent.net_kwargs, self.net_kwargs, "architecture", where)
        check_compatible(parent.tower_kwargs or {}, self.tower_kwargs or {}, "item tower", where)
        assert self.warm_start_dir is not None
        path = Path(self.warm_start_dir) / "items.parquet"
        items = pl.read_parquet(path, columns=["item_idx", "item_id"])
        rows = item_row_map(items, data)
        copy_weights(self.net, parent.net.state_dict(), rows, where)
        self.parent_version = parent.version
        self.parent_path = where

    def _make_net(self) -> PrismNet:
        tower = inputs = None
        if self.tower_kwargs is not None and self.item_inputs is not None:
            tower = ItemTower(self.net_kwargs["embedding_dim"], **self.tower_kwargs)
            inputs = ItemInputs(**self.item_inputs)
        return PrismNet(**self.net_kwargs, item_tower=tower, item_inputs=inputs)

    def _fit(self, data: PreparedDataset, upto: str) -> None:
        tc = self.train_config
        device = start_training(tc)
        parent = self._parent()
        self.build_net(data)
        if parent is not None:
            self._warm_start(parent, data)
        if self.net.repeat is not None and tc.loss != "ce":
            log.warning("the repeat bias is trained by loss='ce' only; with %r it stays 0", tc.loss)
        cols = ("item_idx", *self.feature_sizes)
        frame = data.split_frame(upto)
        types = np.unique(frame.get_column("event_idx").to_numpy())
        self.one_event_type = int(types[0]) if len(types) == 1 else 0
        cfg = self._effective()
        windows = build_windows(frame, cols, self.seq_len, tc.window_stride, cfg.future_window)
        counts = np.bincount(frame.get_column("item_idx").to_numpy(), minlength=data.n_items + 1)
        self.popularity = (np.log1p(counts) * 1e-6).astype(np.float32)
        freq = torch.as_tensor(counts / max(1, counts.sum()), dtype=torch.float32)
        if self.net.event_share is not None:  # counted afresh, after any warm start
            self.net.event_share.copy_(freq)
        attrs = {k: torch.as_tensor(v) for k, v in self.user_attr_arrays.items()}
        diversity = cfg.interest_diversity if cfg.n_interests > 1 else 0.0
        groups = category_groups(data) if diversity > 0 else None
        step = TrainStep(self.net, tc, cfg.readout, cols, attrs, freq, diversity, groups, cfg)
        step.to(device)  # before validation: the net scores where it trains
        cases = data.eval_cases("valid") if upto == "valid" else data.eval_cases("test")

        validate = self.validation_callback(cases)
        self.cooc = None
        self.cooc_weight = 0.0
        self.gate_shift = 0.0  # what ``calibrate_gate`` added to the short-term gate logit
        trainer = Trainer(step, windows, tc, validate, self.checkpoint_dir, device)
        self.history = trainer.fit()
        self.best_valid_ndcg = trainer.best_score
        self.seconds_to_best = trainer.seconds_to_best
        self.net.eval()
        self.fitted = True  # every rank (rank 0 alone validated under DDP)
        self._fit_cooc(data, upto, cases)
        self.calibrate_gate(cases)

    def _fit_cooc(self, data: PreparedDataset, upto: str, cases: Any) -> None:
        """The co-occurrence prior: item-to-item transitions, weighted on the validation split."""
        w = self._effective().cooc_weight
        if w == 0.0:
            return
        knn = ItemKNN(self.model_config, self.train_config)
        knn.fit_similarity(data, upto)
        self.cooc = knn
        if w is not None:
            self.cooc_weight = float(w)
            return
        sample = cases.sample(PRIOR_USERS, self.train_config.seed)
        ndcg = self.prior_weight_ndcg(sample, PRIOR_WEIGHTS)
        best = int(np.argmax(ndcg))  # the first of equals: the smallest weight
        self.cooc_weight = PRIOR_WEIGHTS[best]
        log.info(
            "co-occurrence prior weight %.2f (valid ndcg@10 %.4f)", self.cooc_weight, ndcg[best]
        )

    def calibrate_gate(self, cases: Any) -> None:
        """Shift the short-term row's gate logit by the value of ``NOW_SHIFTS`` with the best
        validation NDCG@10 at the chosen prior weight, if its gain over no shift is above
        ``SHIFT_SE`` standard errors (see ``NOW_SHIFTS``). Everything that reads the weights
        (scores, the served lists, the interests' weights on the page) then reads the
        shifted gate. ``fit`` calls it; called again, it shifts from where the gate is
        (``gate_shift`` is the total)."""
        gate = self._gate()
        if gate is None:
            return
        sample = cases.sample(PRIOR_USERS, self.train_config.seed)
        per_user = self.choice_ndcg(sample, [(s, self.cooc_weight) for s in NOW_SHIFTS])
        base = per_user[:, NOW_SHIFTS.index(0.0)]
        best = int(np.argmax(per_user.mean(0)))
        gain = float((per_user[:, best] - base).mean())
        shift = NOW_SHIFTS[best] if clear_gain(per_user[:, best], base, SHIFT_SE) else 0.0
        if shift:
            with torch.no_grad():
                gate.now_bias.add_(shift)
        self.gate_shift += shift
        log.info(
            "short-term gate shift %+.1f (valid ndcg@10 %.4f, %+.4f over none)",
            shift,
            float(per_user[:, NOW_SHIFTS.index(shift)].mean()),
            gain if shift else 0.0,
        )

    def _gate(self) -> RoutedInterests | None:
        """The routing module whose ``now_bias`` weighs the short-term row (None: none)."""
        routed = self.net.routed
        if routed is None or not routed.short_term or self.net.k < 2:
            return None
        return routed

    def prior_weight_ndcg(
        self, cases: Any, weights: Sequence[float], filter_seen: bool = True
    ) -> np.ndarray:
        """NDCG@10 on ``cases`` at each co-occurrence prior weight of ``weights`` (what
        ``evaluate`` measures with ``cooc_weight`` set to it), from one inference pass per
        chunk of users: only the weight changes between the candidates."""
        options = [(0.0, float(w)) for w in weights]
        return self.choice_ndcg(cases, options, filter_seen).mean(0)

    def choice_ndcg(
        self, cases: Any, options: Sequence[tuple[float, float]], filter_seen: bool = True
    ) -> np.ndarray:
        """(users, options) each user's NDCG@10 at each ``(gate shift, prior weight)`` of
        ``options``: what ``evaluate`` measures with the short-term row's gate logit shifted
        by the first and ``cooc_weight`` set to the second. One inference pass per chunk of
        users: a shift reweighs the rows exactly as a changed ``now_bias`` would."""
        from prismrec.evaluation.metrics import accuracy_metrics, hit_matrix

        inputs, chosen = cases.inputs(), self.cooc_weight
        out = np.zeros((len(cases.users), len(options)))
        step = self.users_per_chunk()
        gate = self._gate()
        bias = None if gate is None else gate.now_bias.detach().clone()
        try:
            for a in range(0, len(cases.users), step):
                hist, users = list(inputs[a : a + step]), cases.users[a : a + step]
                targets = cases.targets[a : a + step]
                n_t = np.array([len(t) for t in targets])
                logits, mix, _, _ = self._logits(hist, users)
                base, prior, rep = self.scorer.final_parts(logits, mix, hist)
                lse = None
                nets = {0.0: base}
                for j, (shift, w) in enumerate(options):
                    if shift not in nets:
                        if lse is None:
                            lse = log_sum_exp(logits[:, :, 1:], axis=2)
                        nets[shift] = self.scorer.net_score(logits, shifted(mix, shift), lse)
                    if gate is not None and bias is not None:  # for the quota merge's pass
                        with torch.no_grad():
                            gate.now_bias.copy_(bias + shift)
                    self.cooc_weight = float(w)  # the quota merge's own scores read it
                    scores = self.scorer.with_priors(nets[shift], prior if w > 0 else None, rep, w)
                    ids, sc = self._ranked_chunk(hist, users, scores, 10, filter_seen, None)
                    hits = hit_matrix(np.where(sc > -np.inf, ids, -1), targets)
                    ndcg = accuracy_metrics(hits, n_t, (10,), ("ndcg",))["ndcg@10"]
                    out[a : a + len(hist), j] = ndcg
        finally:
            self.cooc_weight = chosen
            if gate is not None and bias is not None:
                with torch.no_grad():
                    gate.now_bias.copy_(bias)
        return out

    # ---- persistence -------------------------------------------------------------------------
    def _save_state(self, path: Path) -> None:
        torch.save(self.net.state_dict(), path / "weights.pt")
        if self.item_inputs is not None:
            torch.save(self.item_inputs, path / "item_inputs.pt")
        meta = {
            "net": self.net_kwargs,
            "seq_len": self.seq_len,
            "tower": self.tower_kwargs,
            "feature_spec": self.feature_spec,
            "content": self.content_settings,
            "best_valid_ndcg": self.best_valid_ndcg,
            "seconds_to_best": self.seconds_to_best,
            "cooc_weight": self.cooc_weight,
            "gate_shift": self.gate_shift,
            "one_event_type": self.one_event_type,
        }
        (path / "net.json").write_text(json.dumps(meta, indent=2))
        if self.cooc is not None:
            self.cooc.save_similarity(path)
        arrays = {"popularity": self.popularity}
        arrays.update({f"user_{k}": v for k, v in self.user_attr_arrays.items()})
        np.savez(path / "arrays.npz", **arrays)  # type: ignore[arg-type]

    def _load_state(self, path: Path) -> None:
        meta = json.loads((path / "net.json").read_text())
        self.net_kwargs, self.seq_len = meta["net"], meta["seq_len"]
        self.feature_sizes = self.net_kwargs["feature_sizes"]
        self.tower_kwargs, self.feature_spec = meta.get("tower"), meta.get("feature_spec")
        self.content_settings = meta.get("content")
        self.item_inputs = (
            torch.load(path / "item_inputs.pt", weights_only=True, map_location="cpu")
            if self.tower_kwargs is not None
            else None
        )
        self.net = self._make_net()
        self.net.load_state_dict(
            torch.load(path / "weights.pt", weights_only=True, map_location="cpu")
        )
        self.net.eval()
        self.cooc_weight = float(meta.get("cooc_weight") or 0.0)
        self.gate_shift = float(meta.get("gate_shift") or 0.0)  # already in the weights
        self.one_event_type = int(meta.get("one_event_type") or 0)
        self.cooc = None
        if (path / "similarity.npz").is_file():
            self.cooc = ItemKNN.from_similarity(
                path, self.n_items, self.model_config, self.train_config
            )
        arrays = np.load(path / "arrays.npz")
        self.popularity = arrays["popularity"]
        self.user_attr_arrays = {k[5:]: arrays[k] for k in arrays.files if k.startswith("user_")}


def __getattr__(name: str) -> Any:
    # SASRec moved to training.sasrec (which imports this module): the old path still works
    if name == "SASRec":
        from prismrec.training.sasrec import SASRec

        return SASRec
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
