"""The SDK's upload, download, verify and presigned URLs against a live server: the built-in local connection and
an S3 connection on moto's S3 server over HTTP; failures abort the upload so nothing half-registered remains."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select

from blobs.conftest import S3Server
from client.conftest import Sdk
from modelreg.client import Conflict, DigestMismatch, Forbidden, ModelRegistry, NotFound
from modelreg.client import _storage as sdk_storage
from modelreg.db.database import Database
from modelreg.db.tables import uploads

MB = 1024 * 1024


def tree(root: Path, files: dict[str, bytes]) -> Path:
    for relative, data in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    return root


def s3_connection(sdk: Sdk, s3: S3Server, bucket_name: str) -> None:
    body = s3.connection_body("minio", bucket_name)
    headers = {"Authorization": f"Bearer {sdk.tokens['admin']}"}
    created = httpx.post(f"{sdk.url}/api/storage/v1/connections", json=body, headers=headers)
    assert created.status_code == 201, created.text


def test_directory_upload_download_verify(registry: ModelRegistry, tmp_path: Path) -> None:
    files = {"model.onnx": os.urandom(2 * MB + 7), "tokenizer/vocab.txt": b"a\nb\n", "config.json": b"{}"}
    seen: list[int] = []
    result = registry.upload(
        "sdk-model", "v1", tree(tmp_path / "src", files), model_format_name="onnx", progress=seen.append
    )
    assert sum(seen) == result.total_size == sum(map(len, files.values()))
    assert {f.path: f.sha256 for f in result.files} == {p: hashlib.sha256(d).hexdigest() for p, d in files.items()}
    assert result.model_version.name == "v1" and result.registered_model.name == "sdk-model"
    assert result.model_artifact.model_format_name == "onnx" and result.model_artifact.storage_key == "local"

    written = registry.download("sdk-model", "v1", tmp_path / "copy")
    assert sorted(p.relative_to(tmp_path / "copy").as_posix() for p in written) == sorted(files)
    for relative, data in files.items():
        assert (tmp_path / "copy" / relative).read_bytes() == data
    report = registry.verify("sdk-model", "v1")
    assert report.ok and report.recorded and {i.status for i in report.items} == {"ok"}


def test_a_failed_upload_is_aborted_and_registers_nothing(
    registry: ModelRegistry, sdk_database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tree(tmp_path / "src", {"a.bin": b"first", "b.bin": b"second"})
    real_blocks = sdk_storage._blocks

    def failing(file: Path, digest: object) -> object:
        if file.name == "b.bin":
            raise OSError("disk went away")
        return real_blocks(file, digest)  # type: ignore[arg-type]

    monkeypatch.setattr(sdk_storage, "_blocks", failing)
    with pytest.raises(OSError, match="disk went away"):
        registry.upload("half", "v1", source)
    with sdk_database.read() as conn:
        states = conn.execute(select(uploads.c.state)).scalars().all()
    assert states == ["aborted"]
    with pytest.raises(NotFound):
        registry.get_registered_model("half")
    stored = Path(urlsplit(registry.upload("half", "v1", tmp_path / "src" / "a.bin").model_artifact.uri).path)
    assert stored.read_bytes() == b"first"  # the retry works: the aborted session left nothing in the way


def test_upload_refusals_carry_the_servers_message(sdk: Sdk, registry: ModelRegistry, tmp_path: Path) -> None:
    source = tree(tmp_path / "src", {"w.bin": b"x"})
    registry.upload("m", "v1", source)
    with pytest.raises(Conflict, match="already has a model artifact"):
        registry.upload("m", "v1", source)
    with pytest.raises(Forbidden, match="lacks the 'write' permission"):
        sdk.client("viewer").upload("m", "v2", source)
    with pytest.raises(NotFound, match="no data connection"):
        registry.upload("m", "v2", source, connection="nope")


def test_s3_single_file_multipart_presign_and_corruption(
    sdk: Sdk,
    registry: ModelRegistry,
    s3_server: S3Server,
    bucket: str,
    tmp_path: Path,
) -> None:
    s3_connection(sdk, s3_server, bucket)
    weights = tmp_path / "weights.safetensors"
    weights.write_bytes(os.urandom(17 * MB))  # above the server's multipart threshold
    result = registry.upload("llm", "v1", weights, connection="minio")
    assert result.model_artifact.uri.startswith(f"s3://{bucket}/llm/v1/")
    assert urlsplit(result.model_artifact.uri).path.endswith("/weights.safetensors")

    url = registry.presigned_url("llm", "v1", expires_in=120)
    assert hashlib.sha256(httpx.get(url).content).hexdigest() == result.files[0].sha256
    written = registry.download("llm", "v1", tmp_path / "copy")
    assert [p.name for p in written] == ["weights.safetensors"] and written[0].read_bytes() == weights.read_bytes()

    key = next(o["Key"] for o in s3_server.boto3().list_objects_v2(Bucket=bucket)["Contents"])
    s3_server.boto3().put_object(Bucket=bucket, Key=key, Body=b"not the weights")
    report = registry.verify("llm", "v1")
    assert not report.ok and [i.status for i in report.items] == ["mismatch"]
    with pytest.raises(DigestMismatch):
        registry.download("llm", "v1", tmp_path / "again")
    assert not (tmp_path / "again" / "weights.safetensors").exists()  # nothing corrupt under the real name


@pytest.mark.anyio
async def test_async_upload_and_download(sdk: Sdk, tmp_path: Path) -> None:
    source = tree(tmp_path / "src", {"m.bin": os.urandom(MB), "sub/c.json": b"[]"})
    async with sdk.async_client("developer") as client:
        result = await client.upload("async-model", "v1", source)
        written = await client.download("async-model", "v1", tmp_path / "copy")
        report = await client.verify("async-model", "v1")
    assert result.total_size == MB + 2 and len(written) == 2 and report.ok
    assert (tmp_path / "copy" / "m.bin").read_bytes() == (source / "m.bin").read_bytes()
