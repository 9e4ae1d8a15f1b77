"""Hardware profiles on the wire and as Kubernetes objects: validation of the wire shape the way the HardwareProfile
CRD would validate the object (structural types, unknown fields refused, the Node/Queue exclusivity of its CEL rules)
plus what the API server cannot check (counts compared as quantities: min ≤ default ≤ max), and the conversions.

The wire shape: ``{name, displayName, description, identifiers: [{identifier, displayName, resourceType, minCount,
maxCount, defaultCount}], scheduling: {type: Node, node: {nodeSelector, tolerations}} | {type: Queue, kueue:
{localQueueName, priorityClass}} | null, enabled}``. The object keeps display name, description and the enabled flag
in the annotations the OpenShift AI dashboard reads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from modelreg.deploy.quantity import InvalidQuantity, parse_quantity
from modelreg.errors import InvalidInput
from modelreg.kube.kinds import HARDWARE_PROFILE

DISPLAY_NAME = "opendatahub.io/display-name"
DESCRIPTION = "opendatahub.io/description"
DISABLED = "opendatahub.io/disabled"
VISIBILITY = "opendatahub.io/dashboard-feature-visibility"
MODEL_SERVING = "model-serving"
RESOURCE_TYPES = ("CPU", "Memory", "Accelerator")
# metadata.name: a DNS-1123 subdomain, as the API server requires.
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# A resource name: an optional DNS prefix and a name ("cpu", "nvidia.com/gpu").
_RESOURCE = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_TEXT_LENGTH = 255
_DESCRIPTION_LENGTH = 1000
_MAX_IDENTIFIERS = 32
_MAX_ITEMS = 64

_TOP = ("name", "displayName", "description", "identifiers", "scheduling", "enabled")
_IDENTIFIER = ("identifier", "displayName", "resourceType", "minCount", "maxCount", "defaultCount")
_SCHEDULING = ("type", "node", "kueue")
_NODE = ("nodeSelector", "tolerations")
_KUEUE = ("localQueueName", "priorityClass")
_TOLERATION = ("key", "operator", "value", "effect", "tolerationSeconds")
_OPERATORS = ("Exists", "Equal")
_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def check_name(name: object, what: str = "hardware profile") -> str:
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"a {what} needs a name")
    if len(name) > 253 or not _SUBDOMAIN.match(name):
        raise InvalidInput(
            f"invalid {what} name {name[:80]!r}: lower-case letters, digits, '-' and '.', starting and ending with a "
            "letter or digit (a Kubernetes object name)"
        )
    return name


def _fields(value: object, where: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{where}: must be an object")
    unknown = sorted(str(k) for k in value if k not in allowed)
    if unknown:
        raise InvalidInput(f'{where}: unknown field "{unknown[0]}" (allowed: {", ".join(allowed)})')
    return value


def _text(value: object, where: str, *, required: bool = False, length: int = _TEXT_LENGTH) -> str | None:
    if value is None or value == "":
        if required:
            raise InvalidInput(f"{where}: required")
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{where}: must be a string")
    if len(value) > length:
        raise InvalidInput(f"{where}: at most {length} characters")
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise InvalidInput(f"{where}: control characters are not allowed")
    return value


def _count(value: object, where: str) -> tuple[int | str, Any]:
    """A count as given (int or quantity string) and its numeric value; negative counts are refused."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidInput(f"{where}: must be an integer or a quantity string such as 4Gi or 500m")
    try:
        number = parse_quantity(value)
    except InvalidQuantity as exc:
        raise InvalidInput(f"{where}: {exc}") from None
    if number < 0:
        raise InvalidInput(f"{where}: must not be negative")
    return value, number


