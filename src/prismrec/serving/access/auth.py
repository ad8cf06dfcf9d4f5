"""API keys: salted hashes with roles, kept in the same SQLite file or Redis as the events.

A key reads ``prk_<key_id>_<secret>``: ``key_id`` (12 hex characters) is public and names the key
in listings, logs and rate limits; ``secret`` is 256 random bits. Only a salted HMAC-SHA256 of
the secret is stored; the plaintext exists once, when it is created. A slow password hash
(PBKDF2) adds nothing against guessing 256 random bits and made every wrong try cost ~21 ms of
CPU, so verification is one HMAC and a constant-time compare, the same for unknown key ids.
Roles are ordered: admin implies write implies read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Protocol

import redis

from prismrec.errors import ConfigError
from prismrec.serving.state import Backend, parse_store_url, redis_client

__all__ = ["KeyInfo", "KeyStore", "Principal", "Role", "create_key", "hash_secret", "key_id_of"]

KEY_PREFIX = "prk"
_ALGO = "hmac_sha256"
_KEY_RE = re.compile(r"^prk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_LEVEL = {"read": 1, "write": 2, "admin": 3}


class Role(str, Enum):
    """What a key may do; each role includes the ones below it."""

    read = "read"
    write = "write"
    admin = "admin"

    @classmethod
    def parse(cls, value: Role | str) -> Role:
        """The role named ``value``.

        Raises:
            ConfigError: not one of read, write, admin.
        """
        try:
            return cls(value)
        except ValueError:
            raise ConfigError(f"unknown role {value!r}; use read, write or admin") from None

    def allows(self, required: Role | str) -> bool:
        """True when this role includes ``required``."""
        return _LEVEL[self.value] >= _LEVEL[Role.parse(required).value]


@dataclass(frozen=True)
class Principal:
    """The caller behind a verified key."""

    key_id: str
    role: Role

    def can(self, required: Role | str) -> bool:
        """True when the key's role includes ``required``."""
        return self.role.allows(required)


@dataclass(frozen=True)
class KeyInfo:
    """A stored key as listings show it: never the hash."""

    key_id: str
    role: Role
    created: int


def hash_secret(secret: str) -> str:
    """Salted HMAC-SHA256 of ``secret`` as ``hmac_sha256$SALT$DIGEST`` (base64)."""
    salt = secrets.token_bytes(16)
    b64 = base64.urlsafe_b64encode
    return f"{_ALGO}${b64(salt).decode()}${b64(_digest(secret, salt)).decode()}"


def _digest(secret: str, salt: bytes) -> bytes:
    return hmac.new(salt, secret.encode(), hashlib.sha256).digest()


# compared against when the key id is unknown, so that both cases do the same work
_DUMMY_HASH = hash_secret(secrets.token_urlsafe(32))
_DUMMY_RECORD = json.dumps({"role": "read", "created": 0, "hash": _DUMMY_HASH})


def _check_secret(secret: str, encoded: str) -> bool:
    try:
        algo, *parts = encoded.split("$")
        if algo == _ALGO:
            salt, digest = (base64.urlsafe_b64decode(p) for p in parts)
            return hmac.compare_digest(_digest(secret, salt), digest)
        if algo == "pbkdf2_sha256":  # keys made before 0.2: checked once, then re-hashed
            iters, salt_b, digest_b = parts
            salt, digest = base64.urlsafe_b64decode(salt_b), base64.urlsafe_b64decode(digest_b)
            got = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, int(iters))
            return hmac.compare_digest(got, digest)
    except ValueError:
        pass
    return False


def key_id_of(key: object) -> str | None:
    """The key id of a well-formed key (it is public), else None."""
    m = _KEY_RE.match(key) if isinstance(key, str) else None
    return m.group(1) if m else None


class _Keys(Protocol):
    def insert(self, key_id: str, record: dict[str, object]) -> None: ...
    def replace(self, key_id: str, record: dict[str, object]) -> None: ...
    def get(self, key_id: str) -> dict[str, object] | None: ...
    def delete(self, key_id: str) -> bool: ...
    def all(self) -> dict[str, dict[str, object]]: ...
    def ping(self) -> None: ...
    def close(self) -> None: ...


_KEYS_SCHEMA = "CREATE TABLE IF NOT EXISTS keys (key_id TEXT PRIMARY KEY, record TEXT NOT NULL);"


class _SQLiteKeys:
    def __init__(self, backend: Backend, own: bool) -> None:
        self.db, self._backend, self._own = backend.sqlite(_KEYS_SCHEMA), backend, own

    def insert(self, key_id: str, record: dict[str, object]) -> None:
        with self.db.write() as conn:
            conn.execute("INSERT INTO keys VALUES (?, ?)", (key_id, json.dumps(record)))

    def replace(self, key_id: str, record: dict[str, object]) -> None:
        with self.db.write() as conn:
            q = "UPDATE keys SET record = ? WHERE key_id = ?"
            conn.execute(q, (json.dumps(record), key_id))

    def get(self, key_id: str) -> dict[str, object] | None:
        q = "SELECT record FROM keys WHERE key_id = ?"
        row = self.db.conn().execute(q, (key_id,)).fetchone()
        record = json.loads(row[0] if row else _DUMMY_RECORD)  # same work for unknown ids
        return record if row else None

    def delete(self, key_id: str) -> bool:
        with self.db.write() as conn:
            return conn.execute("DELETE FROM keys WHERE key_id = ?", (key_id,)).rowcount == 1

    def all(self) -> dict[str, dict[str, object]]:
        rows = self.db.conn().execute("SELECT key_id, record FROM keys")
        return {k: json.loads(v) for k, v in rows}

    def ping(self) -> None:
        self.db.conn()

    def close(self) -> None:
        if self._own:
            self._backend.close()


