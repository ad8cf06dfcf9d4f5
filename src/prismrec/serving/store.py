"""Online user state: a durable event log per user plus a versioned per-user state cache.

Two backends share the :class:`EventStore` interface:

* :class:`SQLiteStore` (embedded default): WAL journal, ``synchronous=FULL``, so ``append``
  returns only after the commit is fsynced.
* :class:`RedisStore` (scale-out, several API replicas): durability is the Redis server's
  ``appendonly``/``appendfsync`` setting; only ``appendonly yes`` + ``appendfsync always``
  acknowledges an event after it reached the disk.

Every event gets a global, increasing sequence number. A user's ``version`` is the sequence number
of their latest event, so it grows with every append and is never reused, not even after
``delete_user``. Cached state is stored together with the version it was computed at and is
returned only while that is still the user's version: a new event invalidates it.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol, cast, runtime_checkable

import redis

from prismrec.errors import ConfigError, DataError

__all__ = [
    "Event",
    "EventStore",
    "RedisStore",
    "SQLiteDB",
    "SQLiteStore",
    "Snapshot",
    "StoredEvent",
    "open_store",
    "parse_store_url",
]

log = logging.getLogger(__name__)

MAX_ID_LEN = 256
MAX_CONTEXT_ITEMS = 32
MAX_TIMESTAMP = 32_503_680_000  # 3000-01-01: anything later is a unit mistake (ms, us)
_EVENT_FIELDS = ("user_id", "item_id", "event_type", "timestamp", "context")
_URL_HELP = "use sqlite:PATH (e.g. sqlite:prismrec-state.db) or redis://HOST:PORT/DB"


def _bad(name: str, value: Any, expected: str) -> DataError:
    return DataError(f"event field '{name}' must be {expected}, got {value!r:.80}")


def _check_id(name: str, value: Any) -> None:
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
        for name in ("user_id", "item_id", "event_type"):
            _check_id(name, getattr(self, name))
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
            _check_id("context key", k)
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
        return {"seq": self.seq, **_event_body(self)}


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

    def delete_user(self, user_id: str) -> int:
        """Remove the user's events, version and cached state; return the number of events."""
        ...

    def get_state(self, user_id: str) -> bytes | None:
        """Cached state, or None when absent or computed at an older version."""
        ...

    def put_state(self, user_id: str, state: bytes, version: int) -> bool:
        """Cache state computed at ``version``; False (not stored) if that is not current."""
        ...

    def ping(self) -> None:
        """Open the store now; raise ConfigError when it cannot be reached."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def _event_body(e: Event | StoredEvent) -> dict[str, Any]:
    return {
        "user_id": e.user_id,
        "item_id": e.item_id,
        "event_type": e.event_type,
        "timestamp": e.timestamp,
        "context": dict(e.context or {}),
    }


def _prepare(events: Sequence[Event]) -> list[Event]:
    if not events:
        raise DataError("append needs at least one event")
    now = int(time.time())
    out = []
    for e in events:
        if not isinstance(e, Event):
            raise DataError(f"expected Event objects, got {type(e).__name__}")
        out.append(e if e.timestamp is not None else Event(**{**_event_body(e), "timestamp": now}))
    return out


def _check_limit(limit: int | None) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise DataError(f"limit must be a non-negative integer or None, got {limit!r}")


# ----------------------------------------------------------------------------- SQLite


class SQLiteDB:
    """Per-thread connections to one SQLite file in WAL mode with ``synchronous=FULL``."""

    def __init__(self, path: str | Path, schema: str, timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self._schema = schema
        self._timeout = timeout_s
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conns: list[sqlite3.Connection] = []
        self._closed = False

    def conn(self) -> sqlite3.Connection:
        """This thread's connection, opened (and the schema created) on first use."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and not self._closed:
            return conn
        with self._lock:
            if self._closed:
                raise RuntimeError(f"SQLite store {self.path} is closed")
            conn = self._open()
            self._conns.append(conn)
        self._local.conn = conn
        return conn

    def _open(self) -> sqlite3.Connection:
        try:
            if not self.path.exists():  # events are personal data: owner-only file
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            conn = sqlite3.connect(
                self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA secure_delete=ON")  # deleted users' rows are zeroed
            conn.executescript(self._schema)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(
                f"cannot open SQLite store {self.path}: {exc}; check that its folder exists and "
                "is writable and that the file is a prismrec store"
            ) from exc
        if str(mode).lower() != "wal":
            conn.close()
            raise ConfigError(f"SQLite store {self.path} cannot use WAL mode (got {mode!r})")
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, committed (and fsynced) when the block exits cleanly."""
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        """Close every thread's connection; the object cannot be used afterwards."""
        with self._lock:
            self._closed = True
            conns, self._conns = self._conns, []
        for c in conns:
            c.close()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: never reused, even after deletes
    user_id TEXT NOT NULL, item_id TEXT NOT NULL, event_type TEXT NOT NULL,
    timestamp INTEGER NOT NULL, context TEXT
);
CREATE INDEX IF NOT EXISTS events_user_time ON events (user_id, timestamp, seq);
CREATE TABLE IF NOT EXISTS user_state (
    user_id TEXT PRIMARY KEY, version INTEGER NOT NULL, state BLOB, state_version INTEGER
) WITHOUT ROWID;
"""
_COLS = "seq, user_id, item_id, event_type, timestamp, context"


def _row_event(row: tuple[Any, ...]) -> StoredEvent:
    seq, user, item, etype, ts, ctx = row
    return StoredEvent(seq, user, item, etype, ts, json.loads(ctx) if ctx else {})


class SQLiteStore:
    """The embedded :class:`EventStore`: one SQLite file, safe across threads and processes.

    Args:
        path: database file; created (mode 0600) on first use.
        timeout_s: how long a writer waits for another writer's lock.
    """

    def __init__(self, path: str | Path, *, timeout_s: float = 30.0) -> None:
        self.db = SQLiteDB(path, _SCHEMA, timeout_s)

    def append(self, events: Sequence[Event]) -> int:
        """Store events in one fsynced transaction; return the last sequence number."""
        ready = _prepare(events)
        latest: dict[str, int] = {}
        with self.db.write() as conn:
            for e in ready:
                cur = conn.execute(
                    "INSERT INTO events (user_id, item_id, event_type, timestamp, context) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (e.user_id, e.item_id, e.event_type, e.timestamp, _ctx_json(e)),
                )
                assert cur.lastrowid is not None
                latest[e.user_id] = cur.lastrowid
            conn.executemany(
                "INSERT INTO user_state (user_id, version) VALUES (?, ?) ON CONFLICT (user_id) "
                "DO UPDATE SET version = excluded.version, state = NULL, state_version = NULL",
                latest.items(),
            )
        return max(latest.values())

    def history(self, user_id: str, limit: int | None = None) -> list[StoredEvent]:
        """The user's latest ``limit`` events (all if None), ordered by (timestamp, seq)."""
        _check_limit(limit)
        rows = self.db.conn().execute(
            f"SELECT {_COLS} FROM events WHERE user_id = ? "
            "ORDER BY timestamp DESC, seq DESC LIMIT ?",
            (user_id, -1 if limit is None else limit),
        )
        return [_row_event(r) for r in reversed(rows.fetchall())]

    def snapshot(self, user_id: str, limit: int | None = None) -> Snapshot:
        """Version and history from one read transaction."""
        conn = self.db.conn()
        conn.execute("BEGIN")
        try:
            return Snapshot(self.version(user_id), self.history(user_id, limit))
        finally:
            conn.execute("COMMIT")

    def version(self, user_id: str) -> int:
        """Sequence number of the user's latest event; 0 when unknown."""
        row = (
            self.db.conn()
            .execute("SELECT version FROM user_state WHERE user_id = ?", (user_id,))
            .fetchone()
        )
        return int(row[0]) if row else 0

    def users(self) -> list[str]:
        """All users with events, sorted."""
        rows = self.db.conn().execute("SELECT user_id FROM user_state ORDER BY user_id")
        return [r[0] for r in rows]

    def delete_user(self, user_id: str) -> int:
        """Delete the user's events, version and state; return how many events went."""
        with self.db.write() as conn:
            n = conn.execute("DELETE FROM events WHERE user_id = ?", (user_id,)).rowcount
            conn.execute("DELETE FROM user_state WHERE user_id = ?", (user_id,))
        return n

    def get_state(self, user_id: str) -> bytes | None:
        """Cached state if it was computed at the user's current version."""
        row = (
            self.db.conn()
            .execute(
                "SELECT state FROM user_state WHERE user_id = ? AND state_version = version",
                (user_id,),
            )
            .fetchone()
        )
        return bytes(row[0]) if row and row[0] is not None else None

    def put_state(self, user_id: str, state: bytes, version: int) -> bool:
        """Cache ``state`` if ``version`` is still current; return whether it was stored."""
        with self.db.write() as conn:
            cur = conn.execute(
                "UPDATE user_state SET state = ?, state_version = version "
                "WHERE user_id = ? AND version = ?",
                (bytes(state), user_id, version),
            )
        return cur.rowcount == 1

    def ping(self) -> None:
        """Open the file and create the schema now."""
        self.db.conn()

    def close(self) -> None:
        """Close all connections."""
        self.db.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.db.path)!r})"


