"""Operations over whole artifacts (a file or a directory of files) on any store: upload, download, verify."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from modelreg.blobs.base import READ_BLOCK, BlobError, BlobNotFound, BlobStore, StoredFile, check_key, join_key


class DigestMismatch(BlobError):
    """What came back is not what was stored."""


@dataclass(frozen=True)
class Mismatch:
    """One file whose stored bytes no longer match the recorded digest (``actual`` is None when it is missing)."""

    key: str
    expected: StoredFile
    actual: StoredFile | None


def put_tree(store: BlobStore, prefix: str, source: str | Path) -> list[StoredFile]:
    """Upload a file (to ``prefix`` itself) or every file of a directory (to ``prefix/relative/path``)."""
    source = Path(source)
    if source.is_file():
        return [store.put_file(check_key(prefix), str(source))]
    if not source.is_dir():
        raise FileNotFoundError(source)
    stored: list[StoredFile] = []
    for dirpath, dirnames, filenames in os.walk(source):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath, name)
            stored.append(store.put_file(join_key(prefix, path.relative_to(source).as_posix()), str(path)))
    return stored


def hash_key(store: BlobStore, key: str) -> StoredFile:
    """Re-read an object and hash it, streaming."""
    digest = hashlib.sha256()
    size = 0
    with store.open_read(key) as stream:
        while block := stream.read(READ_BLOCK):
            digest.update(block)
            size += len(block)
    return StoredFile(key=key, size=size, sha256=digest.hexdigest())


def verify(store: BlobStore, expected: Iterable[StoredFile]) -> list[Mismatch]:
    """Re-hash what is stored and list every file that differs from its recorded size/digest or is gone."""
    problems: list[Mismatch] = []
    for item in expected:
        try:
            actual: StoredFile | None = hash_key(store, item.key)
        except BlobNotFound:
            actual = None
        if actual is None or (actual.size, actual.sha256) != (item.size, item.sha256):
            problems.append(Mismatch(item.key, item, actual))
    return problems


def download(store: BlobStore, files: Iterable[StoredFile], prefix: str, dest: str | Path) -> list[Path]:
    """Stream each file to ``dest/<key relative to prefix>``, checking its digest before it appears there.

    Each file is written to a temp name and renamed only once the digest matches, so a corrupted object never
    lands under its real name. ``dest`` is the file itself when a single file is stored at ``prefix``.
    """
    dest = Path(dest)
    written: list[Path] = []
    base = prefix.strip("/")
    for item in files:
        rel = item.key[len(base) :].lstrip("/") if item.key.startswith(base) else item.key
        target = dest / check_key(rel) if rel else dest
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".modelreg-tmp-{uuid.uuid4().hex}"
        digest = hashlib.sha256()
        size = 0
        try:
            with store.open_read(item.key) as stream, open(tmp, "wb") as out:
                while block := stream.read(READ_BLOCK):
                    digest.update(block)
                    out.write(block)
                    size += len(block)
            if (size, digest.hexdigest()) != (item.size, item.sha256):
                raise DigestMismatch(
                    f"{item.key}: expected {item.size} bytes {item.sha256}, got {size} bytes {digest.hexdigest()}"
                )
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        written.append(target)
    return written
