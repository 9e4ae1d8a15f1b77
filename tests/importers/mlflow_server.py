"""A real MLflow 3.x tracking server for the import tests: ``.venvs/mlflow`` (``scripts/setup-mlflow``) serving a
SQLite backend store in a temp dir on a free 127.0.0.1 port, one worker, no job runner. Tests skip with the reason
when the venv is missing.

``start_mlflow`` starts one (stopped with ``stop``); the ``mlflow_server`` fixture gives one per test module.
Its SQLite file is reachable too (``sql``): MLflow's own REST API cannot set what a version's ``user_id`` is
(only a server with an auth plugin fills it in), so the seeding writes that column directly.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
MLFLOW = ROOT / ".venvs" / "mlflow" / "bin" / "mlflow"
START_TIMEOUT = 120.0  # about 5 s on a quiet machine; the margin is for a loaded CI


@dataclass
class MlflowServer:
    url: str
    db_path: Path
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def api(self) -> str:
        return f"{self.url}/api/2.0/mlflow"

    def sql(self, statement: str, *params: object) -> None:
        """Write MLflow's SQLite store directly (what its REST API cannot set)."""
        with contextlib.closing(sqlite3.connect(self.db_path, timeout=30)) as conn, conn:
            conn.execute(statement, params)

    def __enter__(self) -> MlflowServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the server and every process it started (its own process group)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # a worker that outlived the server


def start_mlflow(workdir: Path, *, workers: int = 1) -> MlflowServer:
    """``workers``: uvicorn worker processes (MLflow's default is 4; the tests need one)."""
    if not MLFLOW.exists():
        pytest.skip(f"no MLflow at {MLFLOW}: run scripts/setup-mlflow")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    db_path = workdir / "mlflow.db"
    log = workdir / "mlflow.log"
    command = [
        str(MLFLOW),
        "server",
        "--backend-store-uri",
        f"sqlite:///{db_path}",
        "--default-artifact-root",
        str(workdir / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    # No telemetry (nothing leaves the machine) and no job runner (a dozen huey processes the tests do not use).
    env = {
        **os.environ,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    with open(log, "wb") as out:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    server = MlflowServer(f"http://127.0.0.1:{port}", db_path, log, process)
    try:
        _wait_healthy(server)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_healthy(server: MlflowServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = server.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"mlflow server exited with {server.process.returncode}:\n{tail}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"mlflow server not healthy after {START_TIMEOUT} s")


@pytest.fixture(scope="session")
def _kept_mlflow_servers() -> Iterator[dict[str, MlflowServer]]:
    servers: dict[str, MlflowServer] = {}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture(scope="module")
def mlflow_server(
    request: pytest.FixtureRequest,
    _kept_mlflow_servers: dict[str, MlflowServer],
    tmp_path_factory: pytest.TempPathFactory,
) -> MlflowServer:
    """One per test module (and xdist worker), which seeds it once and may change it. Kept until the session ends:
    xdist interleaves a module's tests with other modules' on a worker, and a module-scoped server would be stopped
    and started (8 s) and seeded again at each return."""
    key = request.module.__name__
    if key not in _kept_mlflow_servers:
        _kept_mlflow_servers[key] = start_mlflow(tmp_path_factory.mktemp("mlflow"))
    return _kept_mlflow_servers[key]
