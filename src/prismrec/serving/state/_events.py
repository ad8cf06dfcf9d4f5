"""Events, stored events and the :class:`EventStore` interface both backends implement."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, runtime_checkable

from prismrec.errors import DataError

__all__ = [
    "ID_PATTERN",
    "MAX_ID_LEN",
    "Event",
    "EventStore",
    "ItemChange",
    "Snapshot",
    "StoredEvent",
    "check_id",
    "check_limit",
    "event_body",
    "prepare_events",
    "redact",
    "new_tombstone_key",
    "tombstone_check",
    "user_tombstone",
]


MAX_ID_LEN = 256
# The one id policy (user and item ids at ingest, in URL paths, in the stores): 1-256 characters,
# no '/' or '\\' (a path segment could not address it), no control or line-separator characters
# (they would break logs), and not '.' or '..' (clients normalise those path segments away).
# Written for both Python's re and ECMA-262, so the OpenAPI schema publishes the same rule.
ID_PATTERN = r"^(?!\.\.?$)[^/\\\x00-\x1f\x7f-\x9f\u2028\u2029]{1,256}$"
_ID_RE = re.compile(ID_PATTERN)
ID_RULE = (
    f"1 to {MAX_ID_LEN} characters without '/', '\\' or control characters, and not '.' or '..'"
)
MAX_CONTEXT_ITEMS = 32
MAX_TIMESTAMP = 32_503_680_000  # 3000-01-01: anything later is a unit mistake (ms, us)
_EVENT_FIELDS = ("user_id", "item_id", "event_type", "timestamp", "context")


def _bad(name: str, value: Any, expected: str) -> DataError:
    return DataError(f"event field '{name}' must be {expected}, got {value!r:.80}")


def check_id(name: str, value: Any) -> str:
    """``value`` if it is a valid user or item id under the one id policy (``ID_PATTERN``).

    Raises:
        DataError: not a string, or breaks the policy (the message names ``name`` and the rule).
    """
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise DataError(f"{name} must be {ID_RULE}; got {value!r:.80}")
    return value


def _check_key(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LEN:
        raise _bad(name, value, f"a non-empty string of at most {MAX_ID_LEN} characters")


@dataclass(frozen=True)
class Event:
    """An incoming event; ``timestamp`` (unix seconds) defaults to server time on append.

    Raises:
        DataError: a field has the wrong type or is out of range (the message names it).
    """

    user_id: str
    item_id: str
    event_type: str
    timestamp: int | None = None
    context: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        for name in ("user_id", "item_id"):
            check_id(f"event field '{name}'", getattr(self, name))
        _check_key("event_type", self.event_type)
        ts = self.timestamp
        if ts is not None and (
            isinstance(ts, bool) or not isinstance(ts, int) or not 0 <= ts <= MAX_TIMESTAMP
        ):
            raise _bad("timestamp", ts, f"unix seconds, an integer in [0, {MAX_TIMESTAMP}]")
        ctx = self.context
        if ctx is None:
            return
        if not isinstance(ctx, Mapping) or len(ctx) > MAX_CONTEXT_ITEMS:
            raise _bad("context", ctx, f"an object of at most {MAX_CONTEXT_ITEMS} string pairs")
        for k, v in ctx.items():
            _check_key("context key", k)
            if not isinstance(v, str) or len(v) > MAX_ID_LEN:
                raise _bad(f"context[{k!r}]", v, f"a string of at most {MAX_ID_LEN} characters")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        """Build an event from decoded JSON, rejecting unknown or missing fields."""
        if not isinstance(data, Mapping):
            raise DataError(f"an event must be a JSON object, got {data!r:.80}")
        unknown = sorted(set(data) - set(_EVENT_FIELDS))
        if unknown:
            raise DataError(f"unknown event field(s) {unknown}; expected {list(_EVENT_FIELDS)}")
        missing = [k for k in _EVENT_FIELDS[:3] if k not in data]
        if missing:
            raise DataError(f"event is missing required field(s) {missing}")
        return cls(**data)


@dataclass(frozen=True)
class StoredEvent:
    """An acknowledged event with its global sequence number."""

    seq: int
    user_id: str
    item_id: str
    event_type: str
    timestamp: int
    context: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The event as a JSON-ready dict."""
        return {"seq": self.seq, **event_body(self)}


