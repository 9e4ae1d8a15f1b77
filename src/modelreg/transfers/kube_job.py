"""The ``kubernetes`` runner: a transfer job as a Kubernetes Job running modelreg's own image
(``modelreg transfer execute --job <id>``, transfers/executor.py), which copies and reports back over REST, so the
server registers the result exactly as for its own worker.

Objects, in the job's namespace and in this order (the upstream "Register and store" objects, same labels and
annotations, so a dashboard that lists async-upload Jobs sees ours):
1. ConfigMap ``<job>-metadata-…``: the registration metadata and the two connections' settings without secrets
   (JSON), mounted at ``/etc/model-metadata``;
2. Secret ``<job>-source-creds-…`` (Opaque; only when the source connection has credentials), at
   ``/opt/creds/source``;
3. Secret ``<job>-dest-creds-…``: ``kubernetes.io/dockerconfigjson`` for an OCI destination, Opaque for S3, at
   ``/opt/creds/destination``;
4. Secret ``<job>-token-…``: an API token of the principal ``system:transfer-<job>`` (role developer, expiring with
   the Job's deadline), the executor's ``MODELREG_TOKEN``; revoked when the job ends (`KubernetesRunner.cleanup`);
5. the Job: backoffLimit 3 for crashes, but an executor that reported a failure exits `REPORTED_FAILURE`, which a
   pod failure policy turns into the Job's failure at once (a retry would fail the same way).
Once the Job exists the ConfigMap and Secrets get an ownerReference to it, so they go with it; a create that fails
deletes what was created before it and revokes the token. Every object is checked against its schema first.

Secrets never reach a log or an annotation: they are read from the connection (decrypted) into the Secrets only.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from modelreg.blobs.base import StoreConfig
from modelreg.errors import NotFound
from modelreg.kube import errors as kube_errors
from modelreg.kube.client import Json, Kube
from modelreg.kube.kinds import CONFIG_MAP, JOB, POD, SECRET
from modelreg.kube.schemas import SchemaError, Validator
from modelreg.services.access import AccessService
from modelreg.services.connections import ConnectionService
from modelreg.services.transfers import RUNNER_USER_PREFIX, TERMINAL, TransferJob, TransferService
from modelreg.settings import Settings

log = logging.getLogger("modelreg.transfers")

PREFIX = "modelregistry.kubeflow.org/"
JOB_TYPE = "async-upload"
METADATA_DIR = "/etc/model-metadata"
SOURCE_CREDS_DIR = "/opt/creds/source"
DEST_CREDS_DIR = "/opt/creds/destination"
REPORTED_FAILURE = 3  # the executor's exit code after it reported a failure to the server: no retry
BACKOFF_LIMIT = 3
# a container waiting for one of these never starts by itself: the job has failed (the dashboard's list)
STUCK_REASONS = frozenset(
    {"ImagePullBackOff", "ErrImagePull", "CrashLoopBackOff", "CreateContainerConfigError", "InvalidImageName"}
)
SECRET_FIELDS = ("access_key_id", "secret_access_key", "dockerconfig")


class KubeJobError(Exception):
    """The Job and its objects could not be created; nothing of them is left. The message names the object and
    the API's reason, never a secret."""


@dataclass(frozen=True)
class Polled:
    """What the cluster says of a job: PENDING | RUNNING | COMPLETED | FAILED | GONE (no Job any more)."""

    state: str
    error: str | None = None
    cause: str | None = None
    ids: dict[str, str] = field(default_factory=dict)  # RegisteredModel / ModelVersion / ModelArtifact → id


def token_user(job: TransferJob) -> str:
    """The principal a job's executor reports as."""
    return f"{RUNNER_USER_PREFIX}{job.name}"


def public_config(config: StoreConfig) -> dict[str, Any]:
    """A connection's settings without its credentials (those go into a Secret)."""
    return {k: v for k, v in dataclasses.asdict(config).items() if k not in SECRET_FIELDS}


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _secret_data(values: Mapping[str, str | None]) -> dict[str, str]:
    return {k: _b64(v) for k, v in values.items() if v}


def dockerconfigjson(config: StoreConfig) -> str:
    """The ``.dockerconfigjson`` of an OCI connection: its own, or one built from its username and password (an
    empty ``auths`` for an anonymous registry)."""
    if config.dockerconfig:
        return config.dockerconfig
    auths: dict[str, Any] = {}
    if config.registry and config.access_key_id and config.secret_access_key:
        auth = _b64(f"{config.access_key_id}:{config.secret_access_key}")
        auths[config.registry] = {"auth": auth}
    return json.dumps({"auths": auths})


