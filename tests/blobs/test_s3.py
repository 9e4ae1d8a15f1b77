"""The S3 store against a real S3-compatible server (moto over HTTP)."""

from __future__ import annotations

import hashlib
import io
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from modelreg.blobs import (
    BlobNotFound,
    DigestMismatch,
    SizeMismatch,
    StoreConfig,
    download,
    hash_key,
    open_store,
    open_uri,
    put_tree,
    verify,
)
from modelreg.blobs.http import HttpStore
from modelreg.blobs.s3 import S3Store

from .conftest import MB, REGION, SECRET_KEY, S3Server, random_file


class ChunkedStream(io.RawIOBase):
    """A non-seekable stream (like a request body) that hands out short, uneven reads."""

    def __init__(self, data: bytes, step: int = 777_777) -> None:
        self._data = data
        self._pos = 0
        self._step = step
        self.max_request = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        self.max_request = max(self.max_request, n)
        n = self._step if n < 0 else min(n, self._step)
        chunk = self._data[self._pos : self._pos + n]
        self._pos += len(chunk)
        return chunk


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_put_file_round_trip_with_digest(s3_store: S3Store, s3_server: S3Server, tmp_path: Path) -> None:
    src = random_file(tmp_path / "a.bin", 1_234_567)
    stored = s3_store.put_file("models/1/a.bin", str(src))
    assert (stored.key, stored.size, stored.sha256) == ("models/1/a.bin", 1_234_567, sha(src.read_bytes()))
    body = s3_server.boto3().get_object(Bucket=s3_store.bucket, Key="models/1/a.bin")["Body"].read()
    assert body == src.read_bytes()
    assert hash_key(s3_store, "models/1/a.bin") == stored


def test_store_prefix_is_applied_and_hidden(s3_server: S3Server, bucket: str) -> None:
    store = S3Store(s3_server.config(bucket, prefix="tenant-a/"))
    store.put_stream("x/y", io.BytesIO(b"data"))
    assert [o["Key"] for o in s3_server.boto3().list_objects_v2(Bucket=bucket)["Contents"]] == ["tenant-a/x/y"]
    assert list(store.iter_keys()) == ["x/y"]
    assert store.uri("x/y").startswith(f"s3://{bucket}/tenant-a/x/y?endpoint=")


@pytest.mark.parametrize("how", ["file", "stream", "stream-with-size"])
def test_multipart_upload_above_the_threshold(s3_store: S3Store, s3_server: S3Server, tmp_path: Path, how: str) -> None:
    data = random_file(tmp_path / "big.bin", 12 * MB + 12345).read_bytes()
    if how == "file":
        stored = s3_store.put_file("big", str(tmp_path / "big.bin"))
    else:
        stream = ChunkedStream(data)
        stored = s3_store.put_stream("big", stream, size=len(data) if how == "stream-with-size" else None)  # type: ignore[arg-type]
        assert stream.max_request <= 5 * MB  # read part by part, never the whole object at once
    assert (stored.size, stored.sha256) == (len(data), sha(data))
    head = s3_server.boto3().head_object(Bucket=s3_store.bucket, Key="big")
    assert head["ETag"].strip('"').endswith("-3"), head["ETag"]  # three parts: 5 + 5 + ~2 MiB
    assert hash_key(s3_store, "big").sha256 == sha(data)


def test_small_stream_is_a_single_put(s3_store: S3Store, s3_server: S3Server) -> None:
    stored = s3_store.put_stream("small", ChunkedStream(b"abc" * 1000, step=100))  # type: ignore[arg-type]
    assert stored.sha256 == sha(b"abc" * 1000)
    assert "-" not in s3_server.boto3().head_object(Bucket=s3_store.bucket, Key="small")["ETag"]


def test_empty_stream(s3_store: S3Store) -> None:
    stored = s3_store.put_stream("empty", io.BytesIO(b""))
    assert (stored.size, stored.sha256) == (0, sha(b""))
    with s3_store.open_read("empty") as f:
        assert f.read() == b""


def test_short_stream_with_announced_size_is_refused_and_removed(s3_store: S3Store) -> None:
    with pytest.raises(SizeMismatch):
        s3_store.put_stream("short", io.BytesIO(b"x" * 100), size=1000)
    assert list(s3_store.iter_keys()) == []


