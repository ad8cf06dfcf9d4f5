"""The ``[serve]`` section, its environment-aware settings and the retrieval defaults."""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from prismrec.config._base import Section

__all__ = ["EF_SEARCH", "EXACT_BELOW", "SEARCH_DEPTH", "ServeConfig", "ServeSettings"]

# retrieval defaults, shared by the library (``IndexSettings``, ``Retriever``) and the service
EXACT_BELOW = 20_000
"""Catalogue size from which ``auto`` indexes use HNSW; up to it every item is scored."""
SEARCH_DEPTH = 100
"""ANN candidates per interest: with ``EF_SEARCH``, the served top-10 holds >= 0.99 of the
top-10 of scoring every item (``benchmarks/serve.py``); 30 and 64 gave 0.958 at 100k items."""
EF_SEARCH = 384
"""HNSW search beam width. Served top-10 recall at depth 100 (200 users, in process): 100k
items 0.991 at 128, 0.998 at 256; 1M items 0.982 at 128, 0.991 at 256, 0.994 at 384. A
user's search is kept until their next event, so the wider beam costs only fresh requests."""


class ServeConfig(Section):
    """``[serve]``: the HTTP service (also ``PRISMREC_*`` environment variables and flags)."""

    model_dir: Path | None = Field(None, description="trained prism or sasrec model directory")
    report_dir: Path | None = Field(
        None,
        description="the model's 'prismrec evaluate --report' directory, shown on the web page's "
        "model view (None: MODEL_DIR/report when it has a metrics.json)",
    )
    store: str = Field(
        "sqlite:prismrec-state.db",
        description="events, item log and state: sqlite:PATH or redis://HOST:PORT/DB",
    )
    keys: str | None = Field(None, description="where API keys live (None: the store)")
    auth: bool = Field(True, description="require 'Authorization: Bearer KEY'")
    quantize: Literal["none", "int8"] = Field(
        "none", description="int8: dynamic int8 quantisation of the interest model"
    )
    index: Literal["auto", "exact", "hnsw", "ivf"] = Field(
        "auto", description="item index (auto: exact below exact_below items, HNSW above)"
    )
    index_quantize: Literal["none", "fp16", "sq8", "pq"] = Field(
        "none",
        description="how the HNSW/IVF index stores item vectors: none (float32), fp16, sq8 "
        "(8-bit scalars) or pq (16-byte codes, index ivf only); candidates are re-scored "
        "exactly either way (docs/benchmarks.md#quantised-indexes gives the trade-offs)",
    )
    exact_below: int = Field(
        EXACT_BELOW,
        ge=1,
        description="catalogue size from which auto is HNSW; below it every item is scored",
    )
    candidates_per_interest: int = Field(
        SEARCH_DEPTH, ge=1, description="ANN search depth per interest (at least 3 * k)"
    )
    ef_search: int = Field(EF_SEARCH, ge=1, description="HNSW search beam (higher: recall, slower)")
    max_k: int = Field(200, ge=1, description="largest list a request may ask for")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="larger bodies get 413")
    max_events: int = Field(1000, ge=1, description="most events one POST /v1/events may carry")
    rate_per_s: float = Field(
        200.0, ge=0.0, description="requests per second per key (0: unlimited)"
    )
    rate_burst: float = Field(400.0, ge=1.0, description="requests per key at once (bucket size)")
    auth_fail_per_s: float = Field(
        1.0, ge=0.0, description="failed authentications per second per address and key id"
    )
    auth_fail_burst: float = Field(20.0, ge=1.0, description="failed authentications at once")
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        description="addresses or networks (10.0.0.0/8) of the load balancers whose "
        "X-Forwarded-For names the client for rate limits and logs; '*' trusts any; a "
        "comma-separated string also works",
    )
    tombstone_secret: str | None = Field(
        None,
        description="key of deleted users' tombstones, the same on every replica (None: a "
        "random key kept beside the SQLite file, or in Redis)",
    )
    header_timeout_s: float = Field(
        10.0, gt=0.0, description="a request's headers must arrive within this time"
    )
    body_timeout_s: float = Field(30.0, gt=0.0, description="a body must arrive within this (408)")
    max_connections: int = Field(512, ge=1, description="open connections beyond which: 503")
    user_cache: int = Field(100_000, ge=0, description="users whose interests stay in memory")
    context_mb: int = Field(
        1024,
        ge=0,
        description="memory (MB) for cached users' reusable work (searches, scored candidates); "
        "beyond it the least recently served users leave the cache",
    )
    item_sync_s: float = Field(
        1.0, ge=0.0, description="how often a replica reads items other replicas changed"
    )
    cold_diversity: float = Field(
        0.5, ge=0.0, le=1.0, description="diversity of the popular lists new users get"
    )
    log_secret: str | None = Field(
        None, description="secret of the user-id pseudonyms in logs (None: random per process)"
    )
    threads: int = Field(1, ge=1, description="torch and BLAS threads for inference")
    watch: Path | None = Field(
        None,
        description="a models folder whose 'current' link to follow: serve it (when model_dir "
        "is not set) and swap to where it points whenever it changes",
    )
    model_sync_s: float = Field(
        1.0,
        ge=0.0,
        description="how often a replica checks for a model swap sent to another replica, and "
        "the watched link (0: never)",
    )
    candidate_dir: Path | None = Field(
        None, description="A/B test: a second model directory served to candidate_share of users"
    )
    candidate_share: float = Field(
        0.1, ge=0.0, le=1.0, description="A/B test: the share of users routed to candidate_dir"
    )
    ab_salt: str = Field(
        "prismrec-ab",
        min_length=1,
        description="A/B test: salt of the user-id hash that assigns variants (a new salt "
        "reassigns users)",
    )
    ab_lists: int = Field(
        10, ge=1, description="A/B test: served lists kept per user; a later event on one is a hit"
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, v: Any) -> Any:
        return [p.strip() for p in v.split(",") if p.strip()] if isinstance(v, str) else v

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, v: list[str]) -> list[str]:
        for p in v:
            try:
                if p != "*":
                    ip_network(p)  # an address is a network of one; host bits must be zero
            except ValueError:
                raise ValueError(
                    f"{p!r} is not an IP address, a network such as 10.0.0.0/8 (host bits "
                    "zero) or '*'"
                ) from None
        return v


