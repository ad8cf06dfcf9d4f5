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
    "FieldValues",
    "Number",
    "absent",
    "Erasure",
    "EventsAck",
    "Health",
    "History",
    "Interests",
    "Item",
    "ItemDeleted",
    "ItemPut",
    "ItemSearch",
    "Noop",
    "PLAIN_TEXT",
    "Ready",
    "Recommendations",
    "SimilarItems",
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
