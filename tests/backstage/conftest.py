"""The Node side of the Backstage tests: Backstage's own packages, installed by `scripts/setup-backstage`.

Without node or without `tests/backstage/node_modules` every test here skips with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from conftest import _scratch_database
from processes import stop_process

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"
VALIDATOR = HERE / "validate-entities.js"
BACKEND = HERE / "backend"
REQUIRED = (
    "@backstage/catalog-model",
    "@backstage/backend-defaults",
    "@backstage/plugin-catalog-backend",
    "@red-hat-developer-hub/backstage-plugin-catalog-backend-module-model-catalog",
    "@red-hat-developer-hub/backstage-plugin-catalog-model-ai-model-server",
    "pg",
    "yaml",
)


def node_skip_reason() -> str | None:
    """Why the Node tests cannot run here, or None when they can."""
    if shutil.which("node") is None:
        return "node is not installed (install Node 20+, then run scripts/setup-backstage)"
    missing = [p for p in REQUIRED if not (NODE_MODULES / p / "package.json").is_file()]
    if missing:
        return f"tests/backstage/node_modules lacks {', '.join(missing)}: run scripts/setup-backstage"
    return None


@pytest.fixture(scope="session")
def node() -> str:
    reason = node_skip_reason()
    if reason:
        pytest.skip(reason)
    path = shutil.which("node")
    assert path is not None
    return path


@dataclass(frozen=True)
class Verdict:
    """One entity's result from validate-entities.js."""

    ok: bool
    origin: str
    kind: str | None
    name: str | None
    error: str | None


def validate(node: str, payload: str | bytes) -> tuple[int, list[Verdict]]:
    """Runs the validator once over a whole batch (JSON array of entities or catalog documents, or YAML)."""
    data = payload.encode() if isinstance(payload, str) else payload
    proc = subprocess.run(
        [node, str(VALIDATOR), "--json"], input=data, capture_output=True, cwd=HERE, timeout=60, check=False
    )
    assert proc.returncode in (0, 1), f"validator exited {proc.returncode}: {proc.stderr.decode()}"
    verdicts = [Verdict(**json.loads(line)) for line in proc.stdout.decode().splitlines() if line.strip()]
    return proc.returncode, verdicts


class BackstageProcess:
    """The minimal Backstage backend of `backend/index.js` in a subprocess, stopped on exit."""

    def __init__(self, port: int, configs: list[Path], env: dict[str, str], log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        self.configs = configs
        self.env = {**os.environ, **env, "BACKSTAGE_PORT": str(port), "NODE_ENV": "development"}
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds = 0.0

    def __enter__(self) -> BackstageProcess:
        # its catalog's database: an empty PostgreSQL one of its own (skips without PostgreSQL), dropped on exit
        self._database = contextlib.contextmanager(_scratch_database)("postgresql", self.log.parent, f"_bs{self.port}")
        url = make_url(self._database.__enter__())
        self.env.update(
            BACKSTAGE_DB_HOST=str(url.host),
            BACKSTAGE_DB_PORT=str(url.port or 5432),
            BACKSTAGE_DB_USER=str(url.username),
            BACKSTAGE_DB_NAME=str(url.database),
        )
        try:
            return self._start()
        except BaseException:
            self._database.__exit__(None, None, None)
            raise

    def _start(self) -> BackstageProcess:
        args = ["node", str(BACKEND / "index.js")]
        for config in self.configs:
            args += ["--config", str(config)]
        started = time.monotonic()
        # cwd must be inside a package: Backstage looks for the package root upwards from it.
        with open(self.log, "wb") as out:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(args, cwd=HERE, stdout=out, stderr=subprocess.STDOUT, env=self.env)
        deadline = started + 45
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Backstage exited with {self.proc.returncode}; log:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/api/catalog/entities?limit=1", timeout=1).status_code == 200:
                    self.startup_seconds = time.monotonic() - started
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        stop_process(self.proc)
        raise RuntimeError(f"Backstage did not answer in 45 s; log:\n{self.tail()}")

    def __exit__(self, *exc: object) -> None:
        try:
            if self.proc is not None:
                stop_process(self.proc)
        finally:
            self._database.__exit__(None, None, None)

    def tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def entities(self, **params: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/catalog/entities", params=params, timeout=10)
        response.raise_for_status()
        return list(response.json())

    def processing_errors(self) -> list[str]:
        """Every processing error the catalog holds.

        Rejected entities never reach `/api/catalog/entities`; their errors live in the catalog's refresh state, which
        the unprocessed-entities module serves (`failed`: no final entity; `pending` ones may carry errors too).
        Entities that did land carry later errors in `status.items`.
        """
        errors: list[str] = []
        for reason in ("failed", "pending"):
            response = httpx.get(f"{self.url}/api/catalog/entities/unprocessed/{reason}", timeout=10)
            response.raise_for_status()
            for item in response.json()["entities"]:
                entity = item.get("unprocessed_entity", {})
                ref = f"{entity.get('kind')}:{entity.get('metadata', {}).get('name')}"
                for err in item.get("errors") or []:
                    errors.append(f"{ref}: {err.get('name')}: {err.get('message')}")
                if reason == "failed" and not item.get("errors"):
                    errors.append(f"{ref}: failed without an error message")
        for entity in self.entities():
            for status in entity.get("status", {}).get("items", []):
                if status.get("level") == "error":
                    ref = f"{entity['kind']}:{entity['metadata']['name']}"
                    errors.append(f"{ref}: {status.get('type')}: {status.get('error', {}).get('message')}")
        return errors
