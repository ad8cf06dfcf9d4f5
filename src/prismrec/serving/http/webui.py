"""The web page at ``/ui`` and the API docs at ``/docs``, both without any CDN.

``/ui`` serves the static files of ``prismrec/serving/http/static`` (plain HTML, CSS and JavaScript
modules: nothing to build) under a strict Content-Security-Policy: the page loads nothing from
another origin and talks only to this service's ``/v1`` API with the key the user types (kept in
the tab's ``sessionStorage``, never in a URL). ``/docs`` (Swagger UI) and ``/redoc`` load their
scripts from the ``fastapi-offline`` package instead of a CDN.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

__all__ = ["STATIC_DIR", "UI_PATH", "install_ui", "offline_fastapi"]

STATIC_DIR = Path(__file__).parent / "static"
UI_PATH = "/ui"
DOCS_ASSETS = "/docs-assets"
_HEADERS = {
    # the page's own files only; report figures are fetched with the key and shown as blobs
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class _UiFiles(StaticFiles):
    """Static files with the page's security headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(_HEADERS)
        return response


def offline_fastapi(**kwargs: Any) -> FastAPI:
    """A ``FastAPI`` app whose ``/docs`` and ``/redoc`` load Swagger UI and ReDoc from this
    process (the files ship in the ``fastapi-offline`` package), not from a CDN."""
    from fastapi_offline import FastAPIOffline

    app: FastAPI = FastAPIOffline(static_url=DOCS_ASSETS, **kwargs)
    return app


def install_ui(app: FastAPI) -> None:
    """Serve the page at ``/ui/`` (and send ``/`` there)."""
    if not (STATIC_DIR / "index.html").is_file():
        raise RuntimeError(f"the web page's files are missing from {STATIC_DIR}")
    app.mount(UI_PATH, _UiFiles(directory=STATIC_DIR, html=True), name="ui")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(f"{UI_PATH}/")