def test_download_is_streamed(s3_store: S3Store, tmp_path: Path) -> None:
    data = random_file(tmp_path / "f", 6 * MB).read_bytes()
    s3_store.put_file("f", str(tmp_path / "f"))
    with s3_store.open_read("f") as stream:
        first = stream.read(64 * 1024)
        assert first == data[: 64 * 1024]
        rest = b"".join(iter(lambda: stream.read(1024 * 1024), b""))
    assert first + rest == data
    with pytest.raises(BlobNotFound):
        s3_store.open_read("missing")


def test_directory_upload_download_and_corruption(s3_store: S3Store, s3_server: S3Server, tmp_path: Path) -> None:
    src = tmp_path / "model"
    rels = ["config.json", "tokenizer/vocab.txt", "weights/0.bin", "weights/1.bin"]
    for i, rel in enumerate(rels):
        random_file(src / rel, 1000 * (i + 1))
    stored = put_tree(s3_store, "models/3/v1", src)
    assert sorted(s3_store.iter_keys("models/3")) == [f"models/3/v1/{r}" for r in rels]
    out = tmp_path / "out"
    download(s3_store, stored, "models/3/v1", out)
    assert all((out / r).read_bytes() == (src / r).read_bytes() for r in rels)
    assert verify(s3_store, stored) == []

    # someone overwrites one object behind the registry's back: same size, different bytes
    s3_server.boto3().put_object(Bucket=s3_store.bucket, Key="models/3/v1/weights/0.bin", Body=b"\0" * 3000)
    problems = verify(s3_store, stored)
    assert [p.key for p in problems] == ["models/3/v1/weights/0.bin"]
    assert problems[0].actual is not None and problems[0].actual.size == 3000
    out2 = tmp_path / "out2"
    with pytest.raises(DigestMismatch):
        download(s3_store, stored, "models/3/v1", out2)
    assert not (out2 / "weights/0.bin").exists()
    assert not [p for p in out2.rglob("*") if p.name.startswith(".modelreg-tmp-")]


def test_delete_prefix_is_directory_like(s3_store: S3Store) -> None:
    for key in ["models/1/a", "models/1/b/c", "models/10/a", "models/1x"]:
        s3_store.put_stream(key, io.BytesIO(b"z"))
    assert s3_store.delete_prefix("models/1") == 2
    assert sorted(s3_store.iter_keys()) == ["models/10/a", "models/1x"]
    assert s3_store.delete_prefix("") == 2
    assert list(s3_store.iter_keys()) == []


def test_presigned_url_serves_the_bytes_and_is_time_limited(s3_store: S3Store) -> None:
    s3_store.put_stream("p/obj.bin", io.BytesIO(b"presigned-bytes"))
    url = s3_store.presign("p/obj.bin", 1)
    assert url is not None
    response = httpx.get(url)
    assert response.status_code == 200 and response.content == b"presigned-bytes"
    query = parse_qs(urlsplit(url).query)
    # moto checks neither signatures nor expiry, so the limit is checked where it lives: the signed query
    assert query["X-Amz-Expires"] == ["1"] and "host" in query["X-Amz-SignedHeaders"][0]
    signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - signed_at).total_seconds()) < 60
    with pytest.raises(ValueError):
        s3_store.presign("p/obj.bin", 0)
    # a presigned URL is itself an artifact URI the read-only http store can stream
    store, key = open_uri(url)
    assert isinstance(store, HttpStore)
    with store.open_read(key) as f:
        assert f.read() == b"presigned-bytes"


def test_path_style_and_virtual_hosted_addressing(s3_server: S3Server, bucket: str) -> None:
    endpoint = s3_server.endpoint.replace("127.0.0.1", "localhost")
    path_url = S3Store(s3_server.config(bucket, endpoint=endpoint, path_style=True)).presign("k", 60)
    virtual_url = S3Store(s3_server.config(bucket, endpoint=endpoint, path_style=False)).presign("k", 60)
    port = urlsplit(endpoint).port
    assert urlsplit(path_url).netloc == f"localhost:{port}" and urlsplit(path_url).path == f"/{bucket}/k"
    assert urlsplit(virtual_url).netloc == f"{bucket}.localhost:{port}" and urlsplit(virtual_url).path == "/k"


