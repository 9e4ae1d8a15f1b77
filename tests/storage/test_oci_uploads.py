"""Uploads into an OCI registry (Debian's docker-registry on 127.0.0.1, ``tests/oci_registry.py``): the session's files
become a ModelCar image, pushed by digest before anything is registered, tagged after; identical files are never
sent twice; registry failures register nothing; a chunked body is refused; 1 GB through a server process keeps its
memory flat."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import socket
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from cli_runner import invoke_cli
from conftest import SQLITE_ONLY, free_port
from governance.conftest import Governed
from modelreg.blobs.oci import OciImageStore, parse_image_ref
from modelreg.client import ModelRegistry
from oci_registry import BINARY, OciRegistry, oci_registry, oci_registry_auth, start_registry
from processes import ServeProcess

__all__ = ["oci_registry", "oci_registry_auth"]

sqlite_only = getattr(pytest.mark, SQLITE_ONLY)("ModelCar uploads: the registry's side, not the database's")

STORAGE = "/api/storage/v1"
MB = 1024 * 1024
PREFIX = "team"
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
MODEL = {
    "config.json": b'{"layers": 2}',
    "weights/model.bin": os.urandom(300_000),
    "weights/shards/part-0.bin": os.urandom(70_000),
    "tokenizer/vocab.txt": b"a\nb\nc\n",
    "README.md": b"# A model\n\nIts card.\n",
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def storage(gov: Governed, caller: str | None = "developer") -> httpx.Client:
    return gov.client(caller, prefix=STORAGE)


def oci_connection(gov: Governed, server: OciRegistry, name: str = "oci", **extra: Any) -> None:
    body: dict[str, Any] = {
        "name": name,
        "type": "oci",
        "registry": server.host,
        "repositoryPrefix": PREFIX,
        "plainHttp": True,
    }
    if server.username is not None:
        body.update(username=server.username, password=server.password)
    body.update(extra)
    check = body.pop("check", True)
    created = storage(gov, "admin").post("/connections", json=body, params={"check": str(check).lower()})
    assert created.status_code == 201, created.text


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return root


def sdk(gov: Governed, caller: str = "developer") -> ModelRegistry:
    return ModelRegistry(gov.url, token=gov.tokens[caller], author=f"ai-{caller}")


def model_layers(registry: OciRegistry, uri: str) -> dict[str, dict[str, bytes]]:
    """The image's layers that hold files under ``/models`` (digest → {path: bytes}), read with no modelreg code."""
    ref = parse_image_ref(uri)
    base = f"{registry.url}/v2/{ref.repository}"
    with httpx.Client(timeout=30) as http:
        manifest = http.get(f"{base}/manifests/{ref.reference}", headers={"Accept": MANIFEST_TYPES}).json()
        if "manifests" in manifest:  # an index over the base image's platforms: the model is in each; read one
            first = manifest["manifests"][0]["digest"]
            manifest = http.get(f"{base}/manifests/{first}", headers={"Accept": MANIFEST_TYPES}).json()
        found: dict[str, dict[str, bytes]] = {}
        for layer in manifest["layers"]:
            blob = http.get(f"{base}/blobs/{layer['digest']}").content
            assert f"sha256:{sha(blob)}" == layer["digest"]
            with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as tar:
                for member in tar.getmembers():
                    name = member.name.lstrip("/").removeprefix("./")
                    if member.isfile() and name.startswith("models/"):
                        extracted = tar.extractfile(member)
                        assert extracted is not None
                        found.setdefault(layer["digest"], {})[name.removeprefix("models/")] = extracted.read()
    return found


def image_files(registry: OciRegistry, uri: str) -> dict[str, bytes]:
    """Every regular file of the image under ``/models`` (no other layer puts anything there)."""
    files: dict[str, bytes] = {}
    for layer in model_layers(registry, uri).values():
        assert not files.keys() & layer.keys(), "a file in two layers"
        files.update(layer)
    return files


