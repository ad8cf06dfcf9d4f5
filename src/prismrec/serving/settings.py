"""Service settings: from arguments, ``PRISMREC_*`` environment variables or a ``[serve]`` table."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ServeSettings", "get_settings"]


class ServeSettings(BaseSettings):
    """Everything ``prismrec serve`` can be told.

    Attributes:
        model_dir: a trained prism (or sasrec) model directory.
        report_dir: the model's ``prismrec evaluate --report`` directory, shown on the web
            page's model view (default: ``MODEL_DIR/report`` when it has a ``metrics.json``).
        store: events, item log and state: ``sqlite:PATH`` or ``redis://HOST:PORT/DB``.
        keys: where API keys live (default: ``store``).
        auth: require ``Authorization: Bearer KEY`` (turn off only on a trusted laptop).
        quantize: ``int8``: dynamic int8 quantisation of the interest model's linear layers.
        index: item index kind (``auto``: exact below ``exact_below`` items, HNSW above).
        exact_below: catalogue size from which ``auto`` uses HNSW; below it every item is
            scored per request (the exact offline top-k), above it the searched candidates.
        ef_search: HNSW search beam (higher: better recall, slower); 64 kept recall@10 at
            0.98 (100k items) and 0.97 (1M) in benchmarks/serve.py at 1.5x the HTTP floor.
        candidates_per_interest: ANN search depth per interest (at least ``3 * k``); the pool
            the quota merge and the diversity re-ranking choose from.
        max_k: largest list a request may ask for.
        max_body_bytes: larger request bodies are refused with 413.
        max_events: most events one ``POST /v1/events`` may carry.
        rate_per_s: requests per second per key (token bucket; 0 = unlimited).
        rate_burst: bucket size.
        auth_fail_per_s: failed authentications per second allowed per client address and per
            key id (refill of a bucket of ``auth_fail_burst``); beyond it, 429.
        auth_fail_burst: failed authentications allowed at once.
        user_cache: interest vectors kept in memory (least recently used go first).
        item_sync_s: how often a replica reads items other replicas added or removed.
        cold_diversity: diversity of the popular lists new users get.
        tombstone_secret: key of deleted users' tombstones (the same on every replica; default:
            a random key kept beside the SQLite file, or in Redis).
        header_timeout_s: a connection must send a request's complete headers within this time.
        body_timeout_s: a request's body must arrive within this time once its headers did (408).
        max_connections: open connections beyond which requests get 503 at once (each
            connection costs memory; slow clients are cut by the two timeouts above).
        log_secret: secret of the pseudonyms that replace user ids in logs (default: random
            per process, so pseudonyms do not link across restarts).
        threads: torch threads for inference.
    """

    model_config = SettingsConfigDict(
        env_prefix="PRISMREC_", frozen=True, extra="forbid", protected_namespaces=()
    )

    model_dir: Path
    report_dir: Path | None = None
    store: str = "sqlite:prismrec-state.db"
    keys: str | None = None
    auth: bool = True
    quantize: Literal["none", "int8"] = "none"
    index: Literal["auto", "exact", "hnsw", "ivf"] = "auto"
    exact_below: int = Field(20_000, ge=1)
    candidates_per_interest: int = Field(30, ge=1)
    ef_search: int = Field(64, ge=1)
    max_k: int = Field(200, ge=1)
    max_body_bytes: int = Field(1_000_000, ge=1024)
    max_events: int = Field(1000, ge=1)
    rate_per_s: float = Field(200.0, ge=0.0)
    rate_burst: float = Field(400.0, ge=1.0)
    auth_fail_per_s: float = Field(1.0, ge=0.0)
    auth_fail_burst: float = Field(20.0, ge=1.0)
    tombstone_secret: str | None = None
    header_timeout_s: float = Field(10.0, gt=0.0)
    body_timeout_s: float = Field(30.0, gt=0.0)
    max_connections: int = Field(512, ge=1)
    user_cache: int = Field(100_000, ge=0)
    item_sync_s: float = Field(1.0, ge=0.0)
    cold_diversity: float = Field(0.5, ge=0.0, le=1.0)
    log_secret: str | None = None
    threads: int = Field(1, ge=1)

    @property
    def keys_url(self) -> str:
        return self.keys or self.store


@lru_cache
def get_settings() -> ServeSettings:
    """Settings from the environment (``PRISMREC_MODEL_DIR`` ...), read once per process."""
    return ServeSettings()  # type: ignore[call-arg]
