"""``oci`` data connections through ``/api/storage/v1/connections`` and ``modelreg connection create``: the fields
and their validation, the password or dockerconfig staying write-only (responses, audit trail, logs), the check at
create against the real registry (wrong credentials, unreachable), and ``matching_oci``."""

from __future__ import annotations

import base64
import json
import logging
import socket
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from cli_runner import invoke_cli
from conftest import SQLITE_ONLY, ServerThread, empty
from governance.conftest import Governed
from modelreg.auth import context
from modelreg.db.tables import audit_log, data_connections
from modelreg.services.connections import ConnectionService

sqlite_only = getattr(pytest.mark, SQLITE_ONLY)("oci connections' rules, decided before the database")

STORAGE = "/api/storage/v1"
PASSWORD = "oci-pa55w0rd/Secret+value"
DOCKERCONFIG = json.dumps({"auths": {"quay.io": {"auth": base64.b64encode(b"robot:tok3n-secret-xyz").decode()}}})
QUAY: dict[str, Any] = {
    "name": "Quay",
    "type": "oci",
    "description": "the team's registry",
    "registry": "Quay.io",
    "repositoryPrefix": "/team-a/models/",
    "username": "robot",
    "password": PASSWORD,
}


def _admin(gov: Governed, check: bool = False) -> httpx.Client:
    client = gov.client("admin", prefix=STORAGE)
    if not check:
        client.params = client.params.set("check", "false")
    return client


def _service(server: ServerThread) -> ConnectionService:
    return server.app.state.connections  # type: ignore[attr-defined, no-any-return]


def test_create_get_list_and_resolve_with_a_password(gov: Governed, auth_server: ServerThread) -> None:
    api = _admin(gov)
    created = api.post("/connections", json=QUAY)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["type"] == "oci" and body["registry"] == "quay.io"  # host names are case-insensitive
    assert body["repositoryPrefix"] == "team-a/models" and body["username"] == "robot"
    assert body["hasSecret"] is True and body["secretKind"] == "password" and body["plainHttp"] is False
    assert not {"bucket", "endpoint", "accessKeyId", "password", "dockerconfig"} & set(body)
    assert api.get("/connections/Quay").json() == body
    assert [c["name"] for c in api.get("/connections").json()["items"]] == ["local", "Quay"]
    with gov.database.read() as conn:
        stored = conn.execute(select(data_connections.c.secret_ciphertext)).scalar_one()
    assert PASSWORD not in stored

    with context.acting_as(context.cli_context()):
        config = _service(auth_server).resolve("Quay")
    assert (config.type, config.registry, config.prefix, config.plain_http) == (
        "oci",
        "quay.io",
        "team-a/models",
        False,
    )
    assert (config.access_key_id, config.secret_access_key, config.dockerconfig) == ("robot", PASSWORD, None)
    assert PASSWORD not in repr(config)


@sqlite_only
def test_a_dockerconfig_instead_of_a_password(gov: Governed, auth_server: ServerThread) -> None:
    api = _admin(gov)
    body = {
        "name": "pull",
        "type": "oci",
        "registry": "127.0.0.1:5000",
        "dockerconfig": DOCKERCONFIG,
        "plainHttp": True,
    }
    created = api.post("/connections", json=body)
    assert created.status_code == 201, created.text
    shown = created.json()
    assert shown["hasSecret"] is True and shown["secretKind"] == "dockerconfig" and shown["plainHttp"] is True
    assert shown["username"] is None and "tok3n" not in created.text and "auths" not in created.text
    with context.acting_as(context.cli_context()):
        config = _service(auth_server).resolve("pull")
    assert config.dockerconfig == DOCKERCONFIG and config.secret_access_key is None and config.plain_http is True
    assert "tok3n" not in repr(config)
    anonymous = api.post("/connections", json={"name": "public", "type": "oci", "registry": "ghcr.io"})
    assert anonymous.status_code == 201 and anonymous.json()["hasSecret"] is False


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"registry": "https://quay.io"}, "invalid registry"),
        ({"registry": "quay.io/team"}, "invalid registry"),
        ({"registry": "robot:pw@quay.io"}, "invalid registry"),
        ({"registry": "quay.io:99999"}, "invalid registry"),
        ({"registry": "quay.io:"}, "invalid registry"),
        ({"registry": ""}, "needs a registry"),
        ({"repositoryPrefix": "Team/Models"}, "invalid repositoryPrefix"),
        ({"repositoryPrefix": "team//models"}, "invalid repositoryPrefix"),
        ({"repositoryPrefix": "team/../x"}, "invalid repositoryPrefix"),
        ({"username": None}, "give both username and password"),
        ({"password": None}, "give both username and password"),
        ({"dockerconfig": DOCKERCONFIG}, "not both"),
        ({"username": None, "password": None, "dockerconfig": "{not json"}, "invalid dockerconfig"),
        ({"username": None, "password": None, "dockerconfig": '{"auths": {}}'}, "invalid dockerconfig"),
        ({"username": None, "password": None, "dockerconfig": '["auths"]'}, "invalid dockerconfig"),
        ({"bucket": "models"}, "does not take bucket"),
        ({"accessKeyId": "AKID", "secretAccessKey": "x"}, "does not take accessKeyId, secretAccessKey"),
    ],
)
@sqlite_only
def test_invalid_fields_are_refused_without_the_secret(gov: Governed, change: dict[str, Any], message: str) -> None:
    response = _admin(gov).post("/connections", json={**QUAY, **change})
    assert response.status_code == (422 if "needs" in message else 400), response.text  # a missing field: 422
    assert message in response.json()["message"]
    assert PASSWORD not in response.text and "tok3n" not in response.text
    assert _admin(gov).get("/connections/Quay").status_code == 404


