"""A `DeployRequest` → a `DeployPlan`: the model (a registry version's first model artifact, or a catalog model),
the hardware profile and the resources within its bounds, the data connection, the serving runtime, the names and
the storage reference, then the deploy policy. Reads only (the database, and the cluster when there is one)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from sqlalchemy import Connection, select

from modelreg.blobs.oci import InvalidImageRef, parse_image_ref
from modelreg.blobs.uris import InvalidUri, parse_uri
from modelreg.db.database import Database
from modelreg.db.tables import artifact_attributions, artifacts
from modelreg.deploy import names
from modelreg.deploy.cluster_errors import cluster_call
from modelreg.deploy.objects import DeployPlan, StorageRef
from modelreg.deploy.policy import DeployPolicy, Subject
from modelreg.deploy.quantity import InvalidQuantity, parse_quantity
from modelreg.deploy.requests import CatalogLookup, DeployRequest
from modelreg.deploy.targets import (
    ConnectionTarget,
    HardwareProfile,
    RuntimeTemplate,
    TargetService,
    match_connections,
    suggest_runtime,
)
from modelreg.errors import Conflict, InvalidInput, NotFound
from modelreg.kube.client import Kube
from modelreg.kube.kinds import NAMESPACE
from modelreg.services import entities as e
from modelreg.services import uploads
from modelreg.services.lifecycle import stage_of
from modelreg.settings import DeploySettings

DEFAULT_FORMAT = "vLLM"  # the dashboard's default model format for an InferenceService
TOKEN_NAME = "default-name"  # the dashboard's one token when token auth is on


@dataclass(frozen=True, slots=True)
class Model:
    """The model to deploy, as far as the plan and the policy need it."""

    registered_model_id: int | None
    version_id: int | None
    model_name: str
    version_name: str | None
    uri: str | None
    format_name: str | None
    format_version: str | None
    storage_key: str | None
    stage: str | None  # None: a catalog model
    digest_problem: str | None  # None: verified digests (see deploy/policy.py)

    @property
    def described(self) -> str:
        if self.version_id is None:
            return f"catalog model {self.model_name!r}"
        return f"version {self.version_name!r} of {self.model_name!r}"


@dataclass(frozen=True, slots=True)
class PlanInfo:
    """What the plan was made from, beside the plan itself."""

    request: DeployRequest  # resolved: connection, runtime, name, display name and model type filled in
    model: Model
    connection: ConnectionTarget
    namespace_exists: bool | None  # None: unknown (no cluster)
    namespace_labels: Mapping[str, str] | None


@dataclass(frozen=True)
class Planner:
    db: Database
    targets: TargetService
    kube: Kube | None
    settings: DeploySettings
    policy: DeployPolicy
    catalog_lookup: CatalogLookup | None

    def plan(
        self, req: DeployRequest, *, check_policy: bool = True, credentials: bool = False
    ) -> tuple[DeployPlan, PlanInfo]:
        """``credentials``: decrypt the data connection's credentials into its Secret, for a deploy that applies it
        (anything else builds the Secret with placeholders, so a dry run or a page cannot leak what it never read)."""
        req.check()
        names.check_namespace(req.namespace)
        model = self.model(req)
        exists, labels = self.namespace(req.namespace)
        if check_policy:
            self.policy.check(Subject(req.namespace, labels, model.described, model.stage, model.digest_problem))
        profile = self.targets.profile(req.hardware_profile)
        resources = bounded_resources(profile, req.resources)
        connection = self._connection(req, model)
        storage = _storage(connection, model)
        format_name = model.format_name or DEFAULT_FORMAT
        format_version = model.format_version if model.format_name else None
        runtime = self._runtime(req.runtime, format_name, format_version, profile)
        display_name = req.display_name or names.default_display_name(model.model_name, model.version_name)
        name = req.name or names.k8s_name(display_name)
        names.check_deployment_name(name, req.namespace)
        model_type = _model_type(req, runtime)
        secret = None
        if connection.origin == "modelreg" and (self.kube is None or not connection.in_namespace):
            secret = self.targets.connection_secret(connection.name, credentials=credentials)
        plan = DeployPlan(
            namespace=req.namespace,
            name=name,
            display_name=display_name,
            description=req.description,
            model_format=(format_name, format_version),
            model_type=model_type,
            storage=storage,
            profile=profile,
            resources=resources,
            runtime=runtime,
            replicas=req.replicas,
            external_route=req.external_route,
            token_names=(TOKEN_NAME,) if req.token_auth else (),
            auth=req.token_auth,
            registered_model_id=_sid(model.registered_model_id),
            model_version_id=_sid(model.version_id),
            model_version_name=model.version_name,
            registry_name=self.settings.registry_name if model.version_id is not None else None,
            deployed_by=self.settings.registry_name,
            connection_secret=secret,
            inject=frozenset(self.settings.inject),
            args=req.args,
            env=req.env,
        )
        resolved = dataclasses.replace(
            req,
            connection=connection.name,
            runtime=runtime.name,
            name=name,
            display_name=display_name,
            model_type=model_type,
        )
        return plan, PlanInfo(resolved, model, connection, exists, labels)

    # --- the model ---------------------------------------------------------------------------------------------

    def model(self, req: DeployRequest) -> Model:
        if req.model_version_id is not None:
            return self._version(e.parse_id(req.model_version_id, e.MODEL_VERSION.label))
        source, name = str(req.catalog_source), str(req.catalog_model)
        found = self.catalog_lookup(source, name) if self.catalog_lookup is not None else None
        if found is None:
            raise NotFound(f"no catalog model {name!r} in source {source!r}")
        return Model(
            registered_model_id=None,
            version_id=None,
            model_name=found.name,
            version_name=None,
            uri=found.uri,
            format_name=found.model_format_name,
            format_version=found.model_format_version,
            storage_key=None,
            stage=None,
            digest_problem="a catalog model has no digests recorded by this registry",
        )

    def _version(self, version_id: int) -> Model:
        with self.db.read() as conn:
            version = e.load(conn, e.MODEL_VERSION, version_id)
            model = e.load(conn, e.REGISTERED_MODEL, version.row["registered_model_id"])
            described = f"version {version.row['name']!r} of {model.row['name']!r}"
            if "ARCHIVED" in (version.row["state"], model.row["state"]):
                raise Conflict(f"{described} is archived: restore it before deploying")
            artifact = _first_model_artifact(conn, version_id)
            digest_problem: str | None = "it has no model artifact with a URI"
            if artifact is not None:
                digest_problem = _digest_problem(conn, artifact) if self.policy.needs_digests else None
        return Model(
            registered_model_id=int(model.row["id"]),
            version_id=version_id,
            model_name=str(model.row["name"]),
            version_name=str(version.row["name"]),
            uri=None if artifact is None else artifact["uri"],
            format_name=None if artifact is None else artifact["model_format_name"],
            format_version=None if artifact is None else artifact["model_format_version"],
            storage_key=None if artifact is None else artifact["storage_key"],
            stage=stage_of(version.props),
            digest_problem=digest_problem,
        )

    # --- the cluster's namespace -------------------------------------------------------------------------------

    def namespace(self, namespace: str) -> tuple[bool | None, Mapping[str, str] | None]:
        """Whether it exists and its labels; (None, None) without a cluster."""
        if self.kube is None:
            return None, None
        with cluster_call(self.kube, "get", f"namespace {namespace}"):
            found = self.kube.get(NAMESPACE, namespace)
        if found is None:
            return False, {}
        labels = (found.get("metadata") or {}).get("labels") or {}
        return True, {str(k): str(v) for k, v in labels.items()}

    # --- connection, runtime -----------------------------------------------------------------------------------

    def _connection(self, req: DeployRequest, model: Model) -> ConnectionTarget:
        if req.connection:
            return self.targets.connection(req.connection, req.namespace)
        choices = self.targets.connections(req.namespace)
        if model.storage_key:
            for choice in choices:
                if choice.name == model.storage_key:
                    return choice
        matched = match_connections(model.uri, choices) if model.uri else []
        if len(matched) == 1:
            return matched[0]
        where = f"the model's location {model.uri}" if model.uri else "the model (it has no artifact URI)"
        if matched:
            listed = ", ".join(c.name for c in matched)
            raise InvalidInput(f"several data connections match {where}: choose one with connection ({listed})")
        listed = ", ".join(c.name for c in choices) or "none exists: an admin creates them"
        raise InvalidInput(f"no data connection matches {where}: choose one with connection ({listed})")

    def _runtime(
        self, wanted: str | None, format_name: str, format_version: str | None, profile: HardwareProfile
    ) -> RuntimeTemplate:
        fmt = format_name + (f" {format_version}" if format_version else "")
        if wanted:
            runtime = self.targets.runtime(wanted)
            if not runtime.supports(format_name, format_version):
                formats = ", ".join(f.name + (f" {f.version}" if f.version else "") for f in runtime.model_formats)
                raise InvalidInput(f"runtime {wanted!r} does not serve model format {fmt} (it serves {formats})")
            return runtime
        runtimes = self.targets.runtimes()
        suggested = suggest_runtime(runtimes, format_name, format_version, profile.accelerators)
        if suggested is not None:
            return suggested
        compatible = [r.name for r in runtimes if r.supports(format_name, format_version)]
        if not compatible:
            raise InvalidInput(f"no serving runtime serves model format {fmt}: an admin adds one")
        raise InvalidInput(
            f"choose a runtime for model format {fmt} on hardware profile {profile.name!r}: {', '.join(compatible)}"
        )


def bounded_resources(profile: HardwareProfile, overrides: Mapping[str, str]) -> dict[str, str]:
    """The profile's default counts, replaced by ``overrides`` within each identifier's min and max (400 naming
    the identifier and the bounds otherwise)."""
    out = {i.identifier: str(i.default_count) for i in profile.identifiers}
    known = {i.identifier: i for i in profile.identifiers}
    for identifier, value in overrides.items():
        spec = known.get(identifier)
        if spec is None:
            listed = ", ".join(known) or "none"
            raise InvalidInput(
                f"hardware profile {profile.name!r} has no resource {identifier[:100]!r} (it has: {listed})"
            )
        try:
            amount = parse_quantity(value)
        except InvalidQuantity as exc:
            raise InvalidInput(f"invalid {identifier} count: {exc}") from None
        low = parse_quantity(spec.min_count)
        high = None if spec.max_count is None else parse_quantity(spec.max_count)
        if amount < low or (high is not None and amount > high):
            bounds = f"min {spec.min_count}" + ("" if spec.max_count is None else f", max {spec.max_count}")
            raise InvalidInput(f"{identifier} {value} is outside hardware profile {profile.name!r}'s bounds: {bounds}")
        out[identifier] = str(value)
    return out


def _storage(connection: ConnectionTarget, model: Model) -> StorageRef:
    if connection.type == "s3":
        if not model.uri:
            raise InvalidInput(
                f"{model.described} has no model artifact URI to deploy from connection {connection.name}"
            )
        try:
            location = parse_uri(model.uri)
        except InvalidUri as exc:
            raise InvalidInput(f"{model.described}: {exc}") from None
        if location.config.type != "s3":
            raise InvalidInput(f"connection {connection.name} is S3 storage; {model.uri} is not an s3:// URI")
        if connection.bucket and location.config.bucket != connection.bucket:
            raise InvalidInput(
                f"the model's files are in bucket {location.config.bucket!r}; connection {connection.name} reads "
                f"bucket {connection.bucket!r}"
            )
        # the key prefix as the URI writes it (trailing slash kept), as the dashboard splits it off the bucket
        path = model.uri.split("://", 1)[1].partition("?")[0].partition("/")[2]
        return StorageRef(connection=connection.secret_name, type="s3", path=path)
    if connection.type == "uri":
        return StorageRef(connection=connection.secret_name, type="uri", uri=connection.uri or model.uri)
    if not model.uri:
        raise InvalidInput(f"{model.described} has no model artifact URI to deploy from connection {connection.name}")
    _check_oci(connection, model)
    return StorageRef(connection=connection.secret_name, type="oci", uri=model.uri)


def _check_oci(connection: ConnectionTarget, model: Model) -> None:
    """An oci connection pulls only images: an ``oci://`` URI, and for modelreg's own connections one under its
    registry and repository prefix (its pull secret would not open another)."""
    uri = str(model.uri)
    try:
        ref = parse_image_ref(uri)
    except InvalidImageRef as exc:
        raise InvalidInput(
            f"connection {connection.name} is an OCI registry; {model.described}'s URI {uri[:200]} is not an oci:// "
            f"image reference ({exc})"
        ) from None
    if connection.origin == "modelreg" and not match_connections(uri, [connection]):
        raise InvalidInput(
            f"the model's image is {ref.registry}/{ref.repository}; connection {connection.name} pulls from "
            f"{connection.endpoint} only"
        )


def _first_model_artifact(conn: Connection, version_id: int) -> Mapping[Any, Any] | None:
    """The version's first model artifact with a URI (the dashboard deploys ``modelArtifacts[0]``)."""
    a, link = artifacts.c, artifact_attributions.c
    query = (
        select(a.id, a.uri, a.model_format_name, a.model_format_version, a.storage_key)
        .where(
            link.parent_kind == "model_version",
            link.parent_id == version_id,
            link.artifact_id == a.id,
            a.artifact_type == "model-artifact",
            a.uri.is_not(None),
            a.uri != "",
        )
        .order_by(a.id)
        .limit(1)
    )
    return conn.execute(query).mappings().first()


def _digest_problem(conn: Connection, artifact: Mapping[Any, Any]) -> str | None:
    upload = uploads.for_artifact(conn, int(artifact["id"]), str(artifact["uri"]))
    if upload is None:
        return "its model artifact was registered by URI alone, so no digests were recorded"
    if not upload.files:
        return "its model artifact's manifest lists no files"
    missing = [f.key for f in upload.files if not f.sha256]
    if missing:
        return f"its model artifact's manifest has no SHA-256 for {len(missing)} file(s), e.g. {missing[0]!r}"
    return None


def _model_type(req: DeployRequest, runtime: RuntimeTemplate) -> Literal["generative", "predictive"]:
    """The request's, else the runtime's only model type, else the dashboard's default (generative)."""
    if req.model_type is not None:
        return req.model_type
    if len(runtime.model_types) == 1 and runtime.model_types[0] in ("generative", "predictive"):
        return cast(Literal["generative", "predictive"], runtime.model_types[0])
    return "generative"


def _sid(value: int | None) -> str | None:
    return None if value is None else str(value)
