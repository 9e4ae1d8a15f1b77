"""A `DeployPlan` → the Kubernetes objects of one deployment, shaped as the OpenShift AI dashboard shapes them, in
its order: the connection Secret (only when the connection is not yet in the namespace), the ServingRuntime (a copy
of the template named after the deployment), the InferenceService, then for token auth the ServiceAccount, Role,
RoleBinding and one token Secret per token (owned by the InferenceService). Pure: no I/O, no clock.

What the platform's webhooks would add is written here only when ``plan.inject`` says so (no webhook there):
- "scheduling": a Node profile's ``nodeSelector``/``tolerations`` on the predictor, a Queue profile's
  ``kueue.x-k8s.io/queue-name`` (and ``kueue.x-k8s.io/priority-class``) labels;
- "storage": for S3, ``predictor.model.storage {key: <connection>, path}``, which plain KServe resolves through its
  ``storage-config`` Secret (no ``<connection>-sa`` service account: that one is the ODH webhook's convention);
  for URI connections, ``predictor.model.storageUri``. OCI always gets ``storageUri``, as the dashboard writes it,
  and its connection Secret in ``predictor.imagePullSecrets`` (what the platform's webhook adds there; written
  always, since KServe pulls the ModelCar with the pod's pull secrets and plain KServe has no such webhook).

Owner references: the dashboard makes the token objects children of the InferenceService so that deleting it
collects them. Their uid is unknown until the InferenceService exists, so `build` leaves them out and the service
adds them with `with_owner` after applying it. GitOps output has none at all (kustomize applies every object
together, and a uid cannot be written ahead): there, removing the deployment's folder is what deletes its token
objects (pruning by the GitOps tool), not Kubernetes' garbage collector.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal

from modelreg.deploy import keys
from modelreg.deploy.names import check_deployment_name, k8s_name
from modelreg.deploy.requests import MAX_REPLICAS
from modelreg.deploy.target_shapes import HardwareProfile, RuntimeTemplate
from modelreg.errors import InvalidInput

Json = dict[str, Any]
ConnectionType = Literal["s3", "uri", "oci"]

DASHBOARD = keys.DASHBOARD
ISVC_API = "serving.kserve.io/v1beta1"
TOKEN_SECRET_TYPE = "kubernetes.io/service-account-token"
OCI_SECRET_TYPE = "kubernetes.io/dockerconfigjson"
# set by the API server (or its controllers), never part of what we send
SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
    "finalizers",
    "generateName",
)


@dataclass(frozen=True, slots=True)
class StorageRef:
    """Where the model's files are, as the InferenceService will reference them."""

    connection: str  # the connection Secret's name in the namespace
    type: ConnectionType
    # s3: the key prefix inside the bucket (annotation opendatahub.io/connection-path), as the URI has it: the
    # dashboard splits "s3://bucket/a/b/" at the bucket and keeps the rest verbatim, trailing slash included
    path: str | None = None
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
    registry_name: str | None = None  # modelregistry.opendatahub.io/name (a registered version's deployments)
    deployed_by: str | None = None  # keys.REGISTRY's value: this registry's name (None: no such label)
    connection_secret: Json | None = None  # the Secret to create (None: already in the namespace)
    inject: frozenset[str] = frozenset()  # what modelreg writes itself: "scheduling", "storage"
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    extra_labels: dict[str, str] = field(default_factory=dict)
    deployment_strategy: Literal["RollingUpdate", "Recreate"] | None = None  # predictor.deploymentStrategy.type


def build(plan: DeployPlan) -> list[Json]:
    """Every object, in the order they are applied. `InvalidInput` for a plan the dashboard would refuse."""
    check_deployment_name(plan.name, plan.namespace)
    if not 1 <= plan.replicas <= MAX_REPLICAS:
        raise InvalidInput(f"replicas must be between 1 and {MAX_REPLICAS}, not {plan.replicas}")
    objects: list[Json] = []
    if plan.connection_secret is not None:
        secret = copy.deepcopy(plan.connection_secret)
        secret.setdefault("metadata", {}).setdefault("namespace", plan.namespace)
        objects.append(secret)
    objects.append(serving_runtime(plan))
    objects.append(inference_service(plan))
    objects.extend(token_objects(plan))
    return objects


