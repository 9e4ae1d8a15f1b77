"""``/deployments``: deploy (apply, GitOps, dry run), list, get, edit, stop, start, undeploy, history; and a model
version's deployments and history. The service decides everything (permission, policy, bounds); these handlers
parse strict bodies and write the wire shapes. Secret values never appear in an answer."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from modelreg.api.governance.common import requires
from modelreg.api.registry.common import ERRORS, PathId, json_response
from modelreg.auth.principal import Permission
from modelreg.db.repository import MAX_ID
from modelreg.deploy.history import Event
from modelreg.deploy.requests import MAX_REPLICAS, DeployChanges, DeployRequest
from modelreg.deploy.service import DeployService, Mode
from modelreg.deploy.store import DESIRED_STATES, Deployment
from modelreg.deploy.watcher import StatusWatcher
from modelreg.errors import NotFound
from modelreg.services import entities as e
from modelreg.services.entities import parse_id

router = APIRouter(responses={**ERRORS, 403: {"model": None, "description": "Forbidden"}})
READ = requires(Permission.READ, "read deployments")
DEPLOY = requires(Permission.DEPLOY, "deploy models")
_MODES: dict[str, Mode] = {"apply": "apply", "gitops": "gitops", "dryRun": "dry_run"}


async def _service(request: Request) -> DeployService:
    service: DeployService | None = request.app.state.deploy
    if service is None:
        raise NotFound("deploying is turned off on this server (deploy.enabled)")
    return service


DeployDep = Annotated[DeployService, Depends(_service)]
Name = Annotated[str | None, Field(min_length=1, max_length=255)]


class EnvVar(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, hide_input_in_errors=True)
    name: str = Field(min_length=1, max_length=253)
    value: str = Field(max_length=32768)


class _Settings(BaseModel):
    """What a deploy and an edit share."""

    model_config = ConfigDict(extra="forbid", strict=True, hide_input_in_errors=True)
    displayName: Name = None
    description: str | None = Field(default=None, max_length=1000)
    externalRoute: bool | None = None
    tokenAuth: bool | None = None
    resources: dict[str, str | int] | None = Field(
        default=None, max_length=16, description="Identifier → count (e.g. cpu: 4, memory: 16Gi), within the profile"
    )
    args: list[Annotated[str, Field(max_length=4096)]] | None = Field(default=None, max_length=100)
    env: list[EnvVar] | None = Field(default=None, max_length=100)


class DeploymentCreate(_Settings):
    """A deploy: the model (a registry version, or a catalog model), where, and with what."""

    modelVersionId: str | None = Field(default=None, pattern=r"^[0-9]{1,19}$")
    catalogSource: Name = None
    catalogModel: Name = None
    namespace: str = Field(min_length=1, max_length=63)
    hardwareProfile: str = Field(min_length=1, max_length=255)
    connection: Name = None
    runtime: Name = None
    name: str | None = Field(default=None, min_length=1, max_length=63)
    replicas: int = Field(default=1, ge=1, le=MAX_REPLICAS)
    modelType: Literal["generative", "predictive"] | None = None
    mode: Literal["apply", "gitops", "dryRun"] = "apply"

    def to_request(self) -> DeployRequest:
        return DeployRequest(
            namespace=self.namespace,
            hardware_profile=self.hardwareProfile,
            model_version_id=self.modelVersionId,
            catalog_source=self.catalogSource,
            catalog_model=self.catalogModel,
            connection=self.connection,
            runtime=self.runtime,
            name=self.name,
            display_name=self.displayName,
            description=self.description,
            replicas=self.replicas,
            external_route=bool(self.externalRoute),
            token_auth=bool(self.tokenAuth),
            model_type=self.modelType,
            resources={k: str(v) for k, v in (self.resources or {}).items()},
            args=tuple(self.args or ()),
            env=tuple((v.name, v.value) for v in self.env or ()),
        )


class DeploymentUpdate(_Settings):
    """An edit: each field given replaces the deployment's."""

    replicas: int | None = Field(default=None, ge=1, le=MAX_REPLICAS)
    hardwareProfile: Name = None

    def to_changes(self) -> DeployChanges:
        return DeployChanges(
            replicas=self.replicas,
            hardware_profile=self.hardwareProfile,
            resources=None if self.resources is None else {k: str(v) for k, v in self.resources.items()},
            args=None if self.args is None else tuple(self.args),
            env=None if self.env is None else tuple((v.name, v.value) for v in self.env),
            external_route=self.externalRoute,
            token_auth=self.tokenAuth,
            display_name=self.displayName,
            description=self.description,
        )


def _one(deployment: Deployment, status_code: int = 200, **extra: Any) -> Response:
    return json_response({**deployment.to_dict(), **extra}, status_code)


def _events(items: list[Event]) -> Response:
    return json_response({"items": [i.to_dict() for i in items], "size": len(items)})


def _id(value: str) -> int:
    return parse_id(value, "deployment")


