"""A store in a local directory: for single-node installs, tests and ``file://`` artifacts."""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from modelreg.blobs.base import (
    READ_BLOCK,
    BlobNotFound,
    InvalidKey,
    SizeMismatch,
    StoreConfig,
    StoredFile,
    check_key,
    check_prefix,
)

TMP_MARK = ".modelreg-tmp-"  # temp files carry this so listings skip half-written objects


class LocalStore:
    """Objects are files under ``directory/prefix``; writes go to a temp file in the same folder and are renamed
    into place, so a reader sees either the old object or the whole new one, never a torn write."""

    def __init__(self, config: StoreConfig) -> None:
        if not config.directory:
            raise ValueError("a local store needs a directory")
        self.config = config
        self.root = Path(config.directory).resolve() / check_prefix(config.prefix)
        self.root = self.root.resolve()

    def _path(self, key: str) -> Path:
        path = self.root / check_key(key)
        # a symlink inside the store must not lead outside it either
        if not path.resolve().is_relative_to(self.root):
            raise InvalidKey(f"key {key!r} leaves the store")
        return path

    def put_file(self, key: str, path: str) -> StoredFile:
        with open(path, "rb") as f:
            return self.put_stream(key, f)

    def put_stream(self, key: str, fileobj: IO[bytes], size: int | None = None) -> StoredFile:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f"{TMP_MARK}{uuid.uuid4().hex}"
        digest = hashlib.sha256()
        written = 0
        try:
            with open(tmp, "wb") as out:
                while block := fileobj.read(READ_BLOCK):
                    digest.update(block)
                    out.write(block)
                    written += len(block)
                out.flush()
                os.fsync(out.fileno())
            if size is not None and written != size:
                raise SizeMismatch(f"{key}: expected {size} bytes, got {written}")
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return StoredFile(key=key, size=written, sha256=digest.hexdigest())

    def open_read(self, key: str) -> IO[bytes]:
        try:
            return open(self._path(key), "rb")  # the caller owns (and closes) the stream
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise BlobNotFound(key) from exc

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        prefix = check_prefix(prefix)
        start = self.root / prefix if prefix else self.root
        if not start.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames.sort()
            for name in sorted(filenames):
                if not name.startswith(TMP_MARK):
                    yield Path(dirpath, name).relative_to(self.root).as_posix()

    def delete_prefix(self, prefix: str) -> int:
        prefix = check_prefix(prefix)
        keys = list(self.iter_keys(prefix))
        for key in keys:
            self._path(key).unlink(missing_ok=True)
        # drop the folders that are now empty, deepest first, but never the root itself
        start = self.root / prefix if prefix else self.root
        if start.is_dir():
            for dirpath, _dirs, _files in sorted(os.walk(start), key=lambda t: -len(t[0])):
                if Path(dirpath) != self.root:
                    with contextlib.suppress(OSError):
                        os.rmdir(dirpath)
        return len(keys)

    def presign(self, key: str, expires_seconds: int) -> str | None:
        return None  # a directory has no way to hand out time-limited access

    def uri(self, key: str) -> str:
        return (self.root / check_key(key)).as_uri() if key else self.root.as_uri()
