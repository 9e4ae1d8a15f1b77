"""``modelreg webhook ...`` on the database directly, on every backend: the whole flow against a real receiver, the
secret printed once (stdout, with a warning on stderr) and nowhere else, errors as ``error: ...`` with exit 1. The
first create is a process (on SQLite), the other calls run in this process (tests/cli_runner.py)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from cli_runner import invoke_cli, process_on_sqlite
from conftest import empty
from events.receivers import Receiver
from modelreg.db.database import Database
from modelreg.db.tables import audit_log
from modelreg.events import signing


def _env(database: Database, tmp_path: Path) -> dict[str, str]:
    empty(database)
    return {
        "MODELREG_DATA_DIR": str(tmp_path / "data"),
        "MODELREG_DATABASE_URL": database.url,
        "MODELREG_EVENTS__ALLOW_HTTP": "true",
        "MODELREG_EVENTS__ALLOWED_NETWORKS": "127.0.0.0/8",
        "COLUMNS": "300",
    }


def _signed_last(receiver: Receiver, secret: str) -> bool:
    last = receiver.received().requests[-1]
    return signing.verify(secret, last.headers, last.body)


def test_create_test_rotate_and_delete(events_database: Database, tmp_path: Path, receiver: Receiver) -> None:
    database, cli_env = events_database, _env(events_database, tmp_path)
    created = process_on_sqlite(database.url)(
        "webhook", "create", "ci", "--url", f"{receiver.url}?token=abc",
        "-e", "io.modelreg.model_version.*", "-e", "io.modelreg.upload.committed", "--stage-filter", "production",
        env=cli_env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert secret.startswith("whsec_") and "shown this once: store it now" in created.stderr

    listed = invoke_cli("webhook", "list", env=cli_env)
    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if "io.modelreg.upload.committed" in line)
    assert "ci" in line and "active" in line and "production" in line and "io.modelreg.model_version.*" in line
    got = json.loads(invoke_cli("webhook", "get", "ci", "--json", env=cli_env).stdout)
    assert got["url"] == f"{receiver.url}?token=abc" and got["stageFilter"] == "production"
    assert "secret" not in got

    tested = invoke_cli("webhook", "test", "ci", env=cli_env)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "HTTP 200" in tested.stdout and _signed_last(receiver, secret)

    receiver.script(lambda _request, _attempt: 500)
    failing = invoke_cli("webhook", "test", "ci", "--json", env=cli_env)
    assert failing.returncode == 1 and json.loads(failing.stdout)["statusCode"] == 500
    deliveries = invoke_cli("webhook", "deliveries", "ci", "--limit", "1", env=cli_env)
    assert deliveries.returncode == 0 and "500" in deliveries.stdout and "--page-token" in deliveries.stderr
    tests = json.loads(invoke_cli("webhook", "deliveries", "ci", "--state", "test", "--json", env=cli_env).stdout)
    assert [d["statusCode"] for d in tests["items"]] == [500, 200] and tests["nextPageToken"] == ""

    updated = invoke_cli(
        "webhook", "update", "ci", "--inactive", "--stage-filter", "", "--description", "CD", "--json", env=cli_env
    )
    assert updated.returncode == 0, updated.stderr
    assert json.loads(updated.stdout)["state"] == "inactive" and json.loads(updated.stdout)["stageFilter"] is None
    resumed = invoke_cli("webhook", "resume", "ci", env=cli_env)
    assert resumed.returncode == 0 and "resumed" in resumed.stderr

    rotated = invoke_cli("webhook", "rotate-secret", "ci", "--json", env=cli_env)
    assert rotated.returncode == 0, rotated.stderr
    new_secret = json.loads(rotated.stdout)["secret"]
    assert new_secret.startswith("whsec_") and new_secret != secret
    receiver.script(lambda _request, _attempt: 204)
    assert invoke_cli("webhook", "test", "ci", env=cli_env).returncode == 0
    assert _signed_last(receiver, new_secret) and not _signed_last(receiver, secret)

    deleted = invoke_cli("webhook", "delete", "ci", env=cli_env)
    assert deleted.returncode == 0 and "'ci' deleted" in deleted.stderr
    missing = invoke_cli("webhook", "get", "ci", env=cli_env)
    assert missing.returncode == 1 and "error: no webhook found for 'ci'" in missing.stderr

    with database.read() as conn:
        records = conn.execute(
            select(audit_log.c.actor, audit_log.c.via, audit_log.c.action, audit_log.c.changes)
            .where(audit_log.c.entity_kind == "webhook")
            .order_by(audit_log.c.seq)
        ).all()
    assert [r.action for r in records] == ["create", "update", "resume", "rotate_secret", "delete"]
    assert all(r.actor.startswith("cli:") and r.via == "cli" for r in records)
    everything = [listed, tested, failing, deliveries, updated, resumed, deleted]
    for output in [r.changes for r in records] + [r.stdout + r.stderr for r in everything]:
        assert secret not in output and new_secret not in output


def test_refusals_are_errors(sqlite_events_database: Database, tmp_path: Path) -> None:
    cli_env = _env(sqlite_events_database, tmp_path)
    plain = invoke_cli(
        "webhook",
        "create",
        "ci",
        "--url",
        "http://ci.example.com/",
        env={**cli_env, "MODELREG_EVENTS__ALLOW_HTTP": "false"},
    )
    assert plain.returncode == 1 and "error: webhook URL refused: the scheme must be https" in plain.stderr
    unknown = invoke_cli(
        "webhook", "create", "ci", "--url", "https://ci.example.com/", "-e", "io.modelreg.nope", env=cli_env
    )
    assert unknown.returncode == 1 and "unknown event type pattern 'io.modelreg.nope'" in unknown.stderr
    assert plain.stdout == unknown.stdout == ""  # no secret for a webhook that was not made
    bad_state = invoke_cli("webhook", "deliveries", "ci", "--state", "lost", env=cli_env)
    assert bad_state.returncode == 1 and "error:" in bad_state.stderr
