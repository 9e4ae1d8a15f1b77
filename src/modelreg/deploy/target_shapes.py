"""The shapes a deployment is made with, as read from their Kubernetes objects (modelreg's own or the cluster's):
`HardwareProfile` and its `ResourceIdentifier`s, `RuntimeTemplate` and its `ModelFormat`s, and the dashboard's
runtime suggestion. Pure: `objects` builds from them without the database or the cluster that `targets` reads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from modelreg.deploy import profile_spec, runtime_spec
from modelreg.deploy.connection_targets import Origin
from modelreg.deploy.quantity import InvalidQuantity, parse_quantity

ResourceType = Literal["CPU", "Memory", "Accelerator"]


@dataclass(frozen=True, slots=True)
class ResourceIdentifier:
    """One resource of a hardware profile (``spec.identifiers[]``); counts are ints or quantities ("4Gi")."""

    identifier: str  # cpu | memory | nvidia.com/gpu | ...
    display_name: str
    resource_type: ResourceType | None
    min_count: int | str
    max_count: int | str | None
    default_count: int | str

    def allows(self, count: int | str) -> bool:
        """Whether ``count`` is a quantity within [min, max] (compared as numbers: "1024Mi" is "1Gi")."""
        try:
            value = parse_quantity(count)
            low = parse_quantity(self.min_count)
            high: Decimal | None = None if self.max_count is None else parse_quantity(self.max_count)
        except InvalidQuantity:
            return False
        return low <= value and (high is None or value <= high)

    def to_dict(self) -> dict[str, Any]:
        return {
            "identifier": self.identifier,
            "displayName": self.display_name,
            "resourceType": self.resource_type,
            "minCount": self.min_count,
            "maxCount": self.max_count,
            "defaultCount": self.default_count,
        }


@dataclass(frozen=True, slots=True)
class HardwareProfile:
    name: str
    display_name: str
    description: str | None
    identifiers: tuple[ResourceIdentifier, ...]
    # ``spec.scheduling`` as Kubernetes has it: {"type": "Node", "node": {"nodeSelector", "tolerations"}} or
    # {"type": "Queue", "kueue": {"localQueueName", "priorityClass"}}; None: no scheduling rules
    scheduling: dict[str, Any] | None
    namespace: str  # where it lives (the annotation opendatahub.io/hardware-profile-namespace)
    resource_version: str | None  # cluster profiles only
    enabled: bool
    origin: Origin
    body: dict[str, Any] = field(repr=False)  # the HardwareProfile object

    @property
    def accelerators(self) -> tuple[str, ...]:
        return tuple(i.identifier for i in self.identifiers if i.resource_type == "Accelerator")

    @classmethod
    def from_object(cls, obj: Mapping[str, Any], origin: Origin, namespace: str | None = None) -> HardwareProfile:
        """A HardwareProfile object as stored or as the cluster has it (read leniently: identifiers without an
        identifier or counts are skipped, a scheduling that is no object is none)."""
        metadata = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        annotations = profile_spec.annotations_of(obj)
        name = str(metadata.get("name", ""))
        identifiers = []
        for item in spec.get("identifiers") or ():
            if not isinstance(item, Mapping) or not item.get("identifier") or item.get("minCount") is None:
                continue
            resource_type = item.get("resourceType")
            identifiers.append(
                ResourceIdentifier(
                    identifier=str(item["identifier"]),
                    display_name=str(item.get("displayName") or item["identifier"]),
                    resource_type=resource_type if resource_type in profile_spec.RESOURCE_TYPES else None,
                    min_count=item["minCount"],
                    max_count=item.get("maxCount"),
                    default_count=item.get("defaultCount", item["minCount"]),
                )
            )
        scheduling = spec.get("scheduling")
        return cls(
            name=name,
            display_name=annotations.get(profile_spec.DISPLAY_NAME) or str(spec.get("displayName") or name),
            description=annotations.get(profile_spec.DESCRIPTION) or None,
            identifiers=tuple(identifiers),
            scheduling=dict(scheduling) if isinstance(scheduling, Mapping) else None,
            namespace=namespace or str(metadata.get("namespace") or ""),
            resource_version=metadata.get("resourceVersion") if origin == "cluster" else None,
            enabled=profile_spec.is_enabled(obj) and spec.get("enabled") is not False,
            origin=origin,
            body=dict(obj),
        )

    def identifier(self, name: str) -> ResourceIdentifier | None:
        return next((i for i in self.identifiers if i.identifier == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "displayName": self.display_name,
            "description": self.description,
            "identifiers": [i.to_dict() for i in self.identifiers],
            "scheduling": self.scheduling,
            "enabled": self.enabled,
            "namespace": self.namespace,
            "resourceVersion": self.resource_version,
            "origin": self.origin,
        }

    def wire(self) -> dict[str, Any]:
        """The writable fields (what create and update take)."""
        out = self.to_dict()
        for key in ("namespace", "resourceVersion", "origin"):
            out.pop(key)
        return out


@dataclass(frozen=True, slots=True)
class ModelFormat:
    name: str
    version: str | None
    auto_select: bool

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "autoSelect": self.auto_select}


@dataclass(frozen=True, slots=True)
class RuntimeTemplate:
    """A serving-runtime template: ``name`` is the ServingRuntime's name (``vllm-cuda-runtime``), ``template_name``
    the Template's (``vllm-cuda-runtime-template``), ``serving_runtime`` the ServingRuntime object to copy."""

    name: str
    template_name: str
    display_name: str
    description: str | None
    model_formats: tuple[ModelFormat, ...]
    accelerators: tuple[str, ...]  # opendatahub.io/recommended-accelerators
    model_types: tuple[str, ...]  # opendatahub.io/model-type: generative | predictive
    scope: Literal["global", "project"]
    origin: Origin
    serving_runtime: dict[str, Any] = field(repr=False)

    @classmethod
    def from_template(cls, template: Mapping[str, Any], origin: Origin) -> RuntimeTemplate | None:
        """The runtime a Template wraps; None when its first object is no ServingRuntime."""
        sr = runtime_spec.serving_runtime_of(template)
        if sr is None:
            return None
        metadata = template.get("metadata") or {}
        return cls._of(sr, str(metadata.get("name") or sr["metadata"]["name"]), template, origin)

    @classmethod
    def from_serving_runtime(cls, sr: Mapping[str, Any], origin: Origin) -> RuntimeTemplate:
        """A ServingRuntime read directly (a cluster that serves no Templates): its own template."""
        return cls._of(sr, str(sr["metadata"]["name"]), sr, origin)

    @classmethod
    def _of(
        cls, sr: Mapping[str, Any], template_name: str, template: Mapping[str, Any], origin: Origin
    ) -> RuntimeTemplate:
        on_runtime = profile_spec.annotations_of(sr)
        on_template = profile_spec.annotations_of(template)
        name = str(sr["metadata"]["name"])
        formats = []
        for fmt in (sr.get("spec") or {}).get("supportedModelFormats") or ():
            if isinstance(fmt, Mapping) and fmt.get("name"):
                version = fmt.get("version")
                formats.append(
                    ModelFormat(
                        str(fmt["name"]), None if version is None else str(version), bool(fmt.get("autoSelect"))
                    )
                )
        accelerators = on_runtime.get(runtime_spec.ACCELERATORS) or on_template.get(runtime_spec.ACCELERATORS)
        model_types = on_template.get(runtime_spec.MODEL_TYPE) or on_runtime.get(runtime_spec.MODEL_TYPE)
        description = on_template.get(runtime_spec.DESCRIPTION) or on_template.get("description")
        return cls(
            name=name,
            template_name=template_name,
            display_name=on_runtime.get(runtime_spec.DISPLAY_NAME)
            or on_template.get(runtime_spec.DISPLAY_NAME)
            or name,
            description=description or None,
            model_formats=tuple(formats),
            accelerators=runtime_spec.json_list(accelerators),
            model_types=runtime_spec.json_list(model_types),
            scope="global",
            origin=origin,
            serving_runtime=dict(sr),
        )

    def supports(self, format_name: str, format_version: str | None = None) -> bool:
        """Whether the runtime serves this model format: names compared without case (vLLM, vllm); a version is
        compared only when both sides have one."""
        wanted = format_name.strip().lower()
        return any(
            f.name.lower() == wanted and (format_version is None or f.version is None or f.version == format_version)
            for f in self.model_formats
        )

    def compatible_with(self, accelerators: Sequence[str]) -> bool:
        """The dashboard's hardware-profile compatibility: a profile's accelerator must be one the runtime
        recommends; a profile without accelerators goes with runtimes that recommend none."""
        if not accelerators:
            return not self.accelerators
        return any(a in self.accelerators for a in accelerators)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "templateName": self.template_name,
            "displayName": self.display_name,
            "description": self.description,
            "modelFormats": [f.to_dict() for f in self.model_formats],
            "accelerators": list(self.accelerators),
            "modelTypes": list(self.model_types),
            "scope": self.scope,
            "origin": self.origin,
            "servingRuntime": self.serving_runtime,
        }


def suggest_runtime(
    runtimes: Iterable[RuntimeTemplate], format_name: str, format_version: str | None, accelerators: Sequence[str]
) -> RuntimeTemplate | None:
    """The dashboard's auto-selection: the one runtime that serves the model format and suits the profile's
    accelerators; None when there are none or several (the user chooses)."""
    fits = [r for r in runtimes if r.supports(format_name, format_version) and r.compatible_with(accelerators)]
    return fits[0] if len(fits) == 1 else None
