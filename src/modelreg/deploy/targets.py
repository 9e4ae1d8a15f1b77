"""What a deployment is made with: hardware profiles, serving-runtime templates and data connections.

With a cluster, profiles (`infrastructure.opendatahub.io/v1` HardwareProfiles in ``deploy.platform_namespace``,
those visible to model serving and not disabled) and runtime templates (OpenShift Templates wrapping a
ServingRuntime, in the same namespace) are read from it, and a namespace's connection Secrets (label
``opendatahub.io/dashboard``) are offered beside modelreg's own data connections. Without one, modelreg keeps its
own profiles and runtimes (table ``deploy_targets``, admins manage them), and offers its data connections.
The shapes (`target_shapes`) keep the Kubernetes object they stand for (``body``), so both origins build the same
objects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from modelreg.auth import context
from modelreg.auth.principal import Permission
from modelreg.blobs.base import StoreConfig
from modelreg.db.database import Database
from modelreg.deploy import defaults, keys, objects, profile_spec, runtime_spec
from modelreg.deploy.cluster_reads import ClusterReads
from modelreg.deploy.connection_targets import (
    ConnectionTarget,
    ConnectionType,
    Origin,
    aws_endpoint,
    cluster_connection,
    dockerconfigjson,
    match_connections,
    oci_host,
    own_connection,
    secret_name_for,
)
from modelreg.deploy.target_rows import TargetRows
from modelreg.deploy.target_shapes import (
    HardwareProfile,
    ModelFormat,
    ResourceIdentifier,
    ResourceType,
    RuntimeTemplate,
    suggest_runtime,
)
from modelreg.errors import Conflict, InvalidInput, NotFound
from modelreg.kube.client import Json, Kube
from modelreg.kube.kinds import HARDWARE_PROFILE, SECRET, SERVING_RUNTIME, TEMPLATE
from modelreg.services.connections import ConnectionService
from modelreg.settings import DeploySettings

__all__ = [
    "ConnectionTarget",
    "HardwareProfile",
    "ModelFormat",
    "Origin",
    "ResourceIdentifier",
    "ResourceType",
    "RuntimeTemplate",
    "TargetService",
    "match_connections",
    "secret_name_for",
    "suggest_runtime",
]

PROFILE_KIND = "hardware_profile"  # deploy_targets.kind and the audit entity kind
RUNTIME_KIND = "serving_runtime"
DASHBOARD_LABEL = keys.DASHBOARD
NOT_DECRYPTED = "<not decrypted>"  # a credential's value in a connection Secret built only to be shown
_LIST_NAMES = 10  # a NotFound lists the known names when there are at most this many


def _not_found(what: str, name: str, known: Sequence[str]) -> NotFound:
    if not known:
        return NotFound(f"no {what} named {name[:100]!r}: there are none")
    if len(known) <= _LIST_NAMES:
        return NotFound(f"no {what} named {name[:100]!r} (known: {', '.join(known)})")
    return NotFound(f"no {what} named {name[:100]!r}")


class TargetService:
    """Profiles, runtimes and connections for the deploy wizard, the REST API and the CLI.

    Reads need ``read``; writes (modelreg's own profiles and runtimes, without a cluster) need ``manage`` and are
    audited (entity kinds ``hardware_profile`` and ``serving_runtime``). With a cluster, writes are refused: the
    cluster's definitions are the ones deployments use."""

    def __init__(
        self,
        db: Database,
        connections: ConnectionService,
        kube: Kube | None,
        settings: DeploySettings,
        *,
        cache_seconds: float = 5.0,
    ) -> None:
        self.db = db
        self.connection_service = connections
        self.kube = kube
        self.settings = settings
        self.cluster = None if kube is None else ClusterReads(kube, cache_seconds)
        self._profiles = TargetRows(db, PROFILE_KIND, "hardware profile", self._profile_view)
        self._runtimes = TargetRows(db, RUNTIME_KIND, "serving runtime", self._runtime_view)

    @property
    def namespace(self) -> str:
        return self.settings.platform_namespace

    def _profile_view(self, body: dict[str, Any]) -> dict[str, Any]:
        return HardwareProfile.from_object(body, "modelreg", self.namespace).wire()

    @staticmethod
    def _runtime_view(body: dict[str, Any]) -> dict[str, Any]:
        runtime = RuntimeTemplate.from_template(body, "modelreg")
        return {} if runtime is None else {k: v for k, v in runtime.to_dict().items() if k != "origin"}

    def _refuse_in_cluster(self, what: str) -> None:
        if self.kube is not None:
            raise Conflict(
                f"{what} are managed in the cluster (namespace {self.namespace}) while modelreg is connected to "
                "one: change them there"
            )

    # --- hardware profiles -------------------------------------------------------------------------------------

    def profiles(self, include_disabled: bool = False) -> list[HardwareProfile]:
        """The profiles to deploy with, by name; disabled ones only when asked."""
        context.require(Permission.READ, "list hardware profiles")
        if self.cluster is not None:
            items = self.cluster.list(HARDWARE_PROFILE, self.namespace)
            found = [
                HardwareProfile.from_object(obj, "cluster") for obj in items if profile_spec.visible_for_serving(obj)
            ]
        else:
            found = [HardwareProfile.from_object(r.body, "modelreg", self.namespace) for r in self._profiles.all()]
        return sorted((p for p in found if include_disabled or p.enabled), key=lambda p: p.name)

    def profile(self, name: str, include_disabled: bool = False) -> HardwareProfile:
        profiles = self.profiles(include_disabled=include_disabled)
        found = next((p for p in profiles if p.name == name), None)
        if found is None:
            raise _not_found("hardware profile", name, [p.name for p in profiles])
        return found

    def create_profile(self, body: Mapping[str, Any]) -> HardwareProfile:
        """Create one of modelreg's own profiles from the wire shape (`profile_spec.validate_profile`)."""
        context.require(Permission.MANAGE, "manage hardware profiles")
        self._refuse_in_cluster("hardware profiles")
        wire = profile_spec.validate_profile(body)
        obj = profile_spec.profile_object(wire, self.namespace)
        row = self._profiles.create(wire["name"], wire["displayName"], wire["description"], obj)
        return HardwareProfile.from_object(row.body, "modelreg", self.namespace)

    def update_profile(self, name: str, body: Mapping[str, Any]) -> HardwareProfile:
        """Replace a profile (the body is the whole wire shape; its name, when given, must be ``name``)."""
        context.require(Permission.MANAGE, "manage hardware profiles")
        self._refuse_in_cluster("hardware profiles")
        if body.get("name") not in (None, name):
            raise InvalidInput(f"a hardware profile cannot be renamed ({name!r} → {str(body.get('name'))[:100]!r})")
        wire = profile_spec.validate_profile({**body, "name": name})
        obj = profile_spec.profile_object(wire, self.namespace)
        row = self._profiles.replace(name, wire["displayName"], wire["description"], obj)
        return HardwareProfile.from_object(row.body, "modelreg", self.namespace)

    def delete_profile(self, name: str) -> HardwareProfile:
        context.require(Permission.MANAGE, "manage hardware profiles")
        self._refuse_in_cluster("hardware profiles")
        if self._profiles.get(name) is None:
            raise _not_found("hardware profile", name, self._profiles.names())
        return HardwareProfile.from_object(self._profiles.delete(name).body, "modelreg", self.namespace)

    # --- serving runtimes --------------------------------------------------------------------------------------

    def runtimes(self) -> list[RuntimeTemplate]:
        """The serving-runtime templates, by name. From a cluster: its runtime Templates (label
        opendatahub.io/dashboard, single-model), or its ServingRuntimes when it serves no Templates (not
        OpenShift)."""
        context.require(Permission.READ, "list serving runtimes")
        found: list[RuntimeTemplate] = []
        if self.cluster is None:
            for row in self._runtimes.all():
                runtime = RuntimeTemplate.from_template(row.body, "modelreg")
                if runtime is not None:
                    found.append(runtime)
        elif self.cluster.served(TEMPLATE):
            for template in self.cluster.list(TEMPLATE, self.namespace):
                labels = (template.get("metadata") or {}).get("labels") or {}
                if str(labels.get(DASHBOARD_LABEL, "")).lower() != "true" or not runtime_spec.single_model(template):
                    continue
                runtime = RuntimeTemplate.from_template(template, "cluster")
                if runtime is not None:
                    found.append(runtime)
        else:
            for sr in self.cluster.list(SERVING_RUNTIME, self.namespace):
                if isinstance((sr.get("metadata") or {}).get("name"), str):
                    found.append(RuntimeTemplate.from_serving_runtime(sr, "cluster"))
        return sorted(found, key=lambda r: r.name)

    def runtime(self, name: str) -> RuntimeTemplate:
        """A runtime by its ServingRuntime name, or by its Template's name."""
        runtimes = self.runtimes()
        found = next((r for r in runtimes if r.name == name), None)
        found = found or next((r for r in runtimes if r.template_name == name), None)
        if found is None:
            raise _not_found("serving runtime", name, [r.name for r in runtimes])
        return found

    def create_runtime(self, body: Mapping[str, Any]) -> RuntimeTemplate:
        """Add a runtime: a ServingRuntime object, or a Template wrapping one (stored as a Template)."""
        context.require(Permission.MANAGE, "manage serving runtimes")
        self._refuse_in_cluster("serving runtimes")
        template = runtime_spec.normalize_runtime(body)
        runtime = self._runtime_of(template)
        taken = next((r for r in self.runtimes() if runtime.template_name in (r.name, r.template_name)), None)
        if taken is not None and taken.name != runtime.name:
            raise Conflict(f"the template name {runtime.template_name!r} is taken by serving runtime {taken.name!r}")
        row = self._runtimes.create(runtime.name, runtime.display_name, runtime.description, template)
        return self._runtime_of(row.body)

    def update_runtime(self, name: str, body: Mapping[str, Any]) -> RuntimeTemplate:
        """Replace a runtime; the ServingRuntime's name must stay ``name``."""
        context.require(Permission.MANAGE, "manage serving runtimes")
        self._refuse_in_cluster("serving runtimes")
        template = runtime_spec.normalize_runtime(body)
        runtime = self._runtime_of(template)
        if runtime.name != name:
            raise InvalidInput(f"a serving runtime cannot be renamed ({name!r} → {runtime.name!r})")
        row = self._runtimes.replace(name, runtime.display_name, runtime.description, template)
        return self._runtime_of(row.body)

    def delete_runtime(self, name: str) -> RuntimeTemplate:
        context.require(Permission.MANAGE, "manage serving runtimes")
        self._refuse_in_cluster("serving runtimes")
        if self._runtimes.get(name) is None:
            raise _not_found("serving runtime", name, self._runtimes.names())
        return self._runtime_of(self._runtimes.delete(name).body)

    @staticmethod
    def _runtime_of(template: Mapping[str, Any]) -> RuntimeTemplate:
        runtime = RuntimeTemplate.from_template(template, "modelreg")
        assert runtime is not None  # normalize_runtime checked objects[0]
        return runtime

    # --- data connections --------------------------------------------------------------------------------------

    def connections(self, namespace: str | None = None, *, fresh: bool = False) -> list[ConnectionTarget]:
        """modelreg's s3, uri and oci connections (a cluster cannot read the server's directories), each saying whether
        its Secret is already in ``namespace``, then the namespace's own connection Secrets modelreg does not
        know (no credentials). ``fresh``: read the cluster now, not from the few-seconds cache."""
        own = [c for c in self.connection_service.list() if c.type in ("s3", "uri", "oci")]
        present: dict[str, Json] = {}
        if self.cluster is not None and namespace:
            secrets = self.cluster.list(SECRET, namespace, {DASHBOARD_LABEL: "true"}, fresh=fresh)
            present = {str((s.get("metadata") or {}).get("name")): s for s in secrets}
        targets = [own_connection(c, present) for c in own]
        known = {secret_name_for(c.name) for c in own}
        others = (cluster_connection(s) for name, s in sorted(present.items()) if name not in known)
        return targets + [c for c in others if c is not None]

    def connection(self, name: str, namespace: str | None = None, *, fresh: bool = False) -> ConnectionTarget:
        choices = self.connections(namespace, fresh=fresh)
        found = next((c for c in choices if c.name == name), None)
        found = found or next((c for c in choices if c.secret_name == name), None)
        if found is None:
            where = f" (modelreg's, or in namespace {namespace})" if namespace and self.kube is not None else ""
            raise _not_found(f"data connection{where}", name, [c.name for c in choices])
        return found

    def connection_secret(self, name: str, *, credentials: bool = True) -> dict[str, Any]:
        """The Secret the dashboard would create for one of modelreg's connections. With ``credentials`` they are
        decrypted, for a deploy to apply the Secret (never returned by an API, redacted in every output). Without,
        nothing is decrypted and the credential keys hold a placeholder: enough to show or write the objects (dry
        run, GitOps, a deployment's page), and allowed to anyone who may read connections."""
        if credentials:
            context.require(Permission.DEPLOY, "deploy with a data connection")
        conn = self.connection_service.get(name)
        if conn.type not in ("s3", "uri", "oci"):
            raise InvalidInput(
                f"data connection {name!r} is of type {conn.type!r}: a cluster cannot read the server's directories "
                "(use an s3, uri or oci connection)"
            )
        values: dict[str, str] = {}
        type_: ConnectionType
        if conn.type == "s3":
            type_ = "s3"
            if credentials:
                config = self.connection_service.resolve(conn.name)
                access_key, secret_key = config.access_key_id, config.secret_access_key
            else:
                access_key = secret_key = NOT_DECRYPTED if conn.access_key_id and conn.has_secret else None
            if access_key and secret_key:
                values["AWS_ACCESS_KEY_ID"] = access_key
                values["AWS_SECRET_ACCESS_KEY"] = secret_key
            values["AWS_S3_ENDPOINT"] = conn.endpoint or aws_endpoint(conn.region)
            if conn.region:
                values["AWS_DEFAULT_REGION"] = conn.region
            values["AWS_S3_BUCKET"] = conn.bucket or ""
        elif conn.type == "oci":
            type_ = "oci"
            if credentials:
                values[".dockerconfigjson"] = dockerconfigjson(self.connection_service.resolve(conn.name))
            else:
                shown = StoreConfig(type="oci", registry=conn.registry)  # anonymous: nothing to hide
                values[".dockerconfigjson"] = NOT_DECRYPTED if conn.has_secret else dockerconfigjson(shown)
            values["OCI_HOST"] = oci_host(conn)
        else:
            type_ = "uri"
            values["URI"] = conn.base_url or ""
        return objects.connection_secret(
            secret_name_for(conn.name), conn.display_name or conn.name, type_, values, description=conn.description
        )

    # --- the seed set ------------------------------------------------------------------------------------------

    def seed_defaults(self) -> list[str]:
        """Create the platform's usual profiles and runtimes (`defaults`) that are missing; what was done, one line
        each. With a cluster nothing is created: the cluster's own are used."""
        context.require(Permission.MANAGE, "manage hardware profiles and serving runtimes")
        if self.kube is not None:
            return [f"hardware profiles and serving runtimes: the cluster's own ({self.kube.describe()}), none created"]
        done = []
        profiles = set(self._profiles.names())
        for body in defaults.PROFILES:
            if body["name"] not in profiles and _created(self.create_profile, body):
                done.append(f"hardware profile {body['name']} created")
        runtimes = set(self._runtimes.names())
        for template in defaults.RUNTIMES:
            name = self._runtime_of(template).name
            if name not in runtimes and _created(self.create_runtime, template):
                done.append(f"serving runtime {name} created")
        return done


def _created(create: Callable[[Mapping[str, Any]], object], body: Mapping[str, Any]) -> bool:
    """Whether ``create`` made it: a concurrent seed that got there first is no error."""
    try:
        create(body)
    except Conflict:
        return False
    return True