@sqlite_only
def test_s3_connections_do_not_take_oci_fields(gov: Governed) -> None:
    response = _admin(gov).post(
        "/connections", json={"name": "b", "type": "s3", "bucket": "models", "registry": "quay.io", "plainHttp": True}
    )
    assert response.status_code == 400 and "does not take plainHttp, registry" in response.json()["message"]


@sqlite_only
def test_audited_with_the_secret_as_set(gov: Governed, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    api = _admin(gov)
    assert api.post("/connections", json=QUAY).status_code == 201
    assert api.delete("/connections/Quay").status_code == 200
    with gov.database.read() as conn:
        rows = [dict(r) for r in conn.execute(select(audit_log).order_by(audit_log.c.seq)).mappings()]
    records = [r for r in rows if r["entity_kind"] == "data_connection"]
    assert [r["action"] for r in records] == ["create", "delete"]
    assert '"secret":"set"' in records[0]["changes"] and '"registry":"quay.io"' in records[0]["changes"]
    assert '"repositoryPrefix":"team-a/models"' in records[0]["changes"]
    for record in rows:
        assert PASSWORD not in str(record)
    assert "data connection 'Quay' (type oci) created" in caplog.text and PASSWORD not in caplog.text


@sqlite_only
def test_a_developer_cannot_create_one(gov: Governed) -> None:
    response = gov.client("developer", prefix=STORAGE).post("/connections", params={"check": "false"}, json=QUAY)
    assert response.status_code == 403


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@sqlite_only
def test_the_check_names_an_unreachable_registry(gov: Governed) -> None:
    registry = f"127.0.0.1:{_closed_port()}"
    body = {"name": "down", "type": "oci", "registry": registry, "plainHttp": True}
    response = _admin(gov, check=True).post("/connections", json=body)
    assert response.status_code == 400, response.text
    message = response.json()["message"]
    assert "failed its check" in message and registry in message and "check=false" in message
    assert _admin(gov).get("/connections/down").status_code == 404
    skipped = _admin(gov).post("/connections", json=body)
    assert skipped.status_code == 201


@sqlite_only
def test_matching_oci_follows_registry_and_prefix(gov: Governed, auth_server: ServerThread) -> None:
    api = _admin(gov)
    for name, prefix in (("team-a", "team-a"), ("any", None), ("team-b", "team-b/models")):
        body = {"name": name, "type": "oci", "registry": "quay.io", "repositoryPrefix": prefix}
        assert api.post("/connections", json=body).status_code == 201
    assert api.post("/connections", json={"name": "other", "type": "oci", "registry": "ghcr.io"}).status_code == 201
    service = _service(auth_server)
    with context.acting_as(context.cli_context()):
        assert _name(service.matching_oci("quay.io", "team-a/bert")) == "team-a"
        assert _name(service.matching_oci("quay.io", "team-ab/bert")) == "any"  # a prefix covers whole components
        assert _name(service.matching_oci("Quay.IO", "team-b/models/bert")) == "any"  # "any" was made first
        assert _name(service.matching_oci("ghcr.io", "x/y")) == "other"
        assert service.matching_oci("docker.io", "library/busybox") is None
        assert service.matching_oci("quay.io:8443", "team-a/bert") is None  # another port is another registry


def _name(found: tuple[str, Any] | None) -> str | None:
    return None if found is None else found[0]


@sqlite_only
def test_cli_creates_with_secrets_from_the_environment(database: Any, tmp_path: Any) -> None:
    empty(database)
    env = {"MODELREG_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "300", "PW": PASSWORD, "DC": DOCKERCONFIG}
    url = ["--database-url", database.url]
    created = invoke_cli(
        "connection", "create", "quay", "--type", "oci", "--registry", "quay.io", "--repository-prefix", "team-a",
        "--username", "robot", "--password-env", "PW", "--no-check", *url, env=env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert "'quay' (oci) created" in created.stderr
    pull = invoke_cli(
        "connection", "create", "pull", "--type", "oci", "--registry", "127.0.0.1:5000", "--dockerconfig-env", "DC",
        "--plain-http", "--no-check", *url, env=env,
    )  # fmt: skip
    assert pull.returncode == 0, pull.stderr
    missing = invoke_cli(
        "connection", "create", "x", "--type", "oci", "--registry", "quay.io", "--username", "u",
        "--password-env", "UNSET_VARIABLE", "--no-check", *url, env=env,
    )  # fmt: skip
    assert missing.returncode == 2 and "UNSET_VARIABLE is not set" in missing.stderr
    listed = invoke_cli("connection", "list", *url, env=env)
    assert listed.returncode == 0, listed.stderr
    assert any(
        "oci://quay.io/team-a" in line and "robot" in line and " set " in line for line in listed.stdout.splitlines()
    )
    assert any("oci://127.0.0.1:5000/ (plain http)" in line for line in listed.stdout.splitlines())
    as_json = json.loads(invoke_cli("connection", "list", "--json", *url, env=env).stdout)
    quay = next(c for c in as_json if c["name"] == "quay")
    assert quay["repositoryPrefix"] == "team-a" and quay["secretKind"] == "password"
    for result in (created, pull, listed):
        assert PASSWORD not in result.stdout + result.stderr and "tok3n" not in result.stdout + result.stderr
