"""One transfer job's copy: the source's files, each streamed once into the destination (a ModelCar layer each in an
OCI registry, or an object each under an S3 key prefix), then the image's config and manifest; the result reported.

Where it runs does not matter: a ``Reporter`` carries progress and the outcome to the service, directly (the
server's worker) or over REST (a Kubernetes Job). A pulse thread reports progress every ``interval`` seconds (never
more often); when the answer is "stop" (the job was cancelled) the copy stops at its next block, removes what it
wrote (the open blob upload in the registry, the objects under the S3 key) and reports the cancel, so nothing is
registered. On a failure it removes what it wrote too, and reports what failed and why (the store's message, which
names the store and never a secret).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import IO, Protocol

from modelreg.blobs.base import BlobError, Readable, StoreConfig, StoredFile, StoreRefused, join_key
from modelreg.blobs.factory import open_store
from modelreg.blobs.oci import Layer, ModelCarPush, OciStore, parse_image_ref
from modelreg.services.transfers import TransferJob, TransferResult
from modelreg.services.uploads import manifest_digest
from modelreg.transfers.sources import SourceFiles, open_source

log = logging.getLogger("modelreg.transfers")

PROGRESS_SECONDS = 0.5


class Reporter(Protocol):
    """Where a copy reports to; ``progress`` answers False when the copy must stop (cancelled)."""

    def progress(self, bytes_done: int, files_done: int, bytes_total: int | None, files_total: int | None) -> bool: ...

    def complete(self, result: TransferResult) -> None: ...

    def fail(self, error: str, cause: str | None) -> None: ...

    def cancelled(self) -> None: ...


class Cancelled(Exception):
    """The job was cancelled while copying."""


def describe_source(job: TransferJob) -> str:
    """The source as a message names it (no query string, no credentials)."""
    s = job.source
    if s.type == "s3":
        return f"s3 key {s.key!r} of connection {s.connection!r}"
    if s.type == "uri":
        return (s.url or "").split("?", 1)[0][:300]
    return s.image or "the source image"


def describe_destination(job: TransferJob) -> str:
    d = job.destination
    if d.type == "oci":
        return f"the OCI registry of connection {d.connection!r} (repository {d.repository!r})"
    return f"s3 key {d.key!r} of connection {d.connection!r}"


class Copy:
    """Copies one job; ``run`` reports the outcome and returns the final state."""

    def __init__(
        self,
        job: TransferJob,
        source: StoreConfig,
        destination: StoreConfig,
        reporter: Reporter,
        *,
        base_image: str = "embedded",
        interval: float = PROGRESS_SECONDS,
    ) -> None:
        self.job = job
        self.source = source
        self.destination = destination
        self.reporter = reporter
        self.base_image = base_image
        self.interval = interval
        self.bytes_done = 0
        self.files_done = 0
        self.bytes_total: int | None = None
        self.files_total: int | None = None
        self._stop = threading.Event()  # cancelled: stop at the next block
        self._done = threading.Event()  # the copy is over: the pulse ends

    def stop(self) -> None:
        """Stop at the next block, as a cancel does (the worker's shutdown)."""
        self._stop.set()

    def run(self) -> str:
        pulse = threading.Thread(target=self._pulse, name=f"transfer-pulse-{self.job.name}", daemon=True)
        pulse.start()
        try:
            return self._run()
        finally:
            self._done.set()
            pulse.join(timeout=10)

    def _run(self) -> str:
        what = f"reading {describe_source(self.job)}"
        target: _Target | None = None
        files: SourceFiles | None = None
        try:
            files = open_source(self.job.source, self.source, self.base_image)
            self.bytes_total, self.files_total = files.total_bytes, files.total_files
            what = f"copying {describe_source(self.job)} to {describe_destination(self.job)}"
            target = _open_target(self.job, self.destination, self.base_image)
            seen: set[str] = set()
            for item in files:
                self._check()
                if item.path in seen:
                    raise StoreRefused(f"the source holds {item.path[:200]!r} twice")
                seen.add(item.path)
                stream = item.open()
                try:
                    stored = target.add(item.path, _Counted(stream, self), item.size)
                finally:
                    with contextlib.suppress(Exception):
                        stream.close()
                if item.sha256 and stored.sha256 != item.sha256:
                    raise StoreRefused(f"{item.path[:200]!r} read with sha256 {stored.sha256}, not {item.sha256}")
                self.files_done += 1
            self._check()
            result = target.finish()
        except Cancelled:
            _discard(target)
            self.reporter.cancelled()
            return "CANCELLED"
        except BlobError as exc:
            _discard(target)
            if self._stop.is_set():  # a cancel that interrupted a store call surfaces as its error
                self.reporter.cancelled()
                return "CANCELLED"
            self.reporter.fail(f"{what} failed", str(exc))
            return "FAILED"
        except Exception as exc:
            _discard(target)
            if self._stop.is_set():
                self.reporter.cancelled()
                return "CANCELLED"
            log.exception("transfer job %s: %s failed", self.job.name, what)
            self.reporter.fail(f"{what} failed", f"unexpected error: {type(exc).__name__}")
            return "FAILED"
        finally:
            if files is not None:
                files.close()
            if target is not None:
                target.close()
        self._done.set()
        self.reporter.complete(result)
        return "COMPLETED"

    def _check(self) -> None:
        if self._stop.is_set():
            raise Cancelled

    def _pulse(self) -> None:
        while not self._done.wait(self.interval):
            try:
                go_on = self.reporter.progress(self.bytes_done, self.files_done, self.bytes_total, self.files_total)
            except Exception:
                log.warning("transfer job %s: progress report failed", self.job.name, exc_info=True)
                continue
            if not go_on:
                self._stop.set()


class _Counted:
    """A source stream that counts what is read and stops the copy between blocks once it is cancelled."""

    def __init__(self, raw: IO[bytes], copy: Copy) -> None:
        self._raw = raw
        self._copy = copy

    def read(self, size: int = -1, /) -> bytes:
        self._copy._check()
        data = self._raw.read(size)
        self._copy.bytes_done += len(data)
        return data


class _Target(Protocol):
    def add(self, path: str, stream: Readable, size: int) -> StoredFile: ...

    def finish(self) -> TransferResult: ...

    def discard(self) -> None: ...

    def close(self) -> None: ...


def _open_target(job: TransferJob, config: StoreConfig, base_image: str) -> _Target:
    if job.destination.type == "oci":
        return _OciTarget(job, config, base_image)
    return _S3Target(job, config)


def _discard(target: _Target | None) -> None:
    if target is None:
        return
    try:
        target.discard()
    except Exception:
        log.warning("removing what a failed or cancelled transfer wrote failed", exc_info=True)


class _OciTarget:
    """A ModelCar pushed to the destination repository; a layer of the same registry's source image is mounted."""

    def __init__(self, job: TransferJob, config: StoreConfig, base_image: str) -> None:
        self.job = job
        self.connection = job.destination.connection
        self.repository = job.destination.repository or ""
        mount_from = None
        if job.source.type == "oci" and job.source.image:
            source = parse_image_ref(job.source.image)
            if source.registry == config.registry:
                mount_from = [source.repository]
        self.push: ModelCarPush = OciStore(config, base_image).push(self.repository, mount_from)
        self.layers: list[Layer] = []

    def add(self, path: str, stream: Readable, size: int) -> StoredFile:
        layer = self.push.add_file(path, stream, size)
        self.layers.append(layer)
        return layer.stored()

    def finish(self) -> TransferResult:
        image = self.push.finish(self.layers, self.job.destination.tag)
        files = [layer.stored() for layer in self.layers]
        return TransferResult(image.ref.uri(), image.digest, files, self.connection, self.repository)

    def discard(self) -> None:
        self.push.cancel()

    def close(self) -> None:
        self.push.close()


class _S3Target:
    """Objects under the destination key prefix."""

    def __init__(self, job: TransferJob, config: StoreConfig) -> None:
        self.connection = job.destination.connection
        self.key = job.destination.key or ""
        self.store = open_store(config)
        self.files: list[StoredFile] = []

    def add(self, path: str, stream: Readable, size: int) -> StoredFile:
        stored = self.store.put_stream(join_key(self.key, path), stream, size)
        self.files.append(StoredFile(path, stored.size, stored.sha256))
        return self.files[-1]

    def finish(self) -> TransferResult:
        digest = manifest_digest(self.files)
        return TransferResult(self.store.uri(self.key), digest, self.files, self.connection, self.key)

    def discard(self) -> None:
        self.store.delete_prefix(self.key)

    def close(self) -> None:
        pass
