"""ModelCar push and read-back against a real registry (Debian's docker-registry): the image's layout, olot's
conventions, deterministic layers, no second upload of what the registry has, and digests checked on the way."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelreg.blobs import BlobNotFound, SizeMismatch
from modelreg.blobs.factory import open_uri
from modelreg.blobs.oci import Layer, OciImageStore, OciStore, PushedImage, make_layer, parse_image_ref
from modelreg.blobs.oci_base import load_base_image
from modelreg.blobs.oci_registry import UploadCancelled, json_bytes
from modelreg.blobs.ops import DigestMismatch
from oci_registry import OciRegistry
from oci_registry import oci_registry as oci_registry  # the fixture

MODEL = {
    "config.json": b'{"architectures": ["Demo"]}',
    "tokenizer/tokenizer.json": b'{"vocab": {}}' * 50,
    "weights.safetensors": os.urandom(3 * 1024 * 1024 + 17),
    "README.md": b"# Demo model\n\nA model card.\n" * 20,
    "empty.txt": b"",
}
ACCEPT = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"


def push_model(store: OciStore, repository: str, files: dict[str, bytes], tag: str | None = "1.0.0") -> PushedImage:
    with store.push(repository) as push:
        layers = [push.add_file(path, io.BytesIO(data), len(data)) for path, data in files.items()]
        return push.finish(layers, tag)


def get_json(registry: OciRegistry, repository: str, what: str) -> dict[str, Any]:
    response = httpx.get(f"{registry.url}/v2/{repository}/{what}", headers={"Accept": ACCEPT})
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def get_blob(registry: OciRegistry, repository: str, digest: str) -> bytes:
    response = httpx.get(f"{registry.url}/v2/{repository}/blobs/{digest}")
    assert response.status_code == 200
    assert "sha256:" + hashlib.sha256(response.content).hexdigest() == digest
    return response.content


def platform_manifests(registry: OciRegistry, repository: str, reference: str) -> list[dict[str, Any]]:
    index = get_json(registry, repository, f"manifests/{reference}")
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    return [get_json(registry, repository, f"manifests/{entry['digest']}") for entry in index["manifests"]]


def test_a_pushed_model_reads_back_byte_for_byte(oci_registry: OciRegistry) -> None:
    store = OciStore(oci_registry.config())
    image = push_model(store, "models/roundtrip", MODEL)
    assert image.ref.tag == "1.0.0" and image.ref.digest == image.digest

    by_tag = store.image(parse_image_ref(f"oci://{oci_registry.host}/models/roundtrip:1.0.0"))
    assert by_tag.digest() == image.digest
    reader, key = open_uri(image.ref.uri(), oci_registry.config())
    assert isinstance(reader, OciImageStore) and key == ""
    listed = {f.key: f for f in reader.files()}
    assert set(listed) == set(MODEL)
    for path, data in MODEL.items():
        assert listed[path].size == len(data)
        assert listed[path].sha256 == hashlib.sha256(data).hexdigest()
        with reader.open_read(path) as f:
            assert f.read() == data
    assert list(reader.iter_keys("tokenizer")) == ["tokenizer/tokenizer.json"]
    assert {layer.path: layer.sha256 for layer in image.layers} == {
        p: hashlib.sha256(d).hexdigest() for p, d in MODEL.items()
    }
    with pytest.raises(BlobNotFound):
        reader.open_read("missing.bin")


def test_the_image_is_the_base_image_plus_exactly_one_layer_per_file_under_models(oci_registry: OciRegistry) -> None:
    image = push_model(OciStore(oci_registry.config()), "models/layout", MODEL, tag="v1")
    base = load_base_image()
    manifests = platform_manifests(oci_registry, "models/layout", "v1")
    assert len(manifests) == len(base.images) == 2  # the embedded base is amd64 + arm64; layers appended to both
    for manifest, platform in zip(manifests, base.images, strict=True):
        base_layers = platform.manifest["layers"]
        assert manifest["layers"][: len(base_layers)] == base_layers
        added = manifest["layers"][len(base_layers) :]
        assert [layer["digest"] for layer in added] == [layer.digest for layer in image.layers]
        assert added[-1]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"  # the model card, last
        assert manifest["annotations"]["io.opendatahub.layers.modelcard"] == added[-1]["digest"]
        assert manifest["annotations"]["io.opendatahub.author"] == "modelreg"
        config = json.loads(get_blob(oci_registry, "models/layout", manifest["config"]["digest"]))
        assert config["config"]["Entrypoint"] == platform.config["config"]["Entrypoint"]
        diff_ids = config["rootfs"]["diff_ids"]
        assert (
            len(diff_ids) == len(manifest["layers"]) and len(config["history"]) == len(platform.config["history"]) + 5
        )

        members: dict[str, tarfile.TarInfo] = {}
        contents: dict[str, bytes] = {}
        for layer, diff_id in zip(added, diff_ids[len(base_layers) :], strict=True):
            blob = get_blob(oci_registry, "models/layout", layer["digest"])
            raw = gzip.decompress(blob) if layer["mediaType"].endswith("+gzip") else blob
            assert "sha256:" + hashlib.sha256(raw).hexdigest() == diff_id
            assert len(raw) % 10240 == 0  # whole tar records, as tarfile (and olot) write them
            with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
                entries = tar.getmembers()
                assert len(entries) == 1
                member = entries[0]
                members[member.name] = member
                contents[member.name] = tar.extractfile(member).read()  # type: ignore[union-attr]
            notes = layer["annotations"]
            path = member.name.removeprefix("models/")
            assert notes["olot.layer.content.inlayerpath"] == f"/models/{path}"
            assert notes["olot.layer.content.digest"] == "sha256:" + hashlib.sha256(MODEL[path]).hexdigest()
            assert notes["org.opencontainers.image.title"] == notes["olot.layer.content.name"] == path.split("/")[-1]
            assert notes["olot.layer.content.type"] == "file"
            assert (notes.get("io.opendatahub.modelcar.layer.type") == "modelcard") == (path == "README.md")
        assert sorted(members) == sorted(f"models/{p}" for p in MODEL)
        assert {name.removeprefix("models/"): data for name, data in contents.items()} == MODEL
        for member in members.values():
            assert (member.uid, member.gid, member.mode, member.mtime, member.uname, member.gname) == (
                0,
                0,
                0o664,
                0,
                "",
                "",
            )
            assert member.isreg()


def test_the_same_files_give_the_same_layers_and_a_re_push_uploads_no_blob(oci_registry: OciRegistry) -> None:
    store = OciStore(oci_registry.config())
    first = push_model(store, "models/again", MODEL)
    again = push_model(store, "models/again-too", MODEL)  # streamed again, elsewhere: same layer digests
    assert [layer.digest for layer in again.layers] == [layer.digest for layer in first.layers]

    before = oci_registry.blob_uploads()
    with store.push("models/again") as push:
        reused = [push.reuse(x.path, x.size, x.sha256, x.digest, x.layer_size) for x in first.layers]
        assert all(layer is not None for layer in reused)
        second = push.finish([layer for layer in reused if layer is not None], "1.0.1")
    assert oci_registry.blob_uploads() == before
    assert [(x.digest, x.diff_id) for x in second.layers] == [(x.digest, x.diff_id) for x in first.layers]
    reader = store.image(second.ref)
    with reader.open_read("weights.safetensors") as f:
        assert f.read() == MODEL["weights.safetensors"]


def test_reuse_finds_nothing_in_another_repository_unless_it_may_mount_from_it(oci_registry: OciRegistry) -> None:
    store = OciStore(oci_registry.config())
    source = push_model(store, "models/mount-source", {"a.bin": b"mounted bytes"})
    layer = source.layers[0]
    with store.push("models/mount-target") as push:
        assert push.reuse(layer.path, layer.size, layer.sha256, layer.digest, layer.layer_size) is None
    with store.push("models/mount-target", mount_from=["models/mount-source"]) as push:
        mounted = push.reuse(layer.path, layer.size, layer.sha256, layer.digest, layer.layer_size)
        assert mounted is not None
        image = push.finish([mounted], "1")
    with store.image(image.ref).open_read("a.bin") as f:
        assert f.read() == b"mounted bytes"


def test_finish_needs_only_the_recorded_layers(oci_registry: OciRegistry) -> None:
    """Each file may be pushed in another request: the layers are rebuilt from what a session records."""
    store = OciStore(oci_registry.config())
    recorded = []
    for path, data in MODEL.items():
        with store.push("models/sessions") as push:
            layer = push.add_file(path, io.BytesIO(data), len(data))
            recorded.append((layer.path, layer.size, layer.sha256, layer.digest, layer.layer_size))
    with store.push("models/sessions") as push:
        image = push.finish([make_layer(*r) for r in recorded], None)
        push.set_tag(image, "later")
    assert image.ref.tag is None
    tagged = store.image(parse_image_ref(f"{oci_registry.host}/models/sessions:later"))
    assert tagged.digest() == image.digest
    assert {f.key for f in tagged.files()} == set(MODEL)
    config_digests = {m["config"]["digest"] for m in platform_manifests(oci_registry, "models/sessions", "later")}
    for digest in config_digests:  # the model card's diff_id was read back from its layer
        config = json.loads(get_blob(oci_registry, "models/sessions", digest))
        assert all(d.startswith("sha256:") and len(d) == 71 for d in config["rootfs"]["diff_ids"])


class Chunks:
    """A stream that returns ``data`` in small pieces and can fire a callback when half of it was read."""

    def __init__(self, data: bytes, at_half: Any = None) -> None:
        self.data = io.BytesIO(data)
        self.half = len(data) // 2
        self.at_half = at_half

    def read(self, size: int = -1) -> bytes:
        block = self.data.read(min(size, 65536) if size >= 0 else 65536)
        if self.at_half is not None and self.data.tell() >= self.half:
            callback, self.at_half = self.at_half, None
            callback()
        return block


@pytest.mark.parametrize(("announced", "actual"), [(1000, 999), (1000, 1001)])
def test_a_stream_of_the_wrong_size_is_refused_and_leaves_no_open_upload(
    oci_registry: OciRegistry, announced: int, actual: int
) -> None:
    store = OciStore(oci_registry.config())
    with store.push("models/short") as push, pytest.raises(SizeMismatch):
        push.add_file("a.bin", Chunks(b"x" * actual), announced)
    assert oci_registry.open_uploads("models/short") == []


def test_cancel_during_add_file_ends_the_upload(oci_registry: OciRegistry) -> None:
    store = OciStore(oci_registry.config())
    push = store.push("models/cancelled")
    thread: list[threading.Thread] = []

    def cancel_from_another_thread() -> None:
        thread.append(threading.Thread(target=push.cancel))
        thread[0].start()
        thread[0].join()

    with push, pytest.raises(UploadCancelled):
        push.add_file(
            "big.bin", Chunks(os.urandom(8 * 1024 * 1024), at_half=cancel_from_another_thread), 8 * 1024 * 1024
        )
    assert oci_registry.open_uploads("models/cancelled") == []
    with store.push("models/cancelled") as push2:  # the repository still takes pushes
        push2.finish([push2.add_file("a.txt", io.BytesIO(b"a"), 1)], "ok")


def test_a_corrupted_layer_is_detected_when_read(oci_registry: OciRegistry) -> None:
    store = OciStore(oci_registry.config())
    data = os.urandom(200_000)
    image = push_model(store, "models/corrupt", {"w.bin": data})
    layer = image.layers[0]
    hexdigest = layer.digest.removeprefix("sha256:")
    blob = oci_registry.storage / "docker/registry/v2/blobs/sha256" / hexdigest[:2] / hexdigest / "data"
    content = bytearray(blob.read_bytes())
    content[1024] ^= 0xFF  # inside the file's bytes, past the tar header
    blob.write_bytes(bytes(content))
    reader = store.image(image.ref)
    with pytest.raises(DigestMismatch), reader.open_read("w.bin") as f:
        f.read()


def test_an_image_without_annotations_is_listed_from_its_tar_headers(oci_registry: OciRegistry) -> None:
    """Pushed by other tools (skopeo drops the annotations, and gzips): the files come from the layers' headers."""
    repository = "models/plain"
    store = OciStore(oci_registry.config())
    files = {"models/a.txt": b"alpha", "models/sub/b.bin": os.urandom(5000), "etc/other": b"not the model's"}
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    layer = buffer.getvalue()
    config = json_bytes({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}})
    with store.push(repository) as push:
        layer_digest = push.client.push_blob(repository, layer)
        config_digest = push.client.push_blob(repository, config)
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": len(layer)}
            ],
        }
        push.client.put_manifest(repository, "1", json_bytes(manifest), manifest["mediaType"])
    reader = store.image(parse_image_ref(f"{oci_registry.host}/{repository}:1"))
    assert {(f.key, f.size, f.sha256) for f in reader.files()} == {
        (name.removeprefix("models/"), len(data), hashlib.sha256(data).hexdigest())
        for name, data in files.items()
        if name.startswith("models/")
    }
    with reader.open_read("sub/b.bin") as f:
        assert f.read() == files["models/sub/b.bin"]


