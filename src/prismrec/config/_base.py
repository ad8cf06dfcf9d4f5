"""What every section shares: the frozen base model, the override rule, readable errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from prismrec.errors import ConfigError

__all__ = ["Section", "format_validation_error", "overridden"]

S = TypeVar("S", bound=BaseModel)


class Section(BaseModel):
    """A config section: frozen, and a misspelt key is an error that names it."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())


def overridden(section: S, name: str, values: dict[str, Any]) -> S:
    """A copy of ``section`` (the ``[name]`` table) with keys replaced (``None`` values are not
    given) and checked.

    Only the keys set so far (in the file or by an earlier override) are carried over, so a
    model's own defaults still apply to every key nobody set.
    """
    current = section.model_dump(exclude_unset=True)
    current.update({k: v for k, v in values.items() if v is not None})
    try:
        return type(section)(**current)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, f"[{name}]")) from None


def format_validation_error(
    exc: ValidationError, where: str, key: Callable[[str], str] | None = None
) -> str:
    """One line per bad key: ``where: key: problem (got value)``, without pydantic's noise.

    ``key`` renames a key for the message (e.g. to the environment variable that set it).
    """
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "value"
        loc = key(loc) if key else loc
        msg = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if err.get("type") == "extra_forbidden":
            msg = "unknown key (see 'prismrec config show' for every key)"
        got = (
            f" (got {err['input']!r:.80})"
            if "input" in err and err.get("type") != "missing"
            else ""
        )
        lines.append(f"{loc}: {msg}{got}")
    if len(lines) == 1:
        return f"invalid configuration in {where}: {lines[0]}"
    return f"invalid configuration in {where}:\n" + "\n".join(f"  {line}" for line in lines)
