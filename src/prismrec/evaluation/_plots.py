"""PNG figures of an evaluation report (matplotlib, Agg, no pyplot global state).

matplotlib is imported when a figure is drawn, not when evaluation is imported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from prismrec.evaluation.interests import is_interest_metric

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "ItemMap",
    "plot_interest_distributions",
    "plot_interest_map",
    "plot_item_map",
    "plot_metric_bars",
    "plot_slices",
    "plot_tradeoff",
    "plot_training_curves",
]

_DPI = 110
_N_COLOURS = 9


@dataclass
class ItemMap:
    """What the 2-D item map draws.

    Attributes:
        vectors: (N+1, D) item vectors (row ``i`` is ``item_idx`` i; all-zero rows are skipped).
        labels: (N+1,) category code that colours each item (0 = none).
        label_names: name of code ``c`` at position ``c - 1``.
        history: the marked user's history (item indices).
        recommended: the marked user's top-K (item indices, ``-1`` ignored).
        interests: (K, D) the user's interest vectors in the same space, or ``None``.
        interest_weights: (K,) their weights, or ``None``.
        source: what the vectors are, for the title (e.g. ``"model item table"``).
        user: the marked user's external id.
        interest_items: (K, m) each interest's own top items (history masked), or ``None``.
        interest_labels: (K,) each interest's label, or ``None``.
    """

    vectors: np.ndarray
    labels: np.ndarray
    label_names: list[str]
    history: np.ndarray
    recommended: np.ndarray
    interests: np.ndarray | None = None
    interest_weights: np.ndarray | None = None
    source: str = "item vectors"
    user: str = ""
    interest_items: np.ndarray | None = None
    interest_labels: list[str] | None = None


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    return path


def plot_metric_bars(
    path: Path,
    models: Mapping[str, Mapping[str, tuple[float, float, float]]],
    metrics: Sequence[str],
) -> Path:
    """One panel per metric, one bar per model, error bars = confidence interval.

    Args:
        path: PNG to write.
        models: model name -> metric -> (mean, ci_low, ci_high).
        metrics: the panels, in order.
    """
    cols = min(4, max(1, len(metrics)))
    rows = (len(metrics) + cols - 1) // cols
    fig = _figure(3.2 * cols, 2.6 * rows)
    names = list(models)
    colours = [f"C{i % 10}" for i in range(len(names))]
    for j, metric in enumerate(metrics):
        ax = fig.add_subplot(rows, cols, j + 1)
        stats = [models[n].get(metric, (np.nan, np.nan, np.nan)) for n in names]
        mean = np.array([s[0] for s in stats], dtype=float)
        err = np.array([[m - s[1], s[2] - m] for m, s in zip(mean, stats, strict=True)]).T
        ax.bar(range(len(names)), mean, color=colours, yerr=np.nan_to_num(err), capsize=4)
        ax.set_title(metric, fontsize=10)
        ax.set_xticks(range(len(names)), names, fontsize=8, rotation=20)
        ax.tick_params(axis="y", labelsize=8)
    fig.suptitle("mean per user with 95% bootstrap interval", fontsize=10)
    return _save(fig, path)


def plot_slices(
    path: Path,
    overall: Mapping[str, float],
    slices: Mapping[str, Mapping[str, float]],
    metric: str,
) -> Path:
    """Horizontal bars of ``metric`` overall and in every non-empty slice."""
    rows: list[tuple[str, float, int | None]] = [("all", overall.get(metric, np.nan), None)]
    rows += [(n, s[metric], int(s["n_users"])) for n, s in slices.items() if metric in s]
    fig = _figure(6.4, 0.45 * len(rows) + 1.2)
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(len(rows))[::-1]
    ax.barh(y, [r[1] for r in rows], color=["C0"] + ["C1"] * (len(rows) - 1))
    labels = [r[0] if r[2] is None else f"{r[0]} (n={r[2]:,})" for r in rows]
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel(metric)
    ax.set_title(f"{metric} by slice", fontsize=10)
    return _save(fig, path)


def plot_tradeoff(
    path: Path, points: Sequence[tuple[float, float, float]], accuracy: str, diversity: str
) -> Path:
    """Accuracy against diversity as the re-ranking strength varies (strength annotated)."""
    pts = sorted(points)
    fig = _figure(5.2, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    div = [p[2] for p in pts]
    acc = [p[1] for p in pts]
    ax.plot(div, acc, marker="o")
    for s, a, d in pts:
        ax.annotate(f"{s:g}", (d, a), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel(diversity)
    ax.set_ylabel(accuracy)
    ax.set_title("accuracy-diversity trade-off (labels: re-ranking strength)", fontsize=10)
    return _save(fig, path)


def plot_training_curves(path: Path, history: Sequence[Mapping[str, float]]) -> Path:
    """Loss series, validation accuracy and (when logged) the validation interest measures,
    one panel each, against the epoch."""
    epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
    keys = sorted({k for h in history for k, v in h.items() if k != "epoch" and _number(v)})
    valid = [k for k in keys if k.startswith("valid")]
    interests = [k for k in valid if is_interest_metric(k.removeprefix("valid_"))]
    valid = [k for k in valid if k not in interests]
    losses = [k for k in keys if "loss" in k and k not in valid]  # not seconds, rates ...
    panels = [(losses, "training loss"), (valid, "validation")]
    if interests:  # on their own axis: effective K runs to K, the others to 1
        panels.append((interests, "validation: interest measures"))
    fig = _figure(4.5 * len(panels), 3.4)
    from matplotlib.ticker import MaxNLocator

    for j, (group, title) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), j + 1)
        for k in group:
            ax.plot(epochs, [h.get(k, np.nan) for h in history], marker=".", label=k)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title, fontsize=10)
        if group:
            ax.legend(fontsize=7)
    return _save(fig, path)


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _unit(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


def _pca(x: np.ndarray, dims: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (D, dims) principal axes of the rows of ``x``."""
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    axes = vt[:dims].T
    if axes.shape[1] < dims:
        axes = np.pad(axes, ((0, 0), (0, dims - axes.shape[1])))
    return mean, axes


