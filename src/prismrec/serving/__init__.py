"""Serving: online user state (SQLite or Redis), API keys, rate limits, private logs."""

from prismrec.serving.auth import KeyInfo, KeyStore, Principal, Role, create_key, hash_secret
from prismrec.serving.privacy import PseudonymFilter, UserId, install_filter, pseudonymise
from prismrec.serving.ratelimit import Limiter, RateLimiter, RedisRateLimiter
from prismrec.serving.store import (
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