def serving_runtime(plan: DeployPlan) -> Json:
    """The template's ServingRuntime, named after the deployment, with the dashboard's template annotations."""
    runtime = copy.deepcopy(plan.runtime.serving_runtime)
    runtime.pop("status", None)
    meta = {k: v for k, v in (runtime.get("metadata") or {}).items() if k not in SERVER_METADATA}
    meta["name"] = plan.name
    meta["namespace"] = plan.namespace
    meta["labels"] = _sorted({**(meta.get("labels") or {}), DASHBOARD: "true"})
    meta["annotations"] = _sorted(
        {
            **(meta.get("annotations") or {}),
            keys.DISPLAY_NAME: plan.display_name.strip(),
            "opendatahub.io/template-name": plan.runtime.template_name,
            "opendatahub.io/template-display-name": plan.runtime.display_name,
            "opendatahub.io/serving-runtime-scope": plan.runtime.scope,
        }
    )
    rest = {k: v for k, v in runtime.items() if k not in ("apiVersion", "kind", "metadata")}
    return {
        "apiVersion": runtime.get("apiVersion", "serving.kserve.io/v1alpha1"),
        "kind": "ServingRuntime",
        "metadata": _metadata(meta),
        **rest,
    }


def inference_service(plan: DeployPlan) -> Json:
    return {
        "apiVersion": ISVC_API,
        "kind": "InferenceService",
        "metadata": _metadata(
            {
                "name": plan.name,
                "namespace": plan.namespace,
                "labels": _isvc_labels(plan),
                "annotations": _isvc_annotations(plan),
            }
        ),
        "spec": {"predictor": _predictor(plan)},
    }


def _isvc_labels(plan: DeployPlan) -> dict[str, str]:
    labels = {**plan.extra_labels, DASHBOARD: "true"}
    if plan.external_route:
        labels[keys.VISIBILITY] = "exposed"
    registry = {
        keys.REGISTERED_MODEL: plan.registered_model_id,
        keys.MODEL_VERSION: plan.model_version_id,
        keys.REGISTRY_NAME: plan.registry_name,
    }
    labels.update({key: value for key, value in registry.items() if value})
    if plan.deployed_by:
        labels[keys.REGISTRY] = plan.deployed_by
    scheduling = plan.profile.scheduling or {}
    if "scheduling" in plan.inject and scheduling.get("type") == "Queue":
        kueue = scheduling.get("kueue") or {}
        if not kueue.get("localQueueName"):
            raise InvalidInput(f"hardware profile {plan.profile.name!r} schedules by queue but names no localQueueName")
        labels["kueue.x-k8s.io/queue-name"] = str(kueue["localQueueName"])
        if kueue.get("priorityClass"):
            labels["kueue.x-k8s.io/priority-class"] = str(kueue["priorityClass"])
    return _sorted(labels)


def _isvc_annotations(plan: DeployPlan) -> dict[str, str]:
    notes = {
        keys.DISPLAY_NAME: plan.display_name.strip(),
        keys.MODEL_TYPE: plan.model_type,
        keys.CONNECTIONS: plan.storage.connection,
        keys.PROFILE_NAME: plan.profile.name,
        keys.PROFILE_NAMESPACE: plan.profile.namespace,
        keys.ENABLE_AUTH: "true" if plan.auth else "false",
    }
    if plan.description:
        notes[keys.DESCRIPTION] = plan.description
    if plan.storage.type == "s3" and plan.storage.path:
        notes[keys.CONNECTION_PATH] = plan.storage.path
    if plan.profile.resource_version:
        notes[keys.PROFILE_RESOURCE_VERSION] = plan.profile.resource_version
    if plan.model_version_name:
        notes[keys.MODEL_VERSION_NAME] = plan.model_version_name
    return _sorted(notes)


