"""``prismrec train | recommend | evaluate``: one library call each."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from prismrec.cli._common import check_same_items, console, fail, guard, print_json


class EvalSplit(str, Enum):
    valid = "valid"
    test = "test"


ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="TOML config file")]
DataOpt = Annotated[Path, typer.Option("--data", "-d", help="prepared dataset directory")]
ModelDirOpt = Annotated[Path, typer.Option("--model", "-m", help="trained model directory")]


def metrics_table(title: str, metrics: dict[str, float], ks: tuple[int, ...] = (10, 20)) -> Table:
    """Rows: metric names (accuracy first, then beyond-accuracy); columns: cut-offs."""
    t = Table(title=title)
    t.add_column("metric")
    for k in ks:
        t.add_column(f"@{k}", justify="right")
    names = sorted(
        {key.split("@")[0] for key in metrics if "@" in key and not _is_interest(key)},
        key=lambda m: (_METRIC_ORDER.index(m) if m in _METRIC_ORDER else 99, m),
    )
    for name in names:
        t.add_row(
            name,
            *[_cell(metrics.get(f"{name}@{k}")) for k in ks],
        )
    return t


def interests_table(metrics: dict[str, float], title: str = "interests") -> Table | None:
    """The interest distinctness means (one row each), or None when there are none."""
    rows = [(k, v) for k, v in metrics.items() if _is_interest(k)]
    if not rows:
        return None
    t = Table(title=title)
    t.add_column("measure")
    t.add_column("mean", justify="right")
    for k, v in rows:
        t.add_row(k, _cell(v))
    return t


def _is_interest(key: str) -> bool:
    from prismrec.evaluation.interests import is_interest_metric

    return is_interest_metric(key)


_METRIC_ORDER = (
    "ndcg",
    "recall",
    "mrr",
    "hr",
    "precision",
    "map",
    "ild",
    "ild_category",
    "category_coverage",
    "interest_coverage",
    "novelty",
    "catalog_coverage",
    "gini",
)


def _cell(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.4f}"


def recommend(
    model: ModelDirOpt,
    data: Annotated[
        Path | None, typer.Option("--data", "-d", help="prepared dataset (batch mode)")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="JSON-lines file to write (batch mode)")
    ] = None,
    split: Annotated[
        EvalSplit, typer.Option(help="whose target position to score")
    ] = EvalSplit.test,
    k: Annotated[int, typer.Option("-k", min=1, help="list length")] = 10,
    filter_seen: Annotated[bool, typer.Option("--filter-seen/--no-filter-seen")] = True,
    user: Annotated[
        str | None, typer.Option("--user", help="one user's external id (one-off answer)")
    ] = None,
    history: Annotated[
        str | None, typer.Option("--history", help="comma-separated item ids, oldest first")
    ] = None,
) -> None:
    """Top-K lists: every user of a split as JSON lines (--data, --out), or one answer for
    --user ID and/or --history ITEM,ITEM,... printed as JSON (external ids)."""
    from prismrec.training import load_model

    if user is None and history is None:
        if data is None or out is None:
            raise fail("give --data and --out (every user of a split), or --user / --history")
        with guard():
            n = _recommend_split(load_model(model), data, out, split.value, k, filter_seen)
        console.print(f"wrote top-{k} for {n:,} users to {out}")
        return
    with guard():
        print_json(_recommend_one(load_model(model), model, user, history, k, filter_seen))


def _recommend_split(rec: Any, data: Path, out: Path, split: str, k: int, seen: bool) -> int:
    from prismrec.data.dataset import PreparedDataset
    from prismrec.evaluation.protocol import rank_cases

    ds = PreparedDataset.load(data)
    check_same_items(rec, ds)
    cases = ds.eval_cases(split)
    ids, scores = rank_cases(rec, cases, k, seen)
    users = ds.user_vocab.external(cases.users)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w") as fh:
        for u, row, sc in zip(users, ids, scores, strict=True):
            ok = sc > -float("inf")
            line = {
                "user_id": u,
                "items": ds.item_vocab.external(row[ok]),
                "scores": [round(float(x), 6) for x in sc[ok]],
            }
            fh.write(json.dumps(line) + "\n")
    return len(users)


def _recommend_one(
    rec: Any, model_dir: Path, user: str | None, history: str | None, k: int, seen: bool
) -> dict[str, Any]:
    """One user's list from the model directory alone (its vocabularies and stored histories)."""
    import numpy as np
    import polars as pl

    from prismrec.data.vocab import Vocabulary
    from prismrec.errors import UnknownIdError

    items = pl.read_parquet(model_dir / "items.parquet").sort("item_idx")
    item_vocab = Vocabulary(items.get_column("item_id").to_list(), offset=1, name="item")
    users = Vocabulary.load(model_dir / "vocab" / "users.parquet", 0, "user")
    u = users.index(user) if user is not None and user in users else -1
    if history is not None:
        ext = [x.strip() for x in history.split(",") if x.strip()]
        idx = item_vocab.lookup(ext)
        unknown = [e for e, i in zip(ext, idx, strict=True) if i < 0]
        if unknown:
            raise UnknownIdError(f"unknown item id(s) in --history: {', '.join(unknown[:10])}")
        ids, scores = rec.recommend([np.asarray(idx)], k=k, filter_seen=seen, users=[u])
    elif u >= 0:
        ids, scores = rec.recommend(users=[u], k=k, filter_seen=seen)
    else:
        raise UnknownIdError(
            f"unknown user {user!r}: pass --history ITEM,ITEM,... for a user the model has not seen"
        )
    ok = scores[0] > -float("inf")
    return {
        "user_id": user,
        "items": [
            {"item_id": i, "score": round(float(s), 6)}
            for i, s in zip(item_vocab.external(ids[0][ok]), scores[0][ok], strict=True)
        ],
    }


