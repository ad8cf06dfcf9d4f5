"""Progress a person and a log can read: a bar on a terminal, plain lines everywhere else.

Long work (training epochs, ranking users, encoding texts) reports through this module only:

- :class:`Tracker` shows a ``tqdm`` bar when stderr is a terminal, and otherwise
  write one line every ``every`` seconds (and a last one when the work ends) to the
  ``prismrec.progress`` logger: ``ranking users: 12,000/31,000 (39%), 12 s, ~19 s left``;
- :func:`note` writes one line (an epoch's summary, a stage that ended) to the same logger.

A library user sees the lines when that logger is enabled (``logging.basicConfig(level=INFO)``);
the command line turns them on with :func:`to_stderr`, and ``--quiet`` turns bars and lines
off (:func:`set_quiet`).
"""

from __future__ import annotations

import logging
import sys
import time
from types import TracebackType
from typing import TextIO

__all__ = ["Tracker", "duration", "is_quiet", "note", "set_quiet", "to_stderr"]

log = logging.getLogger("prismrec.progress")


def set_quiet(quiet: bool) -> None:
    """Turn every bar and progress line of this process off (``True``) or on again."""
    log.disabled = quiet


def is_quiet() -> bool:
    """True when progress is turned off (``--quiet``)."""
    return log.disabled


class _TqdmSafe(logging.StreamHandler[TextIO]):
    """Writes lines through ``tqdm.write`` so that a bar on the terminal is not torn."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # noqa: BLE001 (logging must never raise into the work)
            self.handleError(record)


def to_stderr(quiet: bool = False) -> None:
    """Show progress lines on stderr (the command line's default), or nothing when ``quiet``."""
    set_quiet(quiet)
    if not any(isinstance(h, _TqdmSafe) for h in log.handlers):
        handler = _TqdmSafe()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def note(message: str, *args: object) -> None:
    """One progress line (an epoch's summary, the end of a stage)."""
    log.info(message, *args)


def duration(seconds: float) -> str:
    """``7 s``, ``3m05s``, ``1h02m``: short enough for a progress line."""
    s = int(round(seconds))
    if s < 60:
        return f"{seconds:.0f} s" if seconds >= 1 else f"{seconds:.1f} s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


class Tracker:
    """Progress of one piece of work of ``total`` units (a bar, or lines: see the module notes).

    Args:
        label: what is being done (``ranking users``).
        total: units of work (None: unknown; no percentage or time left).
        unit: the units' name in the bar.
        every: seconds between two lines when not on a terminal.
    """

    def __init__(
        self, label: str, total: int | None = None, unit: str = "it", every: float = 10.0
    ) -> None:
        self.label, self.total, self.unit, self.every = label, total, unit, every
        self.done = 0
        self._reported = -1  # the ``done`` of the last line written
        self._start = self._last = time.perf_counter()
        self._bar = None
        self._lines = False
        if is_quiet():
            return
        if sys.stderr.isatty():
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=label, unit=unit, leave=False, file=sys.stderr)
        else:
            self._lines = log.isEnabledFor(logging.INFO)

    def update(self, done: int, total: int | None = None) -> None:
        """``done`` units of ``total`` (when it changed) are finished."""
        if total is not None:
            self.total = total
            if self._bar is not None:
                self._bar.total = total
        step, self.done = done - self.done, done
        if self._bar is not None:
            self._bar.update(step)
        elif self._lines and time.perf_counter() - self._last >= self.every:
            self._line()

    def advance(self, n: int = 1) -> None:
        """``n`` more units are finished."""
        self.update(self.done + n)

    def close(self) -> None:
        """The work ended: remove the bar, or write the last line (when any was written or
        the work took longer than one interval)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif (
            self._lines
            and self._reported != self.done
            and time.perf_counter() - self._start >= self.every
        ):
            self._line(final=True)
        self._lines = False

    def _line(self, final: bool = False) -> None:
        self._last, self._reported = time.perf_counter(), self.done
        spent = self._last - self._start
        text = f"{self.label}: {self.done:,}"
        if self.total:
            text += f"/{self.total:,} ({self.done / self.total:.0%})"
        text += f", {duration(spent)}"
        if self.total and 0 < self.done < self.total and not final:
            text += f", ~{duration(spent * (self.total - self.done) / self.done)} left"
        log.info(text)

    def __enter__(self) -> Tracker:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
