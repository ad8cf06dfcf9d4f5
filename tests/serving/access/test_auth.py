"""API keys over SQLite and Redis: hashing, roles, verification, revocation, the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from prismrec.cli.keys import app
from prismrec.errors import ConfigError
from prismrec.serving.access.auth import KeyStore, Principal, Role, create_key, hash_secret
from prismrec.serving.state.store import Event, open_store


@pytest.fixture
def keys(store_url: str) -> Iterator[KeyStore]:
    ks = KeyStore(store_url)
    yield ks
    ks.close()


def test_created_key_verifies_with_its_role(keys: KeyStore) -> None:
    key = keys.create("write")
    prefix, key_id, secret = key.split("_", 2)
    assert prefix == "prk" and len(key_id) == 12 and len(secret) == 43
    p = keys.verify(key)
    assert p == Principal(key_id, Role.write)
    assert p.can("read") and p.can(Role.write) and not p.can("admin")
    assert keys.verify(key) == p  # second call: the remembered fingerprint path


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("read", {"read"}), ("write", {"read", "write"}), ("admin", {"read", "write", "admin"})],
)
def test_roles_are_ordered(role: str, allowed: set[str]) -> None:
    assert {r.value for r in Role if Role(role).allows(r)} == allowed


def test_wrong_and_malformed_keys_are_refused_without_errors(keys: KeyStore) -> None:
    key = keys.create("admin")
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    other_id = "prk_000000000000_" + key.split("_", 2)[2]
    for bad in [tampered, other_id, "", "prk_", "Bearer " + key, key + "x", "x" * 10_000, "é"]:
        assert keys.verify(bad) is None
    assert keys.verify(None) is None  # type: ignore[arg-type]


def test_revoked_keys_stop_working_on_every_replica(keys: KeyStore, store_url: str) -> None:
    replica = KeyStore(store_url)
    try:
        key = keys.create("read")
        key_id = key.split("_")[1]
        assert replica.verify(key) is not None  # replica remembers this key now
        assert keys.revoke(key_id) is True
        assert replica.verify(key) is None and keys.verify(key) is None
        assert keys.revoke(key_id) is False
    finally:
        replica.close()


def test_list_keys_shows_ids_and_roles_never_hashes(keys: KeyStore) -> None:
    made = {keys.create(r).split("_")[1]: r for r in ("read", "admin")}
    infos = keys.list_keys()
    assert {i.key_id: i.role.value for i in infos} == made
    assert all(i.created > 0 for i in infos)
    assert "hash" not in repr(infos) and "pbkdf2" not in repr(infos)


def test_plaintext_is_never_stored(keys: KeyStore, store_url: str, tmp_path: Path) -> None:
    key = keys.create("write")
    secret = key.split("_", 2)[2]
    if store_url.startswith("sqlite:"):
        blob = b"".join(p.read_bytes() for p in tmp_path.glob("state.db*"))
    else:
        client = redis.Redis.from_url(store_url)
        blob = b"".join(k + v for k, v in client.hgetall("prismrec:keys").items())
        client.close()
    assert b"hmac_sha256$" in blob and b"pbkdf2" not in blob
    assert secret.encode() not in blob and key.encode() not in blob


def test_hashes_are_salted_hmacs_not_a_slow_password_hash() -> None:
    a, b = hash_secret("same"), hash_secret("same")
    assert a != b and a.startswith("hmac_sha256$") and len(a.split("$")) == 3


def test_keys_from_before_are_rehashed_at_their_first_use(keys: KeyStore) -> None:
    import base64
    import hashlib

    key = keys.create("read")
    key_id, secret = key.split("_", 2)[1:]
    salt = b"0123456789abcdef"
    old = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, 1_000)
    b64 = base64.urlsafe_b64encode
    legacy = f"pbkdf2_sha256$1000${b64(salt).decode()}${b64(old).decode()}"
    record = keys.keys.get(key_id)
    assert record is not None
    keys.keys.replace(key_id, {**record, "hash": legacy})
    assert keys.verify(key.replace(secret, "A" * 43)) is None
    assert keys.keys.get(key_id)["hash"] == legacy  # type: ignore[index]
    assert keys.verify(key) == Principal(key_id, Role.read)
    assert str(keys.keys.get(key_id)["hash"]).startswith("hmac_sha256$")  # type: ignore[index]
    assert keys.verify(key) == Principal(key_id, Role.read)


def test_keys_share_the_file_with_the_events(tmp_path: Path) -> None:
    url = f"sqlite:{tmp_path / 'state.db'}"
    events = open_store(url)
    events.append([Event("u", "i", "view")])
    key = create_key(tmp_path / "state.db", "read")  # a plain path works too
    assert KeyStore(url).verify(key) is not None
    assert [e.item_id for e in events.history("u")] == ["i"]
    events.close()


def test_bad_roles_and_urls_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown role 'root'"):
        create_key(f"sqlite:{tmp_path / 'k.db'}", "root")
    with pytest.raises(ConfigError, match="unsupported store URL"):
        KeyStore("postgres://x/y")
    with pytest.raises(ConfigError, match="cannot open SQLite store"):
        create_key(f"sqlite:{tmp_path / 'no' / 'k.db'}", "read")


# ----------------------------------------------------------------------------- CLI

runner = CliRunner()


def test_cli_create_list_revoke(store_url: str) -> None:
    r = runner.invoke(app, ["create", "--role", "admin", "--store", store_url])
    assert r.exit_code == 0, r.output
    key = r.stdout.strip().splitlines()[-1]
    assert "shown only now" in r.stderr and key not in r.stderr
    p = KeyStore(store_url).verify(key)
    assert p is not None and p.role is Role.admin

    r = runner.invoke(app, ["list", "--store", store_url, "--json"])
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.stdout)
    assert row["key_id"] == p.key_id and row["role"] == "admin"
    assert key.split("_", 2)[2] not in r.stdout
    r = runner.invoke(app, ["list", "--store", store_url])
    assert r.exit_code == 0 and p.key_id in r.stdout

    r = runner.invoke(app, ["revoke", p.key_id, "--store", store_url])
    assert r.exit_code == 0, r.output
    assert KeyStore(store_url).verify(key) is None
    r = runner.invoke(app, ["revoke", p.key_id, "--store", store_url])
    assert r.exit_code == 1 and "no key with id" in r.stderr


def test_cli_rejects_bad_role_and_store(tmp_path: Path) -> None:
    r = runner.invoke(app, ["create", "--role", "root", "--store", f"sqlite:{tmp_path / 'k.db'}"])
    assert r.exit_code == 2
    r = runner.invoke(app, ["create", "--role", "read", "--store", "k.db"])
    assert r.exit_code == 1 and "did you mean 'sqlite:k.db'" in r.stderr
    assert r.stdout == ""
