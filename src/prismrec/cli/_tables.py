"""Terminal tables of metrics: what the CLI prints (the numbers come from the library)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

__all__ = ["interests_table", "metrics_table", "slices_table"]

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
_SLICE_COLUMNS = ("ndcg@10", "recall@10", "ild@10", "novelty@10")


def _is_interest(key: str) -> bool:
    from prismrec.evaluation.interests import is_interest_metric

    return is_interest_metric(key)


def _cell(value: Any) -> str:
    if not isinstance(value, int | float) or value != value:
        return "-"
    return f"{value:.4f}"


def metrics_table(title: str, metrics: Mapping[str, Any], ks: tuple[int, ...] = (10, 20)) -> Table:
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
        t.add_row(name, *[_cell(metrics.get(f"{name}@{k}")) for k in ks])
    return t


def interests_table(metrics: Mapping[str, Any], title: str = "interests") -> Table | None:
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


def slices_table(slices: Mapping[str, Mapping[str, Any]], k: int = 10) -> Table:
    """One row per slice: its users and the headline metrics at cut-off ``k``."""
    cols = [c.replace("@10", f"@{k}") for c in _SLICE_COLUMNS]
    t = Table(title="per slice")
    t.add_column("slice", no_wrap=True)
    t.add_column("users", justify="right")
    for c in cols:
        t.add_column(c, justify="right")
    for name, row in slices.items():
        t.add_row(name, f"{int(row['n_users']):,}", *[_cell(row.get(c)) for c in cols])
    return t
