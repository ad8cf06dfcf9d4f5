"""Bootstrap confidence intervals and paired tests over per-user metric arrays.

Resampling is over users (the unit the metrics average over), seeded, and vectorised in chunks
so memory stays bounded for large user counts. NaN entries (a metric undefined for a user) are
dropped: from the mean in :func:`bootstrap_cis`, pairwise in :func:`paired_compare`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = [
    "PairedComparison",
    "align_users",
    "bootstrap_ci",
    "bootstrap_cis",
    "compare_runs",
    "paired_compare",
    "proportion_ci",
    "proportion_diff_ci",
]

_CHUNK_ELEMENTS = 4_000_000


def _chunks(n_rep: int, width: int) -> Iterator[int]:
    """Sizes of the replicate chunks so that one chunk holds about ``_CHUNK_ELEMENTS`` values."""
    step = max(1, _CHUNK_ELEMENTS // max(width, 1))
    done = 0
    while done < n_rep:
        size = min(step, n_rep - done)
        yield size
        done += size


def _boot_means(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, m) NaN-aware means of users resampled with replacement from ``values`` (n, m)."""
    n, m = values.shape
    ok = ~np.isnan(values)
    filled = np.where(ok, values, 0.0)
    out = []
    for size in _chunks(n_boot, n * m):
        idx = rng.integers(0, n, size=(size, n))
        total = filled[idx].sum(axis=1)  # (size, m)
        count = ok[idx].sum(axis=1)
        out.append(np.divide(total, count, out=np.full(total.shape, np.nan), where=count > 0))
    return np.concatenate(out) if out else np.zeros((0, m))


