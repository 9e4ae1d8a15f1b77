"""What a deployment is made with: hardware profiles, serving-runtime templates and data connections.

With a cluster, profiles (`infrastructure.opendatahub.io/v1` HardwareProfiles in ``deploy.platform_namespace``,
those visible to model serving and not disabled) and runtime templates (OpenShift Templates wrapping a
ServingRuntime, in the same namespace) are read from it, and a namespace's connection Secrets (label
``opendatahub.io/dashboard``) are offered beside modelreg's own data connections. Without one, modelreg keeps its
own profiles and runtimes (table ``deploy_targets``, admins manage them), and offers its data connections.
Each shape keeps the Kubernetes object it stands for (``body``), so both origins build the same objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Origin = Literal["modelreg", "cluster"]
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

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class ModelFormat:
    name: str
    version: str | None
    auto_select: bool


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

    def supports(self, format_name: str, format_version: str | None = None) -> bool:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class ConnectionTarget:
    """A data connection to deploy with: modelreg's own (its Secret is created in the namespace when missing), or
    a connection Secret already in the namespace."""

    name: str
    display_name: str
    type: Literal["s3", "uri", "oci"]
    origin: Origin
    in_namespace: bool  # a Secret of this name is already in the target namespace
    bucket: str | None = None
    endpoint: str | None = None
    region: str | None = None
    uri: str | None = None

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError


class TargetService:
    """Profiles, runtimes and connections for the deploy wizard, the REST API and the CLI."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError
