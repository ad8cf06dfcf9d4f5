"""What an A/B test remembers, in the events' store: each user's last served lists and the
per-variant counts of lists, hits and distinct items served.

A list is *hit* when an event posted after it was served is on one of its items (the user's
last ``keep`` lists count); each list counts once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import redis

from prismrec.serving.state import Backend, borrow

__all__ = ["ABCounts", "ABLog", "open_ablog"]


@dataclass(frozen=True)
class ABCounts:
    """One variant's totals: lists served, lists hit, distinct items served."""

    lists: int = 0
    hits: int = 0
    items: int = 0


class ABLog(Protocol):
    """Served lists and their hits, shared by every replica on the store."""

    def served(self, user_id: str, variant: str, items: Sequence[str]) -> None:
        """Remember a list served to the user (their last ``keep`` are kept)."""
        ...

    def hits(self, events: Iterable[tuple[str, str]]) -> int:
        """Mark the lists that ``(user_id, item_id)`` events land on; return how many."""
        ...

    def forget(self, user_id: str) -> None:
        """Drop the user's lists (the counts stay: they name no one)."""
        ...

    def counts(self) -> dict[str, ABCounts]:
        """Totals by variant."""
        ...

    def close(self) -> None: ...


def _by_user(events: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for user, item in events:
        out.setdefault(user, set()).add(item)
    return out


_SCHEMA = """
CREATE TABLE IF NOT EXISTS ab_lists (
    id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL, variant TEXT NOT NULL,
    items TEXT NOT NULL, hit INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS ab_lists_user ON ab_lists (user_id, id);
CREATE TABLE IF NOT EXISTS ab_counts (
    variant TEXT PRIMARY KEY, lists INTEGER NOT NULL DEFAULT 0, hits INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ab_items (
    variant TEXT NOT NULL, item_id TEXT NOT NULL, PRIMARY KEY (variant, item_id)
) WITHOUT ROWID;
"""


class _SQLiteABLog:
    def __init__(self, backend: Backend, own: bool, keep: int) -> None:
        self.db, self.keep = backend.sqlite(_SCHEMA), keep
        self._backend, self._own = backend, own

    def served(self, user_id: str, variant: str, items: Sequence[str]) -> None:
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO ab_lists (user_id, variant, items) VALUES (?, ?, ?)",
                (user_id, variant, json.dumps(list(items))),
            )
            conn.execute(
                "DELETE FROM ab_lists WHERE user_id = ? AND id NOT IN (SELECT id FROM ab_lists "
                "WHERE user_id = ? ORDER BY id DESC LIMIT ?)",
                (user_id, user_id, self.keep),
            )
            conn.execute(
                "INSERT INTO ab_counts (variant, lists) VALUES (?, 1) ON CONFLICT (variant) "
                "DO UPDATE SET lists = lists + 1",
                (variant,),
            )
            conn.executemany(
                "INSERT OR IGNORE INTO ab_items VALUES (?, ?)", [(variant, i) for i in items]
            )

    def hits(self, events: Iterable[tuple[str, str]]) -> int:
        n = 0
        with self.db.write() as conn:
            for user, items in _by_user(events).items():
                rows = conn.execute(
                    "SELECT id, variant, items FROM ab_lists WHERE user_id = ? AND hit = 0",
                    (user,),
                ).fetchall()
                for list_id, variant, served in rows:
                    if items.isdisjoint(json.loads(served)):
                        continue
                    conn.execute("UPDATE ab_lists SET hit = 1 WHERE id = ?", (list_id,))
                    conn.execute(
                        "UPDATE ab_counts SET hits = hits + 1 WHERE variant = ?", (variant,)
                    )
                    n += 1
        return n

    def forget(self, user_id: str) -> None:
        with self.db.write() as conn:
            conn.execute("DELETE FROM ab_lists WHERE user_id = ?", (user_id,))

    def counts(self) -> dict[str, ABCounts]:
        conn = self.db.conn()
        items = dict(conn.execute("SELECT variant, COUNT(*) FROM ab_items GROUP BY variant"))
        rows = conn.execute("SELECT variant, lists, hits FROM ab_counts ORDER BY variant")
        return {v: ABCounts(int(n), int(h), int(items.get(v, 0))) for v, n, h in rows}

    def close(self) -> None:
        if self._own:
            self._backend.close()


# KEYS: the user's lists, the counts hash. ARGV: the item ids of the user's new events.
_HITS_LUA = """
local wanted, n = {}, 0
for i = 1, #ARGV do wanted[ARGV[i]] = true end
local lists = redis.call('LRANGE', KEYS[1], 0, -1)
for idx, raw in ipairs(lists) do
  local e = cjson.decode(raw)
  if e.hit == 0 then
    for _, item in ipairs(e.items) do
      if wanted[item] then
        e.hit = 1
        redis.call('LSET', KEYS[1], idx - 1, cjson.encode(e))
        redis.call('HINCRBY', KEYS[2], e.v .. ':hits', 1)
        n = n + 1
        break
      end
    end
  end
end
return n
"""


class _RedisABLog:
    def __init__(self, backend: Backend, own: bool, prefix: str, keep: int) -> None:
        self.r: redis.Redis = backend.redis()
        self._backend, self._own = backend, own
        self.prefix, self.keep = f"{prefix}ab:", keep
        self._hits = self.r.register_script(_HITS_LUA)

    def _lists(self, user_id: str) -> str:
        return f"{self.prefix}u:{user_id}"

    def served(self, user_id: str, variant: str, items: Sequence[str]) -> None:
        entry = json.dumps({"v": variant, "items": list(items), "hit": 0})
        pipe = self.r.pipeline(transaction=True)
        pipe.lpush(self._lists(user_id), entry)
        pipe.ltrim(self._lists(user_id), 0, self.keep - 1)
        pipe.hincrby(f"{self.prefix}counts", f"{variant}:lists", 1)
        if items:
            pipe.sadd(f"{self.prefix}items:{variant}", *items)
        pipe.execute()

    def hits(self, events: Iterable[tuple[str, str]]) -> int:
        counts = f"{self.prefix}counts"
        return sum(
            int(self._hits(keys=[self._lists(user), counts], args=sorted(items)))
            for user, items in _by_user(events).items()
        )

    def forget(self, user_id: str) -> None:
        self.r.delete(self._lists(user_id))

    def counts(self) -> dict[str, ABCounts]:
        raw = {_s(k): int(v) for k, v in self.r.hgetall(f"{self.prefix}counts").items()}
        variants = sorted({k.rpartition(":")[0] for k in raw})
        return {
            v: ABCounts(
                raw.get(f"{v}:lists", 0),
                raw.get(f"{v}:hits", 0),
                int(self.r.scard(f"{self.prefix}items:{v}")),
            )
            for v in variants
        }

    def close(self) -> None:
        if self._own:
            self._backend.close()


def _s(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def open_ablog(source: str | Backend, *, prefix: str = "prismrec:", keep: int = 10) -> ABLog:
    """The A/B log in the store at ``source`` (``sqlite:PATH``, ``redis://...`` or the
    :class:`Backend` opened from either); connects on first use."""
    backend, own = borrow(source)
    if backend.is_redis:
        return _RedisABLog(backend, own, prefix, keep)
    return _SQLiteABLog(backend, own, keep)
