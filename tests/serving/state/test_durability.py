"""Acknowledged events survive a SIGKILL of the writer and of the Redis server.

A child process appends batches in a loop and prints each batch's sequence number only after
``append`` returned (the acknowledgement). The parent reads some acks, SIGKILLs the child at an
arbitrary moment (usually inside ``append``), reopens the store and checks that every
acknowledged batch is there, whole, and that no batch is half-written.

A process kill leaves the OS page cache intact, so these tests prove crash consistency and that
acknowledgement happens after the write, not that the fsync reached the platter; that part is
SQLite's ``synchronous=FULL`` and Redis's ``appendfsync always``.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from prismrec.serving.state.store import Event, EventStore, SQLiteStore, open_store

pytestmark = pytest.mark.integration

BATCH = 3  # events per append, for three different users
WRITER = """
import sys
from prismrec.serving.state.store import Event, open_store

store, start, size = open_store(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
for i in range(start, start + 1_000_000):
    batch = [Event(f"u{j}", f"b{i}-{j}", "click", 1000 + i) for j in range(size)]
    seq = store.append(batch)
    sys.stdout.write(f"{i} {seq}\\n")
    sys.stdout.flush()
"""


def start_writer(url: str, start: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, url, str(start), str(BATCH)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_acks(proc: subprocess.Popen[str], n: int) -> dict[int, int]:
    """Read ``n`` acknowledgements (batch index -> sequence number) from a running writer."""
    assert proc.stdout is not None
    acks: dict[int, int] = {}
    while len(acks) < n:
        line = proc.stdout.readline()
        if not line:
            err = proc.stderr.read() if proc.stderr else ""
            pytest.fail(f"writer exited after {len(acks)} acks:\n{err[-3000:]}")
        i, seq = map(int, line.split())
        acks[i] = seq
    return acks


def drain_acks(proc: subprocess.Popen[str]) -> dict[int, int]:
    """After the writer died: the acknowledgements still sitting in the pipe."""
    out, _ = proc.communicate(timeout=60)
    acks = {}
    for line in out.splitlines(keepends=True):
        if line.endswith("\n"):  # a line is written in one piece, but be strict
            i, seq = map(int, line.split())
            acks[i] = seq
    return acks


def kill_writer_after(url: str, start: int, n_acks: int, seed: int = 0) -> dict[int, int]:
    proc = start_writer(url, start)
    acks = read_acks(proc, n_acks)
    time.sleep(random.Random(seed).uniform(0, 0.03))  # vary where in append the kill lands
    proc.send_signal(signal.SIGKILL)
    acks.update(drain_acks(proc))
    assert proc.returncode == -signal.SIGKILL
    return acks


def check_acked(store: EventStore, acks: dict[int, int]) -> None:
    """Every acknowledged batch is stored whole; no batch is stored in part."""
    found: dict[str, tuple[int, str]] = {}
    for u in store.users():
        for e in store.history(u):
            found[e.item_id] = (e.seq, e.user_id)
    missing = [i for i in acks if f"b{i}-0" not in found]
    assert not missing, f"{len(missing)} acknowledged batches lost, e.g. {missing[:5]}"
    for i, seq in acks.items():
        assert found[f"b{i}-{BATCH - 1}"][0] == seq  # the acked number is the batch's last seq
    per_batch = Counter(item.split("-")[0] for item in found)
    assert set(per_batch.values()) == {BATCH}, "a batch was stored in part"


def test_sqlite_keeps_every_acknowledged_event_when_the_writer_is_killed(
    tmp_path: Path,
) -> None:
    url = f"sqlite:{tmp_path / 'state.db'}"
    acks: dict[int, int] = {}
    for round_ in range(3):  # three crashes into the same file
        acks.update(kill_writer_after(url, round_ * 1_000_000, n_acks=15, seed=round_))
        store = SQLiteStore(tmp_path / "state.db")
        try:
            check_acked(store, acks)
            assert store.db.conn().execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            store.close()
    assert len(acks) >= 45


def test_redis_keeps_acknowledged_events_when_writer_and_server_are_killed(
    redis_factory: Callable[..., Any],
) -> None:
    server = redis_factory(durable=True)  # appendonly yes, appendfsync always
    acks = kill_writer_after(server.url, start=0, n_acks=15)
    store = open_store(server.url)
    check_acked(store, acks)
    store.close()

    # kill the server itself while a writer is busy, then restart it from its AOF
    proc = start_writer(server.url, start=1_000_000)
    acks.update(read_acks(proc, 15))
    server.kill()
    acks.update(drain_acks(proc))  # the writer dies on the lost connection
    assert proc.returncode not in (0, None)
    assert any((server.workdir / "appendonlydir").iterdir())
    server.start()
    store = open_store(server.url)
    try:
        check_acked(store, acks)
    finally:
        store.close()
    assert len(acks) >= 30


def test_redis_without_aof_loses_events_on_a_server_kill(
    redis_factory: Callable[..., Any],
) -> None:
    """The documented limit: with Redis, durability is the server's configuration."""
    server = redis_factory(durable=False)
    store = open_store(server.url)
    store.append([Event("u", "a", "view")])
    store.close()
    server.kill()
    server.start()
    client = redis.Redis.from_url(server.url)
    assert client.dbsize() == 0
    client.close()
