"""What the upstream client uploads to S3 itself (``upload_artifact_and_register_model`` with ``S3Params``, which
records ``s3://bucket/path?endpoint=…&defaultRegion=…``) downloads and verifies through modelreg, once an admin
has a data connection for that bucket."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx
import pytest

from blobs.conftest import ACCESS_KEY, REGION, SECRET_KEY, S3Server

from .conftest import LiveServer, ScenarioRunner


@pytest.mark.clients("0.3.18")
def test_upstream_s3_upload_reads_back_through_modelreg(
    live_server: LiveServer, run_scenario: ScenarioRunner, s3_server: S3Server, bucket: str, tmp_path: Path
) -> None:
    files = {"model.onnx": os.urandom(3 * 1024 * 1024), "config/labels.txt": b"cat\ndog\n"}
    for relative, data in files.items():
        (tmp_path / "model" / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "model" / relative).write_bytes(data)
    args = (s3_server.endpoint, bucket, ACCESS_KEY, SECRET_KEY, REGION, str(tmp_path / "model"))
    output = run_scenario("0.3.18", "upload_s3", live_server, *args)
    values = dict(line.split(" ", 1) for line in output.splitlines() if line.startswith(("VERSION ", "URI ")))
    assert values["URI"].startswith(f"s3://{bucket}/models/") and f"endpoint={s3_server.endpoint}" in values["URI"]

    with httpx.Client(
        base_url=f"{live_server.url}/api/storage/v1", headers={"Authorization": f"Bearer {live_server.token}"}
    ) as storage:
        connection = s3_server.connection_body(f"minio-{bucket}", bucket)
        assert storage.post("/connections", json=connection).status_code == 201
        version = values["VERSION"]
        index = storage.get(f"/model_versions/{version}/files").json()
        assert index["recorded"] is False and sorted(f["path"] for f in index["items"]) == sorted(files)
        for relative, data in files.items():
            assert storage.get(f"/model_versions/{version}/files/{relative}").content == data
        report = storage.get(f"/model_versions/{version}/verify").json()
        assert report["ok"] is True
        assert {i["path"]: i["actual"]["sha256"] for i in report["items"]} == {
            p: hashlib.sha256(d).hexdigest() for p, d in files.items()
        }
