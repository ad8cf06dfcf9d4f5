"""Completing deletions in the SQLite store: the tombstone key file and the WAL eraser."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from prismrec.errors import ConfigError
from prismrec.serving.state._events import new_tombstone_key

if TYPE_CHECKING:
    from prismrec.serving.state._db import SQLiteDB

__all__ = ["Eraser", "key_file"]

log = logging.getLogger(__name__)


def key_file(db_path: Path) -> bytes:
    """The key in ``DB.tombstone-key``, created (0600, atomically) when missing."""
    path = Path(f"{db_path}.tombstone-key")
    if not path.exists():
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(new_tombstone_key().hex())
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # fails if another process created it first: use theirs
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the tombstone key {path}: {exc}") from exc


class Eraser:
    """Completes deletions: a WAL checkpoint that must really finish (TRUNCATE, result checked).

    ``meta.erasure_pending`` counts deletions not yet checkpointed (it survives restarts). A
    checkpoint fails while another connection reads an older snapshot; ``erase`` retries a few
    times, then leaves the rest to one background thread that retries every ``retry_s``.
    """

    def __init__(self, db: SQLiteDB, tries: int = 3, retry_s: float = 0.2) -> None:
        self.db, self.tries, self.retry_s = db, tries, retry_s
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def pending(self) -> int:
        row = self.db.conn().execute("SELECT value FROM meta WHERE name = 'erasure_pending'")
        got = row.fetchone()
        return int(got[0]) if got else 0

    def erase(self) -> bool:
        """Checkpoint now (a few tries); True when nothing is left pending."""
        for attempt in range(self.tries):
            if self._once():
                return True
            time.sleep(0.05 * (attempt + 1))
        log.warning("erasure pending: a reader holds an old snapshot; retrying in the background")
        self._background()
        return False

    def _once(self) -> bool:
        n = self.pending()
        if n == 0:
            return True
        conn = self.db.conn()
        conn.execute("PRAGMA busy_timeout = 50")  # a blocked checkpoint must not stall a DELETE
        try:
            busy, wal, done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(self.db.timeout_s * 1000)}")
        if busy or wal != done:
            return False
        with self.db.write() as w:  # deletions committed after `n` was read stay counted
            w.execute(
                "UPDATE meta SET value = MAX(0, CAST(value AS INTEGER) - ?) "
                "WHERE name = 'erasure_pending'",
                (n,),
            )
        return self.pending() == 0

    def _background(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._loop, name="prismrec-erase", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.retry_s):
            try:
                if self._once():
                    log.info("pending erasure completed")
                    return
            except (sqlite3.Error, RuntimeError):  # store closed or busy: try again later
                continue

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