@router.post("/deployments", status_code=201, tags=["Deploy"], dependencies=[DEPLOY])
def create_deployment(svc: DeployDep, body: Annotated[DeploymentCreate, Body()]) -> Response:
    """Deploy (201 with the deployment), write a GitOps folder (201; needs ``deploy.gitops_dir``), or, with mode
    ``dryRun``, answer 200 with the objects as YAML (secret values redacted) and write nothing."""
    result = svc.deploy(body.to_request(), _MODES[body.mode])
    warnings = list(result.warnings)
    if result.deployment is None:
        return json_response({"yaml": result.yaml, "objects": result.objects, "warnings": warnings})
    return _one(result.deployment, 201, warnings=warnings)


def _id_filter(value: str | None) -> int | None:
    """An id to filter by: one past the ids' 64 bits names nothing (0: no row has it), and must not reach the
    database, which would refuse it."""
    if value is None:
        return None
    number = int(value)
    return number if number <= MAX_ID else 0


@router.get("/deployments", tags=["Deploy"], dependencies=[READ])
def list_deployments(
    svc: DeployDep,
    modelVersionId: Annotated[str | None, Query(pattern=r"^[0-9]{1,19}$")] = None,
    registeredModelId: Annotated[str | None, Query(pattern=r"^[0-9]{1,19}$")] = None,
    namespace: Annotated[str | None, Query(min_length=1, max_length=63)] = None,
    state: Annotated[Literal["deployed", "stopped", "undeployed"] | None, Query()] = None,
    includeUndeployed: bool = False,
    pageSize: Annotated[int, Query(ge=1, le=500)] = 100,
    nextPageToken: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """Newest first; undeployed ones only with ``includeUndeployed`` or ``state=undeployed``."""
    assert state is None or state in DESIRED_STATES
    items, token = svc.list(
        model_version_id=_id_filter(modelVersionId),
        registered_model_id=_id_filter(registeredModelId),
        namespace=namespace,
        include_undeployed=includeUndeployed,
        state=state,
        page_size=pageSize,
        page_token=nextPageToken,
    )
    return json_response(
        {"items": [d.to_dict() for d in items], "size": len(items), "pageSize": pageSize, "nextPageToken": token}
    )


@router.get("/deployments/{deploymentId}", tags=["Deploy"], dependencies=[READ])
def get_deployment(svc: DeployDep, request: Request, deploymentId: PathId) -> Response:
    """With ``conditions``: the InferenceService's status timeline as this process's status watcher last saw it (no
    API call), or null when it has not (no cluster, an undeployed deployment, a namespace not watched)."""
    deployment = svc.get(_id(deploymentId))
    watcher: StatusWatcher | None = getattr(request.app.state, "deploy_watcher", None)
    conditions = None if watcher is None else watcher.conditions(deployment)
    return _one(deployment, conditions=None if conditions is None else [c.to_dict() for c in conditions])


@router.patch("/deployments/{deploymentId}", tags=["Deploy"], dependencies=[DEPLOY])
def edit_deployment(svc: DeployDep, deploymentId: PathId, body: Annotated[DeploymentUpdate, Body()]) -> Response:
    return _one(svc.edit(_id(deploymentId), body.to_changes()))


@router.post("/deployments/{deploymentId}/stop", tags=["Deploy"], dependencies=[DEPLOY])
def stop_deployment(svc: DeployDep, deploymentId: PathId) -> Response:
    return _one(svc.stop(_id(deploymentId)))


@router.post("/deployments/{deploymentId}/start", tags=["Deploy"], dependencies=[DEPLOY])
def start_deployment(svc: DeployDep, deploymentId: PathId) -> Response:
    return _one(svc.start(_id(deploymentId)))


@router.delete("/deployments/{deploymentId}", tags=["Deploy"], dependencies=[DEPLOY])
def undeploy(svc: DeployDep, deploymentId: PathId) -> Response:
    """Undeploy: the InferenceService and its ServingRuntime are deleted; the deployment and its history stay."""
    return _one(svc.undeploy(_id(deploymentId)))


@router.get("/deployments/{deploymentId}/history", tags=["Deploy"], dependencies=[READ])
def deployment_history(svc: DeployDep, deploymentId: PathId) -> Response:
    return _events(svc.history(deployment_id=_id(deploymentId)))


@router.get("/model_versions/{modelversionId}/deployments", tags=["Deploy"], dependencies=[READ])
def version_deployments(svc: DeployDep, modelversionId: PathId, includeUndeployed: bool = False) -> Response:
    items, _ = svc.list(
        model_version_id=parse_id(modelversionId, e.MODEL_VERSION.label),
        include_undeployed=includeUndeployed,
        page_size=500,
    )
    return json_response({"items": [d.to_dict() for d in items], "size": len(items)})


@router.get("/model_versions/{modelversionId}/deployments/history", tags=["Deploy"], dependencies=[READ])
def version_history(svc: DeployDep, modelversionId: PathId) -> Response:
    return _events(svc.history(model_version_id=parse_id(modelversionId, e.MODEL_VERSION.label)))