def _ctx_json(e: Event) -> str | None:
    return json.dumps(dict(e.context), ensure_ascii=False) if e.context else None


# ----------------------------------------------------------------------------- Redis

# KEYS: seq counter, users set, then per user u (1-based) its events zset and state hash.
# ARGV: n events, m users, the m user ids, then (user index, timestamp, json) per event.
_APPEND_LUA = """
local n, m = tonumber(ARGV[1]), tonumber(ARGV[2])
local first = redis.call('INCRBY', KEYS[1], n) - n
local latest = {}
for i = 1, n do
  local a = 2 + m + 3 * (i - 1)
  local u = tonumber(ARGV[a + 1])
  local seq = first + i
  redis.call('ZADD', KEYS[1 + 2 * u], ARGV[a + 2], string.format('%020d', seq) .. ARGV[a + 3])
  latest[u] = seq
end
for u = 1, m do
  redis.call('HSET', KEYS[2 + 2 * u], 'version', string.format('%d', latest[u]))
  redis.call('HDEL', KEYS[2 + 2 * u], 'state', 'state_version')
  redis.call('SADD', KEYS[2], ARGV[2 + u])
end
return first + n
"""
_PUT_STATE_LUA = """
local v = redis.call('HGET', KEYS[1], 'version')
if v and v == ARGV[1] then
  redis.call('HSET', KEYS[1], 'state', ARGV[2], 'state_version', ARGV[1])
  return 1
end
return 0
"""