def _predictor(plan: DeployPlan) -> Json:
    format_name, format_version = plan.model_format
    model: Json = {"modelFormat": {"name": format_name, **({"version": format_version} if format_version else {})}}
    model["runtime"] = plan.name
    storage = plan.storage
    if storage.type == "oci" or (storage.type == "uri" and "storage" in plan.inject):
        if not storage.uri:
            raise InvalidInput(f"the {storage.type} connection {storage.connection!r} has no URI to deploy from")
        model["storageUri"] = storage.uri
    elif storage.type == "s3" and "storage" in plan.inject:
        model["storage"] = {"key": storage.connection, **({"path": storage.path} if storage.path else {})}
    resources = _sorted(plan.resources)
    model["resources"] = {"requests": resources, "limits": dict(resources)}
    if plan.args:
        model["args"] = list(plan.args)
    if plan.env:
        model["env"] = [{"name": name, "value": value} for name, value in plan.env]
    predictor: Json = {"minReplicas": plan.replicas, "maxReplicas": plan.replicas}
    scheduling = plan.profile.scheduling or {}
    if "scheduling" in plan.inject and scheduling.get("type") == "Node":
        node = scheduling.get("node") or {}
        if node.get("nodeSelector"):
            predictor["nodeSelector"] = _sorted(node["nodeSelector"])
        if node.get("tolerations"):
            predictor["tolerations"] = copy.deepcopy(list(node["tolerations"]))
    if storage.type == "oci":
        predictor["imagePullSecrets"] = [{"name": storage.connection}]
    if plan.deployment_strategy:
        predictor["deploymentStrategy"] = {"type": plan.deployment_strategy}
    predictor["model"] = model
    return predictor


def service_account_name(name: str) -> str:
    return f"{name}-sa"


def token_secret_name(token_display_name: str, name: str) -> str:
    """``<k8s name of the token's display name>-<deployment>-sa``, as the dashboard names token Secrets."""
    return f"{k8s_name(token_display_name, max_length=63)}-{service_account_name(name)}"


def token_objects(plan: DeployPlan) -> list[Json]:
    """ServiceAccount, Role, RoleBinding and the token Secrets of token auth; [] without tokens."""
    if not plan.token_names:
        return []
    names = [token.strip() for token in plan.token_names]
    if not all(names):
        raise InvalidInput("Service account name is required: a token's display name cannot be empty")
    secret_names = [token_secret_name(token, plan.name) for token in names]
    if len(set(secret_names)) != len(secret_names):
        raise InvalidInput(f"two tokens would share a Secret name: {', '.join(secret_names)}")
    sa = service_account_name(plan.name)
    role = f"{plan.name}-view-role"
    labels = {DASHBOARD: "true"}
    objects: list[Json] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa, "namespace": plan.namespace}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": role, "namespace": plan.namespace, "labels": dict(labels)},
            "rules": [
                {
                    "verbs": ["get"],
                    "apiGroups": ["serving.kserve.io"],
                    "resources": ["inferenceservices"],
                    "resourceNames": [plan.name],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": f"{plan.name}-view", "namespace": plan.namespace, "labels": dict(labels)},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": sa}],
        },
    ]
    for token, secret_name in zip(names, secret_names, strict=True):
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": secret_name,
                    "namespace": plan.namespace,
                    "labels": dict(labels),
                    "annotations": {"kubernetes.io/service-account.name": sa, keys.DISPLAY_NAME: token},
                },
                "type": TOKEN_SECRET_TYPE,
            }
        )
    return objects


def owner_reference(isvc: Json) -> Json:
    """The ownerReference the dashboard puts on token objects: {apiVersion, kind, name, uid, blockOwnerDeletion:
    false}. ``isvc`` must carry its uid (the object as the API server returned it)."""
    meta = isvc.get("metadata") or {}
    if not meta.get("uid") or not meta.get("name"):
        raise ValueError("an owner reference needs the InferenceService as the API server returned it (name and uid)")
    return {
        "apiVersion": isvc.get("apiVersion", ISVC_API),
        "kind": isvc.get("kind", "InferenceService"),
        "name": meta["name"],
        "uid": meta["uid"],
        "blockOwnerDeletion": False,
    }


