"""The scale-out event store: Redis, shared by several API replicas."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any, cast

import redis

from prismrec.errors import ConfigError
from prismrec.serving.state._events import (
    Event,
    ItemChange,
    Snapshot,
    StoredEvent,
    check_id,
    check_limit,
    event_body,
    legacy_tombstone,
    new_tombstone_key,
    prepare_events,
    redact,
    tombstone_check,
    user_tombstone,
)
from prismrec.serving.state.backend import Backend, redis_client

__all__ = ["RedisStore"]

log = logging.getLogger(__name__)


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
  redis.call('SADD', KEYS[2], ARGV[2 + u])
end
return first + n
"""
# the item log: a zset scored by seq whose members are "<item id>\0<json or empty>"; one member
# per item (the previous one is removed through the id -> member hash)
_PUT_ITEM_LUA = """
local seq = redis.call('INCR', KEYS[1])
local old = redis.call('HGET', KEYS[2] .. ':member', ARGV[1])
if old then redis.call('ZREM', KEYS[2], old) end
local member = ARGV[1] .. '\\0' .. ARGV[2]
redis.call('ZADD', KEYS[2], seq, member)
redis.call('HSET', KEYS[2] .. ':member', ARGV[1], member)
return seq
"""
# KEYS: events zset, state hash, users set, tombstone set. ARGV: user id, tombstone, known.
_DELETE_LUA = """
local n = redis.call('ZCARD', KEYS[1])
local had = redis.call('EXISTS', KEYS[2])
if n == 0 and had == 0 and ARGV[3] ~= '1' then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[2])
return n
"""


def _member_event(member: bytes) -> StoredEvent:
    body = json.loads(member[20:])
    return StoredEvent(seq=int(member[:20]), **body)


