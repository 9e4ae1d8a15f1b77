"""Fixtures for the compatibility suite: a real ``modelreg serve`` process and a runner for client scenarios.

The scenarios under ``scenarios/`` run inside the upstream client's own virtual environment
(``.venvs/mr-<version>``, created by ``scripts/setup``): the client is not importable from the project's venv.
Each scenario takes the server URL as its first argument, asserts as it goes and exits non-zero on failure.
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from blobs.conftest import bucket, s3_server
from cli_runner import invoke_cli

__all__ = ["bucket", "s3_server"]  # moto's S3 server, for the upload scenario
ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = Path(__file__).parent / "scenarios"
SCENARIO_TIMEOUT = 120  # seconds; a scenario normally takes a few
STARTUP_TIMEOUT = 30


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "clients(*versions): upstream client versions a compat test runs")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip, before any server starts, the tests whose upstream client venvs are missing."""
    for item in items:
        if Path(str(item.path)).parent != Path(__file__).parent:
            continue
        versions = {v for mark in item.iter_markers("clients") for v in mark.args}
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "version" in callspec.params:
            versions.add(callspec.params["version"])
        missing = sorted(v for v in versions if not _client_python_path(v).exists())
        if missing:
            venvs = ", ".join(f".venvs/mr-{v}" for v in missing)
            item.add_marker(pytest.mark.skip(reason=f"upstream client venv {venvs} is missing: run scripts/setup"))


def _client_python_path(version: str) -> Path:
    return ROOT / ".venvs" / f"mr-{version}" / "bin" / "python"


def client_python(version: str) -> Path:
    """The interpreter of the venv that has the upstream ``model-registry`` client ``version``; skip if missing."""
    python = _client_python_path(version)
    if not python.exists():
        pytest.skip(
            f"upstream client model-registry=={version} is not installed in .venvs/mr-{version}: run scripts/setup"
        )
    failure = _import_failure(python)
    if failure is not None:
        pytest.skip(f".venvs/mr-{version} cannot import model_registry ({failure[-200:]}): run scripts/setup")
    return python


@functools.cache
def _import_failure(python: Path) -> str | None:
    """Why ``python`` cannot import the client (None: it can); asked once per session, not before every scenario
    (the import alone takes seconds)."""
    probe = subprocess.run([str(python), "-c", "import model_registry"], capture_output=True, text=True, timeout=60)
    return None if probe.returncode == 0 else probe.stderr.strip()


def _modelreg_command() -> list[str]:
    """``modelreg`` from the interpreter running the tests (the project venv), else ``python -m modelreg``."""
    script = Path(sys.executable).with_name("modelreg")
    if script.exists():
        return [str(script)]
    found = shutil.which("modelreg")
    return [found] if found else [sys.executable, "-m", "modelreg"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    """A ``modelreg serve`` subprocess on SQLite."""

    url: str
    log: Path
    proc: subprocess.Popen[bytes]
    token: str | None = None  # an admin's API token, which every scenario's client sends

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:]) or "(server log is empty)"


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start_server(workdir: Path) -> LiveServer:
    """``modelreg serve --auth token``, as a platform runs it: the scenarios' clients send an admin's token (the
    upstream client's ``user_token``), so the whole compatibility suite runs with authentication on."""
    port = _free_port()
    log = workdir / "serve.log"
    url = f"http://127.0.0.1:{port}"
    database = ["--database-url", f"sqlite:///{workdir / 'r.db'}"]
    granted = invoke_cli("rolebinding", "create", "--user", "compat", "--role", "admin", *database)
    assert granted.returncode == 0, granted.stderr
    made = invoke_cli("token", "create", "--user", "compat", *database)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    command = [*_modelreg_command(), "serve", "--port", str(port), "--auth", "token", *database]
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=workdir, env=os.environ.copy())
    server = LiveServer(url=url, log=log, proc=proc, token=token)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"`{' '.join(command)}` exited with {proc.returncode}:\n{server.log_tail()}")
        if _healthy(url):
            return server
        time.sleep(0.1)
    stop_server(server)
    pytest.fail(
        f"`{' '.join(command)}` did not answer GET /readyz/health with 200 in {STARTUP_TIMEOUT} s:\n{server.log_tail()}"
    )


def stop_server(server: LiveServer) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server shared by the scenarios of a module; scenarios use fresh (uuid-suffixed) names."""
    server = start_server(tmp_path_factory.mktemp("compat"))
    yield server
    stop_server(server)


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server on an empty database, for scenarios that assert a whole listing (pagination)."""
    server = start_server(tmp_path)
    yield server
    stop_server(server)


ScenarioRunner = Callable[..., str]


@pytest.fixture
def run_scenario() -> ScenarioRunner:
    """``run_scenario(version, name, server, *args)`` runs ``scenarios/<name>.py`` with client ``version``.

    It fails the test with the scenario's output and the end of the server log unless the scenario exits 0 and
    prints ``SCENARIO OK`` last; it returns the scenario's stdout.
    """

    def run(version: str, name: str, server: LiveServer, *args: str) -> str:
        python = client_python(version)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        env["PYTHONUNBUFFERED"] = "1"
        if server.token:
            env["MODELREG_COMPAT_TOKEN"] = server.token
        env.pop("KF_PIPELINES_SA_TOKEN_PATH", None)  # the client would read a token from there
        started = time.monotonic()
        try:
            result = subprocess.run(
                [str(python), str(SCENARIOS / f"{name}.py"), server.url, *args],
                capture_output=True,
                text=True,
                timeout=SCENARIO_TIMEOUT,
                cwd=SCENARIOS,
                env=env,
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(
                f"scenario {name} with model-registry {version} timed out after {SCENARIO_TIMEOUT} s\n"
                f"--- stdout\n{exc.stdout}\n--- stderr\n{exc.stderr}\n--- server log\n{server.log_tail()}"
            )
        elapsed = time.monotonic() - started
        report = (
            f"scenario {name} with model-registry {version} exited {result.returncode} after {elapsed:.1f} s\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}\n--- server log (tail)\n{server.log_tail()}"
        )
        lines = result.stdout.strip().splitlines()
        if result.returncode != 0 or not lines or lines[-1] != "SCENARIO OK":
            pytest.fail(report, pytrace=False)
        return result.stdout

    return run
