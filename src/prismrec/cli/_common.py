"""Shared CLI helpers: consoles, error handling, config loading."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from prismrec.errors import PrismError

__all__ = [
    "check_same_items",
    "console",
    "err_console",
    "escape",
    "fail",
    "guard",
    "load_cfg",
    "print_json",
]

console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error in red on stderr and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


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


def check_same_items(rec: Any, ds: Any) -> None:
    """A model and a prepared dataset must index the same items (else one clear error)."""
    from prismrec.errors import DataError

    if rec.n_items != ds.n_items:
        raise DataError(
            f"the model was trained on {rec.n_items} items but {ds.root} has "
            f"{ds.n_items}: use the prepared dataset the model was trained on"
        )


def load_cfg(path: Path | None) -> Any:
    from prismrec.config import load_config

    return load_config(path)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=_default) + "\n")


def _default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)
