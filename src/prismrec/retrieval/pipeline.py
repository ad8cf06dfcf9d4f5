"""One user's request end to end: retrieve per interest, filter, re-rank, explain.

>>> out = model.interests(histories=[history])
>>> retriever = Retriever.from_model(model, ItemMetadata.from_catalog(catalog))
>>> retriever.recommend(out.user(0), history, k=10, diversity=0.3, focus=1)
[{"item": 42, "score": 3.1, "interest": 1, "explanation": None}, ...]
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Collection, Hashable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from prismrec.config import EXACT_BELOW, SEARCH_DEPTH, ModelConfig
from prismrec.models.interests import Interests
from prismrec.retrieval._request import ItemMetadata, Request, without_absent
from prismrec.retrieval._scoring import Scoring, compact_search, owners
from prismrec.retrieval.context import UserContext
from prismrec.retrieval.explain import interest_labels, top_events
from prismrec.retrieval.index import ExactIndex, IndexSettings, ItemIndex, index_item_table
from prismrec.retrieval.multi import Candidates, as_indices, gather_found, steer_weights
from prismrec.retrieval.priors import ScorePriors
from prismrec.retrieval.rerank import filter_candidates, rerank
from prismrec.training.scorer import FreshRule

if TYPE_CHECKING:
    from prismrec.training.contract import SequenceModel

__all__ = ["ItemMetadata", "Request", "Retriever"]

T = TypeVar("T")


class Retriever:
    """Multi-interest retrieval, filters, diversity re-ranking and explanations for one user.

    Args:
        index: the item index (model item vectors).
        metadata: item categories, names and content vectors.
        candidates_per_interest: search depth per interest (at least ``3 * k`` is used).
        focus_boost: factor on a focused interest's weight.
        label_items: nearest items that make an interest's label.
        label_top: categories per label.
        n_events: past events per explanation.
        priors: the model's scorer on served candidates (``ScorePriors.from_scorer``): every
            candidate gets the offline final and per-interest scores, the co-occurrence prior
            nominates candidates too, and with the scorer's quota rule the list is merged as
            offline (each interest drafts its floored share by its own score, heaviest first;
            the rest and the order follow the final score). ``None``: the index's vectors
            alone (``ScorePriors.without_prior``): the interests' mixture log-probability.
        score_all_below: a catalogue (or allow-list) of at most this many items is scored
            whole: the list is then the offline top-k exactly, not only the best of the
            searched candidates.
    """

    def __init__(
        self,
        index: ItemIndex,
        metadata: ItemMetadata | None = None,
        *,
        candidates_per_interest: int = SEARCH_DEPTH,
        focus_boost: float = 4.0,
        label_items: int = 50,
        label_top: int = 3,
        n_events: int = 3,
        priors: ScorePriors | None = None,
        score_all_below: int = EXACT_BELOW,
    ) -> None:
        self.index = index
        self.score_all_below = score_all_below
        self._snapshot: tuple[tuple[int, int], np.ndarray, np.ndarray] | None = None
        if priors is None:
            ids = np.sort(np.asarray(index.ids(), np.int64))
            vecs = index.vectors(ids) if len(ids) else np.zeros((0, index.dim), np.float32)
            priors = ScorePriors.without_prior(ids, vecs)
        self.priors = priors
        self.metadata = metadata or ItemMetadata()
        self.candidates_per_interest = candidates_per_interest
        self.focus_boost = focus_boost
        self.label_items, self.label_top, self.n_events = label_items, label_top, n_events

    @classmethod
    def from_model(
        cls,
        model: SequenceModel,
        metadata: ItemMetadata | None = None,
        settings: IndexSettings | None = None,
        **kwargs: Any,
    ) -> Retriever:
        """Index a trained sequence model's item table (ids 1..N) and wrap it, scoring as the
        model's ``recommend`` does (its ``Scorer``, see ``ScorePriors``)."""
        table = model.item_vectors()
        ids = np.arange(1, len(table))
        kwargs.setdefault("priors", ScorePriors.from_scorer(model.scorer, ids, table[1:]))
        return cls(index_item_table(table, settings=settings), metadata, **kwargs)

    def recommend(
        self,
        interests: Interests,
        history: Sequence[int] | np.ndarray,
        request: Request | None = None,
        *,
        context: UserContext | None = None,
        **options: Any,
    ) -> list[dict[str, Any]]:
        """The list for one user, best first.

        Args:
            interests: the user's interest vectors, weights and attention.
            history: the user's item ids in time order.
            request: request options; keyword ``options`` override its fields.
            context: what earlier requests with these same interests and history computed
                (the service keeps one per cached user); None: nothing is kept.

        Returns:
            ``[{"item", "score", "interest", "explanation"}, ...]``; ``score`` is the inner
            offline final score;
            ``interest`` is the interest that drafted (else owns) the item; ``explanation`` is
            ``None`` unless asked for.
        """
        req = dataclasses.replace(request or Request(), **options)
        if req.k < 0:
            raise ValueError(f"k must be >= 0, got {req.k}")
        vecs = np.asarray(interests.vectors, dtype=np.float32)
        req, absent = without_absent(req, interests.weights)
        w = steer_weights(interests.weights, req.focus, req.mute, self.focus_boost)
        hist = np.asarray(history, dtype=np.int64).reshape(-1)
        seen = set(hist.tolist()) if req.filter_seen else set()
        source = self.index if req.allow_list is None else self._allowed(req.allow_list)
        cands = self._candidates(
            source,
            vecs,
            w,
            seen,
            req,
            interests.attention,
            hist,
            UserContext() if context is None else context,
            absent,
        )
        groups: np.ndarray | None = None
        quotas: np.ndarray | None = None
        quota = self.priors.quota
        if quota is not None and len(cands) and cands.own is not None:
            # the offline merge: each interest drafts its floored share by its own score,
            # heaviest first; the rest of the list is the best remaining by final score
            drafted = quota.draft(cands.scores[None], cands.own[None], w[None], req.k)[0]
            k_int = len(w)
            groups = np.where(drafted >= 0, drafted, k_int)
            quotas = np.append(np.bincount(drafted[drafted >= 0], minlength=k_int), 0)
            cands = dataclasses.replace(
                cands, interests=np.where(drafted >= 0, drafted, cands.interests)
            )
        vectors = (
            self._similarity_vectors(cands.items, source)
            if req.diversity > 0
            else np.zeros((len(cands), 0))
        )
        order = rerank(
            req.method,
            cands.scores,
            vectors,
            req.k,
            req.diversity,
            groups=groups,
            quotas=quotas,
        )
        if req.diversity == 0.0:
            order = order[np.argsort(-cands.scores[order], kind="stable")]  # final-score order
        fresh = self._fresh_rule(req)
        if fresh is not None and len(cands):  # the offline rule, over the candidates
            order = fresh.apply(order, cands.scores, self.priors.fresh_items(cands.items), req.k)
        picked = cands.take(order)
        notes = self._explain(picked, interests, w, hist) if req.explain else None
        return [
            {
                "item": int(picked.items[i]),
                "score": float(picked.scores[i]),
                "interest": int(picked.interests[i]),
                "explanation": None if notes is None else notes[i],
            }
            for i in range(len(picked))
        ]

    def _fresh_rule(self, req: Request) -> FreshRule | None:
        """The model's fresh-item slots, or the request's share of them."""
        rule = self.priors.fresh
        if req.fresh_share is None:
            return rule
        if not 0.0 <= req.fresh_share < 1.0:
            raise ValueError(f"fresh_share must be in [0, 1), got {req.fresh_share}")
        if req.fresh_share == 0.0:
            return None
        depth = ModelConfig.model_fields["fresh_depth"].default if rule is None else rule.depth
        return FreshRule(req.fresh_share, depth)

    def _candidates(
        self,
        source: ItemIndex,
        vecs: np.ndarray,
        w: np.ndarray,
        seen: set[int],
        req: Request,
        attention: np.ndarray | None,
        hist: np.ndarray,
        context: UserContext,
        absent: tuple[int, ...] = (),
    ) -> Candidates:
        """Filtered candidates; searches deeper (x4 per round) while fewer than ``k`` remain.
        At most ``score_all_below`` items: every item is a candidate.

        The user's ``context`` keeps the repeat bias and the interests' priors, and, for the
        service's own index (not an allow-list), the searches and the score statistics."""
        depth = max(self.candidates_per_interest, 3 * req.k)
        fresh = self._fresh_rule(req)
        if fresh is not None:  # the pool fresh slots pick from
            depth = max(depth, fresh.depth * req.k)
        exhaustive = len(source) <= self.score_all_below
        muted = as_indices(req.mute, len(vecs), "mute")
        excluded = self.category_codes(req.exclude_categories)
        version = self.version

        def kept(key: Hashable, compute: Callable[[], T]) -> T:
            return context.get(version, key, compute) if source is self.index else compute()

        priors = None
        if self.priors.similarity is not None and len(hist):
            priors = context.get(
                version,
                "priors",
                lambda: self.priors.interest_priors(attention, hist, len(vecs)),
            )
        rep = context.get(version, "repeat", lambda: self.priors.repeat_vector(hist))
        recency = context.get(version, "recency", lambda: self.priors.recency_prior(hist))
        scoring = Scoring(vecs, w, hist, priors, rep, recency, seen, muted, kept, absent)
        while True:
            # a repeated request (same depth, steering and filter) reuses the scored candidates
            shape = (depth, bool(seen), tuple(muted), w.tobytes())
            if exhaustive:
                every = functools.partial(self._every_item, source, scoring, depth, req.k)
                cands = kept(("every", req.k, *shape), every)
            else:
                searched = functools.partial(self._searched, source, scoring, depth)
                cands = kept(("scored", *shape), searched)
            keep = filter_candidates(
                cands.items,
                item_categories=self.metadata.categories,
                seen=seen,
                excluded_categories=excluded,
                allow_list=req.allow_list,
                max_per_category=req.max_per_category,
            )
            if keep.sum() >= req.k or depth >= len(source):
                return cands.take(np.flatnonzero(keep))
            depth *= 4

    def _searched(self, source: ItemIndex, sc: Scoring, depth: int) -> Candidates:
        """The interests' ``depth`` nearest unseen items (the searches kept apart: a steered
        request reuses them) and the prior's nominees, scored as offline."""
        excl = [sc.seen] * len(sc.vecs) if sc.seen else None
        search = functools.partial(compact_search, source, sc.vecs, depth, excl)
        ids, scores = sc.keep(("search", depth, bool(sc.seen)), search)
        if sc.absent:  # a missing interest's search (a zero vector) finds nothing
            ids = ids.copy()
            ids[list(sc.absent)] = -1
        return self._rescore(gather_found(ids, scores, sc.muted, sc.w), source, sc, depth)

    def _every_item(self, source: ItemIndex, sc: Scoring, depth: int, k: int) -> Candidates:
        """The best ``depth`` unseen items of ``source`` by the offline final score, every item
        scored (the exact top-k, no search); each owned by the interest whose own score (without
        a prior: whose softmax) likes it most, items of muted interests dropped.

        The final score needs the whole catalogue (its statistics); the own scores only the
        items kept: at least ``quota_depth * k``, the pool a quota draft picks from."""
        items, item_vecs = self._catalogue(source)
        seen = np.fromiter(sc.seen, np.int64, len(sc.seen))
        at = np.minimum(np.searchsorted(items, seen), max(len(items) - 1, 0))
        n_pool = len(items) - int((items[at] == seen).sum()) if len(items) else 0
        quota = self.priors.quota
        if quota is not None:  # the pool the draft picks from
            depth = n_pool if quota.depth is None else max(depth, quota.depth * k)
        while True:
            top, final, lse = sc.keep(
                ("pool", sc.w.tobytes(), len(seen) > 0, depth),
                functools.partial(self._pool, items, item_vecs, sc, seen, depth),
            )
            top_items = items[top]
            own = self.priors.own_scores(
                sc.vecs, top_items, item_vecs[top], sc.history, sc.priors, sc.repeat
            )
            # with a prior the own scores are z-scored per interest, so comparable; without one
            # they are the logits plus per-item terms, and the softmax (logit - lse) decides
            owner = owners(own if sc.priors is not None else own - lse[:, None], sc.absent)
            keep = np.flatnonzero(~np.isin(owner, np.asarray(sc.muted, np.int64)))
            if len(keep) >= k or depth >= n_pool:
                break
            depth *= 4
        return Candidates(
            top_items[keep], final[keep], owner[keep].astype(np.int64), sc.w, own[:, keep]
        )

    def _pool(
        self, items: np.ndarray, item_vecs: np.ndarray, sc: Scoring, seen: np.ndarray, depth: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The positions in ``items`` of the best ``depth`` unseen items by final score, best
        first; their final scores; the interests' log-normalisers."""
        final, lse = self.priors.catalogue_scores(
            sc.vecs, sc.w, items, item_vecs, sc.history, sc.repeat, sc.recency
        )
        pool = np.arange(len(items))
        if len(seen):
            pool = pool[~np.isin(items, seen)]
        if depth < len(pool):
            part = np.argpartition(-final[pool], depth - 1)[:depth]
            top = np.sort(pool[part])  # item order, so ties break as offline (lower id)
        else:
            top = pool
        top = top[np.argsort(-final[top], kind="stable")]
        return top, final[top], lse

    @property
    def version(self) -> tuple[int, int]:
        """Changes whenever an item of the index is added, changed or removed."""
        return (self.priors.moments.version, len(self.index))

    def _catalogue(self, source: ItemIndex) -> tuple[np.ndarray, np.ndarray]:
        """(ids, float32 vectors) of every item of ``source``, ids ascending; the service's own
        index is kept between requests until an item changes."""
        version = self.version
        snap = self._snapshot
        if source is self.index and snap is not None and snap[0] == version:
            return snap[1], snap[2]
        items = np.sort(np.asarray(source.ids(), np.int64))
        vecs = np.ascontiguousarray(source.vectors(items), dtype=np.float32)
        if source is self.index:
            self._snapshot = (version, items, vecs)
        return items, vecs

    def _rescore(self, cands: Candidates, source: ItemIndex, sc: Scoring, depth: int) -> Candidates:
        """The searched candidates plus the prior's nominees, scored per interest as offline."""
        items = cands.items
        if sc.priors is not None:
            extra = self.priors.nominate(sc.priors, depth)
            ok = np.fromiter(
                (int(i) not in sc.seen and int(i) in source for i in extra), bool, len(extra)
            )
            items = np.union1d(items, extra[ok])
        if not len(items):
            return cands
        item_vecs = source.vectors(items)
        stats = sc.keep(
            ("stats", depth, bool(sc.seen), tuple(sc.muted), sc.w.tobytes()),
            lambda: self.priors.final_stats(sc.vecs, sc.w, items, item_vecs, self.index),
        )
        own, final = self.priors.scores(
            sc.vecs,
            sc.w,
            items,
            item_vecs,
            sc.history,
            sc.priors,
            self.index,
            repeat=sc.repeat,
            stats=stats,
            recency=sc.recency,
        )
        if sc.priors is None:
            # raw logits (plus the repeat bias): the search's owners stand, muted ones dropped
            owner = cands.interests
            keep = np.ones(len(items), bool)
        else:
            # z-scored per interest, so comparable: an item goes to the interest liking it most
            owner = owners(own, sc.absent)
            keep = ~np.isin(owner, np.asarray(sc.muted, np.int64))
        order = np.flatnonzero(keep)[np.argsort(-final[keep], kind="stable")]
        return Candidates(
            items[order].astype(np.int64),
            final[order],
            owner[order].astype(np.int64),
            cands.weights,
            own[:, order],
        )

    def category_codes(self, categories: Collection[int | str]) -> list[int]:
        """Category codes from codes or names; an unknown name is a ``ValueError``."""
        names = {n: i + 1 for i, n in enumerate(self.metadata.category_names)}
        out = []
        for c in categories:
            if isinstance(c, str):
                if c not in names:
                    raise ValueError(f"unknown category {c!r}; known: {sorted(names)[:20]}")
                out.append(names[c])
            else:
                out.append(int(c))
        return out

    def _allowed(self, allow_list: Collection[int]) -> ItemIndex:
        """An exact index over the allow-listed items (searching it beats over-fetching)."""
        ids = np.asarray([i for i in allow_list if i in self.index], dtype=np.int64)
        sub = ExactIndex(self.index.dim)
        if len(ids):
            sub.add(ids, self.index.vectors(ids))
        return sub

    def _similarity_vectors(self, items: np.ndarray, source: ItemIndex) -> np.ndarray:
        content = self.metadata.content
        if content is None:
            return source.vectors(items) if len(items) else np.zeros((0, source.dim))
        inside = items < len(content)
        out = np.zeros((len(items), content.shape[1]), dtype=np.float64)
        out[inside] = content[items[inside]]
        return out

    def _explain(
        self, picked: Candidates, interests: Interests, w: np.ndarray, hist: np.ndarray
    ) -> list[dict[str, Any]]:
        used = sorted(set(picked.interests.tolist()))
        labels: dict[int, dict[str, Any]] = {}
        meta = self.metadata
        if meta.categories is not None and used:
            # all K labelled together: a label says what sets its interest apart from the others
            found = interest_labels(
                self.index,
                np.asarray(interests.vectors, dtype=np.float32),
                meta.categories,
                meta.category_names,
                n_items=self.label_items,
                top=self.label_top,
                base=meta.category_rates,
            )
            labels = {i: found[i] for i in used}
        att = interests.attention
        events = {i: top_events(None if att is None else att[i], hist, self.n_events) for i in used}
        empty: dict[str, Any] = {"label": None, "categories": []}
        return [
            {
                "interest": i,
                "interest_weight": round(float(w[i]), 4),
                **labels.get(i, empty),
                "events": events[i],
            }
            for i in picked.interests.tolist()
        ]