def test_construction_makes_no_network_call() -> None:
    store = S3Store(StoreConfig(type="s3", endpoint="http://127.0.0.1:9", bucket="b", region=REGION))
    assert store._client is None
    assert isinstance(open_store(StoreConfig(type="s3", bucket="b")), S3Store)


def test_uri_round_trips_through_the_upstream_form(s3_store: S3Store, s3_server: S3Server) -> None:
    s3_store.put_stream("models/9/m.onnx", io.BytesIO(b"onnx"))
    # exactly what model_registry.utils.s3_uri_from writes
    uri = f"s3://{s3_store.bucket}/models/9/m.onnx?endpoint={s3_server.endpoint}&defaultRegion={REGION}"
    assert s3_store.uri("models/9/m.onnx") == uri
    store, key = open_uri(uri, defaults=s3_server.config("ignored"))
    assert key == "models/9/m.onnx"
    assert hash_key(store, key).sha256 == sha(b"onnx")


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.DEBUG):
        yield caplog


def test_secret_is_masked_and_never_logged(
    s3_server: S3Server, bucket: str, tmp_path: Path, debug_logs: pytest.LogCaptureFixture
) -> None:
    config = s3_server.config(bucket)
    assert SECRET_KEY not in repr(config) and SECRET_KEY not in str(config) and "***" in repr(config)
    store = S3Store(config, part_size=5 * MB)
    src = random_file(tmp_path / "f", 6 * MB)
    stored = store.put_file("f", str(src))
    url = store.presign("f", 60)
    assert verify(store, [stored]) == []
    logging.getLogger("test").debug("config is %r, store uri %s", config, store.uri("f"))
    assert len(debug_logs.records) > 10  # botocore really logged at DEBUG, so the check below means something
    assert SECRET_KEY not in debug_logs.text
    assert url is not None and SECRET_KEY not in url


class GeneratedStream:
    """``size`` bytes made on the fly (never held whole), hashing what it hands out."""

    def __init__(self, size: int) -> None:
        self._left = size
        self._block = bytes(range(256)) * 4096  # 1 MiB
        self._hash = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = min(self._left if n < 0 else n, self._left, len(self._block))
        chunk = self._block[:n]
        self._left -= n
        self._hash.update(chunk)
        return chunk

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def rss() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def test_put_stream_memory_is_bounded_by_the_parts_in_flight(s3_server: S3Server, bucket: str) -> None:
    # 2 parts of 5 MiB in flight => ~15 MiB of buffers; s3transfer's default (10 parts) would hold ~55 MiB
    store = S3Store(s3_server.config(bucket), part_size=5 * MB, concurrency=4, stream_parts=2)
    store.put_stream("warmup", GeneratedStream(11 * MB))  # type: ignore[arg-type]

    peak = start = rss()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    source = GeneratedStream(100 * MB)
    try:
        stored = store.put_stream("big", source)  # type: ignore[arg-type]
    finally:
        done.set()
        sampler.join()
    assert (stored.size, stored.sha256) == (100 * MB, source.hexdigest())
    assert peak - start < 40 * MB, f"RSS grew by {(peak - start) / MB:.1f} MiB"


@pytest.mark.parametrize("sign", [False, True], ids=["unsigned", "signed"])
def test_payload_signing_follows_the_config(s3_server: S3Server, bucket: str, sign: bool) -> None:
    """Unsigned by default (no SHA-256 pass over the bytes for the signature, as boto3 does over https); the bytes
    still carry a checksum and arrive intact."""
    store = S3Store(s3_server.config(bucket, sign_payload=sign), part_size=5 * MB)
    sent: list[str] = []
    store.client.meta.events.register(
        "before-send.s3.PutObject", lambda request, **_: sent.append(request.headers["X-Amz-Content-SHA256"].decode())
    )
    data = b"weights" * 1000
    stored = store.put_stream("m/w.bin", io.BytesIO(data), len(data))
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert sent == [hashlib.sha256(data).hexdigest() if sign else "UNSIGNED-PAYLOAD"]
    with store.open_read("m/w.bin") as body:
        assert body.read() == data
