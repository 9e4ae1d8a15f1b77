"""Role bindings and API tokens through the governance REST API (admin only) and the CLI; ``modelreg seed``."""

from __future__ import annotations

import re
import subprocess
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from cli_runner import invoke_cli, process_on_sqlite
from governance.conftest import BINDINGS, GOVERNANCE, Governed
from modelreg.app import create_app
from modelreg.auth import context
from modelreg.db.tables import api_tokens, audit_log, registered_models, role_bindings
from modelreg.services.seed import DEMO_BINDINGS, DEMO_MODEL
from modelreg.settings import Settings
from processes import MODELREG

TOKEN = re.compile(r"mrt_[A-Za-z0-9_-]{20,}")
WIDE = {"COLUMNS": "250"}  # rich tables: no truncated cells


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (response.request.method, str(response.request.url), response.text)
    return response.json()


def refused(response: httpx.Response, status: int | tuple[int, ...], *fragments: str) -> str:
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, (response.request.method, str(response.request.url), response.text)
    body = response.json()
    assert set(body) == {"code", "message"}, body
    for fragment in fragments:
        assert fragment in body["message"], (fragment, body)
    return body["message"]


def cli(gov: Governed, *args: str, expect: int = 0, process: bool = False) -> subprocess.CompletedProcess[str]:
    """``modelreg *args`` on the test database, in this process unless ``process`` (then a real process on SQLite:
    tests/cli_runner.py)."""
    run = process_on_sqlite(gov.database.url) if process else invoke_cli
    result = run(*args, "--database-url", gov.database.url, env=WIDE)
    assert result.returncode == expect, (args, result.returncode, result.stdout, result.stderr)
    return result


def subjects(gov: Governed) -> list[tuple[str, str, str]]:
    return sorted((b.subject_kind, b.subject, b.role) for b in gov.access.list_bindings())


def counts(gov: Governed) -> tuple[int, int, int]:
    with gov.database.read() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (role_bindings, api_tokens, audit_log)
        )


# --- role bindings over REST -----------------------------------------------------------------------------------


def test_rolebindings_crud(gov: Governed) -> None:
    admin = gov.governance("admin")
    listed = ok(admin.get("/rolebindings"))["items"]
    assert sorted((b["subjectKind"], b["subject"], b["role"]) for b in listed) == sorted(BINDINGS)
    assert [b["subject"] for b in ok(admin.get("/rolebindings", params={"subject": "ai-admin"}))["items"]] == [
        "ai-admin"
    ]
    assert sorted(b["subject"] for b in ok(admin.get("/rolebindings", params={"role": "developer"}))["items"]) == [
        "ai-developer",
        "rhoai-users",
    ]

    created = ok(admin.post("/rolebindings", json={"subjectKind": "user", "subject": "newbie", "role": "viewer"}), 201)
    assert {k: created[k] for k in ("subjectKind", "subject", "role", "createdBy")} == {
        "subjectKind": "user",
        "subject": "newbie",
        "role": "viewer",
        "createdBy": "ai-admin",
    }
    assert created["id"].isdigit() and created["createTimeSinceEpoch"].isdigit()
    refused(
        admin.post("/rolebindings", json={"subjectKind": "user", "subject": "newbie", "role": "viewer"}),
        409,
        "newbie",
    )
    # another role for the same subject, and the same name as a group, are different bindings
    ok(admin.post("/rolebindings", json={"subjectKind": "user", "subject": "newbie", "role": "developer"}), 201)
    ok(admin.post("/rolebindings", json={"subjectKind": "group", "subject": "newbie", "role": "viewer"}), 201)

    before = subjects(gov)
    for body, fragment in [
        ({"subjectKind": "user", "subject": "x", "role": "superuser"}, "role"),
        ({"subjectKind": "team", "subject": "x", "role": "viewer"}, "subjectKind"),
        ({"subjectKind": "user", "subject": "", "role": "viewer"}, "subject"),
        ({"subjectKind": "user", "subject": "x"}, "role"),
        ({"subjectKind": "user", "subject": "x", "role": "viewer", "extra": 1}, "extra"),
    ]:
        refused(admin.post("/rolebindings", json=body), (400, 422), fragment)
    message = refused(admin.post("/rolebindings", json={"subjectKind": "user", "subject": "x", "role": "root"}), 400)
    assert "admin" in message and "developer" in message and "viewer" in message, message  # says what is allowed
    refused(admin.post("/rolebindings", json={"subjectKind": "user", "subject": " x", "role": "viewer"}), 400)
    assert subjects(gov) == before

    deleted = ok(admin.delete(f"/rolebindings/{created['id']}"))
    assert deleted["id"] == created["id"] and deleted["subject"] == "newbie"
    refused(admin.delete(f"/rolebindings/{created['id']}"), 404)
    refused(admin.delete("/rolebindings/abc"), 400)
    assert ("user", "newbie", "viewer") not in subjects(gov)


