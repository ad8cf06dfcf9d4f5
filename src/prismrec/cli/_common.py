"""Shared CLI helpers: consoles, error handling, the options every command spells the same."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from prismrec.errors import PrismError

__all__ = [
    "ConfigOpt",
    "DataOpt",
    "EvalSplit",
    "HoldoutOpt",
    "KOpt",
    "MergeRule",
    "ModelDirOpt",
    "PrefixOpt",
    "StoreOpt",
    "TombstoneSecretOpt",
    "console",
    "deprecated",
    "err_console",
    "escape",
    "fail",
    "guard",
    "print_json",
]

console = Console()
err_console = Console(stderr=True)


class EvalSplit(str, Enum):
    """A split *name*: whose target events to score."""

    valid = "valid"
    test = "test"


class MergeRule(str, Enum):
    """How a multi-interest model merges its interests into one list (``[model] merge``)."""

    mixture = "mixture"
    max = "max"
    quota = "quota"


# one spelling per concept across commands: -m/--model is always a trained model *directory*,
# -d/--data a prepared dataset directory, -c/--config a TOML file, -k/--k a list length
ModelDirOpt = Annotated[
    Path,
    typer.Option(
        "--model", "-m", metavar="MODEL_DIR", help="trained model directory ('train --out')"
    ),
]
DataOpt = Annotated[
    Path,
    typer.Option(
        "--data", "-d", metavar="DATA_DIR", help="prepared dataset directory ('data prepare --out')"
    ),
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", metavar="FILE", help="TOML config file")
]
KOpt = Annotated[int, typer.Option("-k", "--k", min=1, help="list length")]
# the service's store, as 'data export' and 'retrain' read it
StoreOpt = Annotated[
    str,
    typer.Option(
        "--store", "-s", metavar="URL", help="the service's store: sqlite:PATH or redis://..."
    ),
]
TombstoneSecretOpt = Annotated[
    str | None,
    typer.Option(
        envvar="PRISMREC_TOMBSTONE_SECRET",
        help="the service's tombstone secret, if it was given one (deleted users)",
    ),
]
PrefixOpt = Annotated[str, typer.Option(help="Redis key namespace")]
HoldoutOpt = Annotated[
    str | None,
    typer.Option(
        metavar="SPLIT",
        help="held-back newest events (the test split): loo (each user's newest event) or "
        "temporal:SHARE (the newest SHARE of time); default: --data's own split",
    ),
]


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error on stderr and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def deprecated(old: str, new: str) -> None:
    """Say once on stderr that an option spelling is deprecated (it still works)."""
    err_console.print(
        f"[yellow]note:[/] {escape(old)} is deprecated; use {escape(new)} (the old spelling "
        "still works for now)",
        highlight=False,
        soft_wrap=True,
    )


@contextmanager
def guard() -> Iterator[None]:
    """Turn prismrec's own errors into a clean message and exit code 1."""
    try:
        yield
    except PrismError as exc:
        raise fail(escape(str(exc))) from None
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None


def escape(text: str) -> str:
    """``text`` with rich markup brackets escaped, so a message prints as it is."""
    return text.replace("[", r"\[")


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=_default) + "\n")


def _default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)
