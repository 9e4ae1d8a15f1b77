"""Issue 14's artifact-storage findings, each reproduced against real parts: the moto S3 server, tiny HTTP servers
on 127.0.0.1 that record what reaches them, real directories with symlinks, and the server on every backend.

- an S3 URI naming another endpoint than its connection's is refused before any request, and boto3 never signs
  with ambient (``AWS_*``) credentials unless the connection says to use the workload identity;
- http(s) stores follow no redirect and refuse dot segments and look-alike prefixes of the allowed base;
- local connections confine every path, symlinks included, to their directory;
- store faults are 502/503 (or a 400 at connection create) with the cause, never a 500;
- the partial writes of crashed uploads (temp files, multipart uploads) are removed by abort, expiry and a sweep
  at startup.
"""

from __future__ import annotations

import io
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import update

from blobs.conftest import ACCESS_KEY, REGION, SECRET_KEY, S3Server, free_port
from cli_runner import invoke_cli
from conftest import ServerThread
from governance.conftest import Governed
from modelreg.app import create_app
from modelreg.auth import context
from modelreg.db.database import Database
from modelreg.db.tables import uploads as uploads_table
from modelreg.services.uploads import UploadService
from modelreg.settings import Settings, StorageSettings
from storage.fake_http import Answer, FakeHttp, deny_s3, fake_http, fake_s3
from storage.test_uploads import begin_body, s3_connection

STORAGE = "/api/storage/v1"
AMBIENT_KEY = "AKIAAMBIENTSERVERKEY"  # what an instance role or the pod's environment would hand boto3
AMBIENT_SECRET = "ambient-server-secret-7a6b5c"
TMP = ".modelreg-tmp-"


def storage(gov: Governed, caller: str | None = "developer") -> httpx.Client:
    return gov.client(caller, prefix=STORAGE)


@pytest.fixture
def ambient_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Credentials in the server's environment, as on a node with an instance role; no config files, no IMDS."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AMBIENT_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AMBIENT_SECRET)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials anywhere boto3 looks (and never the instance metadata service, which is not on loopback)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))


@pytest.fixture
def fake() -> Iterator[FakeHttp]:
    with fake_http() as server:
        yield server


@pytest.fixture
def second_fake() -> Iterator[FakeHttp]:
    with fake_http() as server:
        yield server


def version_with_uri(gov: Governed, uri: str, storage_key: str | None = None) -> str:
    """A model version whose model artifact is registered by URI only, as the upstream client does."""
    registry = gov.registry("developer")
    model = registry.post("/registered_models", json={"name": f"m-{uuid.uuid4().hex[:8]}"}).json()
    version = registry.post(
        f"/registered_models/{model['id']}/versions", json={"name": "v1", "registeredModelId": model["id"]}
    ).json()
    body: dict[str, Any] = {"artifactType": "model-artifact", "name": "m", "uri": uri}
    if storage_key is not None:
        body["storageKey"] = storage_key
    created = registry.post(f"/model_versions/{version['id']}/artifacts", json=body)
    assert created.status_code in (200, 201), created.text
    return str(version["id"])


def create_connection(gov: Governed, body: dict[str, Any], check: bool = True) -> httpx.Response:
    return storage(gov, "admin").post("/connections", json=body, params=None if check else {"check": "false"})


def reads(gov: Governed, version_id: str, caller: str = "viewer") -> list[httpx.Response]:
    """Every storage read of a version's artifact: list, download, verify, presign."""
    api = storage(gov, caller)
    return [
        api.get(f"/model_versions/{version_id}/files"),
        api.get(f"/model_versions/{version_id}/files/model.bin"),
        api.get(f"/model_versions/{version_id}/verify"),
        api.get(f"/model_versions/{version_id}/presigned", params={"path": "model.bin"}),
    ]


# --- 1. S3: the connection's endpoint only, and never ambient credentials ----------------------------------------


