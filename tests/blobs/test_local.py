"""The directory store: round trips, path-escape refusal, atomic writes, directory-like prefixes."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelreg.blobs import (
    BlobNotFound,
    InvalidKey,
    SizeMismatch,
    StoreConfig,
    download,
    open_store,
    open_uri,
    put_tree,
    verify,
)
from modelreg.blobs.local import LocalStore

from .conftest import random_file


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(StoreConfig(type="local", directory=str(tmp_path / "root")))


def test_round_trip_reports_size_and_digest(store: LocalStore, tmp_path: Path) -> None:
    src = random_file(tmp_path / "a.bin", 3 * 1024 * 1024 + 17)
    stored = store.put_file("models/1/a.bin", str(src))
    assert stored.size == src.stat().st_size
    assert stored.sha256 == hashlib.sha256(src.read_bytes()).hexdigest()
    with store.open_read("models/1/a.bin") as f:
        assert f.read() == src.read_bytes()
    assert (store.root / "models/1/a.bin").read_bytes() == src.read_bytes()


def test_open_store_builds_a_local_store(tmp_path: Path) -> None:
    assert isinstance(open_store(StoreConfig(type="local", directory=str(tmp_path))), LocalStore)


@pytest.mark.parametrize("key", ["../x", "a/../../x", "/etc/passwd", "a//b", "./a", "a/.", "", "a\\..\\b", "a\x00b"])
def test_keys_that_could_escape_are_refused(store: LocalStore, key: str) -> None:
    with pytest.raises(InvalidKey):
        store.put_stream(key, io.BytesIO(b"x"))
    with pytest.raises(InvalidKey):
        store.open_read(key)
    assert not (store.root.parent / "x").exists()


def test_symlink_out_of_the_store_is_refused(store: LocalStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    store.root.mkdir(parents=True, exist_ok=True)
    os.symlink(outside, store.root / "link")
    with pytest.raises(InvalidKey):
        store.put_stream("link/evil", io.BytesIO(b"x"))
    assert not (outside / "evil").exists()


@given(st.lists(st.sampled_from(["a", "..", ".", "", "b", "/", "c.d", "..."]), min_size=1, max_size=6))
@settings(max_examples=200, deadline=None)
def test_any_accepted_key_stays_inside_the_root(tmp_path_factory: pytest.TempPathFactory, parts: list[str]) -> None:
    root = tmp_path_factory.mktemp("prop")
    store = LocalStore(StoreConfig(type="local", directory=str(root)))
    key = "/".join(parts)
    try:
        path = store._path(key)
    except InvalidKey:
        return
    assert path.resolve().is_relative_to(root.resolve())
    assert ".." not in Path(key).parts


class FailingStream(io.RawIOBase):
    """Yields some bytes, then breaks like a dropped client connection."""

    def __init__(self) -> None:
        self.sent = False

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if not self.sent:
            self.sent = True
            return b"new-partial-content"
        raise ConnectionResetError("client went away")


def test_failed_write_keeps_the_old_object_and_leaves_no_temp(store: LocalStore) -> None:
    store.put_stream("m/f.txt", io.BytesIO(b"old"))
    with pytest.raises(ConnectionResetError):
        store.put_stream("m/f.txt", FailingStream())  # type: ignore[arg-type]
    with store.open_read("m/f.txt") as f:
        assert f.read() == b"old"
    assert sorted(p.name for p in (store.root / "m").iterdir()) == ["f.txt"]


def test_size_mismatch_is_refused_and_nothing_is_kept(store: LocalStore) -> None:
    with pytest.raises(SizeMismatch):
        store.put_stream("m/short", io.BytesIO(b"abc"), size=10)
    assert list(store.iter_keys()) == []


def test_prefixes_are_directory_like(store: LocalStore) -> None:
    for key in ["models/1/a", "models/1/sub/b", "models/10/c", "other/d"]:
        store.put_stream(key, io.BytesIO(key.encode()))
    assert list(store.iter_keys("models/1")) == ["models/1/a", "models/1/sub/b"]
    assert store.delete_prefix("models/1/") == 2
    assert list(store.iter_keys()) == ["models/10/c", "other/d"]
    assert not (store.root / "models/1").exists()
    with pytest.raises(BlobNotFound):
        store.open_read("models/1/a")


def test_local_store_cannot_presign_and_writes_file_uris(store: LocalStore, tmp_path: Path) -> None:
    stored = store.put_stream("d/x y.bin", io.BytesIO(b"hello"))
    assert store.presign("d/x y.bin", 60) is None
    uri = store.uri("d/x y.bin")
    assert uri.startswith("file:///") and "%20" in uri
    other, key = open_uri(uri)
    with other.open_read(key) as f:
        assert f.read() == b"hello"
    assert verify(other, [stored.__class__(key, stored.size, stored.sha256)]) == []


def test_directory_round_trip_with_verify_and_download(store: LocalStore, tmp_path: Path) -> None:
    src = tmp_path / "model"
    for rel, size in [("config.json", 100), ("weights/part-0.bin", 200_000), ("weights/part-1.bin", 1)]:
        random_file(src / rel, size)
    stored = put_tree(store, "models/2", src)
    assert [s.key for s in stored] == [
        "models/2/config.json",
        "models/2/weights/part-0.bin",
        "models/2/weights/part-1.bin",
    ]
    out = tmp_path / "out"
    download(store, stored, "models/2", out)
    for rel in ["config.json", "weights/part-0.bin", "weights/part-1.bin"]:
        assert (out / rel).read_bytes() == (src / rel).read_bytes()
    (store.root / "models/2/config.json").write_bytes(b"tampered")
    (store.root / "models/2/weights/part-1.bin").unlink()
    problems = verify(store, stored)
    assert [(p.key, p.actual is None) for p in problems] == [
        ("models/2/config.json", False),
        ("models/2/weights/part-1.bin", True),
    ]
