"""Three ``modelreg serve`` processes started at the same moment on one empty MariaDB or PostgreSQL database, as
three replicas of a Deployment are: the migration lock (db/migrations) lets exactly one of them migrate, the
others wait for it; all three become ready without logging an error, and writes through each are seen by all.

SQLite is left out: its file is one host's (one replica; several workers of one ``serve`` share it, which
tests/test_concurrency.py covers).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from conftest import BACKENDS, _scratch_database, free_port
from modelreg.db import migrations
from processes import MODELREG, stop_process

PREFIX = "/api/model_registry/v1alpha3"
REPLICAS = 3
MIGRATING = "migrating the database schema"
WAIT = 120  # seconds for all three to become ready: generous on a loaded 2-core machine


@pytest.fixture(params=["mariadb", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param not in BACKENDS:
        pytest.skip(f"{request.param} is not in MODELREG_TEST_BACKENDS")
    yield from _scratch_database(request.param, tmp_path, suffix="_replicas")


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def test_three_replicas_start_at_once_on_an_empty_database(empty_database: str, tmp_path: Path) -> None:
    ports = [free_port() for _ in range(REPLICAS)]
    logs = [tmp_path / f"replica-{n}.log" for n in range(REPLICAS)]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for port, log in zip(ports, logs, strict=True):  # one after the other, without waiting: together
            data_dir = log.with_suffix("")  # each replica its own filesystem, as pods have
            with open(log, "wb") as out:
                procs.append(
                    subprocess.Popen(
                        [*MODELREG, "serve", "--port", str(port), "--database-url", empty_database],
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        env={**os.environ, "MODELREG_DATA_DIR": str(data_dir)},
                    )
                )
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        deadline = time.monotonic() + WAIT
        waiting = set(range(REPLICAS))
        while waiting and time.monotonic() < deadline:
            for n in sorted(waiting):
                assert procs[n].poll() is None, f"replica {n} exited:\n{logs[n].read_text()}"
                if _ready(urls[n]):
                    waiting.discard(n)
            time.sleep(0.1)
        assert not waiting, "\n".join(f"replica {n} not ready:\n{logs[n].read_text()}" for n in waiting)

        engine = create_engine(empty_database)
        try:
            with engine.connect() as conn:
                versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        finally:
            engine.dispose()
        assert versions == [migrations.head_revision()]

        for n, url in enumerate(urls):
            response = httpx.post(f"{url}{PREFIX}/registered_models", json={"name": f"via-{n}"}, timeout=60)
            assert response.status_code == 201, response.text
        for url in urls:
            listed = httpx.get(f"{url}{PREFIX}/registered_models", timeout=60).json()
            assert sorted(m["name"] for m in listed["items"]) == [f"via-{n}" for n in range(REPLICAS)]
    finally:
        for proc in procs:
            stop_process(proc, timeout=60)

    outputs = [log.read_text() for log in logs]
    assert sum(output.count(MIGRATING) for output in outputs) == 1, outputs
    for output in outputs:
        assert "Traceback" not in output and "ERROR" not in output and "WARNING" not in output, output
    assert [proc.returncode for proc in procs] == [0] * REPLICAS, outputs
