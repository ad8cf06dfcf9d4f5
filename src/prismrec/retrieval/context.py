"""What one user's requests share, kept between them: :class:`UserContext`."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

__all__ = ["UserContext"]

T = TypeVar("T")


class UserContext:
    """Work a user's requests share while the user's history and the catalogue stay the same.

    The retriever keeps here what it computed for the user and can reuse on the next request:
    the repeat bias, the interests' priors and ANN searches, and the catalogue statistics of
    their scores, each under a key naming what it depends on besides the user (search depth,
    steered weights, ...). The service keeps one with each cached user state, so a new event
    starts afresh; a catalogue change (a new ``version``) empties it. Entries are small (ids,
    scores and statistics of a few hundred candidates); at most ``max_entries`` are kept, the
    oldest dropped first.

    Threads may share one: two requests may compute the same entry, never read a wrong one.
    """

    def __init__(self, max_entries: int = 16) -> None:
        self.max_entries = max_entries
        self._version: Hashable = None
        self._entries: dict[Hashable, Any] = {}
        self._lock = threading.Lock()

    def get(self, version: Hashable, key: Hashable, compute: Callable[[], T]) -> T:
        """The entry ``key`` at catalogue ``version``, computed (and kept) if missing."""
        with self._lock:
            if self._version != version:
                self._version, self._entries = version, {}
            entries = self._entries
            if key in entries:
                out: T = entries[key]
                return out
        value = compute()
        with self._lock:
            if entries is self._entries:  # not emptied meanwhile
                while len(entries) >= self.max_entries:
                    del entries[next(iter(entries))]
                entries[key] = value
        return value

    def __len__(self) -> int:
        return len(self._entries)
