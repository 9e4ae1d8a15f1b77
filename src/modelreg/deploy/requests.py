"""What a deploy is asked to do: `DeployRequest` (the REST body, the CLI options, the UI wizard), `DeployChanges`
(an edit) and `CatalogModelRef` (a catalog model, handed over by the app since deploy cannot import the catalog).

A deployment row keeps its request in wire names (``deployments.request``), resolved: the connection, runtime,
name and display name the plan chose, so an edit or a re-render builds the same objects again."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from modelreg.errors import InvalidInput

ModelType = Literal["generative", "predictive"]
MAX_REPLICAS = 99  # the dashboard's NumReplicasField
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class CatalogModelRef:
    """A catalog model as the deploy needs it."""

    source_id: str
    name: str
    description: str | None
    uri: str | None  # its first model artifact's
    model_format_name: str | None = None
    model_format_version: str | None = None


CatalogLookup = Callable[[str, str], CatalogModelRef | None]


@dataclass(frozen=True, slots=True)
class DeployRequest:
    """What the REST body, the CLI options and the UI wizard give. Exactly one of ``model_version_id`` and
    (``catalog_source``, ``catalog_model``) names the model."""

    namespace: str
    hardware_profile: str
    model_version_id: str | None = None
    catalog_source: str | None = None
    catalog_model: str | None = None
    connection: str | None = None  # default: the artifact's storageKey, else the only matching connection
    runtime: str | None = None  # default: the only runtime matching the model format and the profile's accelerator
    name: str | None = None  # default: from the display name
    display_name: str | None = None  # default: "<model> - <version>"
    description: str | None = None
    replicas: int = 1
    external_route: bool = False
    token_auth: bool = False
    model_type: ModelType | None = None
    resources: dict[str, str] = field(default_factory=dict)  # identifier → count, within the profile's bounds
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()

    def check(self) -> None:
        """The rules that need nothing but the request (400 naming the field)."""
        from_registry = self.model_version_id is not None
        from_catalog = self.catalog_source is not None or self.catalog_model is not None
        if from_registry == from_catalog:
            raise InvalidInput("name the model with modelVersionId, or with catalogSource and catalogModel")
        if from_catalog and not (self.catalog_source and self.catalog_model):
            raise InvalidInput("a catalog model needs both catalogSource and catalogModel")
        if not 1 <= self.replicas <= MAX_REPLICAS:
            raise InvalidInput(f"invalid replicas {self.replicas}: 1 to {MAX_REPLICAS}")
        for key, _ in self.env:
            if not _ENV_NAME.match(key):
                raise InvalidInput(f"invalid environment variable name {key[:100]!r}: letters, digits and '_'")

    def to_wire(self) -> dict[str, Any]:
        """The stored form (camelCase, as the REST body); empty values left out."""
        out: dict[str, Any] = {
            "namespace": self.namespace,
            "hardwareProfile": self.hardware_profile,
            "replicas": self.replicas,
            "externalRoute": self.external_route,
            "tokenAuth": self.token_auth,
        }
        for key, value in (
            ("modelVersionId", self.model_version_id),
            ("catalogSource", self.catalog_source),
            ("catalogModel", self.catalog_model),
            ("connection", self.connection),
            ("runtime", self.runtime),
            ("name", self.name),
            ("displayName", self.display_name),
            ("description", self.description),
            ("modelType", self.model_type),
        ):
            if value is not None:
                out[key] = value
        if self.resources:
            out["resources"] = dict(self.resources)
        if self.args:
            out["args"] = list(self.args)
        if self.env:
            out["env"] = [{"name": k, "value": v} for k, v in self.env]
        return out

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> DeployRequest:
        def text(key: str) -> str | None:
            value = data.get(key)
            return None if value is None else str(value)

        return cls(
            namespace=str(data["namespace"]),
            hardware_profile=str(data["hardwareProfile"]),
            model_version_id=text("modelVersionId"),
            catalog_source=text("catalogSource"),
            catalog_model=text("catalogModel"),
            connection=text("connection"),
            runtime=text("runtime"),
            name=text("name"),
            display_name=text("displayName"),
            description=text("description"),
            replicas=int(data.get("replicas", 1)),
            external_route=bool(data.get("externalRoute")),
            token_auth=bool(data.get("tokenAuth")),
            model_type=cast(ModelType | None, data.get("modelType")),
            resources={str(k): str(v) for k, v in (data.get("resources") or {}).items()},
            args=tuple(str(a) for a in data.get("args") or ()),
            env=tuple((str(e["name"]), str(e["value"])) for e in data.get("env") or ()),
        )


@dataclass(frozen=True, slots=True)
class DeployChanges:
    """An edit: each field given replaces the deployment's; None leaves it as it is."""

    replicas: int | None = None
    hardware_profile: str | None = None
    resources: dict[str, str] | None = None
    args: tuple[str, ...] | None = None
    env: tuple[tuple[str, str], ...] | None = None
    external_route: bool | None = None
    token_auth: bool | None = None
    display_name: str | None = None
    description: str | None = None

    def apply_to(self, request: DeployRequest) -> DeployRequest:
        given = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None}
        if "hardware_profile" in given and "resources" not in given:
            given["resources"] = {}  # another profile: its defaults, not the old profile's counts
        return dataclasses.replace(request, **given)


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Wire key → (before, after) for every key whose value differs."""
    keys = sorted(set(before) | set(after))
    return {k: (before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)}