def _identifier(raw: object, index: int) -> dict[str, Any]:
    where = f"identifiers[{index}]"
    item = _fields(raw, where, _IDENTIFIER)
    identifier = _text(item.get("identifier"), f"{where}.identifier", required=True)
    assert identifier is not None
    if not _RESOURCE.match(identifier) or len(identifier) > 253:
        raise InvalidInput(
            f"{where}.identifier: {identifier[:80]!r} is not a resource name (cpu, memory, nvidia.com/gpu)"
        )
    where = f"{where} ({identifier})"
    display = _text(item.get("displayName"), f"{where}.displayName", required=True)
    resource_type = item.get("resourceType")
    if resource_type is not None and resource_type not in RESOURCE_TYPES:
        raise InvalidInput(f"{where}.resourceType: must be one of {', '.join(RESOURCE_TYPES)}, not {resource_type!r}")
    for key in ("minCount", "defaultCount"):
        if item.get(key) is None:
            raise InvalidInput(f"{where}.{key}: required")
    minimum, low = _count(item["minCount"], f"{where}.minCount")
    default, value = _count(item["defaultCount"], f"{where}.defaultCount")
    if value < low:
        raise InvalidInput(f"{where}: defaultCount {default} is below minCount {minimum}")
    maximum: int | str | None = None
    if item.get("maxCount") is not None:
        maximum, high = _count(item["maxCount"], f"{where}.maxCount")
        if value > high:
            raise InvalidInput(f"{where}: defaultCount {default} is above maxCount {maximum}")
    out: dict[str, Any] = {"identifier": identifier, "displayName": display}
    if resource_type is not None:
        out["resourceType"] = resource_type
    out.update(minCount=minimum, maxCount=maximum, defaultCount=default)
    return out


def _toleration(raw: object, where: str) -> dict[str, Any]:
    item = _fields(raw, where, _TOLERATION)
    out: dict[str, Any] = {}
    for key in ("key", "operator", "value", "effect"):
        text = _text(item.get(key), f"{where}.{key}", length=316)
        if text is not None:
            out[key] = text
    if "operator" in out and out["operator"] not in _OPERATORS:
        raise InvalidInput(f"{where}.operator: must be Exists or Equal, not {out['operator']!r}")
    if "effect" in out and out["effect"] not in _EFFECTS:
        raise InvalidInput(f"{where}.effect: must be one of {', '.join(_EFFECTS)}, not {out['effect']!r}")
    if out.get("operator") == "Exists" and out.get("value"):
        raise InvalidInput(f"{where}.value: must be empty when the operator is Exists")
    if not out.get("key") and out.get("operator", "Equal") != "Exists":
        raise InvalidInput(f"{where}.operator: must be Exists when the key is empty (tolerate every taint)")
    if "key" in out and not _LABEL_KEY.match(out["key"]):
        raise InvalidInput(f"{where}.key: {out['key'][:80]!r} is not a taint key")
    seconds = item.get("tolerationSeconds")
    if seconds is not None:
        if isinstance(seconds, bool) or not isinstance(seconds, int):
            raise InvalidInput(f"{where}.tolerationSeconds: must be an integer")
        if out.get("effect") != "NoExecute":
            raise InvalidInput(f"{where}.tolerationSeconds: only applies to the effect NoExecute")
        out["tolerationSeconds"] = seconds
    return out


def _node(raw: object) -> dict[str, Any]:
    node = _fields(raw, "scheduling.node", _NODE)
    out: dict[str, Any] = {}
    selector = node.get("nodeSelector")
    if selector is not None:
        if not isinstance(selector, Mapping) or len(selector) > _MAX_ITEMS:
            raise InvalidInput(f"scheduling.node.nodeSelector: must be an object of at most {_MAX_ITEMS} labels")
        for key, value in selector.items():
            if not isinstance(key, str) or not _LABEL_KEY.match(key) or not isinstance(value, str):
                raise InvalidInput(f"scheduling.node.nodeSelector: {str(key)[:80]!r} must be a label key with a string")
        out["nodeSelector"] = dict(selector)
    tolerations = node.get("tolerations")
    if tolerations is not None:
        if not isinstance(tolerations, list) or len(tolerations) > _MAX_ITEMS:
            raise InvalidInput(f"scheduling.node.tolerations: must be a list of at most {_MAX_ITEMS} tolerations")
        out["tolerations"] = [_toleration(t, f"scheduling.node.tolerations[{i}]") for i, t in enumerate(tolerations)]
    return out


def _scheduling(raw: object) -> dict[str, Any] | None:
    if raw is None:
        return None
    scheduling = _fields(raw, "scheduling", _SCHEDULING)
    kind = scheduling.get("type")
    if kind not in ("Node", "Queue"):
        raise InvalidInput(f"scheduling.type: must be Node or Queue, not {kind!r}")
    # The CRD's CEL rules: Queue needs kueue.localQueueName and no node; Node needs node and no kueue.
    if kind == "Queue":
        if scheduling.get("node") is not None:
            raise InvalidInput("scheduling: with type Queue, 'node' must not be set")
        kueue = _fields(scheduling.get("kueue") or {}, "scheduling.kueue", _KUEUE)
        queue = _text(kueue.get("localQueueName"), "scheduling.kueue.localQueueName", required=True, length=63)
        out: dict[str, Any] = {"localQueueName": queue}
        priority = _text(kueue.get("priorityClass"), "scheduling.kueue.priorityClass", length=253)
        if priority is not None:
            out["priorityClass"] = priority
        return {"type": "Queue", "kueue": out}
    if scheduling.get("kueue") is not None:
        raise InvalidInput("scheduling: with type Node, 'kueue' must not be set")
    if scheduling.get("node") is None:
        raise InvalidInput("scheduling: with type Node, 'node' must be set (nodeSelector and/or tolerations)")
    return {"type": "Node", "node": _node(scheduling["node"])}


