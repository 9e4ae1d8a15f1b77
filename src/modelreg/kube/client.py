"""`Kube`: the one Kubernetes client of the process, lightkube underneath, plain dicts in and out.

Configuration (``kubernetes`` settings, `from_settings`): in-cluster service account, a kubeconfig file and
context, or an API URL with a bearer token; none → no client. Every call has the configured timeout (watches
excepted, which are long-lived and resumed), lightkube's errors become `kube.errors`, and objects are written with
server-side apply under one field manager, so modelreg owns exactly the fields it sets.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from modelreg.kube.kinds import Kind
from modelreg.settings import ClusterSettings

Json = dict[str, Any]
# A label selector: key → value for equality, None for "exists".
Labels = Mapping[str, str | None]


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: str  # ADDED | MODIFIED | DELETED | BOOKMARK
    object: Json


class Kube:
    """One API server. Thread-safe: lightkube's sync client (httpx) is shared by the threads of the process."""

    def __init__(self, settings: ClusterSettings, *, field_manager: str = "modelreg") -> None:
        raise NotImplementedError

    @classmethod
    def from_settings(cls, settings: ClusterSettings, *, field_manager: str = "modelreg") -> Kube | None:
        """The client the settings describe, or None when they resolve to no cluster."""
        raise NotImplementedError

    def describe(self) -> str:
        """Where this client points, for logs and status pages: "https://… (in-cluster)"; no credential."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    # --- reads -------------------------------------------------------------------------------------------------

    def get(self, kind: Kind, name: str, namespace: str | None = None) -> Json | None:
        """The object, or None when it does not exist."""
        raise NotImplementedError

    def list(self, kind: Kind, namespace: str | None = None, labels: Labels | None = None) -> tuple[list[Json], str]:
        """Every object (all namespaces when ``namespace`` is None; paginated underneath) and the list's
        resourceVersion, to watch from. Label selectors are applied by the server and again here."""
        raise NotImplementedError

    def watch(
        self,
        kind: Kind,
        namespace: str | None = None,
        labels: Labels | None = None,
        resource_version: str | None = None,
        timeout_seconds: int | None = None,
    ) -> Iterator[WatchEvent]:
        """Changes after ``resource_version``; ends when the server closes the stream (the caller re-lists or
        resumes). Label selectors are applied here too (not every server filters watches)."""
        raise NotImplementedError

    def served(self, kind: Kind) -> bool:
        """Whether the API server serves this kind (discovery; cached): False when its CRD is not installed."""
        raise NotImplementedError

    def crd(self, kind: Kind) -> Json | None:
        """The kind's CustomResourceDefinition object, or None (not a custom kind, not installed, not readable)."""
        raise NotImplementedError

    # --- writes ------------------------------------------------------------------------------------------------

    def create(self, obj: Mapping[str, Any]) -> Json:
        """Create; `AlreadyExists` when it does."""
        raise NotImplementedError

    def apply(self, obj: Mapping[str, Any], *, force: bool = True) -> Json:
        """Server-side apply under the field manager; returns the object as stored (uid, resourceVersion)."""
        raise NotImplementedError

    def patch(self, kind: Kind, name: str, namespace: str | None, patch: Mapping[str, Any] | list[Any]) -> Json:
        """A merge patch (dict) or a JSON patch (list)."""
        raise NotImplementedError

    def delete(self, kind: Kind, name: str, namespace: str | None = None) -> bool:
        """Delete (background propagation, so owned objects are collected); False when it was already gone."""
        raise NotImplementedError
