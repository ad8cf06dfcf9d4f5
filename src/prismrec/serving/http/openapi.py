"""The published OpenAPI document, completed with what only the loaded model knows.

Routes declare their own error responses (``schemas.errors``); this adds the request bodies
(parsed by dependencies, so FastAPI cannot see them), the event types the model knows, the
catalogue's item fields and the server's limits (``max_k``, ``max_events``), so the document
says exactly what the server accepts.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from prismrec.serving.engine.catalog import MAX_FIELD_CHARS, MAX_LIST_VALUES
from prismrec.serving.engine.service import Service
from prismrec.serving.http.appstate import app_state
from prismrec.serving.http.schemas import PAIRS_PATTERN, EventsIn

__all__ = ["install_openapi"]

_REF = "#/components/schemas/{model}"
_FLOAT_MAX = 1.7976931348623157e308  # larger JSON numbers are not finite floats: refused


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` build (once the service is loaded) the completed document."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        service = app_state(app).service
        if service is None:
            return spec  # not cached: the model-specific parts come once it is loaded
        _complete(spec, service)
        app.openapi_schema = spec
        return spec

    app.openapi = build  # type: ignore[method-assign]


def _complete(spec: dict[str, Any], service: Service) -> None:
    settings = service.settings
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    events = EventsIn.model_json_schema(ref_template=_REF)
    schemas.update(events.pop("$defs"))
    events["properties"]["events"]["maxItems"] = settings.max_events
    schemas["EventsIn"] = events
    schemas["EventIn"]["properties"]["event_type"]["enum"] = service.event_types
    schemas["ItemFields"] = _item_schema(service.catalog.fields)
    _body(spec, "/v1/events", "post", "EventsIn")
    _body(spec, "/v1/items/{item_id}", "put", "ItemFields")
    keys = "|".join(re.escape(k) for k in service.profile_keys) or "(?!)"
    limits: dict[str, dict[str, Any]] = {
        "k": {"maximum": settings.max_k},
        "focus": {"items": {"type": "integer", "minimum": 0, "maximum": service.n_interests - 1}},
        "mute": {"items": {"type": "integer", "minimum": 0, "maximum": service.n_interests - 1}},
        "profile": {
            "items": {"type": "string", "pattern": PAIRS_PATTERN.format(key=f"(?:{keys})")}
        },
    }
    for path, method in (("/v1/users/{user_id}/recommendations", "get"),
                         ("/v1/items/{item_id}/similar", "get")):  # fmt: skip
        for param in spec["paths"][path][method].get("parameters", []):
            if param["name"] in limits:
                param["schema"].update(limits[param["name"]])
    _fields_param(spec, service.catalog.display.pattern)


def _fields_param(spec: dict[str, Any], pattern: str) -> None:
    """Every ``fields`` query parameter takes this catalogue's field names only."""
    for ops in spec["paths"].values():
        for op in ops.values():
            for param in op.get("parameters", []) if isinstance(op, dict) else []:
                if param["name"] == "fields" and param.get("in") == "query":
                    items = {"type": "string", "pattern": pattern}
                    param["schema"] = {"type": "array", "items": items}


def _body(spec: dict[str, Any], path: str, method: str, model: str) -> None:
    spec["paths"][path][method]["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model=model)}}},
    }


def _item_schema(fields: dict[str, list[str]]) -> dict[str, Any]:
    """The JSON schema of ``PUT /v1/items/{id}`` bodies for this catalogue."""
    text = {"type": "string", "maxLength": MAX_FIELD_CHARS}
    number = {"type": "number", "minimum": -_FLOAT_MAX, "maximum": _FLOAT_MAX}
    kinds: dict[str, dict[str, Any]] = {
        "text": text,
        "categorical": text,
        "multi": {
            "anyOf": [
                {"type": "array", "items": text, "maxItems": MAX_LIST_VALUES},
                {**text, "description": "values separated by '|'"},
            ]
        },
        "numeric": number,
        "vector": {"type": "array", "items": number},
    }
    props = {
        name: {"anyOf": [kinds[kind], {"type": "null"}]}
        for kind, names in fields.items()
        for name in names
    }
    return {
        "title": "ItemFields",
        "type": "object",
        "description": "the item's catalogue fields (at least one)",
        "properties": props,
        "additionalProperties": False,
        "minProperties": 1,
    }