@dataclass
class _Projection:
    """Items on the map: 2-D positions of every row, the drawn sample, and the PCA."""

    xy: np.ndarray  # (N+1, 2)
    sample: np.ndarray  # item rows drawn as the background
    mean: np.ndarray
    axes: np.ndarray

    def place(self, vectors: np.ndarray) -> np.ndarray:
        """(n, 2) positions of other vectors in the same space (interests)."""
        return (_unit(np.asarray(vectors, dtype=np.float64)) - self.mean) @ self.axes


def _project(m: ItemMap, max_points: int, seed: int) -> _Projection:
    """PCA of the L2-normalised item vectors (directions: what a dot product ranks)."""
    rng = np.random.default_rng(seed)
    vec = _unit(np.asarray(m.vectors, dtype=np.float64))
    has = np.flatnonzero(np.linalg.norm(vec, axis=1) > 0)
    has = has[has > 0]
    marked = np.union1d(m.history, m.recommended[m.recommended > 0])
    if m.interest_items is not None:
        marked = np.union1d(marked, m.interest_items[m.interest_items > 0])
    sample = rng.choice(has, size=min(max_points, len(has)), replace=False) if len(has) else has
    mean, axes = _pca(vec[np.union1d(sample, marked).astype(np.int64)])
    xy = (vec - mean) @ axes
    if len(np.unique(np.round(xy[sample], 6), axis=0)) < 0.5 * max(len(sample), 1):
        xy = xy + rng.normal(0, 0.01 * (xy[sample].std() + 1e-9), xy.shape)  # duplicate points
    return _Projection(xy, sample, mean, axes)


def plot_item_map(path: Path, m: ItemMap, max_points: int = 4000, seed: int = 0) -> Path:
    """PCA map of item vectors coloured by category, one user's history, top-K and interests."""
    pr = _project(m, max_points, seed)
    xy, sample = pr.xy, pr.sample
    fig = _figure(7.6, 6.0)
    ax = fig.add_subplot(1, 1, 1)
    codes, counts = np.unique(m.labels[sample], return_counts=True)
    top = [c for c in codes[np.argsort(-counts, kind="stable")] if c > 0][:_N_COLOURS]
    for i, c in enumerate(top):
        pts = sample[m.labels[sample] == c]
        name = m.label_names[c - 1] if 0 < c <= len(m.label_names) else str(c)
        ax.scatter(xy[pts][:, 0], xy[pts][:, 1], s=6, alpha=0.35, color=f"C{i}", label=name)
    rest = sample[~np.isin(m.labels[sample], top)]
    ax.scatter(xy[rest][:, 0], xy[rest][:, 1], s=6, alpha=0.2, color="lightgrey", label="other")
    _mark_user(ax, xy, m)
    rec = m.recommended[m.recommended > 0]
    ax.scatter(xy[rec][:, 0], xy[rec][:, 1], s=70, marker="*", color="red", label="top-K")
    if m.interests is not None and len(m.interests):
        ixy = pr.place(m.interests)
        w = m.interest_weights if m.interest_weights is not None else np.ones(len(ixy))
        ax.scatter(
            ixy[:, 0],
            ixy[:, 1],
            s=60 + 200 * np.asarray(w),
            marker="X",
            color="black",
            label="interests",
        )
        for i, (x, y) in enumerate(ixy):
            ax.annotate(f"I{i + 1}", (x, y), textcoords="offset points", xytext=(6, 6))
    ax.set_title(f"PCA of L2-normalised {m.source}; user {m.user}", fontsize=10)
    ax.legend(fontsize=7, loc="best", ncol=2)
    return _save(fig, path)


