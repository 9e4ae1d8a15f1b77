"""The executor inside a transfer Job's pod (``modelreg transfer execute --job ID``, transfers/kube_job.py builds
the pod): it has no database and no connection secrets of its own, only what the Job mounts and the server says.

1. ``MODELREG_URL`` and ``MODELREG_TOKEN`` (the job's own token, role developer) reach the server's REST API;
   the job is fetched from it (a job that has already ended is left alone);
2. the two connections' settings come from the ConfigMap (``source.json``/``destination.json``), their
   credentials from the mounted Secrets' files (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``USERNAME``/
   ``PASSWORD``, ``.dockerconfigjson``);
3. the copy is the server worker's own (transfers/copy.py), with a `RestReporter`: progress, then complete or fail,
   over REST; the server registers the result, so both runners have one result contract;
4. the termination message (``TERMINATION_MESSAGE_PATH``, default ``/dev/termination-log``) is the upstream
   job's: ``{"intent", "RegisteredModel": {"id"}, "ModelVersion": {"id"}, "ModelArtifact": {"id"}}`` on success,
   ``{"error", "cause"}`` otherwise.

Exit codes: 0 done (or cancelled, or nothing to do), `REPORTED_FAILURE` when the failure was reported to the server
(the Job's pod failure policy ends the Job without retries), 1 when it could not even report (a crash: retried).
SIGTERM (the Job deleted on cancel) stops the copy at its next block; what it wrote is removed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelreg.blobs.base import StoreConfig
from modelreg.outbound import Client, OutboundError, Target
from modelreg.services.transfers import TERMINAL, Destination, Metadata, Source, TransferJob, TransferResult
from modelreg.transfers.copy import Copy
from modelreg.transfers.kube_job import DEST_CREDS_DIR, METADATA_DIR, REPORTED_FAILURE, SOURCE_CREDS_DIR

log = logging.getLogger("modelreg.transfers")

API = "/api/storage/v1/transfers"
DEFAULT_TERMINATION_PATH = "/dev/termination-log"
MAX_MESSAGE = 4000  # Kubernetes keeps at most 4096 bytes of a termination message
# credential files of a mounted Secret → StoreConfig fields
CREDENTIAL_FILES = {
    "AWS_ACCESS_KEY_ID": "access_key_id",
    "AWS_SECRET_ACCESS_KEY": "secret_access_key",
    "USERNAME": "access_key_id",
    "PASSWORD": "secret_access_key",
    ".dockerconfigjson": "dockerconfig",
}
ENTITIES = (
    ("RegisteredModel", "registeredModel"),
    ("ModelVersion", "modelVersion"),
    ("ModelArtifact", "modelArtifact"),
)


class ExecutorError(Exception):
    """The executor cannot run the job (its mounts, the server); the message says which and never a secret."""


@dataclass(frozen=True)
class Paths:
    """Where the Job mounts things; tests point them elsewhere."""

    metadata: Path = Path(METADATA_DIR)
    source_creds: Path = Path(SOURCE_CREDS_DIR)
    dest_creds: Path = Path(DEST_CREDS_DIR)
    termination: Path = Path(os.environ.get("TERMINATION_MESSAGE_PATH") or DEFAULT_TERMINATION_PATH)


def store_config(described: Mapping[str, Any], creds: Path) -> StoreConfig:
    """A connection's settings (``store`` of source.json/destination.json) with the credentials of a mounted
    Secret's directory (absent: none)."""
    known = {f.name for f in dataclasses.fields(StoreConfig)}
    values = {k: v for k, v in dict(described.get("store") or {}).items() if k in known}
    for filename, attribute in CREDENTIAL_FILES.items():
        path = creds / filename
        if path.is_file():
            text = path.read_text(encoding="utf-8").strip()
            if text:
                values[attribute] = text
    try:
        return StoreConfig(**values)
    except TypeError as exc:
        raise ExecutorError(f"the connection settings mounted for the job are not valid: {exc}") from None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ExecutorError(f"cannot read {path}: {type(exc).__name__}") from None
    if not isinstance(value, dict):
        raise ExecutorError(f"{path} is not a JSON object")
    return value


def job_of(wire: Mapping[str, Any], metadata: Mapping[str, Any]) -> TransferJob:
    """The job as the copy needs it, from the server's answer (the wire shape) and the mounted metadata."""
    fields = {f.name for f in dataclasses.fields(Metadata)}
    return TransferJob(
        id=str(wire["id"]),
        name=str(wire["name"]),
        intent=str(wire["intent"]),
        state=str(wire["state"]),
        runner=str(wire.get("runner") or "kubernetes"),
        source=Source(**dict(wire["source"])),
        destination=Destination(**dict(wire["destination"])),
        metadata=Metadata(**{k: v for k, v in metadata.items() if k in fields}),
        created_by=str(wire.get("createdBy") or ""),
        create_time=0,
        last_update_time=0,
        namespace=wire.get("namespace"),
    )