def test_binding_changes_take_effect_on_the_next_request(gov: Governed) -> None:
    admin = gov.governance("admin")
    with context.acting_as(context.cli_context()):
        secret, _ = gov.access.create_token("newbie", ["ml-team"])
    newbie = gov.client(None, token=secret)
    refused(newbie.get("/registered_models"), 403, "no role binding", "'read'")

    viewer = ok(admin.post("/rolebindings", json={"subjectKind": "user", "subject": "newbie", "role": "viewer"}), 201)
    assert ok(newbie.get("/registered_models"))["items"] == []
    refused(newbie.post("/registered_models", json={"name": "m"}), 403, "viewer", "'write'")

    team = ok(
        admin.post("/rolebindings", json={"subjectKind": "group", "subject": "ml-team", "role": "developer"}), 201
    )
    ok(newbie.post("/registered_models", json={"name": "m"}), 201)
    me = ok(gov.governance(None).get("/whoami", headers={"Authorization": f"Bearer {secret}"}))
    assert (me["user"], me["groups"], me["roles"]) == ("newbie", ["ml-team"], ["developer", "viewer"])

    ok(admin.delete(f"/rolebindings/{team['id']}"))
    refused(newbie.post("/registered_models", json={"name": "m2"}), 403, "'write'")
    ok(admin.delete(f"/rolebindings/{viewer['id']}"))
    refused(newbie.get("/registered_models"), 403, "'read'")

    # a change made by another process (the CLI on the database) counts as soon, the fixture caches nothing
    cli(gov, "rolebinding", "create", "--role", "viewer", "--user", "newbie")
    assert ok(newbie.get("/registered_models"))["items"][0]["name"] == "m"


# --- tokens over REST ------------------------------------------------------------------------------------------


def test_tokens_create_list_revoke(gov: Governed) -> None:
    admin = gov.governance("admin")
    started = time.time() * 1000
    created = ok(
        admin.post("/tokens", json={"user": "bot", "groups": ["rhoai-users"], "expiresIn": "30d", "description": "ci"}),
        201,
    )
    secret = created["token"]
    assert TOKEN.fullmatch(secret), secret
    assert (created["user"], created["groups"], created["description"], created["createdBy"], created["active"]) == (
        "bot",
        ["rhoai-users"],
        "ci",
        "ai-admin",
        True,
    )
    assert created["revokeTimeSinceEpoch"] is None
    expires_in = int(created["expireTimeSinceEpoch"]) - started
    assert 30 * 86400_000 - 60_000 < expires_in < 30 * 86400_000 + 60_000, expires_in

    listed = ok(admin.get("/tokens"))["items"]
    assert all("token" not in item for item in listed) and secret not in str(listed)
    mine = ok(admin.get("/tokens", params={"user": "bot"}))["items"]
    assert [t["id"] for t in mine] == [created["id"]]
    assert {k: v for k, v in mine[0].items()} == {k: v for k, v in created.items() if k != "token"}

    me = ok(gov.governance(None).get("/whoami", headers={"Authorization": f"Bearer {secret}"}))
    assert (me["user"], me["groups"], me["method"], me["roles"]) == ("bot", ["rhoai-users"], "token", ["developer"])

    revoked = ok(admin.delete(f"/tokens/{created['id']}"))
    assert revoked["active"] is False and revoked["revokeTimeSinceEpoch"] is not None
    assert ok(admin.delete(f"/tokens/{created['id']}"))["revokeTimeSinceEpoch"] == revoked["revokeTimeSinceEpoch"]
    refused(gov.governance(None).get("/whoami", headers={"Authorization": f"Bearer {secret}"}), 401, "revoked")
    assert created["id"] not in [t["id"] for t in ok(admin.get("/tokens"))["items"]]
    everything = ok(admin.get("/tokens", params={"includeInactive": "true"}))["items"]
    assert created["id"] in [t["id"] for t in everything] and secret not in str(everything)

    refused(admin.delete("/tokens/999999"), 404)
    for body, fragment in [
        ({"user": "bot", "expiresIn": "soon"}, "expiresIn"),
        ({"user": "bot", "expiresIn": "0d"}, "expiresIn"),
        ({"user": "bot", "expiresIn": "-1d"}, "expiresIn"),
        ({"user": ""}, "user"),
        ({"groups": ["x"]}, "user"),
        ({"user": "bot", "token": "mrt_chosen"}, "token"),
    ]:
        refused(admin.post("/tokens", json=body), (400, 422), fragment)


