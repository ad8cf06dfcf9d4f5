"""Evaluation and effective configuration in the Python API."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prismrec.api.data import Dataset
from prismrec.api.models import Model, check_model_dir, load, split_cases
from prismrec.config import DataConfig, ModelConfig, PrismConfig, TrainConfig, load_config
from prismrec.errors import ConfigError
from prismrec.training import PrismRecommender, Recommender

__all__ = ["MERGE_RULES", "effective_config", "evaluate", "with_merge"]


def evaluate(
    model: Model | str | Path,
    data: Dataset | str | Path,
    split: str = "test",
    *,
    filter_seen: bool = True,
    sampled: int | None = None,
    seed: int = 0,
    report: str | Path | None = None,
    baselines: Sequence[str | Path] | None = None,
    facets: str | Path | None = None,
    ks: Sequence[int] | None = None,
    merge: str | None = None,
    category_lambda: float | None = None,
) -> dict[str, Any]:
    """Accuracy and beyond-accuracy metrics on a split, overall and per slice.

    Returns the dict ``prismrec evaluate --json`` prints: flat keys (``"ndcg@10"``,
    ``"recall@10"`` ...), ``"model"``, ``"n_users"``, ``"slices"``, ``"definitions"`` and
    ``"protocol"``; with ``report``, also ``"ci"`` (95% bootstrap intervals).

    The protocol follows the dataset's split: on a users split (``[data] split = "users"``,
    or ComiRec-style data) it is the future-set protocol: the held-out users of ``split``,
    their input events as history, the distinct later items as targets, cut-offs 20 and 50,
    and ``diversity@N`` by category when the items have categories; otherwise each user's
    next event(s), cut-offs 10 and 20. ``protocol["protocol"]`` names it.

    Args:
        model: a :class:`Model` or a model directory.
        data: the :class:`Dataset` (or its directory) the model was trained on.
        split: ``"valid"`` or ``"test"``.
        filter_seen: mask the user's history (full ranking either way).
        sampled: rank the targets among this many sampled negatives instead of all items.
        seed: seed of the sampled negatives and of the bootstrap.
        report: write ``metrics.json``, ``per_user.npz``, ``run.json`` and ``report.html`` here.
        baselines: other runs' report directories to plot alongside.
        facets: a planted-facets Parquet file (synthetic data) for interest coverage.
        ks: cut-offs (default: 20 and 50 on a users split, else 10 and 20).
        merge: how a prism model with K > 1 interests merges them into one list for this
            evaluation (``mixture``, ``max`` or ``quota``; None: the model's own ``[model]
            merge``); the protocol records the rule used.
        category_lambda: build each list by ComiRec's category aggregation with this λ (>= 0,
            needs item categories): greedily from the model's top 4N, each step adding the
            item that maximises its standardised score plus λ times its category distance to
            the items already picked (0: the plain top N). The protocol records
            ``category_lambda`` and ``aggregation_pool``.
    """
    from prismrec.evaluation import dataset_slices, evaluate_full, metrics_payload
    from prismrec.evaluation.future_set import (
        add_diversity,
        is_future_set,
        protocol_ks,
        protocol_record,
    )
    from prismrec.evaluation.run import eval_catalog, planted_facets, write_eval_report
    from prismrec.retrieval.rerank import mmr

    m = model if isinstance(model, Model) else load(model)
    ds = data if isinstance(data, Dataset) else Dataset.load(data)
    cases = split_cases(m, ds, split)
    rec = with_merge(m.recommender, merge)
    if sampled is not None and sampled < 1:
        raise ConfigError(f"sampled must be at least 1 (got {sampled})")
    catalog = eval_catalog(ds.prepared, split)
    planted = planted_facets(ds.prepared, cases, catalog, Path(facets) if facets else None)
    schema = ds.prepared.schema
    res = evaluate_full(
        rec,
        cases,
        protocol_ks(schema, ks),
        filter_seen=filter_seen,
        split=split,
        catalog=catalog,
        slices=dataset_slices(ds.prepared, cases, split),
        interests=planted[0] if planted else None,
        interests_source=planted[1] if planted else "",
        sampled=sampled,
        seed=seed,
        category_lambda=category_lambda,
    )
    res.protocol.update(protocol_record(schema))
    if isinstance(rec, PrismRecommender) and rec.n_interests > 1:
        res.protocol["merge"] = rec.merge_rule
    if is_future_set(schema):
        add_diversity(res)
    if report is None:
        return metrics_payload(res, m.name)
    return write_eval_report(
        Path(report),
        res,
        rec,
        ds.prepared,
        cases,
        catalog,
        m.root,
        [Path(b) for b in baselines or []],
        seed,
        rerank=mmr,
    )


MERGE_RULES = ("mixture", "max", "quota")


def with_merge(rec: Recommender, merge: str | None) -> Recommender:
    """``rec`` scoring with another interest merge rule (a copy; ``rec`` itself is unchanged)."""
    if merge is None:
        return rec
    if merge not in MERGE_RULES:
        raise ConfigError(f"merge must be one of {', '.join(MERGE_RULES)} (got {merge!r})")
    if not isinstance(rec, PrismRecommender) or rec.n_interests < 2:
        raise ConfigError(
            f"merge={merge!r} needs a prism model with several interests; "
            f"this {rec.name} model has one list of scores"
        )
    return rec.with_settings(merge=merge)


def effective_config(
    model: str | Path | None = None, config: str | Path | None = None
) -> dict[str, dict[str, Any]]:
    """The configuration a command would run with, section by section, with every key.

    Sections a model directory stores (``data``, ``model``, ``train``, ``content``) come from
    it when ``model`` is given (what the model was built with); the others from ``config`` over
    the defaults. ``serve`` resolves ``PRISMREC_*`` environment variables > ``[serve]`` >
    defaults, with ``model_dir`` set to ``model``.
    """
    from prismrec.config import serve_settings

    cfg = load_config(config)
    out: dict[str, dict[str, Any]] = {
        name: getattr(cfg, name).model_dump(mode="json") for name in ("data", "content")
    }
    out["model"] = cfg.model.model_dump(mode="json")
    out["train"] = cfg.train.model_dump(mode="json")
    if model is not None:
        p = check_model_dir(model)
        meta = json.loads((p / "model.json").read_text())
        out["model"] = ModelConfig(**meta["model"]).model_dump(mode="json")
        out["train"] = TrainConfig(**meta["train"]).model_dump(mode="json")
        if (p / "schema.json").is_file():
            schema = json.loads((p / "schema.json").read_text())
            out["data"] = DataConfig(**schema.get("config", {})).model_dump(mode="json")
        net = p / "net.json"
        content = json.loads(net.read_text()).get("content") if net.is_file() else None
        if content:
            out["content"] = PrismConfig(content=content).content.model_dump(mode="json")
    serve = serve_settings(config, model_dir=model)
    out["serve"] = serve.model_dump(mode="json")
    return out