def test_an_s3_uri_naming_another_endpoint_than_its_connection_is_refused_before_any_request(
    gov: Governed, s3_server: S3Server, bucket: str, fake: FakeHttp, ambient_aws: None
) -> None:
    fake_s3(fake, bucket, {"k/model.bin": b"attacker-controlled"})
    s3_connection(gov, s3_server, bucket)
    uri = f"s3://{bucket}/k?endpoint={fake.url}"
    by_name = version_with_uri(gov, uri, storage_key="minio")
    for response in reads(gov, by_name):
        assert response.status_code == 403, response.text
        message = response.json()["message"]
        assert "endpoint" in message and "minio" in message and s3_server.endpoint in message
        assert "attacker-controlled" not in response.text
    # without a storageKey the URI must match some connection's endpoint, and none has this one
    unnamed = version_with_uri(gov, uri)
    for response in reads(gov, unnamed):
        assert response.status_code == 409 and "no s3 data connection" in response.json()["message"]
    assert fake.seen == [], "the server sent requests to the URI's endpoint"


def test_the_same_endpoint_written_differently_is_the_connections(
    gov: Governed, s3_server: S3Server, bucket: str, ambient_aws: None
) -> None:
    s3_server.boto3().put_object(Bucket=bucket, Key="k/model.bin", Body=b"weights")
    s3_connection(gov, s3_server, bucket)
    port = urlsplit(s3_server.endpoint).port
    for endpoint in (f"HTTP://127.0.0.1:{port}/", f"http://127.0.0.1:{port}"):
        version = version_with_uri(gov, f"s3://{bucket}/k?endpoint={endpoint}", storage_key="minio")
        got = storage(gov, "viewer").get(f"/model_versions/{version}/files/model.bin")
        assert got.status_code == 200 and got.content == b"weights", got.text


def test_a_connection_without_keys_sends_unsigned_requests_whatever_the_environment_holds(
    gov: Governed, fake: FakeHttp, ambient_aws: None
) -> None:
    fake_s3(fake, "public-models", {"k/model.bin": b"public weights"})
    body = {"name": "open", "type": "s3", "endpoint": fake.url, "bucket": "public-models", "pathStyle": True}
    assert create_connection(gov, body).status_code == 201
    version = version_with_uri(gov, f"s3://public-models/k?endpoint={fake.url}", storage_key="open")
    api = storage(gov, "viewer")
    listed = api.get(f"/model_versions/{version}/files")
    assert listed.status_code == 200, listed.text
    assert [i["path"] for i in listed.json()["items"]] == ["model.bin"]
    assert api.get(f"/model_versions/{version}/files/model.bin").content == b"public weights"
    assert api.get(f"/model_versions/{version}/verify").json()["ok"] is True
    presigned = api.get(f"/model_versions/{version}/presigned", params={"path": "model.bin"}).json()["url"]
    assert AMBIENT_KEY not in presigned and "Signature" not in presigned
    assert fake.seen, "the fake S3 endpoint was not used"
    for request in fake.seen:
        assert "authorization" not in request.headers, request
        assert AMBIENT_KEY not in str(request.headers) and AMBIENT_KEY not in request.path


def test_only_a_connection_flagged_for_the_workload_identity_uses_the_default_chain(
    gov: Governed, fake: FakeHttp, ambient_aws: None
) -> None:
    fake_s3(fake, "team-models", {"k/model.bin": b"w"})
    body = {"name": "irsa", "type": "s3", "endpoint": fake.url, "bucket": "team-models", "pathStyle": True}
    both = create_connection(gov, {**body, "useWorkloadIdentity": True, "accessKeyId": "AK", "secretAccessKey": "S"})
    assert both.status_code == 400 and "useWorkloadIdentity" in both.json()["message"]
    created = create_connection(gov, {**body, "useWorkloadIdentity": True})
    assert created.status_code == 201, created.text
    assert created.json()["useWorkloadIdentity"] is True and created.json()["hasSecret"] is False
    version = version_with_uri(gov, f"s3://team-models/k?endpoint={fake.url}", storage_key="irsa")
    assert storage(gov, "viewer").get(f"/model_versions/{version}/files/model.bin").content == b"w"
    signed = [r for r in fake.seen if r.method == "GET"]
    assert signed and all(f"Credential={AMBIENT_KEY}/" in r.headers.get("authorization", "") for r in signed)