def _mark_user(ax: Any, xy: np.ndarray, m: ItemMap) -> None:
    hist = np.asarray(m.history, dtype=np.int64)
    ax.scatter(
        xy[hist][:, 0], xy[hist][:, 1], s=28, facecolors="none", edgecolors="black", label="history"
    )


# a palette apart from the category colours (tab10) so an interest never reads as a category
_INTEREST_COLOURS = ("#d7191c", "#2c7bb6", "#1a9641", "#7b3294", "#fdae61", "#008080")


def plot_interest_map(path: Path, m: ItemMap, max_points: int = 4000, seed: int = 0) -> Path:
    """One user's interests on the item map: each interest and its own top items in one colour.

    Items are grey, the history open black circles; interest ``Ik`` is a large cross sized by
    its weight, its own top items (history masked) dots of its colour joined to it by thin lines.
    Later interests draw smaller dots, so an item that several interests share shows as rings
    of their colours.
    """
    pr = _project(m, max_points, seed)
    xy = pr.xy
    fig = _figure(8.4, 6.2)
    ax = fig.add_subplot(1, 1, 1)
    ax.scatter(xy[pr.sample][:, 0], xy[pr.sample][:, 1], s=4, alpha=0.25, color="lightgrey")
    _mark_user(ax, xy, m)
    if m.interests is None or not len(m.interests):
        return _save(fig, path)
    ixy = pr.place(m.interests)
    w = np.asarray(
        m.interest_weights if m.interest_weights is not None else np.ones(len(ixy)) / len(ixy)
    )
    for i, (x, y) in enumerate(ixy):
        colour = _INTEREST_COLOURS[i % len(_INTEREST_COLOURS)]
        label = f"I{i + 1} ({w[i]:.2f})"
        if m.interest_labels is not None:
            label += f": {m.interest_labels[i] or '-'}"
        if m.interest_items is not None:
            own = m.interest_items[i][m.interest_items[i] > 0]
            for j in own:
                ax.plot([x, xy[j, 0]], [y, xy[j, 1]], color=colour, lw=0.5, alpha=0.35)
            size = (13.0 - 8.0 * i / max(len(ixy) - 1, 1)) ** 2  # rings of equal width
            ax.scatter(xy[own][:, 0], xy[own][:, 1], s=size, color=colour, edgecolors="none")
        ax.scatter([x], [y], s=90 + 300 * w[i], marker="X", color=colour, edgecolors="black")
        ax.scatter([], [], marker="X", s=60, color=colour, edgecolors="black", label=label)
        ax.annotate(f"I{i + 1}", (x, y), textcoords="offset points", xytext=(7, 7), fontsize=9)
    if m.interest_items is not None:
        ax.scatter([], [], s=30, color="grey", label="own top items (interest's colour)")
    ax.set_title(
        f"user {m.user}: interests (X, size = weight) and their own top items; PCA of {m.source}",
        fontsize=9,
    )
    ax.legend(fontsize=7, loc="best")
    return _save(fig, path)


def plot_interest_distributions(path: Path, per_user: Mapping[str, np.ndarray]) -> Path:
    """One histogram per interest measure over users, its mean marked."""
    keys = list(per_user)
    cols = min(4, max(1, len(keys)))
    rows = max(1, -(-len(keys) // cols))
    fig = _figure(3.0 * cols, 2.8 * rows)
    for j, key in enumerate(keys):
        ax = fig.add_subplot(rows, cols, j + 1)
        v = np.asarray(per_user[key], dtype=np.float64)
        v = v[np.isfinite(v)]
        if key in _BINARY:  # 0/1: the two shares
            ax.bar([0, 1], [np.mean(v == 0), np.mean(v == 1)] if len(v) else [0, 0])
            ax.set_xticks([0, 1], list(_BINARY[key]), fontsize=8)
            ax.set_ylabel("share of users", fontsize=8)
        else:  # fixed ranges: copies pile up at the right end, whatever the model
            ax.hist(v, bins=20, range=_range(key, v), color="C0")
            ax.set_ylabel("users", fontsize=8)
            if len(v):
                ax.axvline(float(v.mean()), color="black", lw=1, ls="--")
        ax.set_title(f"{key} (mean {v.mean():.3f})" if len(v) else key, fontsize=9)
        ax.tick_params(labelsize=8)
    return _save(fig, path)


_BINARY = {  # the 0/1 interest measures and the names of their two values
    "interest_label_distinct": ("a label repeats", "all distinct"),
    "short_dominant": ("short-term <= 0.8", "short-term > 0.8"),
}


def _range(key: str, v: np.ndarray) -> tuple[float, float]:
    """The x range of a measure's histogram: its possible values."""
    if key.startswith(("interest_effective_k", "effective_interests")):
        return 1.0, max(2.0, float(np.ceil(v.max() - 1e-6)) if len(v) else 2.0)
    low = min(0.0, float(v.min())) if len(v) else 0.0  # cosines may be negative
    return low, 1.0
