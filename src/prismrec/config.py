"""Typed, frozen configuration loaded from TOML.

Every section is a pydantic model with ``extra="forbid"``, so a misspelt key is an error that names
the key, not a silently ignored setting. A checkpoint or prepared dataset stores the config it was
built with, so later steps rebuild everything from the directory alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from prismrec._content_config import ContentConfig, format_errors, read_toml
from prismrec.errors import ConfigError

__all__ = [
    "DEFAULT_EVENT_WEIGHTS",
    "DataConfig",
    "ModelConfig",
    "PrismConfig",
    "TrainConfig",
    "load_config",
]

DEFAULT_EVENT_WEIGHTS: dict[str, float] = {
    "view": 1.0,
    "click": 2.0,
    "favorite": 2.5,
    "like": 2.5,
    "cart": 3.0,
    "purchase": 4.0,
    "rating": 1.0,
    "interaction": 1.0,
}


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DataConfig(_Section):
    """How raw files map onto prismrec's data model and how they are preprocessed."""

    columns: dict[str, str] = Field(
        default_factory=dict,
        description="canonical name -> column name in the file, e.g. {user_id = 'uid'}",
    )
    context_columns: list[str] = Field(default_factory=list)
    user_columns: list[str] = Field(default_factory=list, description="static user attributes")
    extra_columns: Literal["error", "ignore", "context"] = "error"
    separator: str | None = None
    has_header: bool = True
    timestamp_format: str | None = None
    event_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS))
    default_event_type: str = "interaction"
    value_min: float | None = None
    value_max: float | None = None
    # item catalogue fields (generic formats); the MovieLens/RecBole loaders set their own
    item_text_fields: list[str] = Field(default_factory=list)
    item_categorical_fields: list[str] = Field(default_factory=list)
    item_multi_fields: list[str] = Field(default_factory=list)
    item_numeric_fields: list[str] = Field(default_factory=list)
    item_vector_fields: list[str] = Field(default_factory=list)
    multi_separator: str = "|"
    # preprocessing
    rating_threshold: float | None = None
    dedup: bool = False
    min_user_interactions: int = Field(0, ge=0)
    min_item_interactions: int = Field(0, ge=0)
    max_seq_len: int = Field(50, ge=1)
    gap_buckets: list[int] = Field(
        default_factory=lambda: [0, 60, 600, 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400],
        description="upper bounds (seconds) of the time-gap buckets",
    )
    time_order: Literal["exact", "recbole"] | None = Field(
        None,
        description="'recbole' orders events as RecBole does (min-max normalised float32 time, "
        "stable), which breaks near-ties the way RecBole's published splits do; None: the "
        "format's default (recbole for RecBole atomic files, exact otherwise)",
    )
    # splits
    split: Literal["loo", "ratio", "temporal", "cold-items"] = "loo"
    valid_cut: float = Field(
        0.8,
        description="temporal: time quantile (<=1) or unix time (>1); ratio: share of each "
        "user's events (in time order) before the validation part",
    )
    test_cut: float = Field(
        0.9,
        description="temporal: time quantile (<=1) or unix time (>1); ratio: share of each "
        "user's events before the test part",
    )
    cold_item_share: float = Field(0.1, gt=0.0, lt=1.0)
    seed: int = 42

    @field_validator("event_weights")
    @classmethod
    def _weights_positive(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: w for k, w in v.items() if w < 0}
        if bad:
            raise ValueError(f"event weights must be >= 0, got {bad}")
        return v