class RestReporter:
    """The copy's `Reporter` over the server's runner endpoints; remembers the outcome for the termination
    message."""

    def __init__(self, client: Client, job_id: str) -> None:
        self.client = client
        self.base = f"{API}/{job_id}"
        self.outcome: dict[str, Any] | None = None  # the job as the server answered the final report
        self.reported = False

    def progress(self, bytes_done: int, files_done: int, bytes_total: int | None, files_total: int | None) -> bool:
        body = {"bytesDone": bytes_done, "filesDone": files_done, "bytesTotal": bytes_total, "filesTotal": files_total}
        answer = self.client.json("POST", f"{self.base}/progress", body=body) or {}
        return bool(answer.get("continue", True)) and not answer.get("cancelRequested")

    def complete(self, result: TransferResult) -> None:
        body = {
            "uri": result.uri,
            "digest": result.digest,
            "storageKey": result.storage_key,
            "storagePath": result.storage_path,
            "files": [{"path": f.key, "size": f.size, "sha256": f.sha256} for f in result.files],
        }
        self._final("complete", body)

    def fail(self, error: str, cause: str | None) -> None:
        self._final("fail", {"error": error, "cause": cause})

    def cancelled(self) -> None:
        self._final("fail", {"error": "cancelled", "cancelled": True})

    def _final(self, what: str, body: Mapping[str, Any]) -> None:
        self.outcome = self.client.json("POST", f"{self.base}/{what}", body=dict(body))
        self.reported = True


def termination_message(job: Mapping[str, Any]) -> dict[str, Any]:
    """The upstream job's message for a finished job (ids of what it registered), or its error and cause."""
    if job.get("state") == "COMPLETED":
        message: dict[str, Any] = {"intent": job.get("intent")}
        for entity, key in ENTITIES:
            found = job.get(key) or {}
            message[entity] = {"id": found.get("id")}
        return message
    return {"state": job.get("state"), "error": job.get("error"), "cause": job.get("cause")}


def write_termination(path: Path, message: Mapping[str, Any]) -> None:
    text = json.dumps(message)[:MAX_MESSAGE]
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        log.warning("cannot write the termination message to %s: %s", path, exc.strerror or exc)


def execute(job_id: str, url: str, token: str | None, paths: Paths | None = None, base_image: str = "embedded") -> int:
    """Run one job to its end; the exit code (see the module docstring)."""
    paths = paths or Paths()
    if not url:
        write_termination(paths.termination, {"error": "MODELREG_URL is not set"})
        return 1
    client = Client(Target(base_url=url, bearer=lambda: token, timeout=60))
    reporter = RestReporter(client, job_id)
    try:
        wire = client.json("GET", f"{API}/{job_id}")
        if not isinstance(wire, dict):
            raise ExecutorError(f"the server's answer for job {job_id} is not a job")
        if wire.get("state") in TERMINAL:
            log.info("transfer job %s has already ended (%s): nothing to do", job_id, wire.get("state"))
            write_termination(paths.termination, termination_message(wire))
            return 0
        metadata = _read_json(paths.metadata / "metadata.json")
        source = store_config(_read_json(paths.metadata / "source.json"), paths.source_creds)
        destination = store_config(_read_json(paths.metadata / "destination.json"), paths.dest_creds)
        job = job_of(wire, metadata)
        if not reporter.progress(0, 0, None, None):  # the first report starts the job (PENDING → RUNNING)
            reporter.cancelled()
            write_termination(paths.termination, termination_message(reporter.outcome or {"state": "CANCELLED"}))
            return 0
        copy = Copy(job, source, destination, reporter, base_image=base_image)
        previous = signal.signal(signal.SIGTERM, lambda *_: copy.stop())
        try:
            state = copy.run()
        finally:
            signal.signal(signal.SIGTERM, previous)
    except (ExecutorError, OutboundError) as exc:
        return _cannot_run(reporter, paths, str(exc))
    final = reporter.outcome if isinstance(reporter.outcome, dict) else {"state": state}
    write_termination(paths.termination, termination_message(final))
    if final.get("state") == "FAILED" or state == "FAILED":
        return REPORTED_FAILURE
    return 0


def _cannot_run(reporter: RestReporter, paths: Paths, cause: str) -> int:
    """The job could not run (a mount missing, the server not answering): report it if the server answers."""
    error = "the Kubernetes Job could not run the transfer"
    write_termination(paths.termination, {"error": error, "cause": cause})
    if reporter.reported:
        return REPORTED_FAILURE
    try:
        reporter.fail(error, cause)
    except OutboundError as exc:
        log.error("transfer job: %s (%s); reporting it failed too: %s", error, cause, exc)
        return 1
    return REPORTED_FAILURE
