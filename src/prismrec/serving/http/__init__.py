"""The HTTP layer: the FastAPI app, its routes, request schemas, the web page, the server."""

from prismrec.serving.http.app import create_app
from prismrec.serving.http.appstate import AppState, app_state
from prismrec.serving.http.server import limit_malloc_arenas, run, timed_protocol

__all__ = ["AppState", "app_state", "create_app", "limit_malloc_arenas", "run", "timed_protocol"]
