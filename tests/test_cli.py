"""The ``modelreg`` command: migrations, reset, seed, and ``serve`` on its default SQLite data directory."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

import modelreg
from cli_runner import invoke_cli
from conftest import ServerThread, free_port
from modelreg.app import create_app
from modelreg.db.database import Database
from modelreg.settings import Settings
from processes import ServeProcess, run_cli

PREFIX = "/api/model_registry/v1alpha3"


def test_db_upgrade_seed_reset(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    assert run_cli("db", "upgrade", "--database-url", url).returncode == 0
    first = run_cli("seed", "--database-url", url)
    assert first.returncode == 0, first.stderr
    again = invoke_cli("seed", env={"MODELREG_DATABASE_URL": url})  # idempotent; the env var works too
    assert again.returncode == 0, again.stderr
    assert first.stderr.split("registered model")[1].split("deploy:")[0] == again.stderr.split("registered model")[1]
    assert "deploy: hardware profile default-profile created" in first.stderr and "deploy:" not in again.stderr

    with ServeProcess(free_port(), "--database-url", url) as server:
        models = httpx.get(f"{server.url}{PREFIX}/registered_models").json()["items"]
        assert [m["name"] for m in models] == ["Granite-7b-Inference"]
        versions = httpx.get(f"{server.url}{PREFIX}/registered_models/{models[0]['id']}/versions").json()["items"]
        assert len(versions) == 1
        artifacts = httpx.get(f"{server.url}{PREFIX}/model_versions/{versions[0]['id']}/artifacts").json()["items"]
        assert len(artifacts) == 1
        assert artifacts[0]["uri"].startswith("s3://")
        assert artifacts[0]["modelFormatName"] == "vLLM"

    assert invoke_cli("db", "reset", "--database-url", url).returncode != 0  # needs --yes
    started = time.monotonic()
    reset = run_cli("db", "reset", "--yes", "--database-url", url)
    assert reset.returncode == 0, reset.stderr
    assert time.monotonic() - started < 30  # process start included; the reset itself reports its own time
    db = Database(url)  # served in this process: `serve` itself ran above
    try:
        with ServerThread(create_app(Settings(database_url=url, data_dir=tmp_path / "data"), db)) as server:
            assert httpx.get(f"{server.url}{PREFIX}/registered_models").json()["items"] == []
    finally:
        db.dispose()


def test_serve_creates_default_data_dir_and_names_the_url_and_the_api_docs(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "data"
    log = tmp_path / "serve.log"
    with ServeProcess(free_port(), env={"MODELREG_DATA_DIR": str(data_dir)}, log=log) as server:
        created = httpx.post(f"{server.url}{PREFIX}/registered_models", json={"name": "m"})
        assert created.status_code == 201
        assert httpx.get(f"{server.url}/docs").status_code == 200
    assert (data_dir / "registry.db").exists()
    text = log.read_text()
    assert str(data_dir) in text
    assert f"serving on {server.url}" in text and f"API docs: {server.url}/docs" in text, text


def test_version() -> None:
    done = run_cli("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"modelreg {modelreg.__version__}"


def test_help_names_the_server_url_and_the_api_docs() -> None:
    done = invoke_cli("--help")
    assert done.returncode == 0, done.stderr
    assert "http://127.0.0.1:8080" in done.stdout and "http://127.0.0.1:8080/docs" in done.stdout, done.stdout


# Values a table on an 80-column terminal would cut; a pipe must get them whole.
LONG_USER = "ai-developer-with-a-long-service-account-name"
LONG_GROUP = "platform-team-with-a-group-name-long-enough-to-be-cut"
LONG_DESCRIPTION = "a description long enough that an eighty-column table would cut it to an ellipsis, twice over"


def test_tables_print_whole_values_when_not_on_a_terminal(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    db = ("--database-url", url)
    token = ("token", "create", "--user", LONG_USER, "--group", LONG_GROUP)
    made = invoke_cli(*token, "--description", LONG_DESCRIPTION, *db)
    assert made.returncode == 0, made.stderr
    assert invoke_cli("rolebinding", "create", "--group", LONG_GROUP, "--role", "developer", *db).returncode == 0
    assert run_cli("bridge", "export", str(tmp_path / "out"), *db).returncode == 0  # a sync: a status row

    tokens = run_cli("token", "list", *db, env={"COLUMNS": "80"})
    assert tokens.returncode == 0, tokens.stderr
    for value in (LONG_USER, LONG_GROUP, LONG_DESCRIPTION):
        assert value in tokens.stdout, tokens.stdout
    bindings = invoke_cli("rolebinding", "list", *db, env={"COLUMNS": "80"})
    assert LONG_GROUP in bindings.stdout, bindings.stdout
    status = invoke_cli("bridge", "status", *db, env={"COLUMNS": "80"})
    assert status.returncode == 0 and "local" in status.stdout, status.stdout
    connections = invoke_cli("connection", "list", *db, env={"COLUMNS": "80", "MODELREG_DATA_DIR": str(tmp_path)})
    assert f"{tmp_path}/artifacts" in connections.stdout, connections.stdout
    for out in (tokens.stdout, bindings.stdout, status.stdout, connections.stdout):
        assert "…" not in out, out


def test_listing_commands_print_json(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    db = ("--database-url", url)
    token = ("token", "create", "--user", LONG_USER, "--group", LONG_GROUP)
    assert invoke_cli(*token, "--description", "d", *db).returncode == 0
    assert invoke_cli("rolebinding", "create", "--group", LONG_GROUP, "--role", "developer", *db).returncode == 0
    assert invoke_cli("bridge", "export", str(tmp_path / "out"), *db).returncode == 0

    tokens = json.loads(invoke_cli("token", "list", "--json", *db).stdout)
    assert [(t["user"], t["groups"], t["description"]) for t in tokens] == [(LONG_USER, [LONG_GROUP], "d")]
    assert "token" not in tokens[0] and all("secret" not in key.lower() for key in tokens[0])
    bindings = json.loads(invoke_cli("rolebinding", "list", "--json", *db).stdout)
    assert [(b["subjectKind"], b["subject"], b["role"]) for b in bindings] == [("group", LONG_GROUP, "developer")]
    connections = json.loads(invoke_cli("connection", "list", "--json", *db).stdout)
    assert [(c["name"], c["builtIn"]) for c in connections] == [("local", True)]
    status = json.loads(invoke_cli("bridge", "status", "--json", *db).stdout)
    assert status["enabled"] is True and [s["name"] for s in status["sources"]] == ["local"]
    assert status["sources"][0]["lastFullSync"] is not None and status["sources"][0]["lastError"] is None