class ServeSettings(BaseSettings, ServeConfig):
    """The service's effective settings: the ``[serve]`` keys, also read from ``PRISMREC_*``.

    ``ServeSettings(model_dir=...)`` takes keyword arguments over the environment over the
    defaults (``PRISMREC_MAX_K=50`` sets ``max_k``). :func:`serve_settings` adds the config
    file's ``[serve]`` table between the environment and the defaults.
    """

    model_config = SettingsConfigDict(
        env_prefix="PRISMREC_", frozen=True, extra="forbid", protected_namespaces=()
    )

    @field_validator("index_quantize")
    @classmethod
    def _quantize_fits_index(cls, q: str, info: ValidationInfo) -> str:
        # checked on the merged settings: the file, environment and flags may each set one
        index = info.data.get("index", "auto")
        if q != "none" and index == "exact":
            raise ValueError(
                "needs an approximate index: the exact index scores the float32 vectors; use "
                "index 'auto', 'hnsw' or 'ivf', or index_quantize 'none'"
            )
        if q == "pq" and index != "ivf":
            raise ValueError(
                f"'pq' needs index 'ivf' (index is {index!r}): HNSW over PQ codes recalls "
                "poorly; with hnsw or auto use 'fp16' or 'sq8'"
            )
        return q

    @property
    def keys_url(self) -> str:
        """Where API keys live: ``keys``, else ``store``."""
        return self.keys or self.store
