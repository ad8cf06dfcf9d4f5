"""Per-thread connections to one SQLite file: the database every SQLite-backed feature shares."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prismrec.errors import ConfigError

__all__ = ["SQLiteDB"]


class SQLiteDB:
    """Per-thread connections to one SQLite file in WAL mode with ``synchronous=FULL``.

    A server's worker threads come and go (the thread pool retires idle ones); the connection
    of a thread that has ended is closed when the next one opens, so they never pile up.
    Several features share one file (:class:`~prismrec.serving.state.Backend`): each adds its
    tables with :meth:`add_schema`, created by the next connection that is used.
    """

    def __init__(self, path: str | Path, schema: str = "", timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self._schemas = [schema] if schema else []
        self.timeout_s = timeout_s
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conns: dict[threading.Thread, sqlite3.Connection] = {}
        self._closed = False

    def conn(self) -> sqlite3.Connection:
        """This thread's connection, opened (and the schema created) on first use."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and not self._closed:
            if self._local.applied < len(self._schemas):  # a feature joined since
                self._apply(conn)
            return conn
        with self._lock:
            if self._closed:
                raise RuntimeError(f"SQLite store {self.path} is closed")
            for thread in [t for t in self._conns if not t.is_alive()]:
                self._conns.pop(thread).close()
            conn = self._open()
            self._conns[threading.current_thread()] = conn
        self._local.conn, self._local.applied = conn, 0
        self._apply(conn)
        return conn

    def add_schema(self, schema: str) -> None:
        """Create ``schema``'s tables (``CREATE ... IF NOT EXISTS``) before their first use."""
        with self._lock:
            if schema not in self._schemas:
                self._schemas.append(schema)

    def _apply(self, conn: sqlite3.Connection) -> None:
        schemas = list(self._schemas)
        try:
            for schema in schemas[self._local.applied :]:
                conn.executescript(schema)
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot create tables in SQLite store {self.path}: {exc}") from exc
        self._local.applied = len(schemas)

    @property
    def n_connections(self) -> int:
        """Connections open now (one per thread that used the store and may use it again)."""
        with self._lock:
            return len(self._conns)

    def _open(self) -> sqlite3.Connection:
        try:
            if not self.path.exists():  # events are personal data: owner-only file
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            conn = sqlite3.connect(
                self.path, timeout=self.timeout_s, isolation_level=None, check_same_thread=False
            )
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA secure_delete=ON")  # deleted users' rows are zeroed
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
            conns, self._conns = list(self._conns.values()), {}
        for c in conns:
            c.close()
