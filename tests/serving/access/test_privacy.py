"""Pseudonymised user ids: stable keyed hashes, and a log filter that leaves no raw id behind."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from prismrec.serving.access.privacy import PseudonymFilter, UserId, install_filter, pseudonymise

SECRET = "test-secret"
UID = "alice@example.com"


def test_pseudonyms_are_stable_short_and_keyed() -> None:
    p = pseudonymise(UID, SECRET)
    assert p == pseudonymise(UID, SECRET.encode()) and len(p) == 16
    assert all(c in "0123456789abcdef" for c in p)
    assert p != pseudonymise(UID, "other-secret") and p != pseudonymise("bob", SECRET)
    assert len(pseudonymise(UID, SECRET, length=8)) == 8
    with pytest.raises(ValueError, match="secret"):
        pseudonymise(UID, "")


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    fmt = logging.Formatter("%(message)s user=%(user_id)s", defaults={"user_id": "-"})
    handler.setFormatter(fmt)
    handler.addFilter(PseudonymFilter(SECRET))
    log = logging.getLogger("prismrec.test.privacy")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    yield log, buf
    log.removeHandler(handler)


def test_filter_replaces_extra_mapping_and_marked_args(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    log, buf = logged
    pid = pseudonymise(UID, SECRET)
    log.info("recommend", extra={"user_id": UID})
    log.info("events for %(user_id)s: %(n)d", {"user_id": UID, "n": 3})
    log.info("deleted %s (%d events)", UserId(UID), 4)
    lines = buf.getvalue().splitlines()
    assert lines == [
        f"recommend user={pid}",
        f"events for {pid}: 3 user=-",
        f"deleted {pid} (4 events) user=-",
    ]
    assert UID not in buf.getvalue()


def test_filter_scrubs_user_ids_in_paths_like_the_access_log(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    log, buf = logged
    quoted = "alice%40example.com"
    log.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "DELETE", f"/v1/users/{quoted}", "1.1", 204)
    log.info("GET /v1/recommend?k=5&user_id=%s done", quoted)
    log.info(f"literal /v1/users/{UID}/recommendations in the message")
    text = buf.getvalue()
    pid = pseudonymise(UID, SECRET)  # the URL-decoded id, so pseudonyms match other logs
    assert f'"DELETE /v1/users/{pid} HTTP/1.1" 204' in text and f"user_id={pid}" in text
    assert f"/v1/users/{pid}/recommendations" in text
    log.info("GET /v1/users/%s/interests", quoted)  # the id appears only once formatted
    log.info("again /v1/users/%s", pid)  # a pseudonym is not pseudonymised twice
    text = buf.getvalue()
    assert f"GET /v1/users/{pid}/interests" in text and f"again /v1/users/{pid}" in text
    assert UID not in text and quoted not in text
    assert "k=5&" in text and " done" in text  # the rest is untouched


def test_an_id_with_a_slash_is_pseudonymised_whole(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    log, buf = logged
    # what uvicorn logs for DELETE /v1/users/team%2Falice (the path is decoded)
    log.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "DELETE", "/v1/users/team/alice", "1.1", 404)
    log.info("GET /v1/users/team/alice/recommendations?k=5")
    text = buf.getvalue()
    pid = pseudonymise("team/alice", SECRET)
    assert "alice" not in text and "team" not in text
    assert f"/v1/users/{pid} HTTP/1.1" in text and f"/v1/users/{pid}/recommendations?k=5" in text


def test_access_log_records_keep_their_five_args() -> None:
    """uvicorn's AccessFormatter unpacks record.args, so they must survive the filter."""
    args = ("127.0.0.1:5", "GET", "/v1/users/bob/recommendations?k=3", "1.1", 200)
    fmt = '%s - "%s %s HTTP/%s" %d'
    rec = logging.LogRecord("uvicorn.access", 20, __file__, 1, fmt, args, None)
    PseudonymFilter(SECRET).filter(rec)
    assert isinstance(rec.args, tuple) and len(rec.args) == 5
    assert rec.args[2] == f"/v1/users/{pseudonymise('bob', SECRET)}/recommendations?k=3"


def test_filter_runs_once_per_record_even_with_two_handlers() -> None:
    filt = PseudonymFilter(SECRET)
    rec = logging.LogRecord("x", logging.INFO, __file__, 1, "u %s", (UserId(UID),), None)
    assert filt.filter(rec) and filt.filter(rec)
    assert rec.getMessage() == f"u {pseudonymise(UID, SECRET)}"


def test_install_filter_covers_root_and_uvicorn_handlers() -> None:
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    access = logging.getLogger("uvicorn.access")
    access.addHandler(handler)
    try:
        filt = install_filter(SECRET)
        install_filter(SECRET)  # idempotent per filter object, harmless when repeated
        assert filt in handler.filters
        access.warning("GET /v1/users/%s", "bob")
        assert "bob" not in buf.getvalue()
        assert pseudonymise("bob", SECRET) in buf.getvalue()
    finally:
        access.removeHandler(handler)
