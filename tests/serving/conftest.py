"""Serving fixtures: a real redis-server subprocess and stores over both backends.

The Redis tests fail (never skip) when ``redis-server`` is missing, so a CI image without it
cannot pass silently.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from prismrec.serving.store import EventStore, RedisStore, SQLiteStore


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_server_bin() -> str:
    path = shutil.which("redis-server")
    if path is None:
        pytest.fail(
            "redis-server is not on PATH; the Redis store tests need a real server: "
            "install it with `apt-get install redis-server` (Debian/Ubuntu)",
            pytrace=False,
        )
    return path


class RedisServer:
    """A redis-server process on 127.0.0.1:<port> keeping its files in ``workdir``."""

    def __init__(self, workdir: Path, port: int | None = None, durable: bool = False) -> None:
        self.workdir, self.port, self.durable = workdir, port or free_port(), durable
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        aof = ["--appendonly", "yes", "--appendfsync", "always"] if self.durable else []
        args = [redis_server_bin(), "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", *aof, "--dir", str(self.workdir)]
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    text = (self.workdir / "redis.log").read_text(errors="replace")
                    pytest.fail(f"redis-server did not start:\n{text[-2000:]}", pytrace=False)
                time.sleep(0.05)
        client.close()
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final fsync, no RDB save."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_factory(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Start private redis-servers (``durable=True``: AOF with fsync on every write)."""
    servers: list[RedisServer] = []

    def make(durable: bool = False) -> RedisServer:
        server = RedisServer(tmp_path / f"redis-{len(servers)}", durable=durable).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A freshly emptied Redis database."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same store contract, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("redis_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[EventStore]:
    s: EventStore
    if store_url.startswith("sqlite:"):
        s = SQLiteStore(store_url[len("sqlite:") :])
    else:
        s = RedisStore(store_url)
    yield s
    s.close()