ACCESS_ENDPOINTS = [
    (method.upper(), path[len(GOVERNANCE) :])
    for path, operations in create_app(Settings(database_url="sqlite://")).openapi()["paths"].items()
    if path.startswith((GOVERNANCE + "/rolebindings", GOVERNANCE + "/tokens"))
    for method in operations
]


CALLERS_USER = {"developer": "ai-developer", "group-developer": "group-dev", "viewer": "ai-viewer", "nobody": "nobody"}


def test_access_endpoints_are_all_found() -> None:
    assert sorted(ACCESS_ENDPOINTS) == sorted(
        [
            ("GET", "/rolebindings"),
            ("POST", "/rolebindings"),
            ("DELETE", "/rolebindings/{bindingId}"),
            ("GET", "/tokens"),
            ("POST", "/tokens"),
            ("DELETE", "/tokens/{tokenId}"),
        ]
    )


@pytest.mark.sqlite_only("role checks, decided from the binding table")
@pytest.mark.parametrize("caller", ["developer", "group-developer", "viewer", "nobody"])
@pytest.mark.parametrize(("method", "template"), ACCESS_ENDPOINTS, ids=[f"{m} {t}" for m, t in ACCESS_ENDPOINTS])
def test_access_endpoints_are_admin_only(gov: Governed, caller: str, method: str, template: str) -> None:
    binding_id = str(gov.access.list_bindings(subject="ai-viewer")[0].id)
    token_id = str(gov.access.list_tokens(user="ai-viewer")[0].id)
    path = template.replace("{bindingId}", binding_id).replace("{tokenId}", token_id)
    body = None
    if method == "POST":
        body = (
            {"subjectKind": "user", "subject": CALLERS_USER[caller], "role": "admin"}
            if "rolebindings" in template
            else {"user": "ai-admin"}
        )
    before = counts(gov)
    response = gov.governance(caller).request(method, path, json=body)
    if caller == "nobody":
        permission = "read" if method == "GET" else "write"
    elif caller == "viewer" and method != "GET":
        permission = "write"
    else:
        permission = "manage"
    message = refused(response, 403, f"'{permission}' permission")
    assert "mrt_" not in response.text, message
    assert counts(gov) == before
    assert ok(gov.registry("viewer").get("/registered_models"))["items"] == []  # the viewer's binding still works


# --- the CLI ---------------------------------------------------------------------------------------------------