def uploaded_digests(registry: OciRegistry, repository: str) -> set[str]:
    """The blobs whose bytes were uploaded into a repository (the registry's access log: completed blob uploads)."""
    registry.blob_uploads()  # waits until the log has settled
    done = re.compile(rf'"PUT /v2/{re.escape(repository)}/blobs/uploads/[^" ]*[?&]digest=sha256%3A([0-9a-f]{{64}})')
    return {f"sha256:{m.group(1)}" for m in done.finditer(registry.log.read_text(errors="replace"))}


def test_directory_model_pushed_as_a_modelcar_then_listed_downloaded_verified(
    gov: Governed, oci_registry: OciRegistry, tmp_path: Path
) -> None:
    oci_connection(gov, oci_registry)
    source = write_tree(tmp_path / "model", MODEL)
    with sdk(gov) as client:
        done = client.upload("Granite Demo", "v1.0", source, connection="oci", model_format_name="onnx")
    artifact = done.model_artifact.raw
    repository = f"{PREFIX}/granite-demo"
    uri = artifact["uri"]
    assert uri.startswith(f"oci://{oci_registry.host}/{repository}:v1.0@sha256:"), uri
    digest = uri.rsplit("@", 1)[1]
    props = artifact["customProperties"]
    assert props["modelreg.oci.digest"]["string_value"] == digest
    assert props["modelreg.files"]["int_value"] == str(len(MODEL))
    assert props["modelreg.size"]["int_value"] == str(sum(map(len, MODEL.values())))
    manifest = "".join(f"{sha(MODEL[p])}  {p}\n" for p in sorted(MODEL))
    assert props["modelreg.sha256"]["string_value"] == sha(manifest.encode())
    assert artifact["storageKey"] == "oci" and artifact["storagePath"] == repository
    assert {f.path: f.sha256 for f in done.files} == {p: sha(d) for p, d in MODEL.items()}
    assert done.warnings == ()

    # the image holds exactly the model's files under /models, byte for byte, and the tag names the same image
    assert image_files(oci_registry, uri) == MODEL
    tagged = OciImageStore(oci_registry.config(), parse_image_ref(f"{oci_registry.host}/{repository}:v1.0"))
    assert tagged.digest() == digest
    assert {f.key: f.sha256 for f in tagged.files()} == {p: sha(d) for p, d in MODEL.items()}

    # the session records the image
    session = done.raw["upload"]
    assert session["tag"] == "v1.0" and session["imageDigest"] == digest and session["uri"] == uri

    # the storage API lists, serves and verifies the files from the registry
    version_id = done.model_version.id
    viewer = storage(gov, "viewer")
    index = viewer.get(f"/model_versions/{version_id}/files")
    assert index.status_code == 200, index.text
    assert {f["path"]: f["sha256"] for f in index.json()["items"]} == {p: sha(d) for p, d in MODEL.items()}
    got = viewer.get(f"/model_versions/{version_id}/files/weights/model.bin")
    assert got.status_code == 200 and got.content == MODEL["weights/model.bin"]
    report = viewer.get(f"/model_versions/{version_id}/verify").json()
    assert report["ok"] is True, report
    with sdk(gov, "viewer") as client:
        written = client.download("Granite Demo", "v1.0", tmp_path / "copy")
    assert {p.relative_to(tmp_path / "copy").as_posix(): p.read_bytes() for p in written} == MODEL


