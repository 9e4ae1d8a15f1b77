"""Uploads through ``/api/storage/v1`` on every backend, to the built-in local connection and to an S3 connection
on a real S3-compatible server (moto over HTTP): sessions, commit, download, verify, presign, interruptions,
permissions and secrets."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from blobs.conftest import REGION, SECRET_KEY, S3Server
from governance.conftest import Governed

STORAGE = "/api/storage/v1"
MB = 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def storage(gov: Governed, caller: str | None = "developer") -> httpx.Client:
    return gov.client(caller, prefix=STORAGE)


def begin_body(gov: Governed, s3: S3Server, bucket: str, where: str) -> dict[str, Any]:
    """An upload-begin body for model ``m`` version ``v1`` on the default local store or (``where="s3"``) on a new
    ``minio`` connection."""
    begin: dict[str, Any] = {"registeredModelName": "m", "versionName": "v1"}
    if where == "s3":
        s3_connection(gov, s3, bucket)
        begin["connection"] = "minio"
    return begin


def s3_connection(gov: Governed, s3: S3Server, bucket: str, name: str = "minio", **extra: Any) -> None:
    created = storage(gov, "admin").post("/connections", json=s3.connection_body(name, bucket, **extra))
    assert created.status_code == 201, created.text


def upload(api: httpx.Client, model: str, version: str, files: dict[str, bytes], **begin: Any) -> dict[str, Any]:
    started = api.post("/uploads", json={"registeredModelName": model, "versionName": version, **begin})
    assert started.status_code == 201, started.text
    upload_id = started.json()["id"]
    for path, data in files.items():
        put = api.put(f"/uploads/{upload_id}/files/{path}", content=data)
        assert put.status_code == 200, put.text
        assert put.json() == {"path": path, "size": len(data), "sha256": sha(data)}
    committed = api.post(f"/uploads/{upload_id}/commit")
    assert committed.status_code == 201, committed.text
    return committed.json()


def registered_versions(gov: Governed) -> list[dict[str, Any]]:
    return gov.registry("admin").get("/model_versions").json()["items"]


def test_directory_upload_registers_model_version_and_artifact(gov: Governed) -> None:
    files = {"config.json": b'{"layers": 2}', "weights/model.onnx": os.urandom(300_000), "tokenizer/vocab.txt": b"a\nb"}
    done = upload(storage(gov), "my custom model", "v1.0", files, modelFormatName="onnx", modelFormatVersion="1")
    artifact = done["modelArtifact"]
    assert done["registeredModel"]["name"] == "my custom model" and done["registeredModel"]["owner"] == "ai-developer"
    assert done["modelVersion"]["name"] == "v1.0" and done["modelVersion"]["author"] == "ai-developer"
    assert artifact["uri"].startswith("file:///") and artifact["storageKey"] == "local"
    assert artifact["modelFormatName"] == "onnx" and artifact["modelFormatVersion"] == "1"
    assert artifact["customProperties"]["modelreg.size"]["int_value"] == str(sum(map(len, files.values())))
    assert artifact["customProperties"]["modelreg.files"]["int_value"] == "3"
    manifest = "".join(f"{sha(files[p])}  {p}\n" for p in sorted(files))
    assert artifact["customProperties"]["modelreg.sha256"]["string_value"] == sha(manifest.encode())
    assert done["totalSize"] == sum(map(len, files.values()))

    # the Kubeflow API shows the same artifact under the version
    version_id = done["modelVersion"]["id"]
    listed = gov.registry("viewer").get(f"/model_versions/{version_id}/artifacts").json()["items"]
    assert [a["uri"] for a in listed] == [artifact["uri"]]

    viewer = storage(gov, "viewer")
    index = viewer.get(f"/model_versions/{version_id}/files").json()
    assert index["recorded"] is True and index["connection"] == "local"
    assert {f["path"]: f["sha256"] for f in index["items"]} == {p: sha(d) for p, d in files.items()}
    for path, data in files.items():
        got = viewer.get(f"/model_versions/{version_id}/files/{path}")
        assert got.status_code == 200 and got.content == data
        assert got.headers["x-checksum-sha256"] == sha(data)
    report = viewer.get(f"/model_versions/{version_id}/verify").json()
    assert report["ok"] is True and {i["status"] for i in report["items"]} == {"ok"}

    # the audit trail names the developer for all three entities
    records = gov.governance("admin").get("/audit/records", params={"actor": "ai-developer"}).json()["items"]
    assert {(r["action"], r["entityKind"]) for r in records} >= {
        ("create", "registered_model"),
        ("create", "model_version"),
        ("create", "artifact"),
    }


def test_upload_to_existing_model_and_version_without_artifact(gov: Governed) -> None:
    registry = gov.registry("developer")
    model = registry.post("/registered_models", json={"name": "m", "owner": "team-a"}).json()
    registry.post(f"/registered_models/{model['id']}/versions", json={"name": "v1", "registeredModelId": model["id"]})
    done = upload(storage(gov), "m", "v1", {"model.bin": b"weights"}, single=True)
    assert done["registeredModel"]["id"] == model["id"] and done["registeredModel"]["owner"] == "team-a"
    assert done["modelArtifact"]["uri"].endswith("/model.bin")  # a single file: the URI names it
    again = storage(gov).post("/uploads", json={"registeredModelName": "m", "versionName": "v1"})
    assert again.status_code == 409 and "already has a model artifact" in again.json()["message"]


def test_roles_and_session_ownership(gov: Governed) -> None:
    begin = {"registeredModelName": "m", "versionName": "v1"}
    assert storage(gov, "viewer").post("/uploads", json=begin).status_code == 403
    assert storage(gov, "nobody").post("/uploads", json=begin).status_code == 403
    assert storage(gov, None).post("/uploads", json=begin).status_code == 401
    started = storage(gov, "developer").post("/uploads", json=begin).json()
    other = storage(gov, "group-developer")
    assert other.put(f"/uploads/{started['id']}/files/a", content=b"x").status_code == 403
    assert other.post(f"/uploads/{started['id']}/commit").status_code == 403
    assert storage(gov, "viewer").get(f"/uploads/{started['id']}").status_code == 200
    # an admin may clean up anyone's session
    assert storage(gov, "admin").delete(f"/uploads/{started['id']}").json()["state"] == "aborted"


@pytest.mark.parametrize(
    ("begin", "status", "message"),
    [
        ({"registeredModelName": "", "versionName": "v"}, 400, "registeredModelName"),
        ({"registeredModelName": "m", "versionName": "v", "connection": "nope"}, 404, "no data connection"),
        ({"registeredModelName": "m", "versionName": "v", "bucket": "x"}, 400, "bucket"),
    ],
)
def test_begin_refuses_bad_input(gov: Governed, begin: dict[str, Any], status: int, message: str) -> None:
    response = storage(gov).post("/uploads", json=begin)
    assert response.status_code == status and message in response.text


def test_bad_paths_and_empty_commit(gov: Governed) -> None:
    api = storage(gov)
    started = api.post("/uploads", json={"registeredModelName": "m", "versionName": "v1"}).json()
    for path in ("a//b", ".modelreg-tmp-x", "a/%2E/b", "%2E%2E/etc/passwd", "x" * 600):
        assert api.put(f"/uploads/{started['id']}/files/{path}", content=b"x").status_code == 400, path
    empty = api.post(f"/uploads/{started['id']}/commit")
    assert empty.status_code == 400 and "no files" in empty.json()["message"]
    assert api.put(f"/uploads/{'0' * 32}/files/a", content=b"x").status_code == 404


def test_abort_deletes_objects_and_registers_nothing(gov: Governed, tmp_path: Path) -> None:
    api = storage(gov)
    started = api.post("/uploads", json={"registeredModelName": "m", "versionName": "v1"}).json()
    assert api.put(f"/uploads/{started['id']}/files/big.bin", content=os.urandom(100_000)).status_code == 200
    stored = Path(urlsplit(started["uri"]).path)
    assert (stored / "big.bin").exists()
    assert api.delete(f"/uploads/{started['id']}").json()["state"] == "aborted"
    assert not (stored / "big.bin").exists()
    assert api.post(f"/uploads/{started['id']}/commit").status_code == 409
    assert gov.registry("admin").get("/registered_models").json()["items"] == []


def _interrupted_put(base: str, path: str, token: str, *, chunked: bool) -> None:
    """Send part of a body, then close the connection, as a killed client or a dropped network does."""
    url = urlsplit(base)
    with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80)) as sock:
        head = f"PUT {url.path}{path} HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: Bearer {token}\r\n"
        head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else f"Content-Length: {20 * MB}\r\n\r\n"
        sock.sendall(head.encode())
        block = os.urandom(MB)
        for _ in range(6):
            sock.sendall(f"{len(block):x}\r\n".encode() + block + b"\r\n" if chunked else block)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("where", ["local", "s3"])
def test_interrupted_upload_stores_and_registers_nothing(
    gov: Governed, s3_server: S3Server, bucket: str, where: str, chunked: bool
) -> None:
    api = storage(gov)
    started = api.post("/uploads", json=begin_body(gov, s3_server, bucket, where)).json()
    _interrupted_put(
        f"{gov.url}{STORAGE}", f"/uploads/{started['id']}/files/w.bin", gov.tokens["developer"], chunked=chunked
    )

    # the server notices the disconnect, aborts the object (multipart upload or temp file), and records nothing
    def leftovers() -> list[Any]:
        if where == "s3":
            client = s3_server.boto3()
            return client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) + client.list_objects_v2(
                Bucket=bucket
            ).get("Contents", [])
        folder = Path(urlsplit(started["uri"]).path)
        return list(folder.rglob("*")) if folder.exists() else []

    # The server may pick the request up after the client is gone: wait until the partial object has appeared
    # (a temp file, or a multipart upload when the size is known) or 2 s passed, then until it is gone again.
    appeared = time.monotonic() + 2
    while not leftovers() and time.monotonic() < appeared:
        time.sleep(0.02)
    deadline = time.monotonic() + 30  # generous for a loaded CI
    while leftovers() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    assert leftovers() == [], "the interrupted upload left objects behind"
    session = api.get(f"/uploads/{started['id']}").json()
    assert session["files"] == [] and session["state"] == "open"
    assert api.post(f"/uploads/{started['id']}/commit").status_code == 400
    assert gov.registry("admin").get("/registered_models").json()["items"] == []
    # the same session takes the file again and commits
    assert api.put(f"/uploads/{started['id']}/files/w.bin", content=b"whole").status_code == 200
    assert api.post(f"/uploads/{started['id']}/commit").status_code == 201


def test_s3_directory_and_multipart_upload_download_verify(
    gov: Governed, s3_server: S3Server, bucket: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    s3_connection(gov, s3_server, bucket, prefix="registry")
    big = os.urandom(17 * MB + 123)  # above the server's 16 MiB multipart threshold
    files = {"model/weights.bin": big, "model/config.json": b"{}", "README.md": b"# model"}
    responses: list[httpx.Response] = []
    api = storage(gov)
    done = upload(api, "llm", "v2", files, connection="minio", modelFormatName="pytorch")
    uri = done["modelArtifact"]["uri"]
    assert uri.startswith(f"s3://{bucket}/registry/llm/v2/") and f"?endpoint={s3_server.endpoint}" in uri
    version_id = done["modelVersion"]["id"]

    client = s3_server.boto3()
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"])
    assert len(keys) == 3 and all(k.startswith("registry/llm/v2/") for k in keys)
    head = client.head_object(Bucket=bucket, Key=next(k for k in keys if k.endswith("weights.bin")))
    assert "-" in head["ETag"]  # it went as a multipart upload

    responses.append(got := api.get(f"/model_versions/{version_id}/files/model/weights.bin"))
    assert got.status_code == 200 and sha(got.content) == sha(big)
    responses.append(report := api.get(f"/model_versions/{version_id}/verify"))
    assert report.json()["ok"] is True

    # a presigned URL serves the object to a runtime without credentials
    responses.append(
        signed := storage(gov, "viewer").get(
            f"/model_versions/{version_id}/presigned", params={"path": "model/config.json", "expiresIn": 60}
        )
    )
    assert signed.status_code == 200, signed.text
    assert httpx.get(signed.json()["url"]).content == b"{}"
    assert storage(gov, None).get(f"/model_versions/{version_id}/presigned").status_code == 401

    # corrupt one object and delete another behind modelreg's back: verify reports both
    client.put_object(Bucket=bucket, Key=next(k for k in keys if k.endswith("config.json")), Body=b"{ }")
    client.delete_object(Bucket=bucket, Key=next(k for k in keys if k.endswith("README.md")))
    responses.append(report := api.get(f"/model_versions/{version_id}/verify"))
    statuses = {i["path"]: i["status"] for i in report.json()["items"]}
    assert report.json()["ok"] is False
    assert statuses == {"model/weights.bin": "ok", "model/config.json": "mismatch", "README.md": "missing"}
    mismatch = next(i for i in report.json()["items"] if i["status"] == "mismatch")
    assert mismatch["expected"]["sha256"] == sha(b"{}") and mismatch["actual"]["sha256"] == sha(b"{ }")

    responses += [api.get("/connections"), api.get(f"/model_versions/{version_id}/files")]
    responses.append(gov.registry("admin").get(f"/model_versions/{version_id}/artifacts"))
    for response in responses:
        assert SECRET_KEY not in response.text
    assert SECRET_KEY not in caplog.text


def test_upstream_client_uri_is_read_with_a_matching_connection(
    gov: Governed, s3_server: S3Server, bucket: str
) -> None:
    # as model_registry's upload_artifact_and_register_model leaves things: objects, and a URI with the endpoint
    client = s3_server.boto3()
    client.put_object(Bucket=bucket, Key="models/m/v1/model.onnx", Body=b"onnx-bytes")
    client.put_object(Bucket=bucket, Key="models/m/v1/extra/labels.txt", Body=b"cat\ndog")
    uri = f"s3://{bucket}/models/m/v1?endpoint={s3_server.endpoint}&defaultRegion={REGION}"
    registry = gov.registry("developer")
    model = registry.post("/registered_models", json={"name": "m"}).json()
    version = registry.post(
        f"/registered_models/{model['id']}/versions", json={"name": "v1", "registeredModelId": model["id"]}
    ).json()
    artifact = registry.post(
        f"/model_versions/{version['id']}/artifacts", json={"artifactType": "model-artifact", "name": "m", "uri": uri}
    )
    assert artifact.status_code in (200, 201), artifact.text
    api = storage(gov, "viewer")
    refused = api.get(f"/model_versions/{version['id']}/files")
    assert refused.status_code == 409 and "no s3 data connection" in refused.json()["message"]

    s3_connection(gov, s3_server, bucket)
    index = api.get(f"/model_versions/{version['id']}/files").json()
    assert index["recorded"] is False
    assert [f["path"] for f in index["items"]] == ["extra/labels.txt", "model.onnx"]
    assert api.get(f"/model_versions/{version['id']}/files/model.onnx").content == b"onnx-bytes"
    report = api.get(f"/model_versions/{version['id']}/verify").json()
    assert report["ok"] is True and {i["status"] for i in report["items"]} == {"unrecorded"}
    assert {i["path"]: i["actual"]["sha256"] for i in report["items"]} == {
        "model.onnx": sha(b"onnx-bytes"),
        "extra/labels.txt": sha(b"cat\ndog"),
    }


def test_file_uri_outside_local_connections_is_refused(gov: Governed, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve")
    registry = gov.registry("developer")
    model = registry.post("/registered_models", json={"name": "m"}).json()
    version = registry.post(
        f"/registered_models/{model['id']}/versions", json={"name": "v1", "registeredModelId": model["id"]}
    ).json()
    registry.post(
        f"/model_versions/{version['id']}/artifacts",
        json={"artifactType": "model-artifact", "name": "m", "uri": secret.as_uri()},
    )
    api = storage(gov)
    for path in ("/files", "/files/secret.txt", "/verify"):
        response = api.get(f"/model_versions/{version['id']}{path}")
        assert response.status_code in (404, 409) and "do not serve" not in response.text
    assert api.get(f"/model_versions/{version['id']}/files").status_code == 409


def test_racing_commits_register_one_version(gov: Governed) -> None:
    api_a, api_b = storage(gov, "developer"), storage(gov, "admin")
    sessions = []
    for api in (api_a, api_b):
        started = api.post("/uploads", json={"registeredModelName": "race", "versionName": "v1"}).json()
        assert api.put(f"/uploads/{started['id']}/files/f", content=b"x").status_code == 200
        sessions.append((api, started["id"]))
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda a=a, i=i: results.append(a.post(f"/uploads/{i}/commit").status_code))
        for a, i in sessions
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201, 409]
    assert len(registered_versions(gov)) == 1


@pytest.mark.parametrize("where", ["local", "s3"])
def test_hard_delete_removes_the_uploaded_files(gov: Governed, s3_server: S3Server, bucket: str, where: str) -> None:
    """Archive is a soft delete (the files stay, still downloadable by id); a hard delete by an admin takes the files
    that modelreg uploaded for the version with it, and only those."""
    begin: dict[str, Any] = {}
    if where == "s3":
        s3_connection(gov, s3_server, bucket)
        begin["connection"] = "minio"
    api = storage(gov)
    gone = upload(api, "m", "v1", {"w.bin": b"old weights", "cfg/c.json": b"{}"}, **begin)
    kept = upload(api, "m", "v2", {"w.bin": b"new weights"}, **begin)

    def stored(done: dict[str, Any]) -> list[str]:
        if where == "s3":
            listed = s3_server.boto3().list_objects_v2(Bucket=bucket).get("Contents", [])
            prefix = done["modelArtifact"]["storagePath"]
            return sorted(o["Key"] for o in listed if o["Key"].startswith(prefix + "/"))
        folder = Path(urlsplit(done["modelArtifact"]["uri"]).path)
        return sorted(str(p) for p in folder.rglob("*") if p.is_file())

    assert len(stored(gone)) == 2 and len(stored(kept)) == 1
    admin = gov.governance("admin")
    version = gone["modelVersion"]["id"]
    assert admin.post(f"/model_versions/{version}/archive").status_code == 200
    assert len(stored(gone)) == 2  # archived: kept for audit
    assert storage(gov, "viewer").get(f"/model_versions/{version}/files/w.bin").content == b"old weights"
    assert admin.delete(f"/model_versions/{version}").status_code == 200
    assert stored(gone) == [] and len(stored(kept)) == 1
    assert api.get(f"/model_versions/{version}/files").status_code == 404
