"""Which model version the service answers with (``model_version``, ``prismrec_model_info``)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from prismrec.training.manifest import read_manifest

__all__ = ["ModelInfo", "model_info"]


@dataclass(frozen=True)
class ModelInfo:
    """A served model's version id, creation time (unix seconds) and parent version."""

    version: str
    created_at: float
    parent: str | None = None


def model_info(model_dir: str | Path) -> ModelInfo:
    """The version of a model directory from its ``manifest.json``.

    A directory saved before versions existed gets ``unversioned-<digest of model.json>``
    (stable across restarts) and the file's modification time.
    """
    d = Path(model_dir)
    manifest = read_manifest(d)
    if manifest is not None:
        return ModelInfo(manifest.version, manifest.created_at, manifest.parent)
    meta = d / "model.json"
    digest = hashlib.sha256(meta.read_bytes()).hexdigest()[:12]
    return ModelInfo(f"unversioned-{digest}", meta.stat().st_mtime)
