"""Response bodies: what every route answers, as models, so the OpenAPI document describes it.

The service builds its answers as plain dicts; a route declares the model of its answer
(``response_model=``), FastAPI checks the dict against it and writes only what the dict holds
(``response_model_exclude_unset``): a field that may be missing (an item's ``fields`` with
``fields=none``, an explanation not asked for) is left out of the answer, not sent as null, and
the document marks it not required rather than nullable. Numbers that may be integral or not
are ``int | float`` so an integer is not rewritten as ``1.0``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, RootModel
from pydantic.json_schema import SkipJsonSchema

__all__ = [
    "BINARY",
    "Erasure",
    "EventsAck",
    "Health",
    "History",
    "Interests",
    "Item",
    "ItemDeleted",
    "Live",
    "ItemPut",
    "ItemSearch",
    "ModelRecord",
    "ModelStatus",
    "Noop",
    "PLAIN_TEXT",
    "Ready",
    "Recommendations",
    "SimilarItems",
    "SwapStarted",
    "Swapped",
    "UserDeleted",
    "Users",
]

Number = int | float
FieldValues = dict[str, Any]
PLAIN_TEXT = {"text/plain": {"schema": {"type": "string"}}}
BINARY = {"type": "string", "format": "binary"}


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def absent(description: str) -> Any:
    """A field an answer may leave out (never null): default ``None``, unset, not written."""
    return Field(None, description=description, json_schema_extra=_no_default)


FIELDS_DOC = "the item's display fields (absent with fields=none)"


# ---- items in answers -------------------------------------------------------------------------
class ItemRef(BaseModel):
    """An item an answer names."""

    item_id: str
    fields: FieldValues | SkipJsonSchema[None] = absent(FIELDS_DOC)


class ScoredItem(BaseModel):
    """An item and its score (similar items; popular items for a new user)."""

    item_id: str
    score: float
    fields: FieldValues | SkipJsonSchema[None] = absent(FIELDS_DOC)


class Category(BaseModel):
    """A category of an interest's label and its share of the interest's nearest items."""

    name: str
    code: int
    share: float


# ---- recommendations --------------------------------------------------------------------------
class ExplainedEvent(BaseModel):
    """A past event an interest attends to."""

    position: int = Field(description="index in the user's history, oldest first")
    events_ago: int = Field(description="0: the latest event")
    weight: float = Field(description="the interest's attention on it")
    item_id: str
    fields: FieldValues | SkipJsonSchema[None] = absent(FIELDS_DOC)


class Explanation(BaseModel):
    """Why an item is in the list: its interest, what that is about, the events behind it."""

    interest: int
    interest_weight: float
    label: str | None = Field(description="the interest's top categories (none: no categories)")
    categories: list[Category]
    events: list[ExplainedEvent]


class RecommendedItem(BaseModel):
    """An item of a personalised list."""

    item_id: str
    score: float
    interest: int = Field(description="the interest it came from")
    new: bool = Field(description="no event in the model's training data")
    explanation: Explanation | SkipJsonSchema[None] = absent("with explain=true")
    fields: FieldValues | SkipJsonSchema[None] = absent(FIELDS_DOC)


MODEL_VERSION = "the version of the model that answered"
VARIANT = "candidate: the A/B test's candidate model answered; else control"


class Personalised(BaseModel):
    """A list from the user's interests."""

    user_id: str
    source: Literal["personalised"]
    items: list[RecommendedItem]
    model_version: str = Field(description=MODEL_VERSION)
    variant: Literal["control", "candidate"] = Field(description=VARIANT)


class Popular(BaseModel):
    """A new user's list: popular items lifted by the request's context and profile."""

    user_id: str
    source: Literal["popular"]
    lifted_by: list[str] = Field(description="the context and profile segments that applied")
    items: list[ScoredItem]
    model_version: str = Field(description=MODEL_VERSION)
    variant: Literal["control", "candidate"] = Field(description=VARIANT)


class Recommendations(RootModel[Annotated[Personalised | Popular, Field(discriminator="source")]]):
    """The user's list: personalised, or popular items for a user without events (``source``)."""


# ---- users ------------------------------------------------------------------------------------
class Interest(BaseModel):
    """One of the user's interests."""

    weight: float
    term: Literal["long", "short"]
    active: bool = Field(description="false: an interest this user does not have (weight 0)")
    label: str | None
    categories: list[Category]
    top_items: list[ItemRef]


class Interests(BaseModel):
    """The user's interests, in model order (the indexes focus= and mute= take)."""

    user_id: str
    n_events: int
    interests: list[Interest]


class UserDeleted(BaseModel):
    """What a user's erasure removed."""

    user_id: str
    deleted_events: int
    erasure: Literal["complete", "pending"] = Field(
        description="pending: purging from disk finishes in the background (GET /v1/erasure)"
    )


class Users(BaseModel):
    """Trained users whose id starts with the prefix, in id order."""

    prefix: str
    users: list[str]
    n_trained_users: int


class LiveEvent(BaseModel):
    """An event received by the service."""

    item_id: str
    event_type: str
    timestamp: int | None = Field(description="unix seconds")
    context: dict[str, str]
    source: Literal["live"]
    fields: FieldValues | SkipJsonSchema[None] = absent(FIELDS_DOC)


class TrainingEvent(BaseModel):
    """An event of the model's training data (which keeps its hour and weekday, not its time)."""

    item_id: str
    event_type: str | None
    timestamp: None
    hour: int | None
    weekday: int | None
    context: dict[str, str]
    source: Literal["training"]
    events_ago: int
    fields: FieldValues | SkipJsonSchema[None] = absent(FIELDS_DOC)


