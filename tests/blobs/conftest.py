"""A real S3-compatible server over HTTP for the blob-store tests: moto's standalone server in a subprocess."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import free_port
from modelreg.blobs import StoreConfig
from modelreg.blobs.s3 import S3Store

ACCESS_KEY = "modelreg-test-access"
SECRET_KEY = "modelreg-test-SECRET-0f9e8d7c"  # distinctive so a leak in logs is easy to spot
REGION = "us-east-1"
MB = 1024 * 1024


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    log: Path

    def config(self, bucket: str, **overrides: Any) -> StoreConfig:
        values: dict[str, Any] = {
            "type": "s3",
            "endpoint": self.endpoint,
            "region": REGION,
            "bucket": bucket,
            "path_style": True,
            "access_key_id": ACCESS_KEY,
            "secret_access_key": SECRET_KEY,
        }
        values.update(overrides)
        return StoreConfig(**values)

    def connection_body(self, name: str, bucket: str, **extra: Any) -> dict[str, Any]:
        """The REST body (``POST /api/storage/v1/connections``) of an s3 connection to ``bucket`` on this server."""
        return {
            "name": name,
            "type": "s3",
            "endpoint": self.endpoint,
            "region": REGION,
            "bucket": bucket,
            "pathStyle": True,
            "accessKeyId": ACCESS_KEY,
            "secretAccessKey": SECRET_KEY,
            **extra,
        }

    def boto3(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(s3={"addressing_style": "path"}),
        )


@contextlib.contextmanager
def moto_server(port: int, log: Path, env: dict[str, str]) -> Iterator[str]:
    """moto's S3 server as a process on 127.0.0.1:``port``; yields its endpoint once it answers."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"moto server exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                httpx.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail(f"moto server did not answer on {endpoint} within 30 s")
                time.sleep(0.1)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("moto.server") is None:
        pytest.skip("moto[server] is not installed (pip install -e '.[dev]')")
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    with moto_server(free_port(), log, env) as endpoint:
        yield S3Server(endpoint, log)


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    """A fresh bucket per test, so tests cannot see each other's objects."""
    name = f"t-{uuid.uuid4().hex[:20]}"
    s3_server.boto3().create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_store(s3_server: S3Server, bucket: str) -> S3Store:
    """A store with 5 MiB parts (S3's minimum) so a ~12 MB file takes the multipart path."""
    return S3Store(s3_server.config(bucket), part_size=5 * MB, concurrency=4)


def random_file(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    return path
