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

from prismrec.serving.state.store import EventStore, RedisStore, SQLiteStore


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def program(name: str, needed_by: str, package: str | None = None) -> str:
    """The path of ``name`` (from the Debian package ``package``, by default of the same name);
    the test fails without it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not on PATH; {needed_by}: install it with `apt-get install "
            f"{package or name}` (Debian/Ubuntu), or run scripts/test-deps.sh",
            pytrace=False,
        )
    return path


def redis_server_bin() -> str:
    return program("redis-server", "the Redis store tests need a real server")


def _wait_until(check: Callable[[], object], timeout: float = 15.0) -> bool:
    """Poll ``check`` until it is true (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def wait_until() -> Callable[..., bool]:
    """``wait_until(check, timeout=15)``: for what a server finishes in the background."""
    return _wait_until


class _Process:
    """A child process the tests start, SIGKILL (``kill``) or stop gracefully (``stop``)."""

    proc: subprocess.Popen[bytes] | None = None
    stop_timeout = 10.0

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final fsync."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


class RedisServer(_Process):
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


# ----------------------------------------------------------------------------- served model
GENRES = ("Action", "Comedy", "Drama")


def write_genre_world(root: Path, n_items: int = 60, n_users: int = 60, seed: int = 0) -> Path:
    """A catalogue of titled items in three genres; each user mostly watches one genre.

    Returns the raw folder (``interactions.csv``, ``items.csv``, ``users.csv``).
    """
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    genre = [GENRES[i % 3] for i in range(n_items)]
    words = {"Action": "explosive chase", "Comedy": "funny laughs", "Drama": "tearful family"}
    items = pl.DataFrame(
        {
            "item_id": [f"m{i}" for i in range(n_items)],
            "title": [f"{words[g]} story number {i}" for i, g in enumerate(genre)],
            "genres": [g for g in genre],
        }
    )
    items.write_csv(root / "items.csv")
    rows = []
    for u in range(n_users):
        fav = u % 3
        t = 1_700_000_000 + int(rng.integers(0, 86400))
        for _ in range(14):
            g = fav if rng.random() < 0.85 else int(rng.integers(0, 3))
            i = int(rng.choice(np.arange(g, n_items, 3)))
            t += int(rng.integers(60, 7200))
            rows.append((f"u{u}", f"m{i}", t, "click" if rng.random() < 0.7 else "view"))
    pl.DataFrame(
        rows, schema=["user_id", "item_id", "timestamp", "event_type"], orient="row"
    ).write_csv(root / "interactions.csv")
    pl.DataFrame(
        {
            "user_id": [f"u{u}" for u in range(n_users)],
            "gender": ["F" if u % 2 else "M" for u in range(n_users)],
        }
    ).write_csv(root / "users.csv")
    return root


@pytest.fixture(scope="session")
def served_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small prism model with a content tower (MiniLM titles + genres), trained for real."""
    from prismrec.config import DataConfig, ModelConfig, TrainConfig
    from prismrec.data.dataset import prepare
    from prismrec.training import PrismRecommender

    base = tmp_path_factory.mktemp("served")
    raw = write_genre_world(base / "raw")
    cfg = DataConfig(
        item_text_fields=["title"],
        item_multi_fields=["genres"],
        user_columns=["gender"],
        dedup=False,
    )
    ds = prepare(raw, base / "data", "csv", cfg)
    model = ModelConfig(embedding_dim=32, n_layers=1, n_interests=2, dropout=0.1, id_dropout=0.3)
    rec = PrismRecommender(model, TrainConfig(epochs=8, batch_size=32, patience=8)).fit(ds)
    return rec.save(base / "model")


class ApiServer(_Process):
    """``prismrec serve`` in a subprocess (real uvicorn), with an admin, a write and a read key."""

    stop_timeout = 20.0

    def __init__(
        self,
        model: Path,
        store: str,
        workdir: Path,
        keys: dict[str, str] | None = None,
        extra: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.model, self.store, self.workdir, self.extra = model, store, workdir, extra
        self.env = env or {}
        self.port = free_port()
        self.keys = keys
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> ApiServer:
        import sys

        import httpx

        from prismrec.serving.access.auth import create_key

        if self.keys is None:
            self.keys = {r: create_key(self.store, r) for r in ("read", "write", "admin")}
        self.workdir.mkdir(parents=True, exist_ok=True)
        exe = Path(sys.executable).parent / "prismrec"
        args = [
            str(exe),
            "serve",
            "--model",
            str(self.model),
            "--store",
            self.store,
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            *self.extra,
        ]
        log = open(self.workdir / f"serve-{self.port}.log", "ab")  # noqa: SIM115
        import os

        env = {**os.environ, **self.env}
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                text = (self.workdir / f"serve-{self.port}.log").read_text(errors="replace")
                pytest.fail(f"prismrec serve did not start:\n{text[-3000:]}", pytrace=False)
            time.sleep(0.2)

    def client(self, role: str = "admin") -> httpx.Client:  # noqa: F821
        import httpx

        assert self.keys is not None
        return httpx.Client(
            base_url=self.url, timeout=30, headers={"Authorization": f"Bearer {self.keys[role]}"}
        )


@pytest.fixture
def api_factory(tmp_path: Path, served_model: Path) -> Iterator[Callable[..., ApiServer]]:
    servers: list[ApiServer] = []

    def make(store: str | None = None, **kwargs: object) -> ApiServer:
        url = store or f"sqlite:{tmp_path / 'state.db'}"
        server = ApiServer(served_model, url, tmp_path, **kwargs).start()  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield make
    for s in servers:
        s.stop()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, served_model: Path) -> Iterator[ApiServer]:
    """One server (SQLite store) shared by the tests of a module that need no fresh one."""
    work = tmp_path_factory.mktemp("api")
    server = ApiServer(served_model, f"sqlite:{work / 'state.db'}", work).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def start_api() -> Callable[..., ApiServer]:
    """``start_api(model, store, workdir, **kwargs)``: a started server on any model (the
    caller stops it), for fixtures of any scope."""

    def start(model: Path, store: str, workdir: Path, **kwargs: object) -> ApiServer:
        return ApiServer(model, store, workdir, **kwargs).start()  # type: ignore[arg-type]

    return start


# ----------------------------------------------------------------------------- load balancer
HAPROXY_CFG = Path(__file__).resolve().parents[2] / "deploy" / "haproxy" / "haproxy.cfg"


class HAProxy(_Process):
    """HAProxy on 127.0.0.1 running the shipped ``deploy/haproxy/haproxy.cfg``, its
    DNS-discovered replicas replaced by ``ports`` and ``slots`` disabled servers that
    :meth:`add` fills at run time (HAProxy's runtime API on a private socket)."""

    def __init__(self, workdir: Path, ports: list[int], slots: int = 2) -> None:
        self.workdir, self.ports, self.slots = workdir, ports, slots
        self.port = free_port()
        self.socket = workdir / "haproxy.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> str:
        """The shipped file with loopback addresses: the one part that is Docker's."""
        text = HAPROXY_CFG.read_text()
        servers = [f"    server r{i} 127.0.0.1:{p} check" for i, p in enumerate(self.ports, 1)]
        servers.append(f"    server-template slot 1-{self.slots} 127.0.0.1:1 check disabled")
        swaps = {
            "    bind :8080\n": f"    bind 127.0.0.1:{self.port}\n",
            "    bind :8404\n": f"    bind 127.0.0.1:{free_port()}\n",
            "    server-template api 1-20 api:8000 check resolvers docker init-addr none\n": (
                "\n".join(servers) + "\n"
            ),
            "\nglobal\n": f"\nglobal\n    stats socket {self.socket} mode 600 level admin\n",
        }
        for old, new in swaps.items():
            assert text.count(old) == 1, f"{HAPROXY_CFG} no longer has {old!r}"
            text = text.replace(old, new)
        return text

    def start(self) -> HAProxy:
        exe = program("haproxy", "the fleet tests run it as their load balancer")
        self.workdir.mkdir(parents=True, exist_ok=True)
        cfg = self.workdir / "haproxy.cfg"
        cfg.write_text(self.config())
        log = open(self.workdir / "haproxy.log", "ab")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen([exe, "-db", "-f", str(cfg)], stdout=log, stderr=log)
        log.close()
        if not _wait_until(lambda: self.up() == {f"r{i}" for i in range(1, len(self.ports) + 1)}):
            self.stop()
            text = (self.workdir / "haproxy.log").read_text(errors="replace")
            pytest.fail(f"haproxy did not see its replicas up:\n{text[-3000:]}", pytrace=False)
        return self

    def command(self, line: str) -> str:
        """One runtime API command; its answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(str(self.socket))
            s.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def stats(self) -> dict[str, dict[str, str]]:
        """``show stat`` of the replicas' backend, by server name."""
        if self.proc is None or self.proc.poll() is not None or not self.socket.exists():
            return {}
        lines = self.command("show stat").splitlines()
        head = lines[0].lstrip("# ").split(",")
        rows = [dict(zip(head, line.split(","), strict=False)) for line in lines[1:] if line]
        servers = (r for r in rows if r["svname"] not in ("FRONTEND", "BACKEND"))
        return {r["svname"]: r for r in servers if r["pxname"] == "replicas"}

    def up(self) -> set[str]:
        """The servers that health checks found ready."""
        return {name for name, row in self.stats().items() if row["status"] == "UP"}

    def add(self, slot: int, port: int) -> str:
        """Point disabled slot ``slot`` at a replica on ``port`` and enable it; its name."""
        name = f"slot{slot}"
        self.command(f"set server replicas/{name} addr 127.0.0.1 port {port}")
        self.command(f"set server replicas/{name} state ready")
        row = self.stats()[name]
        assert row["addr"] == f"127.0.0.1:{port}" and row["status"] != "MAINT", row
        return name


@pytest.fixture
def haproxy_factory(tmp_path: Path) -> Iterator[Callable[..., HAProxy]]:
    """``haproxy_factory(ports, slots=2)``: a started HAProxy in front of those replicas."""
    started: list[HAProxy] = []

    def make(ports: list[int], slots: int = 2) -> HAProxy:
        lb = HAProxy(tmp_path / f"haproxy-{len(started)}", ports, slots).start()
        started.append(lb)
        return lb

    yield make
    for lb in started:
        lb.stop()