def with_owner(obj: Json, isvc: Json) -> Json:
    """A copy of ``obj`` owned by the InferenceService (an earlier reference to the same owner is replaced)."""
    ref = owner_reference(isvc)
    out = copy.deepcopy(obj)
    meta = out.setdefault("metadata", {})
    others = [r for r in meta.get("ownerReferences") or () if r.get("uid") != ref["uid"]]
    meta["ownerReferences"] = [*others, ref]
    return out


# The keys of each connection type's Secret (the dashboard's connection-type ConfigMaps); True: required. The
# dashboard's form also requires the S3 key pair; here a connection may have neither (anonymous access to a public
# bucket, as modelreg's own connections allow), but not one without the other.
CONNECTION_KEYS: dict[str, dict[str, bool]] = {
    "s3": {
        "AWS_ACCESS_KEY_ID": False,
        "AWS_SECRET_ACCESS_KEY": False,
        "AWS_S3_ENDPOINT": True,
        "AWS_DEFAULT_REGION": False,
        "AWS_S3_BUCKET": False,
    },
    "uri": {"URI": True},
    "oci": {".dockerconfigjson": True, "OCI_HOST": False, "ACCESS_TYPE": False},
}
# Keys whose values are not credentials (GitOps examples may show them; everything else is secret)
PUBLIC_CONNECTION_KEYS = frozenset(
    {"AWS_S3_ENDPOINT", "AWS_DEFAULT_REGION", "AWS_S3_BUCKET", "OCI_HOST", "ACCESS_TYPE"}
)
CONNECTION_TYPE_REF: dict[str, str] = {"s3": "s3", "uri": "uri-v1", "oci": "oci-v1"}
CONNECTION_TYPE_REF_ANNOTATION = keys.CONNECTION_TYPE_REF


def connection_secret(
    name: str,
    display_name: str,
    type: ConnectionType,
    values: dict[str, str],
    *,
    namespace: str | None = None,
    description: str | None = None,
) -> Json:
    """The Secret the dashboard creates for a new, saved S3 / URI / OCI connection. Empty optional values are left
    out; a missing required one or a key the type does not have is `InvalidInput`."""
    fields = CONNECTION_KEYS.get(type)
    if fields is None:
        raise InvalidInput(f"unknown connection type {type!r}: s3, uri or oci")
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise InvalidInput(f"a {type} connection has no field {', '.join(unknown)}")
    missing = [key for key, required in fields.items() if required and not values.get(key)]
    pair = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    if type == "s3" and any(values.get(key) for key in pair):
        missing += [key for key in pair if not values.get(key)]
    if missing:
        raise InvalidInput(f"the {type} connection {name!r} needs {', '.join(missing)}")
    ref = CONNECTION_TYPE_REF[type]
    annotations = {
        keys.DISPLAY_NAME: display_name,
        CONNECTION_TYPE_REF_ANNOTATION: ref,
        keys.CONNECTION_TYPE: ref,
        keys.CONNECTION_PROTOCOL: type,
    }
    if description:
        annotations[keys.DESCRIPTION] = description
    metadata: Json = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    metadata["labels"] = {DASHBOARD: "true", keys.MANAGED: "true"}
    metadata["annotations"] = _sorted(annotations)
    secret: Json = {"apiVersion": "v1", "kind": "Secret", "metadata": metadata}
    secret["stringData"] = {key: values[key] for key in fields if values.get(key)}
    if type == "oci":
        secret["type"] = OCI_SECRET_TYPE
    return secret


def is_connection_secret(obj: Json) -> bool:
    """A data-connection Secret (as `connection_secret` builds them), not a token Secret."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return obj.get("kind") == "Secret" and CONNECTION_TYPE_REF_ANNOTATION in annotations


def _sorted(mapping: dict[str, Any]) -> dict[str, Any]:
    """Keys in order, so the same plan always gives the same bytes, whatever order the caller's dicts had."""
    return {key: mapping[key] for key in sorted(mapping)}


_META_ORDER = ("name", "namespace", "labels", "annotations")


def _metadata(meta: Json) -> Json:
    first = {key: meta[key] for key in _META_ORDER if meta.get(key)}
    return {**first, **{k: v for k, v in meta.items() if k not in _META_ORDER}}
