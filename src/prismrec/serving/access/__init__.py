"""Who may call the service: API keys and roles, rate limits, pseudonymised logs."""

from prismrec.serving.access.auth import (
    KeyInfo,
    KeyStore,
    Principal,
    Role,
    create_key,
    hash_secret,
    key_id_of,
)
from prismrec.serving.access.privacy import (
    DEFAULT_PATTERNS,
    PseudonymFilter,
    UserId,
    install_filter,
    pseudonymise,
)
from prismrec.serving.access.ratelimit import (
    FailedAuthLimiter,
    Limiter,
    RateLimiter,
    RedisRateLimiter,
)

__all__ = [
    "DEFAULT_PATTERNS",
    "FailedAuthLimiter",
    "KeyInfo",
    "KeyStore",
    "Limiter",
    "Principal",
    "PseudonymFilter",
    "RateLimiter",
    "RedisRateLimiter",
    "Role",
    "UserId",
    "create_key",
    "hash_secret",
    "install_filter",
    "key_id_of",
    "pseudonymise",
]
