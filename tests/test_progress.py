"""Progress for a person and a log: lines when not on a terminal, nothing when quiet."""

from __future__ import annotations

import logging

import pytest

from prismrec import progress
from prismrec.progress import Tracker, duration


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="prismrec.progress")
    yield lambda: [r.getMessage() for r in caplog.records if r.name == "prismrec.progress"]
    progress.set_quiet(False)


def test_lines_give_count_share_and_time_left(lines) -> None:
    with Tracker("ranking users", 4, "user", every=0.0) as bar:  # stderr is no terminal here
        bar.advance(1)
        bar.advance(3)
    got = lines()
    assert got[0].startswith("ranking users: 1/4 (25%), ") and got[0].endswith(" left")
    assert got[1].startswith("ranking users: 4/4 (100%), ") and "left" not in got[1]
    assert len(got) == 2  # the end was reported already: no repeated last line


def _count(n: int) -> None:
    with Tracker("counting", n, every=0.0) as bar:
        for _ in range(n):
            bar.advance()


def test_a_line_per_update_and_quiet_writes_nothing(lines) -> None:
    _count(5)
    assert len(lines()) == 5
    progress.set_quiet(True)
    assert progress.is_quiet()
    _count(5)
    progress.note("an epoch ended")
    assert len(lines()) == 5


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.25, "0.2 s"), (7.4, "7 s"), (185, "3m05s"), (3720, "1h02m")]
)
def test_durations_are_short(seconds: float, text: str) -> None:
    assert duration(seconds) == text