@pytest.mark.sqlite_only("what the command prints, in a shell pipeline (tokens on every backend: below)")
def test_cli_token_create_prints_only_the_token(gov: Governed) -> None:
    script = 'token="$("$@")" || exit $?; printf "%s" "$token"'
    args = ["token", "create", "--user", "cli-user", "--group", "rhoai-users", "--expires-in", "1d"]
    result = subprocess.run(
        ["bash", "-c", script, "-", *MODELREG, *args, "--database-url", gov.database.url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    secret = result.stdout
    assert TOKEN.fullmatch(secret), repr(secret)
    assert "cli-user" in result.stderr and secret not in result.stderr  # the note goes to stderr, without the token
    me = ok(gov.governance(None).get("/whoami", headers={"Authorization": f"Bearer {secret}"}))
    assert (me["user"], me["groups"], me["method"], me["roles"]) == (
        "cli-user",
        ["rhoai-users"],
        "token",
        ["developer"],
    )
    ok(gov.client(None, token=secret).post("/registered_models", json={"name": "from-cli-token"}), 201)
    (info,) = gov.access.list_tokens(user="cli-user")
    assert info.created_by and info.created_by.startswith("cli:")
    assert info.expire_time is not None
    assert abs(info.expire_time - (info.create_time + 86400_000)) < 1000


def test_cli_token_list_and_revoke(gov: Governed) -> None:
    secret = cli(gov, "token", "create", "--user", "cli-user", "--description", "for the list").stdout.strip()
    assert TOKEN.fullmatch(secret)
    (info,) = gov.access.list_tokens(user="cli-user")
    listed = cli(gov, "token", "list").stdout
    assert "cli-user" in listed and "for the list" in listed and "ai-admin" in listed
    assert "mrt_" not in listed
    only = cli(gov, "token", "list", "--user", "cli-user").stdout
    assert "cli-user" in only and "ai-admin" not in only

    client = gov.client(None, token=secret)
    refused(client.get("/registered_models"), 403, "no role binding")  # authenticated, but no binding yet
    with context.acting_as(context.cli_context()):
        gov.access.create_binding("user", "cli-user", "viewer")
    ok(client.get("/registered_models"))

    revoked = cli(gov, "token", "revoke", str(info.id))
    assert "revoked" in revoked.stderr and secret not in revoked.stdout + revoked.stderr
    refused(client.get("/registered_models"), 401, "revoked")
    assert "cli-user" not in cli(gov, "token", "list").stdout
    assert "cli-user" in cli(gov, "token", "list", "--all").stdout
    missing = cli(gov, "token", "revoke", "999999", expect=1)
    assert "no API token found" in missing.stderr


def test_cli_rolebindings(gov: Governed) -> None:
    with context.acting_as(context.cli_context()):
        secret, _ = gov.access.create_token("cli-user")
    client = gov.client(None, token=secret)
    refused(client.get("/registered_models"), 403)

    created = cli(gov, "rolebinding", "create", "--role", "developer", "--user", "cli-user", process=True)
    assert "cli-user" in created.stderr and "developer" in created.stderr
    ok(client.post("/registered_models", json={"name": "m"}), 201)
    cli(gov, "rolebinding", "create", "--role", "viewer", "--group", "cli-group")
    listed = cli(gov, "rolebinding", "list").stdout
    for _, subject, role in [*BINDINGS, ("user", "cli-user", "developer"), ("group", "cli-group", "viewer")]:
        assert subject in listed and role in listed, (subject, listed)
    only = cli(gov, "rolebinding", "list", "--subject", "cli-user").stdout
    assert "cli-user" in only and "ai-admin" not in only

    duplicate = cli(gov, "rolebinding", "create", "--role", "developer", "--user", "cli-user", expect=1)
    assert "already" in duplicate.stderr
    bad_role = cli(gov, "rolebinding", "create", "--role", "root", "--user", "cli-user", expect=1)
    assert "invalid role" in bad_role.stderr
    cli(gov, "rolebinding", "create", "--role", "viewer", "--user", "a", "--group", "b", expect=2)

    (binding,) = [b for b in gov.access.list_bindings(subject="cli-user")]
    deleted = cli(gov, "rolebinding", "delete", str(binding.id))
    assert "removed" in deleted.stderr
    refused(client.get("/registered_models"), 403, "no role binding")

    with gov.database.read() as conn:
        vias = conn.execute(
            select(audit_log.c.via, audit_log.c.action).where(audit_log.c.entity_kind == "role_binding")
        ).all()
    assert ("cli", "create") in {tuple(v) for v in vias} and ("cli", "delete") in {tuple(v) for v in vias}


def test_seed_creates_the_demo_bindings_idempotently(gov: Governed) -> None:
    with context.acting_as(context.cli_context()):
        for binding in gov.access.list_bindings():
            if (binding.subject_kind, binding.subject, binding.role) in DEMO_BINDINGS:
                gov.access.delete_binding(binding.id)
    assert subjects(gov) == [("user", "ai-viewer", "viewer")]
    assert sorted(DEMO_BINDINGS) == sorted(
        [
            ("user", "ai-admin", "admin"),
            ("group", "rhoai-admins", "admin"),
            ("user", "ai-developer", "developer"),
            ("group", "rhoai-users", "developer"),
        ]
    )
    expected = sorted([*DEMO_BINDINGS, ("user", "ai-viewer", "viewer")])
    for _ in range(2):
        cli(gov, "seed")
        assert subjects(gov) == expected
        with gov.database.read() as conn:
            models = conn.execute(select(registered_models.c.name)).scalars().all()
        assert models == [DEMO_MODEL]
    ok(gov.registry("group-admin").get("/registered_models"))
    me = ok(gov.governance("group-developer").get("/whoami"))
    assert me["roles"] == ["developer"]
