"""A/B tests of two models: which users see the candidate, and what they did with their lists.

A user's variant is a stable hash of their id (with a salt): the same user gets the same
variant on every request, on every replica and after restarts, with no state kept. Each list
served during a test is remembered in the store (the user's last ``ab_lists``); an event posted
later on one of its items makes it a *hit*. Per variant: lists served, lists hit, hit rate and
the distinct items served, shared by every replica (``/metrics``, ``prismrec ab report``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import redis

from prismrec.errors import ConfigError
from prismrec.evaluation.significance import proportion_ci, proportion_diff_ci
from prismrec.serving.lifecycle._ablog import ABCounts, ABLog, open_ablog
from prismrec.serving.metrics import Metrics
from prismrec.serving.state._events import redact
from prismrec.serving.state.store import parse_store_url

__all__ = [
    "VARIANTS",
    "ABReport",
    "Experiment",
    "VariantReport",
    "assign",
    "report",
    "summarise",
]

VARIANTS = ("control", "candidate")
_SCALE = float(1 << 64)


def assign(user_id: str, salt: str, share: float) -> str:
    """``"candidate"`` for a ``share`` of users (by the hash of ``salt`` and the id), else
    ``"control"``."""
    digest = hashlib.sha256(f"{salt}\x00{user_id}".encode()).digest()
    return "candidate" if int.from_bytes(digest[:8], "big") / _SCALE < share else "control"


class Experiment:
    """Records what each variant served and which lists later events hit.

    Args:
        log: the served lists and counts in the store.
        metrics: where latencies are observed and the store's totals exported.
    """

    def __init__(self, log: ABLog, metrics: Metrics | None = None) -> None:
        self.log = log
        self.metrics = metrics

    def served(self, user_id: str, variant: str, items: Sequence[str], seconds: float) -> None:
        """A list served to ``user_id`` by ``variant`` in ``seconds``."""
        self.log.served(user_id, variant, items)
        if self.metrics is not None:
            self.metrics.ab_latency.labels(variant).observe(seconds)

    def events(self, events: Iterable[tuple[str, str]]) -> int:
        """``(user_id, item_id)`` events just stored: mark the lists they hit."""
        return self.log.hits(events)

    def summary(self, alpha: float = 0.05) -> ABReport:
        """Both variants' lists, hits, hit rates and intervals so far (every replica)."""
        return summarise(self.log.counts(), alpha)

    def export(self, catalogue: Mapping[str, int]) -> None:
        """Set the per-variant gauges from the store's totals; ``catalogue`` is each
        variant's number of live items (for coverage)."""
        m = self.metrics
        if m is None:
            return
        counts = self.log.counts()
        for variant in VARIANTS:
            c = counts.get(variant, ABCounts())
            m.ab_lists.labels(variant).set(c.lists)
            m.ab_hits.labels(variant).set(c.hits)
            m.ab_hit_rate.labels(variant).set(c.hits / c.lists if c.lists else 0.0)
            m.ab_items.labels(variant).set(c.items)
            n = catalogue.get(variant, 0)
            m.ab_coverage.labels(variant).set(min(1.0, c.items / n) if n else 0.0)


@dataclass(frozen=True)
class VariantReport:
    """One variant: lists served and hit, the hit rate and its 95% (Wilson) interval."""

    variant: str
    lists: int
    hits: int
    hit_rate: float
    ci_low: float
    ci_high: float
    items_served: int


@dataclass(frozen=True)
class ABReport:
    """Both variants and the candidate's hit rate minus the control's, with its 95% interval
    (Newcombe's hybrid score interval: lists counted as independent trials)."""

    variants: list[VariantReport]
    diff: float
    diff_low: float
    diff_high: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def report(url: str, *, prefix: str = "prismrec:", alpha: float = 0.05) -> ABReport:
    """The A/B test recorded in the store at ``url``.

    Raises:
        ConfigError: a malformed URL, a missing SQLite file or an unreachable Redis.
    """
    kind, target = parse_store_url(url)
    if kind == "sqlite" and not Path(target).is_file():
        raise ConfigError(f"no store at {target}: give the --store the service ran with")
    log = open_ablog(url, prefix=prefix)
    try:
        counts = log.counts()
    except redis.RedisError as exc:
        raise ConfigError(f"cannot read the store {redact(url)}: {exc}") from None
    finally:
        log.close()
    return summarise(counts, alpha)


def summarise(counts: Mapping[str, ABCounts], alpha: float = 0.05) -> ABReport:
    """Both variants' hit rates and intervals, and their difference, from the log's counts."""
    rows = []
    for variant in VARIANTS:
        c = counts.get(variant, ABCounts())
        low, high = proportion_ci(c.hits, c.lists, alpha)
        rate = c.hits / c.lists if c.lists else float("nan")
        rows.append(VariantReport(variant, c.lists, c.hits, rate, low, high, c.items))
    control, candidate = rows
    d_low, d_high = proportion_diff_ci(
        control.hits, control.lists, candidate.hits, candidate.lists, alpha
    )
    return ABReport(rows, candidate.hit_rate - control.hit_rate, d_low, d_high)