@sqlite_only
def test_identical_files_are_not_sent_twice(gov: Governed, oci_registry: OciRegistry, tmp_path: Path) -> None:
    oci_connection(gov, oci_registry)
    source = write_tree(tmp_path / "model", MODEL)
    with sdk(gov) as client:
        first = client.upload("dedup", "v1", source, connection="oci")
        uploads_before = oci_registry.blob_uploads()
        second = client.upload("dedup", "v2", source, connection="oci")
        assert oci_registry.blob_uploads() == uploads_before, "a re-push of identical files uploaded a blob"
        assert second.model_artifact.uri.split("@")[0].endswith("/team/dedup:v2")
        assert image_files(oci_registry, second.model_artifact.uri) == MODEL

        # another model (another repository) gets the file layers by a cross-repository mount, without their bytes
        third = client.upload("dedup copy", "v1", source, connection="oci")
        layers = model_layers(oci_registry, third.model_artifact.uri).keys()
        assert len(layers) == len(MODEL) and not uploaded_digests(oci_registry, f"{PREFIX}/dedup-copy") & layers
        assert image_files(oci_registry, third.model_artifact.uri) == MODEL

        # one changed file: of the model's layers only its layer travels
        new_config = f'{{"layers": 3, "seed": "{os.urandom(8).hex()}"}}'.encode()  # a layer new to the registry
        changed = write_tree(tmp_path / "changed", {**MODEL, "config.json": new_config})
        sent_before = uploaded_digests(oci_registry, f"{PREFIX}/dedup")
        fourth = client.upload("dedup", "v3", changed, connection="oci")
    sent = uploaded_digests(oci_registry, f"{PREFIX}/dedup") - sent_before
    layers_now = model_layers(oci_registry, fourth.model_artifact.uri)
    assert [layers_now[d] for d in sent & layers_now.keys()] == [{"config.json": new_config}]
    assert model_layers(oci_registry, first.model_artifact.uri) == model_layers(oci_registry, second.model_artifact.uri)


@sqlite_only
def test_reuse_protocol(gov: Governed, oci_registry: OciRegistry) -> None:
    oci_connection(gov, oci_registry)
    api = storage(gov)
    data = os.urandom(50_000)
    first = api.post("/uploads", json={"registeredModelName": "reuse", "versionName": "v1", "connection": "oci"})
    assert first.status_code == 201, first.text
    assert first.json()["reuse"] is True and first.json()["tag"] == "v1"
    session = f"/uploads/{first.json()['id']}"
    assert api.post(f"{session}/reuse", json={"path": "w.bin", "size": len(data)}).json() == {"known": False}
    assert api.put(f"{session}/files/w.bin", content=data).json()["sha256"] == sha(data)
    # its own session already has the file
    assert api.post(f"{session}/reuse", json={"path": "w.bin", "size": len(data)}).status_code == 409

    second = api.post("/uploads", json={"registeredModelName": "reuse", "versionName": "v2", "connection": "oci"})
    session2 = f"/uploads/{second.json()['id']}"
    ask = {"path": "w.bin", "size": len(data)}
    assert api.post(f"{session2}/reuse", json=ask).json() == {"known": True}  # an open session's layer counts
    assert api.post(f"{session2}/reuse", json={**ask, "size": 1}).json() == {"known": False}
    assert api.post(f"{session2}/reuse", json={**ask, "path": "x.bin"}).json() == {"known": False}
    assert api.post(f"{session2}/reuse", json={**ask, "sha256": sha(b"other")}).json() == {"known": False}
    bad = api.post(f"{session2}/reuse", json={**ask, "sha256": "XYZ"})
    assert bad.status_code in (400, 422)
    recorded = api.post(f"{session2}/reuse", json={**ask, "sha256": sha(data)}).json()
    assert recorded == {"known": True, "file": {"path": "w.bin", "size": len(data), "sha256": sha(data)}}
    assert api.get(session2).json()["files"] == [recorded["file"]]
    committed = api.post(f"{session2}/commit")
    assert committed.status_code == 201, committed.text
    assert image_files(oci_registry, committed.json()["modelArtifact"]["uri"]) == {"w.bin": data}

    # a layer the registry no longer has is not claimed: the client sends the bytes
    third = api.post("/uploads", json={"registeredModelName": "reuse", "versionName": "v3", "connection": "oci"})
    layer_dir = oci_registry.storage / "docker/registry/v2/repositories/team/reuse/_layers/sha256"
    for link in layer_dir.iterdir():
        (link / "link").unlink(
            missing_ok=True
        )  # as if the registry had lost (or garbage-collected) every layer of the repository
    gone = api.post(f"/uploads/{third.json()['id']}/reuse", json={**ask, "sha256": sha(data)})
    assert gone.json() == {"known": False}

    # S3 and local sessions always send the bytes
    local = api.post("/uploads", json={"registeredModelName": "reuse-local", "versionName": "v1"}).json()
    assert local["reuse"] is False and "tag" not in local
    answer = api.post(f"/uploads/{local['id']}/reuse", json={**ask, "sha256": sha(data)})
    assert answer.json() == {"known": False}


