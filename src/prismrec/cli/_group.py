"""The root command group: a usage error (bad flag, bad value) is one line, not a panel."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup

__all__ = ["OneLineErrors"]


def _base(name: str) -> type[Exception]:
    """Click's exception class ``name`` as the installed typer raises it (typer vendors click
    from 0.2x on, so ``click.ClickException`` would not catch it)."""
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == name)


ClickException = _base("ClickException")
UsageError = _base("UsageError")


class OneLineErrors(TyperGroup):
    """Prints ``error: MESSAGE (see 'prismrec CMD --help')`` on stderr for click's usage errors.

    Exit codes stay click's: 2 for a usage error, 1 for an abort.
    """

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
        except ClickException as exc:
            typer.echo(f"error: {one_line(exc)}", err=True)
            sys.exit(getattr(exc, "exit_code", 2))
        except typer.Abort:
            typer.echo("error: aborted", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


def one_line(exc: Exception) -> str:
    """The exception's message on one line, plus where to read the usage."""
    text = " ".join(exc.format_message().split())  # type: ignore[attr-defined]
    text = text.replace("Value error, ", "")  # pydantic's prefix, from typer's coercion
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, UsageError) and ctx is not None:
        text += f" (see '{ctx.command_path} --help')"
    return text
