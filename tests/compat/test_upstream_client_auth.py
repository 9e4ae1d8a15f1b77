"""The published ``model-registry`` clients (0.3.10 on v1alpha3, 0.3.18 on v1) against ``modelreg serve --auth
token``, configured as users configure them: ``ModelRegistry(..., user_token=<token>)``, which sends
``Authorization: Bearer <token>``. A developer's token does everything, a viewer's reads but is refused on
register with a 403 naming the missing permission, and no token gets a 401 on every call."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelreg.auth import context
from modelreg.db import migrations
from modelreg.db.database import Database
from modelreg.services.access import AccessService

from .conftest import STARTUP_TIMEOUT, LiveServer, ScenarioRunner, _free_port, _healthy, _modelreg_command, stop_server

pytestmark = pytest.mark.slow
BOTH = pytest.mark.parametrize("version", ["0.3.10", "0.3.18"])


@dataclass
class AuthServer:
    server: LiveServer
    tokens: dict[str, str]


def _grant(database_url: str) -> dict[str, str]:
    """Bindings and one token per role, written before the server starts (as ``modelreg token create`` would)."""
    db = Database(database_url)
    migrations.upgrade(db.engine)
    tokens = {}
    try:
        with context.acting_as(context.cli_context()):
            access = AccessService(db)
            for user, role in (("dev", "developer"), ("reader", "viewer")):
                access.create_binding("user", user, role)
                tokens[role], _ = access.create_token(user)
    finally:
        db.dispose()
    return tokens


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    workdir = tmp_path_factory.mktemp("compat-auth")
    database_url = f"sqlite:///{workdir / 'r.db'}"
    tokens = _grant(database_url)
    port = _free_port()
    log = workdir / "serve.log"
    command = [*_modelreg_command(), "serve", "--port", str(port), "--database-url", database_url, "--auth", "token"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=workdir, env=env)
    server = LiveServer(url=f"http://127.0.0.1:{port}", log=log, proc=proc)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    try:
        while not _healthy(server.url):
            if proc.poll() is not None:
                pytest.fail(f"`{' '.join(command)}` exited with {proc.returncode}:\n{server.log_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"`{' '.join(command)}` did not become healthy:\n{server.log_tail()}")
            time.sleep(0.1)
        yield AuthServer(server, tokens)
    finally:
        stop_server(server)


def _model_of(output: str) -> str:
    return next(line.split(" ", 1)[1] for line in output.splitlines() if line.startswith("MODEL "))


@pytest.fixture(scope="module")
def developer_models() -> dict[str, str]:
    """Client version → the model its developer scenario registered on this module's server, which the viewer and
    anonymous scenarios (they change nothing) read: one developer run per version, not one per test."""
    return {}


def developer_model(version: str, auth_server: AuthServer, run_scenario: ScenarioRunner, models: dict[str, str]) -> str:
    """Run the developer scenario with ``version`` unless it already ran here; the model it registered."""
    if version not in models:
        token = auth_server.tokens["developer"]
        models[version] = _model_of(run_scenario(version, "auth_roles", auth_server.server, "developer", token))
    return models[version]


@BOTH
def test_developer_token_registers_reads_updates_and_pages(
    version: str, auth_server: AuthServer, run_scenario: ScenarioRunner, developer_models: dict[str, str]
) -> None:
    assert developer_model(version, auth_server, run_scenario, developer_models)


@BOTH
def test_viewer_token_reads_but_cannot_register(
    version: str, auth_server: AuthServer, run_scenario: ScenarioRunner, developer_models: dict[str, str]
) -> None:
    model = developer_model(version, auth_server, run_scenario, developer_models)
    run_scenario(version, "auth_roles", auth_server.server, "viewer", auth_server.tokens["viewer"], model)


@BOTH
def test_no_token_is_refused(
    version: str, auth_server: AuthServer, run_scenario: ScenarioRunner, developer_models: dict[str, str]
) -> None:
    model = developer_model(version, auth_server, run_scenario, developer_models)
    run_scenario(version, "auth_roles", auth_server.server, "anonymous", "", model)


@BOTH
def test_a_wrong_token_is_refused(version: str, auth_server: AuthServer, run_scenario: ScenarioRunner) -> None:
    run_scenario(version, "auth_roles", auth_server.server, "anonymous", "mrt_" + "x" * 43)


def test_scenario_file_exists() -> None:
    assert (Path(__file__).parent / "scenarios" / "auth_roles.py").is_file()
