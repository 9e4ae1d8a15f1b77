"""The plain shapes every kube module shares: objects are JSON dicts, label selectors are mappings, a watch yields
`WatchEvent`s. Label selectors are matched here as well as sent, because not every API server (nor every fake of
one) filters watches."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]
# A label selector: key → value for equality, None for "exists".
Labels = Mapping[str, str | None]


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: str  # ADDED | MODIFIED | DELETED | BOOKMARK
    object: Json


def label_selector(labels: Labels) -> str:
    """The ``labelSelector`` query value: ``key=value`` for equality, ``key`` for existence."""
    return ",".join(key if value is None else f"{key}={value}" for key, value in labels.items())


def labels_match(labels: Labels | None, obj: Mapping[str, Any]) -> bool:
    if not labels:
        return True
    found = (obj.get("metadata") or {}).get("labels") or {}
    return all(key in found if value is None else found.get(key) == value for key, value in labels.items())


def object_ref(obj: Mapping[str, Any]) -> tuple[str | None, str]:
    """(namespace, name) of an object; name "" when it has none."""
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or None, str(meta.get("name") or "")


def resource_version(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def version_number(obj: Mapping[str, Any]) -> int:
    """The object's resourceVersion as a number, to tell the newer of two copies of one object."""
    return revision(resource_version(obj))


def revision(version: str | None) -> int:
    """A resourceVersion as a number: the API server's are etcd revisions; anything else counts as 0."""
    return int(version) if version and version.isdigit() else 0
