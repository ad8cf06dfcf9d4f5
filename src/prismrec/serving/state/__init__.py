"""Online user state: the event log per user (SQLite or Redis), its deletions, and the one
storage backend per store URL that every stateful feature of the service shares."""

from prismrec.serving.state._db import SQLiteDB
from prismrec.serving.state._events import redact
from prismrec.serving.state.backend import Backend, borrow, parse_store_url, redis_client
from prismrec.serving.state.store import (
    Event,
    EventStore,
    ItemChange,
    RedisStore,
    Snapshot,
    SQLiteStore,
    StoredEvent,
    check_id,
    open_store,
    user_tombstone,
)

__all__ = [
    "Backend",
    "Event",
    "EventStore",
    "ItemChange",
    "RedisStore",
    "SQLiteDB",
    "SQLiteStore",
    "Snapshot",
    "StoredEvent",
    "borrow",
    "check_id",
    "open_store",
    "parse_store_url",
    "redact",
    "redis_client",
    "user_tombstone",
]
