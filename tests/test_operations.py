"""A hung database must not hang the server: health answers within a second, requests get a 503 within the
configured timeouts, ``modelreg serve`` gives up within the connect timeout, and no 503 names the database.

Faults are real: a black hole (a port that accepts and never answers) and a pausable TCP proxy in front of the
real PostgreSQL and MariaDB (``tests/netfaults.py``); locks are held by a real second connection.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from conftest import ServerThread, empty, free_port
from modelreg.app import create_app
from modelreg.db.database import Database
from modelreg.settings import Settings
from netfaults import BlackHole, PausableProxy
from processes import run_cli

PREFIX = "/api/model_registry/v1alpha3"
CONNECT = 2  # seconds; libpq's minimum
DRIVER_WORDS = ("psycopg", "pymysql", "mysql", "postgres", "sqlalchemy", "operationalerror", "root@")


def settings(url: str, data_dir: Path, **database: float) -> Settings:
    """Server settings with short database timeouts (given as a dict, so that the test runs on a tree whose
    Settings do not know them yet, and shows the hang)."""
    limits = {"connect_timeout_seconds": CONNECT, "statement_timeout_seconds": 2, "lock_timeout_seconds": 1}
    return Settings.model_validate(
        {"database_url": url, "data_dir": data_dir, "database": {**limits, **database}, "bridge": {"enabled": False}}
    )


def timed(call: Callable[..., httpx.Response], *args: Any, **kwargs: Any) -> tuple[float, httpx.Response]:
    started = time.monotonic()
    response = call(*args, **kwargs)
    return time.monotonic() - started, response


def assert_discreet(body: str, *ports: int) -> None:
    """A 503 reaches unauthenticated callers: no host, port, user or driver text."""
    lowered = body.lower()
    assert "127.0.0.1" not in body and "localhost" not in lowered, body
    for port in ports:  # as a number of its own: a timestamp such as 1796484364.765432 does not name port 5432
        assert re.search(rf"(?<!\d){port}(?!\d)", body) is None, body
    for word in DRIVER_WORDS:
        assert word not in lowered, body


def server_backend(url: str) -> str:
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        pytest.skip("SQLite is a local file: it cannot hang on the network")
    return backend


@pytest.fixture
def proxied(database: Database, tmp_path: Path) -> Iterator[tuple[PausableProxy, ServerThread]]:
    """A server whose database connection runs through a pausable proxy."""
    parsed = make_url(database.url)
    server_backend(database.url)
    empty(database)
    with PausableProxy(parsed.port or 0) as proxy:
        url = parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        try:
            with ServerThread(create_app(settings(url, tmp_path))) as server:
                yield proxy, server
        finally:
            proxy.resume()  # before the server stops: requests still waiting must finish


def test_a_paused_database_gets_fast_503s_and_the_server_recovers(
    proxied: tuple[PausableProxy, ServerThread],
) -> None:
    proxy, server = proxied
    with httpx.Client(base_url=server.url, timeout=15) as http:
        assert http.get("/readyz/health").status_code == 200
        assert http.post(f"{PREFIX}/registered_models", json={"name": "before"}).status_code == 201
        proxy.pause()
        try:
            for _ in range(3):  # repeated probes while the database hangs: each one within a second
                for path in ("/readyz/health", "/readyz/isDirty"):
                    elapsed, response = timed(http.get, path, params={"format": "json"})
                    assert response.status_code == 503 and elapsed < 1.0, (path, elapsed, response.text)
                    assert response.json()["status"] == "fail"
                    assert_discreet(response.text, proxy.port, proxy.target_port)
                elapsed, response = timed(http.get, "/readyz/health")
                assert response.status_code == 503 and elapsed < 1.0, (elapsed, response.text)
                assert_discreet(response.text, proxy.port, proxy.target_port)
            # a pooled connection is pinged (bounded by the connect timeout), then a new one is tried
            elapsed, response = timed(http.get, f"{PREFIX}/registered_models")
            assert response.status_code == 503 and elapsed < 2 * CONNECT + 1.5, (elapsed, response.text)
            assert_discreet(response.text, proxy.port, proxy.target_port)
            elapsed, response = timed(http.post, f"{PREFIX}/registered_models", json={"name": "during"})
            assert response.status_code == 503 and elapsed < 2 * CONNECT + 1.5, (elapsed, response.text)
            assert_discreet(response.text, proxy.port, proxy.target_port)
        finally:
            proxy.resume()
        deadline = time.monotonic() + 15
        while http.get("/readyz/health").status_code != 200:
            assert time.monotonic() < deadline, "health did not recover after the database came back"
            time.sleep(0.2)
        listed = http.get(f"{PREFIX}/registered_models")
        assert listed.status_code == 200 and "before" in [m["name"] for m in listed.json()["items"]]


@pytest.mark.parametrize(
    ("limits", "bound"),
    [
        ({"lock_timeout_seconds": 1, "statement_timeout_seconds": 30}, 1),  # the lock timeout ends the wait
        ({"lock_timeout_seconds": 0, "statement_timeout_seconds": 2}, 2),  # no lock limit: the statement timeout
    ],
    ids=["lock-timeout", "statement-timeout"],
)
def test_a_request_waiting_on_a_lock_gets_503_within_the_timeout(
    database: Database, tmp_path: Path, limits: dict[str, float], bound: float
) -> None:
    backend = server_backend(database.url)
    empty(database)
    lock = {
        "postgresql": "LOCK TABLE registered_models IN ACCESS EXCLUSIVE MODE",
        "mariadb": "LOCK TABLES registered_models WRITE",
        "mysql": "LOCK TABLES registered_models WRITE",
    }[backend]
    holder = create_engine(database.url)
    app = create_app(settings(database.url, tmp_path, **limits))
    try:
        with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=15) as http:
            assert http.get(f"{PREFIX}/registered_models").status_code == 200  # warm: a pooled connection
            with holder.connect() as conn:
                conn.execute(text(lock))
                elapsed, response = timed(http.get, f"{PREFIX}/registered_models")
                assert response.status_code == 503 and elapsed < bound + 1.5, (elapsed, response.text)
                assert_discreet(response.text)
                elapsed, response = timed(http.post, f"{PREFIX}/registered_models", json={"name": "locked-out"})
                assert response.status_code == 503 and elapsed < bound + 1.5, (elapsed, response.text)
                conn.rollback()
                if backend != "postgresql":
                    conn.execute(text("UNLOCK TABLES"))
            # the connections that timed out are fine afterwards
            assert http.post(f"{PREFIX}/registered_models", json={"name": "after"}).status_code == 201
            names = [m["name"] for m in http.get(f"{PREFIX}/registered_models").json()["items"]]
            assert names == ["after"]
    finally:
        holder.dispose()


@pytest.mark.parametrize("scheme", ["postgresql+psycopg://postgres", "mysql+pymysql://root"])
def test_a_refused_database_gets_a_503_that_names_nothing(scheme: str, tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    app = create_app(settings(f"{scheme}@127.0.0.1:{port}/registry", tmp_path))
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=15) as http:
        for path in (f"{PREFIX}/registered_models", "/readyz/health?format=json", "/readyz/isDirty"):
            elapsed, response = timed(http.get, path)
            assert response.status_code == 503 and elapsed < 1.0 + CONNECT, (path, response.text)
            assert_discreet(response.text, port)


@pytest.mark.parametrize("scheme", ["postgresql+psycopg://postgres", "mysql+pymysql://root"])
@pytest.mark.parametrize("command", [("serve",), ("token", "list")], ids=["serve", "token-list"])
def test_commands_give_up_on_a_database_that_never_answers(scheme: str, command: tuple[str, ...]) -> None:
    with BlackHole() as hole:
        args = [*command, "--database-url", f"{scheme}@127.0.0.1:{hole.port}/registry"]
        if command == ("serve",):
            args += ["--port", str(free_port())]
        started = time.monotonic()
        done = run_cli(*args, env={"MODELREG_DATABASE__CONNECT_TIMEOUT_SECONDS": str(CONNECT)}, timeout=40)
        elapsed = time.monotonic() - started
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert elapsed < CONNECT + 10, elapsed  # process start and imports included
    assert f"did not answer within {CONNECT} s" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