def test_a_layer_records_what_finish_needs(oci_registry: OciRegistry) -> None:
    with OciStore(oci_registry.config()).push("models/one") as push:
        layer = push.add_file("dir/x.bin", io.BytesIO(b"12345"), 5)
    assert isinstance(layer, Layer)
    assert layer.stored().key == "dir/x.bin" and layer.stored().size == 5
    assert make_layer(layer.path, layer.size, layer.sha256, layer.digest, layer.layer_size) == layer


def test_a_base_image_layout_directory_is_used_as_given(oci_registry: OciRegistry, tmp_path: Path) -> None:
    """A single-platform layout (one manifest, no index) gives a single manifest."""
    embedded = load_base_image()
    amd64 = embedded.images[0]
    layout = tmp_path / "layout"
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    manifest = json_bytes(amd64.manifest)
    for digest in [d["digest"] for d in amd64.manifest["layers"]] + [amd64.manifest["config"]["digest"]]:
        (blobs / digest.removeprefix("sha256:")).write_bytes(embedded.blob_path(digest).read_bytes())
    (blobs / hashlib.sha256(manifest).hexdigest()).write_bytes(manifest)
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    entry = {
        "mediaType": amd64.manifest["mediaType"],
        "digest": "sha256:" + hashlib.sha256(manifest).hexdigest(),
        "size": len(manifest),
    }
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))

    store = OciStore(oci_registry.config(), base_image=str(layout))
    image = push_model(store, "models/single", {"a.txt": b"a"}, tag="1")
    document = get_json(oci_registry, "models/single", "manifests/1")
    assert document["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert "sha256:" + hashlib.sha256(json_bytes(document)).hexdigest() == image.digest
    assert [layer["digest"] for layer in document["layers"]] == [
        *(d["digest"] for d in amd64.manifest["layers"]),
        image.layers[0].digest,
    ]
