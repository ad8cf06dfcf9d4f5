"""Request bodies and ids: strict models, the one id policy, bodies parsed after the key check.

Bodies are read by dependencies that run after the route's key check, so a request without a
valid key is 401 whatever its body; they are parsed strictly (no coercion: ``true`` or ``"123"``
is not a timestamp) by pydantic's JSON parser, which turns invalid UTF-8, nesting deeper than
200 levels and numbers beyond 4,300 digits into 422s like any other malformed body.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)

from prismrec.errors import DataError
from prismrec.serving.state._events import ID_PATTERN, MAX_CONTEXT_ITEMS, MAX_ID_LEN, MAX_TIMESTAMP
from prismrec.serving.state.store import check_id

__all__ = [
    "EventIn",
    "EventsIn",
    "FIELDS_HELP",
    "ModelIn",
    "Fields",
    "Id",
    "ItemId",
    "RecParams",
    "UserId",
    "events_body",
    "item_body",
    "model_body",
]


def _valid_id(value: str) -> str:
    try:
        return check_id("id", value)
    except DataError as exc:
        raise ValueError(str(exc)) from None


ID_SCHEMA = {"type": "string", "minLength": 1, "maxLength": MAX_ID_LEN, "pattern": ID_PATTERN}
Id = Annotated[str, AfterValidator(_valid_id), WithJsonSchema(ID_SCHEMA)]
UserId = Annotated[Id, Path(description="a user id (percent-encoded in the path)")]
ItemId = Annotated[Id, Path(description="an item id (percent-encoded in the path)")]
Key = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LEN)]
Value = Annotated[str, StringConstraints(max_length=MAX_ID_LEN)]


def _integral(value: Any) -> Any:
    """JSON Schema counts 1.0 as an integer; strict mode alone would refuse it."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


class EventIn(BaseModel):
    """One behaviour event."""

    model_config = ConfigDict(extra="forbid", strict=True)
    user_id: Id
    item_id: Id
    event_type: str = Field(
        min_length=1, max_length=MAX_ID_LEN, description="one the model knows", examples=["click"]
    )
    timestamp: Annotated[int, Field(ge=0, le=MAX_TIMESTAMP), BeforeValidator(_integral)] | None = (
        Field(None, description="unix seconds")
    )
    context: dict[Key, Value] | None = Field(
        None, max_length=MAX_CONTEXT_ITEMS, examples=[{"device": "mobile"}]
    )


class EventsIn(BaseModel):
    """A batch of events (at most ``max_events``)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    events: list[EventIn] = Field(min_length=1)


FIELDS_HELP = (
    "display fields on every item: none (ids only), all, or field names (repeated or "
    "comma-separated); default: the title and category fields"
)
Fields = Annotated[list[str] | None, Query(description=FIELDS_HELP)]
PAIRS_PATTERN = r"^{key}:[^,]*(,{key}:[^,]*)*$"
Pairs = Annotated[str, StringConstraints(pattern=PAIRS_PATTERN.format(key="[^,:]+"))]
Interest = Annotated[int, Field(ge=0)]


class RecParams(BaseModel):
    """Query parameters of a recommendation request (validated in one step)."""

    model_config = ConfigDict(extra="forbid")
    k: int = Field(10, ge=1, description="list length (at most the server's max_k)")
    diversity: float = Field(0.0, ge=0.0, le=1.0, description="0: by score; 1: most diverse")
    method: Literal["mmr", "dpp"] = "mmr"
    exclude_categories: list[str] = Field([], description="category names to leave out")
    max_per_category: int | None = Field(None, ge=1)
    allow: list[str] = Field([], description="only these item ids")
    focus: list[Interest] = Field([], description="interest index(es) to boost")
    mute: list[Interest] = Field(
        [], description="interest index(es) to leave out (all muted: an empty list)"
    )
    explain: bool = False
    filter_seen: bool = True
    fresh_share: float | None = Field(
        None,
        ge=0.0,
        lt=1.0,
        description="share of the list kept for items without a training event (new ones), "
        "among the user's best fresh_depth * k; default: the model's [model] fresh_share",
    )
    context: list[Pairs] = Field([], description="key:value, e.g. device:mobile")
    profile: list[Pairs] = Field([], description="key:value, e.g. gender:F")
    fields: list[str] = Field([], description=FIELDS_HELP)


_EVENTS = TypeAdapter(EventsIn)
_OBJECT = TypeAdapter(dict[str, Any])


def _parse(raw: bytes, adapter: TypeAdapter[Any]) -> Any:
    try:
        return adapter.validate_json(raw, strict=True)
    except ValidationError as exc:
        errors = [
            {"loc": ("body", *e["loc"]), "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise RequestValidationError(errors) from None


async def events_body(request: Request) -> EventsIn:
    """The ``POST /v1/events`` body, parsed strictly (a dependency: runs after the key check)."""
    body: EventsIn = _parse(await request.body(), _EVENTS)
    return body


class ModelIn(BaseModel):
    """A model directory to serve."""

    model_config = ConfigDict(extra="forbid", strict=True)
    path: str = Field(
        min_length=1,
        max_length=4096,
        description="a model directory readable by every replica",
        examples=["runs/models/20261129T140211Z-5b0e7d"],
    )
    wait: bool = Field(
        True, description="answer once the model serves (false: 202 at once; poll the GET)"
    )


_MODEL = TypeAdapter(ModelIn)


async def model_body(request: Request) -> ModelIn:
    """The ``POST /v1/admin/model`` body, parsed strictly (after the key check)."""
    body: ModelIn = _parse(await request.body(), _MODEL)
    return body


async def item_body(request: Request) -> dict[str, Any]:
    """The ``PUT /v1/items/{id}`` body: a JSON object (fields are checked by the catalogue)."""
    body: dict[str, Any] = _parse(await request.body(), _OBJECT)
    return body


# ---- error bodies -------------------------------------------------------------------------
class Problem(BaseModel):
    """An error: what went wrong and, where it helps, what to do."""

    detail: str


class ProblemPart(BaseModel):
    where: str = Field(description="e.g. body.events.0.timestamp, query.k, path.user_id")
    problem: str


class ValidationProblem(BaseModel):
    """A malformed body, parameter or field: ``detail`` names the first, ``errors`` all."""

    detail: str
    errors: list[ProblemPart]


def errors(
    role: str | None = None,
    *,
    params: bool = False,
    body: bool = False,
    not_found: bool = False,
    conflict: bool = False,
) -> dict[int | str, dict[str, Any]]:
    """The error responses a route documents, from what it does (its OpenAPI ``responses``)."""
    out: dict[int | str, dict[str, Any]] = {}
    if role is not None:
        out[401] = {"model": Problem, "description": "missing, invalid or revoked API key"}
        if role != "read":  # every key has the read role
            out[403] = {"model": Problem, "description": f"the key lacks the {role} role"}
        out[429] = {
            "model": Problem,
            "description": "rate limit, or too many failed authentications (Retry-After)",
        }
    if not_found:
        out[404] = {"model": Problem, "description": "unknown id"}
    if conflict:
        out[409] = {"model": Problem, "description": "conflicts with what the service is doing"}
    if body:
        out[408] = {"model": Problem, "description": "the body did not arrive in time"}
        out[413] = {"model": Problem, "description": "body over the size limit"}
    if params or body:
        out[422] = {"model": ValidationProblem, "description": "malformed body or parameter"}
    out[503] = {"model": Problem, "description": "starting, or misconfigured"}
    return out