def credentials(config: StoreConfig) -> dict[str, str]:
    """The Opaque Secret data of a connection's credentials (file name → value); {} when it has none."""
    if config.type == "oci":
        return {
            "USERNAME": config.access_key_id or "",
            "PASSWORD": config.secret_access_key or "",
            ".dockerconfigjson": config.dockerconfig or "",
        }
    return {"AWS_ACCESS_KEY_ID": config.access_key_id or "", "AWS_SECRET_ACCESS_KEY": config.secret_access_key or ""}


@dataclass(frozen=True)
class JobObjects:
    """The objects of one job before they are sent (names of the generated ones are known after create)."""

    configmap: Json
    source_secret: Json | None
    dest_secret: Json
    token_secret: Json

    def named(self) -> list[tuple[str, Json]]:
        """(key of the name in `KubernetesRunner.build_job`, object), in the order they are created."""
        objs = (
            ("configmap", self.configmap),
            ("source_secret", self.source_secret),
            ("dest_secret", self.dest_secret),
            ("token_secret", self.token_secret),
        )
        return [(key, obj) for key, obj in objs if obj is not None]


class KubernetesRunner:
    """Starts, follows, cancels and cleans up transfer jobs as Kubernetes Jobs. Thread-safe (no state of its own
    beyond the clients). The server's worker calls `tick` once per loop while it holds the transfers lease."""

    def __init__(
        self,
        kube: Kube,
        transfers: TransferService,
        connections: ConnectionService,
        access: AccessService,
        settings: Settings,
        validator: Validator | None = None,
    ) -> None:
        self.kube = kube
        self.transfers = transfers
        self.connections = connections
        self.access = access
        self.settings = settings
        self.validator = validator or Validator()

    @property
    def registry_name(self) -> str:
        return self.settings.deploy.registry_name

    def namespace_of(self, job: TransferJob) -> str:
        namespace = job.namespace or self.transfers.default_namespace or self.kube.default_namespace
        if not namespace:
            raise KubeJobError("the job has no namespace and the cluster connection names none")
        return namespace

    # --- objects -------------------------------------------------------------------------------------------------

    def labels(self, job: TransferJob) -> dict[str, str]:
        return {
            f"{PREFIX}job-type": JOB_TYPE,
            f"{PREFIX}job-id": job.id,
            f"{PREFIX}model-registry-name": self.registry_name,
        }

    def build(self, job: TransferJob, token: str) -> JobObjects:
        """The ConfigMap and Secrets of a job (``generateName``; the Job is `build_job`, once their names are
        known). ``token`` is the executor's API token."""
        namespace = self.namespace_of(job)
        source = self.connections.resolve(job.source.connection)
        dest = self.connections.resolve(job.destination.connection)
        labels = self.labels(job)

        def meta(suffix: str) -> Json:
            return {"generateName": f"{job.name}-{suffix}-", "namespace": namespace, "labels": labels}

        payload = {
            "job.json": json.dumps({"id": job.id, "name": job.name, "intent": job.intent}),
            "metadata.json": json.dumps(dataclasses.asdict(job.metadata)),
            "source.json": json.dumps({**job.source.to_dict(), "store": public_config(source)}),
            "destination.json": json.dumps({**job.destination.to_dict(), "store": public_config(dest)}),
        }
        configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("metadata"), "data": payload}
        source_data = _secret_data(credentials(source))
        source_secret = (
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": meta("source-creds"),
                "type": "Opaque",
                "data": source_data,
            }
            if source_data
            else None
        )
        if dest.type == "oci":
            dest_secret = {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": meta("dest-creds"),
                "type": "kubernetes.io/dockerconfigjson",
                "data": {".dockerconfigjson": _b64(dockerconfigjson(dest))},
            }
        else:
            dest_secret = {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": meta("dest-creds"),
                "type": "Opaque",
                "data": _secret_data(credentials(dest)),
            }
        token_secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": meta("token"),
            "type": "Opaque",
            "data": {"token": _b64(token)},
        }
        return JobObjects(configmap, source_secret, dest_secret, token_secret)

    def annotations(self, job: TransferJob, names: Mapping[str, str]) -> dict[str, str]:
        """The reference's annotations (display name, source, destination, intent, names, the objects' names)."""
        md, src, dst = job.metadata, job.source, job.destination
        dest_uri = None
        if dst.type == "oci" and dst.repository:
            registry = self.connections.resolve(dst.connection).registry or ""
            dest_uri = f"{registry}/{dst.repository}" + (f":{dst.tag}" if dst.tag else "")
        values = {
            "display-name": job.display_name or job.name,
            "source-type": src.type,
            "source-connection": src.connection,
            "source-key": src.key,
            "source-uri": src.url or src.image,
            "dest-type": dst.type,
            "dest-connection": dst.connection,
            "dest-uri": dest_uri,
            "dest-key": dst.key,
            "upload-intent": job.intent,
            "model-name": md.model_name,
            "version-name": md.version_name,
            "artifact-name": md.artifact_name,
            "description": md.version_description,
            "author": md.version_author or job.created_by,
            "configmap-name": names.get("configmap"),
            "source-secret": names.get("source_secret"),
            "dest-secret": names.get("dest_secret"),
            "registered-model-id": _str(md.model_id or job.registered_model_id),
            "model-version-id": _str(job.model_version_id),
            "model-artifact-id": _str(md.artifact_id or job.model_artifact_id),
            "model-registry-name": self.registry_name,
        }
        return {f"{PREFIX}{k}": str(v) for k, v in values.items() if v}

    def build_job(self, job: TransferJob, names: Mapping[str, str]) -> Json:
        """The Job, given the names of its ConfigMap and Secrets (``configmap``, ``source_secret``?,
        ``dest_secret``, ``token_secret``)."""
        storage = self.settings.storage
        url = storage.transfer_server_url
        if not url:
            raise KubeJobError("storage.transfer_server_url is not set: a transfer Job could not reach the server")
        volumes: list[Json] = [
            {"name": "metadata", "configMap": {"name": names["configmap"]}},
            {"name": "dest-creds", "secret": {"secretName": names["dest_secret"]}},
            {"name": "scratch", "emptyDir": {}},
        ]
        mounts: list[Json] = [
            {"name": "metadata", "mountPath": METADATA_DIR, "readOnly": True},
            {"name": "dest-creds", "mountPath": DEST_CREDS_DIR, "readOnly": True},
            {"name": "scratch", "mountPath": "/tmp"},
        ]
        if names.get("source_secret"):
            volumes.append({"name": "source-creds", "secret": {"secretName": names["source_secret"]}})
            mounts.append({"name": "source-creds", "mountPath": SOURCE_CREDS_DIR, "readOnly": True})
        container = {
            "name": "transfer",
            "image": storage.transfer_job_image,
            "command": ["modelreg", "transfer", "execute", "--job", job.id],
            "env": [
                {"name": "MODELREG_URL", "value": url},
                {
                    "name": "MODELREG_TOKEN",
                    "valueFrom": {"secretKeyRef": {"name": names["token_secret"], "key": "token"}},
                },
                {"name": "HOME", "value": "/tmp"},
            ],
            "volumeMounts": mounts,
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "FallbackToLogsOnError",
            "securityContext": {
                "runAsNonRoot": True,
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
                "seccompProfile": {"type": "RuntimeDefault"},
            },
        }
        labels = self.labels(job)
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": job.name,
                "namespace": self.namespace_of(job),
                "labels": labels,
                "annotations": self.annotations(job, names),
            },
            "spec": {
                "backoffLimit": BACKOFF_LIMIT,
                "activeDeadlineSeconds": storage.transfer_job_timeout_seconds,
                "podFailurePolicy": {
                    "rules": [
                        {
                            "action": "FailJob",
                            "onExitCodes": {
                                "containerName": "transfer",
                                "operator": "In",
                                "values": [REPORTED_FAILURE],
                            },
                        }
                    ]
                },
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "restartPolicy": "Never",
                        "automountServiceAccountToken": False,
                        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                        "containers": [container],
                        "volumes": volumes,
                    },
                },
            },
        }

    def validate(self, obj: Json) -> None:
        try:
            self.validator.validate(obj)
        except SchemaError as exc:
            raise KubeJobError(f"the {obj.get('kind')} built for this job does not match its schema: {exc}") from None

    # --- submit, poll, delete ----------------------------------------------------------------------------------

    def submit(self, job: TransferJob) -> Json:
        """Create the job's objects and its Job; returns the Job as stored. `KubeJobError` (nothing left behind,
        the token revoked) when any create fails."""
        expires = timedelta(seconds=self.settings.storage.transfer_job_timeout_seconds + 3600)
        token, info = self.access.create_token(
            token_user(job), expires_in=expires, description=f"transfer job {job.name}"
        )
        self.access.ensure_binding("user", token_user(job), "developer")
        created: list[Json] = []
        try:
            objects = self.build(job, token)
            for _, obj in objects.named():
                self.validate(obj)
            self.validate(self.build_job(job, {key: f"{key.replace('_', '-')}-x" for key, _ in objects.named()}))
            names: dict[str, str] = {}
            for key, obj in objects.named():
                with _kube_call(f"create the {obj['kind']} of {job.name}"):
                    stored = self.kube.create(obj)
                created.append(stored)
                names[key] = stored["metadata"]["name"]
            spec = self.build_job(job, names)
            with _kube_call(f"create the Job {job.name}"):
                stored_job = self.kube.create(spec)
            created.append(stored_job)
            owner = {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "name": stored_job["metadata"]["name"],
                "uid": stored_job["metadata"]["uid"],
                "blockOwnerDeletion": True,
            }
            for obj in created[:-1]:
                with _kube_call(f"set the owner of the {obj['kind']} {obj['metadata']['name']}"):
                    self.kube.patch(
                        SECRET if obj["kind"] == "Secret" else CONFIG_MAP,
                        obj["metadata"]["name"],
                        obj["metadata"]["namespace"],
                        {"metadata": {"ownerReferences": [owner]}},
                    )
        except BaseException:
            self._undo(created)
            self.access.revoke_token(info.id)
            raise
        log.info("transfer job %s: Job %s/%s created", job.name, stored_job["metadata"]["namespace"], job.name)
        return stored_job

    def _undo(self, created: list[Json]) -> None:
        for obj in reversed(created):
            kind = {"Job": JOB, "Secret": SECRET}.get(obj["kind"], CONFIG_MAP)
            try:
                self.kube.delete(kind, obj["metadata"]["name"], obj["metadata"]["namespace"])
            except kube_errors.KubeError as exc:
                log.warning("cannot delete %s %s after a failed start: %s", obj["kind"], obj["metadata"]["name"], exc)

    def poll(self, job: TransferJob) -> Polled:
        """The Job's state: Complete → COMPLETED; Failed (its condition's message), or a container stuck in
        ImagePullBackOff and the like → FAILED; running pods → RUNNING; none yet → PENDING; no Job → GONE. The
        termination message of a finished pod fills ``ids``."""
        namespace = self.namespace_of(job)
        with _kube_call(f"read the Job {job.name}"):
            found = self.kube.get(JOB, job.name, namespace)
            pods = self.kube.list(POD, namespace, {f"{PREFIX}job-id": job.id})[0] if found is not None else []
        if found is None:
            return Polled("GONE", "the Kubernetes Job is gone", f"no Job {namespace}/{job.name}")
        ids = _termination_ids(pods)
        status = found.get("status") or {}
        conditions = {c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"}
        if "Complete" in conditions or int(status.get("succeeded") or 0) > 0:
            return Polled("COMPLETED", ids=ids)
        failed = conditions.get("Failed")
        if failed is not None:
            cause = failed.get("message") or failed.get("reason") or "the Job failed"
            return Polled("FAILED", "the Kubernetes Job failed", _pod_reason(pods) or cause, ids)
        stuck = _stuck(pods)
        if stuck is not None:
            return Polled("FAILED", "the Kubernetes Job's pod cannot run", stuck, ids)
        if int(status.get("active") or 0) > 0 or status.get("ready"):
            return Polled("RUNNING", ids=ids)
        return Polled("PENDING", ids=ids)

    def delete(self, job: TransferJob) -> bool:
        """Delete the Job (background propagation: its pods, ConfigMap and Secrets go with it); False when it was
        not there. The token is revoked too."""
        namespace = self.namespace_of(job)
        with _kube_call(f"delete the Job {job.name}"):
            gone = self.kube.delete(JOB, job.name, namespace)
        self.cleanup(job)
        return gone

    def cleanup(self, job: TransferJob) -> None:
        """The job has ended: revoke its executor's token and drop its role binding."""
        user = token_user(job)
        for info in self.access.list_tokens(user=user):
            self.access.revoke_token(info.id)
        for binding in self.access.list_bindings(subject=user):
            self.access.delete_binding(binding.id)

    # --- the worker's loop -----------------------------------------------------------------------------------

    def tick(self) -> None:
        """One round: start every PENDING kubernetes job not started yet (a failure to start fails it, with the
        cause), follow the started ones (a failed or vanished Job fails the job; a cancel request deletes it), and
        revoke the tokens of jobs that have ended (deleting the Job of a cancelled one). A job counts as started
        while its executor's token is live. Call it acting as a system principal, holding the transfers lease."""
        started = {info.user for info in self.access.list_tokens() if info.user.startswith(RUNNER_USER_PREFIX)}
        for state in ("PENDING", "RUNNING"):
            for job in self.transfers.list(state=state, limit=1000):
                if job.runner != "kubernetes":
                    continue
                if token_user(job) not in started:
                    if state == "PENDING":
                        self._start(job)
                    continue
                self._follow(job)
        self._end_finished()

    def _start(self, job: TransferJob) -> None:
        try:
            self.submit(job)
        except KubeJobError as exc:
            log.warning("transfer job %s: %s", job.name, exc)
            self.transfers.fail(job.id, "starting the Kubernetes Job failed", str(exc))

    def _follow(self, job: TransferJob) -> None:
        try:
            if job.cancel_requested:
                self.delete(job)  # the executor gets SIGTERM: it stops and removes what it wrote
                self.transfers.finish_cancelled(job.id)
                return
            polled = self.poll(job)
        except KubeJobError as exc:
            log.warning("transfer job %s: cannot follow its Kubernetes Job: %s", job.name, exc)
            return
        if polled.state in ("FAILED", "GONE"):
            self.transfers.fail(job.id, polled.error or "the Kubernetes Job failed", polled.cause)
        elif polled.state == "COMPLETED" and self.transfers.get(job.id).state not in TERMINAL:
            # the executor reports before it exits: a Job that succeeded without a report did not do the job
            self.transfers.fail(job.id, "the Kubernetes Job ended without reporting a result", None)

    def _end_finished(self) -> None:
        """Revoke the token of every job that has ended (and delete a cancelled job's Job: it may still run)."""
        ended: set[str] = set()
        for info in self.access.list_tokens():
            if not info.user.startswith(RUNNER_USER_PREFIX) or info.user in ended:
                continue
            try:
                job: TransferJob | None = self.transfers.get(info.user.removeprefix(RUNNER_USER_PREFIX))
            except NotFound:
                job = None
            if job is not None and job.state not in TERMINAL:
                continue
            ended.add(info.user)
            if job is not None and job.state == "CANCELLED":
                try:
                    self.delete(job)
                    continue
                except KubeJobError as exc:
                    log.warning("transfer job %s: cannot delete its Kubernetes Job: %s", job.name, exc)
            self.access.revoke_token(info.id)
            for binding in self.access.list_bindings(subject=info.user):
                self.access.delete_binding(binding.id)


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def _container_statuses(pods: list[Json]) -> Iterator[Json]:
    for pod in pods:
        status = pod.get("status") or {}
        yield from status.get("initContainerStatuses") or []
        yield from status.get("containerStatuses") or []


def _stuck(pods: list[Json]) -> str | None:
    for container in _container_statuses(pods):
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in STUCK_REASONS:
            message = waiting.get("message") or ""
            return f"{waiting['reason']}: {message}" if message else str(waiting["reason"])
    return None


def _pod_reason(pods: list[Json]) -> str | None:
    """The last failed container's termination message (the executor writes its error there)."""
    for container in _container_statuses(pods):
        terminated = (container.get("state") or {}).get("terminated") or {}
        if terminated.get("exitCode") and terminated.get("message"):
            text = str(terminated["message"]).strip()
            try:
                parsed = json.loads(text)
            except ValueError:
                return text[-2000:]
            if isinstance(parsed, dict) and parsed.get("error"):
                return str(parsed.get("cause") or parsed["error"])[-2000:]
    return None


def _termination_ids(pods: list[Json]) -> dict[str, str]:
    for container in _container_statuses(pods):
        terminated = (container.get("state") or {}).get("terminated") or {}
        try:
            message = json.loads(terminated.get("message") or "")
        except ValueError:
            continue
        if isinstance(message, dict):
            ids = {
                k: str(v["id"])
                for k, v in message.items()
                if k in ("RegisteredModel", "ModelVersion", "ModelArtifact") and isinstance(v, dict) and v.get("id")
            }
            if ids:
                return ids
    return {}


@contextmanager
def _kube_call(what: str) -> Iterator[None]:
    """Kubernetes errors as `KubeJobError` naming what was being done (the API's message names the object)."""
    try:
        yield
    except kube_errors.ClusterUnreachable as exc:
        raise KubeJobError(f"cannot {what}: the Kubernetes API is unreachable: {exc}") from None
    except kube_errors.Forbidden as exc:
        raise KubeJobError(f"modelreg's Kubernetes service account may not {what}: {exc}") from None
    except kube_errors.KubeError as exc:
        raise KubeJobError(f"cannot {what}: {exc}") from None
