"""What a person browsing the service needs besides recommendations: a user's history as a
timeline, users and items to pick, an item's fields, and the served model's training and
evaluation record (``MODEL_DIR/model.json``; the ``prismrec evaluate --report`` directory).

Read-only views over a started :class:`~prismrec.serving.engine.service.Service`; the web page at
``/ui`` and any other client use them through ``/v1`` routes.
"""

from __future__ import annotations

import bisect
import json
import logging
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np

from prismrec.data.vocab import Vocabulary
from prismrec.errors import UnknownIdError
from prismrec.evaluation.report import HEADLINE_METRICS, protocol_label
from prismrec.serving.engine.service import Service
from prismrec.serving.state.store import check_id

__all__ = ["REPORT_SUBDIR", "Browse"]

log = logging.getLogger(__name__)
REPORT_SUBDIR = "report"  # MODEL_DIR/report: where the served model's report is looked for
_FIGURE = re.compile(r"^[A-Za-z0-9_.-]+\.png$")


class Browse:
    """Timelines, pickers and the model record over a started service.

    Args:
        service: the started service.
        report_dir: the model's ``prismrec evaluate --report`` directory (``None``:
            ``MODEL_DIR/report`` when it holds a ``metrics.json``).
    """

    def __init__(self, service: Service, report_dir: Path | None = None) -> None:
        self.service = service
        model_dir = service.model_dir
        self.model_dir = model_dir
        default = model_dir / REPORT_SUBDIR
        self.report_dir = report_dir or (default if (default / "metrics.json").is_file() else None)
        self._users: list[str] | None = None
        self._lock = threading.Lock()

    # ---- users --------------------------------------------------------------------------------
    def users(self, prefix: str, limit: int) -> dict[str, Any]:
        """Trained users whose id starts with ``prefix``, in id order (at most ``limit``)."""
        with self._lock:
            if self._users is None:  # sorted once, on first use
                self._users = sorted(str(u) for u in self.service.users.ids)
        ids = self._users
        start = bisect.bisect_left(ids, prefix)
        out = []
        for uid in ids[start : start + limit]:
            if not uid.startswith(prefix):
                break
            out.append(uid)
        return {"prefix": prefix, "users": out, "n_trained_users": len(ids)}

    def history(self, user_id: str, limit: int) -> dict[str, Any]:
        """The user's events, newest first: the training history the model directory holds
        (event type, hour, weekday and context as the model saw them) then the live events.

        Raises:
            UnknownIdError: no event at all (or the user was deleted).
        """
        svc = self.service
        check_id("user_id", user_id)
        assert svc.store is not None
        deleted = user_id in svc.users and svc.store.is_deleted(user_id)
        trained = svc.users.index(user_id) if user_id in svc.users and not deleted else -1
        base = svc.model.user_histories.get(trained) if trained >= 0 else None
        live = svc.store.snapshot(user_id, limit).events
        n_base = len(base["item_idx"]) if base is not None else 0
        if n_base == 0 and not live:
            raise UnknownIdError(f"unknown user {user_id!r} (no events)")
        out = [self._live_event(e) for e in reversed(live)]
        if base is not None and len(out) < limit:
            out += self._training_events(base, limit - len(out))
        more = len(live) >= limit or n_base > limit - len(live)
        return {"user_id": user_id, "n_training_events": n_base, "more": more, "events": out}

    @staticmethod
    def _live_event(e: Any) -> dict[str, Any]:
        return {
            "item_id": e.item_id,
            "event_type": e.event_type,
            "timestamp": e.timestamp,
            "context": dict(e.context or {}),
            "source": "live",
        }

    def _training_events(self, base: dict[str, np.ndarray], limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` training events, newest first."""
        feat = self.service.featurizer
        n = len(base["item_idx"])
        rows = list(range(n - 1, max(-1, n - 1 - limit), -1))
        items = self.service.catalog.external([int(base["item_idx"][i]) for i in rows])
        contexts = {name: base[f"ctx_{name}"] for name in feat.contexts if f"ctx_{name}" in base}
        out = []
        for i, item in zip(rows, items, strict=True):
            event: dict[str, Any] = {
                "item_id": item,
                "event_type": _name(feat.events, _at(base, "event_idx", i)),
                "timestamp": None,  # the model directory keeps hour and weekday, not the time
                "hour": _at(base, "hour", i) - 1 if _at(base, "hour", i) > 0 else None,
                "weekday": _at(base, "weekday", i) or None,
                "context": {
                    k: v
                    for k, col in contexts.items()
                    if (v := _name(feat.contexts[k], int(col[i]))) is not None
                },
                "source": "training",
                "events_ago": n - 1 - i,
            }
            out.append(event)
        return out

    # ---- items --------------------------------------------------------------------------------
    def item(self, item_id: str) -> dict[str, Any]:
        """An item's catalogue fields (all displayable ones) and whether it is recommendable."""
        check_id("item_id", item_id)
        cat = self.service.catalog
        row = cat.index(item_id)
        if row == 0:
            raise UnknownIdError(f"unknown item {item_id!r}")
        fields = cat.display.get([row], cat.display.names)[0]
        return {
            "item_id": item_id,
            "live": cat.is_live(row),
            "title_field": cat.display.title_field,
            "category_field": cat.display.category_field,
            "fields": fields,
        }

    def search(self, query: str, limit: int) -> dict[str, Any]:
        """Live items whose title contains ``query``; an exact item id comes first."""
        svc = self.service
        cat = svc.catalog
        live = cat.live_mask()
        rows = cat.display.search(query, limit, live, svc.prior.scores({}))
        exact = cat.index(query.strip())
        if exact and cat.is_live(exact):
            rows = [exact, *[r for r in rows if r != exact]][:limit]
        return {"query": query, "items": [{"item_id": i} for i in cat.external(rows)]}

    # ---- the model ----------------------------------------------------------------------------
    def model(self) -> dict[str, Any]:
        """What was trained and how (``model.json``), and its evaluation report if any."""
        svc = self.service
        meta = json.loads((self.model_dir / "model.json").read_text())
        return {
            "name": meta.get("name"),
            "prismrec_version": meta.get("prismrec_version"),
            "n_items": len(svc.catalog),
            "n_trained_users": len(svc.users),
            "n_interests": svc.n_interests,
            "event_types": svc.event_types,
            "display_fields": svc.catalog.display.names,
            "title_field": svc.catalog.display.title_field,
            "category_field": svc.catalog.display.category_field,
            "model": meta.get("model", {}),
            "train": meta.get("train", {}),
            "history": meta.get("history", []),
            "report": self._report(),
        }

    def _report(self) -> dict[str, Any] | None:
        if self.report_dir is None:
            return None
        f = self.report_dir / "metrics.json"
        try:
            payload = json.loads(f.read_text())
        except (OSError, ValueError) as exc:
            log.warning("cannot read the evaluation report %s: %s", f, exc)
            return None
        metrics = {k: v for k, v in payload.items() if "@" in k and isinstance(v, int | float)}
        return {
            "model": payload.get("model"),
            "protocol": protocol_label(payload.get("protocol") or {}),
            "n_users": payload.get("n_users"),
            "headline": [m for m in HEADLINE_METRICS if m in metrics],
            "metrics": metrics,
            "ci": payload.get("ci", {}),
            "definitions": payload.get("definitions", {}),
            "figures": self._figures(),
            "has_html": (self.report_dir / "report.html").is_file(),
        }

    def _figures(self) -> list[str]:
        assert self.report_dir is not None
        return sorted(p.name for p in self.report_dir.glob("*.png") if _FIGURE.match(p.name))

    def report_file(self, name: str) -> Path:
        """A figure (``*.png``) or ``report.html`` of the report directory.

        Raises:
            UnknownIdError: no report, or no such file in it (names are never paths).
        """
        if self.report_dir is None:
            raise UnknownIdError(
                "this model has no evaluation report; write one with 'prismrec evaluate "
                f"--report {self.model_dir / REPORT_SUBDIR}' or serve with --report DIR"
            )
        ok = name == "report.html" or name in self._figures()
        if not ok or not (self.report_dir / name).is_file():
            raise UnknownIdError(f"no report file {name!r}; the report has {self._figures()}")
        return self.report_dir / name


def _at(cols: dict[str, np.ndarray], name: str, i: int) -> int:
    col = cols.get(name)
    return int(col[i]) if col is not None and i < len(col) else 0


def _name(vocab: Vocabulary, idx: int) -> str | None:
    """The external name of a vocabulary code; ``None`` for padding or unknown."""
    j = idx - vocab.offset
    return str(vocab.ids[j]) if 0 <= j < len(vocab.ids) else None
