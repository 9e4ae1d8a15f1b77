"""Transfer jobs with a real OCI registry (Debian's docker-registry, tests/oci_registry.py): an S3 prefix into a
ModelCar (the image holds exactly the model's files under /models, digests round-trip), an http tar into a ModelCar,
and a ModelCar back out into S3; a destination that refuses is a create-time error."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from blobs.conftest import S3Server
from blobs.conftest import s3_server as s3_server
from conftest import SQLITE_ONLY
from modelreg.blobs.oci import OciStore, parse_image_ref
from modelreg.db.database import Database
from modelreg.errors import BadGateway, Forbidden, Unavailable
from modelreg.services import entities as e
from modelreg.services.registry import RegistryService
from modelreg.services.transfers import Destination, Metadata, Source
from oci_registry import OciRegistry
from oci_registry import oci_registry as oci_registry
from transfers.helpers import MB, Env, Files, environment, sha, tar_of
from transfers.helpers import files as files
from transfers.helpers import transfer_database as transfer_database

pytestmark = [pytest.mark.usefixtures("as_system"), getattr(pytest.mark, SQLITE_ONLY)("the copy, not the database")]


@pytest.fixture
def env(
    request: pytest.FixtureRequest,
    transfer_database: Database,
    tmp_path: Path,
    s3_server: S3Server,
    files: Files,
    oci_registry: OciRegistry,
) -> Iterator[Env]:
    for made in environment(request, transfer_database, tmp_path, s3_server, files):
        made.connections.create("quay", "oci", registry=oci_registry.host, plain_http=True, check=False)
        yield made


def image_files(registry: OciRegistry, uri: str) -> dict[str, bytes]:
    """Every regular file of the image's layers, by its path in the image (read with plain HTTP, not modelreg)."""
    ref = parse_image_ref(uri)
    accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json"
    with httpx.Client(base_url=f"{registry.url}/v2/{ref.repository}", headers={"Accept": accept}) as client:
        manifest = client.get(f"/manifests/{ref.digest or ref.tag}").raise_for_status().json()
        if "manifests" in manifest:  # an index: the linux/amd64 one
            digest = next(m["digest"] for m in manifest["manifests"] if m.get("platform", {}).get("os") == "linux")
            manifest = client.get(f"/manifests/{digest}").raise_for_status().json()
        out = {}
        for layer in manifest["layers"]:
            blob = client.get(f"/blobs/{layer['digest']}").raise_for_status().content
            with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as archive:
                for member in archive:
                    if member.isfile():
                        handle = archive.extractfile(member)
                        assert handle is not None
                        out[member.name.lstrip("/")] = handle.read()
    return out


def test_s3_prefix_to_oci_is_a_modelcar_of_exactly_the_files(env: Env, oci_registry: OciRegistry) -> None:
    contents = {"config.json": b'{"k": 2}', "weights/w.bin": b"\x00\x01" * (3 * MB), "README.md": b"# card\n"}
    for path, data in contents.items():
        env.put(f"raw/oci/{path}", data)
    job = env.service.create(
        "create_model",
        Source("s3", "lake", key="raw/oci"),
        Destination("oci", "quay"),
        Metadata(model_name="Oci Model", version_name="v1 final", model_format_name="safetensors"),
    )
    assert job.destination.repository and job.destination.tag == "v1-final"
    done = env.run(job)
    assert done.state == "COMPLETED", (done.error, done.cause)
    assert done.result_uri and done.result_uri.startswith(
        f"oci://{oci_registry.host}/{job.destination.repository}:v1-final@sha256:"
    )
    in_image = {p: d for p, d in image_files(oci_registry, done.result_uri).items() if p.startswith("models/")}
    assert in_image == {f"models/{p}": d for p, d in contents.items()}
    artifact = RegistryService(env.database).get(e.ARTIFACT, done.model_artifact_id or 0)
    assert artifact.row["uri"] == done.result_uri and artifact.row["state"] == "LIVE"
    assert artifact.props["modelreg.oci.digest"].value == done.result_digest
    assert (artifact.row["storage_key"], artifact.row["storage_path"]) == ("quay", job.destination.repository)
    listed = OciStore(oci_registry.config()).image(parse_image_ref(done.result_uri)).files()
    assert {f.key: f.sha256 for f in listed} == {p: sha(d) for p, d in contents.items()}


def test_http_tar_to_oci(env: Env, oci_registry: OciRegistry) -> None:
    members = {"m/a.txt": b"a" * 10, "m/b.bin": b"b" * (MB + 5)}
    env.files.files["models/pack.tar.gz"] = tar_of(members, "w:gz")
    job = env.service.create(
        "create_model",
        Source("uri", "web", url=f"{env.files.url}models/pack.tar.gz"),
        Destination("oci", "quay", repository="packs/one", tag="t1"),
        Metadata(model_name="pack"),
    )
    done = env.run(job)
    assert done.state == "COMPLETED", (done.error, done.cause)
    in_image = {p: d for p, d in image_files(oci_registry, done.result_uri or "").items() if p.startswith("models/")}
    assert in_image == {f"models/{p}": d for p, d in members.items()}


def test_oci_image_to_s3(env: Env, oci_registry: OciRegistry) -> None:
    contents = {"config.json": json.dumps({"x": 1}).encode(), "w.bin": b"z" * (2 * MB)}
    for path, data in contents.items():
        env.put(f"raw/back/{path}", data)
    pushed = env.run(
        env.service.create(
            "create_model",
            Source("s3", "lake", key="raw/back"),
            Destination("oci", "quay"),
            Metadata(model_name="there"),
        )
    )
    assert pushed.state == "COMPLETED", (pushed.error, pushed.cause)
    job = env.service.create(
        "create_model",
        Source("oci", "quay", image=pushed.result_uri),
        Destination("s3", "vault"),
        Metadata(model_name="back"),
    )
    done = env.run(job)
    assert done.state == "COMPLETED", (done.error, done.cause)
    store = env.dest_store()
    for path, data in contents.items():
        with store.open_read(f"{done.destination.key}/{path}") as stream:
            assert stream.read() == data


def test_oci_source_and_destination_are_checked_at_create(env: Env, oci_registry: OciRegistry) -> None:
    env.put("raw/x/f.bin", b"1")
    with pytest.raises(BadGateway, match="not found"):
        env.service.create(
            "create_model",
            Source("oci", "quay", image=f"{oci_registry.host}/nothing/here:1"),
            Destination("s3", "vault"),
            Metadata(model_name="a"),
        )
    with pytest.raises(Forbidden):
        env.service.create(
            "create_model",
            Source("oci", "quay", image="elsewhere.io/x/y:1"),
            Destination("s3", "vault"),
            Metadata(model_name="a"),
        )
    env.connections.create("down", "oci", registry="127.0.0.1:9", plain_http=True, check=False)
    with pytest.raises(Unavailable):
        env.service.create(
            "create_model", Source("s3", "lake", key="raw/x"), Destination("oci", "down"), Metadata(model_name="a")
        )
    assert env.service.list() == []