class RedisStore:
    """The scale-out :class:`EventStore`: Redis shared by several API replicas.

    A user's events live in a sorted set scored by timestamp whose members are
    ``<20-digit seq><event json>``, so equal timestamps keep arrival order and the latest
    ``limit`` events are one ``ZREVRANGE``. The version lives in a hash; all ids are
    in a set. Appends are one Lua script, hence atomic. Durability is the server's: run it with
    ``appendonly yes`` and ``appendfsync always`` for an fsync before each acknowledgement.
    Not for Redis Cluster (the append script touches several users' keys).

    Args:
        url: ``redis://HOST:PORT/DB`` (or ``rediss://``, ``unix://``), a ready client, or the
            :class:`Backend` of such a URL (the store then shares its connection pool).
        prefix: namespace for every key.
        tombstone_secret: key of the deleted users' tombstones (the same on every replica);
            default: a random key kept in Redis under ``PREFIX tombstone-key``, which makes
            tombstones only as secret as the Redis data.
    """

    def __init__(
        self,
        url: str | redis.Redis | Backend,
        *,
        prefix: str = "prismrec:",
        tombstone_secret: str | None = None,
    ) -> None:
        self._secret = tombstone_secret
        self._key: bytes | None = None
        shown = url.url if isinstance(url, Backend) else url
        self.url = redact(shown) if isinstance(shown, str) else repr(shown)
        self.r, self._own = redis_client(url)
        self.prefix = prefix
        self._append = self.r.register_script(_APPEND_LUA)
        self._put_item = self.r.register_script(_PUT_ITEM_LUA)
        self._delete = self.r.register_script(_DELETE_LUA)

    def _events_key(self, user_id: str) -> str:
        return f"{self.prefix}u:{user_id}:events"

    def _state_key(self, user_id: str) -> str:
        return f"{self.prefix}u:{user_id}:state"

    def append(self, events: Sequence[Event]) -> int:
        """Store events atomically; return the last sequence number."""
        ready = prepare_events(events)
        index: dict[str, int] = {}
        for e in ready:
            index.setdefault(e.user_id, len(index) + 1)
        keys = [f"{self.prefix}seq", f"{self.prefix}users"]
        for u in index:
            keys += [self._events_key(u), self._state_key(u)]
        args: list[Any] = [len(ready), len(index), *index]
        for e in ready:
            body = json.dumps(event_body(e), ensure_ascii=False, separators=(",", ":"))
            args += [index[e.user_id], e.timestamp, body]
        return int(self._append(keys=keys, args=args))

    def history(self, user_id: str, limit: int | None = None) -> list[StoredEvent]:
        """The user's latest ``limit`` events (all if None), ordered by (timestamp, seq)."""
        return self.snapshot(user_id, limit).events

    def snapshot(self, user_id: str, limit: int | None = None) -> Snapshot:
        """Version and history in one MULTI/EXEC transaction."""
        check_limit(limit)
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

    def delete_user(self, user_id: str, *, known: bool = False) -> int:
        """Delete every key of the user (one atomic script); return how many events went.

        An id the store has no data for and the caller does not know changes nothing.
        """
        check_id("user_id", user_id)
        keys = [self._events_key(user_id), self._state_key(user_id)]
        if not known and not self.r.exists(*keys):
            return 0  # the script checks again; this only spares creating the key
        mark = user_tombstone(user_id, self._tombstone_key(create=True) or b"")
        keys += [f"{self.prefix}users", f"{self.prefix}deleted"]
        return int(self._delete(keys=keys, args=[user_id, mark, "1" if known else "0"]))

    def erasure_pending(self) -> int:
        """Always 0: Redis drops the keys at once (copies in AOF/RDB files last until the
        server rewrites them)."""
        return 0

    def is_deleted(self, user_id: str) -> bool:
        """Whether ``delete_user`` recorded a tombstone for this id."""
        key = self._tombstone_key(create=False)
        marks = [legacy_tombstone(user_id)]
        marks += [user_tombstone(user_id, key)] if key is not None else []
        pipe = self.r.pipeline(transaction=False)
        for mark in marks:
            pipe.sismember(f"{self.prefix}deleted", mark)
        return any(pipe.execute())

    def _tombstone_key(self, create: bool) -> bytes | None:
        """The tombstones' HMAC key, checked against the fingerprint kept in Redis; None when
        no keyed tombstone was ever written and ``create`` is False.

        Raises:
            ConfigError: the store's tombstones were made with another key.
        """
        if self._key is not None:
            return self._key
        check_key = f"{self.prefix}tombstone-check"
        if not create and not self.r.exists(check_key):
            return None
        if self._secret:
            key = self._secret.encode()
        else:
            self.r.set(f"{self.prefix}tombstone-key", new_tombstone_key().hex(), nx=True)
            key = bytes.fromhex(_s(self.r.get(f"{self.prefix}tombstone-key")))
        check = tombstone_check(key)
        self.r.set(check_key, check, nx=True)
        if _s(self.r.get(check_key)) != check:
            raise ConfigError(
                f"Redis store {self.url}: its tombstones were made with another key, so "
                "deleted users would come back; set PRISMREC_TOMBSTONE_SECRET to the one "
                "it was used with"
            )
        self._key = key
        return key

    def put_item(self, item_id: str, fields: dict[str, Any] | None) -> int:
        """Log the item's record (``None``: removed); one atomic script."""
        check_id("item_id", item_id)
        body = "" if fields is None else json.dumps(fields, ensure_ascii=False)
        keys = [f"{self.prefix}seq", f"{self.prefix}items"]
        return int(self._put_item(keys=keys, args=[item_id, body]))

    def item_changes(self, after: int = 0) -> list[ItemChange]:
        """Latest record of each item changed after ``after``, oldest first."""
        out = []
        rows = self.r.zrangebyscore(
            f"{self.prefix}items", f"({int(after)}", "+inf", withscores=True
        )
        for member, score in cast(list[tuple[bytes, float]], rows):
            item_id, _, body = _s(member).partition("\x00")
            out.append(ItemChange(int(score), item_id, json.loads(body) if body else None))
        return out

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
