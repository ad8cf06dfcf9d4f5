"""What one user's requests share, kept between them: :class:`UserContext`, and the memory
all users' contexts may hold together: :class:`ContextBudget`."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import numpy as np
import scipy.sparse as sp

__all__ = ["ContextBudget", "UserContext", "nbytes"]

T = TypeVar("T")


class ContextBudget:
    """Bytes that every :class:`UserContext` sharing it holds together, against a ``limit``.

    The contexts report what they keep and release; the owner of the contexts (the service's
    user cache) drops least-recently-used users while :attr:`over` holds.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._used = 0
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        """Bytes held now."""
        return self._used

    @property
    def over(self) -> bool:
        """Whether the contexts hold more than ``limit``."""
        return self._used > self.limit

    def add(self, n: int) -> None:
        """Count ``n`` more bytes held (negative: released)."""
        with self._lock:
            self._used += n


class UserContext:
    """Work a user's requests share while the user's history and the catalogue stay the same.

    The retriever keeps here what it computed for the user and can reuse on the next request:
    the repeat bias, the interests' priors and ANN searches, the scored candidates of a
    repeated request, and the catalogue statistics of their scores, each under a key naming
    what it depends on besides the user (search depth, steered weights, ...). The service
    keeps one with each cached user state, so a new event starts afresh; a catalogue change (a
    new ``version``) empties it. At most ``max_entries`` are kept, the oldest dropped first;
    their bytes are counted in ``budget`` (if any) until :meth:`clear` or a new version.

    Threads may share one: two requests may compute the same entry, never read a wrong one.
    """

    def __init__(self, max_entries: int = 16, budget: ContextBudget | None = None) -> None:
        self.max_entries = max_entries
        self.budget = budget
        self._version: Hashable = None
        self._entries: dict[Hashable, tuple[Any, int]] = {}
        self._closed = False
        self._lock = threading.Lock()

    def get(self, version: Hashable, key: Hashable, compute: Callable[[], T]) -> T:
        """The entry ``key`` at catalogue ``version``, computed (and kept) if missing."""
        with self._lock:
            closed = self._closed  # retired: a request still using it computes, keeps nothing
            if not closed and self._version != version:
                self._release()
                self._version = version
            entries = self._entries
            if not closed and key in entries:
                out: T = entries[key][0]
                return out
        value = compute()  # outside the lock: ``compute`` may read other entries
        if closed:
            return value
        size = nbytes(value) if self.budget is not None else 0
        with self._lock:
            if entries is self._entries:  # not emptied meanwhile
                freed = 0
                while len(entries) >= self.max_entries:
                    freed += entries.pop(next(iter(entries)))[1]
                entries[key] = (value, size)
                if self.budget is not None:
                    self.budget.add(size - freed)
        return value

    def clear(self) -> None:
        """Drop every entry and keep nothing more (the user left the cache, or their state
        changed): a request still holding the context computes what it needs, and its bytes
        stay out of ``budget``."""
        with self._lock:
            self._closed = True
            self._release()

    def _release(self) -> None:
        if self.budget is not None:
            self.budget.add(-sum(size for _, size in self._entries.values()))
        self._entries = {}

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays the entries hold (counted when ``budget`` is set)."""
        return sum(size for _, size in self._entries.values())


def nbytes(value: Any, depth: int = 4, _seen: set[int] | None = None) -> int:
    """Bytes of the arrays in ``value`` (arrays, sparse matrices, dataclasses, named tuples,
    tuples, lists and plain objects, nested at most ``depth`` deep, each object once); other
    values count 8."""
    seen = set() if _seen is None else _seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if sp.issparse(value):
        parts = ("data", "indices", "indptr")
        return sum(int(getattr(value, a).nbytes) for a in parts if hasattr(value, a))
    if depth <= 0:
        return 8
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        inner = [getattr(value, f.name) for f in dataclasses.fields(value)]
    elif isinstance(value, (tuple, list)):
        inner = list(value)
    elif hasattr(value, "__dict__") and not isinstance(value, type):
        inner = list(vars(value).values())
    else:
        return 8
    return sum(nbytes(v, depth - 1, seen) for v in inner)