def test_the_workload_identity_without_credentials_is_a_502_naming_the_cause(
    gov: Governed, fake: FakeHttp, no_aws: None
) -> None:
    fake_s3(fake, "team-models", {"k/model.bin": b"w"})
    body = {"name": "irsa", "type": "s3", "endpoint": fake.url, "bucket": "team-models", "useWorkloadIdentity": True}
    refused = create_connection(gov, body)
    assert refused.status_code == 400 and "credentials" in refused.json()["message"]
    assert create_connection(gov, body, check=False).status_code == 201
    version = version_with_uri(gov, f"s3://team-models/k?endpoint={fake.url}", storage_key="irsa")
    for response in reads(gov, version):
        assert response.status_code == 502, response.text
        assert "credentials" in response.json()["message"]
    assert fake.seen == []


# --- 2. http(s) stores: no redirects, no dot segments, normalized prefixes ---------------------------------------


def test_an_allowed_base_that_redirects_elsewhere_is_not_followed(
    gov: Governed, fake: FakeHttp, second_fake: FakeHttp
) -> None:
    second_fake.routes["/internal/secret"] = Answer(200, b"LOOPBACK-ONLY-SECRET")
    fake.routes["/public/model.bin"] = Answer(302, b"", {"Location": f"{second_fake.url}/internal/secret"})
    fake.routes["/public/etc.bin"] = Answer(302, b"", {"Location": "file:///etc/passwd"})
    fake.routes["/public/ok.bin"] = Answer(200, b"fine")
    assert create_connection(gov, {"name": "hub", "type": "uri", "baseUrl": f"{fake.url}/public/"}).status_code == 201
    api = storage(gov, "viewer")
    for name in ("model.bin", "etc.bin"):
        version = version_with_uri(gov, f"{fake.url}/public/{name}")
        got = api.get(f"/model_versions/{version}/files/{name}")
        assert got.status_code == 502, got.text
        assert "redirect" in got.json()["message"] and "LOOPBACK-ONLY-SECRET" not in got.text
        verified = api.get(f"/model_versions/{version}/verify")
        assert verified.status_code == 502 and "root:" not in verified.text
    assert second_fake.seen == []
    ok = version_with_uri(gov, f"{fake.url}/public/ok.bin")
    assert api.get(f"/model_versions/{ok}/files/ok.bin").content == b"fine"


@pytest.mark.sqlite_only("URL resolution against a connection's base")
@pytest.mark.parametrize(
    "path",
    [
        "/public/../private/x",
        "/public/%2e%2e/private/x",
        "/public/%2E%2e/private/x",
        "/public/..%2fprivate/x",
        "/public/.%2E/private/x",
        "/public/%252e%252e/private/x",
        "/public\\..\\private/x",
        "/public/./../private/x",
        "/publicity/x",
        "/public",
    ],
)
def test_dot_segments_and_look_alike_prefixes_do_not_escape_the_allowed_base(
    gov: Governed, fake: FakeHttp, path: str
) -> None:
    fake.routes["/private/x"] = Answer(200, b"PRIVATE")
    fake.routes["/publicity/x"] = Answer(200, b"PRIVATE")
    fake.routes["/public"] = Answer(200, b"PRIVATE")
    fake.routes["/public/x"] = Answer(200, b"public x")
    assert create_connection(gov, {"name": "hub", "type": "uri", "baseUrl": f"{fake.url}/public/"}).status_code == 201
    fake.seen.clear()  # the create's check of the base URL
    version = version_with_uri(gov, fake.url + path)
    for response in reads(gov, version):
        assert response.status_code in (400, 409), response.text
        assert "PRIVATE" not in response.text
    assert fake.seen == []
    # the base itself, written with another host case, still covers what is under it
    same = version_with_uri(gov, fake.url.replace("http://", "HTTP://") + "/public/x")
    assert storage(gov, "viewer").get(f"/model_versions/{same}/files/x").content == b"public x"


def test_http_upstream_refusals_are_502_and_an_unreachable_server_503(gov: Governed, fake: FakeHttp) -> None:
    fake.routes["/public/locked.bin"] = Answer(403, b"denied")
    fake.routes["/public/broken.bin"] = Answer(500, b"oops")
    closed = f"http://127.0.0.1:{free_port()}"
    assert create_connection(gov, {"name": "hub", "type": "uri", "baseUrl": f"{fake.url}/public/"}).status_code == 201
    down = {"name": "down", "type": "uri", "baseUrl": f"{closed}/public/"}
    assert create_connection(gov, down, check=False).status_code == 201
    api = storage(gov, "viewer")
    for name, status, cause in (("locked.bin", 502, "403"), ("broken.bin", 502, "500")):
        version = version_with_uri(gov, f"{fake.url}/public/{name}")
        got = api.get(f"/model_versions/{version}/files/{name}")
        assert got.status_code == status and cause in got.json()["message"], got.text
    version = version_with_uri(gov, f"{closed}/public/model.bin")
    got = api.get(f"/model_versions/{version}/files/model.bin")
    assert got.status_code == 503 and "127.0.0.1" in got.json()["message"], got.text


