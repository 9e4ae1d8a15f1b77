"""`StatusWatcher`: watches the InferenceServices carrying the registry labels or modelreg's own label
``modelreg.io/registry`` (every one modelreg deploys has it; a catalog model's has no registry labels), and their
predictor pods, maps their status (deploy/status.py) and records each change on its deployment (`status_rows`) and
in the registry records (deploy/records.py). Every process keeps the watch (cheap when idle); one process per
cluster, holding the lease ``deploy-status``, writes.

One thread does the work: the informers' listeners only note which InferenceService changed and wake it, so a
slow database never stalls a watch, and a burst of events for one object is handled once. The thread sleeps
until an event arrives, the lease is due for renewal (a third of its length) or a refused label is due again, so
an idle cluster costs one short write every few seconds. When this process becomes the writer it reconciles
everything in the informers' caches once, since changes made while nobody held the lease were seen by nobody.

InferenceServices created elsewhere (the OpenShift AI dashboard, or a GitOps tool applying modelreg's output) that
carry this registry's labels get a deployment row of their own ("adopted"); only those whose
``modelregistry.opendatahub.io/name`` is this registry's name, or absent, are this registry's (the dashboard's
filter), and whose ``modelreg.io/registry``, when present, is too. The two informers may both hold one
InferenceService: changes are keyed by namespace and name, so it is handled once, from the newer of the two copies
(each informer follows its own watch, and one may lag).

The registry label written back is retried per object with a growing pause (``label_retry_first`` seconds, doubled
up to ``label_retry_max``) when the API refuses it (typically a service account without ``patch``): the first
failure is a warning, the repeats are logged at debug.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from modelreg.auth import context
from modelreg.db.database import Database
from modelreg.db.leases import Lease
from modelreg.deploy import keys, records, status_rows, store
from modelreg.deploy.records import INFERENCE_SERVICE_LABEL, REGISTERED_MODEL_LABEL, REGISTRY_NAME_LABEL, label_id
from modelreg.deploy.status import ISVC_POD_LABEL, Condition, status_of
from modelreg.deploy.store import Deployment
from modelreg.errors import NotFound
from modelreg.kube import kinds
from modelreg.kube.client import Json, Kube
from modelreg.kube.errors import KubeError
from modelreg.kube.errors import NotFound as KubeNotFound
from modelreg.kube.informer import Informer
from modelreg.kube.shapes import version_number
from modelreg.services.registry import RegistryService
from modelreg.settings import DeploySettings
from modelreg.telemetry import workers

log = logging.getLogger("modelreg.deploy")

COMPONENT = "deploy-watch"
LEASE = "deploy-status"
SYNC_POLL_SECONDS = 0.5  # how often an unsynced watcher checks its informers (only until the first list)

Key = tuple[str, str]  # namespace, name


@dataclass(slots=True)
class _Backoff:
    """An InferenceService whose registry label could not be written: when to try again."""

    delay: float
    due: float  # monotonic
    ready: bool = False  # due: the next handling of the object may write it


class StatusWatcher:
    label_retry_first = 5.0  # seconds before the registry label is written again after a refusal; doubled up to
    label_retry_max = 600.0

    def __init__(
        self,
        db: Database,
        kube: Kube,
        registry: RegistryService,
        settings: DeploySettings,
        *,
        owner: str | None = None,
    ) -> None:
        """``owner`` names this process in the lease (default: a random id)."""
        self.db = db
        self.kube = kube
        self.registry = registry
        self.settings = settings
        self.lease = Lease(db, LEASE, owner=owner, seconds=settings.status_lease_seconds)
        namespaces = tuple(settings.namespaces)
        self.isvcs = Informer(  # the registry's labels: a registered version's deployments, and the dashboard's
            kube, kinds.INFERENCE_SERVICE, namespaces=namespaces, labels={REGISTERED_MODEL_LABEL: None}, name="isvcs"
        )
        self.deployed = Informer(  # modelreg's own label: everything this registry deployed, catalog models too
            kube,
            kinds.INFERENCE_SERVICE,
            namespaces=namespaces,
            labels={keys.REGISTRY: settings.registry_name},
            name="deployed",
        )
        self.pods = Informer(kube, kinds.POD, namespaces=namespaces, labels={ISVC_POD_LABEL: None}, name="pods")
        for informer in (self.isvcs, self.deployed):
            informer.add_listener(self._on_isvc)
        self.pods.add_listener(self._on_pod)
        self._wake = threading.Condition()
        self._pending: dict[Key, Json | None] = {}  # changed InferenceServices; the object when it was deleted
        self._retry: set[Key] = set()  # failed for a passing reason: tried again at the next lease renewal
        self._linked: dict[Key, tuple[Any, ...]] = {}  # what the registry records were last brought up to
        self._label_backoff: dict[Key, _Backoff] = {}  # registry labels refused: when to write them again
        self._busy = False
        self._reconcile = False  # this process just became the writer
        self._started = False  # synced and the lease tried once
        self._stopping = False
        self._next_renewal = 0.0  # monotonic
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------------------------

    def _informers(self) -> tuple[Informer, ...]:
        return (self.isvcs, self.deployed, self.pods)

    def start(self) -> None:
        for informer in self._informers():
            informer.start()
        self._thread = threading.Thread(
            target=context.worker(COMPONENT, self._run), name="deploy-status-watcher", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)
        for informer in self._informers():
            informer.stop()

    @property
    def writing(self) -> bool:
        """Whether this process records status changes now (it holds the lease)."""
        return self.lease.held

    def wait_idle(self, timeout: float) -> bool:
        """Wait until the caches are synced, the lease was tried, and every change seen so far has been handled
        (tests, benchmarks); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._wake:
            while not self._started or self._pending or self._busy or self._reconcile:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._wake.wait(remaining)
        return True

    def inference_service(self, namespace: str, name: str) -> Json | None:
        """The InferenceService as the caches hold it (None: not watched, not there, or not synced yet): the newer
        copy when both informers have it, since each follows its own watch and one may lag behind the other."""
        return _newest(self.isvcs.get(namespace, name), self.deployed.get(namespace, name))

    def conditions(self, deployment: Deployment) -> tuple[Condition, ...] | None:
        """The status timeline of a live deployment's InferenceService from the caches, without an API call (every
        process has them, the writer or not); None when the caches do not have that very object."""
        if not deployment.active:
            return None
        obj = self.inference_service(deployment.namespace, deployment.name)
        if obj is None or (deployment.isvc_uid and (obj.get("metadata") or {}).get("uid") != deployment.isvc_uid):
            return None
        return status_of(obj).conditions

    # --- events (informer threads) -----------------------------------------------------------------------------

    def _on_isvc(self, event: str, obj: Json) -> None:
        key = _key(obj)
        if key is None or event == "BOOKMARK":
            return
        with self._wake:
            if event == "DELETED":
                self._pending[key] = obj
            else:
                self._pending.setdefault(key, None)
            self._wake.notify_all()

    def _on_pod(self, event: str, pod: Json) -> None:
        metadata = pod.get("metadata") or {}
        owner = (metadata.get("labels") or {}).get(ISVC_POD_LABEL)
        if not owner or not metadata.get("namespace") or event == "BOOKMARK":
            return
        with self._wake:
            self._pending.setdefault((metadata["namespace"], owner), None)
            self._wake.notify_all()

    # --- the worker thread -------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping and not all(i.wait_synced(SYNC_POLL_SECONDS) for i in self._informers()):
            pass
        while True:
            with self._wake:
                while not self._stopping and not self._pending and time.monotonic() < self._next_wake():
                    self._wake.wait(self._next_wake() - time.monotonic())
                if self._stopping:
                    break
                batch, self._pending = self._pending, {}
                self._busy = True
            try:
                if time.monotonic() >= self._next_renewal:
                    self._renew()
                    batch.update(dict.fromkeys(self._retry - batch.keys()))
                    self._retry.clear()
                batch.update(dict.fromkeys(self._labels_due() - batch.keys()))
                if self.lease.held:
                    if self._reconcile:
                        self._reconcile_all()
                    else:
                        self._apply(batch)
            except Exception as exc:  # the database went away mid-round, say: keep the thread, try it all again later
                log.exception("deploy status watcher: a round failed; reconciling at the next lease renewal")
                workers.failed(COMPONENT, exc)
                with self._wake:
                    self._reconcile = True
            else:
                workers.beat(COMPONENT)
            finally:
                with self._wake:
                    self._busy = False
                    self._started = True
                    self._wake.notify_all()
        self._give_up_lease()

    def _next_wake(self) -> float:
        """The lease's renewal, or a refused registry label's next try when sooner (only for the writer)."""
        if not self.lease.held:
            return self._next_renewal
        return min((b.due for b in self._label_backoff.values()), default=self._next_renewal)

    def _labels_due(self) -> set[Key]:
        """The InferenceServices whose refused registry label may be written again now, each let through once (and
        checked again after another pause, should nothing try it meanwhile)."""
        if not self.lease.held:
            return set()
        now = time.monotonic()
        due = {key for key, backoff in self._label_backoff.items() if backoff.due <= now}
        for key in due:
            backoff = self._label_backoff[key]
            backoff.ready, backoff.due = True, now + backoff.delay
        return due

    def _still_writing(self) -> bool:
        """Between two objects of a long batch: renew the lease when due; False once it is lost."""
        if time.monotonic() >= self._next_renewal:
            self._renew()
        return self.lease.held and not self._stopping

    def _renew(self) -> None:
        self._next_renewal = time.monotonic() + self.settings.status_lease_seconds / 3
        was_writing = self.lease.held
        try:
            gained = self.lease.acquire_or_renew() and not was_writing
        except Exception as exc:
            log.warning("deploy status watcher: cannot renew the lease %r: %s", LEASE, exc)
            return
        if gained:
            log.info("deploy status watcher: this process records deployment status now")
            self._linked.clear()  # another process may have changed the records meanwhile
            with self._wake:
                self._reconcile = True
        elif was_writing and not self.lease.held:
            log.info("deploy status watcher: another process records deployment status now")

    def _give_up_lease(self) -> None:
        if not self.lease.held:
            return
        try:
            self.lease.release()
        except Exception as exc:
            log.warning("deploy status watcher: cannot release the lease %r: %s", LEASE, exc)

    def _apply(self, batch: Mapping[Key, Json | None]) -> None:
        pods: dict[Key, list[Json]] | None = None
        for key, deleted in batch.items():
            if not self._still_writing():
                self._retry.update(batch)  # for the next writer round; a new writer reconciles anyway
                return
            current = self.inference_service(*key)
            if current is not None and deleted is not None and version_number(current) < version_number(deleted):
                current = None  # the other informer's older copy of what was deleted: it has not caught up yet
            if current is None and deleted is not None:
                self._guarded(key, self._deleted, deleted)
            elif current is not None:
                if pods is None:
                    pods = self._pods_by_isvc()
                self._guarded(key, self._observe, current, pods.get(key, ()))

    def _reconcile_all(self) -> None:
        """Everything the caches hold, once; and the deployments whose InferenceService went away unseen."""
        with self._wake:
            self._reconcile = False
            self._pending.clear()
        pods = self._pods_by_isvc()
        present = set()
        for key, obj in self._cached():
            if not self._still_writing():
                return  # lost the lease midway: whoever has it now reconciles, as will this process on regaining it
            present.add(key)
            self._guarded(key, self._observe, obj, pods.get(key, ()))
        with self.db.read() as conn:
            rows = status_rows.watched(conn, self.settings.namespaces)
        for row in rows:
            key = (row.namespace, row.name)
            if key not in present:
                self._guarded(key, self._gone_unseen, row)

    def _guarded(self, key: Key, handler: Any, *args: Any) -> None:
        try:
            handler(*args)
        except Exception as exc:
            log.warning("deploy status watcher: %s/%s: %s: %s", *key, type(exc).__name__, exc)
            self._retry.add(key)

    # --- what one InferenceService means -------------------------------------------------------------------------

    def _ours(self, obj: Mapping[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        mine = (None, self.settings.registry_name)
        return labels.get(REGISTRY_NAME_LABEL) in mine and labels.get(keys.REGISTRY) in mine

    def _observe(self, obj: Json, pods: Iterable[Json]) -> None:
        """Record the status of a live InferenceService, adopting it when no deployment has it yet."""
        if not self._ours(obj) or (obj.get("metadata") or {}).get("deletionTimestamp"):
            return  # being deleted: the DELETED event follows
        status = status_of(obj, pods)
        with self.db.read() as conn:
            row = status_rows.active(conn, obj)
        if row is None or status_rows.changes_of(row, obj, status):
            try:
                row = self.db.run_write(status_rows.record_status, obj, status)
            except IntegrityError:  # a deploy claimed the name between our read and our insert
                row = self.db.run_write(status_rows.record_status, obj, status)
        if row is not None:
            self._link_records(obj, row)

    def _link_records(self, obj: Json, row: Deployment) -> None:
        """The registry's InferenceService record, its id on the row and as a label on the InferenceService."""
        key = (row.namespace, row.name)
        status = obj.get("status") or {}
        url = status.get("url") or (status.get("address") or {}).get("url") or None
        linked = (obj["metadata"].get("uid"), url, row.inference_service_id)
        record_id = row.inference_service_id
        if self._linked.get(key) != linked:
            try:
                record_id = records.ensure(self.registry, obj, url)
            except NotFound as exc:  # e.g. the registered model was deleted here: nothing to link, no retry
                log.info("deploy status watcher: %s/%s has no registry record: %s", *key, exc)
                self._linked[key] = linked
                return
            if row.inference_service_id != record_id:
                self.db.run_write(lambda conn: store.set_fields(conn, row.id, inference_service_id=record_id))
            self._linked[key] = (linked[0], url, record_id)
        if record_id is not None and label_id(obj, INFERENCE_SERVICE_LABEL) != record_id:
            self._write_label(key, record_id)

    def _write_label(self, key: Key, record_id: int) -> None:
        """The registry record's id as the InferenceService's label; refused, tried again later (see the module)."""
        backoff = self._label_backoff.get(key)
        if backoff is not None and not backoff.ready:
            return
        try:
            patch = {"metadata": {"labels": {INFERENCE_SERVICE_LABEL: str(record_id)}}}
            self.kube.patch(kinds.INFERENCE_SERVICE, key[1], key[0], patch)
        except KubeNotFound:  # deleted meanwhile: its DELETED event follows
            self._label_backoff.pop(key, None)
            return
        except KubeError as exc:
            delay = self.label_retry_first if backoff is None else min(backoff.delay * 2, self.label_retry_max)
            self._label_backoff[key] = _Backoff(delay, time.monotonic() + delay)
            log.log(
                logging.WARNING if backoff is None else logging.DEBUG,
                "deploy status watcher: cannot label InferenceService %s/%s with its registry record %s (next try in "
                "%.0f s): %s",
                *key,
                record_id,
                delay,
                exc,
            )
            return
        self._label_backoff.pop(key, None)

    def _deleted(self, obj: Json) -> None:
        if not self._ours(obj):
            return
        row = self.db.run_write(status_rows.record_deletion, obj)
        record_id = (row.inference_service_id if row is not None else None) or label_id(obj, INFERENCE_SERVICE_LABEL)
        if record_id is not None:
            records.mark_undeployed(self.registry, record_id)
        key = _key(obj)
        if key is not None:
            self._linked.pop(key, None)
            self._label_backoff.pop(key, None)

    def _gone_unseen(self, row: Deployment) -> None:
        """A deployment whose InferenceService is not in the cache: deleted while nobody watched, unless the API
        still has it (a deploy that finished a moment ago, whose event the cache has not had yet)."""
        live = self.kube.get(kinds.INFERENCE_SERVICE, row.name, row.namespace)
        if live is not None and (live.get("metadata") or {}).get("uid") == row.isvc_uid:
            return
        self._deleted({"metadata": {"namespace": row.namespace, "name": row.name, "uid": row.isvc_uid}})

    # --- reads -------------------------------------------------------------------------------------------------

    def _cached(self) -> Iterator[tuple[Key, Json]]:
        """Every InferenceService the two informers hold, once each (the newer copy)."""
        seen: set[Key] = set()
        for informer in (self.isvcs, self.deployed):
            for obj in informer.objects():
                key = _key(obj)
                if key is not None and key not in seen:
                    seen.add(key)
                    newest = self.inference_service(*key)
                    if newest is not None:
                        yield key, newest

    def _pods_by_isvc(self) -> dict[Key, list[Json]]:
        grouped: dict[Key, list[Json]] = {}
        for pod in self.pods.objects():
            metadata = pod.get("metadata") or {}
            owner = (metadata.get("labels") or {}).get(ISVC_POD_LABEL)
            if owner:
                grouped.setdefault((str(metadata.get("namespace")), owner), []).append(pod)
        return grouped


def _newest(*copies: Json | None) -> Json | None:
    """The copy with the highest resourceVersion (the first of equals), None when there is none."""
    return max((c for c in copies if c is not None), key=version_number, default=None)


def _key(obj: Mapping[str, Any]) -> Key | None:
    metadata = obj.get("metadata") or {}
    namespace, name = metadata.get("namespace"), metadata.get("name")
    return (namespace, name) if isinstance(namespace, str) and isinstance(name, str) else None
