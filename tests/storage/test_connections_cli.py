"""``modelreg connection create|list|delete`` on the database directly, on every backend; the secret comes from an
environment variable or stdin, never from an argument, and is never printed. The first create and the one reading
stdin are processes, the other calls run in this process (tests/cli_runner.py)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from cli_runner import invoke_cli, process_on_sqlite
from conftest import empty
from modelreg.db.database import Database
from modelreg.db.tables import audit_log, data_connections
from processes import MODELREG

SECRET = "cli-s3cr3t-9f8e7d6c5b4a"


@pytest.fixture
def cli_env(database: Database, tmp_path: Path) -> dict[str, str]:
    empty(database)
    return {"MODELREG_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "300", "S3_SECRET": SECRET}


def test_create_list_and_delete(database: Database, cli_env: dict[str, str], tmp_path: Path) -> None:
    url = ["--database-url", database.url]
    off = [*url, "--no-check"]  # the hosts here do not exist; test_hardening.py tests the check
    created = process_on_sqlite(database.url)(
        "connection", "create", "minio", "--type", "s3", "--endpoint", "http://minio:9000", "--region", "eu-1",
        "--bucket", "models", "--prefix", "team-a", "--path-style", "--access-key-id", "AKID",
        "--secret-access-key-env", "S3_SECRET", "--display-name", "MinIO Storage", *off, env=cli_env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert "'minio' (s3) created" in created.stderr
    local = invoke_cli(
        "connection", "create", "scratch", "--type", "local", "--directory", "rel/dir", *off, env=cli_env
    )
    assert local.returncode == 0, local.stderr
    web = invoke_cli(
        "connection", "create", "hub", "--type", "uri", "--base-url", "https://x.org/m/", *off, env=cli_env
    )
    assert web.returncode == 0, web.stderr

    listed = invoke_cli("connection", "list", *url, env=cli_env)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert any("local (built-in)" in line for line in lines)
    minio = next(line for line in lines if "minio" in line)
    assert "s3://models/team-a at http://minio:9000 (path-style)" in minio and "AKID" in minio and " set " in minio
    assert "MinIO Storage" in minio
    assert any(re.search(r"\bhub\W+hub\W+uri\b", line) for line in lines)  # the display name defaults to the name
    assert "cli:" in minio
    assert any("scratch" in line and str((Path.cwd() / "rel/dir").absolute()) in line for line in lines)
    assert any("hub" in line and "https://x.org/m/" in line for line in lines)

    with database.read() as conn:
        stored = conn.execute(select(data_connections.c.secret_ciphertext).where(data_connections.c.name == "minio"))
        assert stored.scalar_one().startswith("v1:")
    assert (tmp_path / "data" / "secret.key").exists()  # the default key, made by the first create

    deleted = invoke_cli("connection", "delete", "minio", *url, env=cli_env)
    assert deleted.returncode == 0 and "'minio' deleted" in deleted.stderr
    assert "minio" not in invoke_cli("connection", "list", *url, env=cli_env).stdout

    with database.read() as conn:
        records = conn.execute(
            select(audit_log.c.actor, audit_log.c.via, audit_log.c.action, audit_log.c.changes)
            .where(audit_log.c.entity_kind == "data_connection")
            .order_by(audit_log.c.seq)
        ).all()
    assert [(r.via, r.action) for r in records] == [("cli", "create")] * 3 + [("cli", "delete")]
    assert all(r.actor.startswith("cli:") for r in records)
    for result in (created, listed, deleted):
        assert SECRET not in result.stdout and SECRET not in result.stderr
    assert all(SECRET not in r.changes for r in records)


@pytest.mark.sqlite_only("where the secret is read from (its storage: above, on every backend)")
def test_secret_from_stdin_and_never_as_an_argument(database: Database, cli_env: dict[str, str]) -> None:
    url = ["--database-url", database.url]
    args = ["connection", "create", "minio", "--type", "s3", "--bucket", "models", "--access-key-id", "AKID", *url]
    args.append("--no-check")
    plain = invoke_cli(*args, "--secret-access-key", SECRET, env=cli_env)
    assert plain.returncode == 2 and "No such option" in plain.stderr
    piped = subprocess.run(
        [*MODELREG, *args, "--secret-access-key-stdin"],
        input=SECRET + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **cli_env},
    )
    assert piped.returncode == 0, piped.stderr
    assert SECRET not in piped.stdout + piped.stderr
    listed = invoke_cli("connection", "list", *url, env=cli_env)
    assert any("minio" in line and " set " in line for line in listed.stdout.splitlines())


def test_errors_exit_non_zero_with_the_message(database: Database, cli_env: dict[str, str]) -> None:
    url = ["--database-url", database.url]
    missing = invoke_cli("connection", "create", "x", "--type", "s3", *url, env=cli_env)
    assert missing.returncode == 1 and "error: a connection of type 's3' needs a bucket" in missing.stderr
    unset = invoke_cli(
        "connection", "create", "x", "--type", "s3", "--bucket", "b-1", "--access-key-id", "AK",
        "--secret-access-key-env", "NOT_SET_ANYWHERE", *url, env=cli_env,
    )  # fmt: skip
    assert unset.returncode == 2 and "NOT_SET_ANYWHERE is not set" in unset.stderr
    builtin = invoke_cli("connection", "delete", "local", *url, env=cli_env)
    assert builtin.returncode == 1 and "cannot be deleted" in builtin.stderr
    gone = invoke_cli("connection", "delete", "nope", *url, env=cli_env)
    assert gone.returncode == 1 and "no data connection found for 'nope'" in gone.stderr
