"""Full-ranking evaluation of any recommender on a split's evaluation cases."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from prismrec.errors import ConfigError
from prismrec.evaluation.aggregation import (
    AGGREGATION_DEFINITION,
    POOL_FACTOR,
    aggregation_record,
    category_aggregate,
    check_category_lambda,
)
from prismrec.evaluation.beyond import (
    Catalog,
    beyond_accuracy,
    exposure_metrics,
    target_categories,
)
from prismrec.evaluation.interests import INTEREST_K, interest_definitions, interest_measures
from prismrec.evaluation.metrics import (
    ACCURACY_METRICS,
    accuracy_metrics,
    hit_matrix,
    topk_from_scores,
)
from prismrec.evaluation.slices import slice_means
from prismrec.progress import Tracker

__all__ = [
    "CatalogSized",
    "EvalResult",
    "FullResult",
    "FullScorer",
    "Ranker",
    "evaluate",
    "evaluate_full",
    "rank_cases",
    "rank_sampled",
    "ranked_lists",
    "sample_negatives",
]

log = logging.getLogger(__name__)


@runtime_checkable
class Ranker(Protocol):
    """Anything with the recommender API's ``recommend``."""

    def recommend(
        self,
        histories: Sequence[np.ndarray],
        k: int = 10,
        filter_seen: bool = True,
        items: np.ndarray | None = None,
        users: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]: ...


@runtime_checkable
class FullScorer(Ranker, Protocol):
    """A ranker that also scores every item at once (a trained recommender; an ANN index
    ranks only)."""

    def score(self, histories: Sequence[Any], users: np.ndarray | None = None) -> np.ndarray:
        """(B, n_items + 1) scores per history (column 0 is padding)."""
        ...


@runtime_checkable
class CatalogSized(Protocol):
    """Anything that knows how many items it ranks (items ``1..n_items``)."""

    @property
    def n_items(self) -> int: ...


class _Cases(Protocol):
    users: np.ndarray
    histories: list[np.ndarray]
    targets: list[np.ndarray]

    def __len__(self) -> int: ...

    def inputs(self) -> Sequence[Any]: ...


@dataclass
class EvalResult:
    """Mean metrics, the per-user arrays behind them, and how they were measured."""

    metrics: dict[str, float]
    per_user: dict[str, np.ndarray]
    protocol: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.metrics,
            "n_users": int(len(next(iter(self.per_user.values()), []))),
            "protocol": self.protocol,
        }