def evaluate(
    model: ModelDirOpt,
    data: DataOpt,
    split: Annotated[EvalSplit, typer.Option(help="split to evaluate")] = EvalSplit.test,
    as_json: Annotated[bool, typer.Option("--json", help="print metrics as JSON")] = False,
    report: Annotated[
        Path | None,
        typer.Option(help="write metrics.json, per_user.npz, run.json and report.html here"),
    ] = None,
    filter_seen: Annotated[bool, typer.Option("--filter-seen/--no-filter-seen")] = True,
    sampled: Annotated[
        int | None,
        typer.Option(
            "--sampled",
            min=1,
            help="rank the targets among N uniform sampled negatives instead of all items "
            "(labelled sampled-N everywhere)",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of sampled negatives and bootstrap")] = 0,
    baseline: Annotated[
        list[Path] | None,
        typer.Option(
            "--baseline",
            metavar="REPORT_DIR",
            help="another run's report dir to plot alongside (repeatable)",
        ),
    ] = None,
    facets: Annotated[
        Path | None,
        typer.Option(
            help="planted facets parquet (user_id, facet) for interest coverage; default: "
            "truth/facets.parquet next to the raw data, when there"
        ),
    ] = None,
) -> None:
    """Accuracy and beyond-accuracy metrics @10/@20 on a split, overall and per slice."""
    from prismrec.data.dataset import PreparedDataset
    from prismrec.evaluation import (
        dataset_slices,
        evaluate_full,
        metrics_payload,
        protocol_label,
    )
    from prismrec.training import load_model

    with guard():
        rec = load_model(model)
        ds = PreparedDataset.load(data)
        check_same_items(rec, ds)
        cases = ds.eval_cases(split.value)
        catalog = _eval_catalog(ds, split.value)
        planted = _planted_facets(ds, cases, catalog, facets)
        res = evaluate_full(
            rec,
            cases,
            filter_seen=filter_seen,
            split=split.value,
            catalog=catalog,
            slices=dataset_slices(ds, cases, split.value),
            interests=planted[0] if planted else None,
            interests_source=planted[1] if planted else "",
            sampled=sampled,
            seed=seed,
        )
        payload: dict[str, Any] = metrics_payload(res, rec.name)
        if report is not None:
            payload = _write_eval_report(
                report, res, rec, ds, cases, catalog, model, baseline, seed
            )
    if as_json:
        print_json(payload)
        return
    console.print(metrics_table(f"{rec.name}: {protocol_label(res.protocol)}", res.metrics))
    table = interests_table(res.metrics)
    if table is not None:
        console.print(table)
    console.print(_slices_table(res.slices))
    if report is not None:
        console.print(f"report written to {report / 'report.html'}")


# ----- evaluate helpers -------------------------------------------------------------------------
_SLICE_COLUMNS = ("ndcg@10", "recall@10", "ild@10", "novelty@10")


def _slices_table(slices: dict[str, dict[str, float]]) -> Table:
    t = Table(title="per slice")
    t.add_column("slice", no_wrap=True)
    t.add_column("users", justify="right")
    for c in _SLICE_COLUMNS:
        t.add_column(c, justify="right")
    for name, row in slices.items():
        t.add_row(name, f"{int(row['n_users']):,}", *[_cell(row.get(c)) for c in _SLICE_COLUMNS])
    return t


class _CacheOnlyEncoder:
    """The recorded text encoder's id for cache look-ups; never loads or runs the model."""

    def __init__(self, model_id: str) -> None:
        self._model_id = model_id

    @property
    def model_id(self) -> str:
        return self._model_id

    def encode(self, texts: Any) -> Any:
        from prismrec.errors import DataError

        raise DataError(f"{len(texts)} item texts are not in the content cache")


def _content_vectors(ds: Any) -> Any:
    """(N+1, D) content vectors when 'prismrec content encode' filled the cache, else None."""
    import logging

    from prismrec.content import (
        TextEncoder,
        config_for,
        content_vectors,
        load_item_features,
        read_manifest,
    )
    from prismrec.errors import PrismError

    record = read_manifest(Path(ds.root) / "content")
    if record is None:
        return None
    try:
        # the model id the cache was filled with; the text model itself is never loaded
        model_id = (
            record.get("model_id") or TextEncoder.from_config(config_for(ds.root, None)).model_id
        )
        return content_vectors(load_item_features(ds, encoder=_CacheOnlyEncoder(model_id)))
    except PrismError as exc:  # fall back to categories, but say why
        logging.getLogger(__name__).warning("content vectors unavailable (%s)", exc)
        return None


def _eval_catalog(ds: Any, split: str) -> Any:
    from prismrec.evaluation import catalog_from_dataset

    vectors = _content_vectors(ds)
    return catalog_from_dataset(ds, split, vectors, "content" if vectors is not None else None)


def _planted_facets(ds: Any, cases: Any, catalog: Any, path: Path | None) -> Any:
    """(per-user facet category codes, description) from a synthetic dataset's truth, or None."""
    import polars as pl

    from prismrec.errors import DataError
    from prismrec.evaluation import facet_interests

    if path is None:
        found = [
            Path(s).parent / "truth" / "facets.parquet"
            for s in ds.schema.get("sources", [])
            if (Path(s).parent / "truth" / "facets.parquet").is_file()
        ]
        path = found[0] if found else None
    elif not path.is_file():
        raise DataError(f"--facets {path}: no such file (expected a parquet of user_id, facet)")
    if path is None or catalog.categories is None:
        return None
    interests = facet_interests(
        ds.user_vocab.external(cases.users), pl.read_parquet(path), catalog.category_names
    )
    if not any(len(i) for i in interests):
        return None
    return interests, f"the user's planted facets ({path})"


def _write_eval_report(
    out: Path,
    res: Any,
    rec: Any,
    ds: Any,
    cases: Any,
    catalog: Any,
    model_dir: Path,
    baselines: list[Path] | None,
    seed: int,
) -> dict[str, Any]:
    """Write the report directory; return the metrics.json payload (with intervals)."""
    from prismrec.errors import ConfigError
    from prismrec.evaluation import build_item_map, load_run, run_record, write_report

    runs = {}
    for b in baselines or []:
        try:
            run = load_run(b)
        except FileNotFoundError as exc:
            raise ConfigError(str(exc)) from None
        name = run.model if run.model != rec.name and run.model not in runs else f"{run.model}:{b}"
        runs[name] = run
    record = run_record(res.protocol, ds.schema, model_dir, ds.root, {"bootstrap_seed": seed})
    user_ids = ds.user_vocab.external(cases.users)
    write_report(
        out,
        res,
        model=rec.name,
        user_ids=user_ids,
        run=record,
        history=getattr(rec, "history", None),
        baselines=runs,
        item_map=build_item_map(rec, cases, catalog, res.topk, user_ids),
        curve=_diversity_curve(rec, cases, catalog, bool(res.protocol.get("seen_items_masked"))),
        seed=seed,
    )
    return dict(json.loads((out / "metrics.json").read_text()))


def _diversity_curve(rec: Any, cases: Any, catalog: Any, filter_seen: bool) -> Any:
    """(strength, NDCG@10, ILD@10) as MMR re-ranks each user's top-100 with growing strength."""
    import numpy as np

    from prismrec.evaluation.beyond import intra_list_diversity
    from prismrec.evaluation.metrics import accuracy_metrics, hit_matrix
    from prismrec.evaluation.protocol import rank_cases
    from prismrec.retrieval.rerank import mmr

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
    for d in (0.0, 0.25, 0.5, 0.75, 1.0):
        top = np.full((len(ids), 10), -1, dtype=np.int64)
        for u in range(len(ids)):
            ok = np.isfinite(scores[u])
            cand, sc = ids[u][ok], scores[u][ok]
            if len(cand):
                pick = mmr(sc, vectors[cand], 10, d)
                top[u, : len(pick)] = cand[pick]
        ndcg = accuracy_metrics(hit_matrix(top, cases.targets), n_t, (10,), ("ndcg",))["ndcg@10"]
        ild = intra_list_diversity(top, vectors, 10)
        curve.append((d, float(np.mean(ndcg)), float(np.nanmean(ild))))
    return curve
