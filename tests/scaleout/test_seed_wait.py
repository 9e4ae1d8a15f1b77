"""``modelreg seed --wait``: a seed Job started together with the database and the registry waits for them, says
so now and then, seeds once they answer, and gives up with a clear message and exit 1 when the time runs out."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from conftest import BACKENDS, _scratch_database, free_port
from modelreg.services.seed import DEMO_MODEL
from netfaults import PausableProxy
from processes import MODELREG, ServeProcess, run_cli, stop_process

PREFIX = "/api/model_registry/v1alpha3"
WAIT = 120  # the seed's --wait where it must succeed: generous on a loaded machine


class Seed:
    """``modelreg seed`` running in the background, its output collected line by line."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [*MODELREG, "seed", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for_line(self, words: str) -> None:
        deadline = time.monotonic() + WAIT
        while not any(words in line for line in list(self.lines)):
            if self.proc.poll() is not None:  # exited: its last lines may still be on their way
                self._reader.join(timeout=10)
                assert any(words in line for line in self.lines), self.output
                return
            assert time.monotonic() < deadline, self.output
            time.sleep(0.05)

    def finish(self) -> int:
        code = self.proc.wait(timeout=WAIT + 60)
        self._reader.join(timeout=10)
        return code

    def stop(self) -> None:
        """Stop it if it still runs, and close its output."""
        if self.proc.poll() is None:
            stop_process(self.proc)
        self._reader.join(timeout=10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


def test_seed_waits_for_a_registry_that_comes_up_later(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    database_url = f"sqlite:///{tmp_path / 'registry.db'}"
    env = {"MODELREG_DATA_DIR": str(tmp_path)}
    seed = Seed("--database-url", database_url, "--wait", str(WAIT), "--registry-url", url, env=env)
    try:
        seed.wait_for_line(f"waiting for the registry at {url}")
        with ServeProcess(port, "--database-url", database_url, env=env) as server:
            assert seed.finish() == 0, seed.output
            models = httpx.get(f"{server.url}{PREFIX}/registered_models", timeout=30).json()["items"]
    finally:
        seed.stop()
    assert f"the registry at {url} is ready" in seed.output
    assert "seeded" in seed.output
    assert [m["name"] for m in models] == [DEMO_MODEL], models


def test_seed_gives_up_when_the_time_runs_out(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    database_url = f"sqlite:///{tmp_path / 'registry.db'}"
    result = run_cli(
        "seed",
        "--database-url",
        database_url,
        "--wait",
        "2",
        "--registry-url",
        url,
        env={"MODELREG_DATA_DIR": str(tmp_path)},
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"error: the registry at {url} was not ready within 2 s" in result.stderr
    assert "seeded" not in result.stdout + result.stderr


@pytest.fixture(params=["mariadb", "postgresql"])
def empty_server_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param not in BACKENDS:
        pytest.skip(f"{request.param} is not in MODELREG_TEST_BACKENDS")
    yield from _scratch_database(request.param, tmp_path, suffix="_seed")


def test_seed_waits_for_a_database_that_answers_later(empty_server_database: str, tmp_path: Path) -> None:
    parsed = make_url(empty_server_database)
    with PausableProxy(parsed.port or 0) as proxy:
        proxy.pause()  # connections are held: the database does not answer yet
        url = parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        env = {"MODELREG_DATA_DIR": str(tmp_path), "MODELREG_DATABASE__CONNECT_TIMEOUT_SECONDS": "2"}
        seed = Seed("--database-url", url, "--wait", str(WAIT), env=env)
        try:
            seed.wait_for_line("waiting for the database")
            proxy.resume()
            assert seed.finish() == 0, seed.output
        finally:
            proxy.resume()
            seed.stop()
    assert "seeded" in seed.output, seed.output
    again = run_cli(
        "seed", "--database-url", empty_server_database, "--wait", "5", env={"MODELREG_DATA_DIR": str(tmp_path)}
    )
    assert again.returncode == 0, again.stderr  # idempotent, and no waiting when the database answers
    assert "waiting" not in again.stderr
