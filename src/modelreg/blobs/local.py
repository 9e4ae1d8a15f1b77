"""A store in a local directory: for single-node installs, tests and ``file://`` artifacts."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from modelreg.blobs.base import (
    READ_BLOCK,
    BlobNotFound,
    InvalidKey,
    Partial,
    Readable,
    SizeMismatch,
    StoreConfig,
    StoredFile,
    StoreRefused,
    check_key,
    check_prefix,
)

TMP_MARK = ".modelreg-tmp-"  # temp files carry this so listings skip half-written objects


class LocalStore:
    """Objects are files under ``directory/prefix``; writes go to a temp file in the same folder and are renamed
    into place, so a reader sees either the old object or the whole new one, never a torn write.

    Every path is confined to the root with symlinks resolved: a link that leads outside is not listed, read,
    hashed or written through (a link inside the root to a file inside it is an ordinary file), and folders reached
    through links are not walked. Reads check where the opened file really is, so a link swapped in after the check
    is not followed either.
    """

    def __init__(self, config: StoreConfig) -> None:
        if not config.directory:
            raise ValueError("a local store needs a directory")
        self.config = config
        self.root = Path(config.directory).resolve() / check_prefix(config.prefix)
        self.root = self.root.resolve()

    def _inside(self, path: Path) -> bool:
        return path.resolve().is_relative_to(self.root)

    def _path(self, key: str) -> Path:
        path = self.root / check_key(key)
        # a symlink inside the store must not lead outside it either
        if not self._inside(path):
            raise InvalidKey(f"key {key!r} leaves the store")
        return path

    def _start(self, prefix: str) -> Path | None:
        """The folder a directory-like prefix names, if it exists inside the root (links resolved)."""
        prefix = check_prefix(prefix)
        start = self.root / prefix if prefix else self.root
        return start if start.is_dir() and self._inside(start) else None

    def _walk(self, prefix: str) -> Iterator[tuple[Path, bool]]:
        """Every file under a prefix, and whether it is a temp file; links that leave the root are skipped and
        linked folders are not entered (``os.walk`` does not follow them)."""
        start = self._start(prefix)
        if start is None:
            return
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath, name)
                if path.is_symlink():
                    real = path.resolve()
                    if not real.is_relative_to(self.root) or not real.is_file():
                        continue
                yield path, name.startswith(TMP_MARK)

    def put_file(self, key: str, path: str) -> StoredFile:
        with open(path, "rb") as f:
            return self.put_stream(key, f)

    def put_stream(self, key: str, fileobj: Readable, size: int | None = None) -> StoredFile:
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise InvalidKey(f"key {key!r} runs through an existing file") from None
        if target.is_dir():
            raise InvalidKey(f"key {key!r} names an existing folder")
        tmp = target.parent / f"{TMP_MARK}{uuid.uuid4().hex}"
        digest = hashlib.sha256()
        written = 0
        reading = False  # an OSError while reading is the source's (a client gone), not the store's
        try:
            with open(tmp, "wb") as out:
                while True:
                    reading = True
                    block = fileobj.read(READ_BLOCK)
                    reading = False
                    if not block:
                        break
                    digest.update(block)
                    out.write(block)
                    written += len(block)
                out.flush()
                os.fsync(out.fileno())
            if size is not None and written != size:
                raise SizeMismatch(f"{key}: expected {size} bytes, got {written}")
            os.replace(tmp, target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            if reading:
                raise
            raise StoreRefused(f"cannot write {key!r}: {exc.strerror or exc}") from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return StoredFile(key=key, size=written, sha256=digest.hexdigest())

    def open_read(self, key: str) -> IO[bytes]:
        """The caller owns (and closes) the stream. A key whose file lies outside the root, or is no regular file,
        is not in this store."""
        path = self.root / check_key(key)
        real = path.resolve()
        if not real.is_relative_to(self.root):
            raise BlobNotFound(key)
        try:
            fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK)  # O_NONBLOCK: a FIFO must not hang the open
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise BlobNotFound(key) from exc
        except OSError as exc:
            raise StoreRefused(f"cannot read {key!r}: {exc.strerror or exc}") from exc
        try:
            opened = _opened_path(fd)
            if not stat.S_ISREG(os.fstat(fd).st_mode) or (opened is not None and not opened.is_relative_to(self.root)):
                raise BlobNotFound(key)
            os.set_blocking(fd, True)
            return os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        for path, partial in self._walk(prefix):
            if not partial:
                yield path.relative_to(self.root).as_posix()

    def delete_prefix(self, prefix: str) -> int:
        start = self._start(prefix)
        if start is None:
            return 0
        deleted = 0
        for path, partial in list(self._walk(prefix)):
            path.unlink(missing_ok=True)  # a link is removed, never what it points at
            deleted += not partial
        # drop the folders that are now empty, deepest first, but never the root itself
        for dirpath, _dirs, _files in sorted(os.walk(start), key=lambda t: -len(t[0])):
            if Path(dirpath) != self.root:
                with contextlib.suppress(OSError):
                    os.rmdir(dirpath)
        return deleted

    def iter_partials(self, prefix: str = "") -> Iterator[Partial]:
        for path, partial in self._walk(prefix):
            if partial:
                with contextlib.suppress(FileNotFoundError):  # finished (renamed) or removed meanwhile
                    yield Partial(path.relative_to(self.root).as_posix(), path.lstat().st_mtime)

    def discard_partial(self, partial: Partial) -> None:
        path = self.root / check_key(partial.key)
        if not path.name.startswith(TMP_MARK) or not self._inside(path.parent):
            raise InvalidKey(f"{partial.key!r} is not a temp file of this store")
        path.unlink(missing_ok=True)

    def check(self) -> None:
        if not self.root.is_dir():
            raise StoreRefused(f"the directory {self.root} does not exist or is not a directory")
        if not os.access(self.root, os.R_OK | os.X_OK):
            raise StoreRefused(f"the directory {self.root} is not readable by the server")

    def presign(self, key: str, expires_seconds: int) -> str | None:
        return None  # a directory has no way to hand out time-limited access

    def uri(self, key: str) -> str:
        return (self.root / check_key(key)).as_uri() if key else self.root.as_uri()


def _opened_path(fd: int) -> Path | None:
    """Where an open file really is (Linux's /proc), to catch a link swapped in between a check and the open."""
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return None
