"""Shared fixtures: real databases (SQLite always; MariaDB and PostgreSQL when reachable) and a real HTTP server.

Each backend gets a database of its own for the session (``modelreg_test_<pid>``), created and dropped here, so
the suite never touches other data. Set ``MODELREG_TEST_BACKENDS=sqlite`` to run against SQLite only.
"""

from __future__ import annotations

import os
import random
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine, delete, text
from sqlalchemy.engine import make_url

from modelreg import tls
from modelreg.app import create_app
from modelreg.auth import context
from modelreg.db import migrations
from modelreg.db.database import Database
from modelreg.db.tables import GOVERNANCE_TABLES, REGISTRY_TABLES
from modelreg.settings import Settings

ADMIN_URLS = {
    "mariadb": os.environ.get("MODELREG_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
    "postgresql": os.environ.get("MODELREG_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
}
# Test servers share one database per xdist worker, each with its own data directory and so its own secret key: a
# transfer worker in every one of them would claim the others' jobs (and could not decrypt their connections).
# Servers run no transfer jobs in tests unless a test starts a worker itself (tests/transfers).
os.environ.setdefault("MODELREG_STORAGE__TRANSFER_WORKERS", "0")
# Likewise the event relay: tests empty the shared database (the audit sequence starts again at 1), which no relay
# expects. Servers relay and deliver events only in tests/events, which turns it on (tests/events/conftest.py).
os.environ.setdefault("MODELREG_EVENTS__RUN_WORKER", "false")
# Every httpx client made with verify=True (the default) loads the CA bundle into a new TLS context: 20 ms of CPU
# each, and the tests make thousands of clients, nearly all for http:// URLs (a sixth of the suite's CPU). They share
# modelreg's own default context (tls.py), as the server's clients do.
_httpx_tls = httpx._transports.default.create_ssl_context


def _shared_tls(verify: Any = True, cert: Any = None, trust_env: bool = True) -> ssl.SSLContext:
    if verify is True and cert is None and trust_env:
        return tls.default_context()
    return _httpx_tls(verify=verify, cert=cert, trust_env=trust_env)


httpx._transports.default.create_ssl_context = _shared_tls
BACKENDS = [b for b in os.environ.get("MODELREG_TEST_BACKENDS", "sqlite,mariadb,postgresql").split(",") if b]
SQLITE_ONLY = "sqlite_only"  # the marker below


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{SQLITE_ONLY}(why): a test that uses the backend-parametrized fixtures but checks nothing that depends on "
        "the database (why says what it checks) runs on SQLite only",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip the other backends' cases of ``sqlite_only`` tests before any of their fixtures is set up."""
    for item in items:
        marker = item.get_closest_marker(SQLITE_ONLY)
        callspec = getattr(item, "callspec", None)
        if marker is None or callspec is None or callspec.params.get("database_url", "sqlite") == "sqlite":
            continue
        why = marker.args[0] if marker.args else "nothing database-specific"
        item.add_marker(pytest.mark.skip(reason=f"{why}: checked on SQLite only"))


def _scratch_database(backend: str, tmp: Path, suffix: str = "") -> Iterator[str]:
    """Yield the URL of an empty database of the given backend; skip when that server is not reachable. ``suffix``
    names another one than the session's (``modelreg_test_<pid><suffix>``), for tests that need several."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'registry.db'}"
        return
    admin_url = make_url(ADMIN_URLS[backend])
    name = f"modelreg_test_{os.getpid()}{suffix}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            conn.execute(text(f"CREATE DATABASE {name}"))
    except Exception as exc:  # the server is not running here
        engine.dispose()
        pytest.skip(f"{backend} is not reachable at {admin_url.render_as_string()}: {type(exc).__name__}: {exc}")
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            if backend == "postgresql":
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            else:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        engine.dispose()


@pytest.fixture
def as_system() -> Iterator[context.CallContext]:
    """Act as ``system:tests`` (an admin) in the test's own thread, for tests that call services directly: there
    is no default caller (``auth/context.py``). Modules use it with ``pytest.mark.usefixtures("as_system")``."""
    with context.acting_as(context.system("tests")) as ctx:
        yield ctx


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _scratch_database(request.param, tmp_path_factory.mktemp(request.param))


@pytest.fixture(scope="session")
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    migrations.upgrade(db.engine)
    yield db
    db.dispose()


def empty(db: Database) -> None:
    """Delete every registry record, role binding, token and audit record (an empty chain is a valid one)."""
    with db.write() as conn:
        for table in [*REGISTRY_TABLES, *GOVERNANCE_TABLES]:
            conn.execute(delete(table))


_PORTS = random.SystemRandom()  # not the `random` pytest-randomly seeds alike in every xdist worker


def free_port() -> int:
    """A port nothing listens on, for a server a test starts. Chosen below the kernel's ephemeral range: a port from
    ``bind(0)`` lies in that range, where another test's outgoing connection could take it as its own local port
    before the server binds it (a CI run saw ``modelreg serve`` fail with "address already in use")."""
    low = _ephemeral_low()
    for _ in range(100):
        port = _PORTS.randrange(10_000, low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port found between 10000 and {low}")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


class ServerThread:
    """uvicorn serving an app in a background thread, as httpx's own test suite does."""

    def __init__(self, app: object) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False, proxy_headers=False
        )  # as `modelreg serve` runs it: the client address is the socket's peer
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 60  # milliseconds on a quiet machine; the margin is for a loaded CI
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def server(database: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    settings = Settings(database_url=database.url, data_dir=tmp_path_factory.mktemp("data"))
    with ServerThread(create_app(settings, database)) as running:
        yield running


@pytest.fixture
def api(server: ServerThread, database: Database) -> Iterator[httpx.Client]:
    """A client for ``/api/model_registry/v1alpha3`` on an empty registry."""
    empty(database)
    with httpx.Client(base_url=f"{server.url}/api/model_registry/v1alpha3", timeout=30) as client:
        yield client