# --- 3. local connections: every path resolved and confined ------------------------------------------------------


@pytest.fixture
def tree_with_links(tmp_path: Path) -> tuple[Path, Path]:
    """``root/model`` holds a real file, links that stay inside the root, and links that leave it."""
    root = tmp_path / "root"
    model = root / "model"
    (model / "sub").mkdir(parents=True)
    (model / "weights.bin").write_bytes(b"real weights")
    (model / "sub" / "config.json").write_bytes(b"{}")
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-OUTSIDE")
    outside_dir = tmp_path / "outside"
    outside_dir.mkdir()
    (outside_dir / "passwd").write_text("TOP-SECRET-OUTSIDE too")
    os.symlink(secret, model / "leak.txt")
    os.symlink(outside_dir, model / "leakdir")
    os.symlink(model / "weights.bin", model / "alias.bin")  # inside to inside: allowed
    return root, secret


def test_symlinks_leaving_a_local_connection_are_not_served_listed_or_hashed(
    gov: Governed, tree_with_links: tuple[Path, Path]
) -> None:
    root, secret = tree_with_links
    assert create_connection(gov, {"name": "nfs", "type": "local", "directory": str(root)}).status_code == 201
    api = storage(gov, "viewer")
    version = version_with_uri(gov, (root / "model").as_uri())
    listed = api.get(f"/model_versions/{version}/files")
    assert listed.status_code == 200, listed.text
    assert sorted(i["path"] for i in listed.json()["items"]) == ["alias.bin", "sub/config.json", "weights.bin"]
    for path in ("leak.txt", "leakdir/passwd"):
        got = api.get(f"/model_versions/{version}/files/{path}")
        assert got.status_code == 404 and "TOP-SECRET" not in got.text
    assert api.get(f"/model_versions/{version}/files/alias.bin").content == b"real weights"
    report = api.get(f"/model_versions/{version}/verify").json()
    assert sorted(i["path"] for i in report["items"]) == ["alias.bin", "sub/config.json", "weights.bin"]
    # a URI naming the link itself, or a folder reached through a link, is outside every connection
    for target in (root / "model" / "leak.txt", root / "model" / "leakdir", root / "model" / "leakdir" / "passwd"):
        direct = version_with_uri(gov, target.as_uri())
        for response in reads(gov, direct):
            assert response.status_code in (404, 409) and "TOP-SECRET" not in response.text, response.text
    assert secret.read_text() == "TOP-SECRET-OUTSIDE"


def test_an_uploaded_file_replaced_by_a_symlink_is_not_served(gov: Governed, tmp_path: Path) -> None:
    api = storage(gov)
    started = api.post("/uploads", json={"registeredModelName": "m", "versionName": "v1"}).json()
    assert api.put(f"/uploads/{started['id']}/files/model.bin", content=b"weights").status_code == 200
    done = api.post(f"/uploads/{started['id']}/commit").json()
    stored = Path(urlsplit(done["modelArtifact"]["uri"]).path) / "model.bin"
    secret = tmp_path / "secret.key"
    secret.write_text("TOP-SECRET-OUTSIDE")
    stored.unlink()
    os.symlink(secret, stored)
    version = done["modelVersion"]["id"]
    got = storage(gov, "viewer").get(f"/model_versions/{version}/files/model.bin")
    assert got.status_code == 404 and "TOP-SECRET" not in got.text, got.text
    report = storage(gov, "viewer").get(f"/model_versions/{version}/verify").json()
    assert [i["status"] for i in report["items"]] == ["missing"] and "TOP-SECRET" not in str(report)


# --- 4. store errors and connection checks -----------------------------------------------------------------------


