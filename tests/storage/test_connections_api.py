"""``/api/storage/v1/connections`` on every backend, with callers of every role: CRUD, permissions, validation, and
the secret access key staying write-only (not in responses, the audit trail, the logs or a ``repr``)."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from conftest import ServerThread
from governance.conftest import Governed
from modelreg.auth import context
from modelreg.db.tables import audit_log, data_connections
from modelreg.services.connections import ConnectionService
from modelreg.services.secrets import SecretBox, SecretKeyError, generate_key

STORAGE = "/api/storage/v1"
SECRET = "s3cr3t-Sup3r/Secret+Key=value"
MINIO: dict[str, Any] = {
    "name": "MinIO Storage",
    "type": "s3",
    "description": "the platform's bucket",
    "endpoint": "http://minio.storage.svc:9000",
    "region": "us-east-1",
    "bucket": "models",
    "prefix": "/team-a/registry/",
    "pathStyle": True,
    "accessKeyId": "AKIAEXAMPLE",
    "secretAccessKey": SECRET,
}


def _admin(gov: Governed) -> httpx.Client:
    """An admin's client. The connections here name hosts that do not exist (and AWS, which is not reachable from
    tests), so creates skip the store check; tests/storage/test_hardening.py covers the check itself."""
    client = gov.client("admin", prefix=STORAGE)
    client.params = client.params.set("check", "false")
    return client


def test_admin_creates_lists_gets_and_deletes(gov: Governed) -> None:
    api = _admin(gov)
    created = api.post("/connections", json=MINIO)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "MinIO Storage" and body["type"] == "s3" and body["builtIn"] is False
    assert body["prefix"] == "team-a/registry"  # normalised
    assert body["pathStyle"] is True and body["accessKeyId"] == "AKIAEXAMPLE" and body["hasSecret"] is True
    assert body["createdBy"] == "ai-admin" and int(body["createTimeSinceEpoch"]) > 0
    assert "secretAccessKey" not in body
    web = api.post("/connections", json={"name": "hub", "type": "uri", "baseUrl": "https://example.com/models/"})
    assert web.status_code == 201, web.text
    assert web.json()["baseUrl"] == "https://example.com/models/" and "hasSecret" not in web.json()
    anonymous = api.post("/connections", json={"name": "public", "type": "s3", "bucket": "open-data"})
    assert anonymous.json()["hasSecret"] is False

    listed = api.get("/connections")
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert [c["name"] for c in items] == ["local", "MinIO Storage", "hub", "public"]
    assert items[0]["builtIn"] is True and items[0]["type"] == "local" and items[0]["directory"].endswith("artifacts")

    got = api.get("/connections/MinIO Storage")
    assert got.status_code == 200 and got.json() == body
    assert api.get("/connections/local").json()["builtIn"] is True

    deleted = api.delete("/connections/MinIO Storage")
    assert deleted.status_code == 200 and deleted.json()["name"] == "MinIO Storage"
    missing = api.get("/connections/MinIO Storage")
    assert missing.status_code == 404 and "no data connection found" in missing.json()["message"]
    assert api.delete("/connections/MinIO Storage").status_code == 404
    assert [c["name"] for c in api.get("/connections").json()["items"]] == ["local", "hub", "public"]
    for response in (created, listed, got, deleted):
        assert SECRET not in response.text


def test_the_built_in_connection_cannot_be_deleted_or_shadowed(gov: Governed) -> None:
    api = _admin(gov)
    gone = api.delete("/connections/local")
    assert gone.status_code == 409 and "built-in" in gone.json()["message"]
    taken = api.post("/connections", json={"name": "local", "type": "local", "directory": "/srv/models"})
    assert taken.status_code == 409 and "reserved" in taken.json()["message"]


@pytest.mark.parametrize("caller", ["developer", "viewer", "group-developer"])
def test_only_admins_create_and_delete_but_everyone_reads(gov: Governed, caller: str) -> None:
    assert _admin(gov).post("/connections", json=MINIO).status_code == 201
    api = gov.client(caller, prefix=STORAGE)
    denied = api.post("/connections", json={**MINIO, "name": "mine"})
    assert denied.status_code == 403 and "lacks the" in denied.json()["message"]
    denied = api.delete("/connections/MinIO Storage")
    assert denied.status_code == 403
    listed = api.get("/connections")
    assert listed.status_code == 200 and len(listed.json()["items"]) == 2 and SECRET not in listed.text
    assert api.get("/connections/MinIO Storage").json()["hasSecret"] is True


def test_callers_without_a_role_or_credentials_see_nothing(gov: Governed) -> None:
    assert gov.client("nobody", prefix=STORAGE).get("/connections").status_code == 403
    assert gov.client(None, prefix=STORAGE).get("/connections").status_code == 401


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"name": "a", "type": "s3"}, 422, "needs a bucket"),
        ({"name": "a", "type": "s3", "bucket": "Bad_Bucket"}, 400, "invalid bucket"),
        ({"name": "a", "type": "s3", "bucket": "b-1", "accessKeyId": "AK"}, 400, "both accessKeyId and secret"),
        ({"name": "a", "type": "s3", "bucket": "b-1", "secretAccessKey": SECRET}, 400, "both accessKeyId and"),
        ({"name": "a", "type": "s3", "bucket": "b-1", "endpoint": "minio:9000"}, 400, "http:// or https:// URL"),
        (
            {"name": "a", "type": "s3", "bucket": "b-1", "endpoint": "https://ak:sk@minio:9000"},
            400,
            "must not contain credentials",
        ),
        ({"name": "a", "type": "s3", "bucket": "b-1", "prefix": "a/../b"}, 400, "invalid prefix"),
        ({"name": "a", "type": "s3", "bucket": "b-1", "baseUrl": "https://x.org"}, 400, "does not take baseUrl"),
        ({"name": "a", "type": "uri"}, 422, "needs a baseUrl"),
        ({"name": "a", "type": "uri", "baseUrl": "ftp://x.org/models"}, 400, "http:// or https:// URL"),
        ({"name": "a", "type": "uri", "baseUrl": "https://x.org/a/%2e%2e/b/"}, 400, "'..' segment"),
        ({"name": "a", "type": "uri", "baseUrl": "https://x.org", "bucket": "b-1"}, 400, "does not take bucket"),
        (
            {"name": "a", "type": "uri", "baseUrl": "https://x.org", "accessKeyId": "AK", "secretAccessKey": SECRET},
            400,
            "does not take accessKeyId, secretAccessKey",
        ),
        ({"name": "a", "type": "local"}, 422, "needs a directory"),
        ({"name": "a", "type": "local", "directory": "relative/dir"}, 400, "must be an absolute path"),
        ({"name": " a", "type": "local", "directory": "/srv"}, 400, "invalid connection name"),
        ({"name": "x" * 256, "type": "local", "directory": "/srv"}, 400, "name"),
        ({"name": "a", "type": "ftp", "directory": "/srv"}, 400, "type"),
        ({"name": "a", "type": "local", "directory": "/srv", "secret": SECRET}, 400, 'unknown field "secret"'),
        ({"type": "local", "directory": "/srv"}, 422, "'name'"),
    ],
)
def test_invalid_bodies_are_rejected_with_a_clear_message(
    gov: Governed, body: dict[str, Any], status: int, fragment: str
) -> None:
    response = _admin(gov).post("/connections", json=body)
    assert response.status_code == status, response.text
    assert fragment in response.json()["message"]
    assert SECRET not in response.text
    assert [c["name"] for c in _admin(gov).get("/connections").json()["items"]] == ["local"]


def test_the_display_name_defaults_to_the_name(gov: Governed) -> None:
    api = _admin(gov)
    named = api.post("/connections", json={**MINIO, "name": "minio-storage", "displayName": "MinIO Storage"})
    assert named.status_code == 201, named.text
    assert named.json()["name"] == "minio-storage" and named.json()["displayName"] == "MinIO Storage"
    assert api.get("/connections/minio-storage").json()["displayName"] == "MinIO Storage"
    plain = api.post("/connections", json={"name": "hub", "type": "uri", "baseUrl": "https://x.org/m/"})
    assert plain.json()["displayName"] == "hub"
    listed = {c["name"]: c["displayName"] for c in api.get("/connections").json()["items"]}
    assert listed == {"local": "local", "minio-storage": "MinIO Storage", "hub": "hub"}
    for bad, status in ((" padded", 400), ("tab\there", 400), ("", 400), ("x" * 256, 400)):
        response = api.post(
            "/connections", json={"name": "other", "type": "uri", "baseUrl": "https://x.org", "displayName": bad}
        )
        assert response.status_code == status, response.text
        assert "displayName" in response.json()["message"]


def test_a_duplicate_name_is_409(gov: Governed) -> None:
    api = _admin(gov)
    assert api.post("/connections", json=MINIO).status_code == 201
    again = api.post("/connections", json={"name": "MinIO Storage", "type": "uri", "baseUrl": "https://x.org"})
    assert again.status_code == 409 and "already exists" in again.json()["message"]
    # names are case-sensitive, as registry names are
    assert api.post("/connections", json={**MINIO, "name": "minio storage"}).status_code == 201


def _audit_rows(gov: Governed) -> list[dict[str, Any]]:
    with gov.database.read() as conn:
        return [dict(r) for r in conn.execute(select(audit_log).order_by(audit_log.c.seq)).mappings()]


def test_the_secret_is_audited_as_set_and_never_in_clear(
    gov: Governed, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    api = _admin(gov)
    assert api.post("/connections", json=MINIO).status_code == 201
    assert api.post("/connections", json={**MINIO, "name": "bad", "bucket": "B"}).status_code == 400
    assert api.get("/connections/MinIO Storage").status_code == 200
    assert api.delete("/connections/MinIO Storage").status_code == 200

    records = [r for r in _audit_rows(gov) if r["entity_kind"] == "data_connection"]
    assert [(r["action"], r["entity_name"], r["actor"]) for r in records] == [
        ("create", "MinIO Storage", "ai-admin"),
        ("delete", "MinIO Storage", "ai-admin"),
    ]
    assert '"secret":"set"' in records[0]["changes"] and '"accessKeyId":"AKIAEXAMPLE"' in records[0]["changes"]
    assert '"secret":"set"' in records[1]["changes"]
    for record in _audit_rows(gov):
        assert SECRET not in str(record)
    # the server logged the create and the delete (so the logs were captured), without the secret
    assert "data connection 'MinIO Storage' (type s3) created by ai-admin" in caplog.text
    assert "data connection 'MinIO Storage' deleted" in caplog.text
    out, err = capfd.readouterr()
    assert SECRET not in caplog.text and SECRET not in out and SECRET not in err


def test_the_stored_ciphertext_decrypts_only_with_the_right_key(gov: Governed, auth_server: ServerThread) -> None:
    assert _admin(gov).post("/connections", json=MINIO).status_code == 201
    with gov.database.read() as conn:
        stored = conn.execute(select(data_connections.c.secret_ciphertext)).scalar_one()
    assert stored.startswith("v1:") and SECRET not in stored
    service: ConnectionService = auth_server.app.state.connections  # type: ignore[attr-defined]
    assert service.secrets.decrypt(stored, "data_connection:MinIO Storage") == SECRET

    with context.acting_as(context.cli_context()):
        config = service.resolve("MinIO Storage")
        assert config.secret_access_key == SECRET
        assert (config.type, config.bucket, config.prefix) == ("s3", "models", "team-a/registry")
        assert config.path_style is True
        assert config.endpoint == "http://minio.storage.svc:9000" and config.access_key_id == "AKIAEXAMPLE"
        assert SECRET not in repr(config) and SECRET not in str(config) and "secret_access_key='***'" in repr(config)
        assert "bucket='models'" in repr(config)
        builtin = service.resolve("local")
        assert builtin.type == "local" and builtin.directory == service.builtin().directory  # type: ignore[union-attr]

        other = ConnectionService(gov.database, SecretBox.from_key(generate_key()), service.local_directory)
        with pytest.raises(SecretKeyError, match="encrypted with another key") as raised:
            other.resolve("MinIO Storage")
        assert SECRET not in raised.value.message


def test_get_by_id_and_name_that_looks_like_an_id(gov: Governed) -> None:
    api = _admin(gov)
    first = api.post("/connections", json={"name": "one", "type": "local", "directory": "/srv/one"}).json()
    named = api.post("/connections", json={"name": first["id"], "type": "local", "directory": "/srv/named"}).json()
    assert api.get(f"/connections/{first['id']}").json()["directory"] == "/srv/named"  # the name wins
    assert api.get(f"/connections/{named['id']}").json()["name"] == first["id"]
