"""One contract for the event stores, run over SQLite and a real Redis server."""

from __future__ import annotations

import socket
import stat
import threading
import time
from pathlib import Path

import pytest

from prismrec.errors import ConfigError, DataError
from prismrec.serving.state.store import (
    Event,
    EventStore,
    RedisStore,
    SQLiteStore,
    check_id,
    open_store,
    parse_store_url,
)


def ev(user: str, item: str, ts: int | None = 100, etype: str = "click", **ctx: str) -> Event:
    return Event(user, item, etype, ts, ctx or None)


def items(store: EventStore, user: str, limit: int | None = None) -> list[str]:
    return [e.item_id for e in store.history(user, limit)]


# ----------------------------------------------------------------------------- events


def test_append_returns_increasing_sequence_numbers_and_history_keeps_fields(
    store: EventStore,
) -> None:
    s1 = store.append([ev("u1", "a", 10, "view", page="home")])
    s2 = store.append([ev("u1", "b", 20), ev("u2", "c", 5)])
    assert s2 > s1 > 0
    (a, b) = store.history("u1")
    assert (a.seq, a.item_id, a.event_type, a.timestamp, a.context) == (
        s1,
        "a",
        "view",
        10,
        {"page": "home"},
    )
    assert b.context == {} and b.to_dict()["item_id"] == "b"
    assert items(store, "u2") == ["c"]
    assert store.history("nobody") == []


def test_missing_timestamp_gets_server_time(store: EventStore) -> None:
    before = int(time.time())
    store.append([ev("u", "a", None)])
    (e,) = store.history("u")
    assert before <= e.timestamp <= int(time.time()) + 1


def test_history_is_time_ordered_with_ties_in_arrival_order(store: EventStore) -> None:
    store.append([ev("u", "late", 300), ev("u", "tie1", 200)])
    store.append([ev("u", "early", 100)])
    store.append([ev("u", "tie2", 200), ev("u", "tie3", 200)])
    assert items(store, "u") == ["early", "tie1", "tie2", "tie3", "late"]
    assert items(store, "u", 2) == ["tie3", "late"]  # the latest two, still oldest first
    assert items(store, "u", 0) == []
    assert items(store, "u", 99) == ["early", "tie1", "tie2", "tie3", "late"]


def test_users_lists_each_user_once_sorted(store: EventStore) -> None:
    assert store.users() == []
    store.append([ev("b", "x"), ev("a", "x"), ev("b", "y")])
    assert store.users() == ["a", "b"]


def test_odd_user_ids_are_kept_apart(store: EventStore) -> None:
    odd = ["u:1", "u:1:events", "ü ser 1", "u", "%2F", "..."]
    store.append([ev(u, f"item-{i}") for i, u in enumerate(odd)])
    for i, u in enumerate(odd):
        assert items(store, u) == [f"item-{i}"]
    assert store.users() == sorted(odd)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"user_id": ""}, "user_id"),
        ({"user_id": 7}, "user_id"),
        ({"item_id": "x" * 300}, "item_id"),
        ({"user_id": "team/alice"}, "user_id"),
        ({"user_id": "a\x00b"}, "user_id"),
        ({"item_id": "line\nbreak"}, "item_id"),
        ({"item_id": ".."}, "item_id"),
        ({"event_type": None}, "event_type"),
        ({"timestamp": 1_700_000_000_000}, "timestamp"),  # milliseconds
        ({"timestamp": -1}, "timestamp"),
        ({"timestamp": True}, "timestamp"),
        ({"timestamp": 1.5}, "timestamp"),
        ({"context": {"k": 1}}, "context['k']"),
        ({"context": ["a"]}, "context"),
    ],
)
def test_bad_events_are_rejected_with_the_field_named(kwargs: dict, field: str) -> None:
    base = {"user_id": "u", "item_id": "i", "event_type": "click", "timestamp": 1}
    with pytest.raises(DataError, match=f"'{field}'" if "[" not in field else "context"):
        Event(**{**base, **kwargs})