@pytest.mark.parametrize("ref", ["9223372036854775808", "18446744073709551616", "99999999999999999999", "-1", "0"])
def test_out_of_range_connection_ids_are_404(gov: Governed, ref: str) -> None:
    api = storage(gov, "admin")
    for response in (api.get(f"/connections/{ref}"), api.delete(f"/connections/{ref}")):
        assert response.status_code == 404, response.text
        assert "no data connection found" in response.json()["message"]


def test_an_upload_into_a_missing_bucket_is_a_502_naming_the_bucket(gov: Governed, s3_server: S3Server) -> None:
    missing = f"missing-{uuid.uuid4().hex[:12]}"
    body = {
        "name": "typo",
        "type": "s3",
        "endpoint": s3_server.endpoint,
        "region": REGION,
        "bucket": missing,
        "pathStyle": True,
        "accessKeyId": ACCESS_KEY,
        "secretAccessKey": SECRET_KEY,
    }
    assert create_connection(gov, body, check=False).status_code == 201
    api = storage(gov)
    started = api.post("/uploads", json={"registeredModelName": "m", "versionName": "v1", "connection": "typo"})
    assert started.status_code == 201, started.text
    upload_id = started.json()["id"]
    for data in (b"small", os.urandom(17 * 1024 * 1024)):  # a single PUT and a multipart upload
        put = api.put(f"/uploads/{upload_id}/files/w-{len(data)}.bin", content=data)
        assert put.status_code == 502, put.text
        assert missing in put.json()["message"] and "does not exist" in put.json()["message"]
        assert SECRET_KEY not in put.text
    aborted = api.delete(f"/uploads/{upload_id}")
    assert aborted.status_code == 200 and aborted.json()["state"] == "aborted"
    assert gov.registry("admin").get("/registered_models").json()["items"] == []


def test_connection_create_checks_endpoint_credentials_and_bucket(
    gov: Governed, s3_server: S3Server, bucket: str, fake: FakeHttp, tmp_path: Path
) -> None:
    deny_s3(fake)
    base = {"type": "s3", "region": REGION, "pathStyle": True, "accessKeyId": ACCESS_KEY, "secretAccessKey": SECRET_KEY}
    missing = f"missing-{uuid.uuid4().hex[:12]}"
    closed = f"http://127.0.0.1:{free_port()}"
    cases = [
        ({**base, "name": "a", "endpoint": s3_server.endpoint, "bucket": missing}, [missing, "does not exist"]),
        ({**base, "name": "b", "endpoint": closed, "bucket": bucket}, ["cannot reach", closed]),
        ({**base, "name": "c", "endpoint": fake.url, "bucket": bucket}, ["denied", bucket]),
        ({"name": "d", "type": "uri", "baseUrl": f"{closed}/models/"}, ["cannot reach"]),
        ({"name": "e", "type": "local", "directory": str(tmp_path / "nowhere")}, ["does not exist"]),
    ]
    api = storage(gov, "admin")
    for body, fragments in cases:
        refused = create_connection(gov, body)
        assert refused.status_code == 400, refused.text
        assert all(f in refused.json()["message"] for f in fragments), refused.text
        assert "check=false" in refused.json()["message"] and SECRET_KEY not in refused.text
        assert api.get(f"/connections/{body['name']}").status_code == 404
    for body, _ in cases:
        assert create_connection(gov, body, check=False).status_code == 201
    good = {**base, "name": "good", "endpoint": s3_server.endpoint, "bucket": bucket}
    assert create_connection(gov, good).status_code == 201


def test_the_cli_checks_the_store_unless_told_not_to(gov: Governed, s3_server: S3Server, tmp_path: Path) -> None:
    missing = f"missing-{uuid.uuid4().hex[:12]}"
    env = {"MODELREG_DATA_DIR": str(tmp_path / "data"), "S3_SECRET": SECRET_KEY}
    args = [
        "connection", "create", "typo", "--type", "s3", "--endpoint", s3_server.endpoint, "--region", REGION,
        "--bucket", missing, "--path-style", "--access-key-id", ACCESS_KEY, "--secret-access-key-env", "S3_SECRET",
        "--database-url", gov.database.url,
    ]  # fmt: skip
    refused = invoke_cli(*args, env=env)
    assert refused.returncode == 1, refused.stderr
    assert missing in refused.stderr and "does not exist" in refused.stderr and "--no-check" in refused.stderr
    assert SECRET_KEY not in refused.stderr + refused.stdout
    assert storage(gov, "admin").get("/connections/typo").status_code == 404
    stored = invoke_cli(*args, "--no-check", env=env)
    assert stored.returncode == 0, stored.stderr
    assert storage(gov, "admin").get("/connections/typo").status_code == 200