def bootstrap_cis(
    per_user: Mapping[str, np.ndarray],
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap ``(low, high)`` interval of the mean of every per-user metric.

    All metrics share the same resampled users, so their intervals are consistent.
    """
    names = list(per_user)
    if not names:
        return {}
    values = np.stack([np.asarray(per_user[k], dtype=np.float64) for k in names], axis=1)
    if len(values) == 0:
        return {k: (float("nan"), float("nan")) for k in names}
    means = _boot_means(values, n_boot, np.random.default_rng(seed))
    lo = np.nanquantile(means, alpha / 2, axis=0)
    hi = np.nanquantile(means, 1 - alpha / 2, axis=0)
    return {k: (float(lo[j]), float(hi[j])) for j, k in enumerate(names)}


def bootstrap_ci(
    values: np.ndarray, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of one per-user array."""
    return bootstrap_cis({"x": values}, n_boot, alpha, seed)["x"]


@dataclass(frozen=True)
class PairedComparison:
    """Run B against run A on one metric, over the users both runs scored.

    ``diff`` is ``mean_b - mean_a``; the interval is a paired percentile bootstrap of it;
    ``p_ttest`` is the paired t-test and ``p_permutation`` a sign-flip permutation test
    (both two-sided).
    """

    metric: str
    n_users: int
    mean_a: float
    mean_b: float
    diff: float
    ci_low: float
    ci_high: float
    p_ttest: float
    p_permutation: float
    alpha: float
    n_boot: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ttest(d: np.ndarray) -> float:
    from scipy import stats

    if len(d) == 0:
        return 1.0
    if len(d) < 2 or np.ptp(d) <= 1e-12 * max(1.0, float(np.abs(d).max())):
        # no spread: the t statistic is 0 (no difference) or infinite
        return 1.0 if abs(float(d.mean())) <= 1e-12 else 0.0
    return float(stats.ttest_1samp(d, 0.0).pvalue)


def _permutation_p(d: np.ndarray, n_perm: int, rng: np.random.Generator) -> float:
    """Share of random sign flips whose mean difference is at least as extreme (add-one)."""
    if len(d) == 0:
        return 1.0
    observed = abs(d.mean())
    extreme = 0
    for size in _chunks(n_perm, len(d)):
        signs = rng.integers(0, 2, size=(size, len(d))) * 2 - 1
        extreme += int((np.abs((signs * d).mean(axis=1)) >= observed - 1e-12).sum())
    return (extreme + 1) / (n_perm + 1)


def paired_compare(
    a: np.ndarray,
    b: np.ndarray,
    metric: str = "",
    n_boot: int = 2000,
    alpha: float = 0.05,
    seed: int = 0,
) -> PairedComparison:
    """Paired bootstrap interval and tests of ``mean(b) - mean(a)`` (same users, same order).

    Raises:
        ValueError: ``a`` and ``b`` have different lengths.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired arrays differ in length: {a.shape} vs {b.shape}")
    ok = ~(np.isnan(a) | np.isnan(b))
    a, b = a[ok], b[ok]
    d = b - a
    rng = np.random.default_rng(seed)
    if len(d):
        boot = _boot_means(d[:, None], n_boot, rng)[:, 0]
        lo, hi = (float(x) for x in np.quantile(boot, [alpha / 2, 1 - alpha / 2]))
    else:
        lo = hi = float("nan")
    nan = float("nan")
    return PairedComparison(
        metric=metric,
        n_users=len(d),
        mean_a=float(a.mean()) if len(a) else nan,
        mean_b=float(b.mean()) if len(b) else nan,
        diff=float(d.mean()) if len(d) else nan,
        ci_low=lo,
        ci_high=hi,
        p_ttest=_ttest(d),
        p_permutation=_permutation_p(d, n_boot, rng),
        alpha=alpha,
        n_boot=n_boot,
    )


def align_users(ids_a: Sequence[str], ids_b: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Positions in A and in B of the user ids both hold, in A's order."""
    pos_b = {str(u): i for i, u in enumerate(ids_b)}
    ia, ib = [], []
    for i, u in enumerate(ids_a):
        j = pos_b.get(str(u))
        if j is not None:
            ia.append(i)
            ib.append(j)
    return np.asarray(ia, dtype=np.int64), np.asarray(ib, dtype=np.int64)


def compare_runs(
    ids_a: Sequence[str],
    per_user_a: Mapping[str, np.ndarray],
    ids_b: Sequence[str],
    per_user_b: Mapping[str, np.ndarray],
    metrics: Sequence[str],
    n_boot: int = 2000,
    alpha: float = 0.05,
    seed: int = 0,
) -> list[PairedComparison]:
    """:func:`paired_compare` on each metric over the users both runs hold (matched by id).

    Raises:
        KeyError: a metric is missing from either run (the message lists what they have).
        ValueError: the runs share no user.
    """
    for name, pu in (("A", per_user_a), ("B", per_user_b)):
        missing = [m for m in metrics if m not in pu]
        if missing:
            raise KeyError(f"run {name} has no per-user {missing}; it has {sorted(pu)}")
    ia, ib = align_users(ids_a, ids_b)
    if len(ia) == 0:
        raise ValueError("the two runs share no user id: were they evaluated on the same data?")
    return [
        paired_compare(per_user_a[m][ia], per_user_b[m][ib], m, n_boot, alpha, seed)
        for m in metrics
    ]


def proportion_ci(hits: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval of the proportion ``hits / n`` (``(nan, nan)`` when ``n`` is 0)."""
    from scipy import stats

    if n <= 0:
        return float("nan"), float("nan")
    z = float(stats.norm.ppf(1 - alpha / 2))
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)


def proportion_diff_ci(
    hits_a: int, n_a: int, hits_b: int, n_b: int, alpha: float = 0.05
) -> tuple[float, float]:
    """Newcombe's hybrid score interval of ``hits_b / n_b - hits_a / n_a`` (independent
    samples; method 10 of Newcombe 1998), from the two Wilson intervals."""
    if n_a <= 0 or n_b <= 0:
        return float("nan"), float("nan")
    pa, pb = hits_a / n_a, hits_b / n_b
    la, ua = proportion_ci(hits_a, n_a, alpha)
    lb, ub = proportion_ci(hits_b, n_b, alpha)
    d = pb - pa
    low = d - np.sqrt((pb - lb) ** 2 + (ua - pa) ** 2)
    high = d + np.sqrt((ub - pb) ** 2 + (pa - la) ** 2)
    return float(low), float(high)