class ModelConfig(_Section):
    """Model hyper-parameters; each model reads the keys it knows. Defaults are the tuned ones."""

    embedding_dim: int = Field(64, ge=1)
    n_layers: int = Field(2, ge=0)
    n_heads: int = Field(2, ge=1)
    dropout: float = Field(0.2, ge=0.0, lt=1.0)
    max_seq_len: int | None = Field(None, ge=1, description="None: the dataset's max_seq_len")
    n_interests: int = Field(4, ge=1)
    extractor: Literal["sa", "dr", "route"] = Field(
        "route",
        description="how K > 1 interests are drawn from the history: 'route' (each event "
        "routed to one long-term interest by soft k-means over item vectors, balanced so the "
        "interests share the history; each interest pools its own events; with short_term the "
        "transformer's current state is one more component: distinct interests), 'sa' (ComiRec "
        "self-attention over the transformer states, the current state gated into each: the "
        "interests come out as near-copies) or 'dr' (capsule routing)",
    )
    routing_temperature: float = Field(
        0.1, gt=0.0, description="extractor='route': softmax temperature of event routing"
    )
    routing_balance: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="extractor='route': pull towards equal shares of the history per interest "
        "(1: exact Sinkhorn balance; 0: none)",
    )
    ownership_weight: float = Field(
        0.3,
        ge=0.0,
        description="extractor='route': weight of the backward-flow loss that makes each "
        "interest recognise the events it owns rather than the others' events (higher costs "
        "accuracy, lower leaves more overlap between the interests)",
    )
    short_term: bool = Field(
        True,
        description="extractor='route': the transformer's current state is a mixture component "
        "of its own (the short-term interest) next to the K long-term interests, which then stay "
        "pooled from their own events",
    )
    short_term_weight: float = Field(
        1.0,
        ge=0.0,
        description="extractor='route' with short_term: weight of the short-term interest's own "
        "next-item loss, next to the mixture's",
    )
    long_term_weight: float = Field(
        1.0,
        ge=0.0,
        description="extractor='route' with short_term: weight of a next-item loss on the "
        "long-term interest nearest each target, so each retrieves the items of its facet",
    )
    history_len: int = Field(
        500,
        ge=1,
        description="extractor='route' with short_term: events the long-term interests pool "
        "over at inference (the transformer reads the last max_seq_len of them), so older "
        "history still counts",
    )
    separation_weight: float = Field(
        1.0,
        ge=0.0,
        description="extractor='route': weight of a training penalty on the mean pairwise "
        "cosine of a user's interest vectors (keeps what all interests share out of each)",
    )
    readout: Literal["hard", "soft", "mixture"] = Field(
        "mixture",
        description="training readout: the mixture of per-interest softmaxes weighted by the "
        "interest weights (also used to score; default), the closest interest (hard, "
        "ComiRec) or label-aware attention (soft, MIND)",
    )
    use_content: bool = True
    use_context: bool = True
    use_event_types: bool = True
    use_user_features: bool = True
    interest_quota: bool = Field(
        False,
        description="prism, K > 1: serve each list merged from the interests' best items, "
        "every interest getting slots in proportion to its weight (as multi-interest "
        "retrievers serve) and filling them by its own score (its posterior plus the "
        "co-occurrence prior of the history it attends to); scoring only, no effect on training",
    )
    quota_short_share: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="interest_quota with a short-term interest: its share of a list's slots; "
        "the long-term interests share the rest by their relative weights",
    )
    quota_depth: int | None = Field(
        None,
        ge=1,
        description="interest_quota: each interest picks among the overall best "
        "quota_depth * k items (None: among every item)",
    )
    quota_temperature: float = Field(
        1.0,
        gt=0.0,
        description="interest_quota: > 1 flattens the interest weights the slots follow "
        "(w ** (1/T)), giving minor interests more of the list",
    )
    quota_prior_weight: float | None = Field(
        4.0,
        ge=0.0,
        description="interest_quota: weight of each interest's own co-occurrence prior (of the "
        "history it attends to) in the score its slots are picked by (the final score's "
        "cooc_weight is tuned for accuracy; None uses it here too); larger values bring more "
        "of each interest's neighbourhood into the list. 4 was chosen on ml-latest-small's "
        "validation split: more coverage than one interest, NDCG no lower",
    )
    interest_diversity: float = Field(
        0.0,
        ge=0.0,
        description="prism, K > 1: weight of a training penalty on how alike the interests' "
        "category distributions are (mean pairwise cosine of sum_i softmax_k(i) * categories(i); "
        "item-level when the catalogue has no category field), so interests split by category",
    )
    use_repeat: bool = Field(
        True,
        description="prism: learn a logit bias on items already in the history, by how long ago "
        "they occurred (repeat vs explore; trained by the 'ce' loss, so it turns negative on "
        "data without re-consumption and positive on data with it)",
    )
    id_dropout: float = Field(0.1, ge=0.0, le=1.0)
    cooc_weight: float | None = Field(
        None,
        ge=0.0,
        description="prism: weight of the item co-occurrence prior added to the neural scores; "
        "None tunes it on the validation split after training, 0 turns it off",
    )
    modality_dropout: float = Field(0.1, ge=0.0, lt=1.0)
    # ItemKNN
    neighbours: int = Field(100, ge=1, description="ItemKNN: neighbours kept per item")
    window: int = Field(10, ge=1, description="ItemKNN: co-occurrence window in a sequence")
    recency_decay: float = Field(0.8, gt=0.0, le=1.0)
    shrink: float = Field(10.0, ge=0.0)
    backward_weight: float = Field(
        0.5, ge=0.0, le=1.0, description="ItemKNN: weight of j-before-i pairs"
    )