def test_s3_refusals_on_reads_are_502_and_an_unreachable_endpoint_503(gov: Governed, fake: FakeHttp) -> None:
    deny_s3(fake)
    closed = f"http://127.0.0.1:{free_port()}"
    keys = {"accessKeyId": "AK", "secretAccessKey": "wrong-secret", "pathStyle": True}
    for name, endpoint in (("deny", fake.url), ("down", closed)):
        body = {"name": name, "type": "s3", "endpoint": endpoint, "bucket": "b-1", **keys}
        assert create_connection(gov, body, check=False).status_code == 201
    denied = version_with_uri(gov, f"s3://b-1/k?endpoint={fake.url}", storage_key="deny")
    for response in reads(gov, denied)[:3]:
        assert response.status_code == 502 and "AccessDenied" in response.json()["message"], response.text
    down = version_with_uri(gov, f"s3://b-1/k?endpoint={closed}", storage_key="down")
    listed = storage(gov, "viewer").get(f"/model_versions/{down}/files")
    assert listed.status_code == 503 and closed in listed.json()["message"], listed.text
    for response in [*reads(gov, denied), listed]:
        assert "wrong-secret" not in response.text


# --- 5. crashed uploads: abort, expiry and the startup sweep remove partial writes --------------------------------


def _session_key(session: dict[str, Any]) -> str:
    """The store key of an upload session, from its URI (``s3://bucket/key?...`` or ``file:///dir/key``)."""
    return urlsplit(session["uri"]).path.lstrip("/")


def _crash_leftovers(where: str, session: dict[str, Any], s3: S3Server, bucket: str) -> None:
    """What a ``kill -9`` mid-PUT leaves: a temp file, or a multipart upload with a part and no completion."""
    if where == "local":
        folder = Path("/" + _session_key(session)) / "sub"
        folder.mkdir(parents=True)
        (folder / f"{TMP}{uuid.uuid4().hex}").write_bytes(os.urandom(1000))
    else:
        client = s3.boto3()
        key = _session_key(session).removeprefix(f"{bucket}/") + "/big.bin"
        started = client.create_multipart_upload(Bucket=bucket, Key=key)
        client.upload_part(Bucket=bucket, Key=key, UploadId=started["UploadId"], PartNumber=1, Body=os.urandom(1000))


def _partials(where: str, session: dict[str, Any], s3: S3Server, bucket: str) -> list[Any]:
    if where == "local":
        folder = Path("/" + _session_key(session))
        return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []
    return s3.boto3().list_multipart_uploads(Bucket=bucket).get("Uploads", [])


@pytest.mark.parametrize("where", ["local", "s3"])
def test_abort_and_expiry_remove_what_a_crashed_upload_left(
    gov: Governed, auth_server: ServerThread, s3_server: S3Server, bucket: str, where: str
) -> None:
    begin = begin_body(gov, s3_server, bucket, where)
    api = storage(gov)
    aborted = api.post("/uploads", json=begin).json()
    _crash_leftovers(where, aborted, s3_server, bucket)
    assert _partials(where, aborted, s3_server, bucket)
    assert api.delete(f"/uploads/{aborted['id']}").json()["state"] == "aborted"
    assert _partials(where, aborted, s3_server, bucket) == []

    expired = api.post("/uploads", json=begin).json()
    _crash_leftovers(where, expired, s3_server, bucket)
    gov.database.run_write(
        lambda conn: conn.execute(
            update(uploads_table).where(uploads_table.c.id == expired["id"]).values(last_update_time=1)
        )
    )
    service: UploadService = auth_server.app.state.uploads  # type: ignore[attr-defined]
    with context.acting_as(context.system("tests")):  # as the server's sweep does, as system:upload-sweep
        assert service.expire_stale() == 1
    assert api.get(f"/uploads/{expired['id']}").json()["state"] == "aborted"
    assert _partials(where, expired, s3_server, bucket) == []