def test_event_from_dict_checks_keys() -> None:
    e = Event.from_dict({"user_id": "u", "item_id": "i", "event_type": "view"})
    assert e.timestamp is None and e.context is None
    with pytest.raises(DataError, match="unknown event field.*'rating'"):
        Event.from_dict({"user_id": "u", "item_id": "i", "event_type": "v", "rating": 5})
    with pytest.raises(DataError, match="missing required field.*'item_id'"):
        Event.from_dict({"user_id": "u", "event_type": "v"})
    with pytest.raises(DataError, match="JSON object"):
        Event.from_dict(["u"])  # type: ignore[arg-type]


def test_append_rejects_empty_and_foreign_input(store: EventStore) -> None:
    with pytest.raises(DataError, match="at least one event"):
        store.append([])
    with pytest.raises(DataError, match="Event objects"):
        store.append([{"user_id": "u"}])  # type: ignore[list-item]
    with pytest.raises(DataError, match="limit"):
        store.history("u", -1)


# ----------------------------------------------------------------------------- versions, state


def test_versions_bump_on_every_append_and_only_for_that_user(store: EventStore) -> None:
    assert store.version("u1") == 0
    s1 = store.append([ev("u1", "a")])
    assert store.version("u1") == s1
    s2 = store.append([ev("u2", "b")])
    assert store.version("u1") == s1 and store.version("u2") == s2
    s3 = store.append([ev("u1", "c", 1)])  # an older timestamp still bumps the version
    assert store.version("u1") == s3 > s1
    snap = store.snapshot("u1")
    assert snap.version == s3 and [e.item_id for e in snap.events] == ["c", "a"]


def test_delete_user_removes_events_and_version(store: EventStore) -> None:
    store.append([ev("gone", "a"), ev("gone", "b"), ev("kept", "c")])
    old = store.version("gone")
    kept = store.version("kept")

    assert store.delete_user("gone") == 2
    assert store.history("gone") == [] and store.version("gone") == 0
    assert store.users() == ["kept"]
    assert store.version("kept") == kept and items(store, "kept") == ["c"]
    assert store.delete_user("gone") == 0 and store.delete_user("never") == 0
    assert store.erasure_pending() == 0

    store.append([ev("gone", "new")])  # versions are never reused after a delete
    assert store.version("gone") > old


def test_two_instances_share_events_and_invalidations(store: EventStore, store_url: str) -> None:
    other = open_store(store_url)  # a second API replica (or process) on the same store
    try:
        v = store.append([ev("u", "a")])
        assert other.version("u") == v and [e.item_id for e in other.history("u")] == ["a"]
        w = other.append([ev("u", "b")])
        assert store.version("u") == w > v  # the other replica's event invalidates here too
    finally:
        other.close()


def test_reopening_recovers_everything(store: EventStore, store_url: str) -> None:
    seqs = [store.append([ev(f"u{i % 3}", f"i{i}", i)]) for i in range(12)]
    version = store.version("u0")
    store.close()
    again = open_store(store_url)
    try:
        got = sorted(e.seq for u in again.users() for e in again.history(u))
        assert got == seqs
        assert again.version("u0") == version
    finally:
        again.close()


def test_concurrent_appends_from_threads_lose_nothing(store: EventStore) -> None:
    n_threads, per_thread = 4, 15
    acked: list[list[int]] = [[] for _ in range(n_threads)]
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(per_thread):
                acked[t].append(store.append([ev(f"u{i % 2}", f"t{t}-{i}", i)]))
                store.history(f"u{i % 2}", 5)  # reads interleave with the writes
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    all_acked = sorted(s for a in acked for s in a)
    assert len(set(all_acked)) == n_threads * per_thread
    stored = sorted(e.seq for u in ("u0", "u1") for e in store.history(u))
    assert stored == all_acked
    for u in ("u0", "u1"):
        assert store.version(u) == max(e.seq for e in store.history(u))


# ----------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty store URL"),
        ("state.db", "did you mean 'sqlite:state.db'"),
        ("mysql://host/db", "unsupported store URL"),
        ("sqlite:", "no file path"),
        ("redis://:6379/0", "no host"),
        ("redis://localhost:abc/0", "bad Redis URL"),
        ("redis://localhost:6379/zero", "not a number"),
    ],
)
def test_bad_store_urls_are_config_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        open_store(url)