class TrainConfig(_Section):
    """Training-loop settings shared by every trainable model."""

    epochs: int = Field(60, ge=1)
    batch_size: int = Field(128, ge=1)
    learning_rate: float = Field(2e-3, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.05, ge=0.0, lt=1.0)
    grad_clip: float = Field(1.0, ge=0.0, description="max gradient norm; 0 = off")
    grad_accum: int = Field(1, ge=1)
    loss: Literal["ce", "sampled", "bce"] = "ce"
    window_stride: int | None = Field(
        None, ge=1, description="targets per training row (None: max_seq_len, no overlap)"
    )
    n_negatives: int = Field(256, ge=1, description="sampled softmax / BCE negatives")
    precision: Literal["auto", "float32", "bfloat16"] = Field(
        "auto",
        description="output-layer logits of the 'ce' loss: bfloat16 halves the costliest step "
        "on CPUs with native bf16; auto = bfloat16 there, float32 elsewhere",
    )
    aux_weight: float = Field(0.1, ge=0.0, description="next-behaviour-type task weight")
    patience: int = Field(5, ge=1, description="early stopping: epochs without a better NDCG@10")
    eval_every: int = Field(1, ge=1)
    threads: int = Field(
        1, ge=0, description="torch threads (0 = torch default); 1 is fastest on shared cores"
    )
    tensorboard: str | None = None
    seed: int = 42


class PrismConfig(_Section):
    """The whole configuration file."""

    data: DataConfig = Field(default_factory=DataConfig)
    content: ContentConfig = Field(default_factory=ContentConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)

    def with_overrides(self, section: str, **values: Any) -> PrismConfig:
        """Return a copy with keys of one section replaced (validated again)."""
        # only the keys set so far: a model's own defaults still apply to the rest
        current = getattr(self, section).model_dump(exclude_unset=True)
        current.update({k: v for k, v in values.items() if v is not None})
        try:
            new_section = type(getattr(self, section))(**current)
        except ValidationError as exc:
            raise ConfigError(format_errors(exc, section)) from None
        return self.model_copy(update={section: new_section})


def load_config(path: str | Path | None) -> PrismConfig:
    """Load a TOML config; ``None`` gives the defaults.

    Raises:
        ConfigError: the file is missing, is not valid TOML, or has unknown/invalid keys.
    """
    if path is None:
        return PrismConfig()
    p = Path(path)
    raw = read_toml(p)
    try:
        return PrismConfig(**raw)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, str(p))) from None