def validate_profile(body: Mapping[str, Any]) -> dict[str, Any]:
    """The wire shape, checked and normalized (absent optional fields as None, ``enabled`` defaulting to true);
    `InvalidInput` naming the field for anything the CRD, its CEL rules or the count ordering would refuse."""
    top = _fields(body, "hardware profile", _TOP)
    name = check_name(top.get("name"))
    identifiers = top.get("identifiers") or []
    if not isinstance(identifiers, list):
        raise InvalidInput("identifiers: must be a list")
    if len(identifiers) > _MAX_IDENTIFIERS:
        raise InvalidInput(f"identifiers: at most {_MAX_IDENTIFIERS}")
    items = [_identifier(raw, i) for i, raw in enumerate(identifiers)]
    seen: set[str] = set()
    for item in items:
        if item["identifier"] in seen:
            raise InvalidInput(f"identifiers: {item['identifier']!r} is listed twice")
        seen.add(item["identifier"])
    enabled = top.get("enabled", True)
    if not isinstance(enabled, bool):
        raise InvalidInput("enabled: must be true or false")
    return {
        "name": name,
        "displayName": _text(top.get("displayName"), "displayName") or name,
        "description": _text(top.get("description"), "description", length=_DESCRIPTION_LENGTH),
        "identifiers": items,
        "scheduling": _scheduling(top.get("scheduling")),
        "enabled": enabled,
    }


def profile_object(wire: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    """The HardwareProfile object of a validated wire shape, annotated as the dashboard expects."""
    annotations = {DISPLAY_NAME: wire["displayName"]}
    if wire.get("description"):
        annotations[DESCRIPTION] = wire["description"]
    annotations[DISABLED] = "false" if wire.get("enabled", True) else "true"
    annotations[VISIBILITY] = json.dumps([MODEL_SERVING])
    identifiers = [{k: v for k, v in item.items() if v is not None} for item in wire["identifiers"]]
    spec: dict[str, Any] = {"identifiers": identifiers}
    if wire.get("scheduling") is not None:
        spec["scheduling"] = wire["scheduling"]
    return {
        "apiVersion": HARDWARE_PROFILE.api_version,
        "kind": HARDWARE_PROFILE.kind,
        "metadata": {"name": wire["name"], "namespace": namespace, "annotations": annotations},
        "spec": spec,
    }


def wire_from_object(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A HardwareProfile object (as ``kubectl get -o yaml`` prints it) in the wire shape, unchecked: give it to
    `validate_profile`."""
    metadata = _mapping(obj.get("metadata"))
    spec = _mapping(obj.get("spec"))
    annotations = annotations_of(obj)
    return {
        "name": metadata.get("name"),
        "displayName": annotations.get(DISPLAY_NAME),
        "description": annotations.get(DESCRIPTION),
        "identifiers": spec.get("identifiers") or [],
        "scheduling": spec.get("scheduling"),
        "enabled": is_enabled(obj),
    }


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def annotations_of(obj: Mapping[str, Any]) -> dict[str, str]:
    metadata = obj.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    return {str(k): str(v) for k, v in annotations.items()} if isinstance(annotations, Mapping) else {}


def is_enabled(obj: Mapping[str, Any]) -> bool:
    return annotations_of(obj).get(DISABLED, "false").strip().lower() != "true"


def visible_for_serving(obj: Mapping[str, Any]) -> bool:
    """Whether the dashboard offers the profile for model serving: no visibility annotation (everywhere), or one
    that lists model-serving. An annotation that is not a JSON list hides it, as the dashboard's parser would."""
    raw = annotations_of(obj).get(VISIBILITY)
    if raw is None or not raw.strip():
        return True
    try:
        areas = json.loads(raw)
    except ValueError:
        return False
    return isinstance(areas, list) and (not areas or MODEL_SERVING in areas)
