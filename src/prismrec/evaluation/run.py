"""One evaluation run on a prepared dataset: its catalogue, planted facets, report and curve.

What ``prismrec evaluate`` and :func:`prismrec.evaluate` share: the catalogue the beyond-accuracy
metrics read (content vectors when ``content encode`` filled the cache, else categories), the
planted facets of a synthetic dataset, and the report directory with its accuracy-diversity curve.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import polars as pl

from prismrec.data.dataset import EvalCases, PreparedDataset
from prismrec.errors import ConfigError, DataError, PrismError
from prismrec.evaluation.beyond import (
    Catalog,
    catalog_from_dataset,
    facet_interests,
    intra_list_diversity,
)
from prismrec.evaluation.item_map import build_item_map
from prismrec.evaluation.metrics import accuracy_metrics, hit_matrix
from prismrec.evaluation.protocol import FullResult, Ranker, rank_cases
from prismrec.evaluation.report import Run, load_run, run_record, write_report

__all__ = [
    "CURVE_STRENGTHS",
    "ReportedModel",
    "Rerank",
    "diversity_curve",
    "eval_catalog",
    "planted_facets",
    "report_content_vectors",
    "write_eval_report",
]

log = logging.getLogger(__name__)
CURVE_STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)


class Rerank(Protocol):
    """A diversity re-ranker: positions of ``k`` picks among candidates (e.g. retrieval's MMR)."""

    def __call__(
        self, scores: np.ndarray, vectors: np.ndarray, k: int, diversity: float, /
    ) -> Sequence[int] | np.ndarray: ...


class ReportedModel(Ranker, Protocol):
    """What a report reads of a model besides its lists: its name and training history."""

    @property
    def name(self) -> str:
        """The model type, the report's label."""
        ...

    @property
    def history(self) -> Sequence[Mapping[str, float]]:
        """Per-epoch training records (empty: trained in one pass)."""
        ...


class _CacheOnlyEncoder:
    """The recorded text encoder's id for cache look-ups; never loads or runs the model."""

    def __init__(self, model_id: str) -> None:
        self._model_id = model_id

    @property
    def model_id(self) -> str:
        return self._model_id

    def encode(self, texts: Any) -> Any:
        raise DataError(f"{len(texts)} item texts are not in the content cache")


def report_content_vectors(ds: PreparedDataset) -> np.ndarray | None:
    """(N+1, D) content vectors when ``prismrec content encode`` filled the cache, else None.

    Reads the cache only: the text model is never loaded, and a cache that lacks texts gives
    None (the metrics then fall back to categories, with a warning saying why).
    """
    from prismrec.content import (
        TextEncoder,
        config_for,
        content_vectors,
        load_item_features,
        read_manifest,
    )

    record = read_manifest(Path(ds.root) / "content")
    if record is None:
        return None
    try:
        model_id = (
            record.get("model_id") or TextEncoder.from_config(config_for(ds.root, None)).model_id
        )
        vectors: np.ndarray = content_vectors(
            load_item_features(ds, encoder=_CacheOnlyEncoder(model_id))
        )
        return vectors
    except PrismError as exc:
        log.warning("content vectors unavailable (%s)", exc)
        return None


def eval_catalog(ds: PreparedDataset, split: str) -> Catalog:
    """The catalogue of a split's beyond-accuracy metrics (content vectors when cached)."""
    vectors = report_content_vectors(ds)
    return catalog_from_dataset(ds, split, vectors, "content" if vectors is not None else None)


def planted_facets(
    ds: PreparedDataset, cases: EvalCases, catalog: Catalog, path: Path | None
) -> tuple[list[np.ndarray], str] | None:
    """(per-user facet category codes, description) from a synthetic dataset's truth, or None.

    Without ``path``, looks for ``truth/facets.parquet`` beside the raw data the dataset was
    prepared from (what ``prismrec data synth`` writes).
    """
    if path is None:
        found = [
            Path(s).parent / "truth" / "facets.parquet"
            for s in ds.schema.get("sources", [])
            if (Path(s).parent / "truth" / "facets.parquet").is_file()
        ]
        path = found[0] if found else None
    elif not path.is_file():
        raise DataError(f"facets file {path}: no such file (expected a parquet of user_id, facet)")
    if path is None or catalog.categories is None:
        return None
    interests = facet_interests(
        ds.user_vocab.external(cases.users), pl.read_parquet(path), catalog.category_names
    )
    if not any(len(i) for i in interests):
        return None
    return interests, f"the user's planted facets ({path})"


def diversity_curve(
    rec: Ranker, cases: EvalCases, catalog: Catalog, filter_seen: bool, rerank: Rerank
) -> list[tuple[float, float, float]] | None:
    """(strength, NDCG@10, ILD@10) as ``rerank`` re-orders each user's top-100 with growing
    strength; None when the catalogue has neither content vectors nor categories."""
    vectors = catalog.vectors
    if vectors is None and catalog.categories is not None:
        bags = catalog.categories  # (N+1, L) codes, 0 = none: one multi-hot row per item
        vectors = np.zeros((bags.shape[0], len(catalog.category_names) + 1), dtype=np.float32)
        rows = np.repeat(np.arange(bags.shape[0]), bags.shape[1])
        vectors[rows, bags.ravel()] = 1.0
        vectors[:, 0] = 0.0
    if vectors is None:
        return None
    ids, scores = rank_cases(rec, cases, 100, filter_seen)
    n_t = np.fromiter((len(t) for t in cases.targets), dtype=np.int64, count=len(cases.targets))
    curve = []
    for d in CURVE_STRENGTHS:
        top = np.full((len(ids), 10), -1, dtype=np.int64)
        for u in range(len(ids)):
            ok = np.isfinite(scores[u])
            cand, sc = ids[u][ok], scores[u][ok]
            if len(cand):
                pick = np.asarray(rerank(sc, vectors[cand], 10, d), dtype=np.int64)
                top[u, : len(pick)] = cand[pick]
        ndcg = accuracy_metrics(hit_matrix(top, cases.targets), n_t, (10,), ("ndcg",))["ndcg@10"]
        ild = intra_list_diversity(top, vectors, 10)
        curve.append((d, float(np.mean(ndcg)), float(np.nanmean(ild))))
    return curve


def write_eval_report(
    out: Path,
    res: FullResult,
    rec: ReportedModel,
    ds: PreparedDataset,
    cases: EvalCases,
    catalog: Catalog,
    model_dir: Path | None,
    baselines: Sequence[Path] | None,
    seed: int,
    rerank: Rerank | None = None,
) -> dict[str, Any]:
    """Write the report directory; return the ``metrics.json`` payload (with intervals).

    Args:
        rec: the recommender.
        model_dir: the model's directory for ``run.json`` (None for a model not saved yet).
        baselines: other runs' report directories to plot alongside.
        rerank: the re-ranker of the accuracy-diversity figure (None: no figure).
    """
    runs: dict[str, Run] = {}
    for b in baselines or []:
        try:
            run = load_run(b)
        except FileNotFoundError as exc:
            raise ConfigError(str(exc)) from None
        name = run.model if run.model != rec.name and run.model not in runs else f"{run.model}:{b}"
        runs[name] = run
    record = run_record(res.protocol, ds.schema, model_dir, ds.root, {"bootstrap_seed": seed})
    user_ids = ds.user_vocab.external(cases.users)
    masked = bool(res.protocol.get("seen_items_masked"))
    curve = diversity_curve(rec, cases, catalog, masked, rerank) if rerank else None
    write_report(
        out,
        res,
        model=rec.name,
        user_ids=user_ids,
        run=record,
        history=rec.history,
        baselines=runs,
        item_map=build_item_map(rec, cases, catalog, res.topk, user_ids),
        curve=curve,
        seed=seed,
    )
    return dict(json.loads((out / "metrics.json").read_text()))
