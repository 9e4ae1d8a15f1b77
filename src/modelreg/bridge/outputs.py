"""Optional outputs of the bridge, kept in step with its records: a directory (GitOps), Kubernetes ConfigMap(s), and
location registration in a Backstage catalog.

The sync calls `Publisher.notify` after every refresh that changed rows; the publisher's own thread then reads the
stored documents once and hands them to each output. Each output diffs against what it published last and only
writes the difference, so a publish is idempotent and a failed one is simply retried (with backoff) from the
current state. Nothing here runs on the commit path or inside the sync's transaction, and an output error never
stops the sync: it is recorded in `bridge_sources` as `output:<name>` (`modelreg bridge status`) and cleared by
the next success.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import httpx

from modelreg.auth import context
from modelreg.bridge import store
from modelreg.bridge._worker import stop_worker
from modelreg.bridge.sync import BridgeSync
from modelreg.db.database import Database
from modelreg.kube import connection
from modelreg.kube.client import Kube
from modelreg.kube.kinds import CONFIG_MAP
from modelreg.outbound import BadResponse, Client, HttpStatus, Target
from modelreg.redact import public_text
from modelreg.services import clock
from modelreg.settings import BridgeBackstageSettings, BridgeConfigMapSettings, BridgeSettings
from modelreg.telemetry import workers

log = logging.getLogger(__name__)

Documents = list[tuple[str, str]]  # (location URI, document), sorted by URI
MANIFEST = ".modelreg-bridge-manifest.json"
CONFIGMAP_KEY = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")
CONFIGMAP_BUDGET = 1_000_000  # bytes of keys + values per ConfigMap: 1 MiB minus room for metadata
MANAGED_LABEL = "modelreg.io/bridge-output"


class Output(Protocol):
    name: str  # the status row is "output:<name>"
    format: store.Format  # which documents it publishes

    def publish(self, documents: Documents) -> bool:
        """Bring the target in line with `documents`; True when it wrote anything. Raises on failure."""
        ...

    def close(self) -> None: ...


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- directory ---------------------------------------------------------------------------------------------------


class DirectoryOutput:
    """The files `modelreg bridge export` writes, kept current in `directory`.

    A manifest (`.modelreg-bridge-manifest.json`: path → SHA-256) records what we wrote, so vanished documents are
    deleted and every other file in the directory (a Git checkout's own files) is left alone. Files are written by
    `write_document`, so a reader never sees half a document.
    """

    def __init__(self, directory: Path, fmt: store.Format) -> None:
        self.name = "directory"
        self.format = fmt
        self.root = directory
        self._written: dict[str, str] | None = None

    def _manifest(self) -> dict[str, str]:
        if self._written is None:
            try:
                self._written = dict(json.loads((self.root / MANIFEST).read_text())["files"])
            except (OSError, ValueError, KeyError, TypeError):
                self._written = {}
        return self._written

    def publish(self, documents: Documents) -> bool:
        self.root.mkdir(parents=True, exist_ok=True)
        written = self._manifest()
        wanted = {uri.lstrip("/"): doc for uri, doc in documents}
        changed = False
        for relative, doc in wanted.items():
            digest = _digest(doc)
            if written.get(relative) == digest and document_path(self.root, relative).is_file():
                continue
            write_document(self.root, relative, doc)
            written[relative] = digest
            changed = True
        for relative in [r for r in written if r not in wanted]:
            path = document_path(self.root, relative)
            path.unlink(missing_ok=True)
            _prune_empty(path.parent, self.root)
            del written[relative]
            changed = True
        if changed or not (self.root / MANIFEST).is_file():
            write_document(self.root, MANIFEST, json.dumps({"files": written}, indent=0, sort_keys=True))
        return changed

    def close(self) -> None:
        pass


def document_path(root: Path, relative: str) -> Path:
    """`root/relative`, refused (ValueError) when it leaves `root`: URIs are built from safe names, but a file
    outside the directory must never be written or deleted on their word alone."""
    path = (root / relative.lstrip("/")).resolve()
    if not path.is_relative_to(root.resolve()):
        raise ValueError(f"bridge document path {relative!r} leaves {root}")
    return path


def write_document(root: Path, relative: str, text: str) -> Path:
    """Write `text` to `root/relative` (see `document_path`) atomically: into a temporary file beside the target,
    renamed over it once complete, so a reader never sees half a document and a failed write leaves the old one."""
    path = document_path(root, relative)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_documents(documents: Iterable[tuple[str, str]], directory: Path) -> int:
    """Every (location URI, document) under `directory` at the path its URI names, each with `write_document`;
    how many were written. `modelreg bridge export`."""
    count = 0
    for uri, document in documents:
        write_document(directory, uri, document)
        count += 1
    return count


def _prune_empty(directory: Path, root: Path) -> None:
    """Remove directories our deletions emptied, up to (not including) `root`; rmdir refuses non-empty ones."""
    root = root.resolve()
    directory = directory.resolve()
    while directory != root and directory.is_relative_to(root):
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent


# --- ConfigMap ---------------------------------------------------------------------------------------------------


def configmap_key(uri: str, fmt: store.Format) -> str:
    """`<version key>.json` (JSON format) or `<model key>.yaml` (YAML): the record keys, which are unique."""
    parts = uri.strip("/").split("/")
    key = f"{parts[1]}.json" if fmt == "json" else f"{parts[0]}.yaml"
    if not CONFIGMAP_KEY.match(key):
        raise ValueError(f"{key!r} is not a valid ConfigMap key")
    return key


def split_configmaps(name: str, data: dict[str, str], budget: int = CONFIGMAP_BUDGET) -> dict[str, dict[str, str]]:
    """One ConfigMap `name` when everything fits in `budget`, else `name-0..n` filled in key order.

    Kubernetes caps a ConfigMap's data at 1 MiB; a single document over the budget cannot be split and is an error.
    """
    shards: list[dict[str, str]] = [{}]
    size = 0
    for key in sorted(data):
        item = len(key.encode()) + len(data[key].encode())
        if item > budget:
            raise ValueError(f"bridge document {key} is {item} bytes, over the ConfigMap budget of {budget}")
        if size + item > budget:
            shards.append({})
            size = 0
        shards[-1][key] = data[key]
        size += item
    if len(shards) == 1:
        return {name: shards[0]}
    return {f"{name}-{i}": shard for i, shard in enumerate(shards)}


class ConfigMapOutput:
    """The documents as data keys of one ConfigMap (or `name-0..n` over 1 MiB), through the process's `Kube`.

    Each ConfigMap is written with server-side apply under the field manager, so there is no read-modify-write and
    no conflict to retry; a data key of the stored object that is not ours any more (left by another writer, or a
    server that merges) is removed with a patch, so the data is exactly the documents. Ours carry the label
    `modelreg.io/bridge-output=<name>`; labelled ConfigMaps no longer needed (after a shrink or growth across the
    split) are deleted.
    """

    def __init__(self, kube: Kube, namespace: str, configmap: str, fmt: store.Format) -> None:
        self.name = "configmap"
        self.format = fmt
        self.kube = kube
        self.namespace = namespace
        self.configmap = configmap
        self._published: str | None = None  # digest of the last successful publish
        self._applied: dict[str, str] = {}  # ConfigMap name → digest of the data last applied

    def publish(self, documents: Documents) -> bool:
        data = {configmap_key(uri, self.format): doc for uri, doc in documents}
        shards = split_configmaps(self.configmap, data)
        digest = _digest(json.dumps(shards, sort_keys=True))
        if digest == self._published:
            return False
        changed = False
        for name, shard in shards.items():
            changed |= self._apply(name, shard)
        listed, _ = self.kube.list(CONFIG_MAP, self.namespace, labels={MANAGED_LABEL: self.configmap})
        for item in listed:
            stale = item["metadata"]["name"]
            if stale not in shards:
                changed |= self.kube.delete(CONFIG_MAP, stale, self.namespace)
                self._applied.pop(stale, None)
        self._published = digest
        return changed

    def _apply(self, name: str, data: dict[str, str]) -> bool:
        digest = _digest(json.dumps(data, sort_keys=True))
        if self._applied.get(name) == digest:
            return False
        labels = {MANAGED_LABEL: self.configmap, "app.kubernetes.io/managed-by": "modelreg"}
        metadata = {"name": name, "namespace": self.namespace, "labels": labels}
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}
        if data:  # no documents: no data field, so the keys this manager set before are dropped
            body["data"] = data
        stored = self.kube.apply(body)
        cleanup: dict[str, Any] = {}
        if foreign := [key for key in stored.get("data") or {} if key not in data]:
            cleanup["data"] = dict.fromkeys(foreign)  # merge patch: null removes the key
        if stored.get("binaryData"):
            cleanup["binaryData"] = None
        if cleanup:
            self.kube.patch(CONFIG_MAP, name, self.namespace, cleanup)
        self._applied[name] = digest
        return True

    def close(self) -> None:
        pass  # the client is the process's


# --- Backstage location registration ----------------------------------------------------------------------------


class BackstageLocations:
    """Registers every YAML location URL with a Backstage catalog and removes the ones that vanish.

    Backstage itself is the record of what is registered: each publish lists its locations and treats those whose
    target lies under `<public_url>/bridge/` as ours, so nothing is kept locally that could go stale (the reference
    kept location ids in its ConfigMap and dropped them on any failed look-up) and nobody else's locations are
    touched. Registration uses the standard `url` location type; a 409 (already registered) counts as success.
    """

    def __init__(
        self,
        url: str,
        public_url: str,
        *,
        bearer: Callable[[], str | None] | None = None,
        verify_tls: bool = True,
        ca_file: Path | None = None,
        timeout: float = 30,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = "backstage"
        self.format: store.Format = "yaml"
        self.prefix = f"{public_url.rstrip('/')}/bridge/"
        target = Target(
            f"{url.rstrip('/')}/api/catalog", verify_tls=verify_tls, ca_file=ca_file, bearer=bearer, timeout=timeout
        )
        self._http = Client(target, transport=transport)
        self._published: set[str] | None = None

    def targets(self, documents: Documents) -> set[str]:
        return {self.prefix + uri.lstrip("/") for uri, _ in documents}

    def registered(self) -> dict[str, str]:
        """target → location id of our locations in Backstage."""
        listed = self._http.json("GET", "/locations")
        if not isinstance(listed, list):
            raise BadResponse(f"GET /api/catalog/locations: expected a list, got {type(listed).__name__}")
        out = {}
        for item in listed:
            location = item.get("data", item)  # Backstage wraps each one in {"data": ...}
            target = location.get("target", "")
            if target.startswith(self.prefix) and location.get("type") == "url":
                out[target] = location["id"]
        return out

    def publish(self, documents: Documents) -> bool:
        wanted = self.targets(documents)
        if wanted == self._published:
            return False
        have = self.registered()
        errors: list[tuple[str, HttpStatus]] = []  # refusals of single locations; no answer at all stops the round
        changed = False
        for target in sorted(wanted - have.keys()):
            try:
                location = {"type": "url", "target": target}
                response = self._http.request("POST", "/locations", body=location, accept=[409])
                changed |= response.status_code != 409  # 409: registered already
            except HttpStatus as exc:
                errors.append((f"register {target}", exc))
        for target in sorted(have.keys() - wanted):
            try:
                response = self._http.request("DELETE", f"/locations/{have[target]}", accept=[404])
                changed |= response.status_code != 404  # 404: removed already
            except HttpStatus as exc:
                errors.append((f"remove {target}", exc))
        if errors:
            more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
            raise HttpStatus("; ".join(f"{what}: {exc}" for what, exc in errors[:3]) + more, errors[0][1].status)
        self._published = wanted
        return changed

    def close(self) -> None:
        self._http.close()


# --- the publisher -----------------------------------------------------------------------------------------------


class Publisher:
    """Runs the outputs on their own thread after each change; retries failed ones with backoff."""

    def __init__(self, db: Database, outputs: Sequence[Output], retry_seconds: float = 1.0, max_retry: float = 60):
        self.db = db
        self.outputs = list(outputs)
        self.retry_seconds = retry_seconds
        self.max_retry = max_retry
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed: set[str] = set()
        self.errors: dict[str, str] = {}

    def notify(self) -> None:
        self._idle.clear()
        self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=context.worker("bridge", self._run), name="modelreg-bridge-outputs", daemon=True
            )
            self._thread.start()
            self.notify()  # publish what is stored now; the start-up resync notifies again if it changes rows

    def stop(self, timeout: float = 10) -> None:
        stop_worker(self._stop, self._wake, self._thread, self.outputs, timeout)
        self._thread = None

    def wait_idle(self, timeout: float = 10) -> bool:
        return self._idle.wait(timeout)

    def _run(self) -> None:
        delay = self.retry_seconds
        while not self._stop.is_set():
            self._wake.wait()
            if self._stop.is_set():
                return
            self._wake.clear()
            if self.publish_once():
                workers.beat("bridge-outputs")
                delay = self.retry_seconds
                if not self._wake.is_set():
                    self._idle.set()
                continue
            workers.failed("bridge-outputs", "publish")
            self._stop.wait(delay)  # the retry publishes the state as of then, changes meanwhile included
            delay = min(delay * 2, self.max_retry)
            self._wake.set()

    def publish_once(self) -> bool:
        """One round over every output from the stored documents; True when all succeeded."""
        try:
            documents = self._read({o.format for o in self.outputs})
        except Exception as exc:
            log.warning("bridge outputs: cannot read the documents: %s", exc)
            return False
        ok = True
        for output in self.outputs:
            try:
                changed = output.publish(documents[output.format])
            except Exception as exc:
                ok = False
                message = public_text(f"{type(exc).__name__}: {exc}")  # outbound errors are redacted; others too
                log.warning("bridge output %s failed, retrying: %s", output.name, message)
                self.errors[output.name] = message
                self._failed.add(output.name)
                self._record(output.name, message)
                continue
            self.errors.pop(output.name, None)
            if changed or output.name in self._failed:
                self._failed.discard(output.name)
                self._record(output.name, None)
        return ok

    def _read(self, formats: set[store.Format]) -> dict[store.Format, Documents]:
        with self.db.read() as conn:
            return {fmt: list(store.all_documents(conn, fmt)) for fmt in formats}

    def _record(self, name: str, error: str | None) -> None:
        try:
            with self.db.write() as conn:
                if error is None:
                    store.mark_synced(conn, f"output:{name}", clock.now_ms(), full=False)
                else:
                    store.mark_failed(conn, f"output:{name}", clock.now_ms(), error)
        except Exception:
            log.debug("could not record the bridge output status", exc_info=True)


def build_outputs(settings: BridgeSettings, kube: Kube | None = None) -> list[Output]:
    """The outputs `settings` ask for; ValueError when one is configured incompletely. ``kube`` is the process's
    cluster client, which the ConfigMap output writes through."""
    outputs: list[Output] = []
    if settings.output_dir is not None:
        outputs.append(DirectoryOutput(settings.output_dir, settings.format))
    if settings.configmap is not None:
        outputs.append(_configmap(settings.configmap, settings.format, kube))
    if settings.backstage is not None:
        outputs.append(_backstage(settings.backstage, settings.public_url))
    return outputs


def _configmap(cm: BridgeConfigMapSettings, fmt: store.Format, kube: Kube | None) -> ConfigMapOutput:
    if kube is None:
        raise ValueError("bridge.configmap needs a Kubernetes cluster: configure the kubernetes settings")
    namespace = cm.namespace or kube.default_namespace or _pod_namespace()
    if not namespace:
        raise ValueError("bridge.configmap.namespace is required outside a Kubernetes pod")
    return ConfigMapOutput(kube, namespace, cm.name, fmt)


def _pod_namespace() -> str | None:
    """The pod's namespace from its service account (also when the cluster is given by URL); None outside a pod."""
    try:
        return (connection.SERVICE_ACCOUNT / "namespace").read_text().strip() or None
    except OSError:
        return None


def _backstage(bs: BridgeBackstageSettings, public_url: str | None) -> BackstageLocations:
    if not public_url:
        raise ValueError("bridge.backstage needs bridge.public_url (modelreg's URL as Backstage reaches it)")

    def bearer() -> str | None:  # the file is re-read at each call: rotated tokens work
        if bs.token is not None or bs.token_file is None:
            return bs.token
        return bs.token_file.read_text().strip()

    return BackstageLocations(bs.url, public_url, bearer=bearer, verify_tls=bs.verify_tls, ca_file=bs.ca_file)


def attach(
    sync: BridgeSync | None, db: Database, settings: BridgeSettings, kube: Kube | None = None
) -> Publisher | None:
    """A publisher for the configured outputs, subscribed to `sync`; None when the bridge is off or has none."""
    outputs = build_outputs(settings, kube) if sync is not None else []
    if sync is None or not outputs:
        return None
    publisher = Publisher(db, outputs)
    sync.on_change.append(publisher.notify)
    return publisher
