"""Model versions: the ``manifest.json`` every saved model directory carries.

A version id is the creation time plus a random suffix (``20261129T110500Z-3f9a1c``): sortable,
and unique even for two saves in the same second. The manifest records what the model was built
from (data digest, config and its digest), what it measured, and the version it was warm-started
from (``parent``), so a chain of retrained models can be followed back.

A *models folder* holds one directory per version and a ``current`` symlink to the one in
service; :func:`set_current` replaces the link atomically (``prismrec retrain`` promotes so).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CURRENT_LINK",
    "MANIFEST_FILE",
    "ModelManifest",
    "current_model",
    "data_digest",
    "new_version",
    "read_manifest",
    "set_current",
]

MANIFEST_FILE = "manifest.json"
CURRENT_LINK = "current"
_DATA_FILES = ("interactions.parquet", "items.parquet", "vocab/users.parquet")


def new_version(now: dt.datetime | None = None) -> str:
    """A fresh version id: UTC creation time and 6 random hex digits."""
    t = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return f"{t:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def data_digest(root: str | Path | None) -> str | None:
    """SHA-256 (first 16 hex digits) of a prepared dataset's events, catalogue and users."""
    if root is None:
        return None
    h = hashlib.sha256()
    found = False
    for name in _DATA_FILES:
        p = Path(root) / name
        if p.is_file():
            found = True
            h.update(name.encode())
            with p.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()[:16] if found else None


def config_digest(config: dict[str, Any]) -> str:
    """SHA-256 (first 16 hex digits) of a config dict in canonical JSON."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ModelManifest:
    """What ``manifest.json`` holds.

    Attributes:
        version: this model's version id.
        created: creation time, ISO 8601 UTC.
        model_type: ``prism``, ``sasrec``, ...
        data_digest: digest of the training data (None: not from a prepared directory).
        config_digest: digest of ``config``.
        config: the ``[model]`` and ``[train]`` settings.
        metrics: what training measured (``{"valid": {...}}``).
        parent: the version this model was warm-started from (None: trained from scratch).
        parent_path: the directory of that model, as given.
    """

    version: str
    created: str
    model_type: str
    data_digest: str | None
    config_digest: str
    config: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    parent: str | None = None
    parent_path: str | None = None

    @classmethod
    def create(
        cls,
        model_type: str,
        config: dict[str, Any],
        data_root: str | Path | None,
        metrics: dict[str, Any] | None = None,
        parent: str | None = None,
        parent_path: str | None = None,
    ) -> ModelManifest:
        now = dt.datetime.now(dt.UTC)
        return cls(
            version=new_version(now),
            created=now.isoformat(timespec="seconds"),
            model_type=model_type,
            data_digest=data_digest(data_root),
            config_digest=config_digest(config),
            config=config,
            metrics=metrics or {},
            parent=parent,
            parent_path=parent_path,
        )

    @property
    def created_at(self) -> float:
        """Creation time in unix seconds."""
        return dt.datetime.fromisoformat(self.created).timestamp()

    def write(self, model_dir: str | Path) -> Path:
        """Write ``manifest.json`` atomically into ``model_dir``."""
        d = Path(model_dir)
        tmp = d / f"{MANIFEST_FILE}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=2, default=str))
        os.replace(tmp, d / MANIFEST_FILE)
        return d / MANIFEST_FILE


def read_manifest(model_dir: str | Path) -> ModelManifest | None:
    """The manifest of a model directory; None for directories saved before versions existed."""
    p = Path(model_dir) / MANIFEST_FILE
    if not p.is_file():
        return None
    raw = json.loads(p.read_text())
    known = set(ModelManifest.__dataclass_fields__)
    return ModelManifest(**{k: v for k, v in raw.items() if k in known})


def current_model(models_dir: str | Path) -> Path | None:
    """The directory the ``current`` link of a models folder points at; None: no link."""
    link = Path(models_dir) / CURRENT_LINK
    if not link.is_symlink():
        return None
    return link.resolve()


def set_current(models_dir: str | Path, target: str | Path) -> Path:
    """Point ``models_dir/current`` at ``target`` atomically (a new link, then ``os.replace``).

    A reader sees the old target or the new one, never a missing link. The link is relative
    when ``target`` is inside ``models_dir``, so the folder can be moved or mounted elsewhere.
    """
    d = Path(models_dir)
    t = Path(target).resolve()
    rel = os.path.relpath(t, d.resolve())
    dest = rel if not rel.startswith("..") else str(t)
    tmp = d / f".{CURRENT_LINK}.{os.getpid()}.{secrets.token_hex(3)}"
    os.symlink(dest, tmp)
    try:
        os.replace(tmp, d / CURRENT_LINK)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    return d / CURRENT_LINK