@sqlite_only
def test_tag_option_and_bad_tags(gov: Governed, oci_registry: OciRegistry, tmp_path: Path) -> None:
    oci_connection(gov, oci_registry)
    source = write_tree(tmp_path / "one", {"model.onnx": b"onnx"})
    env = {"MODELREG_URL": gov.url, "MODELREG_TOKEN": gov.tokens["developer"]}
    done = invoke_cli("upload", "tagged", "version one", str(source), "--connection", "oci", "--tag", "prod-1", env=env)
    assert done.returncode == 0, done.stderr
    assert f"oci://{oci_registry.host}/{PREFIX}/tagged:prod-1@sha256:" in done.stdout
    assert "warning" not in done.stderr
    ref = parse_image_ref(f"{oci_registry.host}/{PREFIX}/tagged:prod-1")
    assert image_files(oci_registry, ref.uri()) == {"model.onnx": b"onnx"}

    api = storage(gov)
    begin = {"registeredModelName": "tagged", "versionName": "v2", "connection": "oci"}
    for tag in ("-x", ".x", "a b", "x" * 129, "a/b"):
        refused = api.post("/uploads", json={**begin, "tag": tag})
        assert refused.status_code in (400, 422) and "tag" in refused.text, tag
    not_oci = api.post("/uploads", json={"registeredModelName": "m", "versionName": "v", "tag": "t"})
    assert not_oci.status_code == 400 and "oci" in not_oci.json()["message"]
    # the default tag is made from the version name
    default = api.post("/uploads", json={**begin, "versionName": "v2 final"}).json()
    assert default["tag"] == "v2-final" and default["uri"].endswith(f"/{PREFIX}/tagged:v2-final")
    # a version that has a model artifact is refused before the registry is asked
    again = api.post("/uploads", json={**begin, "versionName": "version one"})
    assert again.status_code == 409 and "already has a model artifact" in again.json()["message"]


@sqlite_only
def test_chunked_put_is_refused_with_411(gov: Governed, oci_registry: OciRegistry) -> None:
    oci_connection(gov, oci_registry)
    api = storage(gov)
    started = api.post("/uploads", json={"registeredModelName": "m", "versionName": "v1", "connection": "oci"})
    session = f"/uploads/{started.json()['id']}"

    def body() -> Iterator[bytes]:
        yield b"x" * 1000

    refused = api.put(f"{session}/files/w.bin", content=body())  # a generator: chunked, no Content-Length
    assert refused.status_code == 411, refused.text
    assert "Content-Length" in refused.json()["message"]
    assert api.get(session).json()["files"] == []
    assert api.put(f"{session}/files/w.bin", content=b"x" * 1000).status_code == 200


@sqlite_only
def test_interrupted_put_records_nothing_and_leaves_no_open_upload(gov: Governed, oci_registry: OciRegistry) -> None:
    oci_connection(gov, oci_registry)
    api = storage(gov)
    started = api.post("/uploads", json={"registeredModelName": "cut", "versionName": "v1", "connection": "oci"})
    session = f"/uploads/{started.json()['id']}"
    url = urlsplit(gov.url)
    with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80)) as sock:
        head = f"PUT {STORAGE}{session}/files/w.bin HTTP/1.1\r\nHost: {url.netloc}\r\n"
        head += f"Authorization: Bearer {gov.tokens['developer']}\r\nContent-Length: {20 * MB}\r\n\r\n"
        sock.sendall(head.encode() + os.urandom(6 * MB))
    repository = f"{PREFIX}/cut"
    appeared = time.monotonic() + 2  # the server may pick the request up after the client is gone
    while not oci_registry.open_uploads(repository) and time.monotonic() < appeared:
        time.sleep(0.02)
    deadline = time.monotonic() + 30  # the server notices the disconnect and cancels the registry's blob upload
    while oci_registry.open_uploads(repository) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    assert oci_registry.open_uploads(repository) == []
    assert api.get(session).json()["files"] == []
    # the same session takes the file again and commits
    assert api.put(f"{session}/files/w.bin", content=b"whole").status_code == 200
    committed = api.post(f"{session}/commit")
    assert committed.status_code == 201, committed.text
    assert image_files(oci_registry, committed.json()["modelArtifact"]["uri"]) == {"w.bin": b"whole"}


