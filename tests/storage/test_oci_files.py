"""Reading ``oci://`` artifacts through the storage API, against a real registry (Debian's docker-registry): the
files of a ModelCar listed with the digests its layer annotations record, downloaded and verified through the oci
connection that covers the image (none → 409, another registry or prefix → not used), presign refused, wrong
credentials a clear 502 without the password, a corrupted layer and a lost manifest reported by verify."""

from __future__ import annotations

import hashlib
import io
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import SQLITE_ONLY
from governance.conftest import Governed
from modelreg.blobs.oci import OciStore, PushedImage
from oci_registry import OciRegistry, oci_registry, oci_registry_auth
from storage.test_hardening import version_with_uri

__all__ = ["oci_registry", "oci_registry_auth"]
sqlite_only = getattr(pytest.mark, SQLITE_ONLY)("reading images: the registry's side, not the database's")

STORAGE = "/api/storage/v1"
FILES = {"model.onnx": b"onnx-bytes " * 1000, "config/labels.txt": b"cat\ndog\n"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def storage(gov: Governed, caller: str = "viewer") -> httpx.Client:
    return gov.client(caller, prefix=STORAGE)


def push(registry: OciRegistry, repository: str, files: dict[str, bytes] = FILES) -> PushedImage:
    """A ModelCar pushed by another tool than modelreg's uploads (nothing recorded in the registry's database)."""
    with OciStore(registry.config()).push(repository) as pushing:
        layers = [pushing.add_file(path, io.BytesIO(data), len(data)) for path, data in files.items()]
        return pushing.finish(layers, "1.0")


def connect(gov: Governed, registry: OciRegistry, name: str = "registry", **fields: Any) -> None:
    body: dict[str, Any] = {"name": name, "type": "oci", "registry": registry.host, "plainHttp": True}
    if registry.username:
        body.update(username=registry.username, password=registry.password)
    body.update(fields)
    created = storage(gov, "admin").post("/connections", json=body)  # checked against the registry
    assert created.status_code == 201, created.text


def repo() -> str:
    return f"team-a/model-{uuid.uuid4().hex[:10]}"


def test_an_image_is_listed_downloaded_and_verified_through_its_connection(
    gov: Governed, oci_registry_auth: OciRegistry
) -> None:
    image = push(oci_registry_auth, repo())
    version = version_with_uri(gov, image.ref.uri())
    api = storage(gov)
    refused = api.get(f"/model_versions/{version}/files")
    assert refused.status_code == 409 and "no oci data connection" in refused.json()["message"]

    connect(gov, oci_registry_auth, repositoryPrefix="team-a")
    listed = api.get(f"/model_versions/{version}/files")
    assert listed.status_code == 200, listed.text
    index = listed.json()
    assert index["connection"] == "registry" and index["recorded"] is False
    assert {f["path"]: (f["size"], f["sha256"]) for f in index["items"]} == {
        path: (len(data), sha(data)) for path, data in FILES.items()
    }
    for path, data in FILES.items():
        download = api.get(f"/model_versions/{version}/files/{path}")
        assert download.status_code == 200 and download.content == data
    report = api.get(f"/model_versions/{version}/verify").json()
    assert report["ok"] is True and {i["status"] for i in report["items"]} == {"ok"}
    assert report["image"] == {"status": "ok", "expected": image.digest, "actual": image.digest}
    presigned = api.get(f"/model_versions/{version}/presigned", params={"path": "model.onnx"})
    assert presigned.status_code == 409 and "through this API" in presigned.json()["message"]
    missing = api.get(f"/model_versions/{version}/files/not-there.bin")
    assert missing.status_code == 404


@sqlite_only
def test_only_a_connection_covering_the_registry_and_repository_is_used(
    gov: Governed, oci_registry: OciRegistry, oci_registry_auth: OciRegistry
) -> None:
    image = push(oci_registry, repo())
    # storageKey names a connection for another registry: not used; one for another prefix: not used either
    connect(gov, oci_registry_auth, name="elsewhere")
    connect(gov, oci_registry, name="team-b-only", repositoryPrefix="team-b")
    version = version_with_uri(gov, image.ref.uri(), storage_key="elsewhere")
    refused = storage(gov).get(f"/model_versions/{version}/files")
    assert refused.status_code == 409 and oci_registry.host in refused.json()["message"]
    connect(gov, oci_registry, name="team-a", repositoryPrefix="team-a")
    listed = storage(gov).get(f"/model_versions/{version}/files")
    assert listed.status_code == 200 and listed.json()["connection"] == "team-a"


@sqlite_only
def test_wrong_credentials_are_a_clear_502_without_the_password(gov: Governed, oci_registry_auth: OciRegistry) -> None:
    image = push(oci_registry_auth, repo())
    wrong = "not-the-Password-123"
    body = {"name": "wrong", "type": "oci", "registry": oci_registry_auth.host, "plainHttp": True}
    body.update(username=oci_registry_auth.username, password=wrong)
    checked = storage(gov, "admin").post("/connections", json=body)
    assert checked.status_code == 400 and "failed its check" in checked.json()["message"]
    assert wrong not in checked.text
    assert storage(gov, "admin").post("/connections", json=body, params={"check": "false"}).status_code == 201
    version = version_with_uri(gov, image.ref.uri(), storage_key="wrong")
    for response in (
        storage(gov).get(f"/model_versions/{version}/files"),
        storage(gov).get(f"/model_versions/{version}/verify"),
    ):
        assert response.status_code == 502, response.text
        assert "credentials" in response.json()["message"] and wrong not in response.text


def _blob(registry: OciRegistry, digest: str) -> Path:
    algorithm, hexdigest = digest.split(":", 1)
    return registry.storage / "docker/registry/v2/blobs" / algorithm / hexdigest[:2] / hexdigest / "data"


@sqlite_only
def test_verify_reports_a_corrupted_layer(gov: Governed, oci_registry: OciRegistry) -> None:
    unique = uuid.uuid4().bytes  # the registry keeps one blob per digest, for every repository and test
    image = push(oci_registry, repo(), {"weights.bin": unique + b"w" * 4096, "ok.txt": b"fine"})
    connect(gov, oci_registry)
    version = version_with_uri(gov, image.ref.uri())
    assert storage(gov).get(f"/model_versions/{version}/verify").json()["ok"] is True
    layer = next(layer for layer in image.layers if layer.path == "weights.bin")
    blob = _blob(oci_registry, layer.digest)
    data = bytearray(blob.read_bytes())
    data[600] ^= 0xFF  # inside the file's bytes, after the 512-byte tar header; same size
    blob.write_bytes(bytes(data))
    report = storage(gov).get(f"/model_versions/{version}/verify").json()
    assert report["ok"] is False
    assert {i["path"]: i["status"] for i in report["items"]} == {"weights.bin": "mismatch", "ok.txt": "ok"}


@sqlite_only
def test_verify_reports_a_pinned_manifest_the_registry_lost(gov: Governed, oci_registry: OciRegistry) -> None:
    repository = repo()
    image = push(oci_registry, repository)
    connect(gov, oci_registry)
    version = version_with_uri(gov, image.ref.uri())
    deleted = httpx.delete(f"{oci_registry.url}/v2/{repository}/manifests/{image.digest}")
    assert deleted.status_code == 202, deleted.text
    report = storage(gov).get(f"/model_versions/{version}/verify")
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["ok"] is False and body["image"] == {"status": "missing", "expected": image.digest, "actual": None}
    listed = storage(gov).get(f"/model_versions/{version}/files")
    assert listed.status_code in (404, 502) and "MANIFEST_UNKNOWN" in listed.json()["message"]


@sqlite_only
@pytest.mark.parametrize("uri", ["oci://no-registry-host/x:1", "oci://127.0.0.1:5000/UPPER/case:1"])
def test_an_unparseable_image_reference_is_a_400(gov: Governed, uri: str) -> None:
    version = version_with_uri(gov, uri)
    response = storage(gov).get(f"/model_versions/{version}/files")
    assert response.status_code == 400 and "artifact" in response.json()["message"]


@sqlite_only
def test_an_uploaded_image_is_read_with_its_recorded_digests(gov: Governed, oci_registry: OciRegistry) -> None:
    connect(gov, oci_registry, name="pushed", repositoryPrefix="uploads")
    api = storage(gov, "developer")
    name = f"m-{uuid.uuid4().hex[:8]}"
    began = api.post("/uploads", json={"registeredModelName": name, "versionName": "v1", "connection": "pushed"})
    assert began.status_code == 201, began.text
    session = f"/uploads/{began.json()['id']}"
    for path, data in FILES.items():
        assert api.put(f"{session}/files/{path}", content=data).status_code == 200
    committed = api.post(f"{session}/commit")
    assert committed.status_code == 201, committed.text
    version = committed.json()["modelVersion"]["id"]
    uri = committed.json()["modelArtifact"]["uri"]
    index = storage(gov).get(f"/model_versions/{version}/files").json()
    assert index["recorded"] is True and index["connection"] == "pushed" and index["uri"] == uri
    assert {f["path"]: f["sha256"] for f in index["items"]} == {p: sha(d) for p, d in FILES.items()}
    assert storage(gov).get(f"/model_versions/{version}/verify").json()["ok"] is True

    repository, digest = uri.split("/", 3)[3].split(":", 1)[0], uri.rsplit("@", 1)[1]
    assert httpx.delete(f"{oci_registry.url}/v2/{repository}/manifests/{digest}").status_code == 202
    report = storage(gov).get(f"/model_versions/{version}/verify").json()
    assert report["ok"] is False and report["image"]["status"] == "missing"
    assert {i["path"]: i["status"] for i in report["items"]} == dict.fromkeys(FILES, "missing")
