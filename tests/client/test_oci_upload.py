"""The SDK's ``upload(..., connection=<oci>, tag=...)``, sync and async, against a real OCI registry: the tag, the
progress it reports, and files the registry already has are not sent again (the ``/reuse`` protocol)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from client.conftest import Sdk
from modelreg.blobs.oci import parse_image_ref
from oci_registry import OciRegistry, oci_registry

__all__ = ["oci_registry"]

FILES = {"model.onnx": os.urandom(200_000), "sub/labels.txt": b"cat\ndog\n", "README.md": b"# card\n"}


def oci_connection(sdk: Sdk, registry: OciRegistry) -> None:
    body = {"name": "oci", "type": "oci", "registry": registry.host, "repositoryPrefix": "sdk", "plainHttp": True}
    headers = {"Authorization": f"Bearer {sdk.tokens['admin']}"}
    created = httpx.post(f"{sdk.url}/api/storage/v1/connections", json=body, headers=headers)
    assert created.status_code == 201, created.text


def tree(root: Path) -> Path:
    for path, data in FILES.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return root


def test_upload_with_a_tag_then_again_without_sending_bytes(
    sdk: Sdk, oci_registry: OciRegistry, tmp_path: Path
) -> None:
    oci_connection(sdk, oci_registry)
    source = tree(tmp_path / "model")
    total = sum(map(len, FILES.values()))
    seen: list[int] = []
    registry = sdk.client("developer")
    first = registry.upload("sdk model", "1.0", source, connection="oci", tag="stable", progress=seen.append)
    ref = parse_image_ref(first.model_artifact.uri)
    assert (ref.registry, ref.repository, ref.tag) == (oci_registry.host, "sdk/sdk-model", "stable")
    assert ref.digest is not None and first.warnings == ()
    assert sum(seen) == total

    before = oci_registry.blob_uploads()
    seen.clear()
    second = registry.upload("sdk model", "1.1", source, connection="oci", progress=seen.append)
    assert oci_registry.blob_uploads() == before  # every layer was found in the registry
    assert sum(seen) == total  # reused files count as done
    assert parse_image_ref(second.model_artifact.uri).tag == "1.1"
    assert {f.path: f.sha256 for f in second.files} == {f.path: f.sha256 for f in first.files}
    registry.download("sdk model", "1.1", tmp_path / "copy")
    assert {p: (tmp_path / "copy" / p).read_bytes() for p in FILES} == FILES


@pytest.mark.anyio
async def test_async_upload_reuses_layers_too(sdk: Sdk, oci_registry: OciRegistry, tmp_path: Path) -> None:
    oci_connection(sdk, oci_registry)
    source = tree(tmp_path / "model")
    async with sdk.async_client("developer") as registry:
        first = await registry.upload("async model", "v1", source, connection="oci")
        before = oci_registry.blob_uploads()
        second = await registry.upload("async model", "v2", source, connection="oci", tag="v2-final")
    assert oci_registry.blob_uploads() == before
    assert parse_image_ref(second.model_artifact.uri).tag == "v2-final"
    assert second.total_size == first.total_size == sum(map(len, FILES.values()))