def test_a_stale_session_on_a_deleted_connection_does_not_block_new_uploads(
    gov: Governed, s3_server: S3Server, bucket: str
) -> None:
    s3_connection(gov, s3_server, bucket)
    api = storage(gov)
    orphaned = api.post("/uploads", json={"registeredModelName": "m", "versionName": "v1", "connection": "minio"})
    assert storage(gov, "admin").delete("/connections/minio").status_code == 200
    gov.database.run_write(
        lambda conn: conn.execute(
            update(uploads_table).where(uploads_table.c.id == orphaned.json()["id"]).values(last_update_time=1)
        )
    )
    # every begin expires idle sessions first; one whose connection is gone must not make begin fail
    started = api.post("/uploads", json={"registeredModelName": "m", "versionName": "v2"})
    assert started.status_code == 201, started.text
    assert api.get(f"/uploads/{orphaned.json()['id']}").json()["state"] == "aborted"


def test_the_sweep_removes_stale_partial_writes_of_closed_sessions_and_keeps_the_rest(
    gov: Governed, auth_server: ServerThread, s3_server: S3Server, bucket: str
) -> None:
    s3_connection(gov, s3_server, bucket)
    api = storage(gov)
    # a committed session, where a PUT racing the commit was killed: its temp file stays
    local_done = api.post("/uploads", json={"registeredModelName": "m", "versionName": "v1"}).json()
    assert api.put(f"/uploads/{local_done['id']}/files/w.bin", content=b"kept").status_code == 200
    assert api.post(f"/uploads/{local_done['id']}/commit").status_code == 201
    folder = Path("/" + _session_key(local_done))
    stale, fresh = folder / f"{TMP}stale", folder / f"{TMP}fresh"
    stale.write_bytes(b"x" * 1000)
    fresh.write_bytes(b"y" * 1000)  # a PUT still writing: younger than the session lifetime
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(stale, (two_days_ago, two_days_ago))

    # an aborted session, and a multipart upload its killed PUT started after the abort; an open session's; another
    # tool's. (moto reports one fixed initiation time, in 2010, for every multipart upload: all are "old".)
    begin = {"registeredModelName": "m", "versionName": "v2", "connection": "minio"}
    aborted = api.post("/uploads", json=begin).json()
    assert api.delete(f"/uploads/{aborted['id']}").status_code == 200
    still_open = api.post("/uploads", json=begin).json()
    client = s3_server.boto3()

    def multipart(key: str) -> str:
        return str(client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"])

    orphan = multipart(_session_key(aborted).removeprefix(f"{bucket}/") + "/w.bin")
    running = multipart(_session_key(still_open).removeprefix(f"{bucket}/") + "/w.bin")
    foreign = multipart("someone-else/backup.tar")

    service: UploadService = auth_server.app.state.uploads  # type: ignore[attr-defined]
    with context.acting_as(context.cli_context()):
        assert service.sweep_orphans() == 2
    assert not stale.exists() and fresh.exists() and (folder / "w.bin").read_bytes() == b"kept"
    left = {u["UploadId"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])}
    assert orphan not in left and left == {running, foreign}
    assert api.get(f"/uploads/{still_open['id']}").json()["state"] == "open"
    assert api.get(f"/uploads/{local_done['id']}").json()["state"] == "committed"


def test_the_server_sweeps_at_startup(gov: Governed, tmp_path: Path) -> None:
    settings = Settings(
        database_url=gov.database.url, data_dir=tmp_path / "data", storage=StorageSettings(upload_ttl_seconds=60)
    )
    app = create_app(settings, Database(gov.database.url))
    service: UploadService = app.state.uploads
    with context.acting_as(context.cli_context()):
        started = service.begin("m", "v1")
        service.put(started.id, "w.bin", io.BytesIO(b"kept"))
        service.commit(started.id)
    folder = tmp_path / "data" / "artifacts" / started.key
    stale, fresh = folder / f"{TMP}from-a-killed-server", folder / f"{TMP}in-flight"
    stale.write_bytes(b"x" * 1000)
    fresh.write_bytes(b"y" * 1000)
    long_ago = time.time() - 3600  # older than the lifetime of 60 s
    os.utime(stale, (long_ago, long_ago))
    with ServerThread(app):
        deadline = time.monotonic() + 15
        while stale.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not stale.exists(), "the startup sweep did not remove the stale temp file"
        assert fresh.exists() and (folder / "w.bin").read_bytes() == b"kept"