class History(BaseModel):
    """The user's events, newest first: live events, then training events."""

    user_id: str
    n_training_events: int
    more: bool = Field(description="older events exist beyond limit")
    events: list[Annotated[LiveEvent | TrainingEvent, Field(discriminator="source")]]


# ---- items ------------------------------------------------------------------------------------
class SimilarItems(BaseModel):
    """The nearest items to ``item_id``, best first."""

    item_id: str
    items: list[ScoredItem]


class ItemPut(BaseModel):
    """An item added or replaced."""

    item_id: str
    created: bool = Field(description="false: an existing item was replaced")
    n_items: int = Field(description="live items now")


class ItemDeleted(BaseModel):
    """An item removed from recommendations."""

    item_id: str
    deleted: bool
    n_items: int = Field(description="live items now")


class ItemSearch(BaseModel):
    """Items whose title contains the query."""

    query: str
    items: list[ItemRef]


class Item(BaseModel):
    """An item's catalogue fields."""

    item_id: str
    live: bool = Field(description="false once deleted")
    title_field: str | None
    category_field: str | None
    fields: FieldValues = Field(description="every display field")


class EventsAck(BaseModel):
    """A batch of events stored durably."""

    accepted: int
    unknown_items: int = Field(description="events on items the catalogue does not have")
    last_seq: int


class Erasure(BaseModel):
    """Whether every deletion so far is purged from disk."""

    status: Literal["complete", "pending"]
    pending: int


# ---- the model --------------------------------------------------------------------------------
class Report(BaseModel):
    """The served model's evaluation report."""

    model: str | None
    protocol: str
    n_users: int | None
    headline: list[str]
    metrics: dict[str, Number]
    ci: dict[str, Any]
    definitions: dict[str, Any]
    figures: list[str] = Field(description="names for GET /v1/model/report/{name}")
    has_html: bool


class ModelRecord(BaseModel):
    """The served model: configuration, training history and evaluation report."""

    name: str | None
    prismrec_version: str | None
    n_items: int
    n_trained_users: int
    n_interests: int
    event_types: list[str]
    display_fields: list[str]
    title_field: str | None
    category_field: str | None
    model: dict[str, Any]
    train: dict[str, Any]
    history: list[dict[str, Any]] = Field(description="per epoch: loss and validation metrics")
    report: Report | None


class Slot(BaseModel):
    """A model directory and its version."""

    path: str
    version: str


class Candidate(Slot):
    """The A/B candidate model."""

    share: float = Field(description="share of users it answers")


class Loading(BaseModel):
    """A model load in progress."""

    path: str
    since: float = Field(description="unix seconds")


class ModelStatus(BaseModel):
    """The model in service and what happened to it."""

    version: str
    path: str
    created_at: float = Field(description="unix seconds")
    parent: str | None
    previous: Slot | None
    loading: Loading | None
    last_error: str | None
    swaps: int
    failed_loads: int
    watch: str | None
    candidate: Candidate | None


class Swapped(BaseModel):
    """The model now in service after a swap or a rollback."""

    action: Literal["swap", "rollback", "follow"]
    version: str
    path: str
    replicas: str | SkipJsonSchema[None] = absent(
        "told, or why the other replicas were not (with a shared store)"
    )
    previous: Slot


class SwapStarted(BaseModel):
    """A swap started in the background."""

    loading: str


# ---- operations -------------------------------------------------------------------------------
class Health(BaseModel):
    """The process answers."""

    status: Literal["ok"]


class Ready(BaseModel):
    """The model is loaded and the store answers."""

    status: Literal["ready"]
    items: int


class Noop(BaseModel):
    """Nothing done."""

    ok: bool


# ---- the live snapshot ------------------------------------------------------------------------
class Traffic(BaseModel):
    """Requests answered within the window: rate, latency and errors."""

    requests: int
    per_s: float
    p50_ms: float | None = Field(description="median latency, ms (none: no request)")
    p99_ms: float | None = Field(description="99th percentile latency, ms (nearest rank)")
    status_4xx: int
    status_5xx: int
    status_429: int = Field(description="rate limited (also in status_4xx)")
    ratio_4xx: float
    ratio_5xx: float


class RouteTraffic(Traffic):
    """One route's requests."""

    route: str = Field(description='"METHOD /route/{template}", or "METHOD unmatched"')


class EventRate(BaseModel):
    """Events stored within the window (by this replica)."""

    ingested: int
    per_s: float


class CacheState(BaseModel):
    """The user cache of the model in service."""

    users: int
    max_users: int
    context_bytes: int = Field(description="what the cached users' reusable work holds")
    context_limit_bytes: int
    hits: int = Field(description="since the model started")
    misses: int


class VariantLive(BaseModel):
    """One A/B variant since the test started (every replica): lists, hits, 95% interval."""

    variant: Literal["control", "candidate"]
    version: str
    lists: int
    hits: int
    hit_rate: float | None = Field(description="none: no list yet")
    ci_low: float | None
    ci_high: float | None
    items_served: int


class ABLive(BaseModel):
    """The A/B test: each variant, and the candidate's hit rate minus the control's."""

    share: float = Field(description="share of users the candidate answers")
    variants: list[VariantLive]
    diff: float | None
    diff_low: float | None
    diff_high: float | None


class Live(BaseModel):
    """What this replica did over the last ``window_s`` seconds, and what it serves now."""

    status: Literal["starting", "loading", "ready"] = Field(
        description="starting: no model yet; loading: a swap is loading another model"
    )
    at: float = Field(description="unix seconds")
    window_s: float = Field(
        description="the seconds the rates are over: 60, less just after the start"
    )
    total: Traffic
    routes: list[RouteTraffic]
    events: EventRate
    cache: CacheState | None
    model: ModelStatus | None
    ab: ABLive | None = Field(description="none: no A/B test")
