"""Compatibility with the published Kubeflow ``model-registry`` client, run unchanged in its own virtual
environment (created by ``scripts/setup``) against a live ``modelreg serve`` process."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import free_port
from processes import ServeProcess

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = Path(__file__).parent / "scenarios"


def client_python(version: str) -> Path:
    python = ROOT / ".venvs" / f"mr-{version}" / "bin" / "python"
    if not python.exists():
        pytest.skip(f"model-registry {version} is not installed in .venvs/mr-{version}: run scripts/setup")
    return python


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    tmp = tmp_path_factory.mktemp("upstream")
    with ServeProcess(free_port(), "--database-url", f"sqlite:///{tmp / 'r.db'}", log=tmp / "serve.log") as server:
        yield server


def run_scenario(version: str, scenario: str, server: ServeProcess, *args: str) -> str:
    """Run ``scenarios/<scenario>.py`` with the given client version; it asserts and exits non-zero on failure."""
    port = server.url.rsplit(":", 1)[1]
    result = subprocess.run(
        [str(client_python(version)), str(SCENARIOS / f"{scenario}.py"), port, *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"{scenario} with model-registry {version} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout
