"""Pseudonymised user ids in logs.

A pseudonym is a keyed hash (HMAC-SHA256) of the id: stable, so one user's log lines can still
be followed, but not reversible without the secret. :class:`PseudonymFilter` rewrites user ids
in log records before any handler formats them:

* ``extra={"user_id": ...}`` attributes (any name in ``fields``);
* mapping args (``log.info("%(user_id)s ...", {"user_id": uid})``);
* positional args wrapped in :class:`UserId` (``log.info("user %s", UserId(uid))``);
* user ids inside URL paths and query strings (``/users/<id>``, ``user_id=<id>``; an id runs to
  ``/recommendations``, ``/interests`` or the end of the path) in the message,
  in string args (uvicorn's access log) or formed by formatting (``"/users/%s" % uid``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

__all__ = ["DEFAULT_PATTERNS", "PseudonymFilter", "UserId", "install_filter", "pseudonymise"]

# a user id runs to the end of the path or to one of the API's per-user resources: a request for
# /v1/users/team%2Falice is logged (decoded) as /v1/users/team/alice and must not leak "alice"
_SUFFIXES = "recommendations|interests"
DEFAULT_PATTERNS = (
    rf"/users/((?:[^/?#\s\"']|/(?!(?:{_SUFFIXES})(?:[/?#\s\"']|$)))+)",
    r"[?&]user_id=([^&#\s\"']+)",
)
_DONE = "_prismrec_pseudonymised"


def pseudonymise(user_id: str, secret: str | bytes, length: int = 16) -> str:
    """A stable, non-reversible pseudonym: the first ``length`` hex digits of an HMAC-SHA256."""
    key = secret.encode() if isinstance(secret, str) else secret
    if not key:
        raise ValueError("the pseudonymisation secret must not be empty")
    return hmac.new(key, str(user_id).encode(), hashlib.sha256).hexdigest()[:length]


class UserId(str):
    """Marks a log argument as a user id, so :class:`PseudonymFilter` replaces it."""


class PseudonymFilter(logging.Filter):
    """Replace user ids in log records with pseudonyms; never drops a record.

    Attach it to handlers (``install_filter``): filters on a logger do not see records that
    propagate from its children.

    Args:
        secret: HMAC key; keep it out of the logs and stable across restarts.
        fields: attribute and mapping-arg names that hold user ids.
        patterns: regexes whose first group is a (URL-encoded) user id inside text.
    """

    def __init__(
        self,
        secret: str | bytes,
        fields: Iterable[str] = ("user_id",),
        patterns: Iterable[str] = DEFAULT_PATTERNS,
    ) -> None:
        super().__init__()
        pseudonymise("probe", secret)  # reject an empty secret now, not at the first log line
        self._secret = secret
        self.fields = frozenset(fields)
        self._patterns = [re.compile(p) for p in patterns]
        self._made: dict[str, str] = {}  # id -> pseudonym, to skip work and re-hashing
        self._pseudonyms: set[str] = set()
        self._lock = threading.Lock()

    def pseudonym(self, user_id: str) -> str:
        """The pseudonym of ``user_id`` under this filter's secret."""
        with self._lock:
            if user_id in self._pseudonyms:  # already replaced: scrubbing is idempotent
                return user_id
            pseudo = self._made.get(user_id)
            if pseudo is None:
                if len(self._made) >= 10_000:
                    self._made.clear()
                    self._pseudonyms.clear()
                pseudo = self._made[user_id] = pseudonymise(user_id, self._secret)
                self._pseudonyms.add(pseudo)
            return pseudo

    def scrub(self, text: str, template: bool = False) -> str:
        """``text`` with every user id matched by the patterns replaced.

        With ``template`` (a %-format message), ids holding ``%`` are left alone: they are
        placeholders such as ``/users/%s``, whose argument is scrubbed on its own.
        """
        for pat in self._patterns:
            text = pat.sub(lambda m: self._swap(m, template), text)
        return text

    def _swap(self, m: re.Match[str], template: bool) -> str:
        if template and "%" in m.group(1):
            return m.group(0)
        offset = m.start(0)
        start, end = m.start(1) - offset, m.end(1) - offset
        whole = m.group(0)
        return whole[:start] + self.pseudonym(unquote(m.group(1))) + whole[end:]

    def _arg(self, value: Any) -> Any:
        if isinstance(value, UserId):
            return self.pseudonym(str(value))
        if isinstance(value, str):
            return self.scrub(value)
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` in place (once, even with several handlers); always True."""
        if getattr(record, _DONE, False):
            return True
        for name in self.fields & record.__dict__.keys():
            value = getattr(record, name)
            if value is not None:
                setattr(record, name, self.pseudonym(str(value)))
        if isinstance(record.msg, str):
            record.msg = self.scrub(record.msg, template=bool(record.args))
        args = record.args
        if isinstance(args, Mapping):
            record.args = {
                k: self.pseudonym(str(v)) if k in self.fields else self._arg(v)
                for k, v in args.items()
            }
        elif isinstance(args, tuple):
            record.args = tuple(self._arg(a) for a in args)
        if record.args:
            self._scrub_formatted(record)
        setattr(record, _DONE, True)
        return True

    def _scrub_formatted(self, record: logging.LogRecord) -> None:
        # an id can form a path only once formatted ("/users/%s" % uid): then keep the scrubbed
        # text and drop the args; records whose args were enough keep them (uvicorn's access
        # formatter unpacks them)
        try:
            text = record.getMessage()
        except Exception:  # a broken format string is the handler's error to report
            return
        clean = self.scrub(text)
        if clean != text:
            record.msg, record.args = clean, ()


def install_filter(
    secret: str | bytes, loggers: Iterable[str] = ("", "uvicorn", "uvicorn.access")
) -> PseudonymFilter:
    """Add one :class:`PseudonymFilter` to every handler of the named loggers ("" is root).

    Call it after logging is configured (uvicorn sets up its handlers before the app starts,
    so the app's lifespan is a good place); handlers added later are not covered.
    """
    filt = PseudonymFilter(secret)
    for name in loggers:
        for handler in logging.getLogger(name).handlers:
            if filt not in handler.filters:
                handler.addFilter(filt)
    return filt
