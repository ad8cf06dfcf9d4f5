"""The per-user cache: each user's history and interests at a store version, least recently
used users leaving first.

An entry is valid while the user's store version is the one it was computed at: the
service reads the version (one indexed lookup) on every request and recomputes only when an
event arrived since, on this replica or any other sharing the store.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from prismrec.models.interests import Interests
from prismrec.retrieval.context import ContextBudget, UserContext

__all__ = ["UserCache", "UserState"]


@dataclass(frozen=True)
class UserState:
    """A user's history (item rows, oldest first) and interests at a store version, and what
    the retriever computed for them and can reuse until the next event (``context``)."""

    version: int
    history: np.ndarray
    interests: Interests | None
    user_row: int
    context: UserContext = field(default_factory=UserContext, compare=False, repr=False)


class UserCache:
    """Thread-safe LRU of :class:`UserState` bounded by users and by the contexts' bytes.

    Args:
        size: users kept at most (0: nothing is cached).
        context_mb: what the cached users' retriever contexts may hold together.
    """

    def __init__(self, size: int, context_mb: int) -> None:
        self.size = size
        self.budget = ContextBudget(context_mb << 20)
        self._users: OrderedDict[str, UserState] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, user_id: str) -> UserState | None:
        """The user's entry (now the most recently used), or ``None``."""
        with self._lock:
            hit = self._users.get(user_id)
            if hit is not None:
                self._users.move_to_end(user_id)
                self._trim()
            return hit

    def context(self) -> UserContext:
        """An empty context that counts against this cache's budget."""
        return UserContext(budget=self.budget)

    def put(self, user_id: str, state: UserState) -> None:
        """Keep ``state`` as the user's entry (nothing when the cache has no room at all)."""
        if not self.size:
            return
        with self._lock:
            self._drop(user_id)
            self._users[user_id] = state
            self._trim()

    def drop(self, user_id: str) -> None:
        """Forget the user (deleted) and free their context."""
        with self._lock:
            self._drop(user_id)

    def __len__(self) -> int:
        """Users cached now."""
        with self._lock:
            return len(self._users)

    def users(self) -> list[str]:
        """Users cached now, least recently served first."""
        with self._lock:
            return list(self._users)

    def _drop(self, user_id: str) -> None:
        old = self._users.pop(user_id, None)
        if old is not None:
            old.context.clear()

    def _trim(self) -> None:
        """Least recently used users leave while there are more than ``size`` or their
        contexts hold more than the budget; the caller holds the lock."""
        while len(self._users) > self.size or (self.budget.over and len(self._users) > 1):
            self._users.popitem(last=False)[1].context.clear()
