"""A `DeployPlan` → the Kubernetes objects of one deployment, shaped as the OpenShift AI dashboard shapes them, in
its order: the connection Secret (only when the connection is not yet in the namespace), the ServingRuntime (a copy
of the template named after the deployment), the InferenceService, then for token auth the ServiceAccount, Role,
RoleBinding and one token Secret per token (owned by the InferenceService). Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from modelreg.deploy.targets import HardwareProfile, RuntimeTemplate

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class StorageRef:
    """Where the model's files are, as the InferenceService will reference them."""

    connection: str  # the connection Secret's name in the namespace
    type: Literal["s3", "uri", "oci"]
    path: str | None = None  # s3: the key prefix inside the bucket (annotation opendatahub.io/connection-path)
    uri: str | None = None  # uri/oci: the full URI (oci: spec.predictor.model.storageUri)


@dataclass(frozen=True, slots=True)
class DeployPlan:
    namespace: str
    name: str  # the k8s name of the InferenceService and its ServingRuntime
    display_name: str
    description: str | None
    model_format: tuple[str, str | None]  # name, version
    model_type: Literal["generative", "predictive"]
    storage: StorageRef
    profile: HardwareProfile
    resources: dict[str, str]  # identifier → count; requests = limits
    runtime: RuntimeTemplate
    replicas: int = 1
    external_route: bool = False
    token_names: tuple[str, ...] = ()  # token display names; empty: no token auth
    auth: bool = False  # security.opendatahub.io/enable-auth
    registered_model_id: str | None = None
    model_version_id: str | None = None
    model_version_name: str | None = None
    registry_name: str | None = None
    connection_secret: Json | None = None  # the Secret to create (None: already in the namespace)
    inject: frozenset[str] = frozenset()  # what modelreg writes itself: "scheduling", "storage"
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    extra_labels: dict[str, str] = field(default_factory=dict)


def build(plan: DeployPlan) -> list[Json]:
    """Every object, in the order they are applied."""
    raise NotImplementedError


def owner_reference(isvc: Json) -> Json:
    """The ownerReference the dashboard puts on token objects: {apiVersion, kind, name, uid, blockOwnerDeletion:
    false}. ``isvc`` must carry its uid (the object as the API server returned it)."""
    raise NotImplementedError
