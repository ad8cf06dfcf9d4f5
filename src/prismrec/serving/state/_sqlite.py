"""The embedded event store: one SQLite file in WAL mode, fsynced on every commit."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prismrec.errors import ConfigError
from prismrec.serving.state._erase import Eraser, key_file
from prismrec.serving.state._events import (
    Event,
    ItemChange,
    Snapshot,
    StoredEvent,
    check_id,
    check_limit,
    legacy_tombstone,
    prepare_events,
    tombstone_check,
    user_tombstone,
)
from prismrec.serving.state.backend import Backend, borrow

__all__ = ["SQLiteStore"]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: never reused, even after deletes
    user_id TEXT NOT NULL, item_id TEXT NOT NULL, event_type TEXT NOT NULL,
    timestamp INTEGER NOT NULL, context TEXT
);
CREATE INDEX IF NOT EXISTS events_user_time ON events (user_id, timestamp, seq);
CREATE TABLE IF NOT EXISTS deleted_users (tombstone TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS items (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, item_id TEXT NOT NULL UNIQUE, fields TEXT
);
CREATE TABLE IF NOT EXISTS user_state (
    user_id TEXT PRIMARY KEY, version INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""
_COLS = "seq, user_id, item_id, event_type, timestamp, context"


def _row_event(row: tuple[Any, ...]) -> StoredEvent:
    seq, user, item, etype, ts, ctx = row
    return StoredEvent(seq, user, item, etype, ts, json.loads(ctx) if ctx else {})


class SQLiteStore:
    """The embedded :class:`EventStore`: one SQLite file, safe across threads and processes.

    Deleting a user checks that the WAL checkpoint really completed (a reader holding an old
    snapshot, such as a backup, can stop it); if it did not, the store counts the erasure as
    pending (``erasure_pending``) and a background thread retries until it completes.

    Args:
        path: database file, created (mode 0600) on first use; or the :class:`Backend` of a
            ``sqlite:`` store URL, whose connections the store then shares and leaves open.
        timeout_s: how long a writer waits for another writer's lock.
        tombstone_secret: key of the deleted users' tombstones; default: a random key kept in
            ``PATH.tombstone-key`` (0600), beside the file but not in it.
    """

    def __init__(
        self,
        path: str | Path | Backend,
        *,
        timeout_s: float = 30.0,
        tombstone_secret: str | None = None,
    ) -> None:
        source = path if isinstance(path, Backend) else f"sqlite:{path}"
        self._backend, self._own = borrow(source, timeout_s=timeout_s)
        self.db = self._backend.sqlite(_SCHEMA)
        self._secret = tombstone_secret
        self._key: bytes | None = None
        self._key_lock = threading.Lock()
        self._eraser = Eraser(self.db)

    def append(self, events: Sequence[Event]) -> int:
        """Store events in one fsynced transaction; return the last sequence number."""
        ready = prepare_events(events)
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
                "DO UPDATE SET version = excluded.version",
                latest.items(),
            )
        return max(latest.values())

    def history(self, user_id: str, limit: int | None = None) -> list[StoredEvent]:
        """The user's latest ``limit`` events (all if None), ordered by (timestamp, seq)."""
        check_limit(limit)
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

    def delete_user(self, user_id: str, *, known: bool = False) -> int:
        """Delete the user's events, version and state; return how many events went.

        An id the store has no data for and the caller does not know changes nothing.
        """
        check_id("user_id", user_id)
        with self.db.write() as conn:
            n = conn.execute("DELETE FROM events WHERE user_id = ?", (user_id,)).rowcount
            had = conn.execute("DELETE FROM user_state WHERE user_id = ?", (user_id,)).rowcount
            if not (n or had or known):
                return 0
            key = self._tombstone_key(conn, create=True)
            assert key is not None
            conn.execute(
                "INSERT OR IGNORE INTO deleted_users (tombstone) VALUES (?)",
                (user_tombstone(user_id, key),),
            )
            conn.execute(
                "INSERT INTO meta VALUES ('erasure_pending', 1) ON CONFLICT (name) "
                "DO UPDATE SET value = CAST(value AS INTEGER) + 1"
            )
        # the WAL (and the file's old pages) hold the rows until a checkpoint completes
        self._eraser.erase()
        return n

    def erasure_pending(self) -> int:
        """Deletions whose rows may still be in the WAL; a background thread retries them."""
        return self._eraser.pending()

    def is_deleted(self, user_id: str) -> bool:
        """Whether ``delete_user`` recorded a tombstone for this id."""
        conn = self.db.conn()
        key = self._tombstone_key(conn, create=False)
        marks = [legacy_tombstone(user_id)]
        marks += [user_tombstone(user_id, key)] if key is not None else []
        q = f"SELECT 1 FROM deleted_users WHERE tombstone IN ({', '.join('?' * len(marks))})"
        return conn.execute(q, marks).fetchone() is not None

    def _tombstone_key(self, conn: sqlite3.Connection, create: bool) -> bytes | None:
        """The tombstones' HMAC key, checked against the fingerprint kept in ``meta``; None when
        no keyed tombstone was ever written and ``create`` is False (nothing is written then).

        Raises:
            ConfigError: the store's tombstones were made with another key.
        """
        with self._key_lock:
            if self._key is not None:
                return self._key
            row = conn.execute("SELECT value FROM meta WHERE name = 'tombstone_check'").fetchone()
            if row is None and not create:
                return None
            key = self._secret.encode() if self._secret else key_file(self.db.path)
            check = tombstone_check(key)
            if row is None:
                conn.execute("INSERT INTO meta VALUES ('tombstone_check', ?)", (check,))
            elif row[0] != check:
                raise ConfigError(
                    f"SQLite store {self.db.path}: its tombstones were made with another key, so "
                    "deleted users would come back; restore the tombstone secret it was used "
                    f"with (PRISMREC_TOMBSTONE_SECRET or {self.db.path}.tombstone-key)"
                )
            self._key = key
            return key

    def put_item(self, item_id: str, fields: dict[str, Any] | None) -> int:
        """Log the item's record (``None``: removed) in one fsynced transaction."""
        check_id("item_id", item_id)
        body = None if fields is None else json.dumps(fields, ensure_ascii=False)
        with self.db.write() as conn:
            conn.execute("DELETE FROM items WHERE item_id = ?", (item_id,))
            cur = conn.execute("INSERT INTO items (item_id, fields) VALUES (?, ?)", (item_id, body))
        assert cur.lastrowid is not None
        return int(cur.lastrowid)

    def item_changes(self, after: int = 0) -> list[ItemChange]:
        """Latest record of each item changed after ``after``, oldest first."""
        rows = self.db.conn().execute(
            "SELECT seq, item_id, fields FROM items WHERE seq > ? ORDER BY seq", (after,)
        )
        return [ItemChange(q, i, None if f is None else json.loads(f)) for q, i, f in rows]

    def ping(self) -> None:
        """Open the file and create the schema now; resume an erasure left pending."""
        self.db.conn()
        if self._eraser.pending():
            self._eraser.erase()

    def close(self) -> None:
        """Stop the eraser; close the connections unless a backend's owner closes them."""
        self._eraser.stop()
        if self._own:
            self._backend.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.db.path)!r})"


def _ctx_json(e: Event) -> str | None:
    return json.dumps(dict(e.context), ensure_ascii=False) if e.context else None