def _member_event(member: bytes) -> StoredEvent:
    body = json.loads(member[20:])
    return StoredEvent(seq=int(member[:20]), **body)


class RedisStore:
    """The scale-out :class:`EventStore`: Redis shared by several API replicas.

    A user's events live in a sorted set scored by timestamp whose members are
    ``<20-digit seq><event json>``, so equal timestamps keep arrival order and the latest
    ``limit`` events are one ``ZREVRANGE``. Version and cached state live in a hash; all ids are
    in a set. Appends are one Lua script, hence atomic. Durability is the server's: run it with
    ``appendonly yes`` and ``appendfsync always`` for an fsync before each acknowledgement.
    Not for Redis Cluster (the append script touches several users' keys).

    Args:
        url: ``redis://HOST:PORT/DB`` (or ``rediss://``, ``unix://``), or a ready client.
        prefix: namespace for every key.
    """

    def __init__(self, url: str | redis.Redis, *, prefix: str = "prismrec:") -> None:
        self._own = isinstance(url, str)
        self.url = _redact(url) if isinstance(url, str) else repr(url)
        self.r: redis.Redis = redis.Redis.from_url(url) if isinstance(url, str) else url
        self.prefix = prefix
        self._append = self.r.register_script(_APPEND_LUA)
        self._put_state = self.r.register_script(_PUT_STATE_LUA)

    def _events_key(self, user_id: str) -> str:
        return f"{self.prefix}u:{user_id}:events"

    def _state_key(self, user_id: str) -> str:
        return f"{self.prefix}u:{user_id}:state"

    def append(self, events: Sequence[Event]) -> int:
        """Store events atomically; return the last sequence number."""
        ready = _prepare(events)
        index: dict[str, int] = {}
        for e in ready:
            index.setdefault(e.user_id, len(index) + 1)
        keys = [f"{self.prefix}seq", f"{self.prefix}users"]
        for u in index:
            keys += [self._events_key(u), self._state_key(u)]
        args: list[Any] = [len(ready), len(index), *index]
        for e in ready:
            body = json.dumps(_event_body(e), ensure_ascii=False, separators=(",", ":"))
            args += [index[e.user_id], e.timestamp, body]
        return int(self._append(keys=keys, args=args))

    def history(self, user_id: str, limit: int | None = None) -> list[StoredEvent]:
        """The user's latest ``limit`` events (all if None), ordered by (timestamp, seq)."""
        return self.snapshot(user_id, limit).events

    def snapshot(self, user_id: str, limit: int | None = None) -> Snapshot:
        """Version and history in one MULTI/EXEC transaction."""
        _check_limit(limit)
        if limit == 0:
            return Snapshot(self.version(user_id), [])
        pipe = self.r.pipeline(transaction=True)
        pipe.hget(self._state_key(user_id), "version")
        pipe.zrevrange(self._events_key(user_id), 0, -1 if limit is None else limit - 1)
        version, members = pipe.execute()
        return Snapshot(int(version or 0), [_member_event(m) for m in reversed(members)])

    def version(self, user_id: str) -> int:
        """Sequence number of the user's latest event; 0 when unknown."""
        return int(self.r.hget(self._state_key(user_id), "version") or 0)

    def users(self) -> list[str]:
        """All users with events, sorted."""
        return sorted(_s(m) for m in self.r.smembers(f"{self.prefix}users"))

    def delete_user(self, user_id: str) -> int:
        """Delete every key of the user; return how many events went."""
        pipe = self.r.pipeline(transaction=True)
        pipe.zcard(self._events_key(user_id))
        pipe.delete(self._events_key(user_id), self._state_key(user_id))
        pipe.srem(f"{self.prefix}users", user_id)
        return int(pipe.execute()[0])

    def get_state(self, user_id: str) -> bytes | None:
        """Cached state if it was computed at the user's current version."""
        version, state, at = self.r.hmget(
            self._state_key(user_id), ["version", "state", "state_version"]
        )
        return cast(bytes, state) if state is not None and at == version else None

    def put_state(self, user_id: str, state: bytes, version: int) -> bool:
        """Cache ``state`` if ``version`` is still current; return whether it was stored."""
        keys = [self._state_key(user_id)]
        return bool(self._put_state(keys=keys, args=[str(int(version)), bytes(state)]))

    def ping(self) -> None:
        """Connect now; warn when the server is not configured to fsync every write."""
        try:
            self.r.ping()
        except redis.RedisError as exc:
            raise ConfigError(f"cannot reach Redis at {self.url}: {exc}") from exc
        try:
            conf = self.r.config_get("append*")
        except redis.RedisError:  # CONFIG is often disabled on managed Redis
            return
        got = {_s(k): _s(v) for k, v in conf.items()}
        if got.get("appendonly") != "yes" or got.get("appendfsync") != "always":
            log.warning(
                "Redis at %s runs appendonly=%s appendfsync=%s: acknowledged events can be "
                "lost on a crash; use appendonly yes + appendfsync always for full durability",
                self.url,
                got.get("appendonly"),
                got.get("appendfsync"),
            )

    def close(self) -> None:
        """Close the connection pool if this store created it."""
        if self._own:
            self.r.close()

    def __repr__(self) -> str:
        return f"RedisStore({self.url!r}, prefix={self.prefix!r})"


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


