"""Object-level rules of the API server that kmock does not have, as pure functions over JSON dicts: merge and
JSON patches, server-side apply's field ownership, Secret ``stringData``, and the admission checks that catch a
client's mistakes early (names, labels, annotations, base64). Stored objects are never modified in place: every
function here returns new dicts along the paths it changes."""

from __future__ import annotations

import base64
import binascii
import copy
import re
from collections.abc import Iterator, Mapping
from typing import Any

import jsonpatch
from kmock import KubernetesError

Json = dict[str, Any]
Path = tuple[str, ...]

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
# metadata a client may own with server-side apply; the rest is the server's or identifies the object
_OWNABLE_METADATA = ("labels", "annotations", "ownerReferences", "finalizers")


def failure(code: int, reason: str, message: str, **details: Any) -> KubernetesError:
    """A Kubernetes ``Status`` error (kmock renders it as the API server does)."""
    return KubernetesError(status=code, reason=reason, message=message, details=details)


# --- patches -----------------------------------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, null deletes, everything else (lists too) replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: Json, operations: list[Any]) -> Json:
    try:
        patched = jsonpatch.apply_patch(copy.deepcopy(target), operations)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError) as exc:
        raise failure(422, "Invalid", f"the JSON patch cannot be applied: {exc}") from None
    if not isinstance(patched, dict):
        raise failure(422, "Invalid", "the JSON patch does not leave an object")
    return patched


# --- server-side apply --------------------------------------------------------------------------------------------


def owned_paths(config: Mapping[str, Any]) -> frozenset[Path]:
    """The leaf fields an applied configuration sets (lists are atomic), which its field manager then owns."""
    return frozenset(_leaves(config, ()))


def _leaves(value: Mapping[str, Any], prefix: Path) -> Iterator[Path]:
    for key, item in value.items():
        if not prefix and key in ("apiVersion", "kind"):
            continue
        if prefix == ("metadata",) and key not in _OWNABLE_METADATA:
            continue
        path = (*prefix, key)
        if isinstance(item, dict) and item:
            yield from _leaves(item, path)
        else:
            yield path


def without(obj: Json, path: Path) -> Json:
    """The object without one field; parent maps left empty by it go too."""
    head, *rest = path
    if head not in obj:
        return obj
    result = dict(obj)
    if not rest:
        del result[head]
        return result
    child = result[head]
    if not isinstance(child, dict):
        return obj
    pruned = without(child, tuple(rest))
    if pruned or head == "metadata":
        result[head] = pruned
    else:
        del result[head]
    return result


def apply_config(current: Json, config: Json, mine_before: frozenset[Path], others: frozenset[Path]) -> Json:
    """Server-side apply for one manager: merge its configuration, then drop the fields it set last time and
    no longer sets, unless another applier owns them. An empty map is a leaf of its own (`owned_paths`), so one
    that now has fields set beneath it, by this applier or another, stays (``data: {}`` then ``data: {k: v}``
    keeps ``data``)."""
    kept = owned_paths(config) | others
    result: Json = merge_patch(current, config)
    for path in sorted(mine_before - kept, reverse=True):
        if not any(other[: len(path)] == path for other in kept):
            result = without(result, path)
    return result


# --- admission ----------------------------------------------------------------------------------------------------


def check_name(name: str, what: str) -> None:
    if not _NAME.match(name) or len(name) > 253:
        raise failure(
            422,
            "Invalid",
            f'{what} "{name}" is invalid: metadata.name: Invalid value: "{name}": a lowercase RFC 1123 subdomain '
            "must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an "
            "alphanumeric character",
        )


def check_metadata(meta: Mapping[str, Any], what: str) -> None:
    """Labels: valid qualified keys and values (strings of at most 63 characters); annotations: strings."""
    for key, value in (meta.get("labels") or {}).items():
        if not isinstance(value, str):
            raise failure(400, "BadRequest", f"{what}: metadata.labels[{key}] must be a string, not {value!r}")
        if not _qualified(key) or not _LABEL_VALUE.match(value):
            raise failure(422, "Invalid", f"{what}: metadata.labels: Invalid value: {key}={value!r}")
    for key, value in (meta.get("annotations") or {}).items():
        if not isinstance(value, str):
            raise failure(400, "BadRequest", f"{what}: metadata.annotations[{key}] must be a string, not {value!r}")
        if not _qualified(key):
            raise failure(422, "Invalid", f"{what}: metadata.annotations: Invalid key: {key!r}")


def _qualified(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    return bool(_LABEL_NAME.match(name)) and (not prefix or (len(prefix) <= 253 and bool(_PREFIX.match(prefix))))


def normalize_secret(obj: Json, what: str) -> Json:
    """``stringData`` merged into ``data`` as base64 (and dropped), every ``data`` value checked, type defaulted."""
    result = dict(obj)
    data = dict(result.get("data") or {})
    for key, value in (result.pop("stringData", None) or {}).items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    for key, value in data.items():
        try:
            base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            raise failure(400, "BadRequest", f"{what}: data[{key}]: illegal base64 data") from None
    if data:
        result["data"] = data
    result.setdefault("type", "Opaque")
    return result


def spec_changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """What bumps metadata.generation: anything outside metadata and status."""
    ignored = ("metadata", "status")
    return {k: v for k, v in before.items() if k not in ignored} != {k: v for k, v in after.items() if k not in ignored}
