"""The stores' own guarantees behind issue 14's storage fixes: confinement of local paths with symlinks, partial
writes found and removed, credentials never taken from the environment, and failures named by their cause."""

from __future__ import annotations

import io
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelreg.blobs import BlobNotFound, InvalidKey, StoreConfig, hash_key
from modelreg.blobs.base import StoreRefused, StoreUnreachable
from modelreg.blobs.http import HttpStore
from modelreg.blobs.local import TMP_MARK, LocalStore
from modelreg.blobs.s3 import S3Store
from storage.fake_http import Answer, FakeHttp, fake_http, fake_s3

from .conftest import REGION, S3Server, free_port

ENV_KEY = "AKIAFROMTHEENVIRONMENT"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A store root with a real file, a link inside it, and links to a file and a folder outside it."""
    base = tmp_path / "root"
    (base / "m").mkdir(parents=True)
    (base / "m" / "real.bin").write_bytes(b"real")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("SECRET")
    os.symlink(outside / "secret", base / "m" / "leak")
    os.symlink(outside, base / "m" / "leakdir")
    os.symlink(outside, base / "alldir")
    os.symlink(base / "m" / "real.bin", base / "m" / "alias")
    os.symlink(tmp_path / "nowhere", base / "m" / "dangling")
    return base


@pytest.fixture
def fake() -> Iterator[FakeHttp]:
    with fake_http() as server:
        yield server


def test_links_leaving_the_root_are_not_listed_read_or_hashed(root: Path) -> None:
    store = LocalStore(StoreConfig(type="local", directory=str(root)))
    assert sorted(store.iter_keys("")) == ["m/alias", "m/real.bin"]
    assert list(store.iter_keys("alldir")) == [] and list(store.iter_keys("m/leakdir")) == []
    for key in ("m/leak", "m/leakdir/secret", "alldir/secret", "m/dangling"):
        with pytest.raises(BlobNotFound):
            store.open_read(key)
        with pytest.raises(BlobNotFound):
            hash_key(store, key)
    with store.open_read("m/alias") as f:
        assert f.read() == b"real"


def test_deleting_through_a_linked_folder_never_touches_what_it_points_at(root: Path, tmp_path: Path) -> None:
    store = LocalStore(StoreConfig(type="local", directory=str(root)))
    assert store.delete_prefix("alldir") == 0 and store.delete_prefix("m/leakdir") == 0
    assert (tmp_path / "outside" / "secret").read_text() == "SECRET"
    assert store.delete_prefix("m") == 2  # the file and the inside link; the links themselves go, not their targets
    assert (tmp_path / "outside" / "secret").read_text() == "SECRET"
    with pytest.raises(InvalidKey):
        store.put_stream("alldir/planted", io.BytesIO(b"x"))
    assert not (tmp_path / "outside" / "planted").exists()


def test_a_file_and_a_folder_of_the_same_name_are_a_key_error(tmp_path: Path) -> None:
    store = LocalStore(StoreConfig(type="local", directory=str(tmp_path / "r")))
    store.put_stream("a/b", io.BytesIO(b"1"))
    for key in ("a/b/c", "a"):
        with pytest.raises(InvalidKey):
            store.put_stream(key, io.BytesIO(b"2"))


def test_temp_files_are_partials_and_go_with_their_prefix(tmp_path: Path) -> None:
    store = LocalStore(StoreConfig(type="local", directory=str(tmp_path / "r")))
    store.put_stream("s/1/done.bin", io.BytesIO(b"done"))
    crashed = store.root / "s" / "1" / f"{TMP_MARK}{uuid.uuid4().hex}"
    crashed.write_bytes(b"half")
    other = store.root / "s" / "2" / f"{TMP_MARK}x"
    other.parent.mkdir()
    other.write_bytes(b"half")
    partials = list(store.iter_partials("s/1"))
    assert [p.key for p in partials] == [f"s/1/{crashed.name}"]
    assert abs(partials[0].started - time.time()) < 60
    assert list(store.iter_keys("s")) == ["s/1/done.bin"]
    assert store.delete_prefix("s/1") == 1
    assert not crashed.exists() and not (store.root / "s" / "1").exists() and other.exists()
    (partial,) = store.iter_partials("")
    store.discard_partial(partial)
    store.discard_partial(partial)  # already gone: not an error
    assert not other.exists()


def test_local_check_names_a_missing_directory(tmp_path: Path) -> None:
    LocalStore(StoreConfig(type="local", directory=str(tmp_path))).check()
    with pytest.raises(StoreRefused, match="does not exist"):
        LocalStore(StoreConfig(type="local", directory=str(tmp_path / "nope"))).check()


def test_an_s3_store_without_keys_never_signs_with_the_environment(
    fake: FakeHttp, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ENV_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    fake_s3(fake, "pub", {"k": b"v"})
    base = StoreConfig(type="s3", endpoint=fake.url, bucket="pub", path_style=True, region=REGION)
    anonymous = S3Store(base)
    assert hash_key(anonymous, "k").size == 1
    anonymous.check()
    assert "Signature" not in (anonymous.presign("k", 60) or "")
    assert fake.seen and all("authorization" not in r.headers for r in fake.seen)
    fake.seen.clear()
    keyed = S3Store(StoreConfig(**{**base.__dict__, "access_key_id": "OWNKEY", "secret_access_key": "own"}))
    hash_key(keyed, "k")
    assert all("Credential=OWNKEY/" in r.headers["authorization"] for r in fake.seen)
    fake.seen.clear()
    identity = S3Store(StoreConfig(**{**base.__dict__, "use_workload_identity": True}))
    hash_key(identity, "k")
    assert all(f"Credential={ENV_KEY}/" in r.headers["authorization"] for r in fake.seen)


def test_s3_faults_name_the_bucket_and_the_cause(s3_server: S3Server, bucket: str) -> None:
    missing = S3Store(s3_server.config(f"missing-{uuid.uuid4().hex[:8]}"))
    for call in (
        lambda: missing.put_stream("k", io.BytesIO(b"x")),
        lambda: list(missing.iter_keys("")),
        lambda: missing.open_read("k"),
        missing.check,
    ):
        with pytest.raises(StoreRefused, match=f"{missing.bucket}.*does not exist"):
            call()
    closed = S3Store(s3_server.config(bucket, endpoint=f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(StoreUnreachable, match="cannot reach"):
        closed.check()


def test_s3_delete_prefix_aborts_multipart_uploads_under_it(s3_server: S3Server, bucket: str) -> None:
    store = S3Store(s3_server.config(bucket, prefix="reg"))
    client = s3_server.boto3()
    store.put_stream("s/1/done.bin", io.BytesIO(b"done"))
    inside = client.create_multipart_upload(Bucket=bucket, Key="reg/s/1/big.bin")["UploadId"]
    beside = client.create_multipart_upload(Bucket=bucket, Key="reg/s/10/big.bin")["UploadId"]
    assert [(p.key, p.upload_id) for p in store.iter_partials("s/1")] == [("s/1/big.bin", inside)]
    assert store.delete_prefix("s/1") == 1
    left = [u["UploadId"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
    assert left == [beside]
    (partial,) = store.iter_partials("")
    store.discard_partial(partial)
    store.discard_partial(partial)  # already gone: not an error
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_the_http_store_reports_redirects_and_refuses_dot_segments(fake: FakeHttp) -> None:
    fake.routes["/a/moved"] = Answer(301, b"", {"Location": "http://elsewhere.invalid/x"})
    store = HttpStore(StoreConfig(type="uri", base_url=f"{fake.url}/a/moved"))
    with pytest.raises(StoreRefused, match=r"301.*redirect to http://elsewhere\.invalid"):
        store.open_read("")
    for url in (f"{fake.url}/a/../b", f"{fake.url}/a/%2e%2e/b"):
        with pytest.raises(StoreRefused, match="segment"):
            HttpStore(StoreConfig(type="uri", base_url=url)).open_read("")
    assert [r.path for r in fake.seen] == ["/a/moved"]
    with pytest.raises(StoreUnreachable):
        HttpStore(StoreConfig(type="uri", base_url=f"http://127.0.0.1:{free_port()}/x")).open_read("")
