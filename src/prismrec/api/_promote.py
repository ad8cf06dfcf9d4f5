"""The promotion rule and the interval of ``prismrec retrain`` (re-exported by ``api.loop``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from prismrec.errors import ConfigError
from prismrec.evaluation.metrics import ACCURACY_METRICS

__all__ = ["PromoteRule", "parse_interval", "parse_rule"]

_RULE = re.compile(r"^\s*([a-z]+)@(\d+)\s*(>=|>)\s*(current|\d+(?:\.\d*)?|\.\d+)\s*$")
_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


@dataclass(frozen=True)
class PromoteRule:
    """When a candidate replaces the current model: ``metric@k`` compared with the current
    model's (``threshold`` None) or with a fixed number."""

    metric: str = "ndcg"
    k: int = 10
    op: str = ">="
    threshold: float | None = None

    @property
    def key(self) -> str:
        return f"{self.metric}@{self.k}"

    def __str__(self) -> str:
        bound = "current" if self.threshold is None else f"{self.threshold:g}"
        return f"{self.key}{self.op}{bound}"

    def decide(self, current: dict[str, float], candidate: dict[str, float]) -> tuple[bool, str]:
        """(promote?, the reason in words) from both models' metrics."""
        new = candidate[self.key]
        bound = current[self.key] if self.threshold is None else self.threshold
        what = "current" if self.threshold is None else "threshold"
        ok = new >= bound if self.op == ">=" else new > bound
        sign = self.op if ok else ("<" if self.op == ">=" else "<=")
        return ok, f"candidate {self.key} {new:.4f} {sign} {what} {bound:.4f}"


def parse_rule(text: str) -> PromoteRule:
    """``ndcg@10>=current``, ``recall@20>current`` or ``ndcg@10>=0.05`` as a rule.

    Raises:
        ConfigError: another spelling, an unknown metric or k < 1.
    """
    m = _RULE.match(text or "")
    metrics = ", ".join(ACCURACY_METRICS)
    if m is None or m.group(1) not in ACCURACY_METRICS or int(m.group(2)) < 1:
        raise ConfigError(
            f"bad promote rule {text!r}: use METRIC@K>=current or METRIC@K>=NUMBER (also '>'), "
            f"e.g. ndcg@10>=current or ndcg@10>=0.05; METRIC is one of {metrics}"
        )
    bound = m.group(4)
    return PromoteRule(
        m.group(1), int(m.group(2)), m.group(3), None if bound == "current" else float(bound)
    )


def parse_interval(text: str) -> float:
    """``90s``, ``30m``, ``1h``, ``1d`` as seconds (more than 0).

    Raises:
        ConfigError: another spelling or zero.
    """
    m = _INTERVAL.match(text or "")
    seconds = float(m.group(1)) * _UNITS[m.group(2)] if m else 0.0
    if seconds <= 0:
        raise ConfigError(
            f"bad interval {text!r}: use a number and a unit s, m, h or d, e.g. 30m or 1h"
        )
    return seconds
