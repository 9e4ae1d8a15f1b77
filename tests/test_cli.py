"""The ``modelreg`` command: migrations, reset, seed, and ``serve`` on its default SQLite data directory."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from conftest import free_port
from processes import ServeProcess, run_cli

PREFIX = "/api/model_registry/v1alpha3"


def test_db_upgrade_seed_reset(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    assert run_cli("db", "upgrade", "--database-url", url).returncode == 0
    first = run_cli("seed", "--database-url", url)
    assert first.returncode == 0, first.stderr
    again = run_cli("seed", env={"MODELREG_DATABASE_URL": url})  # idempotent; the env var works too
    assert again.returncode == 0, again.stderr
    assert first.stderr.split("registered model")[1] == again.stderr.split("registered model")[1]

    with ServeProcess(free_port(), "--database-url", url) as server:
        models = httpx.get(f"{server.url}{PREFIX}/registered_models").json()["items"]
        assert [m["name"] for m in models] == ["Granite-7b-Inference"]
        versions = httpx.get(f"{server.url}{PREFIX}/registered_models/{models[0]['id']}/versions").json()["items"]
        assert len(versions) == 1
        artifacts = httpx.get(f"{server.url}{PREFIX}/model_versions/{versions[0]['id']}/artifacts").json()["items"]
        assert len(artifacts) == 1
        assert artifacts[0]["uri"].startswith("s3://")
        assert artifacts[0]["modelFormatName"] == "vLLM"

    assert run_cli("db", "reset", "--database-url", url).returncode != 0  # needs --yes
    started = time.monotonic()
    reset = run_cli("db", "reset", "--yes", "--database-url", url)
    assert reset.returncode == 0, reset.stderr
    assert time.monotonic() - started < 30  # process start included; the reset itself reports its own time
    with ServeProcess(free_port(), "--database-url", url) as server:
        assert httpx.get(f"{server.url}{PREFIX}/registered_models").json()["items"] == []


def test_serve_creates_default_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "data"
    log = tmp_path / "serve.log"
    with ServeProcess(free_port(), env={"MODELREG_DATA_DIR": str(data_dir)}, log=log) as server:
        created = httpx.post(f"{server.url}{PREFIX}/registered_models", json={"name": "m"})
        assert created.status_code == 201
    assert (data_dir / "registry.db").exists()
    assert str(data_dir) in log.read_text()
