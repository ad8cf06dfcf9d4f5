"""Row-level data problems: what is wrong, where, and what was expected.

Checks are vectorised: each one takes a frame of offending rows (with their ``_line``) and records
them in bulk, so validating ten million rows costs a few column scans, not a Python loop.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl

__all__ = ["MAX_DETAIL_PER_KIND", "Problem", "ProblemLog"]

# keep every problem's count, but the detail of at most this many per kind
MAX_DETAIL_PER_KIND = 10_000


@dataclass(frozen=True)
class Problem:
    """One bad value in one row (or one file-level problem when ``line`` is 0)."""

    kind: str
    file: str
    line: int
    column: str
    value: str
    expected: str

    @property
    def message(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        col = f" column '{self.column}'" if self.column else ""
        kind = self.kind.replace("_", " ")
        return f"{where}:{col} {kind}: got {self.value!r}, expected {self.expected}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["message"] = self.message
        return d


class ProblemLog:
    """Collects problems; knows which source lines are bad."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.counts: Counter[str] = Counter()
        self.bad_lines: dict[str, set[int]] = {}
        self.rows_read = 0  # interaction rows read (good + bad)
        self.interaction_file = ""

    def add(
        self, kind: str, file: Path | str, line: int, column: str, value: Any, expected: str
    ) -> None:
        """Record one problem (file-level problems use ``line=0``)."""
        self.counts[kind] += 1
        if self.counts[kind] <= MAX_DETAIL_PER_KIND:
            self.problems.append(
                Problem(kind, str(file), int(line), column, _text(value), expected)
            )
        if line:
            self.bad_lines.setdefault(str(file), set()).add(int(line))

    def add_rows(
        self,
        kind: str,
        file: Path | str,
        rows: pl.DataFrame,
        column: str,
        expected: str,
        label: str | None = None,
    ) -> None:
        """Record one problem per row of ``rows`` (needs ``_line``; the value comes from
        ``column``, reported under ``label`` when given)."""
        if rows.height == 0:
            return
        key = str(file)
        lines = rows.get_column("_line").to_list()
        self.bad_lines.setdefault(key, set()).update(lines)
        room = max(0, MAX_DETAIL_PER_KIND - self.counts[kind])
        self.counts[kind] += rows.height
        if room:
            values = (
                rows.get_column(column).head(room).to_list()
                if column in rows.columns
                else [""] * min(room, rows.height)
            )
            for line, value in zip(lines[:room], values, strict=False):
                self.problems.append(
                    Problem(kind, key, int(line), label or column, _text(value), expected)
                )

    @property
    def n_problems(self) -> int:
        return sum(self.counts.values())

    def n_bad_lines(self, file: Path | str) -> int:
        return len(self.bad_lines.get(str(file), ()))

    def sorted(self) -> list[Problem]:
        return sorted(self.problems, key=lambda p: (p.file, p.line, p.column))


def _text(value: Any) -> str:
    if value is None:
        return ""
    return str(value)