class NoTagsProxy:
    """A proxy in front of a registry that refuses to set tags (PUT of a manifest by tag), as a registry with
    immutable tags does when the tag is taken; everything else is forwarded."""

    def __init__(self, registry: OciRegistry) -> None:
        upstream = httpx.Client(base_url=registry.url, timeout=30)
        self.upstream = upstream

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    parts = []
                    while size := int(self.rfile.readline().split(b";")[0], 16):
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                    self.rfile.readline()
                    return b"".join(parts)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _serve(self) -> None:
                body = self._body()
                if self.command == "PUT" and re.search(r"/manifests/(?!sha256:)[^/]+$", self.path.split("?")[0]):
                    denied = b'{"errors": [{"code": "DENIED", "message": "tag is immutable"}]}'
                    return self._answer(403, {"Content-Type": "application/json"}, denied)
                skip = ("content-length", "transfer-encoding", "connection")
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                got = upstream.request(self.command, self.path, content=body, headers=headers)
                return self._answer(got.status_code, dict(got.headers), got.content)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> NoTagsProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.upstream.close()


@sqlite_only
def test_a_tag_that_cannot_be_set_is_a_warning(gov: Governed, oci_registry: OciRegistry, tmp_path: Path) -> None:
    with NoTagsProxy(oci_registry) as proxy:
        oci_connection(gov, oci_registry, registry=proxy.host)
        with sdk(gov) as client:
            done = client.upload("immutable", "v1", write_tree(tmp_path / "m", {"w.bin": b"w"}), connection="oci")
    assert len(done.warnings) == 1 and "as 'v1'" in done.warnings[0] and "403 DENIED" in done.warnings[0]
    uri = done.model_artifact.uri
    assert uri.startswith(f"oci://{proxy.host}/{PREFIX}/immutable:v1@sha256:")  # the digest makes it usable
    assert image_files(oci_registry, uri.replace(proxy.host, oci_registry.host)) == {"w.bin": b"w"}
    assert done.model_artifact.raw["state"] == "LIVE"


def registered(gov: Governed) -> tuple[list[Any], list[Any]]:
    admin = gov.registry("admin")
    return admin.get("/registered_models").json()["items"], admin.get("/model_versions").json()["items"]


@sqlite_only
def test_wrong_credentials_register_nothing(gov: Governed, oci_registry_auth: OciRegistry) -> None:
    oci_connection(gov, oci_registry_auth, password="wrong-password", check=False)
    api = storage(gov)
    begin = api.post("/uploads", json={"registeredModelName": "m", "versionName": "v1", "connection": "oci"})
    assert begin.status_code == 502, begin.text
    assert "credentials" in begin.json()["message"] and "401" in begin.json()["message"]
    assert "wrong-password" not in begin.text
    assert registered(gov) == ([], [])


@sqlite_only
def test_refused_and_unreachable_registry_register_nothing(
    gov: Governed, oci_registry: OciRegistry, tmp_path: Path
) -> None:
    # nothing listens there
    oci_connection(gov, oci_registry, name="nowhere", registry=f"127.0.0.1:{free_port()}", check=False)
    api = storage(gov)
    down = api.post("/uploads", json={"registeredModelName": "m", "versionName": "v1", "connection": "nowhere"})
    assert down.status_code == 503, down.text
    assert "127.0.0.1" in down.json()["message"]

    # a registry that takes no pushes (read-only mode): refused at begin, before any byte is sent
    readonly = read_only(start_registry(tmp_path / "readonly"))
    try:
        oci_connection(gov, readonly, name="readonly", check=False)
        refused = api.post("/uploads", json={"registeredModelName": "m", "versionName": "v1", "connection": "readonly"})
        assert refused.status_code == 502, refused.text
        assert readonly.host in refused.json()["message"]
    finally:
        readonly.stop()

    # the registry goes away between the files and the commit: 503, nothing registered, the session still open
    flaky = start_registry(tmp_path / "flaky")
    try:
        oci_connection(gov, flaky, name="flaky")
        started = api.post("/uploads", json={"registeredModelName": "m", "versionName": "v1", "connection": "flaky"})
        session = f"/uploads/{started.json()['id']}"
        assert api.put(f"{session}/files/w.bin", content=b"weights").status_code == 200
        flaky.stop()
        failed = api.post(f"{session}/commit")
        assert failed.status_code == 503, failed.text
        assert api.get(session).json()["state"] == "open"
    finally:
        flaky.stop()
    assert registered(gov) == ([], [])


