"""Serving-runtime templates as stored and read: an OpenShift ``Template`` whose ``objects[0]`` is a KServe
``ServingRuntime`` (serving.kserve.io/v1alpha1), as the platform ships them. A bare ServingRuntime given by an admin
is wrapped in such a Template, so modelreg's own and the cluster's runtimes have one shape.

Validation is deliberately small (kind, name, containers, supportedModelFormats): the full ServingRuntime is
checked against its CRD when a deployment's copy of it is built.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from modelreg.deploy import keys
from modelreg.deploy.profile_spec import annotations_of, check_name
from modelreg.errors import InvalidInput
from modelreg.kube.kinds import SERVING_RUNTIME, TEMPLATE

DASHBOARD = keys.DASHBOARD
DISPLAY_NAME = keys.DISPLAY_NAME
DESCRIPTION = keys.DESCRIPTION
API_PROTOCOL = "opendatahub.io/apiProtocol"
SERVING_SUPPORT = "opendatahub.io/modelServingSupport"
MODEL_TYPE = keys.MODEL_TYPE
ACCELERATORS = keys.ACCELERATORS
# Set by the API server; a runtime pasted from `kubectl get -o yaml` loses them.
_SERVER_SET = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink", "namespace")
_TEMPLATE_API_VERSIONS = (TEMPLATE.api_version, "v1")
_MAX_CONTAINERS = 16
_MAX_FORMATS = 64


def json_list(value: str | None) -> tuple[str, ...]:
    """An annotation holding a JSON list of strings ('["nvidia.com/gpu"]'); a plain comma list is accepted too."""
    if not value or not value.strip():
        return ()
    try:
        parsed = json.loads(value)
    except ValueError:
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(parsed, str):
        return (parsed,)
    if isinstance(parsed, list):
        return tuple(str(item) for item in parsed if isinstance(item, str | int) and str(item))
    return ()


def _clean_metadata(obj: dict[str, Any]) -> None:
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        for key in _SERVER_SET:
            metadata.pop(key, None)
    obj.pop("status", None)


def _check_serving_runtime(sr: object, where: str) -> dict[str, Any]:
    if not isinstance(sr, Mapping):
        raise InvalidInput(f"{where}: must be a ServingRuntime object")
    if sr.get("kind") != SERVING_RUNTIME.kind or sr.get("apiVersion") != SERVING_RUNTIME.api_version:
        raise InvalidInput(
            f"{where}: must be a ServingRuntime ({SERVING_RUNTIME.api_version}), not "
            f"{sr.get('kind')!r} ({sr.get('apiVersion')!r})"
        )
    metadata = sr.get("metadata")
    if not isinstance(metadata, Mapping):
        raise InvalidInput(f"{where}.metadata: must be an object with a name")
    check_name(metadata.get("name"), "serving runtime")
    for key in ("labels", "annotations"):
        values = metadata.get(key)
        if values is not None and (
            not isinstance(values, Mapping) or not all(isinstance(v, str) for v in values.values())
        ):
            raise InvalidInput(f"{where}.metadata.{key}: must map names to strings")
    spec = sr.get("spec")
    if not isinstance(spec, Mapping):
        raise InvalidInput(f"{where}.spec: required")
    if spec.get("multiModel") is True:
        raise InvalidInput(f"{where}.spec.multiModel: multi-model runtimes (ModelMesh) are not supported by KServe")
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers or len(containers) > _MAX_CONTAINERS:
        raise InvalidInput(f"{where}.spec.containers: a list of 1 to {_MAX_CONTAINERS} containers is required")
    for i, container in enumerate(containers):
        if not isinstance(container, Mapping):
            raise InvalidInput(f"{where}.spec.containers[{i}]: must be an object")
        for key in ("name", "image"):
            if not isinstance(container.get(key), str) or not container[key]:
                raise InvalidInput(f"{where}.spec.containers[{i}].{key}: required")
    formats = spec.get("supportedModelFormats")
    if not isinstance(formats, list) or not formats or len(formats) > _MAX_FORMATS:
        raise InvalidInput(
            f"{where}.spec.supportedModelFormats: a list of 1 to {_MAX_FORMATS} model formats is required"
        )
    for i, fmt in enumerate(formats):
        at = f"{where}.spec.supportedModelFormats[{i}]"
        if not isinstance(fmt, Mapping) or not isinstance(fmt.get("name"), str) or not fmt["name"]:
            raise InvalidInput(f"{at}.name: required")
        if fmt.get("version") is not None and not isinstance(fmt["version"], str):
            raise InvalidInput(f"{at}.version: must be a string")
        if fmt.get("autoSelect") is not None and not isinstance(fmt["autoSelect"], bool):
            raise InvalidInput(f"{at}.autoSelect: must be true or false")
        priority = fmt.get("priority")
        if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int) or priority < 1):
            raise InvalidInput(f"{at}.priority: must be an integer of at least 1")
    return dict(sr)


def normalize_runtime(body: Mapping[str, Any]) -> dict[str, Any]:
    """A Template wrapping the ServingRuntime of ``body`` (a ServingRuntime, or a Template whose first object is
    one), with server-set metadata removed. `InvalidInput` naming the field otherwise."""
    if not isinstance(body, Mapping):
        raise InvalidInput("a runtime must be a ServingRuntime or a Template wrapping one")
    kind = body.get("kind")
    if kind == SERVING_RUNTIME.kind:
        sr = copy.deepcopy(_check_serving_runtime(body, "runtime"))
        _clean_metadata(sr)
        return wrap(sr)
    if kind != TEMPLATE.kind:
        raise InvalidInput(f"a runtime must be a ServingRuntime or a Template wrapping one, not kind {kind!r}")
    if body.get("apiVersion") not in _TEMPLATE_API_VERSIONS:
        raise InvalidInput(f"a Template must have apiVersion {TEMPLATE.api_version}, not {body.get('apiVersion')!r}")
    metadata = body.get("metadata")
    check_name(metadata.get("name") if isinstance(metadata, Mapping) else None, "template")
    objects = body.get("objects")
    if not isinstance(objects, list) or not objects:
        raise InvalidInput("objects: a Template needs its ServingRuntime as objects[0]")
    _check_serving_runtime(objects[0], "objects[0]")
    template = copy.deepcopy(dict(body))
    template["apiVersion"] = TEMPLATE.api_version
    _clean_metadata(template)
    template["objects"] = [template["objects"][0]]  # the dashboard uses objects[0] only
    _clean_metadata(template["objects"][0])
    return template


def wrap(sr: dict[str, Any]) -> dict[str, Any]:
    """A Template around a ServingRuntime, named after it, carrying the template annotations it has (model type,
    protocol, serving support) or the usual single-model REST defaults."""
    annotations = annotations_of(sr)
    template_annotations = {
        DISPLAY_NAME: annotations.get(DISPLAY_NAME, sr["metadata"]["name"]),
        API_PROTOCOL: annotations.get(API_PROTOCOL, "REST"),
        SERVING_SUPPORT: annotations.get(SERVING_SUPPORT, json.dumps(["single"])),
    }
    if MODEL_TYPE in annotations:
        template_annotations[MODEL_TYPE] = annotations[MODEL_TYPE]
    return {
        "apiVersion": TEMPLATE.api_version,
        "kind": TEMPLATE.kind,
        "metadata": {
            "name": sr["metadata"]["name"],
            "labels": {DASHBOARD: "true"},
            "annotations": template_annotations,
        },
        "objects": [sr],
        "parameters": [],
    }


def serving_runtime_of(template: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ServingRuntime a Template wraps, or None (not a runtime template)."""
    objects = template.get("objects")
    if not isinstance(objects, list) or not objects or not isinstance(objects[0], Mapping):
        return None
    first = objects[0]
    if first.get("kind") != SERVING_RUNTIME.kind:
        return None
    metadata = first.get("metadata")
    if not isinstance(metadata, Mapping) or not isinstance(metadata.get("name"), str):
        return None
    return first


def single_model(template: Mapping[str, Any]) -> bool:
    """Whether a template serves one model per server (KServe), per its modelServingSupport annotation (absent:
    yes, as the platform's older templates have none)."""
    support = json_list(annotations_of(template).get(SERVING_SUPPORT))
    return not support or "single" in support
