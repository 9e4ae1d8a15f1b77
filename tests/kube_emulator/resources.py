"""Which resources the emulated API server serves: the core kinds modelreg uses (always), OpenShift's templates
(unless ``openshift=False``) and one entry per served version of every installed CustomResourceDefinition. A
kind whose CRD is not installed is neither discoverable nor reachable (404), as on a cluster without KServe."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True, slots=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    status: bool = False  # a status subresource: the main endpoint ignores .status, /status changes only it

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str]:
        """What objects are stored under: the same object whichever served version is asked."""
        return self.group, self.plural

    @property
    def qualified(self) -> str:
        """``plural.group`` as the API server names a resource in its messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def discovery(self) -> list[dict[str, Any]]:
        entry = {
            "name": self.plural,
            "singularName": self.kind.lower(),
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": VERBS,
        }
        status = {**entry, "name": f"{self.plural}/status", "verbs": ["get", "patch", "update"]}
        return [entry, status] if self.status else [entry]


CORE = (
    ResourceType("", "v1", "namespaces", "Namespace", namespaced=False, status=True),
    ResourceType("", "v1", "secrets", "Secret", namespaced=True),
    ResourceType("", "v1", "configmaps", "ConfigMap", namespaced=True),
    ResourceType("", "v1", "serviceaccounts", "ServiceAccount", namespaced=True),
    ResourceType("", "v1", "pods", "Pod", namespaced=True, status=True),
    ResourceType("", "v1", "services", "Service", namespaced=True, status=True),
    ResourceType("batch", "v1", "jobs", "Job", namespaced=True, status=True),
    ResourceType("rbac.authorization.k8s.io", "v1", "roles", "Role", namespaced=True),
    ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", namespaced=True),
    ResourceType(
        "apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False, status=True
    ),
)
CRDS = CORE[-1]
NAMESPACES = CORE[0]
SECRETS = CORE[1]
OPENSHIFT = (ResourceType("template.openshift.io", "v1", "templates", "Template", namespaced=True),)


def from_crd(crd: Mapping[str, Any]) -> list[ResourceType]:
    """One resource type per served version of a CustomResourceDefinition."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    found = []
    for version in spec.get("versions") or []:
        if version.get("served", True):
            found.append(
                ResourceType(
                    group=str(spec.get("group")),
                    version=str(version.get("name")),
                    plural=str(names.get("plural")),
                    kind=str(names.get("kind")),
                    namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                    status="status" in (version.get("subresources") or {}),
                )
            )
    return found


class Registry:
    def __init__(self, openshift: bool = True) -> None:
        self._fixed = CORE + (OPENSHIFT if openshift else ())
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        self.refresh(())

    def refresh(self, crds: Iterable[Mapping[str, Any]]) -> None:
        """Serve the fixed kinds plus every version of the given CRDs."""
        types = list(self._fixed)
        for crd in crds:
            types += from_crd(crd)
        self._types = {(t.group, t.version, t.plural): t for t in types}

    def find(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def all(self) -> list[ResourceType]:
        return list(self._types.values())

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [t for t in self._types.values() if t.group == group and t.version == version]

    def groups(self) -> dict[str, list[str]]:
        """Named groups (not the core one) and their versions, in the order they were first served."""
        found: dict[str, list[str]] = {}
        for t in self._types.values():
            if t.group and t.version not in found.setdefault(t.group, []):
                found[t.group].append(t.version)
        return found

    def for_object(self, obj: Mapping[str, Any]) -> ResourceType:
        """The served type of an object, by its apiVersion and kind."""
        group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
        for t in self._types.values():
            if (t.group, t.version, t.kind) == (group, version, obj.get("kind")):
                return t
        raise KeyError(f"not a served kind: {obj.get('apiVersion')} {obj.get('kind')}")

    def lookup(self, spec: Any) -> ResourceType:
        """A served type from a `modelreg.kube.kinds.Kind`, ``"plural"`` or ``"plural.group"``."""
        if hasattr(spec, "plural") and hasattr(spec, "api_version"):
            group, _, version = str(spec.api_version).rpartition("/")
            found = self.find(group, version, spec.plural)
            if found is None:  # not served: still allow reading what a test put there
                found = ResourceType(group, version, spec.plural, spec.kind, bool(spec.namespaced))
            return found
        plural, _, group = str(spec).partition(".")
        matches = [t for t in self._types.values() if t.plural == plural and (not group or t.group == group)]
        if not matches:
            raise KeyError(f"no served resource {spec!r}")
        return matches[0]
