"""Applying a deployment's objects to the cluster in order (`roll_out`), removing what that deploy created when a
step fails, and the deletes of undeploy. Errors become `modelreg.errors` through `cluster_errors.cluster_call`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from modelreg.deploy import keys, objects
from modelreg.deploy.cluster_errors import cluster_call
from modelreg.deploy.objects import DeployPlan
from modelreg.errors import Conflict
from modelreg.kube import errors as k
from modelreg.kube.client import Json, Kube
from modelreg.kube.kinds import INFERENCE_SERVICE, SECRET, Kind, kind_of

log = logging.getLogger(__name__)

PROTOCOL_ANNOTATION = keys.CONNECTION_PROTOCOL


def described(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    return f"{obj.get('kind')} {metadata.get('namespace')}/{metadata.get('name')}"


def roll_out(kube: Kube, plan: DeployPlan, objs: list[Json]) -> Json:
    """Apply ``objs`` in order (server-side apply) and return the InferenceService as stored. A connection Secret
    or a token object that exists already is left as it is (the Secret only gains its protocol annotation); a
    ServingRuntime of the deployment's name is brought up to date. On any failure, what this call created is
    deleted, newest first, and the error raised; what existed before stays."""
    ns = plan.namespace
    created: list[Json] = []
    isvc: Json | None = None
    try:
        with cluster_call(kube, "read", f"InferenceService {ns}/{plan.name}"):
            if kube.get(INFERENCE_SERVICE, plan.name, ns) is not None:
                raise Conflict(
                    f"an InferenceService named {plan.name} already exists in namespace {ns}, deployed outside "
                    "modelreg: choose another name"
                )
        if plan.connection_secret is None:
            mark_protocol(kube, ns, plan.storage.connection, plan.storage.type)
        for obj in objs:
            kind = kind_of(obj)
            name = str(obj["metadata"]["name"])
            if isvc is not None:
                obj = objects.with_owner(obj, isvc)
            with cluster_call(kube, "apply", described(obj)):
                existed = kind is not INFERENCE_SERVICE and kube.get(kind, name, ns) is not None
                if existed and kind is SECRET and name == plan.storage.connection:
                    mark_protocol(kube, ns, name, plan.storage.type)  # someone else's Secret: not overwritten
                    continue
                if existed and isvc is not None:
                    continue  # token objects are created only when missing (as the dashboard does), never adopted
                stored = kube.apply(obj)
            if not existed:
                created.append(obj)
            if kind is INFERENCE_SERVICE:
                isvc = stored
    except Exception:  # a refusal, or a bug: either way nothing half-made stays
        remove(kube, created)
        raise
    assert isvc is not None, "a deployment's objects include its InferenceService"
    return isvc


def mark_protocol(kube: Kube, namespace: str, secret: str, protocol: str) -> None:
    """Add ``opendatahub.io/connection-type-protocol`` to an existing connection Secret when it lacks it (as the
    dashboard does before deploying with an existing connection); nothing else of it is touched."""
    with cluster_call(kube, "annotate", f"Secret {namespace}/{secret}"):
        found = kube.get(SECRET, secret, namespace)
        annotations = ((found or {}).get("metadata") or {}).get("annotations") or {}
        if found is not None and PROTOCOL_ANNOTATION not in annotations:
            kube.patch(SECRET, secret, namespace, {"metadata": {"annotations": {PROTOCOL_ANNOTATION: protocol}}})


def remove(kube: Kube, objs: list[Json]) -> None:
    """Delete ``objs`` newest first; a failure is logged and the rest still tried (the caller reports its own)."""
    for obj in reversed(objs):
        metadata = obj["metadata"]
        try:
            kube.delete(kind_of(obj), str(metadata["name"]), metadata.get("namespace"))
        except k.KubeError as exc:
            log.warning("rolling back: could not delete %s: %s", described(obj), exc)


def delete_quietly(kube: Kube, kind: Kind, name: str, namespace: str) -> None:
    """Delete; an object already gone is fine."""
    with cluster_call(kube, "delete", f"{kind.kind} {namespace}/{name}"):
        kube.delete(kind, name, namespace)