class _RedisKeys:
    def __init__(self, source: str | redis.Redis | Backend, prefix: str) -> None:
        self.r, self._own = redis_client(source)
        self.key = f"{prefix}keys"

    def insert(self, key_id: str, record: dict[str, object]) -> None:
        if not self.r.hsetnx(self.key, key_id, json.dumps(record)):
            raise RuntimeError(f"key id {key_id} already exists")  # 48 random bits: never

    def replace(self, key_id: str, record: dict[str, object]) -> None:
        self.r.hset(self.key, key_id, json.dumps(record))

    def get(self, key_id: str) -> dict[str, object] | None:
        raw = self.r.hget(self.key, key_id)
        record = json.loads(raw or _DUMMY_RECORD)  # same work for unknown ids
        return record if raw else None

    def delete(self, key_id: str) -> bool:
        return bool(self.r.hdel(self.key, key_id))

    def all(self) -> dict[str, dict[str, object]]:
        items = self.r.hgetall(self.key).items()
        return {(k.decode() if isinstance(k, bytes) else k): json.loads(v) for k, v in items}

    def ping(self) -> None:
        self.r.ping()

    def close(self) -> None:
        if self._own:
            self.r.close()


class KeyStore:
    """Create, verify, list and revoke API keys in ``sqlite:PATH`` or ``redis://...``.

    Verification looks the key up on every call (so a revocation by any replica takes effect
    at once) and costs one HMAC-SHA256, for known and unknown key ids alike.

    Args:
        url: store URL (the same one the events use), the :class:`Backend` opened from it
            (the keys then share its connections), a ready Redis client, or a SQLite path.
        prefix: Redis key namespace.
    """

    def __init__(
        self, url: str | Path | redis.Redis | Backend, *, prefix: str = "prismrec:"
    ) -> None:
        self._url = url
        self._prefix = prefix
        if isinstance(url, str):
            parse_store_url(url)  # fail early on a bad URL; connect lazily
        self._keys: _Keys | None = None
        self._open_lock = threading.Lock()

    @property
    def keys(self) -> _Keys:
        """The keys' storage, opened on first use."""
        with self._open_lock:
            if self._keys is None:
                self._keys = self._open()
            return self._keys

    def _open(self) -> _Keys:
        url = self._url
        if isinstance(url, Backend):  # shared: its opener closes it
            return _RedisKeys(url, self._prefix) if url.is_redis else _SQLiteKeys(url, False)
        if isinstance(url, redis.Redis):
            return _RedisKeys(url, self._prefix)
        kind, target = parse_store_url(f"sqlite:{url}" if isinstance(url, Path) else url)
        if kind == "redis":
            return _RedisKeys(target, self._prefix)
        return _SQLiteKeys(Backend(f"sqlite:{target}"), True)

    def ping(self) -> None:
        """Open the store now.

        Raises:
            ConfigError: the SQLite file cannot be opened or Redis cannot be reached.
        """
        try:
            self.keys.ping()
        except redis.RedisError as exc:
            raise ConfigError(f"cannot reach the key store: {exc}") from exc

    def create(self, role: Role | str) -> str:
        """Store a new key with ``role``; return its plaintext (the only time it exists)."""
        role = Role.parse(role)
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        record: dict[str, object] = {
            "role": role.value,
            "created": int(time.time()),
            "hash": hash_secret(secret),
        }
        self.keys.insert(key_id, record)
        return f"{KEY_PREFIX}_{key_id}_{secret}"

    def verify(self, key: str) -> Principal | None:
        """The principal for a valid, unrevoked key; None for anything else."""
        m = _KEY_RE.match(key) if isinstance(key, str) else None
        if m is None:
            return None
        key_id, secret = m.groups()
        record = self.keys.get(key_id)
        stored = str(record["hash"]) if record is not None else _DUMMY_HASH
        if not _check_secret(secret, stored) or record is None:
            return None
        if not stored.startswith(f"{_ALGO}$"):
            self.keys.replace(key_id, {**record, "hash": hash_secret(secret)})
        return Principal(key_id, Role.parse(str(record["role"])))

    def revoke(self, key_id: str) -> bool:
        """Delete the key; False when no such key exists."""
        return self.keys.delete(key_id)

    def list_keys(self) -> list[KeyInfo]:
        """All keys (id, role, creation time), oldest first; hashes are never returned."""
        infos = [
            KeyInfo(k, Role.parse(str(r["role"])), int(str(r["created"])))
            for k, r in self.keys.all().items()
        ]
        return sorted(infos, key=lambda i: (i.created, i.key_id))

    def close(self) -> None:
        """Release the connection(s)."""
        with self._open_lock:
            if self._keys is not None:
                self._keys.close()
                self._keys = None


def create_key(store_or_path: KeyStore | str | Path, role: Role | str) -> str:
    """Create a key with ``role`` in a :class:`KeyStore`, a store URL or a SQLite path.

    Returns:
        The plaintext key; it is not stored anywhere and cannot be shown again.
    """
    if isinstance(store_or_path, KeyStore):
        return store_or_path.create(role)
    keys = KeyStore(store_or_path)
    try:
        keys.ping()
        return keys.create(role)
    finally:
        keys.close()
