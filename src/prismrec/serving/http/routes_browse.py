"""Routes for browsing: users to pick, a user's history, item search and fields, the model.

What the page at ``/ui`` reads besides recommendations and interests; every route needs a key
with the read role, like the rest of ``/v1``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import FileResponse

from prismrec.serving.http.deps import BrowseDep, ServiceDep, require
from prismrec.serving.http.responses import BINARY, History, Item, ItemSearch, Users
from prismrec.serving.http.responses_model import ModelRecord
from prismrec.serving.http.routes import with_fields
from prismrec.serving.http.schemas import Fields, ItemId, UserId, errors

__all__ = ["item_views", "model", "user_views"]

Read = Depends(require("read"))
MAX_LIST = 200

# ---- users ------------------------------------------------------------------------------
user_views = APIRouter(prefix="/v1/users", tags=["users"])


@user_views.get(
    "", dependencies=[Read], response_model=Users, responses=errors("read", params=True)
)
def list_users(
    browse: BrowseDep,
    prefix: Annotated[str, Query(max_length=256, description="id prefix")] = "",
    limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 20,
) -> dict[str, Any]:
    """Users the model was trained on whose id starts with ``prefix`` (for a user picker)."""
    return browse.users(prefix, limit)


@user_views.get(
    "/{user_id}/history",
    dependencies=[Read],
    response_model=History,
    response_model_exclude_unset=True,
    responses=errors("read", params=True, not_found=True),
)
def history(
    user_id: UserId,
    browse: BrowseDep,
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    fields: Fields = None,
) -> dict[str, Any]:
    """The user's events, newest first: live events (with time and context), then the
    training history of the model directory (with the hour, weekday and context it kept)."""
    shown = service.catalog.display.resolve(fields)
    return with_fields(browse.history(user_id, limit), service, shown)


# ---- items ------------------------------------------------------------------------------
item_views = APIRouter(prefix="/v1/items", tags=["items"])


@item_views.get(
    "",
    dependencies=[Read],
    response_model=ItemSearch,
    response_model_exclude_unset=True,
    responses=errors("read", params=True),
)
def search_items(
    browse: BrowseDep,
    service: ServiceDep,
    q: Annotated[str, Query(min_length=1, max_length=200, description="part of a title, or an id")],
    limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 10,
    fields: Fields = None,
) -> dict[str, Any]:
    """Items whose title contains ``q`` (any case): titles starting with it first, then the
    more popular; an item whose id is ``q`` comes first of all."""
    shown = service.catalog.display.resolve(fields)
    return with_fields(browse.search(q, limit), service, shown)


@item_views.get(
    "/{item_id}",
    dependencies=[Read],
    response_model=Item,
    responses=errors("read", params=True, not_found=True),
)
def get_item(item_id: ItemId, browse: BrowseDep) -> dict[str, Any]:
    """The item's catalogue fields, which of them is the title and the category, and whether
    it is recommendable (``live``: false once deleted)."""
    return browse.item(item_id)


# ---- the model --------------------------------------------------------------------------
model = APIRouter(prefix="/v1/model", tags=["model"])


@model.get("", dependencies=[Read], response_model=ModelRecord, responses=errors("read"))
def get_model(browse: BrowseDep) -> dict[str, Any]:
    """The served model: its configuration, training history (per-epoch loss and validation
    metrics) and evaluation report (metrics with 95% intervals, figure names) if it has one."""
    return browse.model()


@model.get(
    "/report/{name}",
    dependencies=[Read],
    response_class=FileResponse,
    responses={
        200: {
            "content": {"image/png": {"schema": BINARY}, "text/html": {"schema": BINARY}},
            "description": "the file",
        },
        **errors("read", params=True, not_found=True),
    },
)
def report_file(
    name: Annotated[str, Path(max_length=100, description="e.g. metrics.png")], browse: BrowseDep
) -> FileResponse:
    """A figure (``*.png``) or ``report.html`` of the served model's evaluation report."""
    path = browse.report_file(name)
    media = "text/html" if path.suffix == ".html" else "image/png"
    return FileResponse(path, media_type=media, headers={"Cache-Control": "no-store"})
