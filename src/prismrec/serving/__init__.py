"""Serving: the recommender behind an HTTP API, its online state, access rules and lifecycle.

The parts, each a subpackage, import downwards only (an import-linter contract keeps it so):

- :mod:`~prismrec.serving.http`: the FastAPI app, routes, request schemas, web page, server;
- :mod:`~prismrec.serving.lifecycle`: which model serves (hot swap, A/B tests, the fleet);
- :mod:`~prismrec.serving.engine`: the service (model, index, live catalogue, caches);
- :mod:`~prismrec.serving.access`: API keys, rate limits, pseudonymised logs;
- :mod:`~prismrec.serving.state`: the per-user event log (SQLite or Redis);
- :mod:`~prismrec.serving.settings` and :mod:`~prismrec.serving.metrics`, read by all of them.

This module re-exports what a program embedding the store or the keys needs.
"""

from prismrec.serving.access import (
    KeyInfo,
    KeyStore,
    Limiter,
    Principal,
    PseudonymFilter,
    RateLimiter,
    RedisRateLimiter,
    Role,
    UserId,
    create_key,
    hash_secret,
    install_filter,
    pseudonymise,
)
from prismrec.serving.state import (
    Event,
    EventStore,
    RedisStore,
    Snapshot,
    SQLiteStore,
    StoredEvent,
    open_store,
    parse_store_url,
)

__all__ = [
    "Event",
    "EventStore",
    "KeyInfo",
    "KeyStore",
    "Limiter",
    "Principal",
    "PseudonymFilter",
    "RateLimiter",
    "RedisRateLimiter",
    "RedisStore",
    "Role",
    "SQLiteStore",
    "Snapshot",
    "StoredEvent",
    "UserId",
    "create_key",
    "hash_secret",
    "install_filter",
    "open_store",
    "parse_store_url",
    "pseudonymise",
]