def test_parse_store_url_and_redacted_passwords() -> None:
    assert parse_store_url("sqlite:/tmp/x.db") == ("sqlite", "/tmp/x.db")
    assert parse_store_url("sqlite:///tmp/x.db") == ("sqlite", "/tmp/x.db")
    assert parse_store_url("redis://h:1/2") == ("redis", "redis://h:1/2")
    with pytest.raises(ConfigError) as info:
        parse_store_url("redis://user:hunter2@h:1/zero")
    assert "hunter2" not in str(info.value)


def test_unreachable_redis_and_unwritable_sqlite_are_config_errors(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConfigError, match="cannot reach Redis"):
        open_store(f"redis://127.0.0.1:{port}/0")
    with pytest.raises(ConfigError, match="cannot open SQLite store"):
        open_store(f"sqlite:{tmp_path / 'missing-dir' / 'x.db'}")
    (tmp_path / "junk.db").write_bytes(b"not a database" * 100)
    with pytest.raises(ConfigError, match="cannot open SQLite store"):
        open_store(f"sqlite:{tmp_path / 'junk.db'}")


def test_sqlite_file_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    s = SQLiteStore(tmp_path / "s.db")
    s.append([ev("u", "a")])
    conn = s.db.conn()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert stat.S_IMODE((tmp_path / "s.db").stat().st_mode) == 0o600
    s.close()
    with pytest.raises(RuntimeError, match="closed"):
        s.history("u")