def rank_cases(
    rec: Ranker,
    cases: _Cases,
    k: int,
    filter_seen: bool = True,
    batch_size: int = 1024,
    *,
    items: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k item indices and scores for every case, in batches (``items``: the candidates
    to rank, None for the whole catalogue)."""
    ids, scores = [], []
    inputs = cases.inputs()
    with Tracker("ranking users", len(cases.users), "user") as bar:
        for start in range(0, len(cases.users), batch_size):
            hist = inputs[start : start + batch_size]
            users = cases.users[start : start + batch_size]
            i, s = rec.recommend(hist, k=k, filter_seen=filter_seen, items=items, users=users)
            ids.append(i)
            scores.append(s)
            bar.advance(len(hist))
    return np.concatenate(ids), np.concatenate(scores)


def ranked_lists(
    rec: Ranker,
    cases: _Cases,
    k: int,
    filter_seen: bool = True,
    batch_size: int = 1024,
    *,
    items: np.ndarray | None = None,
) -> np.ndarray:
    """(n, k) full-ranking top-k per case; masked items (score ``-inf``) become ``-1``."""
    ids, scores = rank_cases(rec, cases, k, filter_seen, batch_size, items=items)
    ids = np.where(np.asarray(scores) > -np.inf, ids, -1)
    if ids.shape[1] < k:  # a catalogue smaller than k: pad with empty slots
        ids = np.pad(ids, ((0, 0), (0, k - ids.shape[1])), constant_values=-1)
    return ids


def evaluate(
    rec: Ranker,
    cases: _Cases,
    ks: Sequence[int] = (10, 20),
    filter_seen: bool = True,
    metrics: Sequence[str] = ACCURACY_METRICS,
    split: str = "test",
    batch_size: int = 1024,
    *,
    items: np.ndarray | None = None,
) -> EvalResult:
    """Full ranking over all items; seen items (the history) masked when ``filter_seen``.

    ``items`` restricts the ranking to these candidates (e.g. the cold-start protocol of
    DropoutNet and CLCRec: never-seen items ranked among the never-seen items only); the
    protocol then records how many there were.
    """
    top = ranked_lists(rec, cases, max(ks), filter_seen, batch_size, items=items)
    hits = hit_matrix(top, cases.targets)
    n_t = np.fromiter((len(t) for t in cases.targets), dtype=np.int64, count=len(cases.targets))
    per_user = accuracy_metrics(hits, n_t, ks, metrics)
    means = {k: float(v.mean()) if len(v) else 0.0 for k, v in per_user.items()}
    protocol = _protocol(split, filter_seen, len(cases.users), ks)
    if items is not None:
        protocol["candidates"] = int(len(np.unique(np.asarray(items))))
    return EvalResult(means, per_user, protocol)


def _protocol(
    split: str,
    filter_seen: bool,
    n_users: int,
    ks: Sequence[int],
    sampled: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "split": split,
        "ranking": f"sampled-{sampled}" if sampled else "full",
        "seen_items_masked": bool(filter_seen),
        "n_users": n_users,
        "ks": list(ks),
    }
    if sampled:
        out["negatives"] = "uniform over items, excluding targets and (when masked) seen items"
        out["negatives_seed"] = seed
    return out


# ----- sampled-negative ranking -----------------------------------------------------------------
def sample_negatives(
    n_items: int, exclude: Sequence[np.ndarray], n: int, seed: int = 0
) -> np.ndarray:
    """(users, n) distinct uniform negatives from ``1..n_items`` per user, avoiding ``exclude``.

    Users with fewer than ``n`` eligible items get all of them, padded with ``-1``. The same seed
    gives the same negatives.
    """
    rng = np.random.default_rng(seed)
    out = np.full((len(exclude), n), -1, dtype=np.int64)
    for u, ex in enumerate(exclude):
        ex = np.unique(np.asarray(ex, dtype=np.int64))
        ex = ex[(ex >= 1) & (ex <= n_items)]
        want = min(n, n_items - len(ex))
        got = np.zeros(0, dtype=np.int64)
        while len(got) < want:
            draw = rng.integers(1, n_items + 1, size=2 * (want - len(got)) + 8)
            draw = draw[~np.isin(draw, ex) & ~np.isin(draw, got)]
            _, first = np.unique(draw, return_index=True)
            got = np.concatenate([got, draw[np.sort(first)]])[:want]
        out[u, :want] = got
    return out


def _candidates(cases: _Cases, n_items: int, n: int, filter_seen: bool, seed: int) -> np.ndarray:
    """(users, n + max targets): the sampled negatives first, then the targets, ``-1`` padded.

    Negatives come first so that a target tied with a negative ranks below it (no optimistic
    ties).
    """
    exclude = [
        np.concatenate([t, h]) if filter_seen else t
        for t, h in zip(cases.targets, cases.histories, strict=True)
    ]
    neg = sample_negatives(n_items, exclude, n, seed)
    width = max((len(t) for t in cases.targets), default=0)
    tgt = np.full((len(cases.targets), width), -1, dtype=np.int64)
    for u, t in enumerate(cases.targets):
        tgt[u, : len(t)] = t
    return np.concatenate([neg, tgt], axis=1)


def rank_sampled(
    rec: Ranker,
    cases: _Cases,
    k: int,
    n_negatives: int,
    filter_seen: bool = True,
    seed: int = 0,
    n_items: int | None = None,
    batch_size: int = 1024,
) -> np.ndarray:
    """(n, k) top-k of each user's targets plus ``n_negatives`` sampled items (``-1`` padded).

    Uses the model's full score matrix (``rec.score``) when it has one (a
    :class:`FullScorer`), else ``recommend`` with the candidates as allow-list, one user at a
    time. ``n_items`` defaults to the ranker's own (a :class:`CatalogSized`).
    """
    if n_items is None:
        if not isinstance(rec, CatalogSized):
            raise TypeError(f"rank_sampled needs n_items= for a {type(rec).__name__}")
        n_items = rec.n_items
    cand = _candidates(cases, int(n_items), n_negatives, filter_seen, seed)
    inputs = cases.inputs()
    out = np.full((len(cand), k), -1, dtype=np.int64)
    if not isinstance(rec, FullScorer):
        for u in range(len(cand)):
            items = cand[u][cand[u] >= 0]
            ids, sc = rec.recommend(
                [inputs[u]], k=k, filter_seen=filter_seen, items=items, users=cases.users[u : u + 1]
            )
            keep = ids[0][sc[0] > -np.inf][:k]
            out[u, : len(keep)] = keep
        return out
    for s in range(0, len(cand), batch_size):
        c = cand[s : s + batch_size]
        full = np.asarray(rec.score(inputs[s : s + batch_size], cases.users[s : s + batch_size]))
        sc = np.take_along_axis(full, np.clip(c, 0, None), axis=1).astype(np.float64)
        sc[c <= 0] = -np.inf
        if filter_seen:
            sc[hit_matrix(c, cases.histories[s : s + batch_size])] = -np.inf
        cols = topk_from_scores(sc, k)
        out[s : s + len(c)] = np.where(
            cols >= 0, np.take_along_axis(c, np.clip(cols, 0, None), 1), -1
        )
    return out


# ----- everything at once -----------------------------------------------------------------------
@dataclass
class FullResult:
    """Overall means, per-slice means, per-user arrays and the protocol of one evaluation.

    Attributes:
        metrics: flat means (``"ndcg@10"``, ``"ild@10"``, ``"gini@10"`` ...).
        per_user: per-user arrays of every per-user metric (exposure metrics are global only).
        slices: slice name -> metric means within the slice, with ``n_users``.
        protocol: split, ranking (``full`` or ``sampled-N``), seen-item masking, cut-offs.
        definitions: one line per beyond-accuracy metric saying what was measured.
        users: internal user index of each row of the per-user arrays.
        topk: (n, max k) ranked item indices, ``-1`` in empty slots.
    """

    metrics: dict[str, float]
    per_user: dict[str, np.ndarray]
    slices: dict[str, dict[str, float]]
    protocol: dict[str, Any]
    definitions: dict[str, str]
    users: np.ndarray
    topk: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """JSON payload: flat metrics, ``n_users``, ``slices``, ``protocol``, ``definitions``."""
        return {
            **self.metrics,
            "n_users": len(self.users),
            "slices": self.slices,
            "protocol": self.protocol,
            "definitions": self.definitions,
        }


def evaluate_full(
    rec: Ranker,
    cases: _Cases,
    ks: Sequence[int] = (10, 20),
    *,
    filter_seen: bool = True,
    split: str = "test",
    catalog: Catalog | None = None,
    slices: dict[str, np.ndarray] | None = None,
    interests: Sequence[np.ndarray] | None = None,
    interests_source: str = "the user's given interest categories",
    sampled: int | None = None,
    seed: int = 0,
    batch_size: int = 1024,
    interest_k: int | None = INTEREST_K,
    category_lambda: float | None = None,
) -> FullResult:
    """Accuracy, beyond-accuracy metrics, overall and per slice, from one ranking pass.

    A model with K > 1 interest vectors per user (an
    :class:`~prismrec.evaluation.interests.InterestModel`) also gets the interest distinctness
    measures: ``interest_cosine``, ``interest_jaccard@<interest_k>``, ``interest_effective_k``
    and, when the catalogue has categories, ``interest_label_distinct``.

    Args:
        rec: the recommender.
        cases: evaluation cases (users, histories, targets).
        ks: cut-offs.
        filter_seen: mask the history's items.
        split: split name, recorded in the protocol.
        catalog: item side information; ``None`` computes accuracy and exposure metrics only.
        slices: name -> (n,) boolean mask over the cases.
        interests: per user, category codes of their interests for ``interest_coverage``;
            ``None``: the categories of their held-out targets.
        interests_source: what ``interests`` are, recorded in the definitions.
        sampled: rank among this many uniform negatives per user instead of all items.
        seed: seed of the sampled negatives.
        batch_size: users scored at once.
        interest_k: the own top-k of ``interest_jaccard@k``; ``None`` skips the interest measures.
        category_lambda: build each list by ComiRec's category aggregation with this λ from
            the model's top ``POOL_FACTOR * max(ks)`` (:mod:`prismrec.evaluation.aggregation`;
            needs ``catalog`` categories and full ranking); ``None``: the model's own lists.
    """
    k = max(ks)
    if sampled:
        if category_lambda is not None:
            raise ConfigError("category_lambda re-ranks a full ranking: use it without sampled")
        known = catalog.n_items if catalog is not None else None
        top = rank_sampled(rec, cases, k, sampled, filter_seen, seed, known, batch_size)
    elif category_lambda is not None:
        cats = catalog.categories if catalog is not None else None
        lam = check_category_lambda(category_lambda, cats)
        assert cats is not None  # checked: a ConfigError above otherwise
        ids, scores = rank_cases(rec, cases, POOL_FACTOR * k, filter_seen, batch_size)
        top = category_aggregate(ids, scores, cats, k, lam)
    else:
        top = ranked_lists(rec, cases, k, filter_seen, batch_size)
    n_t = np.fromiter((len(t) for t in cases.targets), dtype=np.int64, count=len(cases.targets))
    per_user = accuracy_metrics(hit_matrix(top, cases.targets), n_t, ks)
    definitions: dict[str, str] = {}
    if catalog is not None:
        per_user.update(
            _beyond(top, ks, catalog, cases.targets, interests, interests_source, definitions)
        )
    if interest_k is not None:
        per_user.update(_interest_arrays(rec, cases, catalog, interest_k, definitions, top, ks))
    if catalog is not None:
        n_items = int(catalog.n_items)
    else:  # the ranker's catalogue, else the largest item listed
        n_items = int(rec.n_items if isinstance(rec, CatalogSized) else top.max())
    means = slice_means(per_user, {"all": np.ones(len(top), dtype=bool)})["all"]
    means.pop("n_users")
    means.update(exposure_metrics(top, ks, n_items))
    by_slice = slice_means(per_user, slices or {})
    for name, mask in (slices or {}).items():
        if mask.any():
            by_slice[name].update(exposure_metrics(top[mask], ks, n_items))
    protocol = _protocol(split, filter_seen, len(cases.users), ks, sampled, seed)
    if category_lambda is not None:
        protocol.update(aggregation_record(category_lambda, k))
        definitions["category_aggregation"] = AGGREGATION_DEFINITION
    return FullResult(means, per_user, by_slice, protocol, definitions, cases.users, top)


def _beyond(
    top: np.ndarray,
    ks: Sequence[int],
    catalog: Catalog,
    targets: Sequence[np.ndarray],
    interests: Sequence[np.ndarray] | None,
    interests_source: str,
    definitions: dict[str, str],
) -> dict[str, np.ndarray]:
    """Per-user beyond-accuracy arrays; records what each metric measured in ``definitions``."""
    if interests is None and catalog.categories is not None:
        interests = target_categories(targets, catalog.categories)
        definitions["interest_coverage"] = "share of the held-out targets' categories in the list"
    elif interests is not None:
        definitions["interest_coverage"] = f"share of {interests_source} in the list"
    definitions.update(catalog.definitions())
    return beyond_accuracy(top, ks, catalog, interests)


def _interest_arrays(
    rec: Ranker,
    cases: _Cases,
    catalog: Catalog | None,
    k: int,
    definitions: dict[str, str],
    top: np.ndarray,
    ks: Sequence[int],
) -> dict[str, np.ndarray]:
    """Per-user interest distinctness and use, the share of the hits in the ranked ``top``
    lists that long-term interests own among them (``{}`` unless ``rec`` has K > 1 interests)."""
    cats = catalog.categories if catalog is not None else None
    names = catalog.category_names if catalog is not None else []
    got = interest_measures(
        rec, cases.users, cases.inputs(), k, cats, names, lists=top, targets=cases.targets, ks=ks
    )
    if got:
        definitions.update(interest_definitions(k, labels=cats is not None))
    return got