def read_only(registry: OciRegistry) -> OciRegistry:
    """The same registry (port, storage) restarted in read-only mode: it serves pulls and refuses every push."""
    registry.stop()
    config = registry.log.parent / "config.yml"
    readonly = "maintenance: {readonly: {enabled: true}}, delete: {enabled: true}"
    config.write_text(config.read_text().replace("delete: {enabled: true}", readonly))
    with open(registry.log, "ab") as out:
        process = subprocess.Popen([str(BINARY), "serve", str(config)], stdout=out, stderr=subprocess.STDOUT)
    restarted = OciRegistry(registry.host, registry.storage, registry.log, process)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{restarted.url}/v2/", timeout=2).status_code == 200:
                return restarted
        time.sleep(0.05)
    restarted.stop()
    raise RuntimeError("the read-only registry did not answer")


class Repeated:
    """``size`` bytes of one repeated random MiB, made on the fly (never held whole), hashed as they go."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.block = os.urandom(MB)
        self.hash = hashlib.sha256()

    def __iter__(self) -> Iterator[bytes]:
        left = self.size
        while left:
            chunk = self.block[: min(left, MB)]
            left -= len(chunk)
            self.hash.update(chunk)
            yield chunk


def peak_rss(pid: int) -> int:
    """VmHWM of a process, in bytes: the most resident memory it ever had."""
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmHWM:"))


@sqlite_only
def test_a_gigabyte_through_the_server_keeps_its_memory_flat(oci_registry: OciRegistry, tmp_path: Path) -> None:
    """1 GB PUT into an oci session of a ``modelreg serve`` process: the server's peak RSS grows by < 100 MB."""
    env = {"MODELREG_DATA_DIR": str(tmp_path / "data")}
    with (
        ServeProcess(free_port(), "--database-url", f"sqlite:///{tmp_path / 'r.db'}", env=env) as server,
        httpx.Client(base_url=f"{server.url}{STORAGE}", timeout=120) as api,
    ):
        assert server.proc is not None
        body = {"name": "oci", "type": "oci", "registry": oci_registry.host, "plainHttp": True}
        assert api.post("/connections", json=body).status_code == 201
        begin = {"registeredModelName": "big", "versionName": "v1", "connection": "oci"}
        started = api.post("/uploads", json=begin)
        assert started.status_code == 201, started.text
        session = f"/uploads/{started.json()['id']}"
        # warm up: the first request through each path imports and allocates what every later one reuses
        assert api.put(f"{session}/files/small.bin", content=os.urandom(4 * MB)).status_code == 200
        before = peak_rss(server.proc.pid)
        data = Repeated(1024 * MB)
        began = time.monotonic()
        put = api.put(f"{session}/files/weights.bin", content=iter(data), headers={"Content-Length": str(data.size)})
        elapsed = time.monotonic() - began
        assert put.status_code == 200, put.text
        assert put.json() == {"path": "weights.bin", "size": data.size, "sha256": data.hash.hexdigest()}
        growth = peak_rss(server.proc.pid) - before
        assert growth < 100 * MB, f"the server's peak RSS grew by {growth / MB:.0f} MB"
        committed = api.post(f"{session}/commit")
        assert committed.status_code == 201, committed.text
        assert committed.json()["modelArtifact"]["customProperties"]["modelreg.size"]["int_value"] == str(
            data.size + 4 * MB
        )
        assert elapsed < 60, f"1 GB took {elapsed:.0f} s"