# ----------------------------------------------------------------------------- URLs


def _redact(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        if parts.password:
            return url.replace(f":{parts.password}@", ":***@", 1)
    except ValueError:
        pass
    return url


def parse_store_url(url: str) -> tuple[str, str]:
    """Split a store URL into ``("sqlite", path)`` or ``("redis", url)``.

    Raises:
        ConfigError: the URL is empty, has an unknown scheme or a malformed Redis part.
    """
    from urllib.parse import urlsplit

    from redis.connection import parse_url

    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"empty store URL; {_URL_HELP}")
    if url.startswith("sqlite:"):
        path = url[len("sqlite:") :].removeprefix("//")
        if not path:
            raise ConfigError(f"store URL {url!r} has no file path; {_URL_HELP}")
        return "sqlite", path
    if url.startswith(("redis://", "rediss://", "unix://")):
        try:
            parse_url(url)
            parts = urlsplit(url)
            _ = parts.port  # raises ValueError on a non-numeric port
        except ValueError as exc:
            raise ConfigError(f"bad Redis URL {_redact(url)!r}: {exc}; {_URL_HELP}") from None
        if url.startswith("redis") and not parts.hostname:
            raise ConfigError(f"Redis URL {_redact(url)!r} has no host; {_URL_HELP}")
        db = parts.path.strip("/")
        if url.startswith("redis") and db and not db.isdigit():
            raise ConfigError(f"Redis URL {_redact(url)!r}: database {db!r} is not a number")
        return "redis", url
    hint = f" (did you mean 'sqlite:{url}'?)" if "://" not in url else ""
    raise ConfigError(f"unsupported store URL {_redact(url)!r}{hint}; {_URL_HELP}")


def open_store(url: str, *, prefix: str = "prismrec:") -> EventStore:
    """Open ``sqlite:PATH`` or ``redis://HOST:PORT/DB`` and check that it is reachable.

    Raises:
        ConfigError: bad URL, unwritable file, or unreachable Redis.
    """
    kind, target = parse_store_url(url)
    store: EventStore = (
        SQLiteStore(target) if kind == "sqlite" else RedisStore(target, prefix=prefix)
    )
    store.ping()
    return store
