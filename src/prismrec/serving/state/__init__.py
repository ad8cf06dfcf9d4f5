"""Online user state: the event log per user (SQLite or Redis) and its deletions."""

from prismrec.serving.state.store import (
    Event,
    EventStore,
    ItemChange,
    RedisStore,
    Snapshot,
    SQLiteDB,
    SQLiteStore,
    StoredEvent,
    check_id,
    open_store,
    parse_store_url,
    user_tombstone,
)

__all__ = [
    "Event",
    "EventStore",
    "ItemChange",
    "RedisStore",
    "SQLiteDB",
    "SQLiteStore",
    "Snapshot",
    "StoredEvent",
    "check_id",
    "open_store",
    "parse_store_url",
    "user_tombstone",
]
