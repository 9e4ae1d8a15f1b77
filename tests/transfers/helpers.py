"""What the transfer-job tests share: a service and worker over a database of their own (``transfer_database``:
a server started by another test module on the session's database runs its own transfer worker, which would take
these tests' jobs), with data connections on the moto S3 server, and a small http server (``Files``) on 127.0.0.1
for ``uri`` sources."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from blobs.conftest import ACCESS_KEY, REGION, SECRET_KEY, S3Server
from conftest import BACKENDS, SQLITE_ONLY, _scratch_database, empty
from modelreg import wire
from modelreg.blobs.s3 import S3Store
from modelreg.db import migrations
from modelreg.db.database import Database
from modelreg.services.connections import ConnectionService
from modelreg.services.secrets import SecretBox
from modelreg.services.transfers import TransferJob, TransferService
from modelreg.settings import LimitSettings, StorageSettings
from modelreg.transfers.worker import TransferWorker

MB = 1024 * 1024


@pytest.fixture(scope="module", params=BACKENDS)
def transfer_database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    scratch = _scratch_database(request.param, tmp_path_factory.mktemp(request.param), suffix="_transfers")
    db = Database(next(scratch))
    migrations.upgrade(db.engine)
    yield db
    db.dispose()
    scratch.close()


def skip_unless_sqlite(request: pytest.FixtureRequest, database: Database) -> None:
    """The ``sqlite_only`` marker for tests on ``transfer_database`` (conftest's hook knows only ``database``)."""
    marker = request.node.get_closest_marker(SQLITE_ONLY)
    if marker is not None and database.engine.dialect.name != "sqlite":
        pytest.skip(f"{marker.args[0] if marker.args else 'nothing database-specific'}: checked on SQLite only")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tar_of(files: dict[str, bytes], mode: str = "w") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


@dataclass
class Files:
    """An http server of in-memory files: ``slow`` seconds of pause after each MiB sent, ``broken`` paths answer
    500."""

    files: dict[str, bytes] = field(default_factory=dict)
    slow: float = 0.0
    broken: set[str] = field(default_factory=set)
    url: str = ""

    def serve(self) -> Iterator[Files]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.lstrip("/")
                if path in owner.broken:
                    self.send_error(500, "broken on purpose")
                    return
                data = owner.files.get(path)
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    for start in range(0, len(data), MB):
                        self.wfile.write(data[start : start + MB])
                        if owner.slow:
                            time.sleep(owner.slow)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}/"
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()


@dataclass
class Env:
    database: Database
    s3: S3Server
    source_bucket: str
    dest_bucket: str
    connections: ConnectionService
    service: TransferService
    files: Files
    workers: list[TransferWorker] = field(default_factory=list)

    def worker(self, **kwargs: Any) -> TransferWorker:
        worker = TransferWorker(self.service, self.connections, **{"lease_seconds": 5.0, **kwargs})
        self.workers.append(worker)
        return worker

    def run(self, job: TransferJob, worker: TransferWorker | None = None) -> TransferJob:
        """Run the server's worker until this job has ended."""
        worker = worker or (self.workers[0] if self.workers else self.worker())
        deadline = time.monotonic() + 60
        while self.service.get(job.id).state not in ("COMPLETED", "FAILED", "CANCELLED"):
            assert time.monotonic() < deadline, self.service.get(job.id)
            worker.run_once()
            worker.join(30)
        return self.service.get(job.id)

    def put(self, key: str, data: bytes) -> None:
        self.s3.boto3().put_object(Bucket=self.source_bucket, Key=key, Body=data)

    def dest_store(self) -> S3Store:
        return S3Store(self.s3.config(self.dest_bucket))


def make_env(database: Database, tmp_path: Path, s3: S3Server, files: Files, buckets: tuple[str, str]) -> Env:
    secrets = SecretBox(StorageSettings(), tmp_path)
    connections = ConnectionService(database, secrets, tmp_path / "artifacts")
    common: dict[str, Any] = {
        "endpoint": s3.endpoint,
        "region": REGION,
        "path_style": True,
        "access_key_id": ACCESS_KEY,
        "secret_access_key": SECRET_KEY,
        "check": False,
    }
    connections.create("lake", "s3", bucket=buckets[0], **common)
    connections.create("vault", "s3", bucket=buckets[1], **common)
    connections.create("web", "uri", base_url=files.url + "models/", check=False)
    limits = LimitSettings()
    service = TransferService(
        database, connections, secrets, properties=lambda props: wire.properties_to_db(props, limits)
    )
    return Env(database, s3, buckets[0], buckets[1], connections, service, files)


@pytest.fixture
def files() -> Iterator[Files]:
    """The ``uri`` sources' http server, per test."""
    yield from Files().serve()


def environment(
    request: pytest.FixtureRequest, database: Database, tmp_path: Path, s3: S3Server, files: Files
) -> Iterator[Env]:
    """An emptied database with two fresh buckets behind the connections; the workers a test started are stopped
    afterwards."""
    skip_unless_sqlite(request, database)
    empty(database)
    buckets = (f"src-{uuid.uuid4().hex[:16]}", f"dst-{uuid.uuid4().hex[:16]}")
    for name in buckets:
        s3.boto3().create_bucket(Bucket=name)
    made = make_env(database, tmp_path, s3, files, buckets)
    yield made
    for worker in made.workers:
        worker.stop(timeout=10)
