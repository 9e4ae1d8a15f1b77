"""``modelreg user create|passwd|delete|list`` and ``modelreg seed --demo-users``: passwords never as arguments,
stored as Argon2 hashes only, every change audited as the CLI."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from sqlalchemy import select

from cli_runner import invoke_cli
from modelreg.db.database import Database
from modelreg.db.tables import audit_log, local_users
from modelreg.services.access import AccessService
from modelreg.services.users import UserService
from processes import MODELREG


def cli(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None, process: bool = False
) -> subprocess.CompletedProcess[str]:
    """``modelreg *args`` without the password variables of this environment, in this process unless ``process``
    (tests/cli_runner.py); stdin is never a terminal."""
    if not process:
        unset: dict[str, str | None] = {"MODELREG_USER_PASSWORD": None, "MODELREG_DEMO_PASSWORD": None}
        return invoke_cli(*args, env={**unset, **(env or {})}, input=stdin)
    environment = {k: v for k, v in os.environ.items() if k not in ("MODELREG_USER_PASSWORD", "MODELREG_DEMO_PASSWORD")}
    return subprocess.run(
        [*MODELREG, *args],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env={**environment, **(env or {})},
    )


def test_user_commands(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    db_args = ("--database-url", url)
    created = cli(
        "user",
        "create",
        "alice",
        "--group",
        "ml",
        "--group",
        "ops",
        "--password-stdin",
        *db_args,
        stdin="alice's first password\n",
        process=True,
    )
    assert created.returncode == 0, created.stderr
    assert "alice" in created.stderr
    by_env = cli("user", "create", "bob", *db_args, env={"MODELREG_USER_PASSWORD": "bob's password"})
    assert by_env.returncode == 0, by_env.stderr
    short = cli("user", "create", "carol", "--password-stdin", *db_args, stdin="short\n")
    assert short.returncode != 0
    assert "at least 8 characters" in short.stderr
    no_password = cli("user", "create", "dave", *db_args)  # stdin is not a terminal: no prompt possible
    assert no_password.returncode == 2
    assert "no password" in no_password.stderr
    taken = cli("user", "create", "alice", "--password-stdin", *db_args, stdin="another password\n")
    assert taken.returncode == 1
    assert "already exists" in taken.stderr

    listed = cli("user", "list", "--json", *db_args)
    assert listed.returncode == 0, listed.stderr
    users = {u["username"]: u for u in json.loads(listed.stdout)}
    assert set(users) == {"alice", "bob"}
    assert users["alice"]["groups"] == ["ml", "ops"]
    assert "password" not in listed.stdout and "argon2" not in listed.stdout

    changed = cli("user", "passwd", "alice", "--password-stdin", *db_args, stdin="alice's new password\n")
    assert changed.returncode == 0, changed.stderr
    deleted = cli("user", "delete", "bob", *db_args)
    assert deleted.returncode == 0, deleted.stderr
    again = cli("user", "delete", "bob", *db_args)
    assert again.returncode == 1
    assert "no local user 'bob'" in again.stderr

    db = Database(url)
    try:
        users_service = UserService(db)
        assert users_service.verify("alice", "alice's new password") is not None
        assert users_service.verify("alice", "alice's first password") is None
        assert [u.username for u in users_service.list()] == ["alice"]
        with db.read() as conn:
            hashes = list(conn.execute(select(local_users.c.password_hash)).scalars())
            records = conn.execute(
                select(audit_log.c.action, audit_log.c.entity_name, audit_log.c.via, audit_log.c.changes)
                .where(audit_log.c.entity_kind == "local_user")
                .order_by(audit_log.c.seq)
            ).all()
    finally:
        db.dispose()
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert [(r.action, r.entity_name, r.via) for r in records] == [
        ("create", "alice", "cli"),
        ("create", "bob", "cli"),
        ("update", "alice", "cli"),
        ("delete", "bob", "cli"),
    ]
    assert not any("password" in r.changes and "alice's" in r.changes for r in records)
    assert not any("$argon2" in r.changes for r in records)


def test_seed_demo_users(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    refused = cli("seed", "--demo-users", "--database-url", url)
    assert refused.returncode == 2
    assert "MODELREG_DEMO_PASSWORD" in refused.stderr
    first = cli(
        "seed", "--demo-users", "--database-url", url, env={"MODELREG_DEMO_PASSWORD": "demo password 1"}, process=True
    )
    assert first.returncode == 0, first.stderr
    assert "local user: ai-viewer" in first.stderr
    again = cli("seed", "--demo-users", "--password", "demo password 2", "--database-url", url)
    assert again.returncode == 0, again.stderr  # idempotent: the password is reset

    db = Database(url)
    try:
        users = UserService(db)
        assert {u.username: u.groups for u in users.list()} == {
            "ai-admin": ("rhoai-admins",),
            "ai-developer": ("rhoai-users",),
            "ai-viewer": (),
        }
        for name in ("ai-admin", "ai-developer", "ai-viewer"):
            assert users.verify(name, "demo password 2") is not None
            assert users.verify(name, "demo password 1") is None
        table = AccessService(db).binding_table()
    finally:
        db.dispose()
    assert {r.value for r in table[("user", "ai-viewer")]} == {"viewer"}
    assert {r.value for r in table[("group", "rhoai-admins")]} == {"admin"}
