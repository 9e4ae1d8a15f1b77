"""The published client's OCI path against modelreg and a real OCI registry (Debian's docker-registry).

``upload_artifact_and_register_model(..., upload_params=OCIParams(...))`` builds a ModelCar with olot, pushes it
itself (through a ``custom_oci_backend`` on olot's oras-py backend: skopeo, the client's default, is not installed)
and registers ``oci://registry/repo:tag``; modelreg's storage API then lists, downloads and verifies that artifact's
files through an admin's oci connection. Both published clients have the same helper (0.3.10 with olot 0.1.x, 0.3.18
with olot 1.2.1).

The upstream async-upload job cannot run here (its code is not on PyPI and nothing is downloaded at test time), so
its REST call sequence for each intent is replayed with the published client (``scenarios/async_upload_replay.py``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from oci_registry import OciRegistry, oci_registry

from .conftest import LiveServer, ScenarioRunner

__all__ = ["oci_registry"]
BOTH = pytest.mark.parametrize("version", ["0.3.10", "0.3.18"])


@pytest.fixture(scope="module")
def base_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ModelCar base image as an OCI layout (the modelcar-base-image package's embedded one, as modelreg ships
    it); the scenarios push it to the registry first, and the client pulls it from there."""
    from modelcar_base_image.embedded_oci_layout import embedded_oci_layout

    layout = tmp_path_factory.mktemp("base") / "layout"
    embedded_oci_layout(str(layout))
    return layout


def model_directory(root: Path) -> dict[str, bytes]:
    """A small model: weights, a nested file, a model card."""
    files = {
        "model.onnx": os.urandom(2 * 1024 * 1024),
        "config.json": b'{"opset": 17}\n',
        "tokenizer/tokenizer.json": b'{"vocab": {}}\n',
        "README.md": b"# A model card\n",
    }
    for relative, data in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    return files


@pytest.fixture
def storage(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{live_server.url}/api/storage/v1",
        headers={"Authorization": f"Bearer {live_server.token}"},
        timeout=30,
    ) as client:
        yield client


@BOTH
def test_upstream_oci_upload_registers_and_reads_back_through_modelreg(
    version: str,
    live_server: LiveServer,
    run_scenario: ScenarioRunner,
    oci_registry: OciRegistry,
    base_layout: Path,
    storage: httpx.Client,
    tmp_path: Path,
) -> None:
    files = model_directory(tmp_path / "model")
    (tmp_path / "work").mkdir()
    args = (oci_registry.host, str(base_layout), str(tmp_path / "model"), str(tmp_path / "work"))
    output = run_scenario(version, "upload_oci", live_server, *args)
    lines = [line.split(" ") for line in output.splitlines()]
    values = {line[0]: line[1] for line in lines if line[0] in ("VERSION", "URI")}
    assert values["URI"].startswith(f"oci://{oci_registry.host}/models/upstream-oci-"), values
    assert values["URI"].endswith(":0.0.1"), values
    pulled = {line[1]: line[2] for line in lines if line[0] == "FILE"}
    expected = {path: hashlib.sha256(data).hexdigest() for path, data in files.items()}
    assert pulled == expected  # the scenario read them out of the image's /models

    # modelreg reads the client's image through an admin's connection for that registry: list, download, verify
    connection = {"name": f"registry-{version}", "type": "oci", "registry": oci_registry.host, "plainHttp": True}
    created = storage.post("/connections", json=connection)
    assert created.status_code == 201, created.text
    version_id = values["VERSION"]
    index = storage.get(f"/model_versions/{version_id}/files")
    assert index.status_code == 200, index.text
    listed = {item["path"]: item for item in index.json()["items"]}
    assert sorted(listed) == sorted(files)
    assert {path: item["sha256"] for path, item in listed.items()} == expected  # from olot's layer annotations
    for relative, data in files.items():
        assert storage.get(f"/model_versions/{version_id}/files/{relative}").content == data
    report = storage.get(f"/model_versions/{version_id}/verify").json()
    assert report["ok"] is True, report
    assert {item["path"]: item["actual"]["sha256"] for item in report["items"]} == expected


@pytest.mark.clients("0.3.18")
def test_async_upload_job_sequence_against_modelreg(
    live_server: LiveServer,
    run_scenario: ScenarioRunner,
    oci_registry: OciRegistry,
    base_layout: Path,
    tmp_path: Path,
) -> None:
    """create_model, create_version and update_artifact as the upstream job calls the registry: the fast-fail reads
    find what exists, the artifact goes PENDING then LIVE with the image's URI and keeps the job's source fields."""
    model_directory(tmp_path / "model")
    run_scenario(
        "0.3.18", "async_upload_replay", live_server, oci_registry.host, str(base_layout), str(tmp_path / "model")
    )