def test_redis_ping_warns_without_fsync_always(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    s = RedisStore(redis_url)
    with caplog.at_level("WARNING"):
        s.ping()
    s.close()
    assert "appendfsync always" in caplog.text


def test_delete_user_leaves_only_a_keyed_tombstone(store: EventStore, store_url: str) -> None:
    import hashlib

    store.append([Event("alice", "i1", "click", 10)])
    assert not store.is_deleted("alice")
    store.delete_user("alice")
    assert store.is_deleted("alice") and not store.is_deleted("bob")
    # a new event after deletion starts a fresh history; the tombstone stays
    store.append([Event("alice", "i2", "click", 20)])
    assert [e.item_id for e in store.history("alice")] == ["i2"]
    assert store.is_deleted("alice")
    marks = tombstones(store, store_url)
    assert len(marks) == 1
    # not reversible by trying ids: neither the id nor any unkeyed hash of it is stored
    unkeyed = {hashlib.sha256(f"{p}alice".encode()).hexdigest() for p in ("", "prismrec-deleted:")}
    assert not marks & unkeyed and not any("alice" in m for m in marks)
    if store_url.startswith("sqlite:"):
        raw = Path(store_url[len("sqlite:") :]).read_bytes()
        assert b"i1" not in raw  # secure_delete zeroes the removed row


def tombstones(store: EventStore, store_url: str) -> set[str]:
    if isinstance(store, SQLiteStore):
        rows = store.db.conn().execute("SELECT tombstone FROM deleted_users").fetchall()
        return {r[0] for r in rows}
    assert isinstance(store, RedisStore)
    return {m.decode() for m in store.r.smembers("prismrec:deleted")}


def test_deleting_an_unknown_user_changes_nothing(store: EventStore, store_url: str) -> None:
    store.append([ev("someone", "a")])
    before = snapshot_files(store_url)
    assert store.delete_user("never-seen") == 0
    assert not store.is_deleted("never-seen") and tombstones(store, store_url) == set()
    assert snapshot_files(store_url) == before
    # an id the caller knows (trained on) but the store has no events for gets a tombstone
    assert store.delete_user("trained-only", known=True) == 0
    assert store.is_deleted("trained-only") and len(tombstones(store, store_url)) == 1


def snapshot_files(store_url: str) -> object:
    if store_url.startswith("sqlite:"):
        path = Path(store_url[len("sqlite:") :])  # the file and its WAL (-shm holds read marks)
        return {
            p.name: p.read_bytes()
            for p in path.parent.glob(path.name + "*")
            if p.suffix != ".db-shm"
        }
    import redis

    client = redis.Redis.from_url(store_url)
    dump = {k: client.dump(k) for k in sorted(client.keys("*"))}
    client.close()
    return dump


def test_tombstones_need_the_key_they_were_made_with(tmp_path: Path, redis_url: str) -> None:
    for url in (f"sqlite:{tmp_path / 's.db'}", redis_url):
        first = open_store(url, tombstone_secret="first secret")
        first.append([ev("carl", "a")])
        first.delete_user("carl")
        first.close()
        again = open_store(url, tombstone_secret="first secret")
        assert again.is_deleted("carl")
        again.close()
        other = open_store(url, tombstone_secret="another secret")
        with pytest.raises(ConfigError, match="another key"):
            other.is_deleted("carl")
        other.close()
    # without a secret, SQLite keeps a random key beside the file (owner-only), not in it
    store = SQLiteStore(tmp_path / "k.db")
    store.append([ev("dora", "a")])
    store.delete_user("dora")
    key_file = tmp_path / "k.db.tombstone-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().strip() not in (tmp_path / "k.db").read_text(errors="replace")
    store.close()


def test_the_id_policy_is_one_function() -> None:
    for good in ("u1", "ü ser", "%2F", "a:b", "...", "x" * 256):
        assert check_id("user_id", good) == good
    for bad in (
        "",
        "team/alice",
        "a\\b",
        "tab\there",
        "nul\x00",
        "\u2028",
        ".",
        "..",
        "x" * 257,
        5,
    ):
        with pytest.raises(DataError, match="user_id must be"):
            check_id("user_id", bad)


def test_stores_refuse_ids_the_policy_refuses(store: EventStore) -> None:
    with pytest.raises(DataError, match="item_id"):
        store.put_item("a/b", {"title": "x"})
    with pytest.raises(DataError, match="user_id"):
        store.delete_user("a/b")


def test_item_log_keeps_the_latest_record_per_item_in_order(store: EventStore) -> None:
    s1 = store.put_item("new-1", {"title": "Alpha", "genres": ["Drama"]})
    s2 = store.put_item("new-2", {"title": "Beta ünïcode"})
    s3 = store.put_item("new-1", {"title": "Alpha 2"})
    assert s1 < s2 < s3
    changes = store.item_changes()
    assert [(c.item_id, c.fields) for c in changes] == [
        ("new-2", {"title": "Beta ünïcode"}),
        ("new-1", {"title": "Alpha 2"}),
    ]
    s4 = store.put_item("new-2", None)
    assert [(c.seq, c.item_id, c.fields) for c in store.item_changes(after=s3)] == [
        (s4, "new-2", None)
    ]
    assert store.item_changes(after=s4) == []


def raw_files(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def test_erasure_is_pending_while_a_reader_holds_a_snapshot(tmp_path: Path, wait_until) -> None:
    import sqlite3

    path = tmp_path / "erase.db"
    store = SQLiteStore(path)
    store.append([ev("erin-private-id", f"i{n}") for n in range(200)])
    reader = sqlite3.connect(path, isolation_level=None)  # a backup, a second process ...
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM events").fetchone()
    assert store.delete_user("erin-private-id") == 200
    assert store.erasure_pending() == 1  # the checkpoint could not complete: not claimed done
    assert b"erin-private-id" in raw_files(path)
    store.close()  # pending survives a restart
    store = open_store(f"sqlite:{path}")
    assert store.erasure_pending() == 1
    reader.execute("COMMIT")
    reader.close()
    assert wait_until(lambda: store.erasure_pending() == 0)  # finished in the background
    assert b"erin-private-id" not in raw_files(path)
    store.close()


def test_connections_of_ended_threads_do_not_pile_up(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "threads.db")
    store.append([ev("u", "a")])
    for _ in range(30):  # a thread pool retiring idle workers and starting new ones
        t = threading.Thread(target=store.history, args=("u",))
        t.start()
        t.join()
    store.history("u")
    assert store.db.n_connections <= 2  # this thread's and at most the last worker's
    store.close()
