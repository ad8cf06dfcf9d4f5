"""The self-contained ``report.html`` of an evaluation run (figures inlined as base64 PNGs)."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prismrec.evaluation.interests import is_interest_metric

__all__ = ["Page", "render_page"]

Stats = Mapping[str, tuple[float, float, float]]  # metric -> (mean, ci_low, ci_high)


@dataclass
class Page:
    """Everything the page shows.

    Attributes:
        model: model name.
        protocol: the one-line protocol label.
        payload: the ``metrics.json`` content (flat metrics, slices, protocol, definitions).
        stats: per-user metrics with their bootstrap intervals.
        figures: (PNG, caption) of the figures section.
        notes: figures left out, and why.
        interest_figures: (PNG, caption) of the interests section.
        run: the reproducibility record (JSON-safe), or ``None``.
        baselines: name -> protocol label of the runs drawn alongside.
    """

    model: str
    protocol: str
    payload: Mapping[str, Any]
    stats: Stats
    figures: Sequence[tuple[Path, str]]
    notes: Sequence[str] = ()
    interest_figures: Sequence[tuple[Path, str]] = ()
    run: Mapping[str, Any] | None = None
    baselines: Mapping[str, str] = field(default_factory=dict)


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}img{max-width:100%}
figure{margin:1.5em 0}.note{color:#666}pre{background:#f7f7f7;padding:1em;overflow:auto}"""


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    return f"{v:.4f}" if isinstance(v, float) else html.escape(str(v))


def render_page(p: Page) -> str:
    """The HTML page."""
    e = html.escape
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>prismrec: {e(p.model)}</title>",
        f"<style>{_CSS}</style></head><body><h1>prismrec evaluation: {e(p.model)}</h1>",
        f"<p><b>Protocol:</b> {e(p.protocol)}; cut-offs "
        f"{e(', '.join(str(k) for k in p.payload['protocol'].get('ks', [])))}.</p>",
        "<h2>Metrics</h2>",
        _TABLE_HEAD,
        *_stats_rows({k: v for k, v in p.stats.items() if not is_interest_metric(k)}),
    ]
    for k, v in p.payload.items():
        if "@" in k and k not in p.stats and not is_interest_metric(k):  # exposure: global
            parts.append(f"<tr><td>{e(k)}</td><td>{_fmt(v)}</td><td>(global)</td></tr>")
    parts.append("</table>")
    parts += _slice_table(p.payload["slices"])
    parts += _interests(p)
    if p.baselines:
        names = ", ".join(f"{e(n)} ({e(label)})" for n, label in p.baselines.items())
        parts.append(f"<p>Compared with: {names}.</p>")
    parts.append("<h2>Figures</h2>")
    parts += [_figure(path, caption) for path, caption in p.figures]
    parts += [f"<p class='note'>{e(n)}</p>" for n in p.notes]
    parts.append("<h2>Definitions</h2><ul>")
    parts += [f"<li><b>{e(k)}</b>: {e(v)}</li>" for k, v in p.payload["definitions"].items()]
    parts.append("</ul>")
    if p.run is not None:
        parts.append(f"<h2>Run</h2><pre>{e(json.dumps(dict(p.run), indent=2))}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


_TABLE_HEAD = "<table><tr><th>metric</th><th>mean</th><th>95% CI</th></tr>"


def _stats_rows(stats: Stats) -> list[str]:
    return [
        f"<tr><td>{html.escape(k)}</td><td>{m:.4f}</td><td>[{lo:.4f}, {hi:.4f}]</td></tr>"
        for k, (m, lo, hi) in stats.items()
    ]


def _figure(path: Path, caption: str) -> str:
    e = html.escape
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f"<figure><a href='{e(path.name)}'><img src='data:image/png;base64,{data}' "
        f"alt='{e(path.name)}'></a><figcaption>{e(caption)} ({e(path.name)})</figcaption>"
        "</figure>"
    )


def _interests(p: Page) -> list[str]:
    """The interests section: are a user's K interests distinct facets or copies?"""
    stats = {k: v for k, v in p.stats.items() if is_interest_metric(k)}
    if not stats:
        return []
    intro = (
        "<h2>Interests</h2><p>Are each user's interest vectors different facets or copies of "
        "one? Low cosine and overlap (interest_jaccard, and worst_jaccard for the closest "
        "pair), effective K near K and distinct labels mean distinct interests. Are they "
        "used? short_weight is the share of the ranking the short-term ('right now') row "
        "holds; effective_interests near 1 and short_dominant near 1 mean the list is, in "
        "effect, ranked by that one row; long_hit_share is the share of the hits that "
        "long-term interests found; long_head_share far above 0.01 means their lists lean "
        "on the same few items for everyone.</p>"
    )
    pooled = [
        f"<tr><td>{html.escape(k)}</td><td>{_fmt(v)}</td><td>(all hits)</td></tr>"
        for k, v in p.payload.items()
        if k.startswith("long_hit_share_pooled@")
    ]
    figures = [_figure(f, c) for f, c in p.interest_figures]
    return [intro, _TABLE_HEAD, *_stats_rows(stats), *pooled, "</table>", *figures]


_SLICE_COLUMNS = ("ndcg@10", "recall@10", "mrr@10", "ild@10", "novelty@10", "interest_coverage@20")


def _slice_table(slices: Mapping[str, Mapping[str, Any]]) -> list[str]:
    if not slices:
        return []
    cols = [c for c in _SLICE_COLUMNS if any(c in s for s in slices.values())]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    rows = [f"<h2>Slices</h2><table><tr><th>slice</th><th>users</th>{head}</tr>"]
    for name, s in slices.items():
        cells = "".join(f"<td>{_fmt(s[c]) if c in s else '-'}</td>" for c in cols)
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{int(s['n_users']):,}</td>{cells}</tr>")
    rows.append("</table>")
    return rows