class ItemChange(NamedTuple):
    """One entry of the item log: ``fields`` is the item's catalogue record, ``None`` = removed."""

    seq: int
    item_id: str
    fields: dict[str, Any] | None


def user_tombstone(user_id: str, key: bytes) -> str:
    """What a deleted user leaves behind: an HMAC-SHA256 of the id under the store's tombstone
    key, never the id; without the key, trying candidate ids cannot find whose it is."""
    return hmac.new(key, f"prismrec-deleted:{user_id}".encode(), hashlib.sha256).hexdigest()


def legacy_tombstone(user_id: str) -> str:
    """The unkeyed tombstone of stores written before keyed ones: still honoured, never written."""
    return hashlib.sha256(f"prismrec-deleted:{user_id}".encode()).hexdigest()


def new_tombstone_key() -> bytes:
    """A random 256-bit tombstone key."""
    return secrets.token_bytes(32)


def tombstone_check(key: bytes) -> str:
    """A short fingerprint of the tombstone key, stored so that a store opened with another key
    fails loudly instead of silently forgetting its deletions."""
    return hmac.new(key, b"prismrec tombstone key check", hashlib.sha256).hexdigest()[:16]


class Snapshot(NamedTuple):
    """A user's version and history, read together so they are consistent."""

    version: int
    events: list[StoredEvent]


@runtime_checkable
class EventStore(Protocol):
    """Durable per-user event log with a versioned per-user state cache; thread-safe."""

    def append(self, events: Sequence[Event]) -> int:
        """Store events durably; return the sequence number of the last one."""
        ...

    def history(self, user_id: str, limit: int | None = None) -> list[StoredEvent]:
        """The user's latest ``limit`` events (all if None), oldest first."""
        ...

    def snapshot(self, user_id: str, limit: int | None = None) -> Snapshot:
        """``version`` and ``history`` in one consistent read."""
        ...

    def version(self, user_id: str) -> int:
        """Sequence number of the user's latest event; 0 for unknown users."""
        ...

    def users(self) -> list[str]:
        """Ids of all users with events, sorted."""
        ...

    def delete_user(self, user_id: str, *, known: bool = False) -> int:
        """Remove the user's events, version and cached state; return the number of events removed.

        A tombstone (a keyed hash of the id) is recorded when the store had data for the user or
        the caller ``known`` the id (e.g. from the model's training data), so that trained history
        is not served any more. An id unknown to both changes nothing."""
        ...

    def erasure_pending(self) -> int:
        """Deletions whose data may still be on disk (SQLite: in the WAL until a checkpoint
        completes, which a background thread retries); 0 when every deletion is complete."""
        ...

    def is_deleted(self, user_id: str) -> bool:
        """Whether the user was deleted (new events start a fresh history)."""
        ...

    def put_item(self, item_id: str, fields: dict[str, Any] | None) -> int:
        """Log an item's catalogue record (``None``: removed); return its sequence number."""
        ...

    def item_changes(self, after: int = 0) -> list[ItemChange]:
        """The latest change of every item changed after sequence number ``after``, in order."""
        ...

    def ping(self) -> None:
        """Open the store now; raise ConfigError when it cannot be reached."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def event_body(e: Event | StoredEvent) -> dict[str, Any]:
    return {
        "user_id": e.user_id,
        "item_id": e.item_id,
        "event_type": e.event_type,
        "timestamp": e.timestamp,
        "context": dict(e.context or {}),
    }


def prepare_events(events: Sequence[Event]) -> list[Event]:
    if not events:
        raise DataError("append needs at least one event")
    now = int(time.time())
    out = []
    for e in events:
        if not isinstance(e, Event):
            raise DataError(f"expected Event objects, got {type(e).__name__}")
        out.append(e if e.timestamp is not None else Event(**{**event_body(e), "timestamp": now}))
    return out


def check_limit(limit: int | None) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise DataError(f"limit must be a non-negative integer or None, got {limit!r}")


def redact(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        if parts.password:
            return url.replace(f":{parts.password}@", ":***@", 1)
    except ValueError:
        pass
    return url
