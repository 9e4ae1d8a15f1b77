"""``/hardware-profiles``, ``/runtimes`` and ``/connections``: what a deployment is made with. Everyone with
``read`` lists them; admins (``manage``) create, replace and delete modelreg's own profiles and runtimes (refused
with 409 while modelreg is connected to a cluster, whose own are used). Connections never carry credentials."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from starlette.responses import Response

from modelreg.api.governance.common import requires
from modelreg.api.registry.common import ERRORS, json_response
from modelreg.auth.principal import Permission
from modelreg.deploy.targets import TargetService

router = APIRouter(responses={**ERRORS, 403: {"model": None, "description": "Forbidden"}})
READ = requires(Permission.READ, "read deployment targets")
MANAGE = requires(Permission.MANAGE, "manage deployment targets")
TargetName = Annotated[str, Path(min_length=1, max_length=253, description="The profile's or runtime's name.")]
Count = StrictInt | StrictStr


async def _targets(request: Request) -> TargetService:
    targets: TargetService = request.app.state.deploy_targets
    return targets


TargetsDep = Annotated[TargetService, Depends(_targets)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, hide_input_in_errors=True)


class Identifier(_Strict):
    identifier: str = Field(min_length=1, max_length=253, examples=["nvidia.com/gpu"])
    displayName: str = Field(min_length=1, max_length=255)
    resourceType: Literal["CPU", "Memory", "Accelerator"] | None = None
    minCount: Count = Field(description="An integer or a quantity (4Gi, 500m).")
    maxCount: Count | None = None
    defaultCount: Count


class Toleration(_Strict):
    key: str | None = Field(default=None, max_length=316)
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = Field(default=None, max_length=316)
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    tolerationSeconds: int | None = None


class NodeScheduling(_Strict):
    nodeSelector: dict[str, str] | None = Field(default=None, max_length=64)
    tolerations: list[Toleration] | None = Field(default=None, max_length=64)


class KueueScheduling(_Strict):
    localQueueName: str = Field(min_length=1, max_length=63)
    priorityClass: str | None = Field(default=None, max_length=253)


class Scheduling(_Strict):
    type: Literal["Node", "Queue"]
    node: NodeScheduling | None = None
    kueue: KueueScheduling | None = None


class _ProfileFields(_Strict):
    displayName: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=1000)
    identifiers: list[Identifier] = Field(default_factory=list, max_length=32)
    scheduling: Scheduling | None = None
    enabled: bool = True


class ProfileBody(_ProfileFields):
    """A hardware profile, as the HardwareProfile CRD has it, with display name, description and enabled flag
    (kept in the dashboard's annotations)."""

    name: str = Field(min_length=1, max_length=253)


class ProfileUpdate(_ProfileFields):
    """The whole profile again; its name, when given, must be the path's (profiles are not renamed)."""

    name: str | None = Field(default=None, min_length=1, max_length=253)


class RuntimeBody(_Strict):
    """A ServingRuntime (serving.kserve.io/v1alpha1), or an OpenShift Template whose first object is one."""

    apiVersion: str = Field(max_length=253)
    kind: Literal["ServingRuntime", "Template"]
    metadata: dict[str, Any]
    spec: dict[str, Any] | None = None  # ServingRuntime
    objects: list[dict[str, Any]] | None = Field(default=None, max_length=16)  # Template
    parameters: list[dict[str, Any]] | None = Field(default=None, max_length=64)  # Template
    labels: dict[str, str] | None = None  # Template
    message: str | None = Field(default=None, max_length=4096)  # Template


def _profile_dict(body: _ProfileFields) -> dict[str, Any]:
    return body.model_dump(exclude_none=True)


# --- hardware profiles ---------------------------------------------------------------------------------------------


@router.get("/hardware-profiles", tags=["Deploy targets"], dependencies=[READ])
def list_profiles(
    targets: TargetsDep,
    includeDisabled: Annotated[bool, Query(description="Also the disabled ones.")] = False,
) -> Response:
    return json_response({"items": [p.to_dict() for p in targets.profiles(include_disabled=includeDisabled)]})


@router.post("/hardware-profiles", status_code=201, tags=["Deploy targets"], dependencies=[MANAGE])
def create_profile(targets: TargetsDep, body: ProfileBody) -> Response:
    return json_response(targets.create_profile(_profile_dict(body)).to_dict(), 201)


@router.get("/hardware-profiles/{name}", tags=["Deploy targets"], dependencies=[READ])
def get_profile(targets: TargetsDep, name: TargetName) -> Response:
    return json_response(targets.profile(name, include_disabled=True).to_dict())


@router.put("/hardware-profiles/{name}", tags=["Deploy targets"], dependencies=[MANAGE])
def replace_profile(targets: TargetsDep, name: TargetName, body: ProfileUpdate) -> Response:
    return json_response(targets.update_profile(name, _profile_dict(body)).to_dict())


@router.delete("/hardware-profiles/{name}", tags=["Deploy targets"], dependencies=[MANAGE])
def delete_profile(targets: TargetsDep, name: TargetName) -> Response:
    return json_response(targets.delete_profile(name).to_dict())


# --- serving runtimes ----------------------------------------------------------------------------------------------


@router.get("/runtimes", tags=["Deploy targets"], dependencies=[READ])
def list_runtimes(targets: TargetsDep) -> Response:
    return json_response({"items": [r.to_dict() for r in targets.runtimes()]})


@router.post("/runtimes", status_code=201, tags=["Deploy targets"], dependencies=[MANAGE])
def create_runtime(targets: TargetsDep, body: RuntimeBody) -> Response:
    return json_response(targets.create_runtime(body.model_dump(exclude_none=True)).to_dict(), 201)


@router.get("/runtimes/{name}", tags=["Deploy targets"], dependencies=[READ])
def get_runtime(targets: TargetsDep, name: TargetName) -> Response:
    return json_response(targets.runtime(name).to_dict())


@router.put("/runtimes/{name}", tags=["Deploy targets"], dependencies=[MANAGE])
def replace_runtime(targets: TargetsDep, name: TargetName, body: RuntimeBody) -> Response:
    return json_response(targets.update_runtime(name, body.model_dump(exclude_none=True)).to_dict())


@router.delete("/runtimes/{name}", tags=["Deploy targets"], dependencies=[MANAGE])
def delete_runtime(targets: TargetsDep, name: TargetName) -> Response:
    return json_response(targets.delete_runtime(name).to_dict())


# --- data connections ----------------------------------------------------------------------------------------------


@router.get("/connections", tags=["Deploy targets"], dependencies=[READ])
def list_connections(
    targets: TargetsDep,
    namespace: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=63,
            pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
            description="Say which connections already have their Secret there, and add that namespace's own.",
        ),
    ] = None,
) -> Response:
    return json_response({"items": [c.to_dict() for c in targets.connections(namespace)]})
